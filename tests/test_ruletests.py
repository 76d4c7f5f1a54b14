"""Tests beside the rules: the ``*.tests.yaml`` format, its runner, boundary cases, CLI and pytest plugin."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

import kpi_rules
from kpi_rules.cli import main
from kpi_rules.diagnostics import DiagnosticError
from kpi_rules.ruletests import boundary_cases, load_test_file, run_case, run_test_file

from plan_helpers import INDIVIDUAL, ROOT

TESTS = INDIVIDUAL.with_name("individual.tests.yaml")


def copy_rules(tmp_path: Path) -> Path:
    target = tmp_path / "person.kpi"
    target.write_text(INDIVIDUAL.read_text(encoding="utf-8"), encoding="utf-8")
    return target


def test_every_rule_set_in_criteria_ships_its_tests() -> None:
    rule_sets = sorted((ROOT / "criteria").rglob("*.kpi"))
    assert rule_sets
    missing = [str(p) for p in rule_sets if not p.with_name(p.stem + ".tests.yaml").is_file()]
    assert missing == []


def test_the_national_tests_pass_and_hold_worked_example_1() -> None:
    outcome = run_test_file(TESTS)
    assert outcome.passed, [o.failures for o in outcome.outcomes if not o.passed]
    example = load_test_file(TESTS).cases[0]
    assert example.expect.total == Fraction("74.578125")
    assert example.expect.values["a"] == Fraction("68.75")
    assert example.expect.level == "good"


def test_numbers_in_test_files_are_exact(tmp_path: Path) -> None:
    copy_rules(tmp_path)
    path = tmp_path / "person.tests.yaml"
    path.write_text("cases:\n  - name: n\n    given: {general_i1: 0.1}\n    expect: {total: 0.1, values: {a: 0.1}}\n",
                    encoding="utf-8")
    case = load_test_file(path).cases[0]
    assert case.expect.total == Fraction(1, 10) and case.expect.values["a"] == Fraction(1, 10)
    assert str(case.record["inputs"]["general_i1"]) == "0.1"


def test_a_failing_case_shows_every_difference_and_the_explanation(tmp_path: Path) -> None:
    copy_rules(tmp_path)
    path = tmp_path / "person.tests.yaml"
    path.write_text(TESTS.read_text(encoding="utf-8").replace("rules: individual.kpi\n", "")
                    .replace("      level: good\n      total: 74.578125", "      level: excellent\n      total: 74.5"),
                    encoding="utf-8")
    outcome = run_test_file(path)
    failed = [o for o in outcome.outcomes if not o.passed]
    assert len(failed) == 1
    assert failed[0].failures == ("level: expected excellent, got good", "total: expected 74.5, got 74.578125")
    assert failed[0].explanation is not None and "Hoàn thành tốt nhiệm vụ" in failed[0].explanation
    assert failed[0].line == 16


@pytest.mark.parametrize(("text", "code", "where"), [
    ("cases:\n  - name: one\n    given: {}\n    expect: {levle: good}\n", "KR901", (4, 14)),
    ("cases:\n  - name: one\n    expect: {total: abc}\n", "KR901", (3, 21)),
    ("cases:\n  - name: one\n    expect: {}\n  - name: one\n    expect: {}\n", "KR901", (4, 5)),
    ("cases: {}\n", "KR901", (1, 8)),
    ("cases:\n- name: a\n  expect: {}\ncases: []\n", "KR901", None),
    ("rules: nowhere.kpi\ncases: []\n", "KR902", (1, 8)),
])
def test_problems_in_test_files_have_codes_and_lines(tmp_path: Path, text: str, code: str,
                                                     where: tuple[int, int] | None) -> None:
    copy_rules(tmp_path)
    path = tmp_path / "person.tests.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DiagnosticError) as info:
        load_test_file(path)
    first = info.value.diagnostics[0]
    assert first.code == code, info.value.render()
    if where is not None:
        assert first.span is not None and first.span.line_col() == where


def test_unknown_names_in_expectations_are_kr903(tmp_path: Path) -> None:
    copy_rules(tmp_path)
    path = tmp_path / "person.tests.yaml"
    path.write_text("cases:\n  - name: one\n    expect:\n      points: {task_points: 1}\n", encoding="utf-8")
    outcome = run_test_file(path)
    assert [d.code for d in outcome.problems] == ["KR903"]
    assert outcome.problems[0].hint == "did you mean `tasks_points`?"


def test_boundary_cases_land_exactly_on_every_edge() -> None:
    rules = kpi_rules.load(INDIVIDUAL)
    cases, notes = boundary_cases(rules, bases=[c.record for c in load_test_file(TESTS).cases], examples=20)
    assert notes == []
    totals = {c.expect.total for c in cases if c.expect.total is not None}
    step = Fraction(1, 1000)
    assert totals == {e + d for e in (Fraction(50), Fraction(70), Fraction(90)) for d in (-step, 0, step)} | {100}
    for case in cases:
        outcome = run_case(rules, case)
        assert outcome.passed, (case.name, outcome.failures)
        if case.expect.total is not None:
            assert rules.evaluate(case.record).total == case.expect.total  # exactly, not approximately
    names = [c.name for c in cases]
    assert "disqualifier `ideology` on: not_complete whatever the score" in names
    assert "disqualifier `disciplined` on: not_complete whatever the score" in names
    assert "every disqualifier off: the score decides (excellent)" in names
    assert "nothing assigned: insufficient data" in names


def test_cli_test_runs_a_rule_set_with_boundaries(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(INDIVIDUAL), "--boundaries"]) == 0
    out = capsys.readouterr().out
    assert "ok    worked example 1 (domain brief)" in out and "ok    total at 90 (90) is excellent" in out
    assert out.rstrip().splitlines()[-1].endswith(" failed") and " 0 failed" in out


def test_cli_test_fails_on_a_failing_case_and_on_missing_tests(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    rules = copy_rules(tmp_path)
    assert main(["test", str(rules)]) == 1
    assert "error[KR904]" in capsys.readouterr().out
    (tmp_path / "person.tests.yaml").write_text(
        "cases:\n  - name: wrong\n    given: {general_i1: 5, general_i2: 5, general_ii1: 2.5, general_ii2: 2.5, "
        "general_ii3: 2.5, general_ii4: 2.5, general_iii: 10, tasks: []}\n    expect: {status: rated}\n",
        encoding="utf-8")
    assert main(["test", str(tmp_path), "--lang", "en"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  wrong (line 2)" in out and "status: expected rated, got insufficient_data" in out
    assert "0 passed, 1 failed" in out


def test_the_pytest_plugin_collects_test_files(tmp_path: Path) -> None:
    copy_rules(tmp_path)
    (tmp_path / "person.tests.yaml").write_text(
        TESTS.read_text(encoding="utf-8").replace("rules: individual.kpi\n", "")
        .replace("      level: good\n      total: 74.578125", "      level: excellent\n      total: 74.578125"),
        encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path), "-q", "-p", "no:cacheprovider",
                          "--rootdir", str(tmp_path)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert "1 failed, 9 passed" in run.stdout, run.stdout + run.stderr
    assert "level: expected excellent, got good" in run.stdout
