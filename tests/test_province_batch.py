"""The columnar province (province_tables.py + province_batch.py) gives what evaluate_province gives.

Every province is converted from the JSON form to the columnar form with
``write_province_tables``, rated both ways, and compared: every period result, year result,
quota decision, rejection (subject, period, codes and messages), note and the evaluation order.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("pyarrow")

from kpi_rules.bundle import Bundle, load_bundle  # noqa: E402
from kpi_rules.datafiles import load_data_file  # noqa: E402
from kpi_rules.diagnostics import DiagnosticError  # noqa: E402
from kpi_rules.org import province_from_data  # noqa: E402
from kpi_rules.province import ProvinceResult, evaluate_province, explain_subject  # noqa: E402
from kpi_rules.province_batch import TablesRun, evaluate_province_tables, write_explanations  # noqa: E402
from kpi_rules.province_tables import load_province_tables, write_province_tables  # noqa: E402

from plan_helpers import ROOT  # noqa: E402
from province_strategies import PRODUCTS as SAMPLE_PRODUCTS, provinces  # noqa: E402

ND335 = ROOT / "criteria" / "nd335" / "bundle.yaml"
EXAMPLE = ROOT / "examples" / "province"
SMALL = ROOT / "examples" / "province_small" / "province.yaml"


def _read(path: Path) -> dict[str, Any]:
    data = load_data_file(path, code="KR701", what="province", max_bytes=1 << 30)
    assert isinstance(data, dict)
    return data


def _both(bundle: Bundle, data: Mapping[str, Any], folder: Path, fmt: str = "parquet",
          chunk_size: int = 200_000) -> tuple[ProvinceResult, TablesRun]:
    reference = evaluate_province(bundle, province_from_data(copy.deepcopy(data)))
    write_province_tables(data, folder, fmt)
    run = evaluate_province_tables(bundle, load_province_tables(folder), chunk_size=chunk_size)
    return reference, run


def _rejections(outcome: ProvinceResult) -> list[tuple[str, str | None, tuple[tuple[str, str], ...]]]:
    return sorted((r.subject, r.period, tuple((d.code, d.message) for d in r.diagnostics)) for r in outcome.rejected)


def _assert_same(reference: ProvinceResult, run: TablesRun) -> None:
    got = run.outcome
    assert got.periods == reference.periods
    assert set(got.results) == set(reference.results)
    for key, result in reference.results.items():
        assert got.results[key] == result, key
    assert dict(got.years) == dict(reference.years)
    assert got.quota_reports == reference.quota_reports
    assert _rejections(got) == _rejections(reference)
    assert sorted(n.render() for n in got.notes) == sorted(n.render() for n in reference.notes)
    assert got.order == reference.order
    assert dict(got.stages) == dict(reference.stages)
    assert got.counts("2026") == reference.counts("2026")


def _cohort_decisions(outcome: ProvinceResult) -> dict[tuple[str, str], object]:
    return {k: r.decision.cohort for k, r in outcome.years.items() if r.decision is not None}


# --------------------------------------------------------------------------- the examples


def test_the_example_province_as_it_is(tmp_path: Path) -> None:
    """Every record has an `on` day and the bundle binds a catalogue: all go record by record."""
    reference, run = _both(load_bundle(EXAMPLE / "bundle.yaml"), _read(EXAMPLE / "province.json"), tmp_path)
    _assert_same(reference, run)
    assert len(reference.results) == 1330 and reference.quota_reports
    assert any(d is not None and getattr(d, "demoted", False) for d in _cohort_decisions(run.outcome).values())


def _columnar_example() -> dict[str, Any]:
    """The example with the products of the national sample catalogue and without `on` days, so
    that the staff go through the columnar batches."""
    data = _read(EXAMPLE / "province.json")
    for k, record in enumerate(data["records"]):
        record.pop("on", None)
        for j, item in enumerate(record["inputs"].get("tasks", [])):
            item["product"] = SAMPLE_PRODUCTS[(k + j) % 3]
    return data


def test_the_example_province_through_the_columnar_batches(tmp_path: Path) -> None:
    reference, run = _both(load_bundle(ND335), _columnar_example(), tmp_path, chunk_size=997)
    _assert_same(reference, run)
    assert run.columnar_rows > 600  # the staff
    # Units (organisation.kpi has level conditions) go through the columnar batches too, with
    # every level's conditions in their decisions, as the record path gives them.
    units = [k for k in run.outcome.results.lazy if run.outcome.province.role_of(k[0]) == "unit"]  # type: ignore[attr-defined]
    assert len(units) > 100
    for key in units:
        decision, expected = run.outcome.results[key].decision, reference.results[key].decision
        assert decision is not None and expected is not None
        assert len(decision.all_conditions) == 7 and decision.all_conditions == expected.all_conditions
    assert run.outcome.quota_reports
    demoted = [k for k, d in _cohort_decisions(run.outcome).items() if d is not None and getattr(d, "demoted")]
    assert demoted, "the quota demotes someone in this province"


def test_csv_tables_give_the_same_outcome(tmp_path: Path) -> None:
    reference, run = _both(load_bundle(ND335), _columnar_example(), tmp_path, fmt="csv")
    _assert_same(reference, run)
    assert run.columnar_rows > 600


def test_the_small_province_rejections_overrides_and_leave(tmp_path: Path) -> None:
    data = _read(SMALL)
    reference, run = _both(load_bundle(ND335), data, tmp_path)
    _assert_same(reference, run)
    assert [(r.subject, r.period) for r in run.outcome.rejected] == [("p07", "2026-Q2")]
    assert {n.code for n in run.outcome.notes} == {"KR717"}


def test_the_chunk_size_does_not_change_anything(tmp_path: Path) -> None:
    bundle = load_bundle(ND335)
    data = _columnar_example()
    write_province_tables(data, tmp_path)
    tables = load_province_tables(tmp_path)
    one = evaluate_province_tables(bundle, tables, chunk_size=1 << 20).outcome
    other = evaluate_province_tables(bundle, tables, chunk_size=13).outcome
    assert dict(one.results) == dict(other.results) and dict(one.years) == dict(other.years)


# --------------------------------------------------------------------------- level conditions, columnar


_LEVELS = ("excellent", "good", "complete", "not_complete")


@st.composite
def unit_records(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Unit records of organisation.kpi (levels with conditions, disqualifiers, `highest_met`),
    their children as rated related results, some with no task assigned (insufficient data)."""
    points = st.sampled_from([Decimal(x) / 4 for x in range(0, 31)])
    out: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 12))):
        assigned = draw(st.integers(0, 12))
        done = draw(st.integers(0, assigned))
        inputs: dict[str, Any] = {
            "general_compliance": draw(points), "general_discipline": draw(points),
            "general_head": draw(points), "general_culture": draw(points),
            "tasks_assigned": assigned, "tasks_done": done, "tasks_late": draw(st.integers(0, done)),
            "tasks_below_quality": draw(st.integers(0, done)), "tasks_exceeded": draw(st.integers(0, done)),
            "shortcomings_remedied": draw(st.booleans()), "personnel_violation": draw(st.integers(0, 5)) == 0,
            "children": [{"total": draw(st.integers(0, 100)), "level": draw(st.sampled_from(_LEVELS)), "rated": True}
                         for _ in range(draw(st.integers(0, 3)))],
        }
        out.append({"id": f"u{i}", "period": "2026-Q1", "inputs": inputs})
    return out


_ORGANISATION = load_bundle(ND335).rules_for("unit")


@settings(max_examples=40, deadline=None)
@given(records=unit_records(), chunk=st.integers(min_value=1, max_value=5))
def test_level_conditions_of_a_columnar_batch_equal_record_by_record(records: list[dict[str, Any]], chunk: int) -> None:
    """``LevelDecision.all_conditions`` (what combining periods reads) from the columns equals the
    record path's: conditions the decision evaluated, and those of the other levels."""
    from kpi_rules.engine import RuleSet
    from kpi_rules.relation_plan import relation_plan

    assert _ORGANISATION is not None
    derived = relation_plan(_ORGANISATION.plan)
    assert derived is not None, "organisation.kpi is rated in columnar batches"
    rules = RuleSet(derived, _ORGANISATION.catalogue)
    expected = rules.evaluate_many(records)
    got = rules.evaluate_batch(records, chunk_size=chunk)
    assert got.results == expected.results
    assert got.decisions() == [r.decision for r in expected.results]
    assert got.rejected_ids == expected.rejected_ids
    for result in expected.results:
        if result.decision is not None:
            assert len(result.decision.all_conditions) == 7


# --------------------------------------------------------------------------- generated provinces
# `provinces` is the shared strategy of tests/province_strategies.py (its default mix); other
# tests import it from here.


@settings(max_examples=25, deadline=None)
@given(data=provinces())
def test_generated_provinces_give_the_same_outcome(data: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("gen")
    reference, run = _both(_BUNDLE, data, folder, chunk_size=5)
    _assert_same(reference, run)


_BUNDLE = load_bundle(ND335)


# --------------------------------------------------------------------------- explanations


def test_explanations_of_the_columnar_run_are_those_of_the_province_run(tmp_path: Path) -> None:
    data = _read(SMALL)
    for record in data["records"]:
        record.pop("on", None)
    bundle = load_bundle(ND335)
    reference = evaluate_province(bundle, province_from_data(copy.deepcopy(data)))
    write_province_tables(data, tmp_path / "t")
    run = evaluate_province_tables(bundle, load_province_tables(tmp_path / "t"), explain=True)
    assert run.columnar_rows > 0
    explanations = list(run.explanations())
    assert len(explanations) == len(reference.results) + len(reference.years)
    by_key = {(e.subject.id, e.subject.period): e for e in explanations}
    for subject, period in reference.results:
        if reference.province.role_of(subject) == "staff":
            assert by_key[(subject, period)] == explain_subject(reference, subject, period), (subject, period)
    for subject, year in reference.years:
        assert by_key[(subject, year)] == explain_subject(reference, subject, year)
    count = write_explanations(run, tmp_path / "explanations.jsonl", advice=True)
    lines = (tmp_path / "explanations.jsonl").read_text(encoding="utf-8").splitlines()
    assert count == len(lines) == len(explanations)
    assert sorted(json.dumps(json.loads(line), sort_keys=True) for line in lines) == sorted(
        json.dumps(json.loads(e.model_dump_json()), sort_keys=True) for e in explanations)
    write_explanations(run, tmp_path / "short.jsonl")
    short = [json.loads(line) for line in (tmp_path / "short.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(short) == count and all(line.get("next_level") is None for line in short)


# --------------------------------------------------------------------------- bad tables


def _small_tables(tmp_path: Path) -> Path:
    return write_province_tables(_read(SMALL), tmp_path / "t")


def _codes(error: pytest.ExceptionInfo[DiagnosticError]) -> list[str]:
    return [d.code for d in error.value.diagnostics]


def test_a_missing_table_is_kr730(tmp_path: Path) -> None:
    folder = _small_tables(tmp_path)
    (folder / "people.parquet").unlink()
    with pytest.raises(DiagnosticError) as error:
        load_province_tables(folder)
    assert _codes(error) == ["KR730"] and "people" in error.value.diagnostics[0].message


def test_a_missing_column_is_kr731(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    folder = _small_tables(tmp_path)
    people = pq.read_table(folder / "people.parquet").drop_columns(["role"])
    pq.write_table(people, folder / "people.parquet")
    with pytest.raises(DiagnosticError) as error:
        load_province_tables(folder)
    assert _codes(error) == ["KR731"] and "`role`" in error.value.diagnostics[0].message


def test_a_row_without_an_id_is_kr732_naming_the_row(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = _small_tables(tmp_path)
    units = pq.read_table(folder / "units.parquet")
    ids = units.column("id").to_pylist()
    ids[1] = None
    pq.write_table(units.set_column(0, "id", pa.array(ids, pa.string())), folder / "units.parquet")
    with pytest.raises(DiagnosticError) as error:
        load_province_tables(folder)
    assert _codes(error) == ["KR732"] and "row 2" in (error.value.diagnostics[0].where or "")


def test_tree_problems_are_those_of_the_json_form(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = _small_tables(tmp_path)
    people = pq.read_table(folder / "people.parquet")
    units = people.column("unit").to_pylist()
    units[0] = "snv.nowhere"
    pq.write_table(people.set_column(people.column_names.index("unit"), "unit", pa.array(units)),
                   folder / "people.parquet")
    with pytest.raises(DiagnosticError) as error:
        load_province_tables(folder)
    assert _codes(error) == ["KR705"] and error.value.diagnostics[0].where == "person p01"


def test_items_without_a_record_reject_that_subject_and_period(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = _small_tables(tmp_path)
    items = pq.read_table(folder / "items.parquet")
    extra = items.slice(0, 2)
    extra = extra.set_column(extra.column_names.index("period"), "period", pa.array(["2026-Q3", "2026-Q3"]))
    pq.write_table(pa.concat_tables([items, extra]), folder / "items.parquet")
    run = evaluate_province_tables(load_bundle(ND335), load_province_tables(folder))
    orphan = [r for r in run.outcome.rejected if r.period == "2026-Q3"]
    assert [(r.subject, [d.code for d in r.diagnostics]) for r in orphan] == [(extra.column("subject")[0].as_py(), ["KR733"])]


def test_a_record_for_an_unknown_subject_or_period_is_rejected_alone(tmp_path: Path) -> None:
    data = _read(SMALL)
    data["records"].append({"subject": "p99", "period": "2026-Q1", "inputs": {}})
    data["records"].append({"subject": "p03", "period": "2026-Q9", "inputs": {}})
    reference, run = _both(load_bundle(ND335), data, tmp_path)
    _assert_same(reference, run)
    assert {(r.subject, r.diagnostics[0].code) for r in run.outcome.rejected} >= {("p99", "KR708"), ("p03", "KR709")}


def test_a_second_record_for_a_subject_and_period_is_rejected(tmp_path: Path) -> None:
    """Items name (subject, period), so both records' items count for the first (docs)."""
    data = _read(SMALL)
    first = data["records"][0]
    data["records"].append({"subject": first["subject"], "period": first["period"],
                            "inputs": {**first["inputs"], "tasks": []}})
    write_province_tables(data, tmp_path)
    tables = load_province_tables(tmp_path)
    assert [(r.subject, r.period, r.diagnostics[0].code) for r in tables.rejected] == [
        (first["subject"], first["period"], "KR709")]
    run = evaluate_province_tables(load_bundle(ND335), tables)
    reference = evaluate_province(load_bundle(ND335), province_from_data(_read(SMALL)))
    key = (first["subject"], first["period"])
    assert run.outcome.results[key] == reference.results[key]


def test_a_bad_manifest_is_kr734(tmp_path: Path) -> None:
    folder = _small_tables(tmp_path)
    (folder / "province.yaml").write_text("province: [1, 2]\n", encoding="utf-8")
    with pytest.raises(DiagnosticError) as error:
        load_province_tables(folder)
    assert _codes(error) == ["KR734"]


# --------------------------------------------------------------------------- command line


def test_the_command_line_reads_a_directory_of_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kpi_rules.cli import main

    folder = write_province_tables(_read(SMALL), tmp_path / "t")
    assert main(["evaluate", str(ND335), str(SMALL), "--format", "json", "--quiet"]) == 1
    from_json = json.loads(capsys.readouterr().out)
    jsonl = tmp_path / "explanations.jsonl"
    assert main(["evaluate", str(ND335), str(folder), "--format", "json", "--quiet",
                 "--explanations", str(jsonl)]) == 1  # the rejected record of p07
    from_tables = json.loads(capsys.readouterr().out)
    assert from_tables == from_json
    lines = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == len(from_json["results"]) + len(from_json["years"])
    assert main(["explain", str(ND335), str(folder), "--subject", "p03", "--period", "2026-Q1",
                 "--format", "json", "--quiet"]) == 0
    from_tables_one = json.loads(capsys.readouterr().out)
    assert main(["explain", str(ND335), str(SMALL), "--subject", "p03", "--period", "2026-Q1",
                 "--format", "json", "--quiet"]) == 0
    assert from_tables_one == json.loads(capsys.readouterr().out)


def test_the_collector_is_paused_during_a_run_and_restored_after_it() -> None:
    import gc

    from kpi_rules.province_tables import collector_paused

    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled(), "a nested pause does not turn the collector back on"
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("a failing run")
    assert gc.isenabled(), "restored when the run fails"
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled(), "left off when it was off"
    finally:
        gc.enable()
