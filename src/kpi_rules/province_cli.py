"""The command line with a bundle: ``check BUNDLE``, ``evaluate BUNDLE PROVINCE``, ``explain BUNDLE PROVINCE``.

``PROVINCE`` is a JSON/YAML province file, or a directory of tables (units, people, records,
items: :mod:`kpi_rules.province_tables`), rated with the columnar run (:mod:`kpi_rules.province_batch`).

:mod:`kpi_rules.cli` hands a command here when its rule file is a bundle (a YAML file with a
top-level ``bundle:`` key, :func:`is_bundle_file`). Exit codes are those of the CLI.
"""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from kpi_rules.advice import with_span_advice
from kpi_rules.bundle import Bundle, is_bundle_file, load_bundle
from kpi_rules.change import province_change
from kpi_rules.diagnostics import Diagnostic, render_all
from kpi_rules.explain_plan import explanation_lines
from kpi_rules.i18n import message
from kpi_rules.models import ProvinceReport, RejectedRecord, ResultSummary, summarize
from kpi_rules.org import load_province
from kpi_rules.progress import progress_bar
from kpi_rules.province import ProvinceResult, evaluate_province, explain_subject
from kpi_rules.province_batch import evaluate_province_tables
from kpi_rules.province_tables import is_province_tables, load_province_tables
from kpi_rules.render import print_explanation, results_table

__all__ = ["check_bundle", "evaluate_bundle", "explain_bundle", "is_bundle_file", "province_report"]

_OK, _FINDINGS, _USAGE = 0, 1, 2


def check_bundle(path: str, out: Console, err: Console) -> int:
    """``kpi-rules check BUNDLE``: load every role's rule set (DiagnosticError goes to the CLI)."""
    bundle = load_bundle(path)
    roles = ", ".join(f"{role}: {rr.rules.id}" for role, rr in bundle.roles.items())
    out.print(f"ok: {path} (bundle {bundle.id}: {roles})", markup=False)
    return _OK


def _rows(outcome: ProvinceResult, lang: str) -> tuple[list[ResultSummary], list[ResultSummary]]:
    plans = {role: rr.rules.plan for role, rr in outcome.bundle.roles.items()}
    rows: list[ResultSummary] = []
    for period in outcome.periods:
        for subject in outcome.order:
            result = outcome.results.get((subject, period))
            if result is not None:
                rows.append(summarize(result, plans[outcome.province.role_of(subject) or ""], lang))
    years: list[ResultSummary] = []
    for (subject, _), result in sorted(outcome.years.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        years.append(summarize(result, plans[outcome.province.role_of(subject) or ""], lang))
    return rows, years


def _rejected_rows(outcome: ProvinceResult) -> list[RejectedRecord]:
    rows: list[RejectedRecord] = []
    for rejection in outcome.rejected:
        rid = rejection.subject + (f" ({rejection.period})" if rejection.period else "")
        rows.extend(RejectedRecord.from_diagnostic(rid, d) for d in rejection.diagnostics)
    return rows


def province_report(outcome: ProvinceResult, lang: str = "vi") -> ProvinceReport:
    """The JSON report of a province run."""
    rows, years = _rows(outcome, lang)
    spans = [*outcome.periods, *sorted({k[1] for k in outcome.years})]
    return ProvinceReport(
        bundle=outcome.bundle.id,
        province=outcome.province.id,
        periods=list(outcome.periods),
        roles={s: outcome.province.role_of(s) or "?" for s in outcome.order},
        results=rows,
        years=years,
        rejected=_rejected_rows(outcome),
        notes=[d.render() for d in outcome.notes],
        counts={span: outcome.counts(span) for span in spans},
        stages=dict(outcome.stages),
    )


def evaluate_bundle(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``kpi-rules evaluate BUNDLE PROVINCE [--format table|json]``."""
    bundle = load_bundle(args.rules)
    jsonl = getattr(args, "explanations", None)
    outcome = _rate(args, bundle, err, explain=jsonl is not None)
    if jsonl is not None:
        _write_explanations(outcome, jsonl, args.lang)
    if args.format == "json":
        sys.stdout.write(province_report(outcome, args.lang).model_dump_json(indent=2) + "\n")
    else:
        rows, years = _rows(outcome, args.lang)
        out.print(results_table(rows, args.lang))
        if years:
            out.print(results_table(years, args.lang))
        out.print(_counts_table(outcome, args.lang))
    diagnostics: list[Diagnostic] = [d for r in outcome.rejected for d in r.diagnostics]
    if diagnostics or outcome.notes:
        err.print(render_all([*diagnostics, *outcome.notes]), markup=False, highlight=False)
    rated = sum(1 for r in outcome.results.values() if r.status == "rated")
    err.print(message("cli.summary", args.lang, rated=rated, insufficient=len(outcome.results) - rated,
                      rejected=len(outcome.rejected)), markup=False)
    return _FINDINGS if outcome.rejected else _OK


def _rate(args: argparse.Namespace, bundle: Bundle, err: Console, *, explain: bool = False,
          subject: str | None = None) -> ProvinceResult:
    """Rate the province of ``args.input``: a JSON/YAML file (:func:`evaluate_province`) or a
    directory of tables (:func:`evaluate_province_tables`, items streamed in chunks)."""
    quiet = getattr(args, "quiet", False)
    if is_province_tables(args.input):
        tables = load_province_tables(args.input)
        with progress_bar(err, message("cli.progress.rating", args.lang), tables.records.num_rows,
                          quiet=quiet) as advance:
            return evaluate_province_tables(bundle, tables, explain=explain, lang=args.lang, progress=advance,
                                            record_subjects=(subject,) if subject else ()).outcome
    data = load_province(args.input)
    with progress_bar(err, message("cli.progress.rating", args.lang), len(data.records), quiet=quiet) as advance:
        return evaluate_province(bundle, data, trace=explain, progress=advance)


def _write_explanations(outcome: ProvinceResult, path: str, lang: str) -> None:
    """``--explanations FILE``: every period and year result's explanation as JSON lines."""
    plans = {role: rr.rules.plan for role, rr in outcome.bundle.roles.items()}
    with open(path, "w", encoding="utf-8") as out:
        for (subject, period), result in outcome.results.items():
            record = outcome.records.get((subject, period))
            plan = plans[outcome.province.role_of(subject) or ""]
            out.writelines(explanation_lines([(result, record)], plan, lang))
        for (subject, _), result in outcome.years.items():
            out.writelines(explanation_lines([(result, None)], plans[outcome.province.role_of(subject) or ""], lang))


def _counts_table(outcome: ProvinceResult, lang: str) -> Table:
    """How many subjects of each role reached each level, per period and for each year."""
    spans = [*outcome.periods, *sorted({span for _, span in outcome.years})]
    levels: list[str] = []
    for role in outcome.bundle.roles:
        rules = outcome.bundle.rules_for(role)
        rating = rules.plan.ruleset.rating if rules is not None else None
        for level in rating.levels if rating is not None else ():
            if level.name not in levels:
                levels.append(level.name)
    extra = ["insufficient_data", "rejected", "no_record"]
    table = Table(title=message("heading.level_counts", lang))
    table.add_column(message("heading.role", lang))
    table.add_column(message("heading.period", lang))
    labels = {level: _level_label(outcome, level, lang) for level in levels}
    for key in [*levels, *extra]:
        table.add_column(labels.get(key) or message(f"status.{key}", lang), justify="right")
    for span in spans:
        counts = outcome.counts(span)
        for role in outcome.bundle.roles:
            bucket = counts.get(role, {})
            table.add_row(role, span, *(str(bucket.get(key, 0)) for key in [*levels, *extra]))
    return table


def _level_label(outcome: ProvinceResult, level: str, lang: str) -> str | None:
    for role in outcome.bundle.roles:
        rules = outcome.bundle.rules_for(role)
        rating = rules.plan.ruleset.rating if rules is not None else None
        for candidate in rating.levels if rating is not None else ():
            if candidate.name == level:
                return candidate.label.get(lang)
    return None


def explain_bundle(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``kpi-rules explain BUNDLE PROVINCE --subject ID [--period P]``."""
    bundle = load_bundle(args.rules)
    outcome = _rate(args, bundle, err, subject=args.subject)
    try:
        explanation = explain_subject(outcome, args.subject, getattr(args, "period", None), args.lang)
        explanation = province_change(outcome, explanation)  # the previous period, from the labels
        explanation = with_span_advice(outcome, explanation)  # a year: which period's inputs to change
    except KeyError as error:
        err.print(f"kpi-rules: error: {error.args[0]}", markup=False)
        return _USAGE
    print_explanation(explanation, args.format, out)
    return _OK
