"""Syntax errors: Lark's :class:`~lark.exceptions.UnexpectedInput` → one KR101-KR104 :class:`~kpi_rules.diagnostics.Diagnostic`.

The parser (:mod:`kpi_rules.parser`) hands every Lark error here; what the grammar expected is
said in plain words (``an expression``, ``an operator``, keywords), with a hint where a likely
mistake can be named (a misspelt keyword, ``=`` for ``==``, a bracket never closed, an unknown
escape in a string).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from kpi_rules.diagnostics import Diagnostic, Label
from kpi_rules.source import SourceFile, Span

__all__ = ["SKIP_RE", "join_or", "syntax_diagnostic"]

#: Strings and comments (skipped whole) and brackets: what the bracket checks look at.
SKIP_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[(\[{]|[)\]}]')

# How a terminal is named to a policy author.
_TERMINAL_WORDS = {"NAME": "a name", "STRING": "a string", "INT": "a number", "DECIMAL": "a number",
                   "PERCENT": "a percentage", "DATE": "a date", "COMP_OP": "a comparison",
                   "$END": "the end of the file"}
_EXPR_START = {"NAME", "INT", "DECIMAL", "PERCENT", "STRING", "DATE", "LPAR", "MINUS", "NOT", "IF",
               "TRUE", "FALSE", "INSUFFICIENT_DATA", "TIERS"}
_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "COMP_OP", "AND", "OR", "DOT", "LSQB"}


def _describe_expected(expected: set[str], literals: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """Plain-word descriptions of what the parser accepts, and the keywords among them."""
    expected = set(expected)
    words: list[str] = []
    if len(expected & _EXPR_START) >= 8:
        words.append("an expression")
        expected -= _EXPR_START
    if len(expected & _OPERATORS) >= 5:
        words.append("an operator")
        expected -= _OPERATORS
    keywords: list[str] = []
    punctuation: list[str] = []
    for name in sorted(expected):
        if name == "GROUP_KIND":
            keywords.extend(["group", "bonus", "penalty"])
            continue
        literal = literals.get(name)
        if literal is None:
            word = _TERMINAL_WORDS.get(name, name.lower())
            if word not in words:
                words.append(word)
        elif literal[:1].isalpha():
            keywords.append(literal)
        else:
            punctuation.append(literal)
    keywords.sort()
    end = [w for w in words if w == "the end of the file"]
    words = [w for w in words if w != "the end of the file"]
    items = words + [f"`{k}`" for k in keywords] + [f"`{p}`" for p in sorted(punctuation)] + end
    return items, keywords


def join_or(items: list[str]) -> str:
    """``a, b or c``."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def _describe_found(token: Token) -> str:
    value = str(token)
    if len(value) > 30:
        value = value[:27] + "..." + ('"' if token.type == "STRING" else "")
    if token.type == "STRING":
        return f"the string {value}"
    if token.type in ("INT", "DECIMAL", "PERCENT"):
        return f"the number `{value}`"
    if token.type == "DATE":
        return f"the date `{value}`"
    if token.type == "NAME":
        return f"the name `{value}`"
    return f"`{value}`"


def syntax_diagnostic(source: SourceFile, text: str, offset: int, exc: UnexpectedInput, rule: str,
                      literals: Mapping[str, str]) -> Diagnostic:
    """The KR1xx diagnostic for Lark's error ``exc`` on ``text`` (at ``offset`` in ``source``).

    ``literals`` maps the grammar's keyword and punctuation terminals to their text.
    """
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        return _unexpected_token(source, offset, exc, literals)
    if isinstance(exc, (UnexpectedToken, UnexpectedEOF)):
        return _unexpected_end(source, text, offset, set(exc.expected or ()), rule, literals)
    if isinstance(exc, UnexpectedCharacters):
        return _unexpected_character(source, text, offset, exc.pos_in_stream or 0)
    pos = offset + (getattr(exc, "pos_in_stream", 0) or 0)  # pragma: no cover - other Lark errors
    return Diagnostic("KR101", "this text cannot be parsed", Span(source, pos, pos + 1))  # pragma: no cover


def _unexpected_token(source: SourceFile, offset: int, exc: UnexpectedToken, literals: Mapping[str, str]) -> Diagnostic:
    token = exc.token
    start = offset + (token.start_pos or 0)
    span = Span(source, start, offset + (token.end_pos or start - offset))
    # `accepts` replays the parser to get exactly the acceptable tokens; `expected` comes from
    # merged LALR states and lists tokens from unrelated contexts.
    try:
        acceptable = set(exc.accepts or exc.expected or ())
    except Exception:  # pragma: no cover - never let the error path itself fail
        acceptable = set(exc.expected or ())
    items, keywords = _describe_expected(acceptable, literals)
    found = _describe_found(token)
    message = f"expected {join_or(items)}, found {found}" if items else f"unexpected {found}"
    hint: str | None = None
    word = str(token)
    if token.type == "NAME" or word.isidentifier():
        close = difflib.get_close_matches(word, keywords, n=1, cutoff=0.6)
        if close and close[0] != word:
            hint = f"did you mean `{close[0]}`?"
    if hint is None and token.type == "COMP_OP":
        hint = "comparisons cannot be chained; write `a < b and b < c`"
    if hint is None and word == "=" and "an operator" in items:
        hint = "compare with `==`"
    if hint is None and token.type == "STRING" and "a name" in items:
        hint = "give the declaration an id (a lowercase name such as `quality_score`) before its label"
    if hint is None and len(items) == 1:
        hint = f"{items[0]} is missing before {found}"
    if hint is None and 1 < len(items) <= 3:
        hint = f"write {join_or(items)} before {found}"
    if hint is None and "an operator" in items and token.type in ("NAME", "INT", "DECIMAL", "STRING"):
        hint = "two values stand side by side; is an operator such as `+` or `and` missing?"
    if hint is None:
        hint = "see docs/language.md for the form of each declaration"
    return Diagnostic("KR101", message, span, hint=hint)


def _unexpected_end(source: SourceFile, text: str, offset: int, expected: set[str], rule: str,
                    literals: Mapping[str, str]) -> Diagnostic:
    items, _ = _describe_expected(expected, literals)
    body = _strip_comments(text)
    if not body.strip():
        return Diagnostic(
            "KR103", "the text is empty" + (f"; expected {join_or(items)}" if items else ""),
            Span(source, offset, offset),
            hint="a rule set starts with `ruleset ID \"title\" {`" if "`ruleset`" in items else None,
        )
    pos = offset + len(text.rstrip())
    labels: tuple[Label, ...] = ()
    hint = "the text stops in the middle of a declaration" if rule == "start" else "the expression is incomplete"
    opener = _unclosed_bracket(text)
    if opener is not None:
        labels = (Label(Span(source, offset + opener, offset + opener + 1), "this bracket is never closed"),)
        hint = f"close it with `{_CLOSERS[text[opener]]}`"
    message = "unexpected end of file" + (f"; expected {join_or(items)}" if items else "")
    return Diagnostic("KR103", message, Span(source, pos, pos), hint=hint, labels=labels)


_CLOSERS = {"(": ")", "[": "]", "{": "}"}


def _strip_comments(text: str) -> str:
    return SKIP_RE.sub(lambda m: m.group() if m.group()[:1] in '"([{)]}' else "", text)


def _unclosed_bracket(text: str) -> int | None:
    stack: list[int] = []
    for match in SKIP_RE.finditer(text):
        ch = match.group()
        if ch in "([{":
            stack.append(match.start())
        elif ch in ")]}" and stack:
            stack.pop()
    return stack[-1] if stack else None


def _unexpected_character(source: SourceFile, text: str, offset: int, pos: int) -> Diagnostic:
    ch = text[pos] if pos < len(text) else ""
    span = Span(source, offset + pos, offset + pos + 1)
    if ch == '"':
        line_end = text.find("\n", pos)
        rest = text[pos + 1: len(text) if line_end < 0 else line_end]
        bad = re.search(r'\\[^"\\n]|\\$', rest)
        closed = re.match(r'(?:[^"\\]|\\.)*"', rest)
        if bad is not None and (closed is None or bad.start() < closed.end()):
            esc = offset + pos + 1 + bad.start()
            return Diagnostic("KR104", f"unknown escape `{bad.group()}` in a string", Span(source, esc, esc + len(bad.group())),
                              hint='inside a string write `\\"` for a quote, `\\\\` for a backslash and `\\n` for a new line')
        return Diagnostic("KR102", "this string is not closed on its line", span,
                          hint='end the string with `"` on the same line; write `\\n` for a line break inside it')
    if ch.isalpha() or ch.isdigit():
        return Diagnostic("KR102", f"unexpected character `{ch}`", span,
                          hint="names use lowercase ASCII letters, digits and `_` (write labels in quotes)")
    shown = repr(ch) if not ch.isprintable() or ch.isspace() else f"`{ch}`"
    hint = "remove it; text for people goes between double quotes"
    if ch in "×÷":
        hint = "write `*` for multiplication and `/` for division"
    elif ch == "=":
        hint = "compare with `==`"
    elif ch == "&" or ch == "|":
        hint = "write `and` / `or`"
    return Diagnostic("KR102", f"unexpected character {shown}", span, hint=hint)
