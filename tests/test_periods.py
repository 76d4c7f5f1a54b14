"""Periods: labels, and the half-year and year from the periods worked (domain.md §6, worked example 5)."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest

from kpi_rules.diagnostics import DiagnosticError
from kpi_rules.evaluator import evaluate_record
from kpi_rules.explainer import explain
from kpi_rules.periods import combine_periods, parse_period, periods_in
from kpi_rules.plan import Plan
from kpi_rules.render import explanation_text
from kpi_rules.results import Override, Result, SubjectRecord

from plan_helpers import small_plan

INPUTS = """    input score : number min 0 max 100 "Điểm"
    input was_disciplined : bool default false "Bị kỷ luật"
    input nothing_assigned : bool default false "Không được giao nhiệm vụ\""""

RATING = """
  criteria total "Tổng điểm" en "Total" max 100 {
    criterion s "Điểm" max 100 = if nothing_assigned then insufficient_data else score
  }
  rating cite "Điều 20" {
    level excellent "Hoàn thành xuất sắc nhiệm vụ" en "Excellent" from 90
    level good "Hoàn thành tốt nhiệm vụ" en "Good" from 70 below 90
    level complete "Hoàn thành nhiệm vụ" en "Complete" from 50 below 70
    level not_complete "Không hoàn thành nhiệm vụ" en "Not complete" below 50
    disqualify disciplined "Bị kỷ luật" en "Disciplined" when was_disciplined to not_complete
    allow override "Quyết định của cấp có thẩm quyền" en "Decision of the competent authority"
  }
"""

MEAN = RATING + """
  periods cite "Điều 19" {
    monitor quarter
    combine mean
  }
"""

# Customs CV 21169, in the order the domain brief gives (the excellent rule is checked first).
RATING_COUNT = RATING + """
  periods cite "CV 21169" {
    monitor quarter
    combine rating_count {
      level excellent when periods("excellent") >= 2 and periods("not_complete") == 0
      level not_complete when periods("not_complete") >= 2
      level good when periods("complete") <= 2 or periods("not_complete") <= 1
      otherwise complete
    }
  }
"""


@pytest.fixture(scope="module")
def mean_plan() -> Plan:
    return small_plan(INPUTS, MEAN)


@pytest.fixture(scope="module")
def count_plan() -> Plan:
    return small_plan(INPUTS, RATING_COUNT)


def quarters(plan: Plan, scores: dict[str, object], **extra: object) -> list[Result]:
    out = []
    for quarter, score in scores.items():
        inputs: dict[str, object] = {"score": Fraction(str(score)) if score is not None else Fraction(0)}
        if score is None:
            inputs["nothing_assigned"] = True
        inputs.update(extra.get(quarter, {}))  # type: ignore[call-overload]
        record = SubjectRecord("p1", inputs, name="Trần Thị Bình", period=f"2026-{quarter}")  # type: ignore[arg-type]
        out.append(evaluate_record(plan, record))
    return out


def year(plan: Plan, scores: dict[str, object], span: str = "2026", **extra: object) -> Result:
    return combine_periods(plan, "p1", span, quarters(plan, scores, **extra))


# --------------------------------------------------------------------------- labels


@pytest.mark.parametrize(("label", "kind", "months"), [
    ("2026-01", "month", (1, 1)), ("2026-12", "month", (12, 12)), ("2026-Q1", "quarter", (1, 3)),
    ("2026-Q4", "quarter", (10, 12)), ("2026-H1", "half", (1, 6)), ("2026-H2", "half", (7, 12)),
    ("2026", "year", (1, 12)),
])
def test_period_labels(label: str, kind: str, months: tuple[int, int]) -> None:
    period = parse_period(label)
    assert (period.kind, period.months, period.label) == (kind, months, label)


@pytest.mark.parametrize("label", ["2026-13", "2026-00", "2026-Q5", "2026-Q0", "2026-H3", "26-Q1", "2026Q1",
                                   "2026-q1", "", "2026-1", "２０２６", "2026-Q1 ", "Q1-2026"])
def test_bad_period_labels_are_diagnostics(label: str) -> None:
    if label == "2026-Q1 ":  # surrounding spaces are forgiven
        assert parse_period(label).label == "2026-Q1"
        return
    with pytest.raises(DiagnosticError) as info:
        parse_period(label)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == "KR321"
    assert "2026-Q1" in (diagnostic.hint or "")


def test_periods_of_a_half_year_and_a_year() -> None:
    assert [p.label for p in periods_in("2026-H2", "quarter")] == ["2026-Q3", "2026-Q4"]
    assert [p.label for p in periods_in("2026-Q2", "month")] == ["2026-04", "2026-05", "2026-06"]
    assert len(periods_in("2026", "month")) == 12
    assert parse_period("2026-H1").contains(parse_period("2026-Q2"))
    assert not parse_period("2026-H1").contains(parse_period("2026-Q3"))


# --------------------------------------------------------------------------- worked example 5 (a)


def test_example_5a_mean_and_rating_count_agree(mean_plan: Plan, count_plan: Plan) -> None:
    scores = {"Q1": 88, "Q2": 92, "Q3": 91, "Q4": 93}
    by_mean = year(mean_plan, scores)
    assert by_mean.total == Fraction(91) and by_mean.level == "excellent"
    assert by_mean.decision is not None and by_mean.decision.reason == "band"
    by_count = year(count_plan, scores)
    assert by_count.level == "excellent"
    assert by_count.combined is not None and by_count.combined.rule == 1
    assert dict(by_count.combined.counts) == {"excellent": 3, "good": 1, "complete": 0, "not_complete": 0}


def test_example_5a_the_two_methods_disagree(mean_plan: Plan, count_plan: Plan) -> None:
    scores = {"Q1": 89, "Q2": 90, "Q3": 91, "Q4": 60}
    by_mean = year(mean_plan, scores)
    assert by_mean.total == Fraction("82.5") and by_mean.level == "good"
    by_count = year(count_plan, scores)
    assert [u.level for u in by_count.combined_from] == ["good", "excellent", "excellent", "complete"]
    assert by_count.level == "excellent" and by_count.decision is not None
    assert by_count.decision.reason == "rating_count"
    assert by_count.total == Fraction("82.5")  # the mean is still shown


def test_example_5a_one_quarter_not_complete(mean_plan: Plan, count_plan: Plan) -> None:
    scores = {"Q1": 95, "Q2": 95, "Q3": 45, "Q4": 95}
    by_mean = year(mean_plan, scores)
    assert by_mean.total == Fraction("82.5") and by_mean.level == "good"
    by_count = year(count_plan, scores)
    assert by_count.level == "good"
    assert by_count.combined is not None and by_count.combined.rule == 3


# --------------------------------------------------------------------------- worked example 5 (b)


def test_example_5b_maternity_leave_is_never_averaged_with_zeros(mean_plan: Plan) -> None:
    result = year(mean_plan, {"Q1": 84, "Q2": 90})
    assert result.total == Fraction(87) and result.level == "good"
    uses = {u.period: u for u in result.combined_from}
    assert [u.period for u in result.combined_from] == ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
    assert uses["2026-Q1"].used and uses["2026-Q2"].used
    assert (uses["2026-Q3"].used, uses["2026-Q3"].status) == (False, "no_record")
    assert (uses["2026-Q4"].used, uses["2026-Q4"].status) == (False, "no_record")


def test_a_quarter_with_nothing_assigned_is_left_out(mean_plan: Plan) -> None:
    result = year(mean_plan, {"Q1": 84, "Q2": None, "Q3": 90})
    assert result.total == Fraction(87)
    statuses = [(u.period, u.status, u.used) for u in result.combined_from]
    assert statuses == [("2026-Q1", "rated", True), ("2026-Q2", "insufficient_data", False),
                        ("2026-Q3", "rated", True), ("2026-Q4", "no_record", False)]


def test_a_year_with_no_rated_period_is_insufficient_data(mean_plan: Plan, count_plan: Plan) -> None:
    for plan in (mean_plan, count_plan):
        result = year(plan, {"Q1": None, "Q2": None})
        assert result.status == "insufficient_data"
        assert result.total is None and result.level is None
        assert not any(u.used for u in result.combined_from)
    empty = combine_periods(mean_plan, "p1", "2026", [])
    assert empty.status == "insufficient_data" and len(empty.combined_from) == 4


def test_half_year(mean_plan: Plan) -> None:
    results = quarters(mean_plan, {"Q1": 88, "Q2": 93})
    h1 = combine_periods(mean_plan, "p1", "2026-H1", results)
    assert h1.period == "2026-H1" and h1.total == Fraction("90.5") and h1.level == "excellent"
    assert [u.period for u in h1.combined_from] == ["2026-Q1", "2026-Q2"]
    with pytest.raises(DiagnosticError) as info:
        combine_periods(mean_plan, "p1", "2026-H2", results)
    assert info.value.diagnostics[0].code == "KR329"


def test_the_mean_is_exact(mean_plan: Plan) -> None:
    result = year(mean_plan, {"Q1": 90, "Q2": 90, "Q3": 89})
    assert result.total == Fraction(269, 3) and result.level == "good"  # 89.67, never rounded up to 90


def test_a_disqualifier_of_any_quarter_carries_over(mean_plan: Plan, count_plan: Plan) -> None:
    scores = {"Q1": 95, "Q2": 95, "Q3": 95, "Q4": 95}
    for plan in (mean_plan, count_plan):
        result = year(plan, scores, Q2={"was_disciplined": True})
        assert result.level == "not_complete" and result.decision is not None
        assert result.decision.reason == "disqualified"
        assert [d.name for d in result.decision.disqualifiers if d.fired] == ["disciplined"]
        assert result.combined_from[1].fired == ("disciplined",)


def test_an_override_of_the_year_wins(mean_plan: Plan) -> None:
    decision = Override("good", "Giám đốc Sở", dt.date(2026, 12, 10),
                        "Điều 20 khoản 6", "bất khả kháng")
    result = combine_periods(mean_plan, "p1", "2026", quarters(mean_plan, {"Q1": 40}), override=decision)
    assert result.level == "good" and result.decision is not None and result.decision.reason == "override"


def test_results_that_do_not_fit_are_rejected(mean_plan: Plan) -> None:
    q1 = quarters(mean_plan, {"Q1": 90})
    cases = [
        ("p2", "2026", q1),                      # another subject's result
        ("p1", "2027", q1),                      # outside the span
        ("p1", "2026", q1 + q1),                 # two results for one quarter
        ("p1", "2026-Q1", q1),                   # a span not longer than a quarter
    ]
    for subject, span, results in cases:
        with pytest.raises(DiagnosticError) as info:
            combine_periods(mean_plan, subject, span, results)
        assert info.value.diagnostics[0].code == "KR329", (subject, span)
    monthly = evaluate_record(mean_plan, SubjectRecord("p1", {"score": Fraction(90)}, period="2026-01"))
    with pytest.raises(DiagnosticError, match="monitors by quarter"):
        combine_periods(mean_plan, "p1", "2026", [monthly])
    with pytest.raises(DiagnosticError) as info:
        combine_periods(mean_plan, "p1", "2026-Q9", q1)
    assert info.value.diagnostics[0].code == "KR321"


def test_the_explanation_lists_the_periods(mean_plan: Plan) -> None:
    result = year(mean_plan, {"Q1": 84, "Q2": 90})
    for lang in ("vi", "en"):
        expl = explain(result, mean_plan, lang)
        assert expl.periods is not None
        assert expl.periods.formula_with_values == "(84 + 90) / 2 = 87"
        assert [p.used for p in expl.periods.periods] == [True, True, False, False]
        text = explanation_text(expl)
        assert "2026-Q3" in text and "(84 + 90) / 2 = 87" in text
    assert "not worked" in explanation_text(explain(result, mean_plan, "en"))
    empty = explain(year(mean_plan, {"Q1": None}), mean_plan, "en")
    assert empty.insufficient is not None and "no period of 2026 was rated" in empty.insufficient.message
