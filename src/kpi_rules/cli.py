"""The ``kpi-rules`` command line: check, fmt, evaluate, explain.

Exit codes: 0 fine; 1 findings (diagnostics, files that need formatting, rejected records);
2 usage error; 3 internal error (a bug: please report it). No user error shows a traceback;
set ``KPI_RULES_DEBUG=1`` to see one for an internal error.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from kpi_rules.diagnostics import Diagnostic, DiagnosticError, render_all
from kpi_rules.engine import BatchOutcome, RuleSet, load, read_records
from kpi_rules.i18n import message
from kpi_rules.loader import parse_source, read_source
from kpi_rules.models import BatchReport, RejectedRecord, summarize
from kpi_rules.parser import find_comments
from kpi_rules.printer import format_ruleset
from kpi_rules.source import SourceFile
from kpi_rules.render import explanation_tree, results_table

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kpi-rules",
        description="Đánh giá, xếp loại theo bộ tiêu chí / rate subjects with a criteria rule set",
    )
    parser.add_argument("--version", action="version", version="kpi-rules 0.1.0")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    check = sub.add_parser("check", help="check rule files without running them")
    check.add_argument("files", nargs="+", metavar="FILE")

    fmt = sub.add_parser("fmt", help="rewrite rule files in the canonical text form")
    fmt.add_argument("files", nargs="+", metavar="FILE")
    fmt.add_argument("--check", action="store_true", help="only report files that are not canonical")
    fmt.add_argument("--stdout", action="store_true", help="print the canonical text instead of writing")

    evaluate = sub.add_parser("evaluate", help="rate every record of an input file")
    evaluate.add_argument("rules", metavar="RULES")
    evaluate.add_argument("input", metavar="INPUT")
    evaluate.add_argument("--format", choices=("table", "json"), default="table")
    evaluate.add_argument("--lang", choices=("vi", "en"), default="vi")

    explain = sub.add_parser("explain", help="explain the rating of one subject")
    explain.add_argument("rules", metavar="RULES")
    explain.add_argument("input", metavar="INPUT")
    explain.add_argument("--subject", required=True, metavar="ID")
    explain.add_argument("--lang", choices=("vi", "en"), default="vi")
    explain.add_argument("--format", choices=("tree", "json"), default="tree")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        command = {"check": _check, "fmt": _fmt, "evaluate": _evaluate, "explain": _explain}[args.command]
        return command(args, out, err)
    except DiagnosticError as error:
        _print_diagnostics(err, error.diagnostics)
        return EXIT_FINDINGS
    except _UsageError as error:
        err.print(f"kpi-rules: error: {error}", markup=False)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # a bug: say so briefly, never dump a traceback on users
        if os.environ.get("KPI_RULES_DEBUG"):
            traceback.print_exc()
        err.print(
            f"kpi-rules: internal error ({type(error).__name__}: {error}). "
            "This is a bug in kpi-rules; set KPI_RULES_DEBUG=1 for details.",
            markup=False,
        )
        return EXIT_INTERNAL


def _print_diagnostics(err: Console, diagnostics: Sequence[Diagnostic]) -> None:
    err.print(render_all(diagnostics), markup=False, highlight=False)


def _check(args: argparse.Namespace, out: Console, err: Console) -> int:
    status = EXIT_OK
    for path in args.files:
        try:
            rules = load(path)
        except DiagnosticError as error:
            _print_diagnostics(err, error.diagnostics)
            status = EXIT_FINDINGS
            continue
        out.print(f"ok: {path} ({rules.id} {rules.version})", markup=False)
    return status


def _fmt(args: argparse.Namespace, out: Console, err: Console) -> int:
    status = EXIT_OK
    for path in args.files:
        source = read_source(path)
        try:
            canonical = format_ruleset(parse_source(source))
        except DiagnosticError as error:
            _print_diagnostics(err, error.diagnostics)
            status = EXIT_FINDINGS
            continue
        is_text = Path(path).suffix.lower() == ".kpi"
        lost = _lost_comments(source, canonical) if is_text else []
        if lost:
            err.print(
                f"{path}: not formatted: the comments on lines {', '.join(map(str, lost))} stand where the "
                "canonical form keeps none (only comments on their own lines before a declaration, or at "
                "the end of its line, are kept); move them, then run fmt again",
                markup=False,
            )
            status = EXIT_FINDINGS
            continue
        if args.stdout:
            sys.stdout.write(canonical)
        elif args.check:
            if not is_text or source.text != canonical:
                out.print(f"would reformat: {path}", markup=False)
                status = EXIT_FINDINGS
        elif is_text:
            if source.text != canonical:
                Path(path).write_text(canonical, encoding="utf-8")
                out.print(f"reformatted: {path}", markup=False)
        else:
            raise _UsageError(f"{path}: only .kpi files are rewritten; use --stdout to print the text form of a YAML rule set")
    return status


def _lost_comments(source: SourceFile, canonical: str) -> list[int]:
    """Lines of the source whose comments the canonical text would not keep (never drop them)."""
    kept = Counter(body.strip() for _, body in find_comments(canonical))
    lost = []
    for offset, body in find_comments(source.text):
        if kept[body.strip()] > 0:
            kept[body.strip()] -= 1
        else:
            lost.append(source.line_col(offset)[0])
    return lost


def _rate(rules_path: str, input_path: str) -> tuple[RuleSet, BatchOutcome]:
    rules = load(rules_path)
    return rules, rules.evaluate_many(read_records(input_path))


def _evaluate(args: argparse.Namespace, out: Console, err: Console) -> int:
    rules, outcome = _rate(args.rules, args.input)
    rows = [summarize(result, rules.plan, args.lang) for result in outcome.results]
    if args.format == "json":
        report = BatchReport(
            ruleset_id=rules.id,
            version=rules.version,
            content_hash=rules.content_hash,
            results=rows,
            rejected=[RejectedRecord.from_diagnostic(rid, d) for rid, d in _pair(outcome)],
            rated=len(outcome.rated),
            insufficient_data=len(outcome.results) - len(outcome.rated),
            rejected_count=len(set(outcome.rejected_ids)),
        )
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    else:
        out.print(results_table(rows, args.lang))
    if outcome.rejected:
        _print_diagnostics(err, outcome.rejected)
    err.print(
        message(
            "cli.summary",
            args.lang,
            rated=len(outcome.rated),
            insufficient=len(outcome.results) - len(outcome.rated),
            rejected=len(set(outcome.rejected_ids)),
        ),
        markup=False,
    )
    return EXIT_FINDINGS if outcome.rejected else EXIT_OK


def _pair(outcome: BatchOutcome) -> list[tuple[str, Diagnostic]]:
    """Each rejection diagnostic with its record id (read from the diagnostic's ``where``)."""
    pairs = []
    for diagnostic in outcome.rejected:
        where = diagnostic.where or ""
        rid = where.removeprefix("record ").split(",", 1)[0] if where.startswith("record ") else "?"
        pairs.append((rid, diagnostic))
    return pairs


def _explain(args: argparse.Namespace, out: Console, err: Console) -> int:
    rules = load(args.rules)
    raws = read_records(args.input)
    matches = [r for r in raws if isinstance(r, dict) and str(r.get("id")) == args.subject]
    if not matches:
        ids = [str(r.get("id")) for r in raws if isinstance(r, dict)]
        raise _UsageError(
            message("cli.no_subject", args.lang, subject=args.subject, count=len(ids))
        )
    explanation = rules.explain(matches[0], args.lang)
    if args.format == "json":
        sys.stdout.write(explanation.model_dump_json(indent=2) + "\n")
    else:
        out.print(explanation_tree(explanation))
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
