"""``kpi-rules report RULES INPUT --out DIR``: one Mẫu 01 monitoring sheet per record, and an index.

Input: a rule file and records (JSON or YAML). Output: ``DIR/<id>-<period>.html`` for every
record that could be explained and ``DIR/index.html`` linking them, all UTF-8. A rejected record
gets no sheet; its diagnostics are returned so the CLI can print them and exit 1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from kpi_rules.diagnostics import Diagnostic, DiagnosticError
from kpi_rules.engine import load, read_records
from kpi_rules.models import Explanation
from kpi_rules.reporting.render import SheetInfo, monitoring_sheet_html, sheet_index_html, unit_summary_html

__all__ = ["ReportFiles", "safe_name", "write_province_report", "write_report"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(*parts: str | None) -> str:
    """A file name from ids and periods: only ``[A-Za-z0-9._-]``, never empty or hidden."""
    name = "-".join(_UNSAFE.sub("_", p) for p in parts if p)
    return ("r" + name if not name or name.startswith(".") else name)[:120]


@dataclass
class ReportFiles:
    """What :func:`write_report` wrote, and the records it could not explain."""

    files: list[Path] = field(default_factory=list)
    rejected: list[Diagnostic] = field(default_factory=list)


def write_report(rules_path: str, input_path: str, out_dir: str | Path, lang: str = "vi",
                 catalogue: str | None = None) -> ReportFiles:
    """Write one monitoring sheet per record of ``input_path`` and an index into ``out_dir``."""
    rules = load(rules_path, catalogue=catalogue)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = ReportFiles()
    entries: list[tuple[str, Explanation]] = []
    used: set[str] = set()
    for raw in read_records(input_path):
        try:
            # a record that is not a mapping is rejected by explain with a diagnostic
            expl = rules.explain(cast(Mapping[str, object], raw), lang)
        except DiagnosticError as error:
            report.rejected.extend(error.diagnostics)
            continue
        base = safe_name(expl.subject.id, expl.subject.period)
        name, n = base + ".html", 1
        while name in used or name == "index.html":
            n += 1
            name = f"{base}-{n}.html"
        used.add(name)
        path = out / name
        path.write_text(monitoring_sheet_html(expl), encoding="utf-8")
        report.files.append(path)
        entries.append((name, expl))
    index = out / "index.html"
    index.write_text(sheet_index_html(entries, lang), encoding="utf-8")
    report.files.append(index)
    return report


def write_province_report(bundle_path: str, province_path: str, out_dir: str | Path, lang: str = "vi",
                          span: str | None = None) -> ReportFiles:
    """A bundle and a province: one sheet per person and unit rated in ``span`` (default: the
    last year if the rule sets combine periods, else the last period), one summary per unit
    (counts per level, the quota decisions, every member's score), and an index."""
    from kpi_rules.bundle import load_bundle
    from kpi_rules.org import load_province
    from kpi_rules.province import evaluate_province, explain_subject

    outcome = evaluate_province(load_bundle(bundle_path), load_province(province_path))
    province = outcome.province
    years = sorted({y for _, y in outcome.years})
    chosen = span or (years[-1] if years else (outcome.periods[-1] if outcome.periods else ""))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = ReportFiles()
    report.rejected.extend(d for r in outcome.rejected for d in r.diagnostics)
    explained: dict[str, tuple[str, Explanation]] = {}
    for subject in outcome.order:
        if (subject, chosen) not in outcome.results and (subject, chosen) not in outcome.years:
            continue
        try:
            expl = explain_subject(outcome, subject, chosen, lang)
        except KeyError:
            continue
        person = province.people.get(subject)
        unit_id = person.unit if person is not None else subject
        unit = province.units.get(unit_id)
        agency = None
        if unit is not None and unit.parent is not None and unit.parent in province.units:
            agency = province.units[unit.parent].name
        info = SheetInfo(agency=agency or (province.name or province.id),
                         unit=unit.name if unit is not None else None,
                         position=person.role if person is not None else None)
        name = safe_name(subject, chosen) + ".html"
        path = out / name
        path.write_text(monitoring_sheet_html(expl, info), encoding="utf-8")
        report.files.append(path)
        explained[subject] = (name, expl)
    units: dict[str, str] = {}
    for unit_id, unit in province.units.items():
        people = [(explained[s][0], province.role_of(s) or "", explained[s][1])
                  for s in province.members(unit_id) if s in explained]
        if not people:
            continue
        name = "unit-" + safe_name(unit_id, chosen) + ".html"
        path = out / name
        path.write_text(unit_summary_html(unit_id, unit.name or unit_id, chosen, lang, people), encoding="utf-8")
        report.files.append(path)
        units[name] = unit.name or unit_id
    index = out / "index.html"
    index.write_text(sheet_index_html([(n, e) for n, e in explained.values()], lang, extra_links=units),
                     encoding="utf-8")
    report.files.append(index)
    return report
