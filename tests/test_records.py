"""Records in: bad input is reported per record and field; the other records are still rated."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

import kpi_rules
from kpi_rules.records import coerce_record, load_record_data

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "criteria" / "nd335" / "individual.kpi"
GENERAL = {
    "general_i1": 5, "general_i2": 4.5, "general_ii1": 2.5, "general_ii2": 2.5,
    "general_ii3": 2, "general_ii4": 2.5, "general_iii": 8,
}


@pytest.fixture(scope="module")
def rules() -> kpi_rules.RuleSet:
    return kpi_rules.load(RULES)


def record(record_id: str = "x", **inputs: object) -> dict[str, object]:
    merged: dict[str, object] = {**GENERAL, "tasks": [{"product": "VB-HC", "assigned": 4, "completed": 4}]}
    merged.update(inputs)
    return {"id": record_id, "inputs": merged}


def problems(rules: kpi_rules.RuleSet, raw: dict[str, object]) -> list[tuple[str, str]]:
    with pytest.raises(kpi_rules.DiagnosticError) as info:
        coerce_record(raw, rules.plan.checked)
    return [(d.code, d.where or "") for d in info.value.diagnostics]


def test_floats_are_read_through_their_decimal_text(rules: kpi_rules.RuleSet) -> None:
    typed = coerce_record(record(general_iii=0.1), rules.plan.checked)
    assert typed.inputs["general_iii"] == Fraction(1, 10)
    assert typed.inputs["general_i2"] == Fraction(9, 2)


def test_defaults_are_filled_only_where_declared(rules: kpi_rules.RuleSet) -> None:
    typed = coerce_record(record(), rules.plan.checked)
    assert typed.inputs["discipline"] == "none"
    assert typed.inputs["ideology_violation"] is False
    task = typed.inputs["tasks"][0]  # type: ignore[index]
    assert task["failed_reviews"] == 0 and task["delays"] == 0


def test_negative_count_names_record_field_and_rule(rules: kpi_rules.RuleSet) -> None:
    raw = record("cc-9", tasks=[{"product": "VB-HC", "assigned": -3, "completed": 2}])
    with pytest.raises(kpi_rules.DiagnosticError) as info:
        coerce_record(raw, rules.plan.checked)
    (diag,) = info.value.diagnostics
    assert diag.code == "KR503"
    assert diag.where == "record cc-9, field inputs.tasks[0].assigned"
    assert "minimum 0" in diag.message and "`assigned`" in diag.message


def test_missing_required_field(rules: kpi_rules.RuleSet) -> None:
    raw = record("cc-8")
    del raw["inputs"]["general_i1"]  # type: ignore[attr-defined]
    assert problems(rules, raw) == [("KR501", "record cc-8, field inputs.general_i1")]


def test_wrong_types_and_misspellings_are_all_reported(rules: kpi_rules.RuleSet) -> None:
    raw = record("cc-7", discipline="reprimnd", general_i2="4", generl_iii=1,
                 tasks=[{"product": "VB-HC", "assigned": True, "completed": 1}])
    found = problems(rules, raw)
    assert ("KR502", "record cc-7, field inputs.discipline") in found
    assert ("KR502", "record cc-7, field inputs.general_i2") in found
    assert ("KR504", "record cc-7, field inputs.generl_iii") in found
    assert ("KR502", "record cc-7, field inputs.tasks[0].assigned") in found
    with pytest.raises(kpi_rules.DiagnosticError) as info:
        coerce_record(raw, rules.plan.checked)
    hints = [d.hint for d in info.value.diagnostics]
    assert "did you mean `reprimand`?" in hints and "did you mean `general_iii`?" in hints


def test_out_of_range_points(rules: kpi_rules.RuleSet) -> None:
    assert problems(rules, record("cc-6", general_i1=5.5)) == [("KR503", "record cc-6, field inputs.general_i1")]


def test_override_must_be_complete(rules: kpi_rules.RuleSet) -> None:
    raw = record("cc-5")
    raw["override"] = {"level": "good", "decided_by": "Chủ tịch UBND tỉnh"}
    assert problems(rules, raw) == [("KR507", "record cc-5, field override")]
    raw["override"] = {"level": "godo", "decided_by": "Chủ tịch UBND tỉnh", "decided_on": "2026-12-01",
                       "clause": "Điều 20", "reason": "Bất khả kháng"}
    assert problems(rules, raw) == [("KR507", "record cc-5, field override.level")]


def test_batch_rates_good_records_and_reports_bad_ones(rules: kpi_rules.RuleSet) -> None:
    raws = load_record_data(ROOT / "examples" / "nd335_individual_bad.json")
    outcome = rules.evaluate_many(raws)
    assert [r.subject_id for r in outcome.results] == ["cc-105"]
    assert outcome.rejected_ids == ("cc-101", "cc-102", "cc-103", "cc-104")
    codes = {(d.code, (d.where or "").split(",")[0]) for d in outcome.rejected}
    assert ("KR503", "record cc-101") in codes
    assert ("KR501", "record cc-102") in codes
    assert ("KR502", "record cc-103") in codes
    assert ("KR505", "record cc-104") in codes  # unknown product: no catalogue entry


def test_duplicate_ids_are_rejected(rules: kpi_rules.RuleSet) -> None:
    outcome = rules.evaluate_many([record("same"), record("same")])
    assert len(outcome.results) == 1
    assert [d.code for d in outcome.rejected] == ["KR508"]


def test_json_duplicate_keys_and_bad_files(tmp_path: Path) -> None:
    dup = tmp_path / "dup.json"
    dup.write_text('[{"id": "a", "id": "b"}]', encoding="utf-8")
    broken = tmp_path / "broken.json"
    broken.write_text('[{"id": ', encoding="utf-8")
    for path, fragment in ((dup, "duplicate key `id`"), (broken, "invalid JSON at line 1")):
        with pytest.raises(kpi_rules.DiagnosticError) as info:
            load_record_data(path)
        assert fragment in info.value.diagnostics[0].message


def test_yaml_records_are_safe(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("- id: a\n  on: 2026-03-31\n  inputs: {}\n", encoding="utf-8")
    assert load_record_data(path) == [{"id": "a", "on": "2026-03-31", "inputs": {}}]
    path.write_text("- &x {id: a}\n- *x\n", encoding="utf-8")
    with pytest.raises(kpi_rules.DiagnosticError) as info:
        load_record_data(path)
    assert "aliases are not allowed" in info.value.diagnostics[0].message
    path.write_text("- id: a\n  id: b\n", encoding="utf-8")
    with pytest.raises(kpi_rules.DiagnosticError):
        load_record_data(path)


def test_examples_file_is_valid_json() -> None:
    data = json.loads((ROOT / "examples" / "nd335_individual.json").read_text(encoding="utf-8"))
    assert len(data["records"]) >= 5


def test_related_results_in_a_record() -> None:
    head = kpi_rules.load(ROOT / "criteria" / "nd335" / "head.kpi")
    raw = record("h1")
    raw["related"] = {"supervised": [{"id": "s1", "total": 45.5, "level": "not_complete"},
                                     {"id": "s2", "rated": False}]}
    typed = coerce_record(raw, head.plan.checked)
    first, second = typed.related["supervised"]  # type: ignore[misc]
    assert (first.id, first.total, first.level, first.rated) == ("s1", Fraction(91, 2), "not_complete", True)
    assert (second.rated, second.total) == (False, None)
    assert head.evaluate(raw).values["d"] == 50


def test_related_results_are_checked(rules: kpi_rules.RuleSet) -> None:
    head = kpi_rules.load(ROOT / "criteria" / "nd335" / "head.kpi")
    bad = record("h2")
    bad["related"] = {
        "supervized": [],
        "supervised": [{"id": "s1", "rated": True}, {"id": "s2", "total": "high"},
                       {"id": "s3", "rated": False, "inputs": {"general_i1": 5}},
                       {"id": "s4", "total": 80, "inputs": {"general_i9": 1}}],
    }
    with pytest.raises(kpi_rules.DiagnosticError) as info:
        coerce_record(bad, head.plan.checked)
    found = {(d.code, d.where) for d in info.value.diagnostics}
    assert found == {
        ("KR504", "record h2, field related.supervized"),
        ("KR501", "record h2, field related.supervised[0].total"),
        ("KR502", "record h2, field related.supervised[1].total"),
        ("KR504", "record h2, field related.supervised[2].inputs"),
        ("KR504", "record h2, field related.supervised[3].inputs.general_i9"),
    }
    hints = {d.hint for d in info.value.diagnostics}
    assert "did you mean `supervised`?" in hints
    # A rule set whose subject declares no relations accepts none.
    with pytest.raises(kpi_rules.DiagnosticError):
        coerce_record({**record("x"), "related": {"supervised": []}}, rules.plan.checked)
