"""Year lines written from the year columns (kpi_rules/year_lines.py) are ``explanation_json``'s bytes.

Every year of generated provinces (the generators of tests/test_year_columns.py: leave, quarters
with nothing assigned, years with no rated quarter, disqualifiers, overrides, ties and demotions
at the quota's cut, the 25% exception; the Customs variant's ``rating_count`` and conditions; a
variant monitored by month) is written by ``write_year_lines`` in blocks from the columns and
compared, byte for byte and in both languages, with ``explanation_json`` of the built ``Result``;
also cut into row ranges, as the workers' pieces cut them.
"""

from __future__ import annotations

import copy
import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

pytest.importorskip("pyarrow")

from test_year_columns import _ND335, _customs_bundle, _fixed, provinces  # noqa: E402

from kpi_rules import year_lines  # noqa: E402
from kpi_rules.bundle import Bundle, load_bundle  # noqa: E402
from kpi_rules.explain_plan import explanation_json  # noqa: E402
from kpi_rules.province_batch import TablesRun, evaluate_province_tables  # noqa: E402
from kpi_rules.province_explain import _year_rows, write_year_lines  # noqa: E402
from kpi_rules.province_tables import load_province_tables, write_province_tables  # noqa: E402

from plan_helpers import ROOT  # noqa: E402


def _run(bundle: Bundle, data: dict[str, Any], folder: Path, lang: str, explain: bool = False) -> TablesRun:
    write_province_tables(copy.deepcopy(data), folder, "parquet")
    return evaluate_province_tables(bundle, load_province_tables(folder), chunk_size=7, lang=lang, explain=explain)


def _check(bundle: Bundle, data: dict[str, Any], folder: Path) -> dict[str, int]:
    """Both languages, the whole and in ranges of rows; returns what was seen."""
    seen = {"years": 0, "columns": 0, "demoted": 0, "kept": 0, "empty": 0}
    for lang in ("vi", "en"):
        run = _run(bundle, data, folder / lang, lang)
        outcome = run.outcome
        rows = _year_rows(outcome)
        assert rows is not None, "the years of the run are columnar rows"
        plans = {role: rr.rules.plan for role, rr in bundle.roles.items()}
        cache: year_lines.YearLineCache = {}
        out = io.BytesIO()
        count = write_year_lines(out, outcome, plans, lang, cache=cache)
        # written before any expected line is built: the slow rows build their own
        expected = [explanation_json(result, plans[outcome.province.role_of(subject) or ""], lang,
                                     advice=False).encode() for (subject, _), result in outcome.years.items()]
        got = out.getvalue().split(b"\n")
        assert got.pop() == b""
        assert count == len(expected) == len(got)
        for key, a, b in zip(outcome.years, got, expected):
            assert a == b, key
        # in ranges of rows, as explanation_pieces cuts them (fresh writers, shared ones)
        for step in (1, 3, 8):
            parts = io.BytesIO()
            shared: year_lines.YearLineCache = {}
            for start in range(0, len(rows), step):
                write_year_lines(parts, outcome, plans, lang, rows=(start, min(len(rows), start + step)),
                                 cache=shared if step != 3 else None)
            assert parts.getvalue() == out.getvalue()
        seen["years"] += count
        seen["columns"] += sum(w.filled for w in cache.values())
        seen["empty"] += sum(w.empty_rows for w in cache.values())
        for result in outcome.years.values():
            cohort = result.decision.cohort if result.decision is not None else None
            if cohort is not None:
                seen["demoted" if cohort.demoted else "kept"] += 1
    return seen


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=provinces())
def test_generated_provinces(data: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> None:
    _check(_ND335, data, tmp_path_factory.mktemp("lines"))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=provinces(customs=True))
def test_rating_count_and_conditions_of_the_customs_variant(data: dict[str, Any],
                                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("customs")
    _check(_customs_bundle(folder), data, folder / "tables")


def test_a_fixed_province_demotes_and_the_lines_come_from_the_columns(tmp_path: Path) -> None:
    """Ties at the cut, the 25% exception, an override (a slow year), leave, a quarter with
    nothing assigned: most lines filled from the columns, demoted and kept ones among them."""
    seen = _check(_ND335, _fixed(), tmp_path)
    assert seen["demoted"] and seen["kept"]
    assert seen["columns"] >= seen["years"] - 2 * 3 * 2  # a template's first row is also built


def test_years_with_no_rated_period(tmp_path: Path) -> None:
    data = _fixed()
    data["records"] = [r for r in data["records"] if not (r["subject"] in {"p005", "p006"} and r["period"] != "2026-Q2")]
    for r in data["records"]:
        if r["subject"] in {"p005", "p006"}:
            r["inputs"]["tasks"] = []  # nothing assigned: insufficient data
    seen = _check(_ND335, data, tmp_path)
    assert seen["empty"] >= 2  # (the first of its kind is built, the others reuse its line)


def _monthly_bundle(folder: Path) -> Bundle:
    """nd335 with every role monitored by month (half-years cannot be monitored: KR322)."""
    target = folder / "nd335"
    shutil.copytree(ROOT / "criteria" / "nd335", target)
    for path in target.glob("*.kpi"):
        path.write_text(path.read_text(encoding="utf-8").replace("monitor quarter", "monitor month"),
                        encoding="utf-8")
    return load_bundle(target / "bundle.yaml")


def test_monthly_periods(tmp_path: Path) -> None:
    """Twelve periods to a year, most not worked."""
    data = _fixed()
    months = {"2026-Q1": "2026-02", "2026-Q2": "2026-05", "2026-Q3": "2026-07", "2026-Q4": "2026-12"}
    data["records"] = [{**r, "period": months[r["period"]]} for r in data["records"]]
    seen = _check(_monthly_bundle(tmp_path), data, tmp_path / "tables")
    assert seen["columns"] > seen["years"] // 2


def test_a_line_that_differs_from_the_slow_way_sends_the_table_the_slow_way(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first row of a shape is also written the slow way: a wrong format (here: every one)
    is caught there, and that row and every later one of its table are written the slow way."""
    shape = year_lines._TableLines.shape
    monkeypatch.setattr(year_lines._TableLines, "shape",
                        lambda self, *args: shape(self, *args).replace(b'"used":true', b'"used":1'))
    seen = _check(_ND335, _fixed(), tmp_path)
    assert seen["years"] and not seen["columns"]


def test_a_decision_without_a_template_is_written_the_slow_way(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(year_lines, "_split", lambda text, total: None)
    seen = _check(_ND335, _fixed(), tmp_path)
    assert seen["years"] and not seen["columns"]
