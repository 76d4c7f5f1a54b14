"""``kpi-rules report RULES INPUT --out DIR``: the pages people read and sign, as files.

With one rule file and records (JSON or YAML): one Mẫu 01 monitoring sheet per record
(``DIR/<id>-<period>.html``, with the record's remarks and hand-given scores if it has them)
and ``DIR/index.html``. A rejected record gets no sheet; its diagnostics are returned so the
CLI can print them and exit 1.

With a bundle and a province (``write_province_report``), for one span (default: the last year
if the rule sets combine periods, else the last period):

- a year: per person a Mẫu 02 annual rating sheet (``<id>-<year>.html``) and the Mẫu 01 sheet of
  each period of the year (``<id>-<period>.html``, linked from the Mẫu 02); per unit rated as a
  subject, the explanation of its year and of its periods;
- a period: per person its Mẫu 01 sheet, per unit its explanation;
- one summary per unit (``unit-<id>-<span>.html``), the province summary
  (``province-<span>.html``) and ``index.html`` linking everything.

``markdown=True`` also writes ``.md`` copies of the summaries and of the Mẫu 02 sheets.
Every file is UTF-8.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from kpi_rules.diagnostics import Diagnostic, DiagnosticError
from kpi_rules.engine import load, read_records
from kpi_rules.i18n import catalogue, message
from kpi_rules.models import Explanation
from kpi_rules.progress import Advance
from kpi_rules.records import read_remarks
from kpi_rules.reporting.forms import annual_sheet_html, annual_sheet_markdown
from kpi_rules.reporting.render import SheetInfo, explanation_html, monitoring_sheet_html, sheet_index_html
from kpi_rules.reporting.summary import (
    in_span,
    level_columns,
    province_summary_html,
    province_summary_markdown,
    province_view,
    unit_summary_html,
    unit_summary_markdown,
)

if TYPE_CHECKING:
    from kpi_rules.province import ProvinceResult

__all__ = ["ReportFiles", "explain_period", "safe_name", "sheet_info", "write_province_report", "write_report"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(*parts: str | None) -> str:
    """A file name from ids and periods: only ``[A-Za-z0-9._-]``, never empty or hidden."""
    name = "-".join(_UNSAFE.sub("_", p) for p in parts if p)
    return ("r" + name if not name or name.startswith(".") else name)[:120]


@dataclass
class ReportFiles:
    """What a report wrote, and the records it could not explain."""

    files: list[Path] = field(default_factory=list)
    rejected: list[Diagnostic] = field(default_factory=list)
    #: The province run the pages were made from (``write_province_report`` only).
    outcome: ProvinceResult | None = None


def write_report(rules_path: str, input_path: str, out_dir: str | Path, lang: str = "vi",
                 catalogue: str | None = None, progress: Advance | None = None) -> ReportFiles:
    """Write one monitoring sheet per record of ``input_path`` and an index into ``out_dir``.

    ``progress(n)`` is called as records are done (see :mod:`kpi_rules.progress`)."""
    rules = load(rules_path, catalogue=catalogue)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = ReportFiles()
    entries: list[tuple[str, Explanation]] = []
    used: set[str] = set()
    for raw in read_records(input_path):
        if progress is not None:
            progress(1)
        try:
            # a record that is not a mapping is rejected by explain with a diagnostic
            record = cast(Mapping[str, object], raw)
            expl = rules.explain(record, lang)
            remarks = read_remarks(record, rules.plan.checked)
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
        path.write_text(monitoring_sheet_html(expl, remarks=remarks), encoding="utf-8")
        report.files.append(path)
        entries.append((name, expl))
    index = out / "index.html"
    index.write_text(sheet_index_html(entries, lang), encoding="utf-8")
    report.files.append(index)
    return report


class _Writer:
    """Writes files into one directory and remembers them."""

    def __init__(self, out: Path, report: ReportFiles) -> None:
        self.out, self.report = out, report
        out.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, text: str) -> str:
        path = self.out / name
        path.write_text(text, encoding="utf-8")
        self.report.files.append(path)
        return name


def _role_label(role: str, lang: str) -> str:
    """The role as people say it (``form.role.<role>``), else the bundle's role id."""
    return catalogue(lang).get(f"form.role.{role}", role)


def sheet_info(outcome: ProvinceResult, subject: str, lang: str) -> SheetInfo:
    """Header fields: the agency (the unit's parent, else the province), the unit, the position
    (the person's ``position`` attribute, else their role)."""
    province = outcome.province
    person = province.people.get(subject)
    unit = province.units.get(person.unit if person is not None else subject)
    agency = None
    if unit is not None and unit.parent is not None and unit.parent in province.units:
        agency = province.units[unit.parent].name
    position = person.attributes.get("position") if person is not None else None
    return SheetInfo(agency=agency or (province.name or province.id),
                     unit=unit.name if unit is not None else None,
                     position=position if isinstance(position, str) else
                     (_role_label(person.role, lang) if person else None))


def _level_labels(outcome: ProvinceResult, subject: str, lang: str) -> tuple[str, ...]:
    role = outcome.province.role_of(subject) or ""
    rules = outcome.bundle.rules_for(role)
    rating = rules.plan.checked.ruleset.rating if rules is not None else None
    return tuple(level.label.get(lang) for level in (rating.levels if rating is not None else ()))


def explain_period(outcome: ProvinceResult, subject: str, period: str, lang: str, advice: bool) -> Explanation:
    """``explain_subject`` of one period, by default without the next-level advice: the advice
    evaluates the record again for every input it tries (measured: about 50 ms a sheet against
    4 ms without it, i.e. a minute for the 1,200 quarterly sheets of the synthetic province)."""
    from kpi_rules.evaluator import evaluate_record
    from kpi_rules.explain_plan import explanation_model
    from kpi_rules.province import explain_subject
    from kpi_rules.trace import FullTracer

    if advice:
        return explain_subject(outcome, subject, period, lang)
    record = outcome.records[(subject, period)]
    rules = outcome.bundle.rules_for(outcome.province.role_of(subject) or "")
    assert rules is not None  # a subject with a record has a rule set
    result = evaluate_record(rules.plan, record, FullTracer())
    return explanation_model(result, rules.plan, lang, record=record, advice=False)


def write_province_report(bundle_path: str, province_path: str, out_dir: str | Path, lang: str = "vi",
                          span: str | None = None, markdown: bool = False,
                          period_sheets: bool = True, advice: bool = False,
                          progress: Advance | None = None) -> ReportFiles:
    """A bundle and a province: the sheets of every person and unit rated in ``span``, one summary
    per unit, the province summary and an index (see the module docstring).

    ``period_sheets=False`` skips the Mẫu 01 sheets of the periods of a year (only the year's pages);
    ``advice=True`` adds the next-level advice to the period sheets (much slower, see
    :func:`explain_period`). ``progress(n)`` is called as records are rated, then as subjects'
    pages are written (see :mod:`kpi_rules.progress`).
    """
    from kpi_rules.bundle import load_bundle
    from kpi_rules.org import load_province
    from kpi_rules.province import evaluate_province, explain_subject

    data = load_province(province_path)
    outcome = evaluate_province(load_bundle(bundle_path), data, progress=progress)
    province = outcome.province
    raws = {(r.subject, r.period): r.raw for r in data.records}
    years = sorted({y for _, y in outcome.years})
    chosen = span or (years[-1] if years else (outcome.periods[-1] if outcome.periods else ""))
    combined = any(k[1] == chosen for k in outcome.years)
    periods = [p for p in outcome.periods if p != chosen and in_span(p, chosen)] if combined else [chosen]
    if combined and not period_sheets:
        periods = []
    report = ReportFiles(outcome=outcome)
    report.rejected.extend(d for r in outcome.rejected for d in r.diagnostics)
    files = _Writer(Path(out_dir), report)
    explained: dict[str, tuple[str, Explanation]] = {}
    for subject in outcome.order:
        if progress is not None:
            progress(1)
        person = subject in province.people
        info = sheet_info(outcome, subject, lang)
        links: dict[str, str] = {}
        for period in periods:
            if (subject, period) not in outcome.records:
                continue
            expl = explain_period(outcome, subject, period, lang, advice)
            if person:
                rules = outcome.bundle.rules_for(province.role_of(subject) or "")
                raw = raws.get((subject, period))
                remarks = read_remarks(raw, rules.plan.checked) if rules is not None and raw is not None else None
                page = monitoring_sheet_html(expl, info, remarks=remarks)
            else:
                page = explanation_html(expl)
            links[period] = files.write(safe_name(subject, period) + ".html", page)
            if not combined:
                explained[subject] = (links[period], expl)
        if combined and (subject, chosen) in outcome.years:
            expl = explain_subject(outcome, subject, chosen, lang)
            name = safe_name(subject, chosen)
            if person:
                labels = _level_labels(outcome, subject, lang)
                files.write(name + ".html", annual_sheet_html(expl, info, labels, links))
                if markdown:  # its links point to the HTML sheets beside it
                    files.write(name + ".md", annual_sheet_markdown(expl, info, labels, links))
            else:
                files.write(name + ".html", explanation_html(expl))
            explained[subject] = (name + ".html", expl)
    province_name = "province-" + safe_name(chosen) + ".html"
    levels = level_columns(outcome, lang)
    units = {unit_id: [(explained[s][0], province.role_of(s) or "", explained[s][1])
                       for s in province.members(unit_id) if s in explained]
             for unit_id in province.units}
    unit_pages = {u: "unit-" + safe_name(u, chosen) + ".html" for u, people in units.items() if people}
    view = province_view(outcome, chosen, lang, explained, unit_pages)
    files.write(province_name, province_summary_html(view))
    if markdown:
        files.write(province_name[:-5] + ".md", province_summary_markdown(view))
    for unit_id, page in unit_pages.items():
        args = (unit_id, province.units[unit_id].name or unit_id, chosen, lang, units[unit_id], levels,
                province_name, explained.get(unit_id), view.quota)
        files.write(page, unit_summary_html(*args))
        if markdown:
            files.write(page[:-5] + ".md", unit_summary_markdown(*args))
    extra = {province_name: f"{message('form.province_link', lang)}: {view.province_name}"}
    extra.update({href: province.units[uid].name or uid for uid, href in unit_pages.items()})
    files.write("index.html", sheet_index_html([(n, e) for n, e in explained.values()], lang, extra_links=extra))
    return report
