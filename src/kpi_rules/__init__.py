"""kpi-rules: a rules engine with a declarative criteria language (Decree 335/2025/NĐ-CP).

The public API is small: load a rule set, rate records, explain a rating.

    import kpi_rules
    rules = kpi_rules.load("criteria/nd335/individual.kpi")
    outcome = rules.evaluate_many(kpi_rules.read_records("examples/nd335_individual.json"))
"""

from __future__ import annotations

from kpi_rules.batch import BatchResult, evaluate_batch
from kpi_rules.diagnostics import Diagnostic, DiagnosticError, Severity
from kpi_rules.engine import BatchOutcome, RuleSet, load, loads, read_records
from kpi_rules.models import Explanation, ResultSummary
from kpi_rules.nodes import Ruleset
from kpi_rules.results import (
    ConditionResult,
    CriterionResult,
    DisqualifierResult,
    LevelDecision,
    Override,
    Provenance,
    Result,
    SubjectRecord,
)

__version__ = "0.1.0"

__all__ = [
    "BatchOutcome",
    "BatchResult",
    "ConditionResult",
    "CriterionResult",
    "Diagnostic",
    "DiagnosticError",
    "DisqualifierResult",
    "Explanation",
    "LevelDecision",
    "Override",
    "Provenance",
    "Result",
    "ResultSummary",
    "RuleSet",
    "Ruleset",
    "Severity",
    "SubjectRecord",
    "evaluate_batch",
    "load",
    "loads",
    "read_records",
]
