"""Relations in the language: reading related subjects' results (docs/decree-design.md, Relations)."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest

from kpi_rules.diagnostics import DiagnosticError
from kpi_rules.evaluator import EvaluationError, evaluate_record
from kpi_rules.relations import RELATIONS
from kpi_rules.results import RelatedResult, SubjectRecord
from kpi_rules.valuetypes import BOOL, TEXT, NumberType

from plan_helpers import plan_from_text

RULES = """ruleset test.rel "Quan hệ" {
  basis "Test"
  version "1"
  in_force from 2026-01-01
  rates unit
  subject unit "Đơn vị" {
    input own : points min 0 max 100 "Điểm riêng"
    relation children : list of unit "Đơn vị trực thuộc"
    relation parent : unit "Đơn vị cấp trên"
    relation staff : list of person "Công chức"
  }
  subject person "Công chức" {
    input seniority : number min 0 "Thâm niên"
  }
  let weak_children "Đơn vị trực thuộc không hoàn thành" = count(u in children where u.rated and u.level == "not_complete")
  let staff_sum "Tổng điểm của công chức" = sum(p in staff where p.rated: p.total)
  let senior "Tổng thâm niên" = sum(p in staff where p.rated: p.seniority)
  let all_rated "Mọi công chức đã xếp loại" = all(p in staff: p.rated)
  let parent_level "Xếp loại đơn vị cấp trên" = if present(parent) then parent.level else "none"
  criteria total "Tổng" max 100 {
    criterion c "Điểm" max 100 = own
  }
  rating {
    level good "Tốt" from 50 {
      require no_weak "Không có đơn vị trực thuộc không hoàn thành" = weak_children == 0
    }
    level not_complete "Không hoàn thành" below 50
  }
}
"""


@pytest.fixture(scope="module")
def plan():  # type: ignore[no-untyped-def]
    return plan_from_text(RULES)


def _record(**related: object) -> SubjectRecord:
    return SubjectRecord("u1", {"own": Fraction(80)}, related=related)  # type: ignore[arg-type]


def test_related_subjects_expose_total_level_rated_and_inputs(plan) -> None:  # type: ignore[no-untyped-def]
    types = {name: s.type for name, s in plan.checked.symbols.items()}
    assert types["all_rated"] == BOOL
    assert types["parent_level"] == TEXT
    assert types["staff_sum"] == NumberType("points")
    staff = (RelatedResult("p1", Fraction(70), "good", True, {"seniority": Fraction(12)}),
             RelatedResult("p2", Fraction(91), "excellent", True, {"seniority": Fraction(3)}),
             RelatedResult("p3", note="no_record"))
    children = (RelatedResult("c1", Fraction(40), "not_complete", True), RelatedResult("c2", Fraction(80), "good", True))
    result = evaluate_record(plan, _record(staff=staff, children=children, parent=None))
    assert result.values["staff_sum"] == 161
    assert result.values["weak_children"] == 1
    assert result.values["all_rated"] is False
    assert result.values["parent_level"] == "none"
    assert result.values["senior"] == 15
    assert result.level == "not_complete" and result.decision is not None
    assert result.decision.reason == "fallthrough"


def test_a_single_relation_reads_one_subject(plan) -> None:  # type: ignore[no-untyped-def]
    parent = RelatedResult("root", Fraction(95), "good", True)
    result = evaluate_record(plan, _record(staff=(), children=(), parent=parent))
    assert result.values["parent_level"] == "good"


def test_an_absent_single_relation_read_without_present_names_the_relation() -> None:
    text = RULES.replace('if present(parent) then parent.level else "none"', "parent.level")
    with pytest.raises(EvaluationError) as caught:
        evaluate_record(plan_from_text(text), _record(staff=(), children=(), parent=None))
    assert caught.value.diagnostic.code == "KR501"
    assert "`parent` has no related subject" in caught.value.diagnostic.message


def test_reading_a_field_the_related_kind_does_not_declare_is_reported() -> None:
    with pytest.raises(DiagnosticError) as caught:
        plan_from_text(RULES.replace("p.seniority", "p.seniorty"))
    assert [d.code for d in caught.value.diagnostics] == ["KR310"]
    assert "did you mean `seniority`?" in caught.value.render()


def test_related_subjects_carry_no_relations_of_their_own() -> None:
    text = RULES.replace('let senior "Tổng thâm niên" = sum(p in staff where p.rated: p.seniority)',
                         'let senior "X" = count(u in children where u.parent.rated)')
    with pytest.raises(DiagnosticError) as caught:
        plan_from_text(text)
    assert [d.code for d in caught.value.diagnostics] == ["KR310"]


def test_only_the_relations_of_the_organisation_model_are_declared() -> None:
    with pytest.raises(DiagnosticError) as caught:
        plan_from_text(RULES.replace("relation parent : unit", "relation parents : unit"))
    assert [d.code for d in caught.value.diagnostics][0] == "KR360"
    with pytest.raises(DiagnosticError) as caught:
        plan_from_text(RULES.replace("relation children : list of unit", "relation children : unit"))
    assert "write `relation children : list of unit`" in caught.value.render()
    assert set(RELATIONS) == {"supervised", "unit", "children", "staff", "head", "parent"}


def test_the_single_record_path_is_unchanged_without_relation_values(plan) -> None:  # type: ignore[no-untyped-def]
    record = SubjectRecord("u1", {"own": Fraction(80)})
    assert record.related == {}
    result = evaluate_record(plan, record)
    assert result.level == "good" and result.values["weak_children"] == 0
    assert result == evaluate_record(plan, dataclasses.replace(record, related={}))


def test_a_related_result_is_a_read_only_mapping() -> None:
    r = RelatedResult("p1", Fraction(50), "complete", True, {"seniority": Fraction(2)}, name="An")
    assert dict(r) == {"id": "p1", "total": Fraction(50), "level": "complete", "rated": True,
                       "seniority": Fraction(2)}
    assert r.get("missing") is None and len(r) == 5
