"""Helpers for the compiler and evaluator tests: text → Plan, and small records."""

from __future__ import annotations

import functools
from fractions import Fraction
from pathlib import Path
from typing import Any

import kpi_rules
from kpi_rules.compiler import compile_ruleset
from kpi_rules.parser import parse_ruleset
from kpi_rules.plan import Plan
from kpi_rules.results import SubjectRecord, Value
from kpi_rules.source import SourceFile
from kpi_rules.validator import check_ruleset

ROOT = Path(__file__).resolve().parent.parent
INDIVIDUAL = ROOT / "criteria" / "nd335" / "individual.kpi"

HEADER = """ruleset test.small "Thử" {{
  basis "test"
  version "1"
  in_force from 2026-01-01
  rates person
  subject person "P" {{
{inputs}
  }}
{body}
}}
"""


def plan_from_text(text: str, path: str = "test.kpi") -> Plan:
    return compile_ruleset(check_ruleset(parse_ruleset(SourceFile(path, text))), content_hash="test")


def small_plan(inputs: str, body: str, path: str = "test.kpi") -> Plan:
    """A rule set rating `person` with the given input lines and declarations."""
    return plan_from_text(HEADER.format(inputs=inputs, body=body), path)


@functools.lru_cache(maxsize=1)
def individual_plan() -> Plan:
    source = SourceFile.read(INDIVIDUAL)
    return compile_ruleset(check_ruleset(parse_ruleset(source)), content_hash=source.sha256())


def task(product: str, assigned: object, completed: object, failed: object = 0, delays: object = 0) -> dict[str, Value]:
    return {
        "product": product,
        "assigned": Fraction(str(assigned)),
        "completed": Fraction(str(completed)),
        "failed_reviews": Fraction(str(failed)),
        "delays": Fraction(str(delays)),
    }


#: General criteria adding up to 27 (of 30).
GENERAL_27: dict[str, Value] = {
    "general_i1": Fraction(5),
    "general_i2": Fraction("4.5"),
    "general_ii1": Fraction("2.5"),
    "general_ii2": Fraction("2.5"),
    "general_ii3": Fraction(2),
    "general_ii4": Fraction("2.5"),
    "general_iii": Fraction(8),
}

#: Worked example 1 of the domain brief.
EXAMPLE_1_TASKS = (
    task("VB-HC", 10, 10, failed=1, delays=2),
    task("BC-DK", 3, 3),
    task("DA", 1, 0),
)


def individual_record(record_id: str = "cc-1", **inputs: Value) -> SubjectRecord:
    merged: dict[str, Value] = {**GENERAL_27, "tasks": EXAMPLE_1_TASKS}
    merged.update(inputs)
    return SubjectRecord(record_id, merged, name="Nguyễn Văn An", period="2026-Q1")


def assert_batch_equals_records(rules: kpi_rules.RuleSet, data: object, records: list[object],
                                **kwargs: Any) -> kpi_rules.BatchOutcome:
    """The columnar batch over ``data`` gives what ``evaluate_many`` gives over ``records``."""
    from kpi_rules.batch import evaluate_batch

    expected = rules.evaluate_many(records)
    got = evaluate_batch(rules, data, **kwargs)
    assert got.results == expected.results
    assert got.rejected == expected.rejected
    assert got.rejected_ids == expected.rejected_ids
    assert got.totals() == [r.total for r in expected.results]
    assert got.levels() == [r.level for r in expected.results]
    return expected
