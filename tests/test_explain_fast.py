"""Explanation skeletons (kpi_rules/explain_plan.py) against the explainer as it was
(tests/reference_explainer.py): the same JSON bytes and the same models, for the national rule
sets, the benchmark rule, random rule sets and hand-built decisions of every kind."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

import kpi_rules
import reference_explainer as reference
from kpi_rules.compiler import compile_ruleset
from kpi_rules.diagnostics import DiagnosticError
from kpi_rules.evaluator import EvaluationError, evaluate_record
from kpi_rules.explain_formulas import compile_template
from kpi_rules.explain_parts import _js
from kpi_rules.explain_plan import explanation_json, explanation_lines, skeleton_for
from kpi_rules.explainer import explain
from kpi_rules.i18n import MessageError
from kpi_rules.models import Explanation
from kpi_rules.parser import parse_ruleset
from kpi_rules.plan import Plan
from kpi_rules.printer import format_expr
from kpi_rules.results import (
    CohortDecision,
    Combination,
    ConditionResult,
    DisqualifierResult,
    InsufficientReason,
    LevelDecision,
    Override,
    PeriodUse,
    Result,
    SubjectRecord,
)
from kpi_rules.source import SourceFile
from kpi_rules.testing import records, rulesets
from kpi_rules.trace import FullTracer
from kpi_rules.validator import check_ruleset

from test_explainer import DEMO, EXAMPLE1, example1_result

ROOT = Path(__file__).resolve().parent.parent
RULE_FILES = {
    "individual": ROOT / "criteria" / "nd335" / "individual.kpi",
    "head": ROOT / "criteria" / "nd335" / "head.kpi",
    "organisation": ROOT / "criteria" / "nd335" / "organisation.kpi",
    "simple": ROOT / "bench" / "simple.kpi",
}
RULES = {name: kpi_rules.load(path) for name, path in RULE_FILES.items()}
F = Fraction


def _same(result: Result, plan: Plan, lang: str, record: SubjectRecord | None = None) -> Explanation:
    """The fast JSON is the reference's bytes, and the model read from it equals the reference's."""
    expected = reference.explain(result, plan, lang, record=record)
    assert explanation_json(result, plan, lang, record=record) == expected.model_dump_json()
    model = explain(result, plan, lang, record=record)
    assert model == expected and model.model_dump_json() == expected.model_dump_json()
    return model


def _rated(plan: Plan, raw: dict[str, Any], traced: bool) -> tuple[Result, SubjectRecord]:
    try:
        record = kpi_rules.RuleSet(plan).record(raw)
        return evaluate_record(plan, record, FullTracer() if traced else None), record
    except (DiagnosticError, EvaluationError):
        assume(False)
        raise AssertionError("unreachable")


def _property(name: str, with_record: bool, examples: int) -> Any:
    rules = RULES[name]

    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(records(rules, max_items=3), st.sampled_from(["vi", "en"]), st.booleans())
    def check(raw: dict[str, Any], lang: str, traced: bool) -> None:
        result, record = _rated(rules.plan, raw, traced)
        _same(result, rules.plan, lang, record if with_record else None)

    return check


@pytest.mark.parametrize("name", sorted(RULE_FILES))
def test_fast_explanations_equal_the_reference(name: str) -> None:
    _property(name, with_record=False, examples=60)()


@pytest.mark.parametrize("name", sorted(RULE_FILES))
def test_fast_explanations_with_records_equal_the_reference(name: str) -> None:
    # With its record an explanation also carries the next-level advice (re-evaluations): fewer cases.
    _property(name, with_record=True, examples=12)()


@settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.data())
def test_random_rule_sets_explain_as_the_reference(data: st.DataObject) -> None:
    ruleset = data.draw(rulesets())
    try:
        plan = compile_ruleset(check_ruleset(ruleset), content_hash="sha256:fuzz")
    except DiagnosticError:
        assume(False)
        return
    raw = data.draw(records(plan, max_items=2))
    result, record = _rated(plan, raw, data.draw(st.booleans()))
    _same(result, plan, data.draw(st.sampled_from(["vi", "en"])), record if data.draw(st.booleans()) else None)


# --------------------------------------------------------------------------- hand-built decisions


@pytest.fixture(scope="module")
def demo() -> Plan:
    return compile_ruleset(check_ruleset(parse_ruleset(SourceFile("demo.kpi", DEMO))), content_hash="sha256:test")


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_demo_decisions_of_every_kind(demo: Plan, lang: str) -> None:
    cases = [
        {"id": "u-1", "inputs": {"score": 95, "exceeded": 25, "extra": 2, "late": 1}},  # fall-through
        {"id": "u-2", "inputs": {"score": 40, "exceeded": 0, "disciplined": True},  # override
         "override": {"level": "complete", "decided_by": "Chủ tịch UBND tỉnh", "decided_on": "2026-03-15",
                      "clause": "Điều 20 khoản 6", "reason": "Thiên tai \"kéo dài\"\n"}},
        {"id": "u-3", "inputs": {"score": 40, "exceeded": 0, "assigned": 0}},  # insufficient data
        {"id": "u-4", "inputs": {"score": 99, "exceeded": 50, "disciplined": True}},  # disqualified
        {"id": "u-5", "inputs": {"score": 120, "exceeded": 50, "extra": 10, "late": 9}},  # capped, penalty
    ]
    reasons = set()
    for raw in cases:
        result, record = _rated(demo, raw, traced=True)
        model = _same(result, demo, lang, record)
        reasons.add(model.decision.reason if model.decision else model.status)
    assert reasons == {"fallthrough", "override", "insufficient_data", "disqualified", "band"}


def test_quota_and_combined_periods_and_hand_built_results(demo: Plan) -> None:
    plan = RULES["individual"].plan
    base = example1_result()
    cohort = CohortDecision("excellent_quota", (("unit", "snv.tccb"),), eligible=10, allowed=2, rank=3,
                            from_level="excellent", to_level="good", demoted=True, percent=F(20),
                            cite="Điều 20 khoản 5")
    quota = Result(**{**_fields(base), "decision": LevelDecision("excellent", "good", "quota", cohort=cohort,
                                                               disqualifiers=base.decision.disqualifiers)})
    combined = Result(**{**_fields(base), "combined": Combination("mean", (
        PeriodUse("2026-Q1", True, "rated", F("74.578125"), "good"),
        PeriodUse("2026-Q2", False, "no_record"),
        PeriodUse("2026-Q3", True, "rated", F(250, 3), "good")))})
    unknown = Result(**{**_fields(base), "values": {**base.values, "undeclared": True},
                        "decision": LevelDecision("nowhere", "good", "band", conditions=(
                            ConditionResult("good", "missing", False),),
                            disqualifiers=(DisqualifierResult("other", True, "not_complete"),),
                            passed_over=("excellent",))})
    short = Result("x", "insufficient_data", base.provenance, values={"assigned": F(0)},
                   insufficient=InsufficientReason("a"))
    for result in (base, example1_result(iii1_raw="12.5"), example1_result(total="89.996"), quota, combined,
                   unknown, short):
        for lang in ("vi", "en"):
            _same(result, plan, lang)
    over = Override("excellent", "Chủ tịch", dt.date(2026, 3, 1), "Điều 20 khoản 6", "Lý do.")
    forced = Result(**{**_fields(base), "decision": LevelDecision("good", "excellent", "override", override=over)})
    _same(forced, plan, "vi")


def _fields(result: Result) -> dict[str, Any]:
    return {name: getattr(result, name) for name in Result.__dataclass_fields__}


# --------------------------------------------------------------------------- JSON lines and pieces


def test_json_lines_are_the_bytes_of_model_dump_json() -> None:
    rules = RULES["individual"]
    raws = [EXAMPLE1, {**EXAMPLE1, "id": "cc-002", "name": None, "inputs": {**EXAMPLE1["inputs"], "tasks": []}}]
    pairs = []
    for raw in raws:
        record = rules.record(raw)
        pairs.append((evaluate_record(rules.plan, record, FullTracer()), record))
    lines = list(explanation_lines(pairs, rules.plan, "en", advice=True))
    expected = [reference.explain(r, rules.plan, "en", record=rec).model_dump_json() + "\n" for r, rec in pairs]
    assert lines == expected
    assert [Explanation.model_validate_json(line) for line in lines] == [explain(r, rules.plan, "en", record=rec)
                                                                       for r, rec in pairs]
    # Without the advice only next_level differs (null).
    quick = [Explanation.model_validate_json(line) for line in explanation_lines(pairs, rules.plan, "en")]
    full = [Explanation.model_validate_json(line) for line in expected]
    assert [q.next_level for q in quick] == [None, None] and full[0].next_level is not None
    assert [q.model_copy(update={"next_level": f.next_level}) for q, f in zip(quick, full)] == full


def test_batch_explanation_lines_equal_single_record_explanations() -> None:
    rules = RULES["individual"]
    raws = [{**EXAMPLE1, "id": f"cc-{i}", "inputs": {**EXAMPLE1["inputs"], "general_iii": i}} for i in range(4)]
    outcome = rules.evaluate_batch(raws, explain=True, lang="vi")
    lines = list(outcome.explanation_lines(advice=True))
    assert lines == [rules.explain(raw, "vi").model_dump_json() + "\n" for raw in raws]
    assert list(outcome.explanations) == [Explanation.model_validate_json(line) for line in lines]
    with pytest.raises(ValueError):
        rules.evaluate_batch(raws).explanation_lines()


@pytest.mark.parametrize("name", ["individual", "simple", "head"])
def test_batch_lines_without_advice_equal_explanations_without_it(name: str) -> None:
    rules = RULES[name]

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(records(rules, max_items=3), min_size=1, max_size=6), st.sampled_from(["vi", "en"]))
    def check(raws: list[dict[str, Any]], lang: str) -> None:
        raws = [{**raw, "id": f"r{i}"} for i, raw in enumerate(raws)]
        outcome = rules.evaluate_batch(raws, explain=True, lang=lang)
        expected = []
        for result, record in zip(outcome.results, [rules.record(r) for r in raws if r["id"] not in
                                                      outcome.rejected_ids]):
            e = reference.explain(result, rules.plan, lang, record=record)
            expected.append(e.model_copy(update={"next_level": None}).model_dump_json() + "\n")
        assert list(outcome.explanation_lines()) == expected

    check()


@given(st.text())
def test_json_strings_are_written_as_pydantic_writes_them(text: str) -> None:
    assert _js(text) == TypeAdapter(str).dump_json(text).decode()


def test_templates_parenthesise_values_that_are_not_one_operand() -> None:
    rules = kpi_rules.loads('''ruleset t.neg "Thử" {
  basis "test"
  version "1"
  in_force from 2026-01-01
  rates person
  subject person "P" {
    input a : number "A"
    input b : number "B"
  }
  let d "D" = a - b
  let e "E" = -(a - d) * 2
  criteria total "Tổng" max 100 {
    criterion c "C" max 100 = max(e - d, 0)
  }
}
''')
    plan = rules.plan
    record = rules.record({"id": "n1", "inputs": {"a": 3, "b": 8}})
    result = evaluate_record(plan, record, FullTracer())
    model = _same(result, plan, "vi", record)
    by_id = {v.id: v for v in model.values}
    assert by_id["d"].formula_with_values == "3 - 8 = -5"
    assert by_id["e"].formula_with_values == "-(3 - (-5)) * 2 = -16"
    let_e = next(let for let in plan.ruleset.lets if let.name == "e")
    template = compile_template(let_e.expr, skeleton_for(plan).kinds)
    # Every name is a hole that prints itself when no value is known.
    assert "".join(p if isinstance(p, str) else p.fallback.parts[0] for p in template.parts) == format_expr(let_e.expr)


def test_skeletons_are_compiled_once_per_plan_and_language() -> None:
    plan = RULES["simple"].plan
    assert skeleton_for(plan, "vi") is skeleton_for(plan, "vi")
    assert skeleton_for(plan, "en") is not skeleton_for(plan, "vi")
    with pytest.raises(MessageError):
        skeleton_for(plan, "fr")



def test_columnar_rows_read_their_scalar_inputs_lazily_as_the_full_record_has_them() -> None:
    from kpi_rules.batch import _record_of

    rules = RULES["individual"]
    raws = [{**EXAMPLE1, "id": f"cc-{i}", "inputs": {**EXAMPLE1["inputs"], "general_iii": i}} for i in range(3)]
    outcome = rules.evaluate_batch(raws, explain=True)
    chunk = outcome._chunks[0]
    for row in range(3):
        full, light = _record_of(chunk, row), _record_of(chunk, row, lists=False)
        assert dict(light.inputs) == {k: v for k, v in full.inputs.items() if k != "tasks"}
        assert light.inputs["general_iii"] == row and "tasks" not in light.inputs and len(light.inputs) == 9
        assert (light.id, light.name, light.period) == (full.id, full.name, full.period)
