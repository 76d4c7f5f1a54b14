"""The fast paths of the column-filled explanation lines that only large windows take (columns
guessed dense from a sample, distinct values found without sorting, numbers written into a byte
matrix), against the record-by-record lines and against numpy and Python."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import kpi_rules
from kpi_rules import explain_columns
from kpi_rules.batch import evaluate_batch
from kpi_rules.explain_slots import _packed, _surely_dense, _unique
from kpi_rules.explain_numbers import _decimal, _itoa
from kpi_rules.explain_plan import explanation_lines

ROOT = Path(__file__).resolve().parent.parent


def test_a_window_of_many_rows_equals_the_row_lines(monkeypatch: Any) -> None:
    """9,000 people in one window: dense columns are recognised from a sample (and their
    hole and `` = value`` texts split around the rounding mark, some values shown exactly, most
    rounded); every line equals the record-by-record line, as text and as bytes."""
    sys.path.insert(0, str(ROOT / "bench"))
    from generate import individual_tables

    plan = kpi_rules.load(ROOT / "criteria" / "nd335" / "individual.kpi").plan
    persons, items = individual_tables(9000, 4, seed=7)
    outcome = evaluate_batch(plan, persons, items=items, explain=True)
    guesses: list[bool] = []

    def counted(keys: Any) -> bool:
        guesses.append(_surely_dense(keys))
        return guesses[-1]

    monkeypatch.setattr(explain_columns, "_surely_dense", counted)
    got = list(outcome.explanation_bytes())
    assert any(guesses)  # the sampled path was taken
    expected = list(explanation_lines(outcome._explained(lists=False), plan, outcome.lang))  # noqa: SLF001
    assert len(got) == len(expected) == 9000
    assert got == [line.encode() for line in expected]
    assert list(outcome.explanation_lines()) == expected
    assert outcome.columnar_rows > 8000


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-2**62, 2**62), max_size=40), st.integers(0, 3))
def test_distinct_keys_without_sorting_equal_numpy(values: list[int], narrow: int) -> None:
    keys = np.array([v % (10**narrow * 7 + 1) - 3 if narrow else v for v in values], dtype=np.int64)
    uniq, inverse = _unique(keys)
    expected, expected_inverse = np.unique(keys, return_inverse=True)
    assert uniq.tolist() == expected.tolist()
    assert np.asarray(inverse).ravel().tolist() == np.asarray(expected_inverse).ravel().tolist()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(-40, 40), st.integers(1, 12)), max_size=40))
def test_distinct_pairs_in_a_table_map_back_to_every_row(pairs: list[tuple[int, int]]) -> None:
    ns = np.array([n for n, _ in pairs], dtype=np.int64)
    ds = np.array([d for _, d in pairs], dtype=np.int64)
    packed = _packed(ns, ds)
    if packed is None:
        assert not pairs or len(pairs) * 4 + 64 < (max(ns) - min(ns) + 1) * (max(ds) - min(ds) + 1)
        return
    (un, ud), inverse = packed
    assert list(zip(un[inverse].tolist(), ud[inverse].tolist())) == pairs
    assert len(un) == len(set(pairs))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=30), st.integers(0, 6),
       st.lists(st.booleans(), min_size=30, max_size=30), st.integers(0, 18))
def test_numbers_written_in_a_byte_matrix_equal_python(values: list[int], places: int, signs: list[bool],
                                                       digits: int) -> None:
    q = np.array([v % 10**digits if digits else v for v in values], dtype=np.int64)
    negative = np.array(signs[:len(values)])
    assert _itoa(q).tolist() == [str(v).encode() for v in q.tolist()]
    expected = []
    for v, neg in zip(q.tolist(), negative.tolist()):
        sign = "-" if neg and v > 0 else ""
        text = f"{sign}{v // 10**places}.{v % 10**places:0{places}d}" if places else f"{sign}{v}"
        expected.append(text.encode())
    assert _decimal(q, places, negative).tolist() == expected
