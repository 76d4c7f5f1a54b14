"""The evaluator: exact scores, the worked example, rating decisions and run-time errors."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest

from kpi_rules import nodes
from kpi_rules.evaluator import EvaluationError, evaluate_record, evaluate_records
from kpi_rules.plan import Plan
from kpi_rules.results import Override, Result, SubjectRecord, Value
from kpi_rules.trace import FullTracer, NullTracer
from kpi_rules.values import format_number
from plan_helpers import GENERAL_27, individual_plan, individual_record, small_plan, task

F = Fraction


def rate(plan: Plan, record_id: str = "r1", on: dt.date | None = None,
         override: Override | None = None, **inputs: Value) -> Result:
    return evaluate_record(plan, SubjectRecord(record_id, inputs, on=on, override=override))


# --------------------------------------------------------------------------- worked example 1


def test_worked_example_1() -> None:
    plan = individual_plan()
    result = evaluate_record(plan, individual_record())
    v = result.values
    assert v["assigned"] == 32 and v["completed"] == 22
    assert v["quality_credit"] == F("21.75") and v["timely_credit"] == F("21.5")
    assert v["a"] == F(22, 32) * 100 == F(275, 4)
    assert v["b"] == F("21.75") / 32 * 100 == F(2175, 32)
    assert v["c"] == F("21.5") / 32 * 100
    assert result.criteria is not None
    by_name = {c.name: c for c in result.criteria.children}
    assert by_name["general"].points == 27
    assert by_name["results"].points == F("47.578125")
    assert result.total == F("74.578125")
    assert format_number(result.total, plan.ruleset.display.decimals, plan.ruleset.display.mode) == "74.58"
    assert result.status == "rated"
    assert result.level == "good"
    assert result.decision is not None and result.decision.reason == "band"
    assert result.decision.band_level == "good"
    assert [(d.name, d.fired) for d in result.decision.disqualifiers] == [("ideology", False), ("disciplined", False)]
    assert result.provenance == plan.provenance
    assert (result.subject_id, result.subject_name, result.period) == ("cc-1", "Nguyễn Văn An", "2026-Q1")
    assert set(v) == {"assigned", "completed", "quality_credit", "timely_credit", "a", "b", "c"}


def test_worked_example_criteria_tree() -> None:
    result = evaluate_record(individual_plan(), individual_record())
    assert result.criteria is not None
    tree = result.criteria
    assert (tree.name, tree.kind, tree.max, tree.points, tree.raw) == ("total", "total", 100, F("74.578125"), F("74.578125"))
    general = tree.children[0]
    assert [(c.name, c.points) for c in general.children] == [("i", F("9.5")), ("ii", F("9.5")), ("iii", F(8))]
    tasks_points = tree.children[1].children[0]
    assert tasks_points.kind == "criterion" and not tasks_points.capped


@pytest.mark.parametrize("discipline", ["reprimand", "warning", "dismissal"])
def test_discipline_disqualifies(discipline: str) -> None:
    result = evaluate_record(individual_plan(), individual_record(discipline=discipline))
    assert result.decision is not None
    assert result.level == "not_complete"
    assert result.decision.reason == "disqualified"
    assert result.decision.band_level == "good"
    assert [(d.name, d.fired, d.target) for d in result.decision.disqualifiers] == [
        ("ideology", False, "not_complete"), ("disciplined", True, "not_complete"),
    ]
    assert result.total == F("74.578125")  # the score itself is unchanged


def test_no_discipline_does_not_disqualify() -> None:
    result = evaluate_record(individual_plan(), individual_record(discipline="none"))
    assert result.level == "good"


def test_ideology_disqualifies() -> None:
    result = evaluate_record(individual_plan(), individual_record(ideology_violation=True, discipline="warning"))
    assert result.decision is not None
    assert result.level == "not_complete" and result.decision.reason == "disqualified"
    assert [d.fired for d in result.decision.disqualifiers] == [True, True]


def test_insufficient_data_when_nothing_is_assigned() -> None:
    for tasks in [(), (task("VB-HC", 0, 0),)]:
        result = evaluate_record(individual_plan(), individual_record(tasks=tasks))
        assert result.status == "insufficient_data"
        assert result.total is None and result.decision is None and result.level is None
        assert result.criteria is None
        assert result.insufficient is not None and result.insufficient.definition == "a"
        span = result.insufficient.span
        assert span is not None and span.source.text[span.start : span.end] == "insufficient_data"
        assert result.values == {"assigned": 0, "completed": 0, "quality_credit": 0, "timely_credit": 0}


def test_over_completion_is_capped_at_100() -> None:
    result = evaluate_record(individual_plan(), individual_record(tasks=(task("VB-HC", 2, 3),)))
    assert result.values["a"] == 100
    assert result.total == 27 + 70


def test_numbers_arrive_as_floats_or_text_and_stay_exact() -> None:
    general: dict[str, Value] = {**GENERAL_27, "general_i1": 0.1, "general_i2": "2.3"}  # type: ignore[dict-item]
    result = evaluate_record(individual_plan(), individual_record(**general))
    assert result.total == F("74.578125") - 5 - F("4.5") + F("0.1") + F("2.3")


# --------------------------------------------------------------------------- thresholds


def perfect_tasks() -> tuple[dict[str, Value], ...]:
    return (task("VB-HC", 10, 10), task("BC-DK", 2, 2))  # a = b = c = 100 -> 70 points


def general_total(total: str) -> dict[str, Value]:
    """General inputs adding up to exactly ``total`` (at most 30), filled in order."""
    left = F(total)
    out: dict[str, Value] = {}
    for name, cap in [("general_i1", 5), ("general_i2", 5), ("general_ii1", F("2.5")), ("general_ii2", F("2.5")),
                      ("general_ii3", F("2.5")), ("general_ii4", F("2.5")), ("general_iii", 10)]:
        part = min(left, F(cap))
        out[name] = part
        left -= part
    assert left == 0
    return out


@pytest.mark.parametrize(
    ("general", "tasks", "total", "level"),
    [
        ("20", "perfect", "90", "excellent"),
        ("19.999999", "perfect", "89.999999", "good"),
        ("0", "perfect", "70", "good"),
        ("0.699999", "99%", "69.999999", "complete"),
        ("0.7", "99%", "70", "good"),
        ("1", "70%", "50", "complete"),
        ("0.999999", "70%", "49.999999", "not_complete"),
        ("30", "perfect", "100", "excellent"),
        ("0", "none", "0", "not_complete"),
    ],
)
def test_thresholds_are_exact_and_half_open(general: str, tasks: str, total: str, level: str) -> None:
    task_list = {
        "perfect": perfect_tasks(),
        "99%": (task("VB-HC", 100, 99),),  # a = b = c = 99 -> 69.3
        "70%": (task("VB-HC", 10, 7),),  # a = b = c = 70 -> 49
        "none": (task("DA", 3, 0),),
    }[tasks]
    result = evaluate_record(individual_plan(), individual_record(tasks=task_list, **general_total(general)))
    assert result.total == F(total)
    assert result.level == level


def test_display_rounding_never_changes_the_level() -> None:
    result = evaluate_record(individual_plan(), individual_record(tasks=perfect_tasks(), **general_total("19.999999")))
    assert result.total is not None and format_number(result.total, 2, "half_up") == "90.00"
    assert result.level == "good"


# --------------------------------------------------------------------------- rating rules

LEVELS_INPUTS = '    input score : number "S"\n    input done : bool "D"\n    input ok : bool "O"\n    input bad : bool default false "B"'


def levels_plan(extra: str = "", fallthrough: str = "", override: bool = True) -> Plan:
    return small_plan(
        LEVELS_INPUTS,
        f"""  criteria total "T" max 100 {{
    criterion s "S" max 100 = score
  }}
  rating {{
    level excellent "E" from 90 {{
      require all_done "All done" = done
    }}
    level good "G" from 70 below 90 {{
      require fine "Fine" = ok
      require scored "Scored" = total >= 70
    }}
    level complete "C" from 50 below 70
    level not_complete "N" below 50
    {extra}
    {fallthrough}
    {'allow override "Force majeure"' if override else ''}
  }}""",
    )


def test_band_when_conditions_hold() -> None:
    result = rate(levels_plan(), score=F(95), done=True, ok=False)
    assert result.decision is not None
    assert (result.level, result.decision.reason, result.decision.passed_over) == ("excellent", "band", ())
    assert [(c.level, c.name, c.met) for c in result.decision.conditions] == [("excellent", "all_done", True)]


def test_fallthrough_highest_met() -> None:
    result = rate(levels_plan(), score=F(95), done=False, ok=True)
    assert result.decision is not None
    assert (result.decision.band_level, result.level, result.decision.reason) == ("excellent", "good", "fallthrough")
    assert result.decision.passed_over == ("excellent",)
    assert [(c.level, c.name, c.met) for c in result.decision.conditions] == [
        ("excellent", "all_done", False), ("good", "fine", True), ("good", "scored", True),
    ]


def test_fallthrough_skips_levels_whose_conditions_fail() -> None:
    result = rate(levels_plan(), score=F(95), done=False, ok=False)
    assert result.decision is not None
    assert (result.level, result.decision.passed_over) == ("complete", ("excellent", "good"))


def test_fallthrough_never_goes_above_the_band() -> None:
    result = rate(levels_plan(), score=F(80), done=True, ok=False)
    assert result.decision is not None
    assert (result.decision.band_level, result.level) == ("good", "complete")
    assert all(c.level != "excellent" for c in result.decision.conditions)


def test_fallthrough_lowest() -> None:
    result = rate(levels_plan(fallthrough="fallthrough lowest"), score=F(95), done=False, ok=True)
    assert result.decision is not None
    assert (result.level, result.decision.reason) == ("not_complete", "fallthrough")
    assert result.decision.passed_over == ("excellent", "good", "complete")
    assert [c.level for c in result.decision.conditions] == ["excellent"]  # lower levels not considered


def test_disqualifier_default_and_explicit_targets() -> None:
    plan = levels_plan('disqualify late "Late" when bad and score < 99 to complete\n    disqualify worst "W" when bad')
    result = rate(plan, score=F(95), done=True, ok=True, bad=True)
    assert result.decision is not None
    assert (result.level, result.decision.reason) == ("complete", "disqualified")
    assert [(d.name, d.fired, d.target) for d in result.decision.disqualifiers] == [
        ("late", True, "complete"), ("worst", True, "not_complete"),
    ]
    assert result.decision.conditions == ()
    result = rate(plan, score=F(99), done=True, ok=True, bad=True)
    assert result.level == "not_complete"  # the first disqualifier that fires decides
    assert rate(plan, score=F(99), done=True, ok=True).level == "excellent"


def test_override_wins() -> None:
    decision = Override("good", "Chủ tịch UBND", dt.date(2026, 12, 1), "Điều 20 khoản 6", "thiên tai")
    plan = levels_plan('disqualify worst "W" when bad')
    result = rate(plan, override=decision, score=F(40), done=True, ok=True, bad=True)
    assert result.decision is not None
    assert (result.decision.band_level, result.level, result.decision.reason) == ("not_complete", "good", "override")
    assert result.decision.override == decision
    assert [d.fired for d in result.decision.disqualifiers] == [True]  # still shown


def test_override_not_allowed_or_unknown_level() -> None:
    decision = Override("good", "x", dt.date(2026, 12, 1), "c", "r")
    with pytest.raises(EvaluationError) as info:
        rate(levels_plan(override=False), "r9", override=decision, score=F(40), done=True, ok=True)
    assert info.value.diagnostic.code == "KR507" and info.value.diagnostic.where == "record r9"
    wrong = Override("superb", "x", dt.date(2026, 12, 1), "c", "r")
    with pytest.raises(EvaluationError) as info:
        rate(levels_plan(), "r9", override=wrong, score=F(40), done=True, ok=True)
    assert info.value.diagnostic.code == "KR507" and "superb" in info.value.diagnostic.message


# --------------------------------------------------------------------------- criteria arithmetic


def test_points_floor_cap_bonus_and_penalty() -> None:
    plan = small_plan(
        '    input x : number "X"\n    input y : number "Y"\n    input p : number "P"',
        """  criteria total "T" max 20 {
    group g "G" max 20 {
      criterion c1 "C1" max 10 = x
      criterion c2 "C2" max 10 = y
    }
    bonus extra "B" max 3 {
      criterion e "E" max 5 = x - 10
    }
    penalty minus "M" max 4 {
      criterion m "M" max 4 = p
    }
  }
  rating {
    level hi "H" from 10
    level lo "L" below 10
  }""",
    )
    result = rate(plan, x=F(14), y=F(-2), p=F(1))
    assert result.criteria is not None
    parts = {c.name: c for c in result.criteria.children}
    g = parts["g"]
    assert [(c.name, c.raw, c.points, c.capped) for c in g.children] == [
        ("c1", 14, 10, True), ("c2", -2, 0, True),
    ]
    assert (g.raw, g.points) == (10, 10)
    assert (parts["extra"].kind, parts["extra"].raw, parts["extra"].points) == ("bonus", 4, 3)
    assert (parts["minus"].kind, parts["minus"].points) == ("penalty", 1)
    assert (result.criteria.raw, result.total) == (12, 12)
    result = rate(plan, x=F(0), y=F(0), p=F(4))
    assert (result.criteria.raw, result.total) == (-4, 0)  # type: ignore[union-attr]


# --------------------------------------------------------------------------- expressions

EXPR_INPUTS = """    input n : number "N"
    input z : number "Z"
    input tag : one_of(low, mid, high) "T"
    input maybe : number optional "M"
    input items : list of item "I\""""


def expr_plan(lets: str) -> Plan:
    text = """  let result_value = 0
""" + lets + """
  criteria total "T" max 10 {
    criterion c "C" max 10 = n
  }
  rating {
    level hi "H" from 5
    level lo "L" below 5
  }"""
    return small_plan(EXPR_INPUTS, 'record item "It" {\n    input w : number "W"\n    input ok : bool default true "OK"\n    input kind : text "K"\n  }\n' + text)


def lets_of(plan: Plan, record_id: str = "r1", **inputs: Value) -> dict[str, Value]:
    base: dict[str, Value] = {"n": F(6), "z": F(0), "tag": "mid", "items": ()}
    base.update(inputs)
    result = evaluate_record(plan, SubjectRecord(record_id, base))
    return dict(result.values)


ITEMS = ({"w": F(2), "ok": True, "kind": "x"}, {"w": F(3), "ok": False, "kind": "y"}, {"w": F(5), "kind": "x"})


def test_arithmetic_functions_and_literals() -> None:
    plan = expr_plan("""  let p = 25% * n
  let q = percent(1, 3)
  let r = ratio(n, z, if_zero: 7)
  let s = round(2 / 3, 2, "half_even") + round(2.5, 0) + round(-2.5, 0, "down")
  let t = min(n, 2, 9) + max(1, n) + abs(0 - n) + clamp(n, 0, 5)
  let u = if n > 5 then n - 1 else n + 1
  let v = tiers(n) { from 10: 3 from 6: 2 from 1: 1 otherwise 0 }
  let w = -n / 4""")
    v = lets_of(plan)
    assert v["p"] == F(3, 2)
    assert v["q"] == F(100, 3)
    assert v["r"] == 7
    assert v["s"] == F("0.67") + 3 - 2
    assert v["t"] == 2 + 6 + 6 + 5
    assert v["u"] == 5
    assert v["v"] == 2
    assert v["w"] == F(-3, 2)


def test_one_of_compares_by_position() -> None:
    plan = expr_plan("""  let above = tag >= "mid"
  let below = tag < "high"
  let same = tag == "mid"
  let level = if tag > "low" then 2 else 1""")
    assert lets_of(plan, tag="mid") == {"result_value": 0, "above": True, "below": True, "same": True, "level": 2}
    v = lets_of(plan, tag="low")
    assert (v["above"], v["below"], v["same"], v["level"]) == (False, True, False, 1)
    v = lets_of(plan, tag="high")
    assert (v["above"], v["below"], v["level"]) == (True, False, 2)


def test_optional_inputs() -> None:
    plan = expr_plan("  let has = present(maybe)\n  let val = coalesce(maybe, 4) * 2")
    assert lets_of(plan) == {"result_value": 0, "has": False, "val": 8}
    assert lets_of(plan, maybe=F(1)) == {"result_value": 0, "has": True, "val": 2}


def test_and_or_short_circuit() -> None:
    plan = expr_plan("  let safe = z != 0 and n / z > 1\n  let also = z == 0 or n / z > 1")
    v = lets_of(plan)
    assert (v["safe"], v["also"]) == (False, True)


def test_aggregates() -> None:
    plan = expr_plan("""  let s = sum(t in items: t.w)
  let sw = sum(t in items where t.ok: t.w)
  let m = mean(t in items: t.w)
  let lo = min(t in items where t.kind == "x": t.w)
  let hi = max(t in items: t.w * n)
  let k = count(t in items where t.ok)
  let sh = share(t in items where t.kind == "x")
  let an = any(t in items: t.w > 4)
  let al = all(t in items: t.w > 2)""")
    v = lets_of(plan, items=ITEMS)
    assert v["s"] == 10 and v["sw"] == 7 and v["m"] == F(10, 3)
    assert v["lo"] == 2 and v["hi"] == 30 and v["k"] == 2  # the missing `ok` takes its default
    assert v["sh"] == F(2, 3) and v["an"] is True and v["al"] is False


def test_aggregates_over_nothing() -> None:
    plan = expr_plan("""  let s = sum(t in items: t.w)
  let k = count(t in items)
  let an = any(t in items: t.ok)
  let al = all(t in items: t.ok)""")
    assert lets_of(plan) == {"result_value": 0, "s": 0, "k": 0, "an": False, "al": True}


@pytest.mark.parametrize(
    "expr", ["mean(t in items: t.w)", "min(t in items: t.w)", "max(t in items: t.w)", "share(t in items where t.ok)",
             "mean(t in items where t.w > 100: t.w)"],
)
def test_empty_selection_is_insufficient_data(expr: str) -> None:
    plan = expr_plan(f"  let before = n\n  let x = {expr}\n  let after = 1")
    items = ITEMS if "100" in expr else ()
    result = evaluate_record(plan, SubjectRecord("r1", {"n": F(6), "z": F(0), "tag": "low", "items": items}))
    assert result.status == "insufficient_data"
    assert result.insufficient is not None and result.insufficient.definition == "x"
    assert "before" in result.values and "after" not in result.values


# --------------------------------------------------------------------------- run-time errors


def test_division_by_zero_names_span_definition_and_record() -> None:
    plan = expr_plan("  let q = n / z")
    with pytest.raises(EvaluationError) as info:
        lets_of(plan, "cc-7")
    diag = info.value.diagnostic
    assert diag.code == "KR506" and diag.where == "record cc-7"
    assert "`q`" in diag.message and "cc-7" in diag.message
    assert diag.span is not None and diag.span.source.text[diag.span.start : diag.span.end] == "n / z"
    assert info.value.record_id == "cc-7" and info.value.step == "q"
    assert diag.render().startswith("test.kpi:")


def test_percent_without_if_zero_divides_by_zero() -> None:
    plan = expr_plan("  let q = percent(n, z)")
    with pytest.raises(EvaluationError) as info:
        lets_of(plan)
    assert info.value.diagnostic.code == "KR506"


def test_missing_table_key_names_key_table_and_record() -> None:
    with pytest.raises(EvaluationError) as info:
        evaluate_record(individual_plan(), individual_record("cc-9", tasks=(task("XX-1", 1, 1),)))
    diag = info.value.diagnostic
    assert diag.code == "KR505"
    assert '"XX-1"' in diag.message and "`catalogue`" in diag.message and "cc-9" in diag.message
    assert "`assigned`" in diag.message
    assert diag.span is not None and diag.span.source.text[diag.span.start : diag.span.end] == "catalogue[t.product]"


def test_one_bad_record_never_stops_the_others() -> None:
    plan = individual_plan()
    records = [individual_record("ok-1"), individual_record("bad", tasks=(task("XX", 1, 1),)),
               individual_record("empty", tasks=()), individual_record("ok-2", discipline="warning")]
    out = evaluate_records(plan, records)
    assert [type(x).__name__ for x in out] == ["Result", "EvaluationError", "Result", "Result"]
    assert [x.status for x in out if isinstance(x, Result)] == ["rated", "insufficient_data", "rated"]


def test_versions_by_day_and_none_in_force() -> None:
    plan = small_plan(
        '    input n : number "n"',
        """  param rate : number = 25% "R" from 2026-01-01 until 2026-07-01
  param rate : number = 50% "R" from 2026-07-01
  let x = n * rate
  criteria total "T" max 10 {
    criterion c "C" max 10 = x
  }
  rating {
    level hi "H" from 5
    level lo "L" below 5
  }""",
    )
    assert rate(plan, n=F(8)).values["x"] == 2  # the rule set's start
    assert rate(plan, on=dt.date(2026, 8, 1), n=F(8)).values["x"] == 4
    with pytest.raises(EvaluationError) as info:
        rate(plan, "r4", on=dt.date(2025, 12, 31), n=F(8))  # before the rule set's start
    assert info.value.diagnostic.code == "KR510"
    assert info.value.diagnostic.where == "record r4" and "`x`" in info.value.diagnostic.message


def test_missing_required_input_without_records_py() -> None:
    with pytest.raises(EvaluationError) as info:
        evaluate_record(individual_plan(), SubjectRecord("r5", {"tasks": (task("DA", 1, 1),)}))
    assert info.value.diagnostic.code == "KR501"


# --------------------------------------------------------------------------- tracing


def test_full_tracer_records_top_level_nodes_and_aggregates() -> None:
    plan = individual_plan()
    tracer = FullTracer()
    result = evaluate_record(plan, individual_record(), tracer)
    assert result.trace is not None
    assigned = plan.step("assigned").node
    assert isinstance(assigned, nodes.LetDecl) and isinstance(assigned.expr, nodes.Aggregate)
    assert result.trace[id(assigned.expr)] == 32  # the aggregate's value
    assert assigned.expr.body is not None and id(assigned.expr.body) not in result.trace  # not per item
    a = plan.step("a").node
    assert isinstance(a, nodes.LetDecl) and isinstance(a.expr, nodes.Call)
    assert result.trace[id(a.expr.args[0])] == F(275, 4)  # percent(...)
    assert result.trace[id(a.expr.args[1])] == 100  # component_cap
    disciplined = plan.step("disciplined").node
    assert isinstance(disciplined, nodes.Disqualifier)
    assert result.trace[id(disciplined.when)] is False


def test_null_tracer_and_default_leave_no_trace() -> None:
    plan = individual_plan()
    assert evaluate_record(plan, individual_record()).trace is None
    assert evaluate_record(plan, individual_record(), NullTracer()).trace is None
    traced = evaluate_record(plan, individual_record(), FullTracer())
    assert traced == evaluate_record(plan, individual_record())  # the trace is not compared
