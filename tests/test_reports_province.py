"""The province report: goldens from the synthetic province, every page well formed and escaped,
and every number on the unit and province pages read back and compared with ``ProvinceResult``."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from kpi_rules.cli import main
from kpi_rules.i18n import catalogue
from kpi_rules.province import ProvinceResult
from kpi_rules.reporting import monitoring_sheet_html
from kpi_rules.safe_yaml import load_safe_yaml
from kpi_rules.reporting.writer import ReportFiles, explain_period, sheet_info, write_province_report
from test_reporting import EVIL, parse_strict

ROOT = Path(__file__).resolve().parent.parent
BIG_BUNDLE = str(ROOT / "examples" / "province" / "bundle.yaml")
BIG = str(ROOT / "examples" / "province" / "province.json")
SMALL_BUNDLE = str(ROOT / "criteria" / "nd335" / "bundle.yaml")
SMALL = ROOT / "examples" / "province_small" / "province.yaml"
#: Representative pages of the synthetic province: a unit whose staff lost "excellent" to the
#: quota, a deputy demoted by the leaders' quota (Mẫu 02), and one of their quarters (Mẫu 01).
GOLDEN_UNIT = "unit-kbang.vp-2026"
GOLDEN_PERSON = "p244"


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ReportFiles]:
    out = tmp_path_factory.mktemp("big")
    return out, write_province_report(BIG_BUNDLE, BIG, out, markdown=True, period_sheets=False)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("small")
    assert main(["report", SMALL_BUNDLE, str(SMALL), "--out", str(out), "--markdown", "--quiet"]) == 1
    return out


def _outcome(report: ReportFiles) -> ProvinceResult:
    assert isinstance(report.outcome, ProvinceResult)
    return report.outcome


# --------------------------------------------------------------------------- goldens


@pytest.mark.parametrize("name", [f"{GOLDEN_UNIT}.html", f"{GOLDEN_UNIT}.md", "province-2026.html",
                                  "province-2026.md", f"{GOLDEN_PERSON}-2026.html", f"{GOLDEN_PERSON}-2026.md"])
def test_province_goldens(name: str, big: tuple[Path, ReportFiles], golden: Callable[[str, str], None]) -> None:
    golden(f"reports/{name}", (big[0] / name).read_text(encoding="utf-8"))


def test_monitoring_sheet_golden(big: tuple[Path, ReportFiles], golden: Callable[[str, str], None]) -> None:
    outcome = _outcome(big[1])
    expl = explain_period(outcome, GOLDEN_PERSON, "2026-Q1", "vi", advice=False)  # as the writer makes it
    golden(f"reports/{GOLDEN_PERSON}-2026-Q1.html", monitoring_sheet_html(expl, sheet_info(outcome, GOLDEN_PERSON, "vi")))


# --------------------------------------------------------------------------- every page


def _pages(out: Path) -> Iterator[Path]:
    yield from sorted(out.glob("*.html"))


@pytest.mark.parametrize("which", ["big", "small"])
def test_every_page_is_well_formed_utf8_a4(which: str, request: pytest.FixtureRequest) -> None:
    value = request.getfixturevalue(which)
    out = value[0] if isinstance(value, tuple) else value
    pages = list(_pages(out))
    assert len(pages) > 30
    for page in pages:
        html = page.read_bytes().decode("utf-8")  # strict: fails on anything not UTF-8
        assert html.startswith("<!DOCTYPE html>\n") and '<meta charset="utf-8">' in html, page.name
        assert "@page { size: A4;" in html and "break-inside: avoid" in html, page.name
        parse_strict(html)
        for href in re.findall(r'href="([^"]+)"', html):
            assert (out / href).is_file(), f"{page.name} links to missing {href}"


def test_small_province_writes_every_page_kind(small: Path) -> None:
    t = catalogue("vi")
    names = {p.name for p in small.iterdir()}
    assert {"index.html", "province-2026.html", "province-2026.md", "unit-snv.tccb-2026.html",
            "unit-snv.tccb-2026.md", "p06-2026.html", "p06-2026.md", "p06-2026-Q1.html", "p06-2026-Q2.html",
            "snv-2026.html", "snv-2026-Q1.html"} <= names
    assert "p07-2026-Q2.html" not in names  # the rejected record has no sheet
    assert t["form.annual_title"] in (small / "p06-2026.html").read_text(encoding="utf-8")
    assert t["report.sheet_title"] in (small / "p06-2026-Q2.html").read_text(encoding="utf-8")
    assert t["report.explanation_title"] in (small / "snv-2026.html").read_text(encoding="utf-8")
    index = (small / "index.html").read_text(encoding="utf-8")
    assert 'href="province-2026.html"' in index and 'href="unit-snv.ccvc-2026.html"' in index
    # Vietnamese diacritics, as UTF-8 bytes, on the new pages
    assert "Bùi Đức Thắng".encode() in (small / "province-2026.html").read_bytes()
    assert "Phòng Công chức, viên chức".encode() in (small / "p10-2026.html").read_bytes()


def test_small_province_page_lists_the_rejected_record(small: Path) -> None:
    html = (small / "province-2026.html").read_text(encoding="utf-8")
    rows = re.findall(r'<tr data-subject="p07"><td>p07</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>', html)
    assert rows == [("Ksor H&#39;Bia", "2026-Q2", "KR503")]


def test_period_span_writes_monitoring_sheets_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", SMALL_BUNDLE, str(SMALL), "--out", str(tmp_path), "--period", "2026-Q1", "--quiet"]) == 1
    names = {p.name for p in tmp_path.iterdir()}
    assert {"p06-2026-Q1.html", "province-2026-Q1.html", "unit-snv.tccb-2026-Q1.html"} <= names
    assert "p06-2026.html" not in names and not any(n.endswith(".md") for n in names)
    html = (tmp_path / "province-2026-Q1.html").read_text(encoding="utf-8")
    assert catalogue("vi")["form.none"] in html  # no record of Q1 was rejected


# --------------------------------------------------------------------------- numbers read back


class _Cells(HTMLParser):
    """Collects (attributes of the cell, text of the cell) for every td with a data- attribute,
    grouped by the data- attributes of its row."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[tuple[dict[str, str], list[tuple[dict[str, str], str]]]] = []
        self.cell: dict[str, str] | None = None
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "tr":
            self.rows.append((found, []))
        elif tag == "td":
            self.cell, self.text = found, ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self.cell is not None and self.rows:
            self.rows[-1][1].append((self.cell, self.text.strip()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.text += data


def _cells(html: str) -> _Cells:
    parser = _Cells()
    parser.feed(html)
    return parser


def _check_score(cell: dict[str, str], text: str, total: Fraction | None) -> None:
    assert total is not None
    assert Fraction(cell["data-exact"]) == total  # exact, as evaluated
    assert abs(Fraction(Decimal(text)) - total) <= Fraction(1, 200)  # the display rounds it to 2 places


def _root(outcome: ProvinceResult, unit: str) -> str:
    while outcome.province.units[unit].parent is not None:
        unit = str(outcome.province.units[unit].parent)
    return unit


def test_unit_pages_print_the_evaluated_numbers(big: tuple[Path, ReportFiles]) -> None:
    out, report = big
    outcome = _outcome(report)
    checked = quota_groups = 0
    for unit_id in outcome.province.units:
        page = out / f"unit-{unit_id}-2026.html"
        html = page.read_text(encoding="utf-8")
        members = [s for s in (unit_id, *outcome.province.members(unit_id)) if (s, "2026") in outcome.years]
        parsed = _cells(html)
        seen = []
        for attrs, cells in parsed.rows:
            if "data-subject" not in attrs or not any("data-level" in c for c, _ in cells):
                continue
            subject = attrs["data-subject"]
            result = outcome.years[(subject, "2026")]
            score = next((c, text) for c, text in cells if "data-exact" in c)
            _check_score(*score, result.total)
            assert next(c for c, _ in cells if "data-level" in c)["data-level"] == (result.level or result.status)
            seen.append(subject)
            checked += 1
        assert seen == members
        counts = {text: int(c["data-count"]) for c, text in
                  [(cells[1][0], cells[0][1]) for attrs, cells in parsed.rows if len(cells) == 2
                   and "data-count" in cells[1][0]]}
        plan_levels = {}
        for s in members:
            rules = outcome.bundle.rules_for(outcome.province.role_of(s) or "")
            assert rules is not None and rules.plan.checked.ruleset.rating is not None
            plan_levels.update({lv.name: lv.label.vi for lv in rules.plan.checked.ruleset.rating.levels})
        people = members[1:]  # the counts are of the people; the unit's own rating is shown apart
        expected = Counter(plan_levels[outcome.years[(s, "2026")].level or ""] for s in people)
        assert {k: v for k, v in counts.items() if v} == dict(expected)
        assert sum(counts.values()) == len(people)
        # the quota groups its members belong to, with the counts of the whole group
        reports = {", ".join(f"{k} = {v}" for k, v in r.group): r for r in outcome.quota_reports}
        for group, *numbers in re.findall(r'<p data-group="([^"]+)">.*?data-eligible="(\d+)".*?data-allowed="(\d+)"'
                                          r'.*?data-kept="(\d+)".*?data-demoted="(\d+)"', html):
            r: Any = reports[group]
            assert [int(n) for n in numbers] == [r.eligible, r.allowed, len(r.kept), len(r.demoted)]
            quota_groups += 1
    assert checked == len(outcome.years)  # every person and unit, each on the page of its unit
    assert quota_groups >= sum(1 for r in outcome.quota_reports if r.kept or r.demoted)


def test_province_page_prints_the_evaluated_numbers(big: tuple[Path, ReportFiles]) -> None:
    out, report = big
    outcome = _outcome(report)
    parsed = _cells((out / "province-2026.html").read_text(encoding="utf-8"))
    # counts per agency and for the province
    expected: dict[str, Counter[str]] = {}
    for pid, person in outcome.province.people.items():
        result = outcome.years.get((pid, "2026"))
        key = "no_result" if result is None else (result.level or result.status)
        for bucket in (_root(outcome, person.unit), outcome.province.id):
            expected.setdefault(bucket, Counter())[key] += 1
    printed: dict[str, dict[str, int]] = {}
    for attrs, cells in parsed.rows:
        if "data-agency" in attrs:
            printed[attrs["data-agency"]] = {c["data-key"]: int(text) for c, text in cells if "data-key" in c}
    assert set(printed) == set(expected)
    for agency, row in printed.items():
        assert row.pop("total") == sum(expected[agency].values())
        assert {k: v for k, v in row.items() if v} == dict(expected[agency])
    # organisations: each unit's year result
    units = [(a["data-subject"], cells) for a, cells in parsed.rows
             if a.get("data-subject") in outcome.province.units and any("data-level" in c for c, _ in cells)]
    assert [u for u, _ in units] == list(outcome.province.units)
    for unit_id, cells in units:
        result = outcome.years[(unit_id, "2026")]
        _check_score(*next((c, t) for c, t in cells if "data-exact" in c), result.total)
        assert next(c for c, _ in cells if "data-level" in c)["data-level"] == result.level
    # the quota per group, against what the cohort stage reported
    reports = {", ".join(f"{k} = {v}" for k, v in r.group): r for r in outcome.quota_reports}
    groups = [(a["data-group"], {c["data-key"]: int(t) for c, t in cells if "data-key" in c})
              for a, cells in parsed.rows if "data-group" in a]
    assert groups, "the synthetic province applies the quota somewhere"
    assert {g for g, _ in groups} == {g for g, r in reports.items() if r.kept or r.demoted}
    for group, numbers in groups:
        r = reports[group]
        assert numbers == {"eligible": r.eligible, "allowed": r.allowed, "kept": len(r.kept), "demoted": len(r.demoted)}


# --------------------------------------------------------------------------- escaping


def test_names_with_markup_are_escaped_on_every_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data: Any = load_safe_yaml(SMALL.read_text(encoding="utf-8"))
    for person in data["people"]:
        if person["id"] == "p06":
            person["name"] = EVIL
    for unit in data["units"]:
        if unit["id"] == "snv.tccb":
            unit["name"] = "Phòng <b>TCCB</b> & " + EVIL
    for record in data["records"]:  # a record's own name wins over the person's
        record.pop("name", None)
    evil = tmp_path / "evil.json"
    evil.write_text(json.dumps(data, ensure_ascii=False, default=str), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["report", SMALL_BUNDLE, str(evil), "--out", str(out), "--markdown", "--quiet"]) == 1
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;Nguyễn&#34;"
    showing = {"p06-2026.html", "p06-2026-Q1.html", "unit-snv.tccb-2026.html", "province-2026.html",
               "index.html"}
    assert showing <= {p.name for p in out.iterdir()}
    for page in sorted(out.iterdir()):
        text = page.read_text(encoding="utf-8")
        assert "<script>" not in text and "<b>" not in text, page.name
        if page.suffix == ".html":
            parse_strict(text)
        if page.name in showing:
            assert escaped in text, page.name
    assert "&lt;b&gt;TCCB&lt;/b&gt; &amp;" in (out / "unit-snv.tccb-2026.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;" in (out / "p06-2026.md").read_text(encoding="utf-8")
    assert "&lt;script&gt;" in (out / "unit-snv.tccb-2026.md").read_text(encoding="utf-8")


def test_pages_follow_the_language(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", SMALL_BUNDLE, str(SMALL), "--out", str(tmp_path), "--lang", "en", "--quiet"]) == 1
    en, vi = catalogue("en"), catalogue("vi")
    pages = {
        "province-2026.html": ("form.province_title", "form.by_agency", "form.quota_groups", "form.rejected"),
        "unit-snv.tccb-2026.html": ("report.unit_summary", "form.quota_groups"),
        "p06-2026.html": ("form.annual_title", "form.section_handling", "form.nation"),
        "p06-2026-Q1.html": ("report.sheet_title", "form.self_score", "form.strengths"),
    }
    for name, keys in pages.items():
        html = (tmp_path / name).read_text(encoding="utf-8")
        assert '<html lang="en">' in html, name
        for key in keys:
            assert en[key] in html and vi[key] not in html, (name, key)
    assert en["form.role.staff"] in (tmp_path / "p06-2026.html").read_text(encoding="utf-8")


def test_insufficient_data_is_counted_and_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data: Any = load_safe_yaml(SMALL.read_text(encoding="utf-8"))
    for record in data["records"]:
        if record["subject"] == "p11":  # no task assigned in any quarter: the year cannot be rated
            record["inputs"]["tasks"] = []
    path = tmp_path / "province.json"
    path.write_text(json.dumps(data, ensure_ascii=False, default=str), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["report", SMALL_BUNDLE, str(path), "--out", str(out), "--quiet"]) == 1
    html = (out / "province-2026.html").read_text(encoding="utf-8")
    listed = re.findall(r'<tr data-subject="([^"]+)"><td><a href="([^"]+)">', html.split('class="insufficient"')[1])
    assert listed == [("p11", "p11-2026.html")]
    cells = {a.get("data-agency"): {c["data-key"]: int(t) for c, t in row if "data-key" in c}
             for a, row in _cells(html).rows if "data-agency" in a}
    assert cells["snv"]["insufficient_data"] == cells["gl-small"]["insufficient_data"] == 1
    unit = (out / "unit-snv.ccvc-2026.html").read_text(encoding="utf-8")
    assert f'<td>{catalogue("vi")["status.insufficient_data"]}</td><td class="num" data-count="1">' in unit
    assert 'data-level="insufficient_data"' in unit
