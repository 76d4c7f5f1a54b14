"""The YAML form of a rule set: YAML text (a :class:`SourceFile`) → :class:`nodes.Ruleset`, and back.

A rule set written in YAML loads to exactly the nodes its ``.kpi`` twin parses to, so the two
compare equal with ``==``. ``docs/yaml-form.md`` describes the schema.

The YAML is *composed*, never constructed: we walk PyYAML's node graph, which keeps the line and
column of every value, and convert each scalar ourselves from its source text according to the
field that holds it. So ``2.5`` is ``Fraction("2.5")`` (never a float), ``2026-01-01`` becomes a
date only where a date is expected, and ``yes`` is not silently a boolean. Expressions are
strings in the expression syntax, parsed by :func:`kpi_rules.parser.parse_expression` at the
scalar's offsets in the YAML file, so an error in an expression points into the YAML file.

The loader is hardened for untrusted text: the size and the nesting depth are limited (KR105),
anchors, aliases and tags are refused (KR205), duplicate keys are errors (KR202). Schema problems
(KR203 missing field, KR204 unexpected field, KR205 wrong type) are collected in one pass and
raised together; every message names the dotted path of the value (``criteria.children[1].max``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import re
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any, Final, TypeVar, cast

import yaml

from kpi_rules import nodes
from kpi_rules.diagnostics import Diagnostic, DiagnosticError, DiagnosticSink, Label
from kpi_rules.parser import parse_expression
from kpi_rules.printer import format_expr, format_number
from kpi_rules.source import MAX_SOURCE_BYTES, SourceFile, Span

__all__ = ["MAX_DEPTH", "dump_yaml_ruleset", "load_yaml_ruleset"]

#: Deepest nesting of YAML collections we accept (the nd335 rule set needs 9).
MAX_DEPTH: Final = 64
#: Schema problems reported before the loader gives up on a file.
MAX_DIAGNOSTICS: Final = 200
#: Longest number we read; longer digit strings are a mistake or an attack (int() would refuse them).
MAX_NUMBER_CHARS: Final = 100

_NULL_TAG: Final = "tag:yaml.org,2002:null"
_STR_TAG: Final = "tag:yaml.org,2002:str"
_BOOL_TAG: Final = "tag:yaml.org,2002:bool"
_INT_TAG: Final = "tag:yaml.org,2002:int"
_FLOAT_TAG: Final = "tag:yaml.org,2002:float"
_MAP_TAG: Final = "tag:yaml.org,2002:map"
_SEQ_TAG: Final = "tag:yaml.org,2002:seq"

# ASCII digits only, as in the grammar: Python's \d also matches other scripts' digits.
_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_DOTTED_NAME = re.compile(r"[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_MONOTONE: Final[tuple[nodes.Monotone, ...]] = ("increasing", "decreasing")
_SIGNED_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_PERCENT = re.compile(r"([0-9]+(?:\.[0-9]+)?)%")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INT = re.compile(r"[0-9]{1,3}")
_LOOKS_NUMERIC = re.compile(r"[-+.]?[0-9]")
_ONE_OF = re.compile(r"one_of\s*\((.*)\)", re.DOTALL)
_LIST_OF = re.compile(r"list\s+of\s+(\S+)")
_SCALAR_TYPES: Final[tuple[nodes.ScalarName, ...]] = ("number", "percent", "points", "bool", "text", "date")
_ROUNDING_MODES: Final[tuple[nodes.RoundingMode, ...]] = ("half_up", "half_even", "down", "up")
_FALLTHROUGHS: Final[tuple[nodes.Fallthrough, ...]] = ("highest_met", "lowest")
_GROUP_KINDS: Final[tuple[nodes.GroupKind, ...]] = ("group", "bonus", "penalty")
_ITEM_KINDS: Final = ("group", "bonus", "penalty", "criterion")
_DEFAULT_DISPLAY: Final = nodes.Display()

# YAML's implicit resolvers without the timestamp one, for this module's loader and dumper only.
_IMPLICIT_RESOLVERS: Final[dict[Any, Any]] = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _implicit_tag(value: str) -> str:
    """The tag YAML gives ``value`` written as a plain scalar (our resolvers: no timestamps)."""
    candidates = list(_IMPLICIT_RESOLVERS.get(value[:1] if value else "", []))
    candidates += _IMPLICIT_RESOLVERS.get(None, [])
    for tag, regexp in candidates:
        if regexp.match(value):
            return cast(str, tag)
    return _STR_TAG


# =========================================================================== loading


def load_yaml_ruleset(source: SourceFile) -> nodes.Ruleset:
    r"""Load the YAML form of a rule set.

    Raises:
        DiagnosticError: KR105 (too large or too deep), KR201 (YAML syntax), KR202 (duplicate
            key), KR203/KR204/KR205 (schema), and KR1xx for errors inside expression strings.

    >>> text = (
    ...     "ruleset: demo\ntitle: {vi: Thử, en: Test}\nbasis: b\nversion: '1'\n"
    ...     "in_force: {from: 2026-01-01}\nrates: person\nlets:\n  a: 2.5 * 2\n"
    ... )
    >>> rs = load_yaml_ruleset(SourceFile("demo.yaml", text))
    >>> rs.in_force.start, rs.lets[0].expr.left
    (datetime.date(2026, 1, 1), NumberLit(value=Fraction(5, 2)))
    """
    root = _compose(source)
    reader = _Reader(source)
    reader.check_duplicate_keys(root)
    ruleset = reader.ruleset(root)
    reader.sink.raise_if_errors()
    return ruleset


def _diag(code: str, message: str, source: SourceFile, start: int, end: int | None = None, **extra: Any) -> Diagnostic:
    start = max(0, min(start, len(source.text)))
    end = min(len(source.text), start + 1) if end is None else max(start, min(end, len(source.text)))
    return Diagnostic(code, message, Span(source, start, end), **extra)


class _RuleLoader(yaml.SafeLoader):
    """A safe loader that composes nodes only, refusing anchors, aliases and tags, and limiting depth."""

    yaml_implicit_resolvers = _IMPLICIT_RESOLVERS

    def __init__(self, source: SourceFile) -> None:
        super().__init__(source.text)
        self._source = source
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        mark = event.start_mark
        at = mark.index if mark is not None else 0
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise DiagnosticError([_diag(
                "KR205", "YAML anchors and aliases (`&name`, `*name`) are not allowed in rule files",
                self._source, at, hint="write the value out in full",
            )])
        if getattr(event, "tag", None) is not None:
            raise DiagnosticError([_diag(
                "KR205", "YAML tags (`!name`, `!!type`) are not allowed in rule files",
                self._source, at, hint="remove the tag; each field says how its value is read",
            )])
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise DiagnosticError([_diag(
                    "KR105", f"the YAML is nested more than {MAX_DEPTH} levels deep", self._source, at,
                )])
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _compose(source: SourceFile) -> yaml.Node:
    size = len(source.text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_SOURCE_BYTES:
        raise DiagnosticError([Diagnostic(
            "KR105", f"the file has {size} bytes; rule files are limited to {MAX_SOURCE_BYTES}",
            where=source.path, hint="split the rule set or move large tables into a catalogue file",
        )])
    try:
        loader = _RuleLoader(source)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as error:
        raise DiagnosticError([_yaml_error(source, error)]) from None
    except yaml.reader.ReaderError as error:
        raise DiagnosticError([_diag(
            "KR201", f"the text contains a character YAML does not allow ({error.character!r})",
            source, int(error.position),
        )]) from None
    except yaml.YAMLError as error:
        raise DiagnosticError([Diagnostic("KR201", f"invalid YAML: {error}", where=source.path)]) from None
    except RecursionError:
        raise DiagnosticError([Diagnostic("KR105", "the YAML is nested too deeply", where=source.path)]) from None
    if node is None:
        raise DiagnosticError([Diagnostic(
            "KR205", "the file is empty; expected a mapping that starts with `ruleset: <id>`",
            where=source.path,
        )])
    return node


def _yaml_error(source: SourceFile, error: yaml.MarkedYAMLError) -> Diagnostic:
    problem = error.problem or error.context or "invalid YAML"
    mark = error.problem_mark or error.context_mark
    labels: tuple[Label, ...] = ()
    if error.context and error.context_mark is not None and error.context_mark is not mark:
        at = max(0, min(error.context_mark.index, len(source.text)))
        labels = (Label(Span(source, at, min(at + 1, len(source.text))), error.context),)
    note = error.context if error.context and not labels else None
    hint = next((h for needle, h in _SYNTAX_HINTS if needle in problem), None)
    if mark is None:
        return Diagnostic("KR201", problem, where=source.path, note=note, hint=hint)
    return _diag("KR201", problem, source, mark.index, labels=labels, note=note, hint=hint)


# Hints for the YAML mistakes rule authors make most.
_SYNTAX_HINTS: Final = (
    ("'\t'", "indent with spaces; YAML does not allow tabs there"),
    ("mapping values are not allowed",
     "a value that contains `: ` (such as `if_zero: 0` in an expression) must be in quotes: 'like: this'"),
    ("found unknown escape character", "inside \"double quotes\" a backslash starts an escape; use 'single quotes'"),
)


def _leading_comments(text: str) -> tuple[str, ...]:
    """The ``#`` lines at the top of the file: the rule set's comments, as the text form keeps them."""
    comments: list[str] = []
    for line in text.splitlines():
        stripped = line.strip().lstrip("\ufeff")
        if stripped.startswith("#"):
            comments.append(stripped[1:].rstrip())
        elif stripped:
            break
    return tuple(comments)


# --------------------------------------------------------------------------- paths and values


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if not isinstance(node, yaml.ScalarNode) or _is_null(node):
        return "nothing (null)"
    value = str(node.value)
    shown = value if len(value) <= 40 else value[:37] + "..."
    return f"`{shown}`" if node.style is None else f"the text {shown!r}"


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.style is None and node.tag == _NULL_TAG


def _is_plain(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.style is None


_T = TypeVar("_T")


class _Fields:
    """The fields of one YAML mapping, read by name; what was never asked for is reported unexpected."""

    def __init__(self, reader: _Reader, node: yaml.Node | None, path: str, owner: Span | None) -> None:
        self.reader = reader
        self.path = path
        self.owner = owner
        self.entries: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        self.known: list[str] = []
        self.ok = isinstance(node, yaml.MappingNode)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = reader.key(key_node, path)
                if key is not None and key not in self.entries:
                    self.entries[key] = (key_node, value_node)

    def get(self, name: str, required: bool = False) -> yaml.Node | None:
        """The value of field ``name``; a missing required field is reported (KR203)."""
        self.known.append(name)
        entry = self.entries.get(name)
        if entry is None:
            if required and self.ok:
                where = f"`{self.path}`" if self.path else "the top level"
                self.reader.error(
                    "KR203", f"missing field `{_join(self.path, name)}`", self.owner,
                    hint=f"add `{name}: ...` to {where}",
                )
            return None
        return entry[1]

    def has(self, name: str) -> bool:
        return name in self.entries

    def key_span(self, name: str) -> Span | None:
        entry = self.entries.get(name)
        return self.reader.span(entry[0]) if entry else None

    def sub(self, name: str) -> str:
        return _join(self.path, name)

    def finish(self) -> None:
        """Report every field that no reader asked for (KR204), with a "did you mean" hint."""
        for key, (key_node, _) in self.entries.items():
            if key in self.known:
                continue
            close = difflib.get_close_matches(key, self.known, n=1, cutoff=0.6)
            allowed = ", ".join(f"`{k}`" for k in dict.fromkeys(self.known))
            self.reader.error(
                "KR204", f"unexpected field `{_join(self.path, key)}`", self.reader.span(key_node),
                hint=f"did you mean `{close[0]}`?" if close else None,
                note=f"allowed here: {allowed}" if allowed else None,
            )


class _Reader:
    """Walks the composed YAML and builds nodes, collecting every schema problem.

    A problem is recorded and a placeholder returned, so the walk goes on and all problems are
    reported at once; the placeholders never leave this module (errors are raised at the end).
    """

    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.sink = DiagnosticSink()

    # ----------------------------------------------------------------- helpers

    def span(self, node: yaml.Node) -> Span:
        start = node.start_mark.index if node.start_mark is not None else 0
        end = node.end_mark.index if node.end_mark is not None else start
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style:
            # A block collection "ends" where the next thing starts; stop at its last value instead.
            last = node.value[-1] if node.value else None
            if isinstance(last, tuple):
                last = last[1]
            if last is not None:
                end = self.span(last).end
        return Span(self.source, start, max(start, end))

    def entry_span(self, key: yaml.Node, value: yaml.Node) -> Span:
        return Span(self.source, self.span(key).start, max(self.span(key).end, self.span(value).end))

    def error(self, code: str, message: str, span: Span | None, **extra: Any) -> None:
        self.sink.add(Diagnostic(code, message, span, where=None if span else self.source.path, **extra))
        if len(self.sink.items) >= MAX_DIAGNOSTICS:
            raise DiagnosticError([*self.sink.items, Diagnostic(
                "KR105", f"stopped after {MAX_DIAGNOSTICS} problems", where=self.source.path,
                hint="is this a rule file? fix the problems above and check again",
            )])

    def wrong(self, node: yaml.Node, path: str, expected: str, hint: str | None = None) -> None:
        where = f"`{path}`" if path else "the document"
        self.error("KR205", f"{where} must be {expected}, found {_describe(node)}", self.span(node), hint=hint)

    def fields(self, node: yaml.Node | None, path: str, owner: Span | None = None) -> _Fields:
        if node is not None and not isinstance(node, yaml.MappingNode):
            self.wrong(node, path, "a mapping of fields")
        owner = owner if owner is not None else (self.span(node) if node is not None else None)
        return _Fields(self, node, path, owner)

    def key(self, node: yaml.Node, path: str) -> str | None:
        if isinstance(node, yaml.ScalarNode):
            return str(node.value)
        self.error("KR205", f"a key in `{path or 'the document'}` must be plain text, found {_describe(node)}",
                   self.span(node))
        return None

    def items(self, node: yaml.Node | None, path: str) -> list[tuple[yaml.Node, str]]:
        """The items of a list (null counts as empty), each with its dotted path."""
        if node is None or _is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.wrong(node, path, "a list (items starting with `- `)")
            return []
        return [(item, f"{path}[{i}]") for i, item in enumerate(node.value)]

    def named(self, node: yaml.Node | None, path: str) -> Iterator[tuple[str, yaml.Node, yaml.Node, str]]:
        """The entries of a mapping keyed by declared names: (name, key node, value node, path)."""
        if node is None or _is_null(node):
            return
        if not isinstance(node, yaml.MappingNode):
            self.wrong(node, path, "a mapping from names to declarations")
            return
        for key_node, value_node in node.value:
            key = self.key(key_node, path)
            if key is None:
                continue
            name_path = _join(path, key)
            if not _NAME.fullmatch(key):
                self.error("KR205", f"`{name_path}`: `{key}` is not a valid name", self.span(key_node),
                           hint="names use lowercase letters, digits and `_`, and do not start with a digit")
            yield key, key_node, value_node, name_path

    def optional(self, convert: Callable[[yaml.Node, str], _T], node: yaml.Node | None, path: str) -> _T | None:
        return None if node is None else convert(node, path)

    # ----------------------------------------------------------------- scalars

    def string(self, node: yaml.Node | None, path: str) -> str:
        if node is None:
            return ""
        if not isinstance(node, yaml.ScalarNode) or _is_null(node):
            self.wrong(node, path, "text")
            return ""
        return str(node.value)

    def text(self, node: yaml.Node | None, path: str) -> nodes.Text:
        """A label: a string (Vietnamese), or ``{vi: ..., en: ...}``."""
        if isinstance(node, yaml.MappingNode):
            f = self.fields(node, path)
            vi = self.string(f.get("vi", required=True), f.sub("vi"))
            en = self.optional(self.string, f.get("en"), f.sub("en"))
            f.finish()
            return nodes.Text(vi, en)
        if node is not None and (not isinstance(node, yaml.ScalarNode) or _is_null(node)):
            self.wrong(node, path, "a label (text, or `vi:` and `en:` texts)")
            return nodes.Text("")
        return nodes.Text(self.string(node, path))

    def name(self, node: yaml.Node | None, path: str) -> str:
        value = self.string(node, path)
        if node is not None and value and not _NAME.fullmatch(value):
            self.wrong(node, path, "a name", hint="names use lowercase letters, digits and `_`")
        return value

    def dotted_name(self, node: yaml.Node | None, path: str) -> str:
        value = self.string(node, path)
        if node is not None and value and not _DOTTED_NAME.fullmatch(value):
            self.wrong(node, path, "a dotted name like `nd335.individual`")
        return value

    def choice(self, node: yaml.Node | None, path: str, options: tuple[_T, ...]) -> _T:
        value = self.string(node, path)
        for option in options:
            if value == option:
                return option
        if node is not None and isinstance(node, yaml.ScalarNode) and not _is_null(node):
            close = difflib.get_close_matches(value, [str(o) for o in options], n=1)
            self.wrong(node, path, "one of " + ", ".join(f"`{o}`" for o in options),
                       hint=f"did you mean `{close[0]}`?" if close else None)
        return options[0]

    def boolean(self, node: yaml.Node | None, path: str) -> bool:
        if node is None:
            return False
        if _is_plain(node) and node.value in ("true", "false"):
            return bool(node.value == "true")
        self.wrong(node, path, "`true` or `false`")
        return False

    def integer(self, node: yaml.Node | None, path: str) -> int:
        if node is None:
            return 0
        if _is_plain(node) and _INT.fullmatch(node.value):
            return int(node.value)
        self.wrong(node, path, "a whole number from 0 to 999")
        return 0

    def number(self, node: yaml.Node | None, path: str, signed: bool = False) -> Fraction:
        """An exact decimal number, read from its source text (never through a float)."""
        if node is None:
            return Fraction(0)
        pattern = _SIGNED_NUMBER if signed else _NUMBER
        if _is_plain(node) and len(node.value) <= MAX_NUMBER_CHARS and pattern.fullmatch(node.value):
            return Fraction(node.value)
        expected = "a decimal number like `5` or `2.5`" if not signed else "a decimal number like `5`, `-1` or `2.5`"
        self.wrong(node, path, expected, hint=self._number_hint(node))
        return Fraction(0)

    @staticmethod
    def _number_hint(node: yaml.Node) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            return None
        if len(node.value) > MAX_NUMBER_CHARS:
            return f"numbers have at most {MAX_NUMBER_CHARS} characters"
        if node.style is not None:
            return "write the number without quotes"
        if node.value.startswith("-") and _SIGNED_NUMBER.fullmatch(node.value):
            return "this number cannot be negative"
        if node.tag in (_INT_TAG, _FLOAT_TAG) or _LOOKS_NUMERIC.match(node.value):
            return "write digits with an optional `.` and decimals (no exponent, `_`, `+`, `.inf` or hex)"
        return None

    def date(self, node: yaml.Node | None, path: str) -> dt.date:
        if node is None:
            return dt.date(1, 1, 1)
        if isinstance(node, yaml.ScalarNode) and _DATE.fullmatch(str(node.value)):
            try:
                return dt.date.fromisoformat(node.value)
            except ValueError:
                self.wrong(node, path, "a valid date", hint="this day does not exist")
                return dt.date(1, 1, 1)
        self.wrong(node, path, "a date written `YYYY-MM-DD`")
        return dt.date(1, 1, 1)

    def literal(self, node: yaml.Node | None, path: str) -> nodes.Literal_:
        """A literal as the text form writes it: ``12``, ``-2.5``, ``25%``, ``2026-01-01``,
        ``true``/``false``; any other plain scalar or any quoted one is text."""
        if node is None:
            return nodes.NumberLit(Fraction(0))
        span = self.span(node)
        if not isinstance(node, yaml.ScalarNode) or _is_null(node):
            self.wrong(node, path, "a literal (number, percent, date, true/false or text)")
            return nodes.NumberLit(Fraction(0), span)
        value = str(node.value)
        if node.style is not None:
            return nodes.StringLit(value, span)
        if value in ("true", "false"):
            return nodes.BoolLit(value == "true", span)
        if node.tag == _BOOL_TAG:
            self.wrong(node, path, "`true` or `false`, or text in quotes",
                       hint=f"write `true`/`false`, or \"{value}\" for the text")
            return nodes.BoolLit(False, span)
        if len(value) <= MAX_NUMBER_CHARS:
            if _SIGNED_NUMBER.fullmatch(value):
                return nodes.NumberLit(Fraction(value), span)
            percent = _PERCENT.fullmatch(value)
            if percent:
                return nodes.PercentLit(Fraction(percent.group(1)), span)
            if _DATE.fullmatch(value):
                return nodes.DateLit(self.date(node, path), span)
        if _LOOKS_NUMERIC.match(value) or node.tag in (_INT_TAG, _FLOAT_TAG):
            self.wrong(node, path, "a number (`2.5`), percent (`25%`), date (`2026-01-01`) or text in quotes",
                       hint=self._number_hint(node))
            return nodes.NumberLit(Fraction(0), span)
        return nodes.StringLit(value, span)

    def type_expr(self, node: yaml.Node | None, path: str) -> nodes.TypeExpr:
        """``number``, ``percent``, ``points``, ``bool``, ``text``, ``date``, ``one_of(a, b)`` or ``list of r``."""
        value = self.string(node, path).strip()
        span = self.span(node) if node is not None else None
        for scalar in _SCALAR_TYPES:
            if value == scalar:
                return nodes.ScalarType(scalar, span)
        one_of = _ONE_OF.fullmatch(value)
        if one_of:
            members = tuple(m.strip() for m in one_of.group(1).split(","))
            if all(_NAME.fullmatch(m) for m in members):
                return nodes.OneOfType(members, span)
        list_of = _LIST_OF.fullmatch(value)
        if list_of and _NAME.fullmatch(list_of.group(1)):
            return nodes.ListType(list_of.group(1), span)
        if node is not None and isinstance(node, yaml.ScalarNode) and not _is_null(node):
            close = difflib.get_close_matches(value, _SCALAR_TYPES, n=1)
            self.wrong(node, path, "a type: " + ", ".join(f"`{t}`" for t in _SCALAR_TYPES)
                       + ", `one_of(a, b, ...)` or `list of <record>`",
                       hint=f"did you mean `{close[0]}`?" if close else None)
        return nodes.ScalarType("number", span)

    # ----------------------------------------------------------------- expressions

    def expr(self, node: yaml.Node | None, path: str) -> nodes.Expr:
        """Parse an expression string at its place in the YAML file."""
        placeholder = nodes.Var("")
        if node is None:
            return placeholder
        if not isinstance(node, yaml.ScalarNode) or _is_null(node):
            self.wrong(node, path, "an expression (text)")
            return placeholder
        value = str(node.value)
        start, end = self._content_range(node)
        try:
            if self.source.text[start:end] == value:
                return parse_expression(self.source, start, end)
            # Quoted with escapes, folded or a block scalar: parse the value on its own and move
            # every position back into the YAML file, character by character.
            derived = SourceFile(self.source.path, value)
            mover = _SpanMover(self.source, derived, _align(self.source.text, start, end, value), start)
            return cast(nodes.Expr, mover.move(parse_expression(derived)))
        except DiagnosticError as error:
            for diagnostic in error.diagnostics:
                if diagnostic.span is not None and diagnostic.span.source is not self.source:
                    mover = _SpanMover(self.source, diagnostic.span.source, _align(
                        self.source.text, start, end, value), start)
                    diagnostic = mover.move_diagnostic(diagnostic)
                note = f"in the expression `{path}`"
                self.sink.add(dataclasses.replace(
                    diagnostic, note=f"{diagnostic.note}; {note}" if diagnostic.note else note))
            return placeholder

    def _content_range(self, node: yaml.ScalarNode) -> tuple[int, int]:
        """Offsets of the scalar's content: without quotes, or after a block scalar's header line."""
        start, end = self.span(node).start, self.span(node).end
        if node.style in ("'", '"'):
            return start + 1, max(start + 1, end - 1)
        if node.style in ("|", ">"):
            newline = self.source.text.find("\n", start, end)
            return (newline + 1 if newline >= 0 else end), end
        return start, end

    # ----------------------------------------------------------------- duplicate keys

    def check_duplicate_keys(self, root: yaml.Node) -> None:
        """Report every key that appears twice in one mapping, anywhere in the document (KR202)."""
        stack: list[tuple[yaml.Node, str]] = [(root, "")]
        while stack:
            node, path = stack.pop()
            if isinstance(node, yaml.SequenceNode):
                stack.extend((item, f"{path}[{i}]") for i, item in enumerate(node.value))
            elif isinstance(node, yaml.MappingNode):
                seen: dict[str, yaml.Node] = {}
                for key_node, value_node in node.value:
                    if not isinstance(key_node, yaml.ScalarNode):
                        continue
                    key = str(key_node.value)
                    first = seen.get(key)
                    if first is not None:
                        self.error(
                            "KR202", f"duplicate key `{_join(path, key)}`", self.span(key_node),
                            labels=(Label(self.span(first), "first defined here"),),
                            hint="a key may appear once in a mapping; remove or rename one of them",
                        )
                    else:
                        seen[key] = key_node
                    stack.append((value_node, _join(path, key)))

    # ----------------------------------------------------------------- the rule set

    def ruleset(self, root: yaml.Node) -> nodes.Ruleset:
        if not isinstance(root, yaml.MappingNode):
            self.wrong(root, "", "a mapping that starts with `ruleset: <id>`")
            return nodes.Ruleset("", nodes.Text(""), "", "", nodes.Validity(dt.date(1, 1, 1)), "")
        f = self.fields(root, "", owner=Span(self.source, self.span(root).start, self.span(root).start))
        ruleset = nodes.Ruleset(
            id=self.dotted_name(f.get("ruleset", required=True), "ruleset"),
            title=self.text(f.get("title", required=True), "title"),
            basis=self.string(f.get("basis", required=True), "basis"),
            version=self.string(f.get("version", required=True), "version"),
            in_force=self.validity(f.get("in_force", required=True), "in_force", f.key_span("in_force")),
            extends=self.optional(self.dotted_name, f.get("extends"), "extends"),
            rates=self.name(f.get("rates", required=True), "rates"),
            display=self.display(f.get("display"), "display"),
            records=tuple(self.record(n, k, v, p) for n, k, v, p in self.named(f.get("records"), "records")),
            subjects=tuple(self.subject(n, k, v, p) for n, k, v, p in self.named(f.get("subjects"), "subjects")),
            params=tuple(self.param(item, p) for item, p in self.items(f.get("params"), "params")),
            tables=tuple(self.table(item, p) for item, p in self.items(f.get("tables"), "tables")),
            lets=tuple(self.let(n, k, v, p) for n, k, v, p in self.named(f.get("lets"), "lets")),
            criteria=self.optional(self.criteria, f.get("criteria"), "criteria"),
            rating=self.optional(self.rating, f.get("rating"), "rating"),
            removals=tuple(self.removal(item, p) for item, p in self.items(f.get("remove"), "remove")),
            periods=self.optional(self.periods, f.get("periods"), "periods"),
            cohorts=tuple(self.cohort(n, k, v, p) for n, k, v, p in self.named(f.get("cohorts"), "cohorts")),
            span=self.span(root),
            comments=_leading_comments(self.source.text),
        )
        f.finish()
        return ruleset

    def removal(self, node: yaml.Node, path: str) -> nodes.Removal:
        """``remove: ["disqualify ideology", "input person.x"]`` (a variant drops parent declarations)."""
        kind, _, name = self.string(node, path).partition(" ")
        if kind not in nodes.REMOVAL_KINDS or not _DOTTED_NAME.fullmatch(name.strip()):
            self.wrong(node, path, "`KIND NAME`, e.g. `disqualify ideology`",
                       hint="KIND is one of " + ", ".join(nodes.REMOVAL_KINDS))
        return nodes.Removal(cast(nodes.RemovalKind, kind), name.strip(), span=self.span(node))

    def validity(self, node: yaml.Node | None, path: str, owner: Span | None = None) -> nodes.Validity:
        f = self.fields(node, path, owner)
        start = self.date(f.get("from", required=True), f.sub("from"))
        end = self.optional(self.date, f.get("until"), f.sub("until"))
        f.finish()
        return nodes.Validity(start, end)

    def flat_validity(self, f: _Fields) -> nodes.Validity | None:
        """``from:``/``until:`` written directly in a param or table."""
        start_node = f.get("from", required=f.has("until"))
        end = self.optional(self.date, f.get("until"), f.sub("until"))
        if start_node is None:
            return None
        return nodes.Validity(self.date(start_node, f.sub("from")), end)

    def display(self, node: yaml.Node | None, path: str) -> nodes.Display:
        if node is None:
            return nodes.Display()
        f = self.fields(node, path)
        decimals_node, mode_node = f.get("decimals"), f.get("mode")
        display = nodes.Display(
            decimals=_DEFAULT_DISPLAY.decimals if decimals_node is None
            else self.integer(decimals_node, f.sub("decimals")),
            mode=_DEFAULT_DISPLAY.mode if mode_node is None else self.choice(mode_node, f.sub("mode"), _ROUNDING_MODES),
        )
        f.finish()
        return display

    # ----------------------------------------------------------------- records and subjects

    def record(self, name: str, key: yaml.Node, node: yaml.Node, path: str) -> nodes.RecordDecl:
        f = self.fields(node, path, self.span(key))
        decl = nodes.RecordDecl(
            name=name,
            label=self.text(f.get("label", required=True), f.sub("label")),
            inputs=tuple(self.input(n, k, v, p) for n, k, v, p in self.named(f.get("inputs"), f.sub("inputs"))),
            span=self.entry_span(key, node),
        )
        f.finish()
        return decl

    def subject(self, name: str, key: yaml.Node, node: yaml.Node, path: str) -> nodes.SubjectDecl:
        f = self.fields(node, path, self.span(key))
        decl = nodes.SubjectDecl(
            name=name,
            label=self.text(f.get("label", required=True), f.sub("label")),
            inputs=tuple(self.input(n, k, v, p) for n, k, v, p in self.named(f.get("inputs"), f.sub("inputs"))),
            relations=tuple(
                self.relation(n, k, v, p) for n, k, v, p in self.named(f.get("relations"), f.sub("relations"))
            ),
            span=self.entry_span(key, node),
        )
        f.finish()
        return decl

    def input(self, name: str, key: yaml.Node, node: yaml.Node, path: str) -> nodes.InputDecl:
        f = self.fields(node, path, self.span(key))
        type_ = self.type_expr(f.get("type", required=True), f.sub("type"))
        label = self.text(f.get("label", required=True), f.sub("label"))
        low = self.optional(lambda n, p: self.number(n, p, signed=True), f.get("min"), f.sub("min"))
        high = self.optional(lambda n, p: self.number(n, p, signed=True), f.get("max"), f.sub("max"))
        default_node, optional_node = f.get("default"), f.get("optional")
        default = self.optional(self.literal, default_node, f.sub("default"))
        optional = self.boolean(optional_node, f.sub("optional"))
        if default is not None and optional and optional_node is not None:
            self.error("KR205", f"`{f.sub('optional')}` cannot be true when `{f.sub('default')}` is given",
                       self.span(optional_node),
                       hint="an input either has a default or is optional; remove one of the two")
        missing: nodes.Missing = "default" if default is not None else "optional" if optional else "required"
        decl = nodes.InputDecl(
            name=name, type=type_, label=label, missing=missing, default=default, min=low, max=high,
            cite=self.optional(self.string, f.get("cite"), f.sub("cite")),
            span=self.entry_span(key, node),
            monotone=self.optional(lambda n, p: self.choice(n, p, _MONOTONE), f.get("monotone"), f.sub("monotone")),
        )
        f.finish()
        return decl

    def relation(self, name: str, key: yaml.Node, node: yaml.Node, path: str) -> nodes.RelationDecl:
        f = self.fields(node, path, self.span(key))
        decl = nodes.RelationDecl(
            name=name,
            target=self.name(f.get("target", required=True), f.sub("target")),
            many=self.boolean(f.get("many"), f.sub("many")),
            label=self.text(f.get("label", required=True), f.sub("label")),
            span=self.entry_span(key, node),
        )
        f.finish()
        return decl

    # ----------------------------------------------------------------- params, tables, lets

    def param(self, node: yaml.Node, path: str) -> nodes.ParamDecl:
        f = self.fields(node, path)
        decl = nodes.ParamDecl(
            name=self.name(f.get("name", required=True), f.sub("name")),
            type=self.type_expr(f.get("type", required=True), f.sub("type")),
            value=self.literal(f.get("value", required=True), f.sub("value")),
            label=self.text(f.get("label", required=True), f.sub("label")),
            valid=self.flat_validity(f),
            cite=self.optional(self.string, f.get("cite"), f.sub("cite")),
            span=self.span(node),
        )
        f.finish()
        return decl

    def table(self, node: yaml.Node, path: str) -> nodes.TableDecl:
        f = self.fields(node, path)
        decl = nodes.TableDecl(
            name=self.name(f.get("name", required=True), f.sub("name")),
            key_type=self.type_expr(f.get("key", required=True), f.sub("key")),
            value_type=self.type_expr(f.get("value", required=True), f.sub("value")),
            label=self.text(f.get("label", required=True), f.sub("label")),
            valid=self.flat_validity(f),
            cite=self.optional(self.string, f.get("cite"), f.sub("cite")),
            rows=self.rows(f.get("rows", required=True), f.sub("rows")),
            span=self.span(node),
        )
        f.finish()
        return decl

    def rows(self, node: yaml.Node | None, path: str) -> tuple[nodes.TableRow, ...]:
        """``{key: value, ...}``, or a list of ``[key, value]`` pairs."""
        if node is None or _is_null(node):
            return ()
        if isinstance(node, yaml.MappingNode):
            return tuple(
                nodes.TableRow(
                    self.literal(k, _join(path, str(k.value))), self.literal(v, _join(path, str(k.value))),
                    self.entry_span(k, v),
                )
                for k, v in node.value
            )
        rows: list[nodes.TableRow] = []
        for item, item_path in self.items(node, path):
            if not isinstance(item, yaml.SequenceNode) or len(item.value) != 2:
                self.wrong(item, item_path, "a `[key, value]` pair")
                continue
            key, value = item.value
            rows.append(nodes.TableRow(
                self.literal(key, f"{item_path}[0]"), self.literal(value, f"{item_path}[1]"), self.span(item)))
        return tuple(rows)

    def let(self, name: str, key: yaml.Node, node: yaml.Node, path: str) -> nodes.LetDecl:
        if isinstance(node, yaml.ScalarNode):
            return nodes.LetDecl(name, self.expr(node, path), span=self.entry_span(key, node))
        f = self.fields(node, path, self.span(key))
        decl = nodes.LetDecl(
            name=name,
            label=self.optional(self.text, f.get("label"), f.sub("label")),
            cite=self.optional(self.string, f.get("cite"), f.sub("cite")),
            expr=self.expr(f.get("expr", required=True), f.sub("expr")),
            span=self.entry_span(key, node),
        )
        f.finish()
        return decl

    # ----------------------------------------------------------------- criteria

    def criteria(self, node: yaml.Node, path: str) -> nodes.CriteriaTree:
        f = self.fields(node, path)
        tree = nodes.CriteriaTree(
            name=self.name(f.get("id", required=True), f.sub("id")),
            label=self.text(f.get("label", required=True), f.sub("label")),
            max=self.number(f.get("max", required=True), f.sub("max")),
            cite=self.optional(self.string, f.get("cite"), f.sub("cite")),
            children=self.children(f.get("children"), f.sub("children")),
            span=self.span(node),
        )
        f.finish()
        return tree

    def children(self, node: yaml.Node | None, path: str) -> tuple[nodes.CriteriaItem, ...]:
        return tuple(self.criteria_item(item, p) for item, p in self.items(node, path))

    def criteria_item(self, node: yaml.Node, path: str) -> nodes.CriteriaItem:
        f = self.fields(node, path)
        kinds = [kind for kind in _ITEM_KINDS if f.has(kind)]
        if not kinds and f.ok:
            self.error("KR203", f"`{path}` needs one of `group`, `bonus`, `penalty` or `criterion` with its id",
                       self.span(node), hint="for example `- criterion: i1`")
        for extra in kinds[1:]:
            self.error("KR204", f"`{path}` has both `{kinds[0]}` and `{extra}`; an item is one of them",
                       f.key_span(extra))
            f.known.append(extra)
        kind = kinds[0] if kinds else "criterion"
        name = self.name(f.get(kind), f.sub(kind))
        label = self.text(f.get("label", required=True), f.sub("label"))
        maximum = self.number(f.get("max", required=True), f.sub("max"))
        cite = self.optional(self.string, f.get("cite"), f.sub("cite"))
        item: nodes.CriteriaItem
        if kind == "criterion":
            item = nodes.Criterion(name, label, maximum, self.expr(f.get("expr", required=f.ok), f.sub("expr")),
                                   cite, span=self.span(node))
        else:
            item = nodes.CriteriaGroup(cast(nodes.GroupKind, kind), name, label, maximum,
                                       self.children(f.get("children"), f.sub("children")), cite,
                                       span=self.span(node))
        f.finish()
        return item

    # ----------------------------------------------------------------- rating

    def rating(self, node: yaml.Node, path: str) -> nodes.Rating:
        f = self.fields(node, path)
        fallthrough_node = f.get("fallthrough")
        rating = nodes.Rating(
            cite=self.optional(self.string, f.get("cite"), f.sub("cite")),
            levels=tuple(self.level(item, p) for item, p in self.items(f.get("levels", required=True), f.sub("levels"))),
            disqualifiers=tuple(
                self.disqualifier(item, p) for item, p in self.items(f.get("disqualifiers"), f.sub("disqualifiers"))
            ),
            fallthrough="highest_met" if fallthrough_node is None
            else self.choice(fallthrough_node, f.sub("fallthrough"), _FALLTHROUGHS),
            override=self.optional(self.override, f.get("override"), f.sub("override")),
            span=self.span(node),
        )
        f.finish()
        return rating

    def level(self, node: yaml.Node, path: str) -> nodes.Level:
        f = self.fields(node, path)
        name = self.name(f.get("id", required=True), f.sub("id"))
        label = self.text(f.get("label", required=True), f.sub("label"))
        lower_node, upper_node = f.get("from"), f.get("below")
        if lower_node is None and upper_node is None and f.ok:
            self.error("KR203", f"`{path}` needs a band: `from`, `below` or both",
                       self.span(node), hint="for example `from: 70` and `below: 90` for [70, 90)")
        level = nodes.Level(
            name=name,
            label=label,
            lower=self.optional(self.number, lower_node, f.sub("from")),
            upper=self.optional(self.number, upper_node, f.sub("below")),
            cite=self.optional(self.string, f.get("cite"), f.sub("cite")),
            conditions=tuple(self.condition(item, p) for item, p in self.items(f.get("require"), f.sub("require"))),
            span=self.span(node),
        )
        f.finish()
        return level

    def condition(self, node: yaml.Node, path: str) -> nodes.Condition:
        f = self.fields(node, path)
        condition = nodes.Condition(
            name=self.name(f.get("id", required=True), f.sub("id")),
            label=self.text(f.get("label", required=True), f.sub("label")),
            cite=self.optional(self.string, f.get("cite"), f.sub("cite")),
            expr=self.expr(f.get("expr", required=True), f.sub("expr")),
            span=self.span(node),
        )
        f.finish()
        return condition

    def disqualifier(self, node: yaml.Node, path: str) -> nodes.Disqualifier:
        f = self.fields(node, path)
        disqualifier = nodes.Disqualifier(
            name=self.name(f.get("id", required=True), f.sub("id")),
            label=self.text(f.get("label", required=True), f.sub("label")),
            cite=self.optional(self.string, f.get("cite"), f.sub("cite")),
            when=self.expr(f.get("when", required=True), f.sub("when")),
            target=self.optional(self.name, f.get("to"), f.sub("to")),
            span=self.span(node),
        )
        f.finish()
        return disqualifier

    # ----------------------------------------------------------------- periods and cohorts

    def periods(self, node: yaml.Node, path: str) -> nodes.PeriodsDecl:
        """``{cite, monitor, combine, rules: [{level, when}], otherwise}``."""
        f = self.fields(node, path)
        decl = nodes.PeriodsDecl(
            cite=self.optional(self.string, f.get("cite"), f.sub("cite")),
            monitor=self.name(f.get("monitor", required=True), f.sub("monitor")),
            combine=self.name(f.get("combine", required=True), f.sub("combine")),
            rules=tuple(self.count_rule(item, p) for item, p in self.items(f.get("rules"), f.sub("rules"))),
            otherwise=self.optional(self.name, f.get("otherwise"), f.sub("otherwise")),
            span=self.span(node),
        )
        f.finish()
        return decl

    def count_rule(self, node: yaml.Node, path: str) -> nodes.CountRule:
        f = self.fields(node, path)
        rule = nodes.CountRule(
            level=self.name(f.get("level", required=True), f.sub("level")),
            when=self.expr(f.get("when", required=True), f.sub("when")),
            span=self.span(node),
        )
        f.finish()
        return rule

    def percent(self, node: yaml.Node | None, path: str) -> Fraction:
        """A rate written as a percentage (``20%``); the number written is returned (20)."""
        lit = self.literal(node, path)
        if isinstance(lit, nodes.PercentLit):
            return lit.value
        if node is not None:
            self.wrong(node, path, "a percentage such as `20%`")
        return Fraction(0)

    def names(self, node: yaml.Node | None, path: str) -> tuple[str, ...]:
        return tuple(self.name(item, p) for item, p in self.items(node, path))

    def sort_key(self, node: yaml.Node, path: str) -> nodes.SortKey:
        """``total desc`` or ``seniority asc``."""
        name, _, direction = self.string(node, path).strip().partition(" ")
        direction = direction.strip()
        if not _NAME.fullmatch(name) or direction not in ("asc", "desc"):
            self.wrong(node, path, "`NAME asc` or `NAME desc`, e.g. `total desc`")
            direction = "desc"
        return nodes.SortKey(name, cast(nodes.SortDirection, direction), span=self.span(node))

    def cohort(self, name: str, key: yaml.Node, node: yaml.Node, path: str) -> nodes.CohortDecl:
        """``{label, cite, limit: {level, to, of, per, per_period}, exception: {rate, when}, demote: {to, by}}``."""
        f = self.fields(node, path, self.span(key))
        label = self.text(f.get("label", required=True), f.sub("label"))
        cite = self.optional(self.string, f.get("cite"), f.sub("cite"))
        lim = self.fields(f.get("limit", required=True), f.sub("limit"), self.span(key))
        level = self.name(lim.get("level", required=True), lim.sub("level"))
        percent = self.percent(lim.get("to", required=True), lim.sub("to"))
        of = self.name(lim.get("of", required=True), lim.sub("of"))
        groups = self.names(lim.get("per", required=True), lim.sub("per"))
        per_period = self.boolean(lim.get("per_period"), lim.sub("per_period"))
        lim.finish()
        exception_node = f.get("exception")
        exception_percent: Fraction | None = None
        exception_flag: str | None = None
        if exception_node is not None:
            exc = self.fields(exception_node, f.sub("exception"))
            exception_percent = self.percent(exc.get("rate", required=True), exc.sub("rate"))
            exception_flag = self.name(exc.get("when", required=True), exc.sub("when"))
            exc.finish()
        dem = self.fields(f.get("demote", required=True), f.sub("demote"), self.span(key))
        demote_to = self.name(dem.get("to", required=True), dem.sub("to"))
        order = tuple(self.sort_key(item, p) for item, p in self.items(dem.get("by", required=True), dem.sub("by")))
        dem.finish()
        decl = nodes.CohortDecl(
            name=name, label=label, level=level, percent=percent, of=of, groups=groups, demote_to=demote_to,
            order=order, exception_percent=exception_percent, exception_flag=exception_flag,
            per_period=per_period, cite=cite, span=self.entry_span(key, node),
        )
        f.finish()
        return decl

    def override(self, node: yaml.Node, path: str) -> nodes.OverridePolicy:
        f = self.fields(node, path)
        policy = nodes.OverridePolicy(
            label=self.text(f.get("label", required=True), f.sub("label")),
            cite=self.optional(self.string, f.get("cite"), f.sub("cite")),
            span=self.span(node),
        )
        f.finish()
        return policy


# --------------------------------------------------------------------------- positions in scalars


_ALIGN_WINDOW: Final = 256


def _align(text: str, start: int, end: int, value: str) -> list[int]:
    """For each character of a scalar's value, its offset in the YAML text.

    Walks the value and the raw text together: each value character is looked for a little ahead
    in the raw text (skipping indentation, quotes doubled or escaped, folded line breaks). A
    character with no raw counterpart (an escape such as ``\\u00e9``) keeps the current position.
    """
    positions: list[int] = []
    j = start
    for ch in value:
        k = text.find(ch, j, min(end, j + _ALIGN_WINDOW))
        if k < 0:
            positions.append(min(j, max(start, end - 1)))
        else:
            positions.append(k)
            j = k + 1
    return positions


class _SpanMover:
    """Moves spans from a scalar's value (parsed on its own) to the YAML file."""

    def __init__(self, target: SourceFile, origin: SourceFile, positions: list[int], start: int) -> None:
        self.target = target
        self.origin = origin
        self.positions = positions
        self.start = start

    def _at(self, offset: int) -> int:
        if not self.positions:
            return self.start
        if offset < len(self.positions):
            return self.positions[max(0, offset)]
        return self.positions[-1] + 1

    def span(self, span: Span) -> Span:
        if span.source is not self.origin:
            return span
        start = self._at(span.start)
        end = self._at(span.end - 1) + 1 if span.end > span.start else start
        return Span(self.target, start, max(start, end))

    def move(self, value: object) -> object:
        """A copy of a node tree with every span moved."""
        if isinstance(value, Span):
            return self.span(value)
        if isinstance(value, tuple):
            return tuple(self.move(item) for item in value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes = {f.name: self.move(getattr(value, f.name)) for f in dataclasses.fields(value)}
            return dataclasses.replace(value, **changes)
        return value

    def move_diagnostic(self, diagnostic: Diagnostic) -> Diagnostic:
        return dataclasses.replace(
            diagnostic,
            span=None if diagnostic.span is None else self.span(diagnostic.span),
            labels=tuple(Label(self.span(label.span), label.message) for label in diagnostic.labels),
        )


# =========================================================================== dumping


def dump_yaml_ruleset(ruleset: nodes.Ruleset) -> str:
    """Write a rule set in the YAML form: stable key order, exact decimals, Vietnamese unescaped.

    ``load_yaml_ruleset(SourceFile("x.yaml", dump_yaml_ruleset(r))) == r`` for every rule set whose
    numbers are finite decimals (as every parsed rule set's are).

    Raises:
        ValueError: a number that has no finite decimal form (such as 1/3).
    """
    header = "".join(f"# {line}\n".replace("# \n", "#\n") for line in _comment_lines(ruleset.comments))
    body = yaml.serialize(
        _Writer().ruleset(ruleset), Dumper=_RuleDumper, allow_unicode=True, width=1_000_000, indent=2,
    )
    return header + body


def _comment_lines(comments: tuple[str, ...]) -> list[str]:
    lines: list[str] = []
    for comment in comments:
        for line in comment.splitlines() or [""]:
            lines.append(line[1:].strip() if line.startswith("#") else line.strip())
    return lines


class _RuleDumper(yaml.SafeDumper):
    yaml_implicit_resolvers = _IMPLICIT_RESOLVERS

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent list items under their key (PyYAML's default puts `- ` at the key's column).
        super().increase_indent(flow, False)


# Characters PyYAML may write raw in plain or single-quoted text but reads back differently
# (YAML's extra line breaks, carriage returns, BOMs, controls): text holding one is double-quoted.
_NEEDS_ESCAPES = re.compile("[^\t\n\x20-\x7e\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")


def _scalar(value: str, style: str | None = None) -> yaml.ScalarNode:
    """Text, written plain when YAML would read it back as text (``2026.1`` and ``yes`` get quotes,
    so that any YAML tool sees text there too)."""
    if _NEEDS_ESCAPES.search(value):
        style = '"'
    return yaml.ScalarNode(_STR_TAG, value, style=style)


def _plain(value: str) -> yaml.ScalarNode:
    """A number, percent, date or boolean, written plain (we read it back from its text)."""
    return yaml.ScalarNode(_implicit_tag(value), value)


_Pairs = list[tuple[str, yaml.Node | None]]


def _mapping(pairs: _Pairs, flow: bool = False) -> yaml.MappingNode:
    """A mapping of the pairs whose value is not None, in the given order."""
    return yaml.MappingNode(
        _MAP_TAG, [(_scalar(key), value) for key, value in pairs if value is not None], flow_style=flow
    )


def _sequence(items: list[yaml.Node], flow: bool = False) -> yaml.SequenceNode | None:
    return yaml.SequenceNode(_SEQ_TAG, items, flow_style=flow) if items else None


class _Writer:
    """Builds the YAML node graph of a rule set (the inverse of :class:`_Reader`)."""

    def ruleset(self, r: nodes.Ruleset) -> yaml.MappingNode:
        return _mapping([
            ("ruleset", _scalar(r.id)),
            ("title", self.text(r.title)),
            ("basis", _scalar(r.basis)),
            ("version", _scalar(r.version)),
            ("in_force", self.validity(r.in_force)),
            ("extends", self.opt(r.extends)),
            ("rates", _scalar(r.rates)),
            ("display", _mapping([("decimals", _plain(str(r.display.decimals))), ("mode", _scalar(r.display.mode))])),
            ("remove", _sequence([_scalar(f"{x.kind} {x.name}") for x in r.removals])),
            ("records", self.named([(d.name, self.record(d)) for d in r.records])),
            ("subjects", self.named([(d.name, self.subject(d)) for d in r.subjects])),
            ("params", _sequence([self.param(d) for d in r.params])),
            ("tables", _sequence([self.table(d) for d in r.tables])),
            ("lets", self.named([(d.name, self.let(d)) for d in r.lets])),
            ("criteria", None if r.criteria is None else self.criteria(r.criteria)),
            ("rating", None if r.rating is None else self.rating(r.rating)),
            ("periods", None if r.periods is None else self.periods(r.periods)),
            ("cohorts", self.named([(d.name, self.cohort(d)) for d in r.cohorts])),
        ])

    # ----------------------------------------------------------------- pieces

    @staticmethod
    def opt(value: str | None) -> yaml.ScalarNode | None:
        return None if value is None else _scalar(value)

    @staticmethod
    def named(pairs: list[tuple[str, yaml.Node]]) -> yaml.MappingNode | None:
        return _mapping(list(pairs)) if pairs else None

    @staticmethod
    def text(text: nodes.Text) -> yaml.Node:
        if text.en is None:
            return _scalar(text.vi)
        return _mapping([("vi", _scalar(text.vi)), ("en", _scalar(text.en))])

    @staticmethod
    def number(value: Fraction | None) -> yaml.ScalarNode | None:
        return None if value is None else _plain(format_number(value))

    @staticmethod
    def date(value: dt.date | None) -> yaml.ScalarNode | None:
        return None if value is None else _plain(value.isoformat())

    def validity(self, valid: nodes.Validity) -> yaml.MappingNode:
        return _mapping([("from", self.date(valid.start)), ("until", self.date(valid.end))])

    def flat_validity(self, valid: nodes.Validity | None) -> _Pairs:
        if valid is None:
            return []
        return [("from", self.date(valid.start)), ("until", self.date(valid.end))]

    @staticmethod
    def type_expr(type_: nodes.TypeExpr) -> yaml.ScalarNode:
        if isinstance(type_, nodes.ScalarType):
            return _scalar(type_.name)
        if isinstance(type_, nodes.OneOfType):
            return _scalar(f"one_of({', '.join(type_.members)})")
        return _scalar(f"list of {type_.item}")

    @staticmethod
    def literal(lit: nodes.Literal_) -> yaml.ScalarNode:
        if isinstance(lit, nodes.NumberLit):
            return _plain(format_number(lit.value))
        if isinstance(lit, nodes.PercentLit):
            return _plain(format_number(lit.value) + "%")
        if isinstance(lit, nodes.BoolLit):
            return _plain("true" if lit.value else "false")
        if isinstance(lit, nodes.DateLit):
            return _plain(lit.value.isoformat())
        return _scalar(lit.value, style='"')  # text is always quoted, so `"12"` stays text

    @staticmethod
    def expr(expr: nodes.Expr) -> yaml.ScalarNode:
        return _scalar(format_expr(expr))

    # ----------------------------------------------------------------- declarations

    def record(self, d: nodes.RecordDecl) -> yaml.MappingNode:
        return _mapping([("label", self.text(d.label)), ("inputs", self.inputs(d.inputs))])

    def subject(self, d: nodes.SubjectDecl) -> yaml.MappingNode:
        return _mapping([
            ("label", self.text(d.label)),
            ("inputs", self.inputs(d.inputs)),
            ("relations", self.named([(r.name, self.relation(r)) for r in d.relations])),
        ])

    def inputs(self, inputs: tuple[nodes.InputDecl, ...]) -> yaml.MappingNode | None:
        return self.named([(d.name, self.input(d)) for d in inputs])

    def input(self, d: nodes.InputDecl) -> yaml.MappingNode:
        return _mapping([
            ("type", self.type_expr(d.type)),
            ("label", self.text(d.label)),
            ("min", self.number(d.min)),
            ("max", self.number(d.max)),
            ("default", None if d.missing != "default" or d.default is None else self.literal(d.default)),
            ("optional", _plain("true") if d.missing == "optional" else None),
            ("monotone", _plain(d.monotone) if d.monotone is not None else None),
            ("cite", self.opt(d.cite)),
        ])

    def relation(self, d: nodes.RelationDecl) -> yaml.MappingNode:
        return _mapping([
            ("target", _scalar(d.target)),
            ("many", _plain("true") if d.many else None),
            ("label", self.text(d.label)),
        ])

    def param(self, d: nodes.ParamDecl) -> yaml.MappingNode:
        return _mapping([
            ("name", _scalar(d.name)),
            ("type", self.type_expr(d.type)),
            ("value", self.literal(d.value)),
            ("label", self.text(d.label)),
            *self.flat_validity(d.valid),
            ("cite", self.opt(d.cite)),
        ])

    def table(self, d: nodes.TableDecl) -> yaml.MappingNode:
        keys = [self.literal(row.key) for row in d.rows]
        rows: yaml.Node
        if len({key.value for key in keys}) == len(keys):
            rows = yaml.MappingNode(_MAP_TAG, [(key, self.literal(row.value)) for key, row in zip(keys, d.rows)])
        else:  # keys that read alike (1 and "1"): pairs keep them apart and in order
            rows = yaml.SequenceNode(_SEQ_TAG, [
                yaml.SequenceNode(_SEQ_TAG, [key, self.literal(row.value)], flow_style=True)
                for key, row in zip(keys, d.rows)
            ])
        return _mapping([
            ("name", _scalar(d.name)),
            ("key", self.type_expr(d.key_type)),
            ("value", self.type_expr(d.value_type)),
            ("label", self.text(d.label)),
            *self.flat_validity(d.valid),
            ("cite", self.opt(d.cite)),
            ("rows", rows),
        ])

    def let(self, d: nodes.LetDecl) -> yaml.Node:
        if d.label is None and d.cite is None:
            return self.expr(d.expr)
        return _mapping([
            ("label", None if d.label is None else self.text(d.label)),
            ("cite", self.opt(d.cite)),
            ("expr", self.expr(d.expr)),
        ])

    def criteria(self, tree: nodes.CriteriaTree) -> yaml.MappingNode:
        return _mapping([
            ("id", _scalar(tree.name)),
            ("label", self.text(tree.label)),
            ("max", self.number(tree.max)),
            ("cite", self.opt(tree.cite)),
            ("children", _sequence([self.criteria_item(child) for child in tree.children])),
        ])

    def criteria_item(self, item: nodes.CriteriaItem) -> yaml.MappingNode:
        head: _Pairs = [
            ("criterion" if isinstance(item, nodes.Criterion) else item.kind, _scalar(item.name)),
            ("label", self.text(item.label)),
            ("max", self.number(item.max)),
            ("cite", self.opt(item.cite)),
        ]
        if isinstance(item, nodes.Criterion):
            return _mapping([*head, ("expr", self.expr(item.expr))])
        return _mapping([*head, ("children", _sequence([self.criteria_item(c) for c in item.children]))])

    def rating(self, rating: nodes.Rating) -> yaml.MappingNode:
        override = rating.override
        return _mapping([
            ("cite", self.opt(rating.cite)),
            ("levels", yaml.SequenceNode(_SEQ_TAG, [self.level(level) for level in rating.levels])),
            ("disqualifiers", _sequence([self.disqualifier(d) for d in rating.disqualifiers])),
            ("fallthrough", _scalar(rating.fallthrough)),
            ("override", None if override is None else _mapping([
                ("label", self.text(override.label)), ("cite", self.opt(override.cite)),
            ])),
        ])

    def level(self, level: nodes.Level) -> yaml.MappingNode:
        return _mapping([
            ("id", _scalar(level.name)),
            ("label", self.text(level.label)),
            ("from", self.number(level.lower)),
            ("below", self.number(level.upper)),
            ("cite", self.opt(level.cite)),
            ("require", _sequence([
                _mapping([
                    ("id", _scalar(c.name)),
                    ("label", self.text(c.label)),
                    ("cite", self.opt(c.cite)),
                    ("expr", self.expr(c.expr)),
                ])
                for c in level.conditions
            ])),
        ])

    def disqualifier(self, d: nodes.Disqualifier) -> yaml.MappingNode:
        return _mapping([
            ("id", _scalar(d.name)),
            ("label", self.text(d.label)),
            ("cite", self.opt(d.cite)),
            ("when", self.expr(d.when)),
            ("to", self.opt(d.target)),
        ])

    def periods(self, d: nodes.PeriodsDecl) -> yaml.MappingNode:
        return _mapping([
            ("cite", self.opt(d.cite)),
            ("monitor", _scalar(d.monitor)),
            ("combine", _scalar(d.combine)),
            ("rules", _sequence([
                _mapping([("level", _scalar(r.level)), ("when", self.expr(r.when))]) for r in d.rules
            ])),
            ("otherwise", self.opt(d.otherwise)),
        ])

    def cohort(self, d: nodes.CohortDecl) -> yaml.MappingNode:
        exception = None
        if d.exception_percent is not None and d.exception_flag is not None:
            exception = _mapping([
                ("rate", _plain(format_number(d.exception_percent) + "%")),
                ("when", _scalar(d.exception_flag)),
            ], flow=True)
        return _mapping([
            ("label", self.text(d.label)),
            ("cite", self.opt(d.cite)),
            ("limit", _mapping([
                ("level", _scalar(d.level)),
                ("to", _plain(format_number(d.percent) + "%")),
                ("of", _scalar(d.of)),
                ("per", yaml.SequenceNode(_SEQ_TAG, [_scalar(g) for g in d.groups], flow_style=True)),
                ("per_period", _plain("true") if d.per_period else None),
            ])),
            ("exception", exception),
            ("demote", _mapping([
                ("to", _scalar(d.demote_to)),
                ("by", yaml.SequenceNode(_SEQ_TAG, [_scalar(f"{k.name} {k.direction}") for k in d.order],
                                         flow_style=True)),
            ])),
        ])
