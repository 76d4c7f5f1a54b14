"""A half-year or year gives a level with extra conditions only if they held in every rated period."""

from __future__ import annotations

from fractions import Fraction

from kpi_rules.evaluator import evaluate_record
from kpi_rules.periods import combine_periods
from kpi_rules.plan import Plan
from kpi_rules.results import Result, SubjectRecord

from plan_helpers import small_plan

INPUTS = """    input score : number min 0 max 100 "Điểm"
    input all_done : bool "Hoàn thành 100% nhiệm vụ"
    input exceeded : number min 0 max 100 "Tỷ lệ vượt yêu cầu\""""

RULES = """
  criteria total "Tổng điểm" max 100 {
    criterion s "Điểm" max 100 = score
  }
  rating {
    level excellent "Xuất sắc" from 90 {
      require done "100% nhiệm vụ" = all_done
      require over "Vượt từ 30%" = exceeded >= 30
    }
    level good "Tốt" from 70 below 90 {
      require done "100% nhiệm vụ" = all_done
    }
    level complete "Hoàn thành" from 50 below 70
    level not_complete "Không hoàn thành" below 50
    fallthrough highest_met
  }
  periods {
    monitor quarter
    combine mean
  }
"""


def plan() -> Plan:
    return small_plan(INPUTS, RULES)


def quarter(p: Plan, q: str, score: int, all_done: bool, exceeded: int) -> Result:
    inputs = {"score": Fraction(score), "all_done": all_done, "exceeded": Fraction(exceeded)}
    return evaluate_record(p, SubjectRecord("u1", inputs, period=f"2026-{q}"))


def test_every_level_s_conditions_are_recorded_in_each_period() -> None:
    p = plan()
    q = quarter(p, "Q1", 60, True, 40)  # band `complete`: excellent's and good's conditions not needed
    assert q.level == "complete"
    assert q.decision is not None and q.decision.conditions == ()
    recorded = {(c.level, c.name): c.met for c in q.decision.all_conditions}
    assert recorded == {("excellent", "done"): True, ("excellent", "over"): True, ("good", "done"): True}


def test_a_year_cannot_be_excellent_when_a_quarter_missed_its_conditions() -> None:
    p = plan()
    results = [quarter(p, "Q1", 95, True, 40), quarter(p, "Q2", 95, True, 10),
               quarter(p, "Q3", 95, True, 40), quarter(p, "Q4", 95, True, 40)]
    assert [r.level for r in results] == ["excellent", "good", "excellent", "excellent"]
    year = combine_periods(p, "u1", "2026", results)
    assert year.total == 95
    assert year.decision is not None
    assert (year.level, year.decision.reason, year.decision.passed_over) == ("good", "fallthrough", ("excellent",))
    assert {(c.level, c.name, c.met) for c in year.decision.conditions} >= {
        ("excellent", "done", True), ("excellent", "over", False), ("good", "done", True),
    }


def test_a_year_keeps_its_band_when_the_conditions_held_throughout() -> None:
    p = plan()
    results = [quarter(p, q, 92, True, 35) for q in ("Q1", "Q2", "Q3", "Q4")]
    year = combine_periods(p, "u1", "2026", results)
    assert (year.level, year.decision.reason if year.decision else None) == ("excellent", "band")


def test_a_condition_that_cannot_be_established_counts_as_not_met() -> None:
    p = small_plan(INPUTS, RULES.replace('require over "Vượt từ 30%" = exceeded >= 30',
                                         'require over "Vượt từ 30%" = ratio(exceeded, score, if_zero: insufficient_data) >= 30%'))
    q = quarter(p, "Q1", 0, True, 0)  # band not_complete; excellent's `over` divides by zero
    assert q.level == "not_complete" and q.status == "rated"
    assert q.decision is not None
    assert ("excellent", "over", False) in {(c.level, c.name, c.met) for c in q.decision.all_conditions}


def test_an_overridden_period_carries_no_disqualifier_into_the_year() -> None:
    from kpi_rules.results import Override

    p = small_plan(INPUTS + '\n    input flood : bool default false "Lũ lụt"', RULES.replace(
        "    fallthrough highest_met",
        '    disqualify behind "Dưới 70% kế hoạch" when flood\n    fallthrough highest_met\n    allow override "Bất khả kháng"'))
    decided = Override("complete", "Chủ tịch UBND tỉnh", __import__("datetime").date(2026, 12, 10),
                       "Kế hoạch mục III.3.d", "Lũ lụt tháng 10")
    q1 = quarter(p, "Q1", 80, True, 10)
    q4_inputs = {"score": Fraction(55), "all_done": False, "exceeded": Fraction(0), "flood": True}
    q4 = evaluate_record(p, SubjectRecord("u1", q4_inputs, period="2026-Q4", override=decided))
    assert (q4.level, q4.decision.reason if q4.decision else None) == ("complete", "override")
    year = combine_periods(p, "u1", "2026", [q1, q4])
    assert year.total == Fraction(135, 2)
    assert year.level == "complete"  # band complete; `behind` fired only in the overridden Q4
    q4_plain = evaluate_record(p, SubjectRecord("u1", q4_inputs, period="2026-Q4"))
    assert combine_periods(p, "u1", "2026", [q1, q4_plain]).level == "not_complete"
