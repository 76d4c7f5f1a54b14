"""The text form: :class:`~kpi_rules.source.SourceFile` (``.kpi`` text) -> :class:`~kpi_rules.nodes.Ruleset`.

Input: a :class:`SourceFile`. Output: frozen nodes from :mod:`kpi_rules.nodes` with spans into
that file. The parser stops at the first syntax error and raises
:class:`~kpi_rules.diagnostics.DiagnosticError` with one KR1xx diagnostic; no Lark exception (or
any other exception) escapes for any input text. The Lark tree never leaves this module.

Example:
    >>> from kpi_rules.source import SourceFile
    >>> parse_expression(SourceFile("<doc>", "(a + b) * 2"))
    Binary(op='*', left=Binary(op='+', left=Var(name='a'), right=Var(name='b')), right=NumberLit(value=Fraction(2, 1)))
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import difflib
import functools
import importlib.resources
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, NoReturn, cast, get_args

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from lark.tree import Meta
from lark.visitors import Transformer_NonRecursive, v_args

from kpi_rules import nodes as n
from kpi_rules.diagnostics import Diagnostic, DiagnosticError, Label
from kpi_rules.source import MAX_SOURCE_BYTES, SourceFile, Span

__all__ = ["parse_ruleset", "parse_expression", "MAX_NESTING", "MAX_DEPTH"]

#: Deepest nesting of brackets ``( [ {`` accepted; checked on the raw text before parsing.
MAX_NESTING = 64
#: Deepest syntax tree accepted (long operator chains, ``not not ...``). Later stages walk the
#: tree recursively, so an unbounded depth would end in RecursionError far from the cause.
MAX_DEPTH = 160

SCALAR_TYPES: tuple[str, ...] = get_args(n.ScalarName)
ROUNDING_MODES: tuple[str, ...] = get_args(n.RoundingMode)
FALLTHROUGHS: tuple[str, ...] = get_args(n.Fallthrough)


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
        raise DiagnosticError([_syntax_diagnostic(source, text, start, exc, rule)]) from None
    except (LarkError, RecursionError, ValueError) as exc:  # pragma: no cover - defensive
        raise DiagnosticError([Diagnostic("KR101", f"cannot parse this text ({exc})", Span(source, start, start))]) from None
    _check_depth(source, tree, start)
    builder = _Builder(source, start)
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

_SKIP_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[(\[{]|[)\]}]')


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
    for match in _SKIP_RE.finditer(text):
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


# --------------------------------------------------------------------------- syntax errors

# How a terminal is named to a policy author.
_TERMINAL_WORDS = {"NAME": "a name", "STRING": "a string", "INT": "a number", "DECIMAL": "a number",
                   "PERCENT": "a percentage", "DATE": "a date", "COMP_OP": "a comparison",
                   "$END": "the end of the file"}
_EXPR_START = {"NAME", "INT", "DECIMAL", "PERCENT", "STRING", "DATE", "LPAR", "MINUS", "NOT", "IF",
               "TRUE", "FALSE", "INSUFFICIENT_DATA", "TIERS"}
_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "COMP_OP", "AND", "OR", "DOT", "LSQB"}


def _terminal_text(name: str) -> str | None:
    """The literal text of a keyword or punctuation terminal, or None for a pattern terminal."""
    term = next((t for t in _lark().terminals if t.name == name), None)
    return str(term.pattern.value) if term is not None and term.pattern.type == "str" else None


def _describe_expected(expected: set[str]) -> tuple[list[str], list[str]]:
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
        literal = _terminal_text(name)
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


def _join_or(items: list[str]) -> str:
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


def _syntax_diagnostic(source: SourceFile, text: str, offset: int, exc: UnexpectedInput, rule: str) -> Diagnostic:
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        return _unexpected_token(source, offset, exc)
    if isinstance(exc, (UnexpectedToken, UnexpectedEOF)):
        return _unexpected_end(source, text, offset, set(exc.expected or ()), rule)
    if isinstance(exc, UnexpectedCharacters):
        return _unexpected_character(source, text, offset, exc.pos_in_stream or 0)
    pos = offset + (getattr(exc, "pos_in_stream", 0) or 0)  # pragma: no cover - other Lark errors
    return Diagnostic("KR101", "this text cannot be parsed", Span(source, pos, pos + 1))  # pragma: no cover


def _unexpected_token(source: SourceFile, offset: int, exc: UnexpectedToken) -> Diagnostic:
    token = exc.token
    start = offset + (token.start_pos or 0)
    span = Span(source, start, offset + (token.end_pos or start - offset))
    # `accepts` replays the parser to get exactly the acceptable tokens; `expected` comes from
    # merged LALR states and lists tokens from unrelated contexts.
    try:
        acceptable = set(exc.accepts or exc.expected or ())
    except Exception:  # pragma: no cover - never let the error path itself fail
        acceptable = set(exc.expected or ())
    items, keywords = _describe_expected(acceptable)
    found = _describe_found(token)
    message = f"expected {_join_or(items)}, found {found}" if items else f"unexpected {found}"
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
        hint = f"write {_join_or(items)} before {found}"
    if hint is None and "an operator" in items and token.type in ("NAME", "INT", "DECIMAL", "STRING"):
        hint = "two values stand side by side; is an operator such as `+` or `and` missing?"
    if hint is None:
        hint = "see docs/language.md for the form of each declaration"
    return Diagnostic("KR101", message, span, hint=hint)


def _unexpected_end(source: SourceFile, text: str, offset: int, expected: set[str], rule: str) -> Diagnostic:
    items, _ = _describe_expected(expected)
    body = _strip_comments(text)
    if not body.strip():
        return Diagnostic(
            "KR103", "the text is empty" + (f"; expected {_join_or(items)}" if items else ""),
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
    message = "unexpected end of file" + (f"; expected {_join_or(items)}" if items else "")
    return Diagnostic("KR103", message, Span(source, pos, pos), hint=hint, labels=labels)


_CLOSERS = {"(": ")", "[": "]", "{": "}"}


def _strip_comments(text: str) -> str:
    return _SKIP_RE.sub(lambda m: m.group() if m.group()[:1] in '"([{)]}' else "", text)


def _unclosed_bracket(text: str) -> int | None:
    stack: list[int] = []
    for match in _SKIP_RE.finditer(text):
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


# --------------------------------------------------------------------------- tree -> nodes


@dataclass(frozen=True, slots=True)
class _Cite:
    value: str


@dataclass(frozen=True, slots=True)
class _Tagged:
    """A clause of a declaration (``min``, ``basis``...) before it is placed into its node."""

    tag: str
    value: Any
    span: Span


@dataclass(frozen=True, slots=True)
class _Body:
    conditions: tuple[n.Condition, ...]


_ESCAPES = {"n": "\n", '"': '"', "\\": "\\"}
_ESCAPE_RE = re.compile(r"\\(.)")


def _unescape(raw: str) -> str:
    return _ESCAPE_RE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), raw[1:-1])


def _first_cite(children: list[Any]) -> str | None:
    return next((c.value for c in children if isinstance(c, _Cite)), None)


def _first_text(children: list[Any]) -> n.Text | None:
    return next((c for c in children if isinstance(c, n.Text)), None)


@v_args(meta=True)
class _Builder(Transformer_NonRecursive[Token, Any]):
    """Builds nodes bottom-up (without recursion, so long chains cannot overflow the stack)."""

    def __init__(self, source: SourceFile, offset: int) -> None:
        super().__init__()
        self.source = source
        self.offset = offset
        #: start offsets of nodes that may carry comments, with the node's identity key
        self.decl_starts: list[tuple[int, int, int]] = []  # (start, end, id(node))

    # ----------------------------------------------------------------- helpers
    def _span(self, meta: Meta) -> Span:
        start = getattr(meta, "start_pos", 0)
        return Span(self.source, self.offset + start, self.offset + getattr(meta, "end_pos", start))

    def _tok(self, token: Token) -> Span:
        start = token.start_pos or 0
        return Span(self.source, self.offset + start, self.offset + (token.end_pos or start))

    def _fail(self, code: str, message: str, span: Span, hint: str | None = None) -> NoReturn:
        raise DiagnosticError([Diagnostic(code, message, span, hint=hint)])

    def _decl(self, node: Any, meta: Meta) -> Any:
        self.decl_starts.append((self.offset + meta.start_pos, self.offset + meta.end_pos, id(node)))
        return node

    def _fraction(self, token: Token) -> Fraction:
        text = str(token).rstrip("%")
        try:
            return Fraction(text)
        except (ValueError, ZeroDivisionError):
            self._fail("KR104", f"the number `{str(token)[:20]}...` is too long", self._tok(token),
                       hint="write at most a few thousand digits")

    def _date(self, token: Token) -> dt.date:
        try:
            return dt.date.fromisoformat(str(token))
        except ValueError:
            self._fail("KR104", f"`{token}` is not a valid date", self._tok(token),
                       hint="write dates as YYYY-MM-DD with a real month and day, e.g. 2026-02-28")

    def _choice(self, token: Token, choices: tuple[str, ...], what: str) -> str:
        word = str(token)
        if word in choices:
            return word
        close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
        hint = f"did you mean `{close[0]}`?" if close else f"write one of {_join_or([f'`{c}`' for c in choices])}"
        self._fail("KR101", f"expected {what} ({_join_or([f'`{c}`' for c in choices])}), found `{word}`", self._tok(token), hint)

    # ----------------------------------------------------------------- header
    # Rules whose result is one clause of a declaration (`basis "..."`, `min 0`, `optional`...)
    # or just their only child; the enclosing rule places them.
    _CLAUSES = {"basis", "version", "in_force", "extends", "rates", "dotted_name",
                "opt_min", "opt_max", "opt_default", "opt_optional", "opt_required",
                "opt_increasing", "opt_decreasing"}

    def __default__(self, data: Any, children: list[Any], meta: Meta) -> Any:
        if data not in self._CLAUSES:  # start, signed_number, arg: pass the only child through
            return children[0]
        tag = str(data).removeprefix("opt_")
        value: Any = None
        if data == "dotted_name":
            value = ".".join(str(t) for t in children)
        elif children:
            first = children[0]
            value = (_unescape(first) if first.type == "STRING" else str(first)) if isinstance(first, Token) else first
            value = value.value if isinstance(value, (n.NumberLit, _Tagged)) and tag != "default" else value
        return _Tagged(tag, value, self._span(meta))

    def display(self, meta: Meta, c: list[Token]) -> _Tagged:
        try:
            decimals = int(c[0])
        except ValueError:
            self._fail("KR104", f"the number `{str(c[0])[:20]}...` is too long", self._tok(c[0]))
        mode = self._choice(c[1], ROUNDING_MODES, "a rounding mode")
        return _Tagged("display", n.Display(decimals, cast(n.RoundingMode, mode)), self._span(meta))

    def validity(self, meta: Meta, c: list[Token]) -> n.Validity:
        return n.Validity(self._date(c[0]), self._date(c[1]) if len(c) > 1 else None)

    def ruleset(self, meta: Meta, c: list[Any]) -> n.Ruleset:
        head = {x.tag: x for x in c if isinstance(x, _Tagged)}
        groups: dict[type, list[Any]] = {}
        for item in c:
            groups.setdefault(type(item), []).append(item)
        for kind, keyword in ((n.CriteriaTree, "criteria"), (n.Rating, "rating"), (n.PeriodsDecl, "periods")):
            found = groups.get(kind, [])
            if len(found) > 1:
                self._fail("KR106", f"a rule set has one `{keyword}` block; this is a second one", found[1].span,
                           hint=f"merge the two `{keyword}` blocks into one")
        ident = c[0]
        ruleset = n.Ruleset(
            id=ident.value,
            title=c[1],
            basis=head["basis"].value,
            version=head["version"].value,
            in_force=head["in_force"].value,
            rates=head["rates"].value,
            extends=head["extends"].value if "extends" in head else None,
            display=head["display"].value if "display" in head else n.Display(),
            records=tuple(groups.get(n.RecordDecl, ())),
            subjects=tuple(groups.get(n.SubjectDecl, ())),
            params=tuple(groups.get(n.ParamDecl, ())),
            tables=tuple(groups.get(n.TableDecl, ())),
            lets=tuple(groups.get(n.LetDecl, ())),
            criteria=(groups.get(n.CriteriaTree) or [None])[0],
            rating=(groups.get(n.Rating) or [None])[0],
            removals=tuple(groups.get(n.Removal, ())),
            periods=(groups.get(n.PeriodsDecl) or [None])[0],
            cohorts=tuple(groups.get(n.CohortDecl, ())),
            span=ident.span,
        )
        return cast(n.Ruleset, self._decl(ruleset, meta))

    # ----------------------------------------------------------------- labels
    def text(self, meta: Meta, c: list[Token]) -> n.Text:
        return n.Text(_unescape(c[0]), _unescape(c[1]) if len(c) > 1 else None)

    def cite(self, meta: Meta, c: list[Token]) -> _Cite:
        return _Cite(_unescape(c[0]))

    # ----------------------------------------------------------------- types
    def scalar_type(self, meta: Meta, c: list[Token]) -> n.ScalarType:
        name = self._choice(c[0], SCALAR_TYPES, "a type")
        return n.ScalarType(cast(n.ScalarName, name), self._span(meta))

    def one_of_type(self, meta: Meta, c: list[Token]) -> n.OneOfType:
        return n.OneOfType(tuple(str(t) for t in c), self._span(meta))

    def list_type(self, meta: Meta, c: list[Token]) -> n.ListType:
        return n.ListType(str(c[0]), self._span(meta))

    # ----------------------------------------------------------------- records, subjects
    def record_decl(self, meta: Meta, c: list[Any]) -> n.RecordDecl:
        node = n.RecordDecl(str(c[0]), c[1], tuple(c[2:]), span=self._tok(c[0]))
        return cast(n.RecordDecl, self._decl(node, meta))

    def subject_decl(self, meta: Meta, c: list[Any]) -> n.SubjectDecl:
        inputs = tuple(x for x in c[2:] if isinstance(x, n.InputDecl))
        relations = tuple(x for x in c[2:] if isinstance(x, n.RelationDecl))
        node = n.SubjectDecl(str(c[0]), c[1], inputs, relations, span=self._tok(c[0]))
        return cast(n.SubjectDecl, self._decl(node, meta))

    def input_decl(self, meta: Meta, c: list[Any]) -> n.InputDecl:
        opts: dict[str, _Tagged] = {}
        missing: _Tagged | None = None
        for opt in (x for x in c if isinstance(x, _Tagged)):
            if opt.tag in opts:
                self._fail("KR106", f"`{opt.tag}` is given twice for input `{c[0]}`", opt.span, hint="keep only one")
            if opt.tag in ("default", "optional", "required"):
                if missing is not None:
                    self._fail("KR106", f"`{opt.tag}` conflicts with `{missing.tag}` given earlier for input `{c[0]}`", opt.span,
                               hint="an input is either `required` (the default), has a `default`, or is `optional`")
                missing = opt
            if opt.tag in ("increasing", "decreasing"):
                other = "decreasing" if opt.tag == "increasing" else "increasing"
                if other in opts:
                    self._fail("KR106", f"`{opt.tag}` conflicts with `{other}` given earlier for input `{c[0]}`",
                               opt.span, hint="an input is either `increasing` or `decreasing`, not both")
            opts[opt.tag] = opt
        monotone: n.Monotone | None = (
            "increasing" if "increasing" in opts else "decreasing" if "decreasing" in opts else None)
        node = n.InputDecl(
            name=str(c[0]),
            type=c[1],
            label=cast(n.Text, _first_text(c)),
            missing=cast(n.Missing, missing.tag if missing is not None else "required"),
            default=opts["default"].value if "default" in opts else None,
            min=opts["min"].value if "min" in opts else None,
            max=opts["max"].value if "max" in opts else None,
            cite=_first_cite(c),
            span=self._tok(c[0]),
            monotone=monotone,
        )
        return cast(n.InputDecl, self._decl(node, meta))

    def one_target(self, meta: Meta, c: list[Token]) -> tuple[str, bool]:
        return str(c[0]), False

    def many_target(self, meta: Meta, c: list[Token]) -> tuple[str, bool]:
        return str(c[0]), True

    def relation_decl(self, meta: Meta, c: list[Any]) -> n.RelationDecl:
        target, many = c[1]
        node = n.RelationDecl(str(c[0]), target, many, c[2], span=self._tok(c[0]))
        return cast(n.RelationDecl, self._decl(node, meta))

    # ----------------------------------------------------------------- params, tables, lets
    def param_decl(self, meta: Meta, c: list[Any]) -> n.ParamDecl:
        valid = next((x for x in c if isinstance(x, n.Validity)), None)
        node = n.ParamDecl(str(c[0]), c[1], c[2], c[3], valid, _first_cite(c), span=self._tok(c[0]))
        return cast(n.ParamDecl, self._decl(node, meta))

    def table_row(self, meta: Meta, c: list[Any]) -> n.TableRow:
        return cast(n.TableRow, self._decl(n.TableRow(c[0], c[1], span=self._span(meta)), meta))

    def table_decl(self, meta: Meta, c: list[Any]) -> n.TableDecl:
        valid = next((x for x in c if isinstance(x, n.Validity)), None)
        rows = tuple(x for x in c if isinstance(x, n.TableRow))
        node = n.TableDecl(str(c[0]), c[1], c[2], rows, c[3], valid, _first_cite(c), span=self._tok(c[0]))
        return cast(n.TableDecl, self._decl(node, meta))

    def let_decl(self, meta: Meta, c: list[Any]) -> n.LetDecl:
        node = n.LetDecl(str(c[0]), c[-1], _first_text(c[1:-1]), _first_cite(c[1:-1]), span=self._tok(c[0]))
        return cast(n.LetDecl, self._decl(node, meta))

    # ----------------------------------------------------------------- criteria
    def criteria_decl(self, meta: Meta, c: list[Any]) -> n.CriteriaTree:
        children = tuple(x for x in c[3:] if isinstance(x, (n.Criterion, n.CriteriaGroup)))
        node = n.CriteriaTree(str(c[0]), c[1], c[2].value, children, _first_cite(c), span=self._tok(c[0]))
        return cast(n.CriteriaTree, self._decl(node, meta))

    def group(self, meta: Meta, c: list[Any]) -> n.CriteriaGroup:
        children = tuple(x for x in c[4:] if isinstance(x, (n.Criterion, n.CriteriaGroup)))
        kind = cast(n.GroupKind, str(c[0]))
        node = n.CriteriaGroup(kind, str(c[1]), c[2], c[3].value, children, _first_cite(c), span=self._tok(c[1]))
        return cast(n.CriteriaGroup, self._decl(node, meta))

    def criterion(self, meta: Meta, c: list[Any]) -> n.Criterion:
        node = n.Criterion(str(c[0]), c[1], c[2].value, c[-1], _first_cite(c[3:-1]), span=self._tok(c[0]))
        return cast(n.Criterion, self._decl(node, meta))

    # ----------------------------------------------------------------- rating
    def band_between(self, meta: Meta, c: list[Any]) -> _Tagged:
        return _Tagged("band", (c[0].value, c[1].value), self._span(meta))

    def band_from(self, meta: Meta, c: list[Any]) -> _Tagged:
        return _Tagged("band", (c[0].value, None), self._span(meta))

    def band_below(self, meta: Meta, c: list[Any]) -> _Tagged:
        return _Tagged("band", (None, c[0].value), self._span(meta))

    def level_body(self, meta: Meta, c: list[Any]) -> _Body:
        return _Body(tuple(c))

    def level(self, meta: Meta, c: list[Any]) -> n.Level:
        lower, upper = c[2].value
        body = next((x for x in c if isinstance(x, _Body)), _Body(()))
        node = n.Level(str(c[0]), c[1], lower, upper, body.conditions, _first_cite(c), span=self._tok(c[0]))
        return cast(n.Level, self._decl(node, meta))

    def condition(self, meta: Meta, c: list[Any]) -> n.Condition:
        node = n.Condition(str(c[0]), c[1], c[-1], _first_cite(c[2:-1]), span=self._tok(c[0]))
        return cast(n.Condition, self._decl(node, meta))

    def disqualifier(self, meta: Meta, c: list[Any]) -> n.Disqualifier:
        target = str(c[-1]) if isinstance(c[-1], Token) else None
        body = c[:-1] if target is not None else c
        node = n.Disqualifier(str(c[0]), c[1], body[-1], target, _first_cite(body[2:-1]), span=self._tok(c[0]))
        return cast(n.Disqualifier, self._decl(node, meta))

    def remove_decl(self, meta: Meta, c: list[Any]) -> n.Removal:
        kind = cast(n.RemovalKind, self._choice(c[0], n.REMOVAL_KINDS, "what to remove"))
        node = n.Removal(kind, c[1].value, span=self._span(meta))
        return cast(n.Removal, self._decl(node, meta))

    def fallthrough(self, meta: Meta, c: list[Token]) -> _Tagged:
        return _Tagged("fallthrough", self._choice(c[0], FALLTHROUGHS, "a fall-through rule"), self._span(meta))

    def override_policy(self, meta: Meta, c: list[Any]) -> n.OverridePolicy:
        return n.OverridePolicy(c[0], _first_cite(c), span=self._span(meta))

    def rating_decl(self, meta: Meta, c: list[Any]) -> n.Rating:
        fallthrough = [x for x in c if isinstance(x, _Tagged)]
        overrides = [x for x in c if isinstance(x, n.OverridePolicy)]
        if len(fallthrough) > 1:
            self._fail("KR106", "`fallthrough` is given twice in this rating", fallthrough[1].span, hint="keep only one")
        if len(overrides) > 1:
            span = overrides[1].span or self._span(meta)
            self._fail("KR106", "`allow override` is given twice in this rating", span, hint="keep only one")
        start = getattr(meta, "start_pos", 0)
        node = n.Rating(
            levels=tuple(x for x in c if isinstance(x, n.Level)),
            disqualifiers=tuple(x for x in c if isinstance(x, n.Disqualifier)),
            fallthrough=cast(n.Fallthrough, fallthrough[0].value if fallthrough else "highest_met"),
            override=overrides[0] if overrides else None,
            cite=_first_cite(c),
            span=Span(self.source, self.offset + start, self.offset + start + len("rating")),
        )
        return cast(n.Rating, self._decl(node, meta))

    # ----------------------------------------------------------------- periods and cohorts
    def monitor(self, meta: Meta, c: list[Token]) -> _Tagged:
        return _Tagged("monitor", str(c[0]), self._tok(c[0]))

    def combine(self, meta: Meta, c: list[Any]) -> _Tagged:
        return _Tagged("combine", (str(c[0]), c[1] if len(c) > 1 else None), self._tok(c[0]))

    def count_rules(self, meta: Meta, c: list[Any]) -> tuple[tuple[n.CountRule, ...], str | None]:
        rules = tuple(x for x in c if isinstance(x, n.CountRule))
        otherwise = next((x.value for x in c if isinstance(x, _Tagged)), None)
        return rules, otherwise

    def count_rule(self, meta: Meta, c: list[Any]) -> n.CountRule:
        return cast(n.CountRule, self._decl(n.CountRule(str(c[0]), c[1], span=self._tok(c[0])), meta))

    def count_otherwise(self, meta: Meta, c: list[Token]) -> _Tagged:
        return _Tagged("otherwise", str(c[0]), self._tok(c[0]))

    def periods_decl(self, meta: Meta, c: list[Any]) -> n.PeriodsDecl:
        tags = {x.tag: x for x in c if isinstance(x, _Tagged)}
        method, body = tags["combine"].value
        rules, otherwise = body if body is not None else ((), None)
        start = getattr(meta, "start_pos", 0)
        node = n.PeriodsDecl(
            monitor=tags["monitor"].value, combine=method, rules=rules, otherwise=otherwise,
            cite=_first_cite(c),
            span=Span(self.source, self.offset + start, self.offset + start + len("periods")),
        )
        return cast(n.PeriodsDecl, self._decl(node, meta))

    def quota_limit(self, meta: Meta, c: list[Any]) -> _Tagged:
        names = [t for t in c if isinstance(t, Token) and t.type == "NAME"]
        per_period = any(isinstance(t, Token) and t.type == "PER_PERIOD" for t in c)
        percent = next(t for t in c if isinstance(t, Token) and t.type == "PERCENT")
        value = (str(names[0]), self._fraction(percent), str(names[1]), tuple(str(t) for t in names[2:]), per_period)
        return _Tagged("limit", value, self._span(meta))

    def quota_exception(self, meta: Meta, c: list[Token]) -> _Tagged:
        return _Tagged("exception", (self._fraction(c[0]), str(c[1])), self._span(meta))

    def sort_key(self, meta: Meta, c: list[Token]) -> n.SortKey:
        direction = self._choice(c[1], ("asc", "desc"), "a sort direction")
        return n.SortKey(str(c[0]), cast(n.SortDirection, direction), self._tok(c[0]))

    def quota_demote(self, meta: Meta, c: list[Any]) -> _Tagged:
        return _Tagged("demote", (str(c[0]), tuple(x for x in c[1:] if isinstance(x, n.SortKey))), self._span(meta))

    def cohort_decl(self, meta: Meta, c: list[Any]) -> n.CohortDecl:
        tags = {x.tag: x for x in c if isinstance(x, _Tagged)}
        level, percent, of, groups, per_period = tags["limit"].value
        exception = tags["exception"].value if "exception" in tags else (None, None)
        demote_to, order = tags["demote"].value
        node = n.CohortDecl(
            name=str(c[0]), label=c[1], level=level, percent=percent, of=of, groups=groups,
            demote_to=demote_to, order=order, exception_percent=exception[0], exception_flag=exception[1],
            per_period=per_period, cite=_first_cite(c), span=self._tok(c[0]),
        )
        return cast(n.CohortDecl, self._decl(node, meta))

    # ----------------------------------------------------------------- expressions
    def number(self, meta: Meta, c: list[Token]) -> n.NumberLit:
        return n.NumberLit(self._fraction(c[0]), self._span(meta))

    def negative_number(self, meta: Meta, c: list[Any]) -> n.NumberLit:
        return n.NumberLit(-c[1].value, self._span(meta))

    def percent_lit(self, meta: Meta, c: list[Token]) -> n.PercentLit:
        return n.PercentLit(self._fraction(c[0]), self._span(meta))

    def string_lit(self, meta: Meta, c: list[Token]) -> n.StringLit:
        return n.StringLit(_unescape(c[0]), self._span(meta))

    def date_lit(self, meta: Meta, c: list[Token]) -> n.DateLit:
        return n.DateLit(self._date(c[0]), self._span(meta))

    def true_lit(self, meta: Meta, c: list[Any]) -> n.BoolLit:
        return n.BoolLit(True, self._span(meta))

    def false_lit(self, meta: Meta, c: list[Any]) -> n.BoolLit:
        return n.BoolLit(False, self._span(meta))

    def insufficient(self, meta: Meta, c: list[Any]) -> n.InsufficientData:
        return n.InsufficientData(self._span(meta))

    def var(self, meta: Meta, c: list[Token]) -> n.Var:
        return n.Var(str(c[0]), self._span(meta))

    def member(self, meta: Meta, c: list[Any]) -> n.Member:
        return n.Member(c[0], str(c[1]), self._span(meta))

    def index(self, meta: Meta, c: list[Any]) -> n.Index:
        return n.Index(c[0], c[1], self._span(meta))

    def neg(self, meta: Meta, c: list[Any]) -> n.Unary:
        return n.Unary("-", c[1], self._span(meta))

    def not_op(self, meta: Meta, c: list[Any]) -> n.Unary:
        return n.Unary("not", c[0], self._span(meta))

    def arith(self, meta: Meta, c: list[Any]) -> n.Binary:
        return n.Binary(cast(n.BinaryOp, str(c[1])), c[0], c[2], self._span(meta))

    def compare(self, meta: Meta, c: list[Any]) -> n.Binary:
        return n.Binary(cast(n.BinaryOp, str(c[1])), c[0], c[2], self._span(meta))

    def and_op(self, meta: Meta, c: list[Any]) -> n.Binary:
        return n.Binary("and", c[0], c[1], self._span(meta))

    def or_op(self, meta: Meta, c: list[Any]) -> n.Binary:
        return n.Binary("or", c[0], c[1], self._span(meta))

    def if_else(self, meta: Meta, c: list[Any]) -> n.IfElse:
        return n.IfElse(c[0], c[1], c[2], self._span(meta))

    def kwarg(self, meta: Meta, c: list[Any]) -> n.KeywordArg:
        return n.KeywordArg(str(c[0]), c[1], self._span(meta))

    def call(self, meta: Meta, c: list[Any]) -> n.Call:
        args: list[n.Expr] = []
        kwargs: list[n.KeywordArg] = []
        for item in c[1:]:
            if item is None:
                continue
            if isinstance(item, n.KeywordArg):
                kwargs.append(item)
            elif kwargs:
                self._fail("KR101", "a positional argument cannot follow a keyword argument",
                           item.span or self._span(meta), hint="put positional arguments first, e.g. `percent(a, b, if_zero: 0)`")
            else:
                args.append(item)
        return n.Call(str(c[0]), tuple(args), tuple(kwargs), self._span(meta))

    def aggregate(self, meta: Meta, c: list[Any]) -> n.Aggregate:
        return n.Aggregate(str(c[0]), str(c[1]), c[2], c[3], c[4], self._span(meta))

    def tier(self, meta: Meta, c: list[Any]) -> n.Tier:
        return n.Tier(c[0], c[1], self._span(meta))

    def tiers(self, meta: Meta, c: list[Any]) -> n.Tiers:
        return n.Tiers(c[0], tuple(c[1:-1]), c[-1], self._span(meta))


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
