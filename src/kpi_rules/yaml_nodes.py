"""The YAML node primitives of the YAML form: YAML text (a :class:`SourceFile`) → a composed
``yaml.Node`` graph, and the base reader that turns its scalars into values of :mod:`kpi_rules.nodes`.

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
from kpi_rules.source import MAX_SOURCE_BYTES, SourceFile, Span

#: Deepest nesting of YAML collections we accept (the nd335 rule set needs 9).
MAX_DEPTH: Final = 64
#: Schema problems reported before the loader gives up on a file.
MAX_DIAGNOSTICS: Final = 200
#: Longest number we read; longer digit strings are a mistake or an attack (int() would refuse them).
MAX_NUMBER_CHARS: Final = 100

_NULL_TAG: Final = "tag:yaml.org,2002:null"
_BOOL_TAG: Final = "tag:yaml.org,2002:bool"
_INT_TAG: Final = "tag:yaml.org,2002:int"
_FLOAT_TAG: Final = "tag:yaml.org,2002:float"

# ASCII digits only, as in the grammar: Python's \d also matches other scripts' digits.
_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_DOTTED_NAME = re.compile(r"[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_SIGNED_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_PERCENT = re.compile(r"([0-9]+(?:\.[0-9]+)?)%")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INT = re.compile(r"[0-9]{1,3}")
_LOOKS_NUMERIC = re.compile(r"[-+.]?[0-9]")
_ONE_OF = re.compile(r"one_of\s*\((.*)\)", re.DOTALL)
_LIST_OF = re.compile(r"list\s+of\s+(\S+)")
_SCALAR_TYPES: Final[tuple[nodes.ScalarName, ...]] = ("number", "percent", "points", "bool", "text", "date")

# YAML's implicit resolvers without the timestamp one, for the YAML form's loader and dumper only.
_IMPLICIT_RESOLVERS: Final[dict[Any, Any]] = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


# =========================================================================== composing


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


# --------------------------------------------------------------------------- paths and values


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def node_span(source: SourceFile, node: yaml.Node) -> Span:
    """Where a composed YAML node stands in ``source`` (the catalogue reader uses it too)."""
    start = node.start_mark.index if node.start_mark is not None else 0
    end = node.end_mark.index if node.end_mark is not None else start
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style:
        # A block collection "ends" where the next thing starts; stop at its last value instead.
        last = node.value[-1] if node.value else None
        if isinstance(last, tuple):
            last = last[1]
        if last is not None:
            end = node_span(source, last).end
    return Span(source, start, max(start, end))


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
    reported at once; the placeholders never leave the YAML form (errors are raised at the end).
    This base reads scalars, labels, types and expressions; ``yaml_form._RulesetReader`` adds
    the rule-set structure.
    """

    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.sink = DiagnosticSink()

    # ----------------------------------------------------------------- helpers

    def span(self, node: yaml.Node) -> Span:
        return node_span(self.source, node)

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
