"""The province driver: bundle + province data → ratings per subject and period
(examples/province_small/, docs/decree-design.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kpi_rules.bundle import Bundle, RoleRules, is_bundle_file, load_bundle
from kpi_rules.cli import main
from kpi_rules.diagnostics import DiagnosticError
from kpi_rules.engine import load
from kpi_rules.org import load_province, province_from_data
from kpi_rules.province import dependency_order, evaluate_province, explain_subject

from plan_helpers import ROOT

BUNDLE = ROOT / "criteria" / "nd335" / "bundle.yaml"
SMALL = ROOT / "examples" / "province_small" / "province.yaml"
CYCLE = ROOT / "tests" / "fixtures" / "bundles" / "cycle"
Q1, Q2 = "2026-Q1", "2026-Q2"


@pytest.fixture(scope="module")
def outcome():  # type: ignore[no-untyped-def]
    return evaluate_province(load_bundle(BUNDLE), load_province(SMALL))


def test_the_bundle_names_a_rule_set_per_role() -> None:
    bundle = load_bundle(BUNDLE)
    assert {role: rr.rules.id for role, rr in bundle.roles.items()} == {
        "staff": "nd335.individual", "deputy": "nd335.deputy", "head": "nd335.head", "unit": "nd335.organisation"}
    assert bundle.settings.head_supervises == "subtree"
    assert is_bundle_file(BUNDLE) and not is_bundle_file(ROOT / "criteria" / "nd335" / "individual.yaml")


def test_staff_come_before_deputies_and_heads_and_lower_units_before_higher(outcome) -> None:  # type: ignore[no-untyped-def]
    order = outcome.order
    province = outcome.province
    for subject in order:
        role = province.role_of(subject)
        for rel in outcome.bundle.rules_for(role).plan.checked.subject.relations:
            ids = province.related_ids(subject, rel.name, outcome.bundle.settings)
            for other in ids if isinstance(ids, tuple) else (ids,) if ids else ():
                assert order.index(other) < order.index(subject), (other, subject)
    assert order.index("p11") < order.index("p09") < order.index("p01")
    assert order.index("p06") < order.index("p05") < order.index("p04")
    assert order.index("snv.ccvc") < order.index("snv")


def test_every_subject_with_a_record_is_rated_in_each_period(outcome) -> None:  # type: ignore[no-untyped-def]
    assert outcome.periods == (Q1, Q2)
    assert len([k for k in outcome.results if k[1] == Q1]) == 14
    assert ("p08", Q2) not in outcome.results  # on leave: no record, not rated
    assert ("p07", Q2) not in outcome.results  # rejected
    assert outcome.results[("p11", Q1)].level == "not_complete"
    assert outcome.results[("p09", Q1)].values["d"] == 50  # p11 < 50
    assert outcome.results[("p01", Q1)].values["d"] == 50  # subtree
    assert outcome.results[("p05", Q1)].values["d"] == 100
    assert outcome.results[("snv.ccvc", Q1)].level == "not_complete"
    assert outcome.results[("snv", Q1)].level == "good"  # a subordinate unit is not complete
    assert outcome.results[("snv", Q2)].level == "excellent"
    assert outcome.results[("snv.ccvc", Q2)].decision.reason == "override"


def test_a_rejected_record_is_named_and_its_readers_are_told(outcome) -> None:  # type: ignore[no-untyped-def]
    assert [(r.subject, r.period, [d.code for d in r.diagnostics]) for r in outcome.rejected] == [
        ("p07", Q2, ["KR503"])]
    assert sorted(n.where for n in outcome.notes) == ["record p01 (2026-Q2)", "record p04 (2026-Q2)"]
    assert {n.code for n in outcome.notes} == {"KR717"}
    p07 = next(r for r in outcome.records[("p04", Q2)].related["supervised"] if r.id == "p07")
    assert not p07.rated and p07.note == "rejected"


def test_counts_per_level_per_role(outcome) -> None:  # type: ignore[no-untyped-def]
    assert outcome.counts(Q1) == {
        "unit": {"good": 2, "not_complete": 1},
        "staff": {"excellent": 4, "good": 1, "not_complete": 1},
        "deputy": {"excellent": 2},
        "head": {"excellent": 3},
    }
    assert outcome.counts(Q2)["staff"] == {"excellent": 3, "good": 1, "rejected": 1}


def test_the_year_and_the_quota_go_through_the_seam(outcome) -> None:  # type: ignore[no-untyped-def]
    assert set(outcome.stages) == {"periods", "cohort"}


def test_an_explanation_lists_the_related_subjects(outcome) -> None:  # type: ignore[no-untyped-def]
    explanation = explain_subject(outcome, "p01", Q2, "en")
    (group,) = explanation.related
    assert group.relation == "supervised" and len(group.subjects) == 10
    notes = {s.id: s.note for s in group.subjects if not s.rated}
    assert notes == {"p07": "record rejected: read as not rated", "p08": "no record in the period"}
    with pytest.raises(KeyError):
        explain_subject(outcome, "p08", Q2)


# --------------------------------------------------------------------------- cycles


def test_a_cycle_between_roles_is_rejected_when_the_bundle_loads() -> None:
    with pytest.raises(DiagnosticError) as caught:
        load_bundle(CYCLE / "bundle.yaml")
    (d,) = caught.value.diagnostics
    assert d.code == "KR714"
    assert "`head` reads `unit`" in d.message and "`unit` reads `head`" in d.message
    assert d.span is not None and d.span.path.endswith("head_cap.kpi")
    assert d.labels[0].span.path.endswith("org_head.kpi")


def test_a_cycle_between_subjects_is_rejected_naming_both_ids() -> None:
    roles = {role: RoleRules(role, CYCLE / file, load(CYCLE / file)) for role, file in
             (("head", "head_cap.kpi"), ("unit", "org_head.kpi"))}
    bundle = Bundle("cycle", CYCLE / "bundle.yaml", roles)  # built by hand: skips the role check
    data = province_from_data({"province": {"id": "t"}, "units": [{"id": "snv", "parent": None}],
                               "people": [{"id": "p01", "unit": "snv", "role": "head"}], "records": []})
    with pytest.raises(DiagnosticError) as caught:
        dependency_order(bundle, data)
    (d,) = caught.value.diagnostics
    assert d.code == "KR715" and "`p01`" in d.message and "`snv`" in d.message
    assert "through `unit`" in d.message and "through `head`" in d.message


# --------------------------------------------------------------------------- bad data and bundles


def _province(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "province": {"id": "t"},
        "units": [{"id": "a", "name": "A", "parent": None}, {"id": "b", "name": "B", "parent": "a"}],
        "people": [{"id": "p1", "unit": "a", "role": "head"}, {"id": "p2", "unit": "b", "role": "staff", "field": "x"}],
        "records": [],
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(("changes", "code", "where"), [
    ({"units": [{"id": "a", "parent": None}, {"id": "b", "parent": None}, {"id": "a", "parent": None}]},
     "KR702", "unit a"),
    ({"units": [{"id": "a", "parent": None}, {"id": "b", "parent": "c"}]}, "KR703", "unit b"),
    ({"units": [{"id": "a", "parent": "b"}, {"id": "b", "parent": "a"}]}, "KR704", "unit a"),
    ({"people": [{"id": "p1", "unit": "z", "role": "head"}]}, "KR705", "person p1"),
    ({"people": [{"id": "p1", "unit": "a", "role": "boss"}]}, "KR706", "person p1"),
    ({"people": [{"id": "p1", "unit": "a", "role": "head"}, {"id": "p2", "unit": "a", "role": "head"}]},
     "KR707", "person p2"),
    ({"people": [{"id": "p1", "unit": "a", "role": "deputy", "field": "x"}]}, "KR710", "person p1"),
    ({"province": {"id": 7}}, "KR701", None),
])
def test_problems_of_the_tree_name_the_id(changes: dict[str, Any], code: str, where: str | None) -> None:
    with pytest.raises(DiagnosticError) as caught:
        province_from_data(_province(**changes))
    assert caught.value.diagnostics[0].code == code
    if where is not None:
        assert caught.value.diagnostics[0].where == where


def test_problems_of_one_record_reject_that_record_only() -> None:
    records = [{"subject": "p9", "period": Q1, "inputs": {}}, {"subject": "p2", "period": "2026-Q5", "inputs": {}},
               {"subject": "p2", "period": Q1, "inputs": {}}, {"subject": "p2", "period": Q1, "inputs": {}},
               {"subject": "p2", "period": Q2, "input": {}}]
    data = province_from_data(_province(records=records))
    assert [(r.subject, r.period, r.diagnostics[0].code) for r in data.rejected] == [
        ("p9", Q1, "KR708"), ("p2", "2026-Q5", "KR709"), ("p2", Q1, "KR709"), ("p2", Q2, "KR709")]
    assert [(r.subject, r.period) for r in data.records] == [("p2", Q1)]


def test_the_relations_follow_the_settings() -> None:
    from kpi_rules.org import OrgSettings

    data = province_from_data(_province(people=[
        {"id": "p1", "unit": "a", "role": "head"}, {"id": "p3", "unit": "a", "role": "deputy", "fields": ["x"]},
        {"id": "p2", "unit": "b", "role": "staff", "field": "x"}, {"id": "p4", "unit": "b", "role": "head"}]))
    assert data.related_ids("p1", "supervised") == ("p3", "p2", "p4")
    assert data.related_ids("p1", "supervised", OrgSettings(head_supervises="unit")) == ("p3",)
    assert data.related_ids("p3", "supervised") == ()
    assert data.related_ids("p3", "supervised", OrgSettings(deputy_supervises="subtree")) == ("p2",)
    assert data.related_ids("a", "children") == ("b",) and data.related_ids("b", "parent") == "a"
    assert data.related_ids("a", "parent") is None and data.related_ids("b", "head") == "p4"
    assert data.related_ids("b", "staff") == ("p2", "p4") and data.related_ids("p2", "unit") == "b"


@pytest.mark.parametrize(("text", "code"), [
    ("bundle: x\nrules: {staff: individual.kpi}\n", "KR711"),
    ("bundle: x\nroles: {leader: head.kpi}\n", "KR712"),
    ("bundle: x\nroles: {staff: individual.kpi}\nsettings: {head_supervises: everyone}\n", "KR716"),
    ("bundle: x\nroles: {unit: individual.kpi}\n", "KR713"),
])
def test_problems_of_a_bundle(tmp_path: Path, text: str, code: str) -> None:
    path = tmp_path / "bundle.yaml"
    path.write_text(text, encoding="utf-8")
    for name in ("individual.kpi", "head.kpi"):
        (tmp_path / name).write_text((ROOT / "criteria" / "nd335" / name).read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(DiagnosticError) as caught:
        load_bundle(path)
    assert caught.value.diagnostics[0].code == code


# --------------------------------------------------------------------------- the command line


def test_the_command_line_checks_evaluates_and_explains_with_a_bundle(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(BUNDLE)]) == 0
    assert "bundle nd335" in capsys.readouterr().out
    assert main(["evaluate", str(BUNDLE), str(SMALL), "--format", "json"]) == 1  # one rejected record
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["bundle"] == "nd335" and report["periods"] == [Q1, Q2]
    assert len(report["results"]) == 26 and report["roles"]["p01"] == "head"
    assert report["rejected"][0]["id"] == "p07 (2026-Q2)" and report["rejected"][0]["code"] == "KR503"
    assert report["counts"][Q1]["head"] == {"excellent": 3}
    assert "warning[KR717]" in captured.err
    assert main(["explain", str(BUNDLE), str(SMALL), "--subject", "snv.ccvc", "--period", Q2, "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "Decided by: Giám đốc Sở Nội vụ" in out
    assert main(["explain", str(BUNDLE), str(SMALL), "--subject", "nobody"]) == 2
