"""Explanations: hand-built results → Explanation fields, JSON, rendering; then end to end."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from kpi_rules.compiler import compile_ruleset
from kpi_rules.evaluator import evaluate_record
from kpi_rules.explainer import cite_with_basis, explain, summarize
from kpi_rules.i18n import MessageError
from kpi_rules.models import CriterionNode, Explanation, ResultSummary, explanation_json_schema
from kpi_rules.parser import parse_ruleset
from kpi_rules.plan import Plan
from kpi_rules.records import coerce_record
from kpi_rules.render import explanation_text, explanation_tree, results_table, results_text
from kpi_rules.results import (
    ConditionResult,
    CriterionResult,
    DisqualifierResult,
    InsufficientReason,
    LevelDecision,
    Override,
    Provenance,
    Result,
    SubjectRecord,
)
from kpi_rules.source import SourceFile
from kpi_rules.trace import FullTracer
from kpi_rules.validator import check_ruleset
from kpi_rules.values import format_number

ROOT = Path(__file__).resolve().parent.parent
BASIS = "Nghị định 335/2025/NĐ-CP"
F = Fraction

# A small rule set with what the national one lacks: a level condition (fall-through), a bonus
# and a penalty, an insufficient-data let.
DEMO = """\
ruleset demo.org "Đánh giá thử" en "Demo rating" {
  basis "Nghị định 335/2025/NĐ-CP"
  version "1"
  in_force from 2026-01-01
  rates unit
  display 2 decimals half_up

  subject unit "Cơ quan" en "Agency" {
    input score : points min 0 max 120 "Điểm nhiệm vụ" en "Task score"
    input exceeded : percent min 0 max 100 "Tỷ lệ nhiệm vụ vượt" en "Share of tasks exceeded"
    input extra : points min 0 max 10 default 0 "Điểm thưởng" en "Extra points"
    input late : number min 0 default 0 "Số lần chậm" en "Delays"
    input assigned : number min 0 default 1 "Số nhiệm vụ" en "Tasks"
    input disciplined : bool default false "Bị kỷ luật" en "Disciplined"
  }

  let done_rate "Tỷ lệ hoàn thành" en "Completion rate" cite "Điều 14 khoản 2 điểm a" = percent(score, assigned * 120, if_zero: insufficient_data)

  criteria total "Tổng điểm" en "Total score" max 100 cite "Điều 12" {
    group main "Điểm chính" en "Main points" max 100 {
      criterion s "Điểm nhiệm vụ" en "Task points" max 100 = score
    }
    bonus plus "Điểm cộng" en "Bonus" max 5 {
      criterion x "Điểm thưởng" en "Extra" max 5 = extra
    }
    penalty minus "Điểm trừ" en "Penalty" max 5 cite "Điều 13" {
      criterion l "Chậm tiến độ" en "Delays" max 5 = late * 2
    }
  }

  rating cite "Điều 20" {
    level excellent "Hoàn thành xuất sắc nhiệm vụ" en "Excellent" from 90 cite "Điều 20 khoản 1" {
      require exceeded30 "Có ít nhất 30% nhiệm vụ vượt mức" en "At least 30% of tasks exceeded" = exceeded >= 30
    }
    level good "Hoàn thành tốt nhiệm vụ" en "Good" from 70 below 90 cite "Điều 20 khoản 2"
    level complete "Hoàn thành nhiệm vụ" en "Complete" from 50 below 70 cite "Điều 20 khoản 3"
    level not_complete "Không hoàn thành nhiệm vụ" en "Not complete" below 50 cite "Điều 20 khoản 4"
    disqualify disc "Bị kỷ luật" en "Disciplined" cite "Điều 20 khoản 4 điểm c" when disciplined
    fallthrough highest_met
    allow override "Quyết định của cấp có thẩm quyền" en "Decision of the competent authority"
  }
}
"""

# Worked example 1 of domain.md: catalogue VB-HC 1, BC-DK 4, DA 10; general points 27.
EXAMPLE1: dict[str, Any] = {
    "id": "cc-001",
    "name": "Nguyễn Văn An",
    "period": "2026-Q1",
    "inputs": {
        "general_i1": 5, "general_i2": 4.5, "general_ii1": 2.5, "general_ii2": 2.5,
        "general_ii3": 2, "general_ii4": 2.5, "general_iii": 8,
        "tasks": [
            {"product": "VB-HC", "assigned": 10, "completed": 10, "failed_reviews": 1, "delays": 2},
            {"product": "BC-DK", "assigned": 3, "completed": 3},
            {"product": "DA", "assigned": 1, "completed": 0},
        ],
    },
}


def _compile(source: SourceFile) -> Plan:
    return compile_ruleset(check_ruleset(parse_ruleset(source)), content_hash="sha256:test")


@pytest.fixture(scope="module")
def plan() -> Plan:
    return _compile(SourceFile.read(ROOT / "criteria" / "nd335" / "individual.kpi"))


@pytest.fixture(scope="module")
def demo() -> Plan:
    return _compile(SourceFile("demo.kpi", DEMO))


def _c(name: str, kind: Any, points: object, mx: object, children: tuple[CriterionResult, ...] = (),
       raw: object = None) -> CriterionResult:
    p = F(str(points))
    return CriterionResult(name, kind, p, F(str(raw)) if raw is not None else p, F(str(mx)), children)


NO_DISQUALIFIER = (DisqualifierResult("ideology", False, "not_complete"),
                   DisqualifierResult("disciplined", False, "not_complete"))


def example1_result(iii1_raw: object = None, total: str = "74.578125") -> Result:
    """Example 1 built by hand, as the evaluator is specified to give it."""
    crit = _c("total", "total", total, 100, (
        _c("general", "group", 27, 30, (
            _c("i", "group", 9.5, 10, (_c("i1", "criterion", 5, 5), _c("i2", "criterion", 4.5, 5))),
            _c("ii", "group", 9.5, 10, (_c("ii1", "criterion", 2.5, 2.5), _c("ii2", "criterion", 2.5, 2.5),
                                        _c("ii3", "criterion", 2, 2.5), _c("ii4", "criterion", 2.5, 2.5))),
            _c("iii", "group", 8, 10, (_c("iii1", "criterion", 8, 10, raw=iii1_raw),)),
        )),
        _c("results", "group", "47.578125", 70, (_c("tasks_points", "criterion", "47.578125", 70),)),
    ))
    values = {"assigned": F(32), "completed": F(22), "quality_credit": F("21.75"),
              "timely_credit": F("21.5"), "a": F("68.75"), "b": F("67.96875"), "c": F("67.1875")}
    return Result(
        subject_id="cc-001", status="rated",
        provenance=Provenance("nd335.individual", "2026.1", "sha256:test"),
        total=F(total), criteria=crit,
        decision=LevelDecision("good", "good", "band", disqualifiers=NO_DISQUALIFIER),
        values=values, subject_name="Nguyễn Văn An", period="2026-Q1",
    )


def _nodes(node: CriterionNode) -> Iterator[CriterionNode]:
    yield node
    for child in node.children:
        yield from _nodes(child)


def _find(expl: Explanation, name: str) -> CriterionNode:
    assert expl.criteria is not None
    return next(n for n in _nodes(expl.criteria) if n.id == name)


# --------------------------------------------------------------------------- hand-built results


def test_example1_fields_in_vietnamese(plan: Plan) -> None:
    e = explain(example1_result(), plan)
    assert e.lang == "vi" and e.status == "rated" and e.status_text == "Đã xếp loại"
    assert (e.total.exact, e.total.display) == ("74.578125", "74.58")  # type: ignore[union-attr]
    assert e.level is not None and (e.level.id, e.level.label) == ("good", "Hoàn thành tốt nhiệm vụ")
    tasks = _find(e, "tasks_points")
    assert tasks.formula == "(a + b + c) / 3 * 70%"
    assert tasks.formula_with_values == "(68.75 + 67.96875 + 67.1875) / 3 * 70% = 47.578125"
    assert tasks.cite == "Điều 16 khoản 1, Nghị định 335/2025/NĐ-CP"
    assert (tasks.points.exact, tasks.points.display, tasks.max.exact) == ("47.578125", "47.58", "70")
    root = e.criteria
    assert root is not None and root.formula == "general + results"
    assert root.formula_with_values == "27 + 47.578125 = 74.578125"
    assert [v.id for v in e.values] == ["assigned", "completed", "quality_credit", "timely_credit", "a", "b", "c"]
    a = e.values[4]
    assert (a.label, a.exact, a.display, a.type) == ("Tỷ lệ số lượng (a)", "68.75", "68.75", "number")
    assert a.formula_with_values == "min(percent(22, 32, if_zero: insufficient_data), 100) = 68.75"
    assert a.cite == "Điều 14 khoản 2 điểm a, Nghị định 335/2025/NĐ-CP"
    quality = e.values[2]
    assert "0.25 * t.failed_reviews" in (quality.formula_with_values or "")
    assert quality.cite is None
    d = e.decision
    assert d is not None and d.reason == "band"
    assert d.band.phrase == "từ 70 điểm đến dưới 90 điểm"
    assert d.reason_text == ("Tổng điểm 74.58 thuộc khung “từ 70 điểm đến dưới 90 điểm” nên xếp loại "
                             "“Hoàn thành tốt nhiệm vụ”.")
    assert d.cite == "Điều 20 khoản 2, Nghị định 335/2025/NĐ-CP"
    assert [(q.id, q.fired, q.target.id) for q in d.disqualifiers] == [
        ("ideology", False, "not_complete"), ("disciplined", False, "not_complete")]
    assert d.disqualifiers[1].cite == "Điều 20 khoản 4 điểm c, Nghị định 335/2025/NĐ-CP"
    assert e.insufficient is None and d.override is None
    assert e.provenance.ruleset_id == "nd335.individual" and e.provenance.basis == BASIS


def test_example1_in_english(plan: Plan) -> None:
    e = explain(example1_result(), plan, "en")
    assert e.lang == "en" and e.status_text == "Rated"
    assert e.level is not None and e.level.label == "Good"
    assert _find(e, "general").label == "General criteria"
    assert e.decision is not None and e.decision.band.phrase == "from 70 up to below 90 points"
    assert e.decision.reason_text == ("The total of 74.58 is in the band “from 70 up to below 90 points”, "
                                      "so the level is “Good”.")
    # Citations are legal text and stay in Vietnamese.
    assert _find(e, "tasks_points").cite == "Điều 16 khoản 1, Nghị định 335/2025/NĐ-CP"


def test_criterion_without_cite_takes_the_enclosing_clause(plan: Plan) -> None:
    e = explain(example1_result(), plan)
    assert _find(e, "i1").cite == _find(e, "i").cite == "Điều 12 khoản 2 điểm a, Nghị định 335/2025/NĐ-CP"


def test_capped_criterion_says_so(plan: Plan) -> None:
    e = explain(example1_result(iii1_raw=12), plan)
    node = _find(e, "iii1")
    assert node.capped and node.raw.exact == "12" and node.points.exact == "8"
    assert node.note == "đã giới hạn ở mức tối đa 10 điểm (điểm tính được: 12.00)"
    assert not _find(e, "iii").capped and _find(e, "iii").note is None


def test_inputs_come_from_the_record_when_there_is_no_trace(plan: Plan) -> None:
    result = example1_result()
    without = explain(result, plan)
    assert without.decision is not None
    assert without.decision.disqualifiers[1].formula_with_values == 'discipline >= "reprimand" = false'
    record = SubjectRecord("cc-001", {"discipline": "none", "ideology_violation": False})
    with_record = explain(result, plan, record=record)
    assert with_record.decision is not None
    assert with_record.decision.disqualifiers[1].formula_with_values == '"none" >= "reprimand" = false'


def test_a_total_near_a_band_edge_is_not_rounded_across_it(plan: Plan) -> None:
    e = explain(example1_result(total="89.996"), plan)
    assert e.total is not None and e.total.display == "90.00"
    assert e.decision is not None and e.decision.reason_text.startswith("Tổng điểm 89.996 thuộc khung")


def test_a_value_that_is_not_a_terminating_decimal(demo: Plan) -> None:
    result = _demo_result(total="85", reason="band", level="good", band="good",
                          values={"done_rate": F(100, 3)})
    e = explain(result, demo)
    v = e.values[0]
    assert (v.exact, v.display) == ("100/3", "33.33")
    assert v.formula_with_values == "percent(score, assigned * 120, if_zero: insufficient_data) ≈ 33.33"
    assert Fraction(v.exact) == F(100, 3)


def test_json_round_trip_and_frozen(plan: Plan) -> None:
    e = explain(example1_result(iii1_raw=12), plan, "en")
    text = e.model_dump_json()
    assert Explanation.model_validate_json(text) == e
    data = json.loads(text)
    assert data["criteria"]["children"][1]["children"][0]["formula_with_values"].endswith("= 47.578125")
    with pytest.raises(ValidationError):
        e.lang = "vi"  # type: ignore[misc]


def test_json_schema_is_exported() -> None:
    schema = explanation_json_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    assert schema["title"] == "Explanation"
    for name in ("subject", "lang", "status", "total", "level", "criteria", "values", "decision",
                 "insufficient", "provenance", "next_level", "change"):
        assert name in schema["properties"]
    defs = schema["$defs"]
    assert {"formula", "formula_with_values", "cite", "capped", "children"} <= set(defs["CriterionNode"]["properties"])
    json.dumps(schema)


def test_unknown_language(plan: Plan) -> None:
    with pytest.raises(MessageError):
        explain(example1_result(), plan, "fr")


def test_cite_with_basis() -> None:
    assert cite_with_basis("Điều 20 khoản 4 điểm c", BASIS) == "Điều 20 khoản 4 điểm c, " + BASIS
    assert cite_with_basis("Mẫu 01, mục I.1", BASIS) == "Mẫu 01, mục I.1, " + BASIS
    assert cite_with_basis("Điều 5, " + BASIS, BASIS) == "Điều 5, " + BASIS
    assert cite_with_basis("docs/defaults.md: a, b, c above 100%", BASIS) == "docs/defaults.md: a, b, c above 100%"
    assert cite_with_basis(None, BASIS) is None
    assert cite_with_basis("Điều 3", "") == "Điều 3"


# --------------------------------------------------------------------------- decision variants


def _demo_result(*, total: str, reason: Any, level: str, band: str, values: dict[str, Any] | None = None,
                 conditions: tuple[ConditionResult, ...] = (), fired: bool = False,
                 passed_over: tuple[str, ...] = (), override: Override | None = None) -> Result:
    t = F(total)
    crit = _c("total", "total", total, 100, (
        _c("main", "group", t + 1, 100, (_c("s", "criterion", t + 1, 100),)),
        _c("plus", "group", 1, 5, (_c("x", "criterion", 1, 5),)),
        _c("minus", "group", 2, 5, (_c("l", "criterion", 2, 5),)),
    ))
    return Result(
        subject_id="u-1", status="rated", provenance=Provenance("demo.org", "1", "sha256:test"),
        total=t, criteria=crit,
        decision=LevelDecision(band, level, reason, conditions=conditions,
                               disqualifiers=(DisqualifierResult("disc", fired, "not_complete"),),
                               passed_over=passed_over, override=override),
        values=values if values is not None else {"done_rate": F(96)},
    )


def test_penalties_are_subtracted_in_the_group_formula(demo: Plan) -> None:
    e = explain(_demo_result(total="91", reason="band", level="excellent", band="excellent",
                             conditions=(ConditionResult("excellent", "exceeded30", True),)), demo)
    assert e.criteria is not None
    assert e.criteria.formula == "main + plus - minus"
    assert e.criteria.formula_with_values == "92 + 1 - 2 = 91"
    assert e.decision is not None and e.decision.band.phrase == "từ 90 điểm trở lên"
    cond = e.decision.conditions[0]
    assert (cond.level.id, cond.id, cond.met, cond.formula) == ("excellent", "exceeded30", True, "exceeded >= 30")
    assert cond.cite == "Điều 20 khoản 1, Nghị định 335/2025/NĐ-CP"


def test_fallthrough(demo: Plan) -> None:
    result = _demo_result(total="92", reason="fallthrough", level="good", band="excellent",
                          conditions=(ConditionResult("excellent", "exceeded30", False),),
                          passed_over=("excellent",))
    e = explain(result, demo)
    d = e.decision
    assert d is not None and d.level.id == "good" and d.band.level.id == "excellent"
    assert [r.id for r in d.passed_over] == ["excellent"]
    assert d.reason_text == (
        "Tổng điểm 92.00 thuộc khung “từ 90 điểm trở lên” của mức “Hoàn thành xuất sắc nhiệm vụ”, nhưng "
        "chưa đáp ứng điều kiện của mức này; xếp loại “Hoàn thành tốt nhiệm vụ” là mức cao nhất đáp "
        "ứng đủ điều kiện.")
    en = explain(result, demo, "en").decision
    assert en is not None and "the highest level whose conditions are met" in en.reason_text
    text = explanation_text(e, width=200)
    assert "✗ Có ít nhất 30% nhiệm vụ vượt mức (điều kiện của mức “Hoàn thành xuất sắc nhiệm vụ”): Không đạt" in text
    assert "Mức không đạt điều kiện: Hoàn thành xuất sắc nhiệm vụ" in text


def test_disqualified(demo: Plan) -> None:
    e = explain(_demo_result(total="80", reason="disqualified", level="not_complete", band="good", fired=True),
                demo)
    d = e.decision
    assert d is not None and d.disqualifiers[0].fired
    assert d.reason_text == ("Thuộc trường hợp “Bị kỷ luật” nên xếp loại “Không hoàn thành nhiệm vụ”, "
                             "không phụ thuộc vào tổng điểm 80.00.")
    summary = summarize(_demo_result(total="80", reason="disqualified", level="not_complete", band="good",
                                     fired=True), demo, "en")
    assert [(r.id, r.label) for r in summary.disqualifiers] == [("disc", "Disciplined")]


def test_override(demo: Plan) -> None:
    o = Override("good", "Chủ tịch UBND tỉnh", dt.date(2026, 3, 15), "Điều 20 khoản 6", "Thiên tai kéo dài")
    result = _demo_result(total="60", reason="override", level="good", band="complete", override=o)
    e = explain(result, demo)
    d = e.decision
    assert d is not None and d.override is not None
    assert (d.override.level.id, d.override.decided_by, d.override.decided_on) == (
        "good", "Chủ tịch UBND tỉnh", dt.date(2026, 3, 15))
    assert d.reason_text == (
        "Xếp loại “Hoàn thành tốt nhiệm vụ” theo quyết định của Chủ tịch UBND tỉnh ngày 15/03/2026, căn cứ "
        "Điều 20 khoản 6; lý do: Thiên tai kéo dài. Nếu chỉ tính theo điểm, mức xếp loại là “Hoàn thành "
        "nhiệm vụ”.")
    assert "on 2026-03-15 under Điều 20 khoản 6" in (explain(result, demo, "en").decision.reason_text)  # type: ignore[union-attr]
    text = explanation_text(e, width=200)
    assert "Ngày quyết định: 15/03/2026" in text and "Lý do: Thiên tai kéo dài" in text
    assert Explanation.model_validate_json(e.model_dump_json()) == e


def test_insufficient_data(demo: Plan) -> None:
    result = Result(subject_id="u-2", status="insufficient_data",
                    provenance=Provenance("demo.org", "1", "sha256:test"),
                    insufficient=InsufficientReason("done_rate"))
    e = explain(result, demo, "en")
    assert e.status == "insufficient_data" and e.total is None and e.level is None
    assert e.criteria is None and e.decision is None and e.values == ()
    assert e.insufficient is not None and e.insufficient.label == "Completion rate"
    assert e.insufficient.message.startswith("Insufficient data: “Completion rate” cannot be computed.")
    text = explanation_text(e, width=200)
    assert "Status: Insufficient data" in text
    assert e.insufficient.formula == "percent(score, assigned * 120, if_zero: insufficient_data)"
    row = summarize(result, demo)
    assert row.total is None and row.insufficient == "done_rate" and row.status_text.startswith("Chưa đủ")


def test_summary_and_table(plan: Plan) -> None:
    row = summarize(example1_result(), plan)
    assert row == ResultSummary(
        id="cc-001", name="Nguyễn Văn An", period="2026-Q1", status="rated", status_text="Đã xếp loại",
        total=row.total, level=row.level)
    assert row.total is not None and (row.total.exact, row.total.display) == ("74.578125", "74.58")
    assert ResultSummary.model_validate_json(row.model_dump_json()) == row
    text = results_text([row], "vi", width=140)
    assert "Nguyễn Văn An" in text and "74.58" in text and "Hoàn thành tốt nhiệm vụ" in text
    assert "Tổng điểm" in text
    assert results_table([], "en").caption == "No results."


def test_tree_has_total_and_level_at_the_root(plan: Plan) -> None:
    tree = explanation_tree(explain(example1_result(), plan))
    assert "Tổng điểm: 74.58/100 điểm · Xếp loại: Hoàn thành tốt nhiệm vụ" in str(tree.label)


# --------------------------------------------------------------------------- end to end


def _evaluate(plan: Plan, raw: dict[str, Any]) -> tuple[Result, SubjectRecord]:
    record = coerce_record(raw, plan.checked)
    return evaluate_record(plan, record, FullTracer()), record


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_worked_example_1_golden(plan: Plan, lang: str, golden: Callable[[str, str], None]) -> None:
    result, record = _evaluate(plan, EXAMPLE1)
    e = explain(result, plan, lang, record=record)
    assert e.total is not None and e.total.exact == "74.578125" and e.level is not None and e.level.id == "good"
    assert _find(e, "tasks_points").formula_with_values == "(68.75 + 67.96875 + 67.1875) / 3 * 70% = 47.578125"
    golden(f"explain/example1.{lang}.txt", explanation_text(e))
    golden(f"explain/example1.{lang}.json", e.model_dump_json(indent=2) + "\n")
    assert Explanation.model_validate_json(e.model_dump_json()) == e


def test_demo_goldens(demo: Plan, golden: Callable[[str, str], None]) -> None:
    fall, _ = _evaluate(demo, {"id": "u-1", "inputs": {"score": 95, "exceeded": 25, "extra": 2, "late": 1}})
    assert fall.decision is not None and fall.decision.reason == "fallthrough"
    golden("explain/fallthrough.vi.txt", explanation_text(explain(fall, demo)))
    over, _ = _evaluate(demo, {"id": "u-2", "inputs": {"score": 40, "exceeded": 0, "disciplined": True},
                               "override": {"level": "complete", "decided_by": "Chủ tịch UBND tỉnh",
                                            "decided_on": "2026-03-15", "clause": "Điều 20 khoản 6",
                                            "reason": "Thiên tai kéo dài"}})
    assert over.decision is not None and over.decision.reason == "override"
    golden("explain/override.en.txt", explanation_text(explain(over, demo, "en")))
    short, _ = _evaluate(demo, {"id": "u-3", "inputs": {"score": 40, "exceeded": 0, "assigned": 0}})
    assert short.status == "insufficient_data"
    golden("explain/insufficient.vi.txt", explanation_text(explain(short, demo)))


# --------------------------------------------------------------------------- property


_halves = st.integers(0, 10).map(lambda n: n / 2)
_task = st.fixed_dictionaries({
    "product": st.sampled_from(["VB-HC", "BC-DK", "DA"]),
    "assigned": st.integers(0, 12),
    "completed": st.integers(0, 14),
    "failed_reviews": st.integers(0, 5),
    "delays": st.integers(0, 5),
})
_records = st.fixed_dictionaries({
    "id": st.just("p-1"),
    "inputs": st.fixed_dictionaries({
        "general_i1": _halves, "general_i2": _halves,
        "general_ii1": st.integers(0, 5).map(lambda n: n / 2), "general_ii2": st.integers(0, 5).map(lambda n: n / 2),
        "general_ii3": st.sampled_from([0, 0.25, 1.75, 2.5]), "general_ii4": st.sampled_from([0, 1, 2.5]),
        "general_iii": st.integers(0, 40).map(lambda n: n / 4),
        "tasks": st.lists(_task, max_size=4),
        "ideology_violation": st.booleans(),
        "discipline": st.sampled_from(["none", "none", "reprimand", "removal"]),
    }),
})


def _check_number(shown: Any, value: Fraction, decimals: int) -> None:
    assert Fraction(shown.exact) == value
    assert shown.display == format_number(value, decimals, "half_up")


def _check_equals(formula_with_values: str | None, value: Fraction) -> None:
    assert formula_with_values is not None
    if " ≈ " in formula_with_values:
        assert formula_with_values.rpartition(" ≈ ")[2] == format_number(value, 2, "half_up")
    else:
        assert Fraction(formula_with_values.rpartition(" = ")[2]) == value


def _check_tree(node: CriterionNode, res: CriterionResult) -> None:
    assert node.id == res.name and node.kind == res.kind and node.capped == res.capped
    _check_number(node.points, res.points, 2)
    _check_number(node.raw, res.raw, 2)
    _check_number(node.max, res.max, 2)
    _check_equals(node.formula_with_values, res.raw)
    assert [c.id for c in node.children] == [c.name for c in res.children]
    for child, child_res in zip(node.children, res.children):
        _check_tree(child, child_res)


@given(_records, st.sampled_from(["vi", "en"]))
def test_every_explained_value_equals_the_evaluated_value(plan: Plan, raw: dict[str, Any], lang: str) -> None:
    result, record = _evaluate(plan, raw)
    e = explain(result, plan, lang, record=record)
    assert e.status == result.status
    assert [v.id for v in e.values] == [n for n in result.values]
    for v in e.values:
        value = result.values[v.id]
        assert isinstance(value, Fraction)
        assert Fraction(v.exact) == value and v.display == format_number(value, 2, "half_up")
        _check_equals(v.formula_with_values, value)
    if result.status == "insufficient_data":
        assert e.total is None and e.insufficient is not None and result.insufficient is not None
        assert e.insufficient.definition == result.insufficient.definition
        return
    assert result.total is not None and result.criteria is not None and e.criteria is not None
    assert e.total is not None
    _check_number(e.total, result.total, 2)
    _check_tree(e.criteria, result.criteria)
    assert e.level is not None and e.level.id == result.level
    assert e.decision is not None and result.decision is not None
    assert [(d.id, d.fired) for d in e.decision.disqualifiers] == [
        (d.name, d.fired) for d in result.decision.disqualifiers]
    assert Explanation.model_validate_json(e.model_dump_json()) == e


def test_committed_schema_is_the_models_schema() -> None:
    """docs/explanation.schema.json is what `kpi-rules schema` prints (refresh it when the model changes)."""
    import json
    from pathlib import Path

    committed = Path(__file__).resolve().parent.parent / "docs" / "explanation.schema.json"
    assert json.loads(committed.read_text(encoding="utf-8")) == explanation_json_schema(), (
        "the explanation model changed: run `kpi-rules schema > docs/explanation.schema.json`")


def test_schema_command_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from kpi_rules.cli import main

    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == explanation_json_schema() and printed["title"] == "Explanation"
