"""Distance to the next level up: exact points missing, and single-input changes that really reach it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from hypothesis import HealthCheck, given, settings

from kpi_rules import nodes
from kpi_rules.advice import NextLevelAdvice, Suggestion, next_level_advice, step_of
from kpi_rules.evaluator import evaluate_record
from kpi_rules.explainer import explain
from kpi_rules.plan import Plan
from kpi_rules.records import coerce_record
from kpi_rules.render import explanation_text
from kpi_rules.results import SubjectRecord, Value
from kpi_rules.testing import records

from plan_helpers import individual_plan, individual_record, small_plan

PLAN = individual_plan()
ORDER = [lv.name for lv in PLAN.checked.ruleset.rating.levels]  # type: ignore[union-attr]


def _apply(record: SubjectRecord, s: Suggestion) -> SubjectRecord:
    inputs: dict[str, Value] = dict(record.inputs)
    if s.item is None:
        inputs[s.input] = s.to_value
    else:
        items = inputs[s.input]
        assert isinstance(items, tuple)
        field = s.path.rsplit(".", 1)[1]
        changed = MappingProxyType({**items[s.item], field: s.to_value})
        inputs[s.input] = (*items[:s.item], changed, *items[s.item + 1:])
    return dataclasses.replace(record, inputs=MappingProxyType(inputs))


def _advice(plan: Plan, record: SubjectRecord) -> NextLevelAdvice | None:
    return next_level_advice(plan, record, evaluate_record(plan, record))


def test_worked_example_1() -> None:
    record = individual_record("cc-001")
    result = evaluate_record(PLAN, record)
    assert result.total == Fraction("74.578125") and result.level == "good"
    advice = next_level_advice(PLAN, record, result)
    assert advice is not None
    assert advice.level.name == "excellent"
    assert advice.points_missing == Fraction("15.421875")
    assert advice.blocked_by == ()
    # General criteria alone cannot add 15.42 points; completing the project (DA, 10 units) can.
    assert [(s.path, s.from_value, s.to_value) for s in advice.suggestions] == [
        ("tasks[2].completed", Fraction(0), Fraction(1))]
    for s in advice.suggestions:
        assert evaluate_record(PLAN, _apply(record, s)).level == "excellent"


def test_smallest_change_on_the_points_grid() -> None:
    # 89.5 points: general_iii (points, step 0.25) from 7.5 to 8 is the smallest change.
    plan = small_plan(
        "    input x : points min 0 max 10 increasing \"X\"\n    input y : number min 0 max 100 increasing \"Y\"",
        'criteria total "T" max 100 {\n    criterion cx "X" max 10 = x\n    criterion cy "Y" max 90 = y * 90 / 100\n  }\n'
        '  rating {\n    level high "H" from 90\n    level low "L" below 90\n  }',
    )
    record = SubjectRecord("r", {"x": Fraction("7.3"), "y": Fraction(91)})
    advice = _advice(plan, record)
    assert advice is not None and advice.level.name == "high"
    assert advice.points_missing == Fraction(90) - Fraction("7.3") - Fraction("81.9")
    by_path = {s.path: s for s in advice.suggestions}
    assert by_path["x"].to_value == Fraction("8.25")  # 8.1 needed, rounded up to the 0.25 grid
    assert by_path["y"].to_value == Fraction(92)      # 91.888... needed, rounded up to a whole count
    for s in advice.suggestions:
        assert evaluate_record(plan, _apply(record, s)).level == "high"


def test_blocked_by_a_disqualifier_with_the_band_reached() -> None:
    record = individual_record("cc-2", tasks=individual_record().inputs["tasks"][:2],  # type: ignore[index]
                               discipline="reprimand")
    result = evaluate_record(PLAN, record)
    assert result.level == "not_complete" and result.total is not None and result.total >= 50
    advice = next_level_advice(PLAN, record, result)
    assert advice is not None and advice.level.name == "complete"
    assert advice.points_missing == 0
    assert [b.name for b in advice.blocked_by] == ["disciplined"]
    assert advice.suggestions == ()  # only numeric inputs are suggested; the discipline is a fact


def test_top_level_gives_none() -> None:
    record = individual_record("cc-3", tasks=individual_record().inputs["tasks"][:2])  # type: ignore[index]
    result = evaluate_record(PLAN, record)
    assert result.level == "excellent"
    assert next_level_advice(PLAN, record, result) is None


def test_insufficient_data_gives_none() -> None:
    record = individual_record("cc-4", tasks=())
    result = evaluate_record(PLAN, record)
    assert result.status == "insufficient_data"
    assert next_level_advice(PLAN, record, result) is None
    assert explain(result, PLAN, record=record).next_level is None


def test_explanation_carries_the_advice_in_both_languages() -> None:
    record = individual_record("cc-001")
    result = evaluate_record(PLAN, record)
    vi = explain(result, PLAN, "vi", record=record)
    en = explain(result, PLAN, "en", record=record)
    assert vi.next_level is not None and en.next_level is not None
    assert vi.next_level.points_missing.exact == "15.421875"
    assert vi.next_level.points_missing.display == "15.43"  # rounded up: never fewer than missing
    assert vi.next_level.suggestions[0].path == "tasks[2].completed"
    assert "Còn thiếu 15.43 điểm" in vi.next_level.text
    assert "15.43 points short" in en.next_level.text
    assert "Để đạt mức “Hoàn thành xuất sắc nhiệm vụ”" in explanation_text(vi)
    assert "from 0 to 1" in explanation_text(en)
    # Without the record there is nothing to re-evaluate.
    assert explain(result, PLAN).next_level is None


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(records(PLAN))
def test_every_suggestion_applied_reaches_the_next_level(raw: Mapping[str, Any]) -> None:
    record = coerce_record(raw, PLAN.checked)
    result = evaluate_record(PLAN, record)
    advice = next_level_advice(PLAN, record, result)
    if result.status != "rated" or result.level == ORDER[0]:
        assert advice is None
        return
    assert advice is not None and result.total is not None
    target = ORDER.index(advice.level.name)
    assert target == ORDER.index(result.level or "") - 1
    lower = advice.level.lower or Fraction(0)
    assert advice.points_missing == max(Fraction(0), lower - result.total)
    for s in advice.suggestions:
        changed = evaluate_record(PLAN, _apply(record, s))
        assert changed.status == "rated" and changed.level is not None
        assert ORDER.index(changed.level) <= target, s
        assert s.from_value != s.to_value
        # Within the input's bounds (a task's completed never above its assigned).
        decl = _decl(s)
        assert (decl.min is None or s.to_value >= decl.min) and (decl.max is None or s.to_value <= decl.max)
        if s.item is not None and s.path.endswith(".completed"):
            items = record.inputs[s.input]
            assert isinstance(items, tuple) and s.to_value <= items[s.item]["assigned"]  # type: ignore[operator]
        # The smallest on the grid: one step less (still a change) does not reach the level.
        sign = 1 if s.direction == "increasing" else -1
        smaller = s.to_value - sign * step_of(decl)
        if (smaller - s.from_value) * sign > 0:
            less = evaluate_record(PLAN, _apply(record, dataclasses.replace(s, to_value=smaller)))
            assert less.level is None or ORDER.index(less.level) > target, s


def _decl(s: Suggestion) -> nodes.InputDecl:
    if s.item is None:
        return PLAN.inputs[s.input]
    field = s.path.rsplit(".", 1)[1]
    return next(d for d in PLAN.checked.records["task_item"].inputs if d.name == field)


def test_override_and_quota_give_none() -> None:
    record = individual_record("cc-5")
    result = evaluate_record(PLAN, record)
    assert result.decision is not None
    for reason in ("override", "quota"):
        decided = dataclasses.replace(result, decision=dataclasses.replace(result.decision, reason=reason))
        assert next_level_advice(PLAN, record, decided) is None


def test_max_suggestions_limits_the_list() -> None:
    record = individual_record("cc-6")
    result = evaluate_record(PLAN, record)
    advice = next_level_advice(PLAN, record, result, max_suggestions=0)
    assert advice is not None and advice.suggestions == () and advice.points_missing == Fraction("15.421875")
