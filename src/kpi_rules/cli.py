"""The ``kpi-rules`` command line: check, fmt, evaluate, explain, verify, test, report, schema.

Exit codes: 0 fine; 1 findings (diagnostics, files that need formatting, rejected records);
2 usage error; 3 internal error (a bug: please report it). No user error shows a traceback;
set ``KPI_RULES_DEBUG=1`` to see one for an internal error.
"""

from __future__ import annotations

import argparse
import json
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
from kpi_rules.models import BatchReport, Explanation, RejectedRecord, explanation_json_schema, summarize
from kpi_rules.parser import find_comments
from kpi_rules.printer import format_ruleset
from kpi_rules.progress import progress_bar
from kpi_rules.province_cli import check_bundle, evaluate_bundle, explain_bundle, is_bundle_file
from kpi_rules.source import SourceFile
from kpi_rules.render import print_explanation, results_table

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
PIPED_WIDTH = 160


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
    check.add_argument("--catalogue", metavar="FILE", help="bind a product catalogue (docs/catalogue.md)")

    fmt = sub.add_parser("fmt", help="rewrite rule files in the canonical text form")
    fmt.add_argument("files", nargs="+", metavar="FILE")
    fmt.add_argument("--check", action="store_true", help="only report files that are not canonical")
    fmt.add_argument("--stdout", action="store_true", help="print the canonical text instead of writing")

    evaluate = sub.add_parser("evaluate", help="rate every record of an input file")
    evaluate.add_argument("rules", metavar="RULES")
    evaluate.add_argument("input", metavar="INPUT")
    evaluate.add_argument("--catalogue", metavar="FILE", help="bind a product catalogue (docs/catalogue.md)")
    evaluate.add_argument("--format", choices=("table", "json"), default="table")
    evaluate.add_argument("--lang", choices=("vi", "en"), default="vi")
    evaluate.add_argument("--explanations", metavar="FILE",
                          help="with a bundle: also write every explanation to FILE as JSON lines")

    explain = sub.add_parser("explain", help="explain the rating of one subject")
    explain.add_argument("rules", metavar="RULES")
    explain.add_argument("input", metavar="INPUT")
    explain.add_argument("--catalogue", metavar="FILE", help="bind a product catalogue (docs/catalogue.md)")
    explain.add_argument("--subject", required=True, metavar="ID")
    explain.add_argument("--period", metavar="P", help="with a bundle: the period to explain (default: the last)")
    explain.add_argument("--lang", choices=("vi", "en"), default="vi")
    explain.add_argument("--format", choices=("tree", "json", "md", "html"), default="tree")
    explain.add_argument("--previous", metavar="PREV_INPUT",
                         help="the previous period's records: say what changed and why (a bundle finds it itself)")
    explain.add_argument("--previous-rules", metavar="PREV_RULES",
                         help="the rule file that rated the previous period (default: RULES)")

    report = sub.add_parser("report", help="write the sheets people sign (Mẫu 01, Mẫu 02) and the unit and "
                                           "province summaries as HTML (docs/reports.md)")
    report.add_argument("rules", metavar="RULES")
    report.add_argument("input", metavar="INPUT")
    report.add_argument("--out", required=True, metavar="DIR", help="the directory to write into")
    report.add_argument("--catalogue", metavar="FILE", help="bind a product catalogue (docs/catalogue.md)")
    report.add_argument("--lang", choices=("vi", "en"), default="vi")
    report.add_argument("--period", metavar="P",
                        help="with a bundle: the period or year to report (default: the last year, else period)")
    report.add_argument("--markdown", action="store_true",
                        help="with a bundle: also write Markdown copies of the summaries and Mẫu 02 sheets")

    verify = sub.add_parser("verify", help="prove and test properties of rule files (completeness, fairness)")
    verify.add_argument("files", nargs="+", metavar="RULES")
    verify.add_argument("--examples", type=_positive, default=100, metavar="N",
                        help="records drawn per sampled property (default 100)")
    verify.add_argument("--seed", type=int, default=None, metavar="S",
                        help="seed the random draws (default: the same derandomized run every time)")
    verify.add_argument("--lang", choices=("vi", "en"), default="vi")

    test = sub.add_parser("test", help="run the tests beside the rules (*.tests.yaml)")
    test.add_argument("paths", nargs="+", metavar="FILE_OR_DIR",
                      help="test files, rule files (their x.tests.yaml is run) or directories")
    test.add_argument("--lang", choices=("vi", "en"), default=None,
                      help="the language of explanations (default: each case's own, else vi)")
    test.add_argument("--boundaries", action="store_true",
                      help="also run cases generated just below, at and above every band edge")
    schema = sub.add_parser("schema", help="print the JSON Schema of explanations (docs/explanations.md)")
    schema.add_argument("--indent", type=int, default=2, metavar="N")

    for long_run in (evaluate, explain, report, verify, test):
        long_run.add_argument("--quiet", "-q", action="store_true",
                              help="no progress bar (none is drawn when stderr is not a terminal either)")
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # On a terminal rich follows its width; piped output gets a fixed width so that tables of
    # names and periods are not folded into many lines.
    width = None if sys.stdout.isatty() else PIPED_WIDTH
    out = Console(highlight=False, soft_wrap=True, width=width)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        command = {"check": _check, "fmt": _fmt, "evaluate": _evaluate, "explain": _explain,
                   "verify": _verify, "test": _test, "report": _report, "schema": _schema}[args.command]
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


def _no_catalogue_with_bundle(args: argparse.Namespace, path: str) -> None:
    """A bundle names its catalogue itself; an ignored --catalogue would rate with the wrong one."""
    if getattr(args, "catalogue", None):
        raise _UsageError(
            f"{path} is a bundle: it names its product catalogue in its own `catalogue:` key; "
            "--catalogue applies to a single rule file"
        )


def _check(args: argparse.Namespace, out: Console, err: Console) -> int:
    status = EXIT_OK
    for path in args.files:
        if is_bundle_file(path):  # a bundle: every role's rule set (kpi_rules.province_cli)
            _no_catalogue_with_bundle(args, path)
            status = max(status, check_bundle(path, out, err))
            continue
        try:
            rules = load(path, catalogue=args.catalogue)
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


def _evaluate(args: argparse.Namespace, out: Console, err: Console) -> int:
    if is_bundle_file(args.rules):
        _no_catalogue_with_bundle(args, args.rules)
        return evaluate_bundle(args, out, err)
    rules = load(args.rules, catalogue=args.catalogue)
    raws = read_records(args.input)
    with progress_bar(err, message("cli.progress.rating", args.lang), len(raws), quiet=args.quiet) as advance:
        outcome = rules.evaluate_many(raws, progress=advance)
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
    if is_bundle_file(args.rules):
        _no_catalogue_with_bundle(args, args.rules)
        if args.previous is not None or args.previous_rules is not None:
            raise _UsageError(message("cli.previous_with_bundle", args.lang))
        return explain_bundle(args, out, err)
    rules = load(args.rules, catalogue=args.catalogue)
    raws = read_records(args.input)
    matches = [r for r in raws if isinstance(r, dict) and str(r.get("id")) == args.subject]
    if not matches:
        ids = [str(r.get("id")) for r in raws if isinstance(r, dict)]
        raise _UsageError(
            message("cli.no_subject", args.lang, subject=args.subject, count=len(ids))
        )
    if args.previous is not None:
        explanation = _explain_with_previous(args, rules, matches[0])
    else:
        explanation = rules.explain(matches[0], args.lang)
    print_explanation(explanation, args.format, out)
    return EXIT_OK


def _explain_with_previous(args: argparse.Namespace, rules: RuleSet, raw: dict[str, object]) -> Explanation:
    """``explain --previous PREV_INPUT [--previous-rules PREV_RULES]``: the change since then."""
    from kpi_rules.change import explain_change

    before = load(args.previous_rules, catalogue=args.catalogue) if args.previous_rules else rules
    previous = [r for r in read_records(args.previous) if isinstance(r, dict) and str(r.get("id")) == args.subject]
    if not previous:
        raise _UsageError(message("cli.no_previous", args.lang, subject=args.subject, path=args.previous))
    return explain_change(rules, raw, before, previous[0], args.lang)


def _report(args: argparse.Namespace, out: Console, err: Console) -> int:
    from kpi_rules.reporting.writer import write_province_report, write_report

    # The amount of work is known only once the input is read: the bar counts without a total.
    with progress_bar(err, message("cli.progress.writing", args.lang), None, quiet=args.quiet) as advance:
        if is_bundle_file(args.rules):
            _no_catalogue_with_bundle(args, args.rules)
            written = write_province_report(args.rules, args.input, args.out, args.lang, args.period,
                                            markdown=args.markdown, progress=advance)
        else:
            written = write_report(args.rules, args.input, args.out, args.lang, args.catalogue,
                                   progress=advance)
    for path in written.files:
        out.print(str(path), markup=False)
    if written.rejected:
        _print_diagnostics(err, written.rejected)
        return EXIT_FINDINGS
    return EXIT_OK


def _schema(args: argparse.Namespace, out: Console, err: Console) -> int:
    """The JSON Schema (2020-12) of the explanation document, as ``explain --format json`` writes it."""
    sys.stdout.write(json.dumps(explanation_json_schema(), indent=args.indent, ensure_ascii=False) + "\n")
    return EXIT_OK


def _verify(args: argparse.Namespace, out: Console, err: Console) -> int:
    from kpi_rules.verify import verify_file  # needs hypothesis: imported only for this command

    status = EXIT_OK
    for path in args.files:
        if not Path(path).is_file():
            raise _UsageError(f"{path}: no such rule file")
    with progress_bar(err, message("cli.progress.verifying", args.lang), len(args.files),
                      quiet=args.quiet) as advance:
        for path in args.files:
            report = verify_file(path, examples=args.examples, seed=args.seed, lang=args.lang)
            out.print(report.render(), markup=False, end="")
            advance(1)
            if not report.ok:
                status = EXIT_FINDINGS
    return status


def _test(args: argparse.Namespace, out: Console, err: Console) -> int:
    from kpi_rules.ruletests import collect_test_targets, run_target

    status = EXIT_OK
    passed = failed = 0
    targets = list(collect_test_targets([Path(p) for p in args.paths]))
    with progress_bar(err, message("cli.progress.testing", args.lang or "vi"), len(targets),
                      quiet=args.quiet) as advance:
        for target in targets:
            text, good, bad = run_target(target, lang=args.lang, boundaries=args.boundaries)
            out.print(text, markup=False, end="")
            advance(1)
            passed += good
            failed += bad
            if bad:
                status = EXIT_FINDINGS
    out.print(f"{passed} passed, {failed} failed", markup=False)
    return status


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
