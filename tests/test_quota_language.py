"""The `periods` block and `cohort` declarations in the language: parse, print, YAML, checks."""

from __future__ import annotations

import pytest

from kpi_rules import nodes
from kpi_rules.diagnostics import DiagnosticError
from kpi_rules.parser import parse_ruleset
from kpi_rules.printer import format_ruleset
from kpi_rules.source import SourceFile
from kpi_rules.validator import check_ruleset
from kpi_rules.yaml_form import dump_yaml_ruleset, load_yaml_ruleset

HEAD = """ruleset t "T" {
  basis "b"
  version "1"
  in_force from 2026-01-01
  rates person
  subject person "P" {
    input x : number "x"
    input seniority : number "Thâm niên"
    input appointed : date "Ngày bổ nhiệm"
    input note : text "Ghi chú"
  }
  criteria total "T" max 100 {
    criterion c "C" max 100 = x
  }
  rating {
    level excellent "E" from 90
    level good "G" from 70 below 90
    level complete "C" from 50 below 70
    level not_complete "N" below 50
  }
%s
}
"""

GOOD = """
  # how the year is made
  periods cite "Điều 19" {
    monitor month
    combine rating_count {
      # the excellent rule first
      level excellent when periods("excellent") >= 2 and periods("not_complete") == 0
      level not_complete when periods("not_complete") >= 2
      level good when not (periods("complete") > 2) or periods() - periods("not_complete") >= 3
      otherwise complete
    }
  }

  cohort excellent_quota "Tỷ lệ" en "Quota" cite "Điều 20 khoản 5" {
    limit excellent to 20% of good per unit, task_group per_period
    exception 25% when outstanding_unit
    demote to good by total desc, seniority desc, appointed asc
  }

  cohort second "Thứ hai" {
    limit good to 50.5% of complete per unit
    demote to complete by total desc
  }
"""


def parse(body: str) -> nodes.Ruleset:
    return parse_ruleset(SourceFile("t.kpi", HEAD % body))


def codes(body: str) -> list[str]:
    with pytest.raises(DiagnosticError) as info:
        check_ruleset(parse(body))
    return [d.code for d in info.value.diagnostics]


def test_parse_print_and_yaml_round_trip() -> None:
    ruleset = parse(GOOD)
    check_ruleset(ruleset)
    assert ruleset.periods is not None and ruleset.periods.comments == (" how the year is made",)
    assert ruleset.periods.rules[0].comments == (" the excellent rule first",)
    assert [c.name for c in ruleset.cohorts] == ["excellent_quota", "second"]
    quota = ruleset.cohorts[0]
    assert quota.order == (nodes.SortKey("total", "desc"), nodes.SortKey("seniority", "desc"),
                           nodes.SortKey("appointed", "asc"))
    assert quota.per_period and quota.exception_flag == "outstanding_unit"
    text = format_ruleset(ruleset)
    again = parse_ruleset(SourceFile("again.kpi", text))
    assert again == ruleset and format_ruleset(again) == text
    assert "    limit excellent to 20% of good per unit, task_group per_period\n" in text
    loaded = load_yaml_ruleset(SourceFile("t.yaml", dump_yaml_ruleset(ruleset)))
    assert loaded == ruleset


def test_combine_mean_prints_on_one_line() -> None:
    ruleset = parse('periods { monitor quarter combine mean }')
    assert "  periods {\n    monitor quarter\n    combine mean\n  }\n" in format_ruleset(ruleset)


def test_two_periods_blocks_are_a_syntax_error() -> None:
    with pytest.raises(DiagnosticError) as info:
        parse("periods { monitor quarter combine mean }\nperiods { monitor month combine mean }")
    assert info.value.diagnostics[0].code == "KR106"


def test_a_bad_direction_is_a_syntax_error() -> None:
    with pytest.raises(DiagnosticError) as info:
        parse('cohort q "Q" { limit excellent to 20% of good per unit demote to good by total down }')
    assert info.value.diagnostics[0].code == "KR101" and "desc" in (info.value.diagnostics[0].hint or "")


@pytest.mark.parametrize(("body", "expected"), [
    ("periods { monitor week combine mean }", ["KR322"]),
    ("periods { monitor quarter combine median }", ["KR323"]),
    ("periods { monitor quarter combine mean { otherwise good } }", ["KR323"]),
    ('periods { monitor quarter combine rating_count { level good when periods("good") >= 2 } }', ["KR323"]),
    ('periods { monitor quarter combine rating_count { level great when periods() >= 2 otherwise good } }', ["KR320"]),
    ('periods { monitor quarter combine rating_count { level good when periods("gud") >= 2 otherwise good } }',
     ["KR320"]),
    ('periods { monitor quarter combine rating_count { otherwise fine } }', ["KR320"]),
    ('periods { monitor quarter combine rating_count { level good when periods("good") otherwise good } }',
     ["KR324"]),
    ('periods { monitor quarter combine rating_count { level good when x > 2 otherwise good } }', ["KR324"]),
    ('periods { monitor quarter combine rating_count { level good when periods(good) > 2 otherwise good } }',
     ["KR324"]),
    ('periods { monitor quarter combine rating_count { level good when periods() / 2 > 1 otherwise good } }',
     ["KR324"]),
    ('cohort q "Q" { limit excelent to 20% of good per unit demote to good by total desc }', ["KR320"]),
    ('cohort q "Q" { limit excellent to 20% of good per unit demote to goood by total desc }', ["KR320", "KR327"]),
    ('cohort q "Q" { limit excellent to 0% of good per unit demote to good by total desc }', ["KR325"]),
    ('cohort q "Q" { limit excellent to 101% of good per unit demote to good by total desc }', ["KR325"]),
    ('cohort q "Q" { limit excellent to 20% of good per unit exception 15% when f demote to good by total desc }',
     ["KR325"]),
    ('cohort q "Q" { limit good to 20% of excellent per unit demote to excellent by total desc }', ["KR327"]),
    ('cohort q "Q" { limit excellent to 20% of good per unit demote to complete by total desc }', ["KR327"]),
    ('cohort q "Q" { limit excellent to 20% of good per unit, unit demote to good by total desc }', ["KR328"]),
    ('cohort q "Q" { limit excellent to 20% of good per unit demote to good by seniority desc }', ["KR326"]),
    ('cohort q "Q" { limit excellent to 20% of good per unit demote to good by total asc }', ["KR326"]),
    ('cohort q "Q" { limit excellent to 20% of good per unit demote to good by total desc, note asc }', ["KR326"]),
    ('cohort q "Q" { limit excellent to 20% of good per unit demote to good by total desc, rank desc }', ["KR326"]),
    ('cohort q "Q" { limit excellent to 20% of good per unit demote to good by total desc, x desc, x asc }',
     ["KR326"]),
    ('cohort q "Q" { limit excellent to 20% of good per unit demote to good by total desc }\n'
     'cohort q "R" { limit excellent to 20% of good per unit demote to good by total desc }', ["KR302"]),
])
def test_checks(body: str, expected: list[str]) -> None:
    assert codes(body) == expected


def test_yaml_errors_for_cohorts() -> None:
    text = dump_yaml_ruleset(parse(GOOD)).replace("to: 20%", "to: 20").replace("total desc", "total downward", 1)
    with pytest.raises(DiagnosticError) as info:
        load_yaml_ruleset(SourceFile("t.yaml", text))
    found = info.value.diagnostics
    assert [d.code for d in found] == ["KR205", "KR205"]
    assert "percentage" in found[0].message and "total desc" in found[1].message
