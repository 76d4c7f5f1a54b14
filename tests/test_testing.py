"""The hypothesis strategies of ``kpi_rules.testing``: valid records for any rule set, random rule sets."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kpi_rules
from kpi_rules import nodes
from kpi_rules.compiler import compile_ruleset
from kpi_rules.diagnostics import DiagnosticError
from kpi_rules.evaluator import evaluate_record
from kpi_rules.parser import parse_ruleset
from kpi_rules.printer import format_ruleset
from kpi_rules.records import coerce_record
from kpi_rules.results import SubjectRecord
from kpi_rules.source import SourceFile
from kpi_rules.testing import json_value, records, rulesets, subject_records, thresholds
from kpi_rules.validator import check_ruleset

from plan_helpers import INDIVIDUAL

INDIVIDUAL_RULES = kpi_rules.load(INDIVIDUAL)

MIXED = kpi_rules.loads("""ruleset test.mixed "Thử" {
  basis "test"
  version "1"
  in_force from 2026-01-01 until 2027-01-01
  rates person
  record visit "Lượt" {
    input day : date "Ngày"
    input kind : one_of(call, meeting) "Loại"
    input minutes : number min 0 max 480 increasing "Số phút"
    input note : text optional "Ghi chú"
  }
  subject person "Người" {
    input score : percent increasing "Điểm"
    input late : bool default false decreasing "Chậm"
    input grade : one_of(low, mid, high) default "mid" increasing "Hạng"
    input joined : date optional "Ngày vào"
    input extra : number optional "Thêm"
    input code : text "Mã"
    input visits : list of visit "Các lượt"
  }
  table weight : text -> number "Trọng số" {
    "A" = 1
    "B" = 2
  }
  let w = weight[code]
  let spent = sum(v in visits: v.minutes)
  criteria total "Tổng" max 100 {
    criterion main "Chính" max 90 = score * 90 / 100 * w / 2
    criterion time "Thời gian" max 10 = min(spent / 48, 10) + coalesce(extra, 0) * 0
  }
  rating {
    level top "Cao" from 80 {
      require graded "Hạng cao" = grade >= "mid"
    }
    level base "Thấp" below 80
    disqualify late_d "Chậm" when late
  }
}
""", "mixed.kpi")


@pytest.mark.parametrize("rules", [INDIVIDUAL_RULES, MIXED], ids=["individual", "mixed"])
def test_generated_records_coerce_and_evaluate(rules: kpi_rules.RuleSet) -> None:
    @settings(max_examples=60, database=None)
    @given(records(rules))
    def check(raw: dict[str, object]) -> None:
        record = coerce_record(raw, rules.plan.checked)  # never rejected
        result = evaluate_record(rules.plan, record)  # never a run-time error
        assert result.status in ("rated", "insufficient_data")

    check()


def test_text_inputs_used_as_table_keys_draw_only_the_keys() -> None:
    @settings(max_examples=40, database=None)
    @given(records(MIXED))
    def check(raw: dict[str, object]) -> None:
        inputs = raw["inputs"]
        assert isinstance(inputs, dict) and inputs["code"] in ("A", "B")

    check()


def test_subject_records_are_typed() -> None:
    @settings(max_examples=20, database=None)
    @given(subject_records(MIXED))
    def check(record: object) -> None:
        assert isinstance(record, SubjectRecord)
        score = record.inputs["score"]
        assert isinstance(score, Fraction) and 0 <= score <= 100

    check()


def test_thresholds_come_from_the_rule_set() -> None:
    edges = thresholds(INDIVIDUAL_RULES)
    assert {Fraction(50), Fraction(70), Fraction(90), Fraction(25), Fraction(100)} <= set(edges)


def test_generated_records_are_plain_json() -> None:
    import json

    @settings(max_examples=20, database=None)
    @given(records(MIXED))
    def check(raw: dict[str, object]) -> None:
        again = json.loads(json.dumps(json_value(raw)))
        coerce_record(again, MIXED.plan.checked)

    check()


def test_arguments_are_checked_up_front() -> None:
    with pytest.raises(ValueError, match="max_items"):
        records(MIXED, max_items=-1)
    with pytest.raises(TypeError, match="RuleSet"):
        records("criteria/nd335/individual.kpi")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ids"):
        records(MIXED, ids="r1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_inputs"):
        rulesets(max_inputs=0)


@settings(max_examples=50, database=None)
@given(rulesets(), st.data())
def test_random_rule_sets_check_and_compile_or_raise_diagnostics(ruleset: nodes.Ruleset, data: st.DataObject) -> None:
    try:
        plan = compile_ruleset(check_ruleset(ruleset), content_hash="fuzz")
    except DiagnosticError as error:
        assert error.diagnostics
        return
    rules = kpi_rules.RuleSet(plan)
    for _ in range(3):
        raw = data.draw(records(rules))
        try:
            rules.evaluate(raw)
        except DiagnosticError as error:  # a run-time problem is a diagnostic, never a crash
            assert all(d.code.startswith("KR5") or d.code == "KR305" for d in error.diagnostics)


@settings(max_examples=40, database=None)
@given(rulesets())
def test_random_valid_rule_sets_print_and_parse_back(ruleset: nodes.Ruleset) -> None:
    try:
        check_ruleset(ruleset)
    except DiagnosticError:
        return
    assert parse_ruleset(SourceFile("fuzz.kpi", format_ruleset(ruleset))) == ruleset
