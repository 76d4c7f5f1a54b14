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


# --------------------------------------------------------------------------- two inputs together


def _apply_all(record: SubjectRecord, changes: tuple[Suggestion, ...]) -> SubjectRecord:
    for s in changes:
        record = _apply(record, s)
    return record


def _level_index(plan: Plan, record: SubjectRecord) -> int | None:
    result = evaluate_record(plan, record)
    order = [lv.name for lv in plan.checked.ruleset.rating.levels]  # type: ignore[union-attr]
    return order.index(result.level) if result.level is not None else None


PAIR_PLAN = small_plan(
    "    input x : points min 0 max 10 increasing \"X\"\n    input y : points min 0 max 10 increasing \"Y\"\n"
    "    input base : number min 0 max 80 \"Base\"",
    'criteria total "T" max 100 {\n    criterion cx "X" max 10 = x\n    criterion cy "Y" max 10 = y\n'
    '    criterion cb "B" max 80 = base\n  }\n'
    '  rating {\n    level high "H" from 90\n    level low "L" below 90\n  }',
)


def test_two_inputs_together_when_neither_alone_is_enough() -> None:
    # 5 + 5 + 72 = 82: 8 points short; x or y alone adds at most 5.
    record = SubjectRecord("r", {"x": Fraction(5), "y": Fraction(5), "base": Fraction(72)})
    advice = _advice(PAIR_PLAN, record)
    assert advice is not None and advice.suggestions == ()
    assert advice.combined, "a pair reaches the level"
    first = advice.combined[0]
    assert [(s.path, s.to_value) for s in first.changes] == [("x", Fraction(8)), ("y", Fraction(10))]
    assert first.relative_change == Fraction(8, 10) and first.level == "high"
    for pair in advice.combined:
        assert evaluate_record(PAIR_PLAN, _apply_all(record, pair.changes)).level == "high"
        assert pair.relative_change == sum((s.relative_change for s in pair.changes), Fraction(0))
    text = explanation_text(explain(evaluate_record(PAIR_PLAN, record), PAIR_PLAN, "en", record=record), width=300)
    assert "Change together: raise “X” [x] from 5 to 8; raise “Y” [y] from 5 to 10; this reaches “H”." in text


def test_no_pair_when_even_both_bounds_fall_short() -> None:
    record = SubjectRecord("r", {"x": Fraction(5), "y": Fraction(5), "base": Fraction(60)})
    advice = _advice(PAIR_PLAN, record)
    assert advice is not None and advice.suggestions == () and advice.combined == ()


def _one_step_less(plan: Plan, record: SubjectRecord, changes: tuple[Suggestion, ...], target: int,
                   decl_of: Any) -> None:
    """One grid step less on either input (still a change) no longer reaches the target."""
    for i, s in enumerate(changes):
        sign = 1 if s.direction == "increasing" else -1
        smaller = s.to_value - sign * step_of(decl_of(s))
        if (smaller - s.from_value) * sign <= 0:
            continue
        fewer = (*changes[:i], dataclasses.replace(s, to_value=smaller), *changes[i + 1:])
        reached = _level_index(plan, _apply_all(record, fewer))
        assert reached is None or reached > target, (s, smaller)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records(PLAN))
def test_every_pair_applied_reaches_the_next_level_and_one_step_less_does_not(raw: Mapping[str, Any]) -> None:
    record = coerce_record(raw, PLAN.checked)
    result = evaluate_record(PLAN, record)
    advice = next_level_advice(PLAN, record, result)
    if advice is None:
        return
    target = ORDER.index(advice.level.name)
    best = advice.suggestions[0].relative_change if advice.suggestions else None
    for pair in advice.combined:
        assert len(pair.changes) == 2 and pair.changes[0].path != pair.changes[1].path
        assert best is None or pair.relative_change < best  # only when cheaper than one input alone
        reached = _level_index(PLAN, _apply_all(record, pair.changes))
        assert reached is not None and reached <= target, pair
        _one_step_less(PLAN, record, pair.changes, target, _decl)


# --------------------------------------------------------------------------- a year from its periods


def test_year_advice_names_the_period_and_really_reaches_the_level() -> None:
    from kpi_rules.advice import span_advice
    from kpi_rules.periods import combine_periods

    base = individual_record("cc-9")
    # Q1 excellent (the project not assigned), Q2 good (worked example 1): the mean is good.
    q1 = dataclasses.replace(base, period="2026-Q1",
                             inputs=MappingProxyType({**base.inputs, "tasks": base.inputs["tasks"][:2]}))  # type: ignore[index]
    q2 = dataclasses.replace(base, period="2026-Q2")
    results = [evaluate_record(PLAN, r) for r in (q1, q2)]
    assert [r.level for r in results] == ["excellent", "good"]
    year = combine_periods(PLAN, "cc-9", "2026", results)
    assert year.level == "good" and year.total == (results[0].total + results[1].total) / 2  # type: ignore[operator]
    advice = span_advice(PLAN, (q1, q2), year)
    assert advice is not None and advice.level.name == "excellent"
    assert advice.points_missing == 90 - year.total  # type: ignore[operator]
    assert advice.suggestions and all(s.period in ("2026-Q1", "2026-Q2") for s in advice.suggestions)
    for s in advice.suggestions:
        changed = [_apply(r, s) if r.period == s.period else r for r in (q1, q2)]
        again = combine_periods(PLAN, "cc-9", "2026", [evaluate_record(PLAN, r) for r in changed])
        assert again.level == "excellent", s
        sign = 1 if s.direction == "increasing" else -1
        smaller = s.to_value - sign * step_of(_decl(s))
        if (smaller - s.from_value) * sign > 0:
            less = [_apply(r, dataclasses.replace(s, to_value=smaller)) if r.period == s.period else r
                    for r in (q1, q2)]
            assert combine_periods(PLAN, "cc-9", "2026",
                                   [evaluate_record(PLAN, r) for r in less]).level != "excellent"
    assert [s.period for s in advice.suggestions][0] == "2026-Q2"  # completing the project of Q2
    for pair in advice.combined:
        changed = list((q1, q2))
        for s in pair.changes:
            changed = [_apply(r, s) if r.period == s.period else r for r in changed]
        assert combine_periods(PLAN, "cc-9", "2026", [evaluate_record(PLAN, r) for r in changed]).level == "excellent"
    # The explanation of the year carries it, naming the period.
    e = explain(year, PLAN, "en", period_records=(q1, q2))
    assert e.next_level is not None and e.next_level.suggestions[0].period in ("2026-Q1", "2026-Q2")
    assert e.next_level.suggestions[0].text.startswith(e.next_level.suggestions[0].period + ": ")
    # A period result is not a span: no span advice, and span results get none from next_level_advice.
    assert span_advice(PLAN, (q1,), results[0]) is None
    assert next_level_advice(PLAN, q1, year) is None
