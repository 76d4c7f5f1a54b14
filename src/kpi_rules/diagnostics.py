"""Diagnostics: problems in rule files and records, rendered the way a user sees them.

Every stage reports problems as :class:`Diagnostic` values with a stable code from
:mod:`kpi_rules.codes`. Stages that can keep going (validator, compiler, record checks)
collect all their diagnostics and raise one :class:`DiagnosticError`; the parser stops at
the first syntax error. Rendering is plain text; colour is added only by the CLI.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from kpi_rules.codes import CODES
from kpi_rules.source import Span


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Label:
    """A secondary location with a short note (e.g. the other end of a cycle)."""

    span: Span
    message: str


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem: a stable code, a message, where, and how to fix it."""

    code: str
    message: str
    span: Span | None = None
    hint: str | None = None
    note: str | None = None
    labels: tuple[Label, ...] = ()
    severity: Severity = Severity.ERROR
    #: Free-form location for problems without a source span (a record id and field, a YAML path).
    where: str | None = None

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"diagnostic code {self.code} is not registered in kpi_rules.codes")

    @property
    def sort_key(self) -> tuple[str, int, str]:
        if self.span is None:
            return ("", 0, self.code)
        return (self.span.path, self.span.start, self.code)

    def render(self) -> str:
        """Render as ``path:line:col: error[KRnnn]: message`` with a snippet, caret and hint."""
        return render_diagnostic(self)


class DiagnosticError(Exception):
    """Raised with every diagnostic a stage found. Never shown to users as a traceback."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics: tuple[Diagnostic, ...] = tuple(sorted(diagnostics, key=lambda d: d.sort_key))
        super().__init__("\n".join(d.render() for d in self.diagnostics))

    def render(self) -> str:
        return render_all(self.diagnostics)


def _caret_line(span: Span, line: int, text: str) -> tuple[int, int]:
    start_line, start_col = span.line_col()
    end_line, end_col = span.end_line_col()
    first = start_col if start_line == line else 1
    last = end_col if end_line == line else len(text) + 1
    return first, max(1, last - first)


def render_diagnostic(diag: Diagnostic) -> str:
    severity = diag.severity.value
    if diag.span is None:
        head = f"{diag.where}: " if diag.where else ""
        lines = [f"{head}{severity}[{diag.code}]: {diag.message}"]
    else:
        line, col = diag.span.line_col()
        lines = [f"{diag.span.path}:{line}:{col}: {severity}[{diag.code}]: {diag.message}"]
        spans = [diag.span, *(label.span for label in diag.labels)]
        width = max(len(str(span.line_col()[0])) for span in spans)
        lines.extend(_snippet(diag.span, None, width))
        for label in diag.labels:
            lines.extend(_snippet(label.span, label.message, width))
        if diag.where:
            lines.append(f"{' ' * width} = in {diag.where}")
    if diag.note:
        lines.append(f"note: {diag.note}")
    if diag.hint:
        lines.append(f"help: {diag.hint}")
    return "\n".join(lines)


def _snippet(span: Span, message: str | None, width: int) -> list[str]:
    line, _ = span.line_col()
    if line > span.source.line_count:
        return []
    text = span.source.line_text(line)
    gutter = " " * width
    first, caret_width = _caret_line(span, line, text)
    caret = " " * (first - 1) + "^" * caret_width
    if message:
        caret += f" {message}"
    out = [f"{gutter} |", f"{str(line).rjust(width)} | {text}", f"{gutter} | {caret}"]
    if message and span.path:
        out.insert(0, f"{gutter}--> {span.path}:{line}:{first}")
    return out


def render_all(diagnostics: Sequence[Diagnostic]) -> str:
    """Render several diagnostics separated by blank lines, with a closing count."""
    body = "\n\n".join(d.render() for d in diagnostics)
    errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
    warnings = len(diagnostics) - errors
    summary = f"{errors} error(s), {warnings} warning(s)"
    return f"{body}\n\n{summary}" if body else summary


@dataclass(slots=True)
class DiagnosticSink:
    """Collects diagnostics during a stage and raises them all at once."""

    items: list[Diagnostic] = field(default_factory=list)

    def add(self, diagnostic: Diagnostic) -> None:
        self.items.append(diagnostic)

    def error(self, code: str, message: str, span: Span | None = None, **kwargs: object) -> None:
        self.items.append(Diagnostic(code, message, span, **kwargs))  # type: ignore[arg-type]

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items)

    def raise_if_errors(self) -> None:
        if self.has_errors:
            raise DiagnosticError(self.items)
