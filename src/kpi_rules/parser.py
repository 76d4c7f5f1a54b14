"""The text form: :class:`~kpi_rules.source.SourceFile` (``.kpi`` text) -> :class:`~kpi_rules.nodes.Ruleset`.

Input: a :class:`SourceFile`. Output: frozen nodes from :mod:`kpi_rules.nodes` with spans into
that file. The parser stops at the first syntax error and raises
:class:`~kpi_rules.diagnostics.DiagnosticError` with one KR1xx diagnostic; no Lark exception (or
any other exception) escapes for any input text. The Lark tree never leaves this stage: this
module loads the grammar, checks the limits, parses and attaches comments;
:mod:`kpi_rules.tree_builder` turns the tree into nodes and :mod:`kpi_rules.syntax_errors` turns
Lark's errors into diagnostics.

Example:
    >>> from kpi_rules.source import SourceFile
    >>> parse_expression(SourceFile("<doc>", "(a + b) * 2"))
    Binary(op='*', left=Binary(op='+', left=Var(name='a'), right=Var(name='b')), right=NumberLit(value=Fraction(2, 1)))
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import importlib.resources
import re
from typing import Any, cast

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedInput, VisitError

from kpi_rules import nodes as n
from kpi_rules.diagnostics import Diagnostic, DiagnosticError
from kpi_rules.source import MAX_SOURCE_BYTES, SourceFile, Span
from kpi_rules.syntax_errors import SKIP_RE, syntax_diagnostic
from kpi_rules.tree_builder import NodeBuilder

__all__ = ["parse_ruleset", "parse_expression", "MAX_NESTING", "MAX_DEPTH"]

#: Deepest nesting of brackets ``( [ {`` accepted; checked on the raw text before parsing.
MAX_NESTING = 64
#: Deepest syntax tree accepted (long operator chains, ``not not ...``). Later stages walk the
#: tree recursively, so an unbounded depth would end in RecursionError far from the cause.
MAX_DEPTH = 160


@functools.lru_cache(maxsize=1)
def grammar_text() -> str:
    """The text of ``grammar/criteria.lark`` shipped in the package."""
    return (importlib.resources.files("kpi_rules") / "grammar" / "criteria.lark").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def _lark() -> Lark:
    # One LALR parser with two start symbols: whole files and single expressions (YAML form).
    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        start=["start", "expr"],
        propagate_positions=True,
        maybe_placeholders=True,
        cache=False,
    )


@functools.lru_cache(maxsize=1)
def _literals() -> dict[str, str]:
    """The text of each keyword and punctuation terminal, by terminal name (for syntax errors)."""
    return {t.name: str(t.pattern.value) for t in _lark().terminals if t.pattern.type == "str"}


# --------------------------------------------------------------------------- entry points


def parse_ruleset(source: SourceFile) -> n.Ruleset:
    """Parse a whole ``.kpi`` file.

    Raises:
        DiagnosticError: one KR1xx diagnostic for the first problem found.

    Example:
        >>> rs = parse_ruleset(SourceFile("x.kpi", 'ruleset a "A" { basis "b" version "1" '
        ...     'in_force from 2026-01-01 rates person }'))
        >>> rs.id, rs.rates
        ('a', 'person')
    """
    result = _parse(source, 0, len(source.text), "start")
    assert isinstance(result, n.Ruleset)
    return result


def parse_expression(source: SourceFile, start: int = 0, end: int | None = None) -> n.Expr:
    """Parse ``source.text[start:end]`` as one expression; spans are offsets into ``source``.

    Raises:
        DiagnosticError: one KR1xx diagnostic pointing into ``source``.

    Example:
        >>> src = SourceFile("f.yaml", "when: a - 1")
        >>> parse_expression(src, 6).span.start
        6
    """
    stop = len(source.text) if end is None else max(start, min(end, len(source.text)))
    start = max(0, min(start, stop))
    result = _parse(source, start, stop, "expr")
    return cast(n.Expr, result)


def _parse(source: SourceFile, start: int, stop: int, rule: str) -> object:
    text = source.text[start:stop]
    _check_limits(source, text, start)
    try:
        tree = _lark().parse(text, start=rule)
    except UnexpectedInput as exc:
        raise DiagnosticError([syntax_diagnostic(source, text, start, exc, rule, _literals())]) from None
    except (LarkError, RecursionError, ValueError) as exc:  # pragma: no cover - defensive
        raise DiagnosticError([Diagnostic("KR101", f"cannot parse this text ({exc})", Span(source, start, start))]) from None
    _check_depth(source, tree, start)
    builder = NodeBuilder(source, start)
    try:
        result = builder.transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, DiagnosticError):
            raise exc.orig_exc from None
        raise  # a bug in this module: let it surface in tests rather than hide it
    if rule == "start":
        assert isinstance(result, n.Ruleset)
        result = _attach_comments(source, text, start, result, builder.decl_starts)
    return result


# --------------------------------------------------------------------------- limits

def _check_limits(source: SourceFile, text: str, offset: int) -> None:
    # Cheap checks on the raw text so that huge or deeply nested input never reaches Lark.
    if len(text) > MAX_SOURCE_BYTES or (len(text) * 4 > MAX_SOURCE_BYTES and len(text.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES):
        raise DiagnosticError([Diagnostic(
            "KR105",
            f"the text is larger than the limit of {MAX_SOURCE_BYTES // (1024 * 1024)} MiB",
            Span(source, offset, offset),
            hint="split the rule set into smaller files, or check that this is the right file",
        )])
    depth = 0
    for match in SKIP_RE.finditer(text):
        ch = match.group()
        if ch in "([{":
            depth += 1
            if depth > MAX_NESTING:
                pos = offset + match.start()
                raise DiagnosticError([Diagnostic(
                    "KR105",
                    f"brackets are nested more than {MAX_NESTING} levels deep",
                    Span(source, pos, pos + 1),
                    hint="split the formula into named `let` values",
                )])
        elif ch in ")]}":
            depth = max(0, depth - 1)


def _check_depth(source: SourceFile, tree: Tree[Token], offset: int) -> None:
    stack: list[tuple[Tree[Token], int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            meta = node.meta
            begin = offset + getattr(meta, "start_pos", 0)
            raise DiagnosticError([Diagnostic(
                "KR105",
                f"this is nested too deeply (more than {MAX_DEPTH} levels of operators, brackets or blocks)",
                Span(source, begin, offset + getattr(meta, "end_pos", 0)),
                hint="split the formula into named `let` values",
            )])
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))


# --------------------------------------------------------------------------- comments

_COMMENT_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"|#([^\n]*)')
_GAP_RE = re.compile(r"(?:\s|#[^\n]*)*")


def find_comments(text: str) -> list[tuple[int, str]]:
    """Every ``#`` comment in a rule text, as (offset, text after ``#``); labels are skipped."""
    return [(m.start(), m.group(1)) for m in _COMMENT_RE.finditer(text) if m.group(1) is not None]


def _attach_comments(source: SourceFile, text: str, offset: int, ruleset: n.Ruleset,
                     decl_starts: list[tuple[int, int, int]]) -> n.Ruleset:
    """Attach ``#`` comments to the declaration that follows them (or ends on their line).

    Comments are found by a regex over the already-parsed text (strings are skipped, so a
    ``#`` inside a label is not a comment). This keeps the cached Lark object free of
    per-parse state such as lexer callbacks.
    """
    comments: dict[int, list[str]] = {}
    starts = sorted(decl_starts)
    keys = [s for s, _, _ in starts]
    for match in _COMMENT_RE.finditer(text):
        if match.group(1) is None:
            continue
        pos = offset + match.start()
        body = match.group(1).rstrip()
        line_start = source.text.rfind("\n", 0, pos) + 1
        if source.text[line_start:pos].strip():
            # An end-of-line comment: it belongs to the innermost declaration started on this line.
            on_line = [s for s in starts if line_start <= s[0] < pos]
            if on_line:
                comments.setdefault(on_line[-1][2], []).append(body)
            continue
        i = bisect.bisect_left(keys, pos)
        if i < len(keys) and _GAP_RE.fullmatch(source.text, pos, keys[i]):
            comments.setdefault(starts[i][2], []).append(body)
    if not comments:
        return ruleset
    return cast(n.Ruleset, _with_comments(ruleset, comments))


def _with_comments(node: Any, comments: dict[int, list[str]]) -> Any:
    """Rebuild ``node`` with comments filled in (nodes are frozen, so this copies)."""

    changes: dict[str, Any] = {}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            new = tuple(_with_comments(v, comments) for v in value)
            if any(a is not b for a, b in zip(new, value)):
                changes[f.name] = new
        elif isinstance(value, (n.CriteriaTree, n.Rating, n.Level, n.PeriodsDecl)):
            new_value = _with_comments(value, comments)
            if new_value is not value:
                changes[f.name] = new_value
    if id(node) in comments and hasattr(node, "comments"):
        changes["comments"] = tuple(comments[id(node)])
    return dataclasses.replace(node, **changes) if changes else node
