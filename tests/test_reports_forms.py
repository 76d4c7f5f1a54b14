"""Mẫu 01 with the record's remarks and hand-given scores (KR620-KR623), and the Mẫu 02 sheet."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from kpi_rules.cli import main
from kpi_rules.diagnostics import DiagnosticError
from kpi_rules.engine import load, read_records
from kpi_rules.i18n import catalogue
from kpi_rules.records import Remarks, coerce_record, read_remarks
from kpi_rules.reporting import annual_sheet_html, annual_sheet_markdown, monitoring_sheet_html
from test_reporting import EVIL, parse_strict

ROOT = Path(__file__).resolve().parent.parent
RULES = str(ROOT / "criteria" / "nd335" / "individual.kpi")
RECORDS = ROOT / "examples" / "nd335_individual.json"


@pytest.fixture(scope="module")
def rules() -> Any:
    return load(RULES)


def _record(**extra: object) -> dict[str, object]:
    raw = dict(read_records(RECORDS)[0])  # type: ignore[arg-type]
    raw.update(extra)
    return raw


def _codes(error: DiagnosticError) -> list[tuple[str, str | None]]:
    return sorted((d.code, d.where) for d in error.diagnostics)


def test_remarks_and_scores_are_read_exactly(rules: Any) -> None:
    raw = _record(remarks={"strengths": "  Chủ động  ", "comments": None},
                  self_scores={"i1": 4.5, "iii1": 7.25, "total": 90},
                  superior_scores={"ii1": 2.5})
    remarks = read_remarks(raw, rules.plan.checked)
    assert remarks.strengths == "Chủ động" and remarks.shortcomings is None and remarks.comments is None
    assert remarks.self_scores == {"i1": Fraction(9, 2), "iii1": Fraction(29, 4), "total": Fraction(90)}
    assert remarks.superior_scores == {"ii1": Fraction(5, 2)}
    assert not remarks.empty and Remarks().empty
    coerce_record(raw, rules.plan.checked)  # accepted: the rules never read these fields


@pytest.mark.parametrize(("extra", "expected"), [
    ({"remarks": "tốt"}, [("KR620", "record cc-001, field remarks")]),
    ({"remarks": {"strenghts": "x", "comments": 5}},
     [("KR620", "record cc-001, field remarks.comments"), ("KR620", "record cc-001, field remarks.strenghts")]),
    ({"remarks": {"comments": "x" * 4001}}, [("KR620", "record cc-001, field remarks.comments")]),
    ({"self_scores": [1]}, [("KR621", "record cc-001, field self_scores")]),
    ({"superior_scores": {"i1": "5"}}, [("KR621", "record cc-001, field superior_scores.i1")]),
    ({"self_scores": {"i3": 1}}, [("KR622", "record cc-001, field self_scores.i3")]),
    ({"self_scores": {"i1": 5.5, "ii1": -1}},
     [("KR623", "record cc-001, field self_scores.i1"), ("KR623", "record cc-001, field self_scores.ii1")]),
])
def test_bad_form_fields_reject_the_record(rules: Any, extra: dict[str, object],
                                           expected: list[tuple[str, str]]) -> None:
    raw = _record(**extra)
    with pytest.raises(DiagnosticError) as caught:
        coerce_record(raw, rules.plan.checked)
    assert _codes(caught.value) == expected
    with pytest.raises(DiagnosticError):
        read_remarks(raw, rules.plan.checked)


def test_score_at_the_maximum_is_accepted(rules: Any) -> None:
    remarks = read_remarks(_record(self_scores={"i1": 5, "ii1": 0}), rules.plan.checked)
    assert remarks.self_scores == {"i1": 5, "ii1": 0}


def _hand_cells(html: str, criterion: str) -> tuple[str, str, str]:
    row = re.search(rf'<tr [^>]*data-criterion="{criterion}">(.*?)</tr>', html)
    assert row is not None, criterion
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))
    return cells[3], cells[4], cells[5]


def test_sheet_shows_hand_scores_beside_the_engine_score(rules: Any) -> None:
    raw = _record(self_scores={"i1": 4.5}, superior_scores={"i1": 4, "total": 88.5})
    expl = rules.explain(raw)
    html = monitoring_sheet_html(expl, remarks=read_remarks(raw, rules.plan.checked))
    parse_strict(html)
    i1 = next(n for n in expl.criteria.children[0].children[0].children if n.id == "i1")
    assert _hand_cells(html, "i1") == ("4.5", "4", i1.points.display)
    assert _hand_cells(html, "total")[:2] == ("", "88.5")
    assert _hand_cells(html, "ii1")[:2] == ("", "")  # not given: a blank cell to fill by hand
    for key in ("form.self_score", "form.superior_score", "form.engine_score"):
        assert catalogue("vi")[key] in html


def test_sheet_items_4_to_6_show_remarks_or_ruled_lines(rules: Any) -> None:
    raw = _record(remarks={"strengths": EVIL, "shortcomings": "Chậm tiến độ 2 việc"})
    expl = rules.explain(raw)
    html = monitoring_sheet_html(expl, remarks=read_remarks(raw, rules.plan.checked))
    parser = parse_strict(html)
    assert "<script>" not in html and EVIL in "".join(parser.text)
    items = re.findall(r'<li class="remark">(.*?)</li>', html, re.S)
    assert len(items) == 3
    assert catalogue("vi")["form.strengths"] in items[0] and 'class="written"' in items[0]
    assert "Chậm tiến độ 2 việc" in items[1]
    assert catalogue("vi")["form.comments"] in items[2] and items[2].count('class="fill"') == 3
    blank = monitoring_sheet_html(expl)
    assert blank.count('<div class="fill">') == 9 and 'class="written"' not in blank


def test_cli_report_prints_remarks_and_rejects_bad_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = json.loads(RECORDS.read_text(encoding="utf-8"))["records"][0]
    good = dict(first, remarks={"comments": "Đề nghị khen thưởng"}, self_scores={"i2": 5})
    bad = dict(first, self_scores={"nope": 1}, id="cc-bad")
    path = tmp_path / "records.json"
    path.write_text(json.dumps({"records": [good, bad]}, ensure_ascii=False), encoding="utf-8")
    assert main(["report", RULES, str(path), "--out", str(tmp_path / "out")]) == 1
    assert "KR622" in capsys.readouterr().err
    html = (tmp_path / "out" / "cc-001-2026-Q1.html").read_text(encoding="utf-8")
    assert "Đề nghị khen thưởng" in html and _hand_cells(html, "i2")[0] == "5"
    assert not (tmp_path / "out" / "cc-bad-2026-Q1.html").exists()


# --------------------------------------------------------------------------- Mẫu 02 (one sheet)


@pytest.fixture(scope="module")
def small_year() -> Any:
    from kpi_rules.bundle import load_bundle
    from kpi_rules.org import load_province
    from kpi_rules.province import evaluate_province

    return evaluate_province(load_bundle(str(ROOT / "criteria" / "nd335" / "bundle.yaml")),
                             load_province(str(ROOT / "examples" / "province_small" / "province.yaml")))


def test_annual_sheet_lists_periods_score_level_and_quota(small_year: Any) -> None:
    from kpi_rules.province import explain_subject
    from kpi_rules.reporting.writer import sheet_info

    expl = explain_subject(small_year, "p06", "2026")
    result = small_year.years[("p06", "2026")]
    labels = ("Xuất sắc", "Tốt", "Hoàn thành", "Không hoàn thành")
    html = annual_sheet_html(expl, sheet_info(small_year, "p06", "vi"), labels, {"2026-Q1": "p06-2026-Q1.html"})
    parse_strict(html)
    assert catalogue("vi")["form.annual_title"] in html and "@page { size: A4;" in html
    assert '<a href="p06-2026-Q1.html">2026-Q1</a>' in html and 'href="p06-2026-Q2.html"' not in html
    assert html.count("☐") == 2 * len(labels)  # self-rating and the authority's decision
    exact = re.search(r'<strong data-exact="([^"]+)">', html)
    assert exact is not None and Fraction(exact.group(1)) == result.total
    level = re.search(r'data-level="([^"]+)"', html)
    assert level is not None and level.group(1) == result.level
    decided = result.decision.cohort
    assert decided is not None and decided.demoted  # p06 loses "excellent" to the quota in the small province
    assert catalogue("vi")["report.demoted"] in html and "Điều 20 khoản 5" in html
    assert f"xếp thứ {decided.rank}" in html and f"{decided.allowed} trong số {decided.eligible}" in html
    for p in expl.periods.periods:
        assert f'data-period="{p.period}"' in html
    md = annual_sheet_markdown(expl, sheet_info(small_year, "p06", "vi"), labels)
    assert catalogue("vi")["form.section_handling"] in md and md.count("☐") == 2 * len(labels)
    assert "p06-2026-Q1.html" not in md


def test_annual_sheet_escapes_names(small_year: Any) -> None:
    from kpi_rules.province import explain_subject
    from kpi_rules.reporting import SheetInfo
    from kpi_rules.models import SubjectInfo

    expl = explain_subject(small_year, "p07", "2026")
    expl = expl.model_copy(update={"subject": SubjectInfo(id="p07", name=EVIL, period="2026")})
    info = SheetInfo(agency=EVIL, unit="Phòng <b>A</b> & B", position=None)
    html = annual_sheet_html(expl, info, ("<i>x</i>",))
    parser = parse_strict(html)
    assert "<script>" not in html and "<b>" not in html and "<i>" not in html
    assert EVIL in "".join(parser.text) and "Phòng <b>A</b> & B" in "".join(parser.text)
    md = annual_sheet_markdown(expl, info, ("<i>x</i>",))
    assert "<script>" not in md and "<b>" not in md and "&lt;script&gt;" in md


def test_province_records_carry_remarks_to_their_sheets(tmp_path: Path) -> None:
    """A province record may carry items 4-6 and hand scores; its Mẫu 01 in the report shows them,
    escaped, and a bad shape rejects that record only (KR620, naming it)."""
    import json

    from kpi_rules.org import load_province
    from kpi_rules.reporting.writer import write_province_report
    from kpi_rules.safe_yaml import load_safe_yaml

    root = Path(__file__).resolve().parent.parent
    data = load_safe_yaml((root / "examples" / "province_small" / "province.yaml").read_text(encoding="utf-8"))
    first = next(r for r in data["records"] if r["subject"] == "p06" and r["period"] == "2026-Q1")
    first["remarks"] = {"strengths": "Chủ động <b>& tận tâm</b>"}
    bad = next(r for r in data["records"] if r["subject"] != "p06" and r["period"] == "2026-Q1")
    bad["remarks"] = "tốt"
    path = tmp_path / "province.json"
    path.write_text(json.dumps(data, ensure_ascii=False, default=str), encoding="utf-8")
    assert load_province(path).rejected == ()  # the province reader passes them on to the rules

    report = write_province_report(str(root / "criteria" / "nd335" / "bundle.yaml"), str(path),
                                   tmp_path / "out", span="2026-Q1")
    sheet = (tmp_path / "out" / "p06-2026-Q1.html").read_text(encoding="utf-8")
    assert "Chủ động &lt;b&gt;&amp; tận tâm&lt;/b&gt;" in sheet and "<b>&" not in sheet
    codes = [(d.code, d.where) for d in report.rejected if d.code == "KR620"]
    assert codes and all(where is not None and f"record {bad['subject']}" in where for _, where in codes)
    assert not (tmp_path / "out" / f"{bad['subject']}-2026-Q1.html").exists()
