"""The leader and organisation rule sets (criteria/nd335/{head,deputy,organisation}.kpi), rated
through a province with real subordinates: worked examples 2, 3 and 5c of the domain brief, and
golden explanations for a head, a deputy and an organisation."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from functools import cache
import re
from typing import Any

import pytest

from kpi_rules.bundle import Bundle, load_bundle
from kpi_rules.org import province_from_data
from kpi_rules.province import ProvinceResult, evaluate_province, explain_subject
from kpi_rules.render import explanation_text

from plan_helpers import ROOT

BUNDLE = ROOT / "criteria" / "nd335" / "bundle.yaml"
Q1 = "2026-Q1"

#: General criteria adding up to 28 (example 2) and 26 (example 3).
GENERAL_28 = {"general_i1": 5, "general_i2": 5, "general_ii1": 2.5, "general_ii2": 2.5, "general_ii3": 2.5,
              "general_ii4": 2.5, "general_iii": 8}
GENERAL_26 = {**GENERAL_28, "general_i2": 4.5, "general_ii3": 2, "general_ii4": 2, "general_iii": 7.5}
ALL_DONE = [{"product": "VB-HC", "assigned": 10, "completed": 10}, {"product": "BC-DK", "assigned": 2, "completed": 2}]
#: a = 95, b = 90, c = 85: 19 of 20 done, 4 failed reviews (19 - 1 = 18), 8 delays (19 - 2 = 17).
EXAMPLE_3_TASKS = [{"product": "VB-HC", "assigned": 20, "completed": 19, "failed_reviews": 4, "delays": 8}]
#: A civil servant scoring below 50 (16.67 + 14 + ... : not complete).
WEAK = {"general_i1": 2, "general_i2": 2, "general_ii1": 1, "general_ii2": 1, "general_ii3": 1, "general_ii4": 1,
        "general_iii": 2, "tasks": [{"product": "VB-HC", "assigned": 10, "completed": 4, "failed_reviews": 4,
                                     "delays": 4}]}
STRONG = {**GENERAL_28, "tasks": ALL_DONE}
ORG_92 = {"general_compliance": 7.5, "general_discipline": 5, "general_head": 2.5, "general_culture": 7,
          "tasks_assigned": 20, "tasks_done": 20, "tasks_exceeded": 5}


def _text(explanation: Any) -> str:
    """The explanation as text, the content hash masked (it changes with every edit of the rules)."""
    return _HASH.sub("sha256:…", explanation_text(explanation, width=110))


_HASH = re.compile(r"sha256:[0-9a-f]{64}")


@cache
def bundle() -> Bundle:
    return load_bundle(BUNDLE)


def _rec(subject: str, inputs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"subject": subject, "period": Q1, "on": "2026-03-31", "inputs": inputs, **extra}


def division(deputy: dict[str, Any], head: dict[str, Any], org: dict[str, Any] = ORG_92,
             weak: dict[str, Any] | None = WEAK, child: dict[str, Any] | None = None) -> ProvinceResult:
    """One division: head h, deputy d (field x), staff s1 (x), s2 (y, weak), optionally a sub-unit."""
    units = [{"id": "div", "name": "Phòng Tổ chức", "parent": None, "kind": "division"}]
    people = [
        {"id": "h", "name": "Phạm Quang Dũng", "unit": "div", "role": "head", "task_group": "lanh_dao"},
        {"id": "d", "name": "Võ Thị Hạnh", "unit": "div", "role": "deputy", "fields": ["x"], "task_group": "lanh_dao"},
        {"id": "s1", "name": "Huỳnh Văn Nam", "unit": "div", "role": "staff", "field": "x", "task_group": "cv"},
        {"id": "s2", "name": "Đinh Văn Sơn", "unit": "div", "role": "staff", "field": "y", "task_group": "cv"},
    ]
    records = [_rec("s1", STRONG), _rec("d", deputy), _rec("h", head), _rec("div", org)]
    if weak is not None:
        records.append(_rec("s2", weak))
    if child is not None:
        units.append({"id": "div.team", "name": "Tổ một cửa", "parent": "div", "kind": "team"})
        records.append(_rec("div.team", child))
    data = {"province": {"id": "t", "name": "Thử"}, "units": units, "people": people, "records": records}
    return evaluate_province(bundle(), province_from_data(data))


def test_worked_example_2_head_with_one_subordinate_below_50() -> None:
    outcome = division({**STRONG}, {**GENERAL_28, "tasks": ALL_DONE})
    assert outcome.results[("s2", Q1)].total < 50
    head = outcome.results[("h", Q1)]
    assert head.values["d"] == 50 and head.values["org_ability"] == 100 and head.values["unity"] == 100
    assert [head.values[k] for k in "abc"] == [100, 100, 100]
    assert head.criteria is not None
    tasks = next(c for c in head.criteria.children if c.name == "results")
    assert tasks.points == Fraction(385, 6)  # 64.17
    assert head.total == Fraction(553, 6)  # 28 + 385/6 = 92.17
    assert head.level == "excellent" and head.decision is not None and head.decision.reason == "band"


def test_the_head_is_at_100_for_d_when_the_weak_subordinate_has_no_record() -> None:
    outcome = division({**STRONG}, {**GENERAL_28, "tasks": ALL_DONE}, weak=None)
    assert outcome.results[("h", Q1)].values["d"] == 100
    assert outcome.results[("h", Q1)].total == 98


def test_worked_example_3_deputy_with_delays_in_their_field() -> None:
    deputy = {**GENERAL_26, "tasks": EXAMPLE_3_TASKS, "org_ability_level": "shortcomings"}
    outcome = division(deputy, {**GENERAL_28, "tasks": ALL_DONE})
    result = outcome.results[("d", Q1)]
    # the weak s2 works in field y, not the deputy's: d = 100 (Điều 15 khoản 3, within the assigned fields)
    assert [r.id for r in outcome.records[("d", Q1)].related["supervised"]] == ["s1"]  # type: ignore[union-attr]
    assert [result.values[k] for k in ("a", "b", "c", "d", "org_ability", "unity")] == [95, 90, 85, 100, 50, 100]
    assert result.total == Fraction(260, 3)  # 26 + 182/3 = 86.67
    assert result.level == "good"


def test_worked_example_3_with_full_org_ability_crosses_the_90_line() -> None:
    deputy = {**GENERAL_26, "tasks": EXAMPLE_3_TASKS}
    result = division(deputy, {**GENERAL_28, "tasks": ALL_DONE}).results[("d", Q1)]
    assert result.total == Fraction(185, 2)  # 26 + 66.5 = 92.5
    assert result.level == "excellent"


def test_the_leaders_only_disqualifier_art_20_4_d() -> None:
    head = {**GENERAL_28, "tasks": ALL_DONE, "unit_corruption": True}
    result = division({**STRONG}, head).results[("h", Q1)]
    assert result.level == "not_complete" and result.decision is not None
    assert result.decision.reason == "disqualified" and result.decision.band_level == "excellent"


def test_staff_cannot_declare_leader_inputs() -> None:
    outcome = division({**STRONG}, {**GENERAL_28, "tasks": ALL_DONE}, weak={**WEAK, "unity_level": "united"})
    assert [(r.subject, r.diagnostics[0].code) for r in outcome.rejected] == [("s2", "KR504")]


def test_worked_example_5c_organisation_falls_to_good() -> None:
    result = division({**STRONG}, {**GENERAL_28, "tasks": ALL_DONE}).results[("div", Q1)]
    assert result.total == 92 and result.level == "good"
    assert result.decision is not None and result.decision.reason == "fallthrough"
    assert result.decision.passed_over == ("excellent",)


def test_an_organisation_with_a_subordinate_unit_not_complete_is_not_excellent() -> None:
    excellent = {**ORG_92, "tasks_exceeded": 8}
    weak_child = {**ORG_92, "tasks_done": 12}  # 60% of the plan: not complete
    outcome = division({**STRONG}, {**GENERAL_28, "tasks": ALL_DONE}, org=excellent, child=weak_child)
    assert outcome.results[("div.team", Q1)].level == "not_complete"
    assert outcome.order.index("div.team") < outcome.order.index("div")
    parent = outcome.results[("div", Q1)]
    assert parent.level == "good" and parent.decision is not None
    failed = [c.name for c in parent.decision.conditions if c.level == "excellent" and not c.met]
    assert failed == ["children_complete"]
    fine = division({**STRONG}, {**GENERAL_28, "tasks": ALL_DONE}, org=excellent, child=ORG_92)
    assert fine.results[("div", Q1)].level == "excellent"


@pytest.mark.parametrize(("subject", "lang"), [("h", "vi"), ("d", "en"), ("div", "vi")])
def test_golden_explanations_for_a_head_a_deputy_and_an_organisation(
    subject: str, lang: str, golden: Callable[[str, str], None]
) -> None:
    deputy = {**GENERAL_26, "tasks": EXAMPLE_3_TASKS, "org_ability_level": "shortcomings"}
    override = {"override": {"level": "complete", "decided_by": "Giám đốc Sở Nội vụ", "decided_on": "2026-04-10",
                             "clause": "Kế hoạch của UBND tỉnh Gia Lai, mục III.3.d (bất khả kháng)",
                             "reason": "Nhiệm vụ của quý phải hoãn do ứng phó mưa lũ."}}
    outcome = division(deputy, {**GENERAL_28, "tasks": ALL_DONE}, child={**ORG_92, "tasks_done": 12})
    if subject == "div":
        data = {"province": {"id": "t"}, "units": [
            {"id": "div", "name": "Phòng Tổ chức", "parent": None},
            {"id": "div.team", "name": "Tổ một cửa", "parent": "div"}], "people": [],
            "records": [_rec("div", {**ORG_92, "tasks_exceeded": 8}), _rec("div.team", {**ORG_92, "tasks_done": 12}),
                        _rec("div.team", {**ORG_92, "tasks_done": 12}, **override) | {"period": "2026-Q2"},
                        _rec("div", {**ORG_92, "tasks_exceeded": 8}) | {"period": "2026-Q2"}]}
        outcome = evaluate_province(bundle(), province_from_data(data))
        explanation = explain_subject(outcome, "div", Q1, lang)
        golden(f"explain/organisation.{lang}.txt", _text(explanation))
        team = explain_subject(outcome, "div.team", "2026-Q2", "en")
        assert team.decision is not None and team.decision.override is not None
        assert team.decision.override.decided_by == "Giám đốc Sở Nội vụ"
        golden("explain/organisation_override.en.txt", _text(team))
        return
    explanation = explain_subject(outcome, subject, Q1, lang)
    golden(f"explain/{'head' if subject == 'h' else 'deputy'}.{lang}.txt", _text(explanation))
    if subject == "h":
        golden("explain/head.vi.json", _HASH.sub("sha256:…", explanation.model_dump_json(indent=2)) + "\n")
