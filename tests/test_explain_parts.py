"""Year and leader explanations written as text (kpi_rules/explain_parts.py) are the models' bytes.

The combined periods, quota (cohort) decisions and related subjects of an explanation are written
from the skeleton's texts; here every year result and every record rated with related subjects
of a province is explained both ways, in both languages, and the lines compared byte for byte
with ``model_dump_json()`` of the reference explainer (tests/reference_explainer.py, which builds
those parts with the explainer's pydantic models).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("pyarrow")

import reference_explainer as reference  # noqa: E402
from test_province_batch import ND335, SMALL, _columnar_example, _read, provinces  # noqa: E402

from kpi_rules.bundle import load_bundle  # noqa: E402
from kpi_rules.evaluator import evaluate_record  # noqa: E402
from kpi_rules.explain_formulas import ValueFormats, exact_text, fixed_text  # noqa: E402
from kpi_rules.explain_plan import explanation_json  # noqa: E402
from kpi_rules.values import format_exact, format_number  # noqa: E402
from kpi_rules.org import province_from_data  # noqa: E402
from kpi_rules.province import ProvinceResult, evaluate_province  # noqa: E402
from kpi_rules.province_batch import evaluate_province_tables, write_explanations  # noqa: E402
from kpi_rules.province_tables import load_province_tables, write_province_tables  # noqa: E402
from kpi_rules.trace import FullTracer  # noqa: E402

_BUNDLE = load_bundle(ND335)


def _expected(result: Any, plan: Any, lang: str, record: Any = None) -> str:
    model = reference.explain(result, plan, lang, record=record)
    return str(model.model_copy(update={"next_level": None}).model_dump_json())


def _check(outcome: ProvinceResult) -> dict[str, int]:
    """Every year and every record with related subjects, both ways; returns what was seen."""
    plans = {role: rr.rules.plan for role, rr in outcome.bundle.roles.items()}
    seen = {"years": 0, "cohorts": 0, "demoted": 0, "related": 0}
    for lang in ("vi", "en"):
        for (subject, _), result in outcome.years.items():
            plan = plans[outcome.province.role_of(subject) or ""]
            assert explanation_json(result, plan, lang, advice=False) == _expected(result, plan, lang), subject
            seen["years"] += 1
            cohort = result.decision.cohort if result.decision is not None else None
            if cohort is not None:
                seen["cohorts"] += 1
                seen["demoted"] += cohort.demoted
        for key, record in outcome.records.items():
            if not record.related:
                continue
            result = outcome.results[key]
            plan = plans[outcome.province.role_of(key[0]) or ""]
            assert explanation_json(result, plan, lang, record=record, advice=False) == \
                _expected(result, plan, lang, record), key
            seen["related"] += 1
    return seen


def test_the_small_province_years_quota_and_leaders() -> None:
    seen = _check(evaluate_province(_BUNDLE, province_from_data(_read(SMALL))))
    assert seen["years"] and seen["related"] and seen["cohorts"]


def test_a_quota_that_demotes() -> None:
    """Many excellent staff in one unit: the quota demotes some, and their years say why."""
    data = _read(SMALL)
    for record in data["records"]:
        if record["subject"] in {p["id"] for p in data["people"] if p.get("role") == "staff"}:
            for name in ("general_i1", "general_i2"):
                if name in record.get("inputs", {}):
                    record["inputs"][name] = 5
    seen = _check(evaluate_province(_BUNDLE, province_from_data(copy.deepcopy(data))))
    assert seen["cohorts"]


def test_kept_and_exception_cohorts() -> None:
    """A cohort decision that keeps the level (reason band) and one under the exception rate."""
    import dataclasses

    outcome = evaluate_province(_BUNDLE, province_from_data(_read(SMALL)))
    plans = {role: rr.rules.plan for role, rr in outcome.bundle.roles.items()}
    done = 0
    for (subject, _), result in outcome.years.items():
        decision = result.decision
        if decision is None or decision.cohort is None:
            continue
        plan = plans[outcome.province.role_of(subject) or ""]
        for exception in (False, True):
            kept = dataclasses.replace(decision.cohort, demoted=False, to_level=decision.cohort.from_level,
                                       exception=exception, cite=None if exception else decision.cohort.cite)
            changed = dataclasses.replace(result, decision=dataclasses.replace(
                decision, level=kept.from_level, reason="band", cohort=kept))
            for lang in ("vi", "en"):
                assert explanation_json(changed, plan, lang, advice=False) == _expected(changed, plan, lang)
                done += 1
    assert done


@settings(max_examples=15, deadline=None)
@given(data=provinces())
def test_generated_provinces(data: dict[str, Any]) -> None:
    _check(evaluate_province(_BUNDLE, province_from_data(copy.deepcopy(data))))


def test_the_columnar_run_writes_the_same_lines(tmp_path: Any) -> None:
    """write_explanations (the bulk writer) gives the reference bytes for years and leaders."""
    data = _read(SMALL)
    for record in data["records"]:
        record.pop("on", None)
    write_province_tables(data, tmp_path / "t")
    run = evaluate_province_tables(_BUNDLE, load_province_tables(tmp_path / "t"), explain=True)
    write_explanations(run, tmp_path / "out.jsonl")
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    outcome = run.outcome
    plans = {role: rr.rules.plan for role, rr in outcome.bundle.roles.items()}
    expected = {_expected(result, plans[outcome.province.role_of(s) or ""], "vi")
                for (s, _), result in outcome.years.items()}
    assert expected and expected <= set(lines)


def _leader_lines(data: dict[str, Any], folder: Any, lang: str = "vi") -> int:
    """Leaders and units rated in columnar batches with explanations: every line (and every year
    line) is the record path's, byte for byte; returns how many leader lines were compared."""
    reference = evaluate_province(_BUNDLE, province_from_data(copy.deepcopy(data)))
    write_province_tables(data, folder)
    run = evaluate_province_tables(_BUNDLE, load_province_tables(folder), explain=True, lang=lang)
    plans = {role: rr.rules.plan for role, rr in _BUNDLE.roles.items()}
    compared = 0
    for leaders in run.leaders:
        lines = list(leaders.lines(lang))
        assert len(lines) == len(leaders.subjects)
        for subject, line in zip(leaders.subjects, lines):
            key = (subject, leaders.period)
            plan = plans[reference.province.role_of(subject) or ""]
            record = reference.records[key]
            traced = evaluate_record(plan, record, FullTracer())
            assert traced == reference.results[key] == run.outcome.results[key]
            expected = explanation_json(traced, plan, lang, record=record, advice=False)
            assert line == expected + "\n", key
            # ``outcome.records`` rebuilds the leader's record, as the record path kept it.
            again = run.outcome.records[key]
            assert explanation_json(run.outcome.results[key], plan, lang, record=again, advice=False) == expected
            compared += 1
    assert set(run.outcome.records) >= {(s, b.period) for b in run.leaders for s in b.subjects}
    out = folder / "lines.jsonl"
    count = write_explanations(run, out)
    assert count == len(reference.results) + len(reference.years)
    written = set(out.read_text(encoding="utf-8").splitlines())
    for (subject, _), result in reference.years.items():
        plan = plans[reference.province.role_of(subject) or ""]
        assert explanation_json(result, plan, lang, advice=False) in written
    return compared


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_leaders_explained_from_their_batches(tmp_path: Any, lang: str) -> None:
    assert _leader_lines(_columnar_example(), tmp_path, lang) > 100


def test_leader_models_and_advice_are_the_record_paths(tmp_path: Any) -> None:
    """The models (with the next-level advice) of leaders rated in batches: rated again one by one."""
    from kpi_rules.explainer import explain

    data = _columnar_example()
    reference = evaluate_province(_BUNDLE, province_from_data(copy.deepcopy(data)))
    write_province_tables(data, tmp_path)
    run = evaluate_province_tables(_BUNDLE, load_province_tables(tmp_path), explain=True)
    plans = {role: rr.rules.plan for role, rr in _BUNDLE.roles.items()}
    leaders = next(b for b in run.leaders if plans["head"] is b.plan)
    subject = leaders.subjects[0]
    key = (subject, leaders.period)
    record = reference.records[key]
    traced = evaluate_record(plans["head"], record, FullTracer())
    (model,) = [e for e in leaders.explanations("vi") if e.subject.id == subject]
    assert model == explain(traced, plans["head"], "vi", record=record)
    (line,) = [x for s, x in zip(leaders.subjects, leaders.lines("vi", advice=True)) if s == subject]
    assert line == explanation_json(traced, plans["head"], "vi", record=record, advice=True) + "\n"


@settings(max_examples=10, deadline=None)
@given(data=provinces())
def test_generated_provinces_through_the_columnar_run(data: dict[str, Any]) -> None:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        _leader_lines(data, Path(folder))


_FRACTIONS = st.fractions(max_denominator=10**6) | st.builds(
    Fraction, st.integers(-(2**70), 2**70), st.sampled_from([1, 2, 3, 4, 5, 8, 16, 20, 40, 64, 125, 1000, 3 * 2**9, 7 * 5**4]))


@settings(max_examples=2000, deadline=None)
@given(x=_FRACTIONS, decimals=st.integers(0, 6), mode=st.sampled_from(["half_up", "half_even", "down", "up"]))
def test_number_texts_with_integers_are_format_number_and_format_exact(x: Fraction, decimals: int, mode: Any) -> None:
    assert fixed_text(x.numerator, x.denominator, decimals, mode) == format_number(x, decimals, mode)
    assert exact_text(x.numerator, x.denominator) == format_exact(x)


@settings(max_examples=500, deadline=None)
@given(x=_FRACTIONS, decimals=st.integers(0, 4), mode=st.sampled_from(["half_up", "half_even", "down", "up"]),
       bounds=st.lists(st.fractions(min_value=-100, max_value=100, max_denominator=100), max_size=4))
def test_total_texts_with_integers(x: Fraction, decimals: int, mode: Any, bounds: list[Fraction]) -> None:
    """The total of a sentence: as many decimals as keep it on its side of every band boundary."""
    from kpi_rules import nodes

    formats = ValueFormats(nodes.Display(decimals, mode), tuple(bounds))
    expected = format_exact(x)
    for places in range(decimals, decimals + 13):
        text = format_number(x, places, mode)
        if all((x < b) == (Fraction(text) < b) for b in bounds):
            expected = text
            break
    assert formats.total_text(x) == expected


@settings(max_examples=1000, deadline=None)
@given(x=_FRACTIONS, decimals=st.integers(0, 4), mode=st.sampled_from(["half_up", "half_even", "down", "up"]))
def test_values_in_formulas_with_integers(x: Fraction, decimals: int, mode: Any) -> None:
    """A number put into a formula: exact up to 10 decimals, else rounded with ≈ (as the printer
    decides: one operand unless it starts with a minus)."""
    from kpi_rules import nodes
    from kpi_rules.values import decimal_places

    places = decimal_places(x)
    if places is not None and places <= 10:
        text, rounded = format_exact(x), False
    else:
        text, rounded = format_number(x, decimals, mode), True
    shown = ("≈" if rounded else "") + text
    expected = (shown, (" ≈ " if rounded else " = ") + text, not shown.startswith("-") and " " not in shown)
    assert ValueFormats(nodes.Display(decimals, mode), ()).plain(x) == expected
