"""Explanations filled column by column (kpi_rules/explain_columns.py, explain_numbers.py) against
the record-by-record lines (a Result per row, then explain_plan.explanation_json): the same bytes
for every row, in both languages, on the national rule files and the benchmark rule; and the
vectorised number texts against ValueFormats, value by value."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kpi_rules
from kpi_rules import nodes
from kpi_rules.batch import BatchResult
from kpi_rules.explain_columns import column_lines
from kpi_rules.explain_formulas import ValueFormats
from kpi_rules.explain_numbers import NumberTexts
from kpi_rules.explain_plan import explanation_lines, skeleton_for
from kpi_rules.compiler import compile_ruleset
from kpi_rules.parser import parse_ruleset
from kpi_rules.source import SourceFile
from kpi_rules.testing import records
from kpi_rules.validator import check_ruleset

from test_explainer import DEMO

ROOT = Path(__file__).resolve().parent.parent
RULE_FILES = {
    "individual": ROOT / "criteria" / "nd335" / "individual.kpi",
    "organisation": ROOT / "criteria" / "nd335" / "organisation.kpi",
    "simple": ROOT / "bench" / "simple.kpi",
    "head": ROOT / "criteria" / "nd335" / "head.kpi",
    "customs": ROOT / "criteria" / "local" / "customs" / "individual.kpi",
}
RULES = {name: kpi_rules.load(path) for name, path in RULE_FILES.items()}
# Level conditions, bonus and penalty groups, capped points, fallthrough (tests/test_explainer.py).
RULES["demo"] = kpi_rules.RuleSet(
    compile_ruleset(check_ruleset(parse_ruleset(SourceFile("demo.kpi", DEMO))), content_hash="sha256:test"))
# Two conditions on each of two levels (several conditions in one decision, falling through both).
CONDITIONS = DEMO.replace(
    '= exceeded >= 30\n',
    '= exceeded >= 30\n      require few_late "Ít lần chậm" en "Few delays" = late - 1 < extra\n',
).replace(
    'level good "Hoàn thành tốt nhiệm vụ" en "Good" from 70 below 90 cite "Điều 20 khoản 2"',
    'level good "Hoàn thành tốt nhiệm vụ" en "Good" from 70 below 90 cite "Điều 20 khoản 2" {\n'
    '      require some "Có vượt" en "Some exceeded" = exceeded >= 10\n'
    '      require not_disc "Không kỷ luật" en "Not disciplined" = not disciplined\n    }',
)
assert CONDITIONS.count("require") == 4
RULES["conditions"] = kpi_rules.RuleSet(
    compile_ruleset(check_ruleset(parse_ruleset(SourceFile("conditions.kpi", CONDITIONS))), content_hash="sha256:t"))


def _row_lines(outcome: BatchResult) -> list[str]:
    """The lines the record-by-record way: a Result (with its trace) per row."""
    return list(explanation_lines(outcome._explained(lists=False), outcome.plan, outcome.lang))  # noqa: SLF001


def _columns_fill_every_columnar_row(outcome: BatchResult) -> None:
    """The columnar rows are filled from the columns (no silent fall back to the rows)."""
    skel = skeleton_for(outcome.plan, outcome.lang)
    for chunk_index, chunk in enumerate(outcome._chunks):  # noqa: SLF001
        rows = [item for c, item in outcome._order if c == chunk_index]  # noqa: SLF001
        if rows:
            column_lines(skel, chunk.run, chunk.columns.scalars, chunk.ids, chunk.names, chunk.periods,
                         np.asarray(rows, dtype=np.int64))


def _check(name: str, raws: list[dict[str, Any]], lang: str, window: int) -> BatchResult:
    rules = RULES[name]
    raws = [{**raw, "id": f"r{i}"} for i, raw in enumerate(raws)]
    outcome = rules.evaluate_batch(raws, explain=True, lang=lang)
    expected = _row_lines(outcome)
    assert list(outcome.explanation_lines()) == expected
    assert list(outcome._column_lines(window=window)) == expected  # noqa: SLF001 - windows across chunks
    assert list(outcome.explanation_bytes()) == [line.encode() for line in expected]
    assert list(outcome._column_lines(window=window, binary=True)) == [line.encode() for line in expected]  # noqa: SLF001
    if name not in ("head", "organisation"):  # they read related subjects: their rows go record by record
        _columns_fill_every_columnar_row(outcome)
    return outcome


@pytest.mark.parametrize("name", sorted(RULES))
def test_column_lines_equal_row_lines(name: str) -> None:
    rules = RULES[name]

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(records(rules, max_items=4), min_size=1, max_size=12), st.sampled_from(["vi", "en"]),
           st.integers(1, 5))
    def check(raws: list[dict[str, Any]], lang: str, window: int) -> None:
        _check(name, raws, lang, window)

    check()


def test_many_rows_repeat_values_and_mix_both_paths() -> None:
    """Enough rows for values to repeat (texts spread by index) and bands, disqualifiers and
    insufficient data (rows that go record by record) to mix."""
    rules = RULES["individual"]
    base = {"general_i1": 5, "general_i2": 5, "general_ii1": 2.5, "general_ii2": 2.5, "general_ii3": 2.5,
            "general_ii4": 2.5, "general_iii": 10}
    raws = []
    for i in range(300):
        inputs: dict[str, Any] = {**base, "general_iii": i % 11, "general_i1": (i % 3) + 0.5,
                                  "ideology_violation": i % 17 == 0,
                                  "discipline": ["none", "reprimand", "warning"][i % 3],
                                  "tasks": [{"product": ["VB-HC", "BC-DK", "DA"][(i + k) % 3], "assigned": 3 + k,
                                             "completed": (i * (k + 1)) % 7, "failed_reviews": i % 4,
                                             "delays": (i + k) % 3} for k in range(i % 4)]}
        raws.append({"id": f"p{i}", "inputs": inputs})
    for lang in ("vi", "en"):
        outcome = _check("individual", raws, lang, window=64)
        assert outcome.columnar_rows > 200
        assert outcome.fallback_rows > 0 or any(r.status != "rated" for r in outcome.results)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.text(min_size=1, max_size=6), st.one_of(st.none(), st.sampled_from(["An", 'B"\\n', "Đức"])),
                          st.one_of(st.none(), st.sampled_from(["2026-Q1", "2026"]))), min_size=1, max_size=8),
       st.integers(1, 5))
def test_subjects_with_any_id_name_and_period(subjects: list[tuple[str, str | None, str | None]], window: int) -> None:
    """Ids that need escaping (quotes, line breaks, control characters) or not, names and periods
    that differ by row: the subject object is written as the record-by-record line writes it."""
    rules = RULES["simple"]
    raws = [{"id": f"{sid}{i}", **({"name": name} if name is not None else {}),
             **({"period": period} if period is not None else {}),
             "inputs": {"general": i % 30, "a": i * 37 % 101, "b": 50, "c": 75}} for i, (sid, name, period) in
            enumerate(subjects)]
    outcome = rules.evaluate_batch(raws, explain=True, lang="vi")
    assert outcome.columnar_rows == len(raws)
    expected = _row_lines(outcome)
    assert list(outcome._column_lines(window=window)) == expected  # noqa: SLF001
    assert list(outcome._column_lines(window=window, binary=True)) == [line.encode() for line in expected]  # noqa: SLF001


# --------------------------------------------------------------------------- number texts

MODES = ("half_up", "half_even", "down", "up")
BIG = 2**62


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.integers(-10**6, 10**6), st.integers(-BIG, BIG)),
                          st.one_of(st.sampled_from([1, 2, 3, 4, 8, 10, 16, 40, 64, 100, 125, 1000, 3, 7, 9393,
                                                     2**20, 5**12, 10**15]),
                                    st.integers(1, BIG))), min_size=1, max_size=20),
       st.integers(0, 4), st.sampled_from(MODES),
       st.lists(st.sampled_from([Fraction(90), Fraction(70), Fraction(50), Fraction(1, 3), Fraction(-5, 2)]),
                max_size=3))
def test_number_texts_equal_value_formats(pairs: list[tuple[int, int]], decimals: int, mode: str,
                                          bounds: list[Fraction]) -> None:
    formats = ValueFormats(nodes.Display(decimals, mode), tuple(bounds))  # type: ignore[arg-type]
    n = np.array([a for a, _ in pairs], dtype=np.int64)
    d = np.array([b for _, b in pairs], dtype=np.int64)
    texts = NumberTexts(n, d, formats)
    values = [Fraction(a, b) for a, b in pairs]
    assert texts.number() == [formats.number(x) for x in values]
    assert texts.number_value() == [formats.number_value(x) for x in values]
    assert texts.total() == [formats.total_text(x) for x in values]
    assert texts.equals() == [formats.equals(x) for x in values]
    plains = [formats.plain(x) for x in values]
    assert texts.term() == [p[0] for p in plains if p is not None]
    for wrap in (False, True):
        assert texts.hole(wrap) == [p[0] if p[2] or not wrap else "(" + p[0] + ")" for p in plains if p is not None]
    for kind in ("number", "number_value", "total", "equals", "term", "hole"):
        for wrap in (False, True):  # the UTF-8 texts (made from encoded parts) encode the texts
            assert texts.texts(kind, wrap, binary=True) == [t.encode() for t in texts.texts(kind, wrap)]


def test_a_total_rounded_across_a_band_boundary_keeps_more_decimals() -> None:
    formats = ValueFormats(nodes.Display(2, "half_up"), (Fraction(90),))
    texts = NumberTexts(np.array([89996, 89994], dtype=np.int64), np.array([1000, 1000], dtype=np.int64), formats)
    assert texts.total() == ["89.996", "89.99"]
    assert texts.display.tolist() == ["90.00", "89.99"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(-2**40, 2**40), st.integers(1, 2**40)), min_size=1, max_size=30),
       st.booleans())
def test_distinct_values_of_a_column_map_back_to_every_row(pairs: list[tuple[int, int]], small: bool) -> None:
    """Pairs that fit in one int64 key and pairs that do not: each row's distinct value is its own."""
    from kpi_rules.explain_columns import _Filler
    from kpi_rules.exactcols import Num

    if small:
        pairs = [(a % 2**20 - 2**19, b % 2**20 + 1) for a, b in pairs]
    plan = RULES["simple"].plan
    filler = _Filler(skeleton_for(plan, "vi"), None, {})  # type: ignore[arg-type]
    column = Num(np.array([a for a, _ in pairs], dtype=np.int64), np.array([b for _, b in pairs], dtype=np.int64))
    rows = np.arange(len(pairs), dtype=np.int64)
    distinct, inverse = filler.keyed(column, rows)
    assert isinstance(distinct, NumberTexts)
    index = inverse.tolist() if inverse is not None else [0] * len(pairs)
    assert [distinct.fraction(k) for k in index] == [Fraction(a, b) for a, b in pairs]
    if inverse is filler.identity(len(pairs)):  # many distinct values: texts made row by row
        assert len(set(pairs)) * 2 > len(pairs)
    else:
        assert len(set(index)) == len({Fraction(a, b) for a, b in pairs}) or len(set(index)) == len(set(pairs))
