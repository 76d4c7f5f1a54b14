"""Product catalogues as data: the file format, its diagnostics, binding and conversion."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest

import kpi_rules
from kpi_rules.catalogue import bind_catalogue, catalogue_reads, load_catalogue, parse_catalogue
from kpi_rules.cli import main
from kpi_rules.diagnostics import DiagnosticError
from kpi_rules.loader import content_hash, parse_source, read_source
from kpi_rules.source import SourceFile

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "criteria" / "catalogues" / "sample.yaml"
INDIVIDUAL = ROOT / "criteria" / "nd335" / "individual.kpi"
EXAMPLES = ROOT / "examples" / "nd335_individual.json"

HEAD = """catalogue: test.cat
title: "Danh mục thử"
standard_unit: {label: "Văn bản chuẩn", points: 100}
valid: {from: 2026-01-01}
"""
POSITIONS = """positions:
  - id: cv
    label: "Chuyên viên"
    groups:
      - {id: N1, points: 100}
      - {id: N2, points: 250}
"""

GENERAL = {"general_i1": 5, "general_i2": 4.5, "general_ii1": 2.5, "general_ii2": 2.5, "general_ii3": 2,
           "general_ii4": 2.5, "general_iii": 8}


def _record(rid: str, tasks: list[dict[str, object]], on: str | None = None) -> dict[str, object]:
    record: dict[str, object] = {"id": rid, "inputs": {**GENERAL, "tasks": tasks}}
    if on:
        record["on"] = on
    return record


def _fail(text: str, path: str = "cat.yaml") -> str:
    with pytest.raises(DiagnosticError) as info:
        parse_catalogue(SourceFile(path, text))
    return info.value.render()


# --------------------------------------------------------------------------- the format


def test_sample_catalogue_reads_exactly() -> None:
    cat = load_catalogue(SAMPLE)
    assert cat.id == "sample.vp" and cat.standard_points == 100
    assert [p.id for p in cat.positions] == ["chuyen_vien_tong_hop", "van_thu"]
    day = dt.date(2026, 3, 31)
    coefficients = {p.code: p.coefficient for p in cat.in_force(day)}
    assert coefficients == {"VB-HC": 1, "BC-DK": 4, "DA": 10, "KH": 2, "BC-CD": 5, "TD-HS": 2,
                            "VT-DEN": Fraction(1, 4), "VT-DI": Fraction(1, 2)}
    assert all(isinstance(c, Fraction) for c in coefficients.values())
    assert cat.coefficient("TD-HS", dt.date(2026, 7, 1)) == 4
    assert next(p for p in cat.products if p.code == "BC-CD").explicit


def test_coefficient_from_group_coefficient_and_decimal_text_is_exact() -> None:
    text = HEAD + """positions:
  - id: cv
    label: "CV"
    groups:
      - {id: N1, coefficient: 0.1}
      - {id: N2, points: 33.3}
products:
  - {code: A, label: "A", position: cv, group: N1}
  - {code: B, label: "B", position: cv, group: N2}
  - {code: C, label: "C", position: cv, group: N2, coefficient: 1.15}
"""
    cat = parse_catalogue(SourceFile("c.yaml", text))
    assert [p.coefficient for p in cat.products] == [Fraction(1, 10), Fraction(333, 1000), Fraction(23, 20)]


def test_versions_cut_at_every_product_date() -> None:
    cat = load_catalogue(SAMPLE)
    versions = cat.versions()
    assert [(v.start, v.end) for v, _ in versions] == [
        (dt.date(2026, 1, 1), dt.date(2026, 7, 1)), (dt.date(2026, 7, 1), None)]


# --------------------------------------------------------------------------- diagnostics

CASES: dict[str, str] = {
    "KR801": "catalogue: x\n  bad: [indent\n",
    "KR802": HEAD + POSITIONS + "products:\n  - {code: A, position: cv, group: N1}\n",
    "KR803": HEAD + POSITIONS + "products:\n  - {code: A, label: A, position: cv, group: N1, coeficient: 2}\n",
    "KR804": HEAD + POSITIONS + "products:\n  - {code: A, label: A, position: cv, group: N1, coefficient: -2}\n",
    "KR805": HEAD + POSITIONS + "products:\n  - {code: A, label: A, position: cv2, group: N1}\n",
    "KR806": HEAD + POSITIONS + "products:\n  - {code: A, label: A, position: cv, group: N3}\n",
    "KR807": HEAD + """positions:
  - id: cv
    label: "Chuyên viên"
    groups:
      - {id: N1, points: 100}
      - {id: N2, points: 200}
      - {id: N3, points: 300}
      - {id: N4, points: 400}
      - {id: N5, points: 500}
      - {id: N6, points: 600}
products: []
""",
    "KR808": HEAD.replace(", points: 100", "") + POSITIONS + "products:\n  - {code: A, label: A, position: cv, group: N1}\n",
    "KR809": HEAD + POSITIONS + """products:
  - {code: A, label: A, position: cv, group: N1, valid: {from: 2026-01-01, until: 2026-07-01}}
  - {code: A, label: A, position: cv, group: N2, valid: {from: 2026-06-01}}
""",
    "KR810": HEAD + POSITIONS + POSITIONS.replace("positions:\n", "") + "products: []\n",
    "KR813": HEAD + POSITIONS + "products:\n  - {code: A, label: A, position: cv, group: N1, valid: {from: 2026-05-01, until: 2026-05-01}}\n",
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_every_catalogue_diagnostic_golden(code: str, golden: Callable[[str, str], None]) -> None:
    rendered = _fail(CASES[code], f"{code}.yaml")
    assert f"error[{code}]" in rendered
    golden(f"catalogue_errors/{code}.txt", rendered + "\n")


def test_all_problems_are_reported_at_once() -> None:
    text = HEAD + POSITIONS + """products:
  - {code: A, label: A, position: cv2, group: N1}
  - {code: B, label: B, position: cv, group: N9}
  - {code: C, label: C, position: cv, group: N1, colour: red}
"""
    rendered = _fail(text)
    assert [c for c in ("KR805", "KR806", "KR803") if f"error[{c}]" in rendered] == ["KR805", "KR806", "KR803"]


def test_aliases_and_duplicate_keys_are_refused() -> None:
    assert "anchors and aliases are not allowed" in _fail(HEAD + "positions: &p []\nproducts: *p\n")
    assert "duplicate key `catalogue`" in _fail(HEAD + "catalogue: again\n")


def test_unknown_product_in_a_record_names_record_field_and_code(golden: Callable[[str, str], None]) -> None:
    rules = kpi_rules.load(INDIVIDUAL, catalogue=SAMPLE)
    outcome = rules.evaluate_many([
        _record("cc-1", [{"product": "VB-HC", "assigned": 1, "completed": 1},
                         {"product": "BC-DX", "assigned": 1, "completed": 1}]),
        _record("cc-2", [{"product": "VB-HC", "assigned": 1, "completed": 1}]),
    ])
    assert [r.subject_id for r in outcome.results] == ["cc-2"]
    assert outcome.rejected_ids == ("cc-1",)
    rendered = "\n\n".join(d.render() for d in outcome.rejected)
    assert rendered.startswith("record cc-1, field inputs.tasks[1].product: error[KR811]: product code `BC-DX`")
    golden("catalogue_errors/KR811.txt", rendered + "\n")


def test_binding_needs_a_catalogue_table(golden: Callable[[str, str], None]) -> None:
    text = 'ruleset t "T" {\n  basis "b"\n  version "1"\n  in_force from 2026-01-01\n  rates p\n}\n'
    with pytest.raises(DiagnosticError) as info:
        bind_catalogue(parse_source(SourceFile("t.kpi", text)), load_catalogue(SAMPLE))
    golden("catalogue_errors/KR812.txt", info.value.render() + "\n")


# --------------------------------------------------------------------------- conversion


def test_conversion_through_the_catalogue_equals_the_inline_table() -> None:
    inline = kpi_rules.load(INDIVIDUAL)
    bound = kpi_rules.load(INDIVIDUAL, catalogue=SAMPLE)
    records = kpi_rules.read_records(EXAMPLES)
    a, b = inline.evaluate_many(records), bound.evaluate_many(records)
    assert [(r.subject_id, r.status, r.total, r.values) for r in a.results] == \
        [(r.subject_id, r.status, r.total, r.values) for r in b.results]
    assert a.rejected_ids == b.rejected_ids == ()
    assert catalogue_reads(bound.plan.ruleset) == (("tasks", "product"),)


def test_products_only_in_the_catalogue_convert() -> None:
    bound = kpi_rules.load(INDIVIDUAL, catalogue=SAMPLE)
    result = bound.evaluate(_record("x", [{"product": "KH", "assigned": 2, "completed": 1},
                                          {"product": "VT-DI", "assigned": 2, "completed": 2}]))
    assert result.values["assigned"] == 2 * 2 + 2 * Fraction(1, 2)
    assert result.values["completed"] == 2 + 1


def test_date_versioned_coefficients_follow_the_record_date() -> None:
    bound = kpi_rules.load(INDIVIDUAL, catalogue=SAMPLE)
    tasks = [{"product": "TD-HS", "assigned": 3, "completed": 3}]
    before = bound.evaluate(_record("q2", tasks, on="2026-06-30"))
    after = bound.evaluate(_record("q3", tasks, on="2026-09-30"))
    assert (before.values["assigned"], after.values["assigned"]) == (6, 12)


def test_coefficient_is_snapshotted_at_assignment() -> None:
    text = read_source(INDIVIDUAL).text.replace(
        'input product : text "Mã sản phẩm trong danh mục"',
        'input assigned_on : date optional "Ngày giao"\n    input product : text "Mã sản phẩm trong danh mục"')
    assert "assigned_on" in text
    bound = kpi_rules.loads(text, str(INDIVIDUAL), catalogue=SAMPLE)
    tasks = [{"product": "TD-HS", "assigned": 1, "completed": 1, "assigned_on": "2026-06-15"},
             {"product": "TD-HS", "assigned": 1, "completed": 1}]
    result = bound.evaluate(_record("q3", tasks, on="2026-09-30"))
    assert result.values["assigned"] == 2 + 4
    # a product retired before the item's assignment day is unknown on that day
    with pytest.raises(DiagnosticError) as info:
        bound.record(_record("q0", [{"product": "TD-HS", "assigned": 1, "completed": 1, "assigned_on": "2025-12-01"}]))
    assert "not in catalogue `sample.vp` on 2025-12-01" in info.value.render()


def test_provenance_covers_the_catalogue() -> None:
    bound = kpi_rules.load(INDIVIDUAL, catalogue=SAMPLE)
    assert bound.content_hash == content_hash([read_source(INDIVIDUAL), SourceFile.read(SAMPLE)])
    assert bound.content_hash != kpi_rules.load(INDIVIDUAL).content_hash
    assert len(bound.plan.provenance.sources) == 2


def test_cli_evaluate_and_check_with_a_catalogue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(INDIVIDUAL), "--catalogue", str(SAMPLE)]) == 0
    assert main(["evaluate", str(INDIVIDUAL), str(EXAMPLES), "--catalogue", str(SAMPLE), "--format", "json"]) == 0
    capsys.readouterr()
    bad = tmp_path / "bad.yaml"
    bad.write_text(CASES["KR805"], encoding="utf-8")
    assert main(["evaluate", str(INDIVIDUAL), str(EXAMPLES), "--catalogue", str(bad)]) == 1
    assert "error[KR805]" in capsys.readouterr().err
