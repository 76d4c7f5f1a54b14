"""Leaders' ``related`` parts written from the period view's columns (kpi_rules/related_lines.py)
are the bytes of :func:`kpi_rules.explain_parts.related_json` over the view's ``RelatedResult`` s,
and the leaders' lines (``LeaderBatch.line_bytes``) the record path's."""

from __future__ import annotations

import copy
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("pyarrow")

from test_explain_parts import _leader_lines  # noqa: E402
from test_province_batch import ND335, _columnar_example, provinces  # noqa: E402

from kpi_rules.bundle import load_bundle  # noqa: E402
from kpi_rules.explain_parts import related_json  # noqa: E402
from kpi_rules.explain_plan import skeleton_for  # noqa: E402
from kpi_rules.province_batch import TablesRun, evaluate_province_tables  # noqa: E402
from kpi_rules.province_explain import LeaderBatch, write_leader_lines  # noqa: E402
from kpi_rules.province_tables import load_province_tables, write_province_tables  # noqa: E402
from kpi_rules.related_lines import TextsCache, related_lines  # noqa: E402
from kpi_rules.related_view import PeriodView  # noqa: E402
from kpi_rules.results import RelatedResult  # noqa: E402

_BUNDLE = load_bundle(ND335)
_RUNS: dict[str, TablesRun] = {}


def _run(lang: str = "vi") -> TablesRun:
    """The columnar example run with explanations (made once per language)."""
    if lang not in _RUNS:
        import tempfile

        folder = Path(tempfile.mkdtemp())
        write_province_tables(_columnar_example(), folder)
        _RUNS[lang] = evaluate_province_tables(_BUNDLE, load_province_tables(folder), explain=True, lang=lang)
    return _RUNS[lang]


def _by_record(batch: LeaderBatch, lang: str) -> list[bytes]:
    """The lines as they were written before: the ``related`` part from the ``RelatedResult`` s."""
    skel = skeleton_for(batch.plan, lang)
    out = []
    for subject, line in zip(batch.subjects, batch.batch.explanation_lines(), strict=True):
        cut = line.rfind(',"related":[]')
        out.append((line[:cut] + ',"related":' + related_json(skel, batch.plan, batch.related(subject))
                    + line[cut + len(',"related":[]'):]).encode())
    return out


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_leader_bytes_equal_the_related_results_path(lang: str) -> None:
    run = _run(lang)
    assert run.leaders and all(b.view is not None and b.codes is not None for b in run.leaders)
    cache: dict[Any, Any] = {}
    for batch in run.leaders:
        assert list(batch.line_bytes(lang, cache=cache)) == _by_record(batch, lang)
    # Without a view (a batch built elsewhere): through the related results, the same bytes.
    import dataclasses
    import io

    plain = [dataclasses.replace(b, view=None, codes=None) for b in run.leaders]
    first, second = io.BytesIO(), io.BytesIO()
    assert write_leader_lines(first, run.leaders, lang) == write_leader_lines(second, plain, lang)
    assert first.getvalue() == second.getvalue() and first.getvalue()


def _view_and_plan(lang: str) -> tuple[PeriodView, Any, list[str]]:
    run = _run(lang)
    batch = next(b for b in run.leaders if b.plan is _BUNDLE.roles["head"].rules.plan)
    assert batch.view is not None
    return batch.view, batch.plan, list(batch.view)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), lang=st.sampled_from(["vi", "en"]))
def test_texts_of_any_subjects_equal_related_json(data: st.DataObject, lang: str) -> None:
    """Random subsets of a view's subjects, some of them replaced by entries rated one by one
    (rated, not rated with each note, a total beyond int64, no level), through both ways."""
    view, plan, subjects = _view_and_plan(lang)
    view = copy.copy(view)  # the entries are changed below: a view of its own
    view.eager, view._built = dict(view.eager), {}
    view.columnar, view.ok = view.columnar.copy(), view.ok.copy()
    view.n, view.d, view.level = view.n.copy(), view.d.copy(), view.level.copy()
    view.labels, view._label_code = list(view.labels), dict(view._label_code)
    if data.draw(st.booleans()):
        view.names = list(view.names)  # names as a plain list (not an Arrow array)
    changed = data.draw(st.lists(st.sampled_from(subjects), max_size=6, unique=True))
    for subject in changed:
        kind = data.draw(st.sampled_from(["rated", "insufficient_data", "rejected", "no_record", "none", "big",
                                          "no_level"]))
        name = data.draw(st.sampled_from([None, "Nguyễn \"Văn\" A\\", "B"]))
        if kind == "rated":
            view[subject] = RelatedResult(subject, Fraction(data.draw(st.integers(-10**4, 10**4)),
                                                            data.draw(st.integers(1, 999))), "good", True, name=name)
        elif kind == "big":
            view[subject] = RelatedResult(subject, Fraction(10**30 + 1, 3), "excellent", True, name=name)
        elif kind == "no_level":
            view[subject] = RelatedResult(subject, Fraction(7, 2), None, True, name=name)
        else:
            view[subject] = RelatedResult(subject, note=None if kind == "none" else kind, name=name)
    relation = plan.checked.subject.relations[0].name
    leaders = [f"L{k}" for k in range(data.draw(st.integers(1, 4)))]
    picked = {leader: data.draw(st.lists(st.sampled_from(subjects), max_size=40)) for leader in leaders}
    code = view.codes.code
    codes = {leader: np.array([code[s] for s in chosen], dtype=np.int64) for leader, chosen in picked.items()}
    skel = skeleton_for(plan, lang)
    got = related_lines(skel, plan, view, leaders, lambda s, r: codes[s] if r == relation else None, TextsCache())
    assert got is not None
    for leader, line in zip(leaders, got, strict=True):
        expected = related_json(skel, plan, {relation: tuple(view[s] for s in picked[leader])})
        assert b"".join(line) == expected.encode(), leader


def test_a_single_relation_is_written_through_the_related_results() -> None:
    view, plan, subjects = _view_and_plan("vi")
    assert related_lines(skeleton_for(plan, "vi"), plan, view, subjects[:2], lambda s, r: None) is None


def test_the_cache_keeps_one_view_and_shares_texts_of_equal_formats() -> None:
    run = _run("vi")
    views = list({id(b.view): b.view for b in run.leaders if b.view is not None}.values())
    assert len(views) > 1
    head, deputy = _BUNDLE.roles["head"].rules.plan, _BUNDLE.roles["deputy"].rules.plan
    cache = TextsCache()
    first = cache.texts(views[0], skeleton_for(head, "vi"))
    assert cache.texts(views[0], skeleton_for(deputy, "vi")) is first  # same format and levels
    assert cache.texts(views[0], skeleton_for(head, "en")) is not first
    assert cache.texts(views[1], skeleton_for(head, "vi")) is not first


def _with_records_one_by_one() -> dict[str, Any]:
    """The columnar example where some staff records have an override: those staff are rated
    one by one, and the leaders reading them read the view's objects, not its columns."""
    data = _columnar_example()
    staff = {p["id"] for p in data["people"] if p.get("role") == "staff"}
    k = 0
    for record in data["records"]:
        if record["subject"] in staff:
            k += 1
            if k % 9 == 0:
                record["override"] = {"level": "complete", "decided_by": "Giám đốc", "decided_on": "2026-07-10",
                                      "clause": "Kế hoạch, mục III.3.d", "reason": "Test override"}
    return data


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_leaders_reading_subjects_rated_one_by_one(tmp_path: Path, lang: str) -> None:
    data = _with_records_one_by_one()
    assert _leader_lines(copy.deepcopy(data), tmp_path / "a", lang) > 100
    write_province_tables(data, tmp_path / "b")
    run = evaluate_province_tables(_BUNDLE, load_province_tables(tmp_path / "b"), explain=True, lang=lang)
    read_eager = 0
    for batch in run.leaders:
        assert batch.view is not None and batch.codes is not None
        eager = {batch.view.codes.code[s] for s in batch.view.eager}
        for subject in batch.subjects:
            for rel in batch.plan.checked.subject.relations:
                found = batch.codes(subject, rel.name)
                assert found is not None
                read_eager += len(eager.intersection(found.tolist()))
        assert list(batch.line_bytes(lang)) == _by_record(batch, lang)
    assert read_eager, "some leader reads a subject rated one by one"


@settings(max_examples=8, deadline=None)
@given(data=provinces())
def test_generated_provinces_leader_bytes(data: dict[str, Any]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        write_province_tables(data, Path(folder))
        for lang in ("vi", "en"):
            run = evaluate_province_tables(_BUNDLE, load_province_tables(Path(folder)), explain=True, lang=lang)
            cache: dict[Any, Any] = {}
            for batch in run.leaders:
                assert list(batch.line_bytes(lang, cache=cache)) == _by_record(batch, lang)


def test_names_that_change_between_periods() -> None:
    """A subject's name is its records row's: texts made for one period are not reused for a
    period whose row names the subject otherwise (the cache keeps the heads across views)."""
    view, plan, subjects = _view_and_plan("en")
    other = copy.copy(view)
    other._built = {}
    other.names = [None if k % 5 == 0 else f"{name} “renamed”" if k % 3 == 0 else name
                   for k, name in enumerate(view.names)]
    skel = skeleton_for(plan, "en")
    relation = plan.checked.subject.relations[0].name
    codes = np.array([view.codes.code[s] for s in subjects], dtype=np.int64)
    cache = TextsCache()
    for current in (view, other, view):
        got = related_lines(skel, plan, current, ["L"], lambda s, r: codes, cache)
        assert got is not None
        expected = related_json(skel, plan, {relation: tuple(current[s] for s in subjects)})
        assert b"".join(got[0]) == expected.encode()
    assert any(view[s].name != other[s].name for s in subjects)
