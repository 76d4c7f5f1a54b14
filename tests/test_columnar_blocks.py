"""Record dicts read a block at a time, ids of dicts proved different by their order, and results
written over the temporaries of the columnar program: each equal to the record-by-record path."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kpi_rules
from plan_helpers import assert_batch_equals_records
from kpi_rules import batch_sources
from kpi_rules.batch_sources import texts_in_order
from kpi_rules.exactcols import Arith, Num

# Lets read again after sub-expressions that hand them back unchanged (``t + 0``, ``t * 1``):
# writing a sum over such a value would change the let, the criteria reading it and the total.
ALIAS_TEXT = """
ruleset test.alias "Quy tắc thử" en "Test rule" {
  basis "Nghị định 335/2025/NĐ-CP"
  version "1"
  in_force from 2026-01-01
  rates person

  subject person "Công chức" en "Civil servant" {
    input a : number min 0 max 100 "a" en "a"
    input b : number min 0 max 100 "b" en "b"
    input c : number min -50 max 50 "c" en "c"
  }

  let t "t" en "t" = a * 2 + b
  let u "u" en "u" = (t + 0) + c * 3
  let v "v" en "v" = t * 1 * 1 - (a + b) * 2 + (c - a)

  criteria total "Tổng điểm" en "Total" max 100 {
    group g "Nhóm" en "Group" max 100 {
      criterion x "x" en "x" max 40 = (t + 0) + c
      criterion y "y" en "y" max 30 = (u - t) / 3 + (v + 0) * 1
      criterion z "z" en "z" max 30 = t / 10 + (x + y) * 0
    }
  }

  rating {
    level good "Tốt" en "Good" from 50
    level complete "Hoàn thành" en "Complete" below 50
  }
}
"""
ALIAS = kpi_rules.loads(ALIAS_TEXT, "alias.kpi")


@settings(max_examples=30, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 100), st.integers(0, 100), st.integers(-50, 50)),
                     min_size=1, max_size=12))
def test_results_written_over_temporaries_equal_record_by_record(rows: list[tuple[int, int, int]]) -> None:
    records = [{"id": f"r{i}", "inputs": {"a": a, "b": b, "c": c}} for i, (a, b, c) in enumerate(rows)]
    outcome = assert_batch_equals_records(ALIAS, records, records)
    assert outcome.results  # every row rated


def test_inputs_lets_and_criteria_survive_the_program() -> None:
    """The columns a run keeps (inputs, lets, criteria) hold their own values afterwards."""
    pa = pytest.importorskip("pyarrow")
    a, b, c = np.arange(0, 100), np.arange(100, 0, -1), np.arange(-50, 50)
    table = pa.table({"id": [f"r{i}" for i in range(100)], "a": a.copy(), "b": b.copy(), "c": c.copy()})
    records = table.to_pylist()
    outcome = assert_batch_equals_records(ALIAS, table, [{"id": r.pop("id"), "inputs": r} for r in records])
    run = outcome_run(ALIAS, table)
    t = 2 * a + b
    assert run.lets["t"].n.tolist() == t.tolist() and run.lets["t"].d == 1
    assert table.column("a").to_pylist() == a.tolist()
    assert outcome.results


def outcome_run(rules: kpi_rules.RuleSet, data: Any) -> Any:
    from kpi_rules.batch import evaluate_batch

    got = evaluate_batch(rules, data)
    return got._chunks[0].run


def test_arith_overwrites_only_what_it_made_and_was_given() -> None:
    arith = Arith(4)
    x = np.array([1, 2, 3, 4], dtype=np.int64)
    arith.known(x, 1, 4)
    made = arith.plus(x, x, 1, None)  # a new array: x is not this object's
    assert x.tolist() == [1, 2, 3, 4] and made is not x
    kept = arith.plus(made, x, 1, None)  # not consuming: a new array again
    assert kept is not made and made.tolist() == [2, 4, 6, 8]
    arith.consume(Num(made, 1))
    try:
        again = arith.plus(made, x, 1, None)
    finally:
        arith.release()
    assert again is made and made.tolist() == [3, 6, 9, 12]
    assert arith.interval(made) == (3, 12)  # the bounds of the new values
    arith.publish(Num(made, 1))
    arith.consume(Num(made, 1))
    try:
        after = arith.plus(made, x, 1, None)
    finally:
        arith.release()
    assert after is not made and made.tolist() == [3, 6, 9, 12]


# --------------------------------------------------------------------------- dicts in blocks


def _inputs(i: int) -> dict[str, Any]:
    return {"a": 55.5 + i % 40, "b": float(i % 100), "c": -1.5}


ODD_ROWS: list[Any] = [
    "not a record",
    {"id": "no-inputs"},
    {"id": "typo", "inputs": {**_inputs(1), "aa": 3}},
    {"id": "int-a", "inputs": {**_inputs(2), "a": 40}},
    {"id": "decimal-b", "inputs": {**_inputs(3), "b": Decimal("61.25")}},
    {"id": "fraction-c", "inputs": {**_inputs(4), "c": Fraction(1, 3)}},
    {"id": "bool-b", "inputs": {**_inputs(5), "b": True}},
    {"id": "missing-c", "inputs": {"a": 1.5, "b": 2.5}},
    {"id": "none-a", "inputs": {**_inputs(6), "a": None}},
    {"id": "above", "inputs": {**_inputs(7), "a": 100.5}},
    {"id": "named", "name": "An", "period": "2026-Q1", "inputs": _inputs(8)},
    {"id": "name-int", "name": 7, "inputs": _inputs(9)},
    {"id": 17, "inputs": _inputs(10)},
    {"id": "p1", "inputs": _inputs(11)},  # a duplicate when p1 is picked too
]


@settings(max_examples=60, deadline=None)
@given(picks=st.lists(st.integers(min_value=0, max_value=len(ODD_ROWS) + 20), max_size=25),
       block=st.integers(min_value=1, max_value=6), chunk=st.sampled_from([3, 7, 1000]))
def test_dicts_in_blocks_equal_record_by_record(picks: list[int], block: int, chunk: int) -> None:
    records = [ODD_ROWS[k] if k < len(ODD_ROWS) else {"id": f"p{k - len(ODD_ROWS)}", "inputs": _inputs(k)}
               for k in picks]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(batch_sources, "BLOCK", block)
        assert_batch_equals_records(ALIAS, records, records, chunk_size=chunk)


def test_many_float_records_cross_blocks() -> None:
    n = 3 * batch_sources.BLOCK + 17
    records = [{"id": f"p{i}", "inputs": _inputs(i)} for i in range(n)]
    records[batch_sources.BLOCK + 5]["inputs"]["b"] = 7  # one int: that column is read from its list
    records[-1]["name"] = "Bình"
    assert_batch_equals_records(ALIAS, records, records)


# --------------------------------------------------------------------------- ids of dicts


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(st.one_of(st.text(alphabet="ab\x00é", max_size=10), st.none()), max_size=30),
       order=st.sampled_from(["none", "length", "bytes"]))
def test_texts_in_order_proves_only_different_texts(texts: list[str | None], order: str) -> None:
    if order != "none" and None not in texts:
        texts = sorted(texts, key=(lambda x: (len(x), x)) if order == "length" else None)  # type: ignore[arg-type]
    proved = texts_in_order(texts)
    if proved:
        assert None not in texts and len(set(texts)) == len(texts)
    plain = None not in texts and all(x.isascii() and "\x00" not in x for x in texts)  # type: ignore[union-attr]
    if plain and order != "none" and len(set(texts)) == len(texts):
        assert proved  # what it is for: texts in order, sorted either way


def test_texts_in_order_of_exports() -> None:
    assert texts_in_order([f"p{i}" for i in range(12345)])
    assert texts_in_order([f"cc-{i:07d}" for i in range(5000)])
    assert not texts_in_order([f"p{i}" for i in range(100)] + ["p99"])
    assert not texts_in_order(["p1", None, "p2"])
