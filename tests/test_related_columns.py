"""Leaders and units from columns: exact input columns, the related view, related ids, the order.

* an exact numerator/denominator column (``exact_input.py``) gives what the same values as
  ``Fraction``s in record dicts give (and what record by record gives);
* :class:`~kpi_rules.related_view.PeriodView` builds the ``RelatedResult`` the JSON run builds;
* ``Province.related_ids`` (worked out once), ``dependency_order`` and the check of the records
  table equal the straightforward versions they replace, on generated provinces;
* a leader with an item field its rule set does not declare is rejected as in the JSON run.
"""

from __future__ import annotations

import copy
import heapq
import re
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

pa = pytest.importorskip("pyarrow")

from kpi_rules.bundle import load_bundle  # noqa: E402
from kpi_rules.engine import RuleSet  # noqa: E402
from kpi_rules.exact_input import exact_num, exact_value, fractions_array  # noqa: E402
from kpi_rules.org import OrgSettings, Province, province_from_data  # noqa: E402
from kpi_rules.province import INSUFFICIENT, dependency_order  # noqa: E402
from kpi_rules.province_tables import _check_records  # noqa: E402
from kpi_rules.related_view import PeriodView, SubjectCodes  # noqa: E402
from kpi_rules.relation_plan import relation_plan  # noqa: E402
from kpi_rules.results import RelatedResult  # noqa: E402

from plan_helpers import ROOT  # noqa: E402
from test_province_batch import _assert_same, _both, provinces  # noqa: E402

ND335 = ROOT / "criteria" / "nd335" / "bundle.yaml"
_BUNDLE = load_bundle(ND335)
_UNIT = _BUNDLE.rules_for("unit")
_LEVELS = ("excellent", "good", "complete", "not_complete")
_NUMBERS = ("general_compliance", "general_discipline", "general_head", "general_culture")


# --------------------------------------------------------------------------- exact input columns


_fractions = st.one_of(
    st.fractions(min_value=-500, max_value=500, max_denominator=10**6),
    st.integers(0, 100).map(Fraction),
    st.integers(1, 9).map(lambda k: Fraction(2**70 + k, 3)),  # beyond the columns: record by record
)


@st.composite
def unit_records(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Records of organisation.kpi's relation plan: children as related results with exact totals."""
    points = st.sampled_from([Decimal(x) / 4 for x in range(0, 31)])
    out: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 10))):
        assigned = draw(st.integers(0, 12))
        done = draw(st.integers(0, assigned))
        inputs: dict[str, Any] = {name: draw(points) for name in _NUMBERS}
        inputs.update({
            "tasks_assigned": assigned, "tasks_done": done, "tasks_late": draw(st.integers(0, done)),
            "tasks_below_quality": draw(st.integers(0, done)), "tasks_exceeded": draw(st.integers(0, done)),
            "shortcomings_remedied": draw(st.booleans()), "personnel_violation": draw(st.integers(0, 5)) == 0,
            "children": [{"total": draw(_fractions), "level": draw(st.sampled_from(_LEVELS)), "rated": True}
                         for _ in range(draw(st.integers(0, 4)))],
        })
        out.append({"id": f"u{i:02d}", "period": "2026-Q1", "inputs": inputs})
    return out


def _as_tables(records: list[dict[str, Any]]) -> tuple[Any, Any]:
    rows = [{"id": r["id"], "period": r["period"], **{k: v for k, v in r["inputs"].items() if k != "children"}}
            for r in records]
    persons = pa.Table.from_pylist(rows)
    owners: list[str] = []
    totals: list[Fraction] = []
    levels: list[str] = []
    for r in records:
        for child in r["inputs"]["children"]:
            owners.append(r["id"])
            totals.append(child["total"])
            levels.append(child["level"])
    exact = _exact_or_text(totals)
    items = pa.table({"id": pa.array(owners, pa.string()), "total": exact, "level": pa.array(levels, pa.string()),
                      "rated": pa.array([True] * len(owners), pa.bool_())})
    return persons, items


def _exact_or_text(totals: list[Fraction]) -> Any:
    """The totals as an exact column; those beyond int64 are written as a denominator of 0
    with the numerator 0 (not a fraction: such a row must not be rated from the column)."""
    fits = [abs(t.numerator) < 2**62 and t.denominator < 2**62 for t in totals]
    return fractions_array([t if ok else Fraction(0) for t, ok in zip(totals, fits)]) if all(fits) else \
        pa.StructArray.from_arrays([pa.array([t.numerator if ok else 0 for t, ok in zip(totals, fits)], pa.int64()),
                                    pa.array([t.denominator if ok else 0 for t, ok in zip(totals, fits)], pa.int64())],
                                   names=["numerator", "denominator"])


@settings(max_examples=60, deadline=None)
@given(records=unit_records())
def test_an_exact_column_gives_what_the_same_fractions_in_dicts_give(records: list[dict[str, Any]]) -> None:
    assert _UNIT is not None
    derived = relation_plan(_UNIT.plan)
    assert derived is not None
    rules = RuleSet(derived, _UNIT.catalogue)
    from_dicts = rules.evaluate_batch(copy.deepcopy(records))
    persons, items = _as_tables(records)
    from_columns = rules.evaluate_batch(persons, items={"children": items})
    big = {r["id"] for r in records for c in r["inputs"]["children"] if abs(c["total"].numerator) >= 2**62}
    if not big:
        assert from_columns.results == from_dicts.results
        assert from_columns.rejected_ids == from_dicts.rejected_ids
        assert [d.code for d in from_columns.rejected] == [d.code for d in from_dicts.rejected]
        assert from_columns.totals() == from_dicts.totals()
        assert from_columns.decisions() == from_dicts.decisions()
        return
    # A cell that is no fraction sends its record the record-by-record way, where it is rejected;
    # the other records are rated as from the dicts.
    assert set(from_columns.rejected_ids) >= big
    expected = {r.subject_id: r for r in from_dicts.results if r.subject_id not in big}
    got = {r.subject_id: r for r in from_columns.results}
    assert got == expected


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.fractions(min_value=-10**6, max_value=10**6, max_denominator=10**9)),
                       max_size=30))
def test_an_exact_column_holds_its_fractions(values: list[Fraction | None]) -> None:
    import numpy as np

    array = fractions_array(values)
    absent = np.array([v is None for v in values], dtype=np.bool_)
    num = exact_num(array, absent)
    assert num is not None
    n = np.broadcast_to(np.asarray(num.n), (len(values),))
    d = np.broadcast_to(np.asarray(num.d), (len(values),))
    for k, v in enumerate(values):
        if v is not None:
            assert Fraction(int(n[k]), int(d[k])) == v
        assert exact_value(array[k].as_py()) == v if v is not None else array[k].as_py() is None


def test_a_cell_that_is_no_fraction_is_read_one_by_one() -> None:
    import numpy as np

    bad = pa.StructArray.from_arrays([pa.array([1, 2], pa.int64()), pa.array([3, 0], pa.int64())],
                                     names=["numerator", "denominator"])
    assert exact_num(bad, np.zeros(2, dtype=np.bool_)) is None
    assert exact_value({"numerator": 2, "denominator": 0}) == {"numerator": 2, "denominator": 0}
    assert exact_value({"numerator": 2, "denominator": 6}) == Fraction(1, 3)


# --------------------------------------------------------------------------- the related view


def test_the_view_builds_the_related_results_of_the_json_run() -> None:
    assert _UNIT is not None
    derived = relation_plan(_UNIT.plan)
    assert derived is not None
    records = [{"id": f"u{i}", "period": "2026-Q1", "inputs": {
        **{name: Decimal(6) for name in _NUMBERS}, "tasks_assigned": 10 if i % 3 else 0, "tasks_done": 9,
        "tasks_late": 0, "tasks_below_quality": 0, "tasks_exceeded": i, "shortcomings_remedied": True,
        "personnel_violation": False, "children": []}} for i in range(6)]
    records[4]["inputs"]["general_head"] = Decimal(99)  # rejected
    batch = RuleSet(derived, _UNIT.catalogue).evaluate_batch(records)
    province = province_from_data({"province": {"id": "x"}, "units": [
        {"id": f"u{i}", "name": f"Unit {i}", "parent": None} for i in range(6)], "people": [], "records": []})
    names = [f"Unit {i}" for i in range(6)]
    view = PeriodView(SubjectCodes(province), names)
    kept = [f"u{i}" for i in range(6) if f"u{i}" not in batch.rejected_ids]
    view.add_rows(kept, [int(s[1:]) for s in kept], batch)
    for subject, total, level in zip(kept, batch.totals(), batch.levels()):
        rated = total is not None
        expected = RelatedResult(subject, total, level, rated, {}, None if rated else INSUFFICIENT,
                                 names[int(subject[1:])])
        assert view[subject] == expected and subject in view
    assert "u4" not in view and set(view) == set(kept) and len(view) == len(kept)
    view["u4"] = RelatedResult("u4", note="rejected", name="Unit 4")
    assert view["u4"].note == "rejected" and not view.ok[SubjectCodes(province).code["u4"]]


# --------------------------------------------------------------------------- related ids, order, records


def _supervised_reference(province: Province, subject: str, settings: OrgSettings) -> tuple[str, ...]:
    person = province.people[subject]
    if person.role == "head":
        units = province.subtree(person.unit) if settings.head_supervises == "subtree" else (person.unit,)
        return tuple(p for u in units for p in province.members(u) if p != person.id)
    if person.role == "deputy":
        units = province.subtree(person.unit) if settings.deputy_supervises == "subtree" else (person.unit,)
        wanted = set(person.fields)
        return tuple(p for u in units for p in province.members(u)
                     if province.people[p].role == "staff" and province.people[p].field in wanted)
    return ()


def _order_reference(bundle: Any, province: Province) -> tuple[str, ...]:
    subjects = province.subjects()
    position = {s: i for i, s in enumerate(subjects)}
    needs: dict[str, set[str]] = {}
    for s in subjects:
        rules = bundle.rules_for(province.role_of(s))
        found: set[str] = set()
        for rel in rules.plan.checked.subject.relations if rules is not None else ():
            ids = province.related_ids(s, rel.name, bundle.settings)
            found |= set(ids) if isinstance(ids, tuple) else ({ids} if ids is not None else set())
        needs[s] = found - {s}
    waiting = {s: len(needs[s]) for s in subjects}
    readers: dict[str, list[str]] = {s: [] for s in subjects}
    for s in subjects:
        for t in needs[s]:
            readers[t].append(s)
    ready = [(position[s], s) for s in subjects if waiting[s] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, s = heapq.heappop(ready)
        order.append(s)
        for r in readers[s]:
            waiting[r] -= 1
            if waiting[r] == 0:
                heapq.heappush(ready, (position[r], r))
    return tuple(order)


@settings(max_examples=40, deadline=None)
@given(data=provinces(), scopes=st.tuples(st.sampled_from(["unit", "subtree"]), st.sampled_from(["unit", "subtree"])),
       shuffle=st.randoms(use_true_random=False))
def test_related_ids_and_the_order_equal_the_straightforward_ones(data: dict[str, Any], scopes: tuple[str, str],
                                                                  shuffle: Any) -> None:
    people = list(data["people"])
    shuffle.shuffle(people)  # members of a unit in any file order
    for person in people:
        if person["role"] == "deputy":
            person["fields"] = shuffle.sample(["x", "y", "z"], shuffle.randint(1, 3))
    province = province_from_data({**data, "people": people, "records": []})
    org = OrgSettings(head_supervises=scopes[0], deputy_supervises=scopes[1])  # type: ignore[arg-type]
    for pid in province.people:
        expected = _supervised_reference(province, pid, org)
        assert province.related_ids(pid, "supervised", org) == expected
        assert province.related_ids(pid, "supervised", org) == expected  # worked out once, the same
    assert dependency_order(_BUNDLE, province) == _order_reference(_BUNDLE, province)


_PERIOD = re.compile(r"^\d{4}(?:-(?:0[1-9]|1[0-2]|Q[1-4]|H[12]))?$")


def _check_reference(rows: list[tuple[str | None, str | None]], province: Province) -> tuple[list[bool], list[Any]]:
    keep: list[bool] = []
    out: list[Any] = []
    seen: set[tuple[str, str]] = set()
    for i, (subject, period) in enumerate(rows):
        here = f"record {subject if subject is not None else f'#{i + 1}'}" + (f" ({period})" if period else "")
        if subject is None or period is None:
            problem = ("KR709", "a record needs a `subject` and a `period`", here)
        elif subject not in province.units and subject not in province.people:
            problem = ("KR708", f"`{subject}` is neither a unit nor a person of the province", here)
        elif not _PERIOD.match(period):
            problem = ("KR709", f"`{period}` is not a period", here)
        elif (subject, period) in seen:
            problem = ("KR709", f"`{subject}` has two records for {period}", here)
        else:
            seen.add((subject, period))
            keep.append(True)
            continue
        keep.append(False)
        out.append((subject if subject is not None else f"#{i + 1}", period, problem))
    return keep, out


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from([None, "a0", "p000", "p001", "nobody", ""]),
                               st.sampled_from([None, "2026-Q1", "2026-Q2", "2026-13", "2026"])), max_size=25))
def test_the_records_check_over_columns_equals_the_row_by_row_one(rows: list[tuple[str | None, str | None]]) -> None:
    province = province_from_data({"province": {"id": "x"}, "units": [{"id": "a0", "parent": None}], "people": [
        {"id": "p000", "unit": "a0", "role": "staff"}, {"id": "p001", "unit": "a0", "role": "head"}], "records": []})
    table = pa.table({"subject": pa.array([r[0] for r in rows], pa.string()),
                      "period": pa.array([r[1] for r in rows], pa.string()),
                      "row": pa.array(list(range(len(rows))), pa.int64())})
    kept, rejected = _check_records(table, province, Path("records.parquet"))
    keep, expected = _check_reference(rows, province)
    assert kept.column("row").to_pylist() == [i for i, k in enumerate(keep) if k]
    assert [(r.subject, r.period, (r.diagnostics[0].code, r.diagnostics[0].message, r.diagnostics[0].where))
            for r in rejected] == expected
    assert all(len(r.diagnostics) == 1 and r.diagnostics[0].hint for r in rejected)


# --------------------------------------------------------------------------- leaders through the batches


@settings(max_examples=8, deadline=None)
@given(data=provinces())
def test_leaders_are_rated_in_batches_and_an_undeclared_item_field_is_rejected(
        data: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> None:
    leaders = {p["id"] for p in data["people"] if p["role"] != "staff"}
    marked = copy.deepcopy(data)
    chosen = next((r for r in marked["records"] if r["subject"] in leaders and r["inputs"]["tasks"]), None)
    assume(chosen is not None)
    assert chosen is not None
    chosen["inputs"]["tasks"][0]["bogus"] = 1
    reference, run = _both(_BUNDLE, marked, tmp_path_factory.mktemp("marked"), chunk_size=7)
    _assert_same(reference, run)
    assert any(r.subject == chosen["subject"] and r.period == chosen["period"] for r in reference.rejected)


def test_the_leaders_of_the_example_go_through_the_columns(tmp_path: Path) -> None:
    from test_province_batch import _columnar_example

    reference, run = _both(_BUNDLE, _columnar_example(), tmp_path)
    _assert_same(reference, run)
    lazy: Mapping[tuple[str, str], Any] = run.outcome.results.lazy  # type: ignore[attr-defined]
    leaders = [k for k in lazy if run.outcome.province.role_of(k[0]) in ("head", "deputy")]
    assert leaders, "heads and deputies are rated in columnar batches"


# --------------------------------------------------------------------------- units and people from columns


@settings(max_examples=25, deadline=None)
@given(data=provinces(), fmt=st.sampled_from(["parquet", "csv"]), extra=st.booleans())
def test_units_and_people_from_columns_equal_the_checked_json_form(data: dict[str, Any], fmt: str, extra: bool,
                                                                   tmp_path_factory: pytest.TempPathFactory) -> None:
    from kpi_rules.province_tables import load_province_tables, write_province_tables

    data = copy.deepcopy(data)
    if extra:
        for k, person in enumerate(data["people"]):
            if k % 3 == 0:
                person["rank"] = f"r{k}"
        data["units"][0]["code"] = 7
    folder = tmp_path_factory.mktemp("tree")
    write_province_tables(data, folder, fmt)
    got = load_province_tables(folder).province
    expected = province_from_data({**data, "records": []})
    assert got.id == expected.id and got.name == expected.name
    assert list(got.units) == list(expected.units) and list(got.people) == list(expected.people)
    for uid, unit in expected.units.items():
        assert got.units[uid] == unit and dict(got.units[uid].attributes) == dict(unit.attributes)
    for pid, person in expected.people.items():
        assert got.people[pid] == person and dict(got.people[pid].attributes) == dict(person.attributes)


def test_tables_with_a_tree_problem_report_what_the_json_form_reports(tmp_path: Path) -> None:
    from kpi_rules.diagnostics import DiagnosticError
    from kpi_rules.province_tables import load_province_tables, write_province_tables

    data = {"province": {"id": "x"}, "units": [{"id": "a", "parent": None}, {"id": "b", "parent": "c"}],
            "people": [{"id": "p1", "unit": "a", "role": "head"}, {"id": "p2", "unit": "a", "role": "head"},
                       {"id": "p3", "unit": "zz", "role": "boss"}, {"id": "a", "unit": "a", "role": "staff"}],
            "records": []}
    with pytest.raises(DiagnosticError) as expected:
        province_from_data(copy.deepcopy(data))
    write_province_tables(data, tmp_path)
    with pytest.raises(DiagnosticError) as got:
        load_province_tables(tmp_path)
    assert sorted((d.code, d.message) for d in got.value.diagnostics) == \
        sorted((d.code, d.message) for d in expected.value.diagnostics)
    assert {d.code for d in got.value.diagnostics} >= {"KR702", "KR703", "KR705", "KR706", "KR707"}


def test_leaders_from_record_dicts_when_their_items_make_no_table(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The other way of the leaders' batch (related results as item dicts) gives the same outcome."""
    from kpi_rules import province_batch
    from test_province_batch import _columnar_example

    monkeypatch.setattr(province_batch._RecordState, "_batch_of_columns", lambda *args, **kwargs: None)
    reference, run = _both(_BUNDLE, _columnar_example(), tmp_path)
    _assert_same(reference, run)
    lazy: Mapping[tuple[str, str], Any] = run.outcome.results.lazy  # type: ignore[attr-defined]
    assert any(run.outcome.province.role_of(k[0]) == "head" for k in lazy)
