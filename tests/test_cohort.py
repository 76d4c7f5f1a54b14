"""The excellent quota of Art. 20(5) as a cohort rule (domain.md §5, worked example 4)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi_rules.cohort import CohortMember, allowed_count, apply_cohort
from kpi_rules.evaluator import evaluate_record
from kpi_rules.explainer import explain
from kpi_rules.plan import Plan
from kpi_rules.render import explanation_text
from kpi_rules.results import Override, Result, SubjectRecord

from plan_helpers import individual_plan, plan_from_text

INPUTS = """    input score : number min 0 max 100 "Điểm"
    input seniority : number min 0 default 0 "Thâm niên công tác (năm)"
    input appointed : date optional "Ngày bổ nhiệm ngạch\""""

BODY = """
  criteria total "Tổng điểm" en "Total score" max 100 {
    criterion s "Điểm" max 100 = score
  }
  rating cite "Điều 20" {
    level excellent "Hoàn thành xuất sắc nhiệm vụ" en "Excellent" from 90 cite "Điều 20 khoản 1"
    level good "Hoàn thành tốt nhiệm vụ" en "Good" from 70 below 90 cite "Điều 20 khoản 2"
    level complete "Hoàn thành nhiệm vụ" en "Complete" from 50 below 70 cite "Điều 20 khoản 3"
    level not_complete "Không hoàn thành nhiệm vụ" en "Not complete" below 50 cite "Điều 20 khoản 4 điểm a"
    allow override "Quyết định của cấp có thẩm quyền" en "Decision of the competent authority"
  }

  cohort excellent_quota "Tỷ lệ hoàn thành xuất sắc nhiệm vụ" en "Quota of excellent ratings" cite "Điều 20 khoản 5" {
    limit excellent to 20% of good per unit, task_group
    exception 25% when outstanding_unit
    demote to good by total desc, seniority desc, appointed asc
  }
"""


HEADER = """ruleset test.quota "Thử tỷ lệ khống chế" en "Quota test" {
  basis "Nghị định 335/2025/NĐ-CP"
  version "1"
  in_force from 2026-01-01
  rates person
  subject person "Công chức" en "Civil servant" {
%s
  }
%s
}
"""


@pytest.fixture(scope="module")
def plan() -> Plan:
    return plan_from_text(HEADER % (INPUTS, BODY), path="quota.kpi")


def rate(plan: Plan, scores: Sequence[object], prefix: str = "p") -> list[Result]:
    return [
        evaluate_record(plan, SubjectRecord(f"{prefix}{i + 1:02d}", {"score": Fraction(str(s)), "seniority": Fraction(0)},
                                            name=f"Người {i + 1}", period="2026"))
        for i, s in enumerate(scores)
    ]


def members(results: Sequence[Result], unit: str = "snv.tccb", task_group: str = "chuyen_vien",
            **extra: object) -> dict[str, CohortMember]:
    flags = {k: v for k, v in extra.items() if isinstance(v, bool)}
    return {r.subject_id: CohortMember({"unit": unit, "task_group": task_group}, {}, flags) for r in results}


def levels(results: Sequence[Result]) -> Counter[str | None]:
    return Counter(r.level for r in results)


# --------------------------------------------------------------------------- worked example 4

EXAMPLE_4 = [95, 94, 93, 92, 91, 85, 80, 75, 70, 65, 60, 55]


def test_worked_example_4(plan: Plan) -> None:
    before = rate(plan, EXAMPLE_4)
    assert levels(before) == {"excellent": 5, "good": 4, "complete": 3}
    after, reports = apply_cohort(plan, before, members(before))
    counts = levels(after)
    assert counts == {"excellent": 1, "good": 8, "complete": 3}
    assert Fraction(counts["excellent"]) <= Fraction(1, 5) * counts["good"]  # 1 <= 1.6
    assert not Fraction(2) <= Fraction(1, 5) * 7                          # k = 2 would break it
    (report,) = reports
    assert (report.eligible, report.candidates, report.allowed) == (9, 5, 1)
    assert [m.subject_id for m in report.kept] == ["p01"]
    assert [(m.subject_id, m.rank) for m in report.demoted] == [("p02", 2), ("p03", 3), ("p04", 4), ("p05", 5)]
    assert (report.final_limited, report.final_counted) == (1, 8)
    assert report.group == (("unit", "snv.tccb"), ("task_group", "chuyen_vien"))
    demoted = after[1]
    assert demoted.decision is not None and demoted.decision.reason == "quota"
    assert demoted.total == before[1].total  # the total is kept
    c = demoted.decision.cohort
    assert c is not None and (c.eligible, c.allowed, c.rank, c.demoted, c.cite) == (9, 1, 2, True, "Điều 20 khoản 5")
    assert after[0].decision is not None and after[0].decision.cohort is not None
    assert not after[0].decision.cohort.demoted and after[0].level == "excellent"
    assert after[5:] == before[5:]  # nobody else is touched


def test_the_outstanding_exception_in_example_4_still_gives_one(plan: Plan) -> None:
    before = rate(plan, EXAMPLE_4)
    after, (report,) = apply_cohort(plan, before, members(before, outstanding_unit=True))
    assert report.exception and report.percent == 25 and report.allowed == 1
    assert levels(after)["excellent"] == 1


@pytest.mark.parametrize(("flag", "expected"), [(False, 1), (True, 2)])
def test_ten_eligible_gives_one_or_two_with_the_exception(plan: Plan, flag: bool, expected: int) -> None:
    before = rate(plan, [99, 98, 97, 96, 95, 85, 84, 83, 82, 81])
    after, (report,) = apply_cohort(plan, before, members(before, outstanding_unit=flag))
    assert report.eligible == 10 and report.allowed == expected
    assert levels(after)["excellent"] == expected
    assert Fraction(expected) <= (Fraction(25 if flag else 20, 100)) * levels(after)["good"]


def test_allowed_count_is_exact() -> None:
    assert [allowed_count(n, Fraction(20)) for n in range(13)] == [n // 6 for n in range(13)]
    assert [allowed_count(n, Fraction(25)) for n in range(13)] == [n // 5 for n in range(13)]
    assert allowed_count(100, Fraction(1, 3)) == 0  # 1/3 % of 100 people: 0.33 → 0


def test_groups_are_rated_separately(plan: Plan) -> None:
    a = rate(plan, [95, 94, 80, 80, 80, 80], prefix="a")
    b = rate(plan, [96, 93, 80, 80, 80, 80], prefix="b")
    info = {**members(a, unit="u1"), **members(b, unit="u2")}
    after, reports = apply_cohort(plan, [*a, *b], info)
    assert [r.group[0][1] for r in reports] == ["u1", "u2"]
    assert [r.level for r in after].count("excellent") == 2
    assert after[0].level == "excellent" and after[6].level == "excellent"


def test_a_group_with_the_flag_on_some_members_only_gets_no_exception(plan: Plan) -> None:
    before = rate(plan, [99, 98, 97, 96, 95, 85, 84, 83, 82, 81])
    info = members(before)
    info["p01"] = CohortMember(info["p01"].groups, {}, {"outstanding_unit": True})
    _, (report,) = apply_cohort(plan, before, info)
    assert not report.exception and report.allowed == 1 and report.notes


# --------------------------------------------------------------------------- tie-breakers


def test_tie_breakers_in_declared_order(plan: Plan) -> None:
    before = rate(plan, [92, 92, 92, 80, 80, 80, 80, 80, 80])
    info = {
        "p01": CohortMember({"unit": "u", "task_group": "g"}, {"seniority": Fraction(3), "appointed": dt.date(2015, 1, 1)}),
        "p02": CohortMember({"unit": "u", "task_group": "g"}, {"seniority": Fraction(7), "appointed": dt.date(2019, 1, 1)}),
        "p03": CohortMember({"unit": "u", "task_group": "g"}, {"seniority": Fraction(7), "appointed": dt.date(2012, 1, 1)}),
        **{r.subject_id: CohortMember({"unit": "u", "task_group": "g"}) for r in before[3:]},
    }
    after, (report,) = apply_cohort(plan, before, info)
    # 92 all round; seniority 7 beats 3; among the 7s the earlier appointment (asc) wins.
    assert [m.subject_id for m in report.kept] == ["p03"]
    assert [m.subject_id for m in report.demoted] == ["p02", "p01"]
    assert not report.tie_broken_by_id


def test_ties_beyond_every_tie_breaker_fall_to_the_subject_id_and_the_report_says_so(plan: Plan) -> None:
    before = rate(plan, [92, 92, 80, 80, 80, 80, 80])
    after, (report,) = apply_cohort(plan, before, members(before))
    assert [m.subject_id for m in report.kept] == ["p01"]
    assert report.tie_broken_by_id
    assert any("subject id" in note for note in report.notes)


def test_plain_attribute_mappings_are_accepted(plan: Plan) -> None:
    before = rate(plan, [92, 91, 80, 80, 80, 80, 80])
    info = {r.subject_id: {"unit": "u", "task_group": None, "role": "staff", "seniority": 1} for r in before}
    info["p02"]["seniority"] = 9
    after, (report,) = apply_cohort(plan, before, info)
    assert [m.subject_id for m in report.kept] == ["p01"]  # the total comes first
    assert report.group == (("unit", "u"), ("task_group", ""))


def test_an_override_is_never_demoted(plan: Plan) -> None:
    decision = Override("excellent", "Giám đốc Sở", dt.date(2026, 12, 1), "Điều 20 khoản 6", "thành tích đột xuất")
    before = rate(plan, [95, 80, 80, 80, 80, 80])
    forced = evaluate_record(plan, SubjectRecord("p99", {"score": Fraction(85)}, period="2026", override=decision))
    after, (report,) = apply_cohort(plan, [*before, forced], members([*before, forced]))
    assert after[-1].level == "excellent" and after[0].level == "good"
    assert [m.subject_id for m in report.kept] == ["p99"]


def test_missing_member_data_is_an_error(plan: Plan) -> None:
    before = rate(plan, [95])
    with pytest.raises(KeyError, match="p01"):
        apply_cohort(plan, before, {})


def test_the_national_rule_set_declares_the_quota() -> None:
    plan = individual_plan()
    (rule,) = plan.ruleset.cohorts
    assert (rule.level, rule.percent, rule.of, rule.groups) == ("excellent", 20, "good", ("unit", "task_group"))
    assert (rule.exception_percent, rule.exception_flag, rule.demote_to) == (25, "outstanding_unit", "good")
    assert plan.ruleset.periods is not None and plan.ruleset.periods.combine == "mean"


# --------------------------------------------------------------------------- the invariant


@st.composite
def cohorts(draw: Callable[..., object]) -> tuple[list[int], list[int], list[int], bool]:
    size = draw(st.integers(0, 30))
    scores = draw(st.lists(st.integers(40, 100), min_size=size, max_size=size))
    groups = draw(st.lists(st.integers(0, 2), min_size=size, max_size=size))
    seniority = draw(st.lists(st.integers(0, 3), min_size=size, max_size=size))
    flag = draw(st.booleans())
    return scores, groups, seniority, flag  # type: ignore[return-value]


@given(cohorts())
def test_after_the_quota_every_group_keeps_the_strict_reading(data: tuple[list[int], list[int], list[int], bool]) -> None:
    scores, groups, seniority, flag = data
    plan = _PLAN[0]
    before = rate(plan, scores)
    info = {
        r.subject_id: CohortMember({"unit": f"u{g}", "task_group": "g"}, {"seniority": Fraction(s)},
                                   {"outstanding_unit": flag and g == 0})
        for r, g, s in zip(before, groups, seniority)
    }
    after, reports = apply_cohort(plan, before, info)
    assert [r.subject_id for r in after] == [r.subject_id for r in before]
    for old, new in zip(before, after):
        assert new.total == old.total
        if new.level != old.level:  # only excellent people move, and only to good
            assert (old.level, new.level) == ("excellent", "good")
    for report in reports:
        rate_ = Fraction(report.percent, 100)
        assert report.final_limited <= rate_ * report.final_counted  # exact, no rounding
        assert report.final_limited == min(report.candidates, report.allowed)
        # one more would break the rule (the quota is not wasted)
        if report.demoted:
            assert not report.final_limited + 1 <= rate_ * (report.final_counted - 1)
            if report.kept:  # everyone kept scored at least as much as everyone demoted
                assert min(m.total for m in report.kept) >= max(m.total for m in report.demoted)
    unit_of = {r.subject_id: g for r, g in zip(before, groups)}
    for g in set(groups):
        mine = [r for r in after if unit_of[r.subject_id] == g]
        rate_ = Fraction(25 if flag and g == 0 else 20, 100)
        assert levels(mine)["excellent"] <= rate_ * levels(mine)["good"]


_PLAN: list[Plan] = []


@pytest.fixture(autouse=True, scope="module")
def _plan_for_properties(plan: Plan) -> None:
    _PLAN[:] = [plan]


# --------------------------------------------------------------------------- explanation


def test_golden_explanation_of_a_demoted_person(plan: Plan, golden: Callable[[str, str], None]) -> None:
    before = rate(plan, EXAMPLE_4)
    after, _ = apply_cohort(plan, before, members(before))
    demoted = after[1]
    for lang in ("vi", "en"):
        expl = explain(demoted, plan, lang)
        assert expl.level is not None and expl.level.id == "good"
        assert expl.decision is not None and expl.decision.reason == "quota"
        assert expl.decision.cohort is not None and expl.decision.cohort.demoted
        assert "Điều 20 khoản 5" in expl.decision.reason_text
        assert expl.decision.cite is not None and expl.decision.cite.startswith("Điều 20 khoản 5")
        golden(f"explain/quota_demoted.{lang}.txt", explanation_text(expl))
    en = explain(demoted, plan, "en").decision
    assert en is not None
    assert en.reason_text.startswith("Demoted from “Excellent” to “Good” by the quota of Điều 20 khoản 5")
    assert "1 of 9 allowed in the group (unit = snv.tccb, task_group = chuyen_vien)" in en.reason_text
    assert "rank 2" in en.reason_text
    kept = explain(after[0], plan, "en")
    assert kept.decision is not None and kept.decision.cohort is not None
    assert "Within the quota" in kept.decision.cohort.text
