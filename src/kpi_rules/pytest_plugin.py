"""A pytest plugin: every ``*.tests.yaml`` file is collected, one test item per case.

Registered through the ``pytest11`` entry point of the package, so ``pytest criteria/`` runs the
tests beside the rules with no configuration. The cases and their expectations are those of
:mod:`kpi_rules.ruletests`; a failing case shows every difference and the explanation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kpi_rules.diagnostics import DiagnosticError
from kpi_rules.engine import RuleSet, load
from kpi_rules.ruletests import TESTS_SUFFIX, CaseOutcome, TestCase, check_names, load_test_file, run_case


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.name.endswith(TESTS_SUFFIX):
        return RuleTestsFile.from_parent(parent, path=file_path)
    return None


class RuleTestsFile(pytest.File):
    """A ``*.tests.yaml`` file: loads its rule file once and yields one item per case."""

    def collect(self) -> Iterator[pytest.Item]:
        try:
            test_file = load_test_file(self.path)
            rules = load(test_file.rules_path)
        except DiagnosticError as error:
            raise RuleTestsError(error.render()) from None
        problems = check_names(rules, test_file)
        if problems:
            raise RuleTestsError(DiagnosticError(problems).render())
        for case in test_file.cases:
            yield RuleTestItem.from_parent(self, name=case.name, rules=rules, case=case)


class RuleTestsError(Exception):
    """A test file that cannot be run (its diagnostics are the message)."""


class RuleTestItem(pytest.Item):
    def __init__(self, *, rules: RuleSet, case: TestCase, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rules = rules
        self.case = case

    def runtest(self) -> None:
        outcome = run_case(self.rules, self.case)
        if not outcome.passed:
            raise CaseFailed(outcome)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CaseFailed):
            outcome = excinfo.value.outcome
            lines = [f"case `{outcome.name}` failed:"] + [f"  {f}" for f in outcome.failures]
            if outcome.explanation:
                lines += ["explanation:"] + ["  " + line for line in outcome.explanation.splitlines()]
            return "\n".join(lines)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, (self.case.line - 1) if self.case.line else None, f"case: {self.name}"


class CaseFailed(Exception):
    def __init__(self, outcome: CaseOutcome) -> None:
        super().__init__(outcome.name)
        self.outcome = outcome
