"""Exact inputs of the columnar path: decimal and integer Arrow columns, dicts with bad rows.

Whatever the input kind, ``evaluate_batch`` must give what ``RuleSet.evaluate_many`` gives for
the same records: the same results (exact totals, levels), the same rejections and ids. The
helpers that make the columnar path cheap (integer band cuts, range checks on numerators,
float scaling, interval bounds) are checked against plain Fractions.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kpi_rules
from plan_helpers import assert_batch_equals_records
from kpi_rules.batch import evaluate_batch
from kpi_rules.columnar import LIMIT, Num, Arith, _band_table
from kpi_rules.columns_in import Converter
from kpi_rules.values import to_fraction

pa = pytest.importorskip("pyarrow")

ROOT = Path(__file__).resolve().parent.parent
INDIVIDUAL = kpi_rules.load(ROOT / "criteria" / "nd335" / "individual.kpi")

# The benchmark's simple rule, with a negative input (so the clamps at 0 do work) and a
# product by 105% (so the clamp at the maximum does too).
SIMPLE_TEXT = """
ruleset test.simple "Quy tắc thử" en "Test rule" {
  basis "Nghị định 335/2025/NĐ-CP"
  version "1"
  in_force from 2026-01-01
  rates person

  subject person "Công chức" en "Civil servant" {
    input general : points min 0 max 30 "Điểm chung" en "General points"
    input a : percent min 0 max 100 "a" en "a"
    input b : percent min 0 max 100 "b" en "b"
    input penalty : number min -20 max 20 "Điều chỉnh" en "Adjustment"
  }

  criteria total "Tổng điểm" en "Total" max 100 {
    group general_group "Tiêu chí chung" en "General" max 30 {
      criterion general_points "Điểm chung" en "General points" max 30 = general + penalty
    }
    group results "Kết quả" en "Results" max 70 {
      criterion tasks_points "(a + b) / 3 × 70%" en "(a + b) / 3 × 70%" max 70 = (a + b) / 3 * 105%
    }
  }

  rating {
    level excellent "Xuất sắc" en "Excellent" from 90
    level good "Tốt" en "Good" from 65 below 90
    level complete "Hoàn thành" en "Complete" from 50 below 65
    level not_complete "Không hoàn thành" en "Not complete" below 50
  }
}
"""
SIMPLE = kpi_rules.loads(SIMPLE_TEXT, "simple.kpi")


def _dec(text: str) -> Decimal:
    return Decimal(text)


def _same(rules: kpi_rules.RuleSet, data: Any, records: list[Any], **kwargs: Any) -> kpi_rules.BatchOutcome:
    return assert_batch_equals_records(rules, data, records, **kwargs)


def _decimal_array(values: list[Decimal | None], precision: int, scale: int) -> Any:
    return pa.array(values, type=pa.decimal128(precision, scale))


# --------------------------------------------------------------------------- decimal and int columns


amounts = st.integers(min_value=-3000, max_value=12000)  # hundredths, some outside the ranges


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(amounts, amounts, amounts, amounts, st.booleans()), max_size=12),
       precision=st.sampled_from([9, 18, 38]), extra_scale=st.integers(min_value=0, max_value=3))
def test_decimal_columns_equal_record_by_record(rows: list[tuple[int, int, int, int, bool]], precision: int,
                                                extra_scale: int) -> None:
    scale = 2 + extra_scale  # more places than the values need: the same numbers
    ids = [f"p{i}" for i in range(len(rows))]
    cols: dict[str, list[Decimal | None]] = {"general": [], "a": [], "b": [], "penalty": []}
    records: list[dict[str, Any]] = []
    for rid, (g, x, y, p, absent) in zip(ids, rows):
        values = {"general": Decimal(g // 3) / 100, "a": Decimal(x) / 100, "b": Decimal(y) / 100,
                  "penalty": Decimal(p // 4) / 100}
        for key, value in values.items():
            cols[key].append(None if absent and key == "b" else value)
        inputs = {k: v for k, v in values.items() if not (absent and k == "b")}
        records.append({"id": rid, "inputs": inputs})
    table = pa.table({"id": pa.array(ids, pa.string()),
                      **{k: _decimal_array(vs, precision, scale) for k, vs in cols.items()}})
    _same(SIMPLE, table, records)


def test_wide_decimals_beyond_int64_go_record_by_record() -> None:
    big = Decimal(10**25) + Decimal("0.5")
    table = pa.table({"id": ["a", "b"], "general": _decimal_array([Decimal(3), big], 38, 1),
                      "a": _decimal_array([Decimal(50), Decimal(60)], 38, 1),
                      "b": _decimal_array([Decimal(50), Decimal(60)], 38, 1),
                      "penalty": _decimal_array([Decimal(0), Decimal(0)], 38, 1)})
    records = [{"id": "a", "inputs": {"general": Decimal(3), "a": Decimal(50), "b": Decimal(50), "penalty": Decimal(0)}},
               {"id": "b", "inputs": {"general": big, "a": Decimal(60), "b": Decimal(60), "penalty": Decimal(0)}}]
    expected = _same(SIMPLE, table, records)
    assert expected.rejected_ids == ("b",)  # above the maximum: KR503 from the record checks


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(-5, 40), st.integers(-10, 120), st.integers(-10, 120),
                               st.integers(-30, 30)), max_size=10),
       duplicate=st.booleans())
def test_integer_columns_equal_record_by_record(rows: list[tuple[int, int, int, int]], duplicate: bool) -> None:
    ids: list[Any] = list(range(len(rows)))  # integer ids, as a table may carry them
    if duplicate and len(rows) > 1:
        ids[-1] = ids[0]
    table = pa.table({"id": pa.array(ids, pa.int64()), "general": [r[0] for r in rows],
                      "a": [r[1] for r in rows], "b": [r[2] for r in rows], "penalty": [r[3] for r in rows]})
    records = [{"id": rid, "inputs": {"general": g, "a": x, "b": y, "penalty": p}}
               for rid, (g, x, y, p) in zip(ids, rows)]
    _same(SIMPLE, table, records)


def test_decimal_persons_and_items_of_individual_kpi() -> None:
    general = {"general_i1": "4.5", "general_i2": "5", "general_ii1": "2.25", "general_ii2": "2.5",
               "general_ii3": "1.75", "general_ii4": "2.5", "general_iii": "9.5"}
    records = [
        {"id": f"cc-{i}", "inputs": {**{k: Decimal(v) - Decimal(i) / 4 for k, v in general.items()},
                                     "discipline": "none" if i % 3 else "reprimand",
                                     "tasks": [{"product": "DA", "assigned": Decimal(4 + i), "completed": Decimal(3 + i) / 2,
                                                "failed_reviews": Decimal(i % 2), "delays": Decimal(0)}]}}
        for i in range(9)]
    persons = pa.table({"id": [r["id"] for r in records],
                        **{k: _decimal_array([r["inputs"][k] for r in records], 18, 2) for k in general},
                        "discipline": [r["inputs"]["discipline"] for r in records]})
    items = pa.table({"id": [r["id"] for r in records],
                      **{k: _decimal_array([r["inputs"]["tasks"][0][k] for r in records], 12, 1)
                         for k in ("assigned", "completed", "failed_reviews", "delays")},
                      "product": [r["inputs"]["tasks"][0]["product"] for r in records]})
    expected = INDIVIDUAL.evaluate_many(records)
    got = evaluate_batch(INDIVIDUAL, persons, items=items)
    assert got.results == expected.results
    assert got.rejected_ids == expected.rejected_ids
    assert got.rejected_ids == ("cc-8",)  # general_ii3 = 1.75 - 2 < 0: KR503 from the record checks
    assert got.columnar_rows == 8


# --------------------------------------------------------------------------- dicts with bad rows


def _simple_inputs(i: int) -> dict[str, Any]:
    return {"general": 20 + i % 10, "a": 55.5 + i, "b": Decimal("61.25"), "penalty": -1.5}


BAD_ROWS: list[Any] = [
    "not a record",
    {"id": "no-inputs"},
    {"id": "inputs-list", "inputs": [1, 2]},
    {"id": "typo", "inputs": {**_simple_inputs(1), "gneral": 3}},
    {"id": "record-key", "inputs": _simple_inputs(2), "extra": 1},
    {"id": "name-int", "name": 7, "inputs": _simple_inputs(3)},
    {"id": True, "inputs": _simple_inputs(4)},
    {"inputs": _simple_inputs(5)},
    {"id": "text-number", "inputs": {**_simple_inputs(6), "a": "55.5"}},
    {"id": "bool-number", "inputs": {**_simple_inputs(7), "b": True}},
    {"id": "nan", "inputs": {**_simple_inputs(8), "a": float("nan")}},
    {"id": "huge", "inputs": {**_simple_inputs(9), "penalty": 10**30}},
    {"id": "tiny", "inputs": {**_simple_inputs(10), "penalty": Fraction(1, 3)}},
    {"id": "above", "inputs": {**_simple_inputs(11), "general": 30.5}},
    {"id": "list-value", "inputs": {**_simple_inputs(12), "a": [1]}},
    {"id": "missing", "inputs": {k: v for k, v in _simple_inputs(13).items() if k != "b"}},
    {"id": "on-day", "on": "2026-03-01", "inputs": _simple_inputs(14)},
    {"id": "override", "override": {"level": "good"}, "inputs": _simple_inputs(15)},
    {"id": 17, "name": "Số", "period": "2026-Q1", "inputs": _simple_inputs(16)},
    {"id": "p3", "inputs": _simple_inputs(17)},  # a duplicate of a good record
]


@settings(max_examples=40, deadline=None)
@given(picks=st.lists(st.integers(min_value=0, max_value=len(BAD_ROWS) + 9), max_size=16),
       chunk=st.integers(min_value=1, max_value=7))
def test_dicts_with_bad_rows_give_the_same_rejections(picks: list[int], chunk: int) -> None:
    records = [BAD_ROWS[k] if k < len(BAD_ROWS) else {"id": f"p{k - len(BAD_ROWS)}", "name": "An",
                                                      "inputs": _simple_inputs(k)} for k in picks]
    _same(SIMPLE, records, records, chunk_size=chunk)


def test_every_bad_row_at_once() -> None:
    good = [{"id": f"p{i}", "inputs": _simple_inputs(i)} for i in range(5)]
    records = good[:3] + BAD_ROWS + good[3:]
    expected = _same(SIMPLE, records, records)
    assert len(expected.rejected_ids) >= 15
    got = evaluate_batch(SIMPLE, records)
    assert got.columnar_rows >= 5


# --------------------------------------------------------------------------- the helpers, against Fractions


@settings(max_examples=200)
@given(cuts=st.lists(st.fractions(min_value=-200, max_value=200, max_denominator=50), min_size=1, max_size=5),
       d=st.integers(min_value=1, max_value=10**6), ns=st.lists(st.integers(-10**9, 10**9), max_size=20))
def test_band_cuts_equal_fraction_comparisons(cuts: list[Fraction], d: int, ns: list[int]) -> None:
    bounds = sorted(set(cuts), reverse=True)
    levels = [SimpleNamespace(lower=bounds[0], upper=None)]
    levels += [SimpleNamespace(lower=lo, upper=hi) for hi, lo in zip(bounds, bounds[1:])]
    levels.append(SimpleNamespace(lower=None, upper=bounds[-1]))
    if len(levels) > 2:
        levels.pop(1)  # leave a gap: some totals have no band
    table_cuts, lut = _band_table(levels, d)  # type: ignore[arg-type]
    for n in ns:
        expected = next((j for j, lv in enumerate(levels)
                         if (lv.lower is None or Fraction(n, d) >= lv.lower)
                         and (lv.upper is None or Fraction(n, d) < lv.upper)), -1)
        assert lut[sum(n >= c for c in table_cuts)] == expected


@settings(max_examples=200)
@given(values=st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), min_size=1, max_size=12),
       lo=st.one_of(st.none(), st.fractions(min_value=-10**6, max_value=10**6, max_denominator=7)),
       width=st.one_of(st.none(), st.fractions(min_value=0, max_value=10**7, max_denominator=7)),
       d=st.sampled_from([1, 10, 100, 10**9]))
def test_range_checks_on_numerators(values: list[int], lo: Fraction | None, width: Fraction | None, d: int) -> None:
    hi = None if width is None else (lo or Fraction(0)) + width
    decl = SimpleNamespace(min=lo, max=hi)
    conv = Converter(len(values))
    checked = conv.ranged(Num(np.array(values, dtype=np.int64), d), decl)  # type: ignore[arg-type]
    for i, v in enumerate(values):
        inside = (lo is None or Fraction(v, d) >= lo) and (hi is None or Fraction(v, d) <= hi)
        assert bool(conv.slow[i]) == (not inside)
        n = checked.n if isinstance(checked.n, int) else int(checked.n[i])
        if inside:
            assert n == v
        if checked.lo is not None and checked.hi is not None:
            assert checked.lo <= n <= checked.hi  # the bounds hold for every row, slow or not


@settings(max_examples=200)
@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                          st.decimals(min_value=-10**9, max_value=10**9, places=4, allow_nan=False).map(float),
                          st.integers(-10**16, 10**16).map(float)), min_size=1, max_size=16))
def test_float_columns_are_the_decimals_of_their_reprs(xs: list[float]) -> None:
    conv = Converter(len(xs))
    num = conv.floats(np.array(xs, dtype=np.float64))
    assert isinstance(num.d, int)
    for i, x in enumerate(xs):
        if not conv.slow[i]:
            n = num.n if isinstance(num.n, int) else int(num.n[i])
            assert abs(n) <= LIMIT
            assert Fraction(n, num.d) == to_fraction(x)
        elif math.isfinite(x) and abs(x) <= 10**9 and "e" not in repr(x):
            # Short decimals are never left to the slow path (at most 4 places here).
            assert len(repr(x).split(".")[1]) > 4


@settings(max_examples=300)
@given(xs=st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=6),
       ys=st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=6),
       op=st.sampled_from(["+", "-", "*"]))
def test_interval_bounds_are_sound_and_products_exact(xs: list[int], ys: list[int], op: str) -> None:
    size = min(len(xs), len(ys))
    x, y = np.array(xs[:size], dtype=np.int64), np.array(ys[:size], dtype=np.int64)
    arith = Arith(size)
    if op == "*":
        out = arith.mul(x, y, None)
        expected = [a * b for a, b in zip(xs, ys)]
    else:
        out = arith.plus(x, y, 1 if op == "+" else -1, None)
        expected = [a + b if op == "+" else a - b for a, b in zip(xs, ys)]
    lo, hi = arith.interval(out)
    for i, e in enumerate(expected[:size]):
        if abs(e) <= LIMIT and not arith.bad[i]:
            got = out if isinstance(out, int) else int(np.asarray(out)[i])
            assert got == e
            assert lo <= got <= hi
        else:
            assert arith.bad[i] or abs(e) <= LIMIT


def test_explanations_from_decimal_columns_equal_single_record_explanations() -> None:
    values = [("p0", "12.5", "88.25", "90.75", "-3.5"), ("p1", "30", "100", "100", "20"),
              ("p2", "0", "0", "1.5", "-20"), ("p3", "31", "50", "50", "0")]
    table = pa.table({"id": [v[0] for v in values],
                      **{k: _decimal_array([Decimal(v[j + 1]) for v in values], 18, 2)
                         for j, k in enumerate(("general", "a", "b", "penalty"))}})
    records = [{"id": v[0], "inputs": {k: Decimal(v[j + 1]) for j, k in enumerate(("general", "a", "b", "penalty"))}}
               for v in values]
    got = evaluate_batch(SIMPLE, table, explain=True, lang="en")
    assert got.rejected_ids == ("p3",)
    assert got.explanations == tuple(SIMPLE.explain(r, lang="en") for r in records[:3])


def test_sliced_and_chunked_decimal_tables_read_their_own_rows() -> None:
    names = ("general", "a", "b", "penalty")
    values = [(f"p{i}", Decimal(i % 35), Decimal(i * 7 % 110), Decimal(i * 3 % 100) / 4, Decimal(i % 41 - 20) / 2)
              for i in range(200)]
    table = pa.table({"id": [v[0] for v in values],
                      **{k: _decimal_array([v[j + 1] for v in values], 18, 2) for j, k in enumerate(names)}})
    records = [{"id": v[0], "inputs": dict(zip(names, v[1:]))} for v in values]
    chunked = pa.concat_tables([table.slice(0, 70), table.slice(70, 130)])  # two chunks per column
    expected = _same(SIMPLE, chunked, records)
    assert 0 < len(expected.rejected_ids) < len(records)
    _same(SIMPLE, table.slice(37, 101), records[37:138])  # buffers read from the slice's offset


# --------------------------------------------------------------------------- duplicate ids: cheap proofs first


def _id_table(ids: Any) -> tuple[Any, list[Any]]:
    n = len(ids)
    table = pa.table({"id": ids, "general": [i % 31 for i in range(n)], "a": [i * 7 % 101 for i in range(n)],
                      "b": [i * 3 % 101 for i in range(n)], "penalty": [i % 41 - 20 for i in range(n)]})
    values = ids.to_pylist()
    records = [{"id": rid, "inputs": {"general": i % 31, "a": i * 7 % 101, "b": i * 3 % 101, "penalty": i % 41 - 20}}
               for i, rid in enumerate(values)]
    return table, records


@pytest.mark.parametrize("ids, unique", [
    (["cc-001", "cc-002", "cc-010"], True),  # increasing by bytes
    (["p8", "p9", "p10", "p11", "p100"], True),  # increasing by length, then bytes
    (["p8", "p9", "p9", "p10"], False),  # sorted, a duplicate neighbour
    (["p10", "p9", "p10"], False),  # unsorted, duplicates apart
    (["b", "a", "c"], True),  # unsorted, all different: the hash count decides
    (["p2", "p10", "p1"], True),  # neither order
    (["a", None, "b", None], True),  # nulls are not ids (rejected on their own)
    (["a", None, "a"], False),
])
def test_text_ids_fast_proofs_find_every_duplicate(ids: list[str | None], unique: bool) -> None:
    from kpi_rules.batch_sources import arrow_ids_unique

    for typ in (pa.string(), pa.large_string()):
        array = pa.array(ids, typ)
        assert arrow_ids_unique(array) is unique
        assert arrow_ids_unique(pa.array(["x"] + ids, typ).slice(1)) is unique  # read from the slice's offset
        table, records = _id_table(array)
        expected = _same(SIMPLE, table, records)
        assert ("KR508" in {d.code for d in expected.rejected}) is (not unique)


@pytest.mark.parametrize("ids, unique", [
    ([1, 2, 5, 9], True),  # increasing
    ([1, 2, 2, 9], False),  # sorted, a duplicate neighbour
    ([9, 1, 5, 2], True),  # unsorted, a narrow range: the bitmap decides
    ([9, 1, 5, 9], False),
    ([10**15, 1, -10**15], True),  # a wide range: the hash count decides
    ([10**15, 1, 10**15], False),
    ([-3, 7, -3], False),
    ([-100, 100, 3], True),  # int8: differences beyond its range
    ([100, -100, 100], False),
    ([2**64 - 1, 2**64 - 3, 2**64 - 2], True),  # uint64 near its top: the bitmap, exactly
    ([2**64 - 1, 2**64 - 3, 2**64 - 1], False),
])
def test_integer_ids_fast_proofs_find_every_duplicate(ids: list[int], unique: bool) -> None:
    from kpi_rules.batch_sources import arrow_ids_unique

    small = max(map(abs, ids)) < 2**7
    types = (pa.uint64(),) if max(ids) >= 2**63 else (pa.int64(), pa.int32(), pa.int8()) if small \
        else (pa.int64(), pa.uint64()) if min(ids) >= 0 else (pa.int64(),)
    for typ in types:
        array = pa.array(ids, typ)
        assert arrow_ids_unique(array) is unique
        table, records = _id_table(array)
        expected = _same(SIMPLE, table, records)
        assert ("KR508" in {d.code for d in expected.rejected}) is (not unique)


@settings(max_examples=60, deadline=None)
@given(ids=st.lists(st.integers(0, 30), max_size=12), sort=st.booleans(), text=st.booleans())
def test_id_proofs_equal_a_set(ids: list[int], sort: bool, text: bool) -> None:
    from kpi_rules.batch_sources import arrow_ids_unique, ids_in_order

    if sort:
        ids = sorted(ids)
    array = pa.array([f"p{i}" for i in ids], pa.string()) if text else pa.array(ids, pa.int64())
    assert arrow_ids_unique(array) is (len(set(ids)) == len(ids))
    if len(ids) > 1 and ids_in_order(array):
        assert len(set(ids)) == len(ids)
    if sort and len(set(ids)) == len(ids) and len(ids) > 1:
        assert ids_in_order(array)  # p9 < p10 by length first


@settings(max_examples=200)
@given(ns=st.lists(st.integers(-2**63, 2**63 - 1), max_size=8), lo=st.sampled_from([0, None, -5, 3]),
       hi=st.one_of(st.none(), st.integers(-10, 2**63 - 1)), strided=st.booleans())
def test_range_check_equals_plain_comparisons(ns: list[int], lo: int | None, hi: int | None, strided: bool) -> None:
    from kpi_rules.columns_in import _inside

    n = np.array(ns, dtype=np.int64)
    if strided:  # as decimal128 low words are read: every other int64
        n = np.repeat(n, 2)[::2]
    if not ns:
        return
    assert _inside(n, lo, hi) is all((lo is None or x >= lo) and (hi is None or x <= hi) for x in ns)


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(st.text(alphabet="ab9ờ", max_size=19), max_size=12),
       order=st.sampled_from(["natural", "bytes", "as is"]), large=st.booleans(), skip=st.integers(0, 2))
def test_text_order_proof_equals_python_comparisons(texts: list[str], order: str, large: bool, skip: int) -> None:
    from kpi_rules.batch_sources import ids_in_order

    def natural(t: str) -> tuple[int, bytes]:
        return len(t.encode()), t.encode()

    if order == "natural":
        texts = sorted(texts, key=natural)
    elif order == "bytes":
        texts = sorted(texts, key=str.encode)
    array = pa.array(["zz"] * skip + texts, pa.large_string() if large else pa.string()).slice(skip)
    if len(texts) < 2:
        return
    pairs = list(zip(texts, texts[1:]))
    expected = all(natural(a) < natural(b) for a, b in pairs) or all(a.encode() < b.encode() for a, b in pairs)
    assert ids_in_order(array) is expected
