"""The batch API gives exactly what record-by-record evaluation gives.

Random records (including bad ones) are rated by ``evaluate_batch`` and by
``RuleSet.evaluate_many``: the results, the rejections and their ids, and the explanations
must be equal. The same records as pandas, polars, Arrow, CSV and Parquet give the same
outcome; values too large for int64 are still exact; items read in chunks give the same
result as items read whole.
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kpi_rules
from plan_helpers import assert_batch_equals_records
from kpi_rules.batch import _Conv, evaluate_batch
from kpi_rules.values import to_fraction
from test_exactness import DISCIPLINE, general_texts, task_items

ROOT = Path(__file__).resolve().parent.parent
RULES = kpi_rules.load(ROOT / "criteria" / "nd335" / "individual.kpi")


def _number(text: str, how: int) -> object:
    if how == 0:
        return float(text)
    if how == 1:
        return Decimal(text)
    f = Fraction(text)
    return int(f) if f.denominator == 1 else float(text)


@st.composite
def raw_records(draw: st.DrawFn, max_size: int = 8) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(draw(st.integers(min_value=0, max_value=max_size))):
        how = draw(st.integers(min_value=0, max_value=2))
        general = draw(general_texts)
        tasks = draw(st.lists(task_items, max_size=4))
        inputs: dict[str, Any] = {k: _number(v, how) for k, v in general.items()}
        inputs["tasks"] = [{k: (v if k == "product" else _number(v, how)) for k, v in t.items()} for t in tasks]
        if draw(st.booleans()):
            inputs["discipline"] = draw(st.sampled_from(DISCIPLINE))
        if draw(st.booleans()):
            inputs["ideology_violation"] = draw(st.booleans())
        flaw = draw(st.integers(min_value=0, max_value=12))
        if flaw == 1:
            inputs.pop("general_i1")  # missing required
        elif flaw == 2:
            inputs["general_i2"] = 7  # above max
        elif flaw == 3 and inputs["tasks"]:
            inputs["tasks"][0]["product"] = "UNKNOWN"  # no catalogue entry: KR505
        elif flaw == 4:
            inputs["typo_field"] = 1
        elif flaw == 5:
            inputs["general_ii1"] = "2.5"  # text is not a number in records
        rid = draw(st.sampled_from([f"cc-{i}", f"cc-{i}", f"cc-{i}", "dup"]))
        record: dict[str, Any] = {"id": rid, "name": f"Người {i}", "period": "2026-Q1", "inputs": inputs}
        if flaw == 6:
            record["on"] = "2026-03-31"
        out.append(record)
    return out


def _same(records: list[Any], **kwargs: Any) -> kpi_rules.BatchOutcome:
    return assert_batch_equals_records(RULES, records, records, **kwargs)


@settings(max_examples=60)
@given(records=raw_records(), chunk=st.integers(min_value=1, max_value=5))
def test_batch_equals_record_by_record(records: list[dict[str, Any]], chunk: int) -> None:
    _same(records, chunk_size=chunk)


@settings(max_examples=15)
@given(records=raw_records(max_size=4), lang=st.sampled_from(["vi", "en"]))
def test_batch_explanations_equal_single_record_explanations(records: list[dict[str, Any]], lang: str) -> None:
    expected = RULES.evaluate_many(records)
    got = evaluate_batch(RULES, records, explain=True, lang=lang)
    assert got.results == expected.results
    by_id = {r["id"]: r for r in records}  # an accepted id is the first of its duplicates
    firsts: dict[str, dict[str, Any]] = {}
    for r in records:
        firsts.setdefault(r["id"], r)
    del by_id
    explanations = []
    for result in expected.results:
        explanations.append(RULES.explain(_first_accepted(records, result.subject_id), lang=lang))
    assert got.explanations == tuple(explanations)


def _first_accepted(records: list[dict[str, Any]], rid: str) -> dict[str, Any]:
    for r in records:
        if r["id"] == rid:
            try:
                RULES.record(r)
            except kpi_rules.DiagnosticError:
                continue
            return r
    raise AssertionError(rid)


@settings(max_examples=200)
@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_floats_become_the_decimal_of_their_repr(x: float) -> None:
    conv = _Conv(1)
    num = conv.floats(np.array([x]))
    if not conv.slow[0]:
        n = num.n if isinstance(num.n, int) else int(num.n[0])
        assert Fraction(n, int(num.d)) == to_fraction(x)  # type: ignore[arg-type]


def test_values_beyond_int64_are_exact() -> None:
    big = 10**30
    records: list[Any] = [
        {"id": "big", "inputs": {**_general(), "tasks": [
            {"product": "DA", "assigned": big, "completed": big - 1},
            {"product": "VB-HC", "assigned": Decimal("0.000000001"), "completed": Decimal("0.000000001")}]}},
        {"id": "near", "inputs": {**_general(), "tasks": [
            {"product": "DA", "assigned": 2**61, "completed": 2**61 - 3, "failed_reviews": 3}]}},
        {"id": "small", "inputs": {**_general(), "tasks": [{"product": "BC-DK", "assigned": 3, "completed": 2}]}},
    ]
    expected = _same(records)
    assert len(expected.results) == 3
    assert expected.results[0].total is not None and expected.results[0].total.denominator > 1


def _general() -> dict[str, Any]:
    return {"general_i1": 5, "general_i2": 4.5, "general_ii1": 2.5, "general_ii2": 2.5,
            "general_ii3": 2, "general_ii4": 2.5, "general_iii": 8}


# --------------------------------------------------------------------------- tables and files


def _frames(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    persons, items = [], []
    for r in records:
        inputs = dict(r["inputs"])
        for t in inputs.pop("tasks", []):
            items.append({"id": r["id"], "product": t["product"], "assigned": t["assigned"],
                          "completed": t["completed"], "failed_reviews": t.get("failed_reviews", 0),
                          "delays": t.get("delays", 0)})
        persons.append({"id": r["id"], "name": r.get("name"), "period": r.get("period"),
                        "discipline": inputs.pop("discipline", None),
                        "ideology_violation": inputs.pop("ideology_violation", None), **inputs})
    return persons, items


def _table_records() -> list[dict[str, Any]]:
    data = json.loads((ROOT / "examples" / "nd335_individual.json").read_text(encoding="utf-8"))["records"]
    records = [r for r in data if "override" not in r and "on" not in r]
    for r in records:  # tables carry one type per column: numbers as floats
        r["inputs"] = {k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
                       for k, v in r["inputs"].items()}
        for t in r["inputs"].get("tasks", []):
            for k in ("assigned", "completed", "failed_reviews", "delays"):
                t[k] = float(t.get(k, 0))
    records.append({"id": "no-i1", "inputs": {k: float(v) for k, v in _general().items() if k != "general_i1"}
                    | {"tasks": [{"product": "VB-HC", "assigned": 1.0, "completed": 1.0,
                                  "failed_reviews": 0.0, "delays": 0.0}]}})
    return records


def _expected_for_tables(records: list[dict[str, Any]]) -> kpi_rules.BatchOutcome:
    return RULES.evaluate_many(records)


def _check(got: Any, expected: kpi_rules.BatchOutcome, extra_ids: tuple[str, ...] = ()) -> None:
    assert got.results == expected.results
    assert got.rejected_ids == expected.rejected_ids + extra_ids
    assert "no-i1" in got.rejected_ids


def test_arrow_pandas_polars_give_the_same_outcome() -> None:
    pa = pytest.importorskip("pyarrow")
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    records = _table_records()
    expected = _expected_for_tables(records)
    persons, items = _frames(records)
    _check(evaluate_batch(RULES, pa.Table.from_pylist(persons), items=pa.Table.from_pylist(items)), expected)
    _check(evaluate_batch(RULES, pd.DataFrame(persons), items=pd.DataFrame(items)), expected)
    _check(evaluate_batch(RULES, pl.DataFrame(persons), items=pl.DataFrame(items)), expected)


def test_items_in_memory_find_their_owners_like_the_files() -> None:
    """Item owners of in-memory tables are found with a vectorised lookup: orphans, integer
    ids and a duplicate person id must come out as record by record (and as files do)."""
    pa = pytest.importorskip("pyarrow")
    records = _table_records()
    expected = _expected_for_tables(records)
    persons, items = _frames(records)
    ghost = {"id": "ghost", "product": "DA", "assigned": 1.0, "completed": 1.0, "failed_reviews": 0.0, "delays": 0.0}
    got = evaluate_batch(RULES, pa.Table.from_pylist(persons), items=pa.Table.from_pylist(items + [ghost]))
    _check(got, expected, ("ghost",))
    assert [d.code for d in got.rejected][-1] == "KR509"
    # Integer ids (items name their owner by number), and the first of two persons with one id
    # owning the items, as for record dicts.
    number = {r["id"]: 100 + i for i, r in enumerate(records)}
    int_records = [dict(r, id=number[r["id"]]) for r in records] + [dict(records[0], id=number[records[0]["id"]])]
    int_persons, int_items = _frames(int_records)
    int_items = int_items[: len(items)]  # the duplicate's items are the first one's
    expected_int = RULES.evaluate_many([dict(r, inputs=dict(r["inputs"], tasks=r["inputs"].get("tasks", [])))
                                        if k < len(records) else dict(r, inputs={**r["inputs"], "tasks": []})
                                        for k, r in enumerate(int_records)])
    got_int = evaluate_batch(RULES, pa.Table.from_pylist(int_persons), items=pa.Table.from_pylist(int_items))
    assert got_int.results == expected_int.results
    assert got_int.rejected_ids == expected_int.rejected_ids
    assert "KR508" in {d.code for d in got_int.rejected}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_files_read_whole_or_in_chunks_give_the_same_outcome(tmp_path: Path, suffix: str) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    records = _table_records()
    expected = _expected_for_tables(records)
    persons, items = _frames(records)
    items.append({"id": "ghost", "product": "DA", "assigned": 1.0, "completed": 1.0,
                  "failed_reviews": 0.0, "delays": 0.0})
    p_path, i_path = tmp_path / f"persons{suffix}", tmp_path / f"items{suffix}"
    for rows, path in ((persons, p_path), (items, i_path)):
        table = pa.Table.from_pylist(rows)
        if suffix == ".csv":
            pcsv.write_csv(table, path)
        else:
            pq.write_table(table, path)
    whole = evaluate_batch(RULES, p_path, items=i_path)
    chunked = evaluate_batch(RULES, p_path, items=i_path, chunk_size=2)
    _check(whole, expected, ("ghost",))
    _check(chunked, expected, ("ghost",))
    assert chunked.results == whole.results


def test_ruleset_facade_and_fast_single_record() -> None:
    records = kpi_rules.read_records(ROOT / "examples" / "nd335_individual.json")
    outcome = RULES.evaluate_batch(records)
    assert outcome.results == RULES.evaluate_many(records).results


@settings(max_examples=60)
@given(records=raw_records(max_size=3))
def test_fast_path_equals_the_tree_walker(records: list[dict[str, Any]]) -> None:
    from kpi_rules.evaluator import EvaluationError, evaluate_record
    from kpi_rules.fastpath import compile_fast

    fast = compile_fast(RULES.plan)
    assert fast is not None
    for raw in records:
        try:
            record = RULES.record(raw)
        except kpi_rules.DiagnosticError:
            continue
        try:
            expected = evaluate_record(RULES.plan, record)
        except EvaluationError as error:
            with pytest.raises(EvaluationError) as info:
                fast.evaluate(record)
            assert info.value.diagnostic == error.diagnostic
            continue
        assert fast.evaluate(record) == expected
