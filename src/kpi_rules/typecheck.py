"""Expression typing for the checker: ``nodes.Expr`` → :class:`~kpi_rules.valuetypes.ValueType`.

Used by :mod:`kpi_rules.validator`. Every expression node gets its type recorded in a side table
keyed by ``id(node)``; problems (unknown names and fields, type mismatches, wrong calls, unguarded
optional inputs, unknown one-of values, tiers out of order) go to a :class:`DiagnosticSink`.
A node whose type cannot be known (after an error) gets :data:`NEVER`, which fits anywhere, so
one mistake is reported once and not again by every expression around it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from kpi_rules import nodes
from kpi_rules.checked import SymbolKind
from kpi_rules.diagnostics import Diagnostic, DiagnosticSink, Label
from kpi_rules.source import Span
from kpi_rules.valuetypes import (
    BOOL,
    DATE,
    NEVER,
    NUMBER,
    TEXT,
    BoolType,
    DateType,
    EnumType,
    ListOf,
    NeverType,
    NumberType,
    RecordType,
    TableType,
    TextType,
    ValueType,
    describe,
)

#: Built-in functions: name → (fewest positional arguments, most (None: any), keyword names).
FUNCTIONS: dict[str, tuple[int, int | None, frozenset[str]]] = {
    "min": (2, None, frozenset()),
    "max": (2, None, frozenset()),
    "abs": (1, 1, frozenset()),
    "clamp": (3, 3, frozenset()),
    "percent": (2, 2, frozenset({"if_zero"})),
    "ratio": (2, 2, frozenset({"if_zero"})),
    "round": (2, 3, frozenset()),
    "present": (1, 1, frozenset()),
    "coalesce": (2, 2, frozenset()),
}
#: Aggregates: name → whether the body is ``"number"``, ``"bool"`` or absent (``None``).
AGGREGATES: dict[str, str | None] = {
    "sum": "number",
    "mean": "number",
    "min": "number",
    "max": "number",
    "count": None,
    "share": None,
    "any": "bool",
    "all": "bool",
}
ROUNDING_MODES = ("half_up", "half_even", "down", "up")
#: What a rule set reads of a related subject besides its inputs (see results.RelatedResult).
RELATED_RESULT_FIELDS: dict[str, ValueType] = {
    "id": TEXT, "total": NumberType("points"), "level": TEXT, "rated": BOOL,
}
SCALAR_TYPES = ("number", "percent", "points", "bool", "text", "date")


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """``did you mean `x`?`` for the closest candidate, or None."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


def fmt_num(value: Fraction) -> str:
    """A number as people write it: ``30``, ``2.5``, ``-1``; ``1/3`` only if it has no decimals."""
    if value.denominator == 1:
        return str(value.numerator)
    for places in range(1, 31):
        if (value * 10**places).denominator == 1:
            sign = "-" if value < 0 else ""
            digits = str(abs(value.numerator) * 10**places // value.denominator).rjust(places + 1, "0")
            return f"{sign}{digits[:-places]}.{digits[-places:]}"
    return f"{value.numerator}/{value.denominator}"


def what(t: ValueType) -> str:
    """A type as a noun phrase for messages: ``a number``, ``text``, ``a list of task_item``."""
    match t:
        case NumberType(unit=unit):
            return "a number" if unit == "number" else f"a number ({unit})"
        case BoolType():
            return "a bool (true/false)"
        case TextType():
            return "text"
        case DateType():
            return "a date"
        case EnumType():
            return f"a {describe(t)} value"
        case RecordType(name=name):
            return f"a `{name}` item"
        case ListOf(item=item):
            return f"a list of `{item.name}`"
        case TableType():
            return f"a {describe(t)}"
        case NeverType():
            return "insufficient_data"


def type_of_decl(t: nodes.TypeExpr) -> ValueType:
    """The value type of a declared type (``list of R`` → ``ListOf(RecordType(R))``)."""
    match t:
        case nodes.ScalarType(name=name):
            if name in ("number", "percent", "points"):
                return NumberType(name)
            scalars: dict[str, ValueType] = {"bool": BOOL, "text": TEXT, "date": DATE}
            return scalars.get(name, NEVER)  # an unknown type name is reported by the validator
        case nodes.OneOfType(members=members):
            return EnumType(members)
        case nodes.ListType(item=item):
            return ListOf(RecordType(item))


def literal_number(lit: nodes.Expr) -> Fraction | None:
    """The value of a constant number (``3``, ``-2.5``, ``25%``), else None."""
    match lit:
        case nodes.NumberLit(value=v):
            return v
        case nodes.PercentLit(value=v):
            return v / 100
        case nodes.Unary(op="-", operand=inner):
            negated = literal_number(inner)
            return None if negated is None else -negated
    return None


def unify(a: ValueType, b: ValueType) -> ValueType | None:
    """The common type of two values (numbers of any unit mix; never fits anything), or None."""
    if isinstance(a, NeverType):
        return b
    if isinstance(b, NeverType):
        return a
    if isinstance(a, NumberType) and isinstance(b, NumberType):
        return a if a.unit == b.unit else NUMBER
    return a if a == b else None


@dataclass(frozen=True, slots=True)
class Global:
    """A global name as the expression checker sees it."""

    kind: SymbolKind
    decl: object
    #: Known type, or None for a let whose type is inferred on demand.
    type: ValueType | None


class ExprChecker:
    """Infers and checks expression types against the rule set's global names."""

    def __init__(
        self,
        sink: DiagnosticSink,
        globals_: Mapping[str, Global],
        let_type: Callable[[str], ValueType],
        records: Mapping[str, nodes.RecordDecl],
        subjects: Mapping[str, nodes.SubjectDecl],
        types: dict[int, ValueType],
    ) -> None:
        self.sink = sink
        self.globals = globals_
        self.let_type = let_type
        self.records = records
        self.subjects = subjects
        self.types = types

    # ------------------------------------------------------------------ helpers

    def error(
        self,
        code: str,
        message: str,
        span: Span | None,
        hint: str | None = None,
        labels: tuple[Label, ...] = (),
    ) -> None:
        self.sink.add(Diagnostic(code, message, span, hint=hint, labels=labels))

    def _set(self, expr: nodes.Expr, t: ValueType) -> ValueType:
        self.types[id(expr)] = t
        return t

    def expect(self, expr: nodes.Expr, want: str, context: str, scope: Mapping[str, ValueType]) -> ValueType:
        """Check ``expr`` and require a number or a bool (``want``); ``context`` says where."""
        t = self.check(expr, scope)
        ok = isinstance(t, (NeverType, NumberType if want == "number" else BoolType))
        if not ok:
            shown = "a number" if want == "number" else "a bool (true/false)"
            hint = _hint_for(t, want)
            self.error("KR303", f"{context} must be {shown}, but this is {what(t)}", expr.span, hint)
        return t

    def fields_of(self, record: str) -> dict[str, ValueType] | None:
        decl: nodes.RecordDecl | nodes.SubjectDecl | None = self.records.get(record)
        if decl is None:
            decl = self.subjects.get(record)
        if decl is None:
            return None
        out: dict[str, ValueType] = {}
        if isinstance(decl, nodes.SubjectDecl):
            # a related subject is read through its result in the same period (RelatedResult);
            # its own relations are not carried
            out.update(RELATED_RESULT_FIELDS)
        for inp in decl.inputs:
            out.setdefault(inp.name, type_of_decl(inp.type))
        return out

    def _optional_field(self, record: str, name: str) -> bool:
        decl: nodes.RecordDecl | nodes.SubjectDecl | None = self.records.get(record) or self.subjects.get(record)
        if decl is None:
            return False
        return any(i.name == name and i.missing == "optional" for i in decl.inputs)

    def check_literal(self, lit: nodes.Expr, want: ValueType, context: str, code: str = "KR303") -> bool:
        """Check a literal against a declared type (param values, defaults, table rows)."""
        if isinstance(lit, nodes.StringLit) and isinstance(want, EnumType):
            self._set(lit, want)
            return self.member(lit, want)
        t = self.check(lit, {})
        if unify(t, want) is None:
            self.error(code, f"{context} should be {what(want)}, but `{_lit_text(lit)}` is {what(t)}", lit.span,
                       _literal_hint(want))
            return False
        self._set(lit, want)
        return True

    def member(self, lit: nodes.StringLit, enum: EnumType) -> bool:
        if lit.value in enum.members:
            return True
        hint = suggest(lit.value, enum.members) or f"the values are {', '.join(enum.members)}"
        self.error("KR311", f"`{lit.value}` is not one of the values of {describe(enum)}", lit.span, hint)
        return False

    def _align(self, a: nodes.Expr, ta: ValueType, b: nodes.Expr, tb: ValueType) -> tuple[ValueType, ValueType]:
        """A string literal next to a one_of value is that one_of value (if it is a member)."""
        if isinstance(ta, EnumType) and isinstance(b, nodes.StringLit):
            self.member(b, ta)
            return ta, self._set(b, ta)
        if isinstance(tb, EnumType) and isinstance(a, nodes.StringLit):
            self.member(a, tb)
            return self._set(a, tb), tb
        return ta, tb

    # ------------------------------------------------------------------ expressions

    def check(self, expr: nodes.Expr, scope: Mapping[str, ValueType], guarded: bool = False) -> ValueType:
        """Infer the type of ``expr``; ``scope`` holds aggregate variables; ``guarded`` is true
        for the argument of ``present``/``coalesce`` (where an optional input may be read)."""
        return self._set(expr, self._infer(expr, scope, guarded))

    def _infer(self, expr: nodes.Expr, scope: Mapping[str, ValueType], guarded: bool) -> ValueType:
        match expr:
            case nodes.NumberLit() | nodes.PercentLit():
                return NUMBER
            case nodes.StringLit():
                return TEXT
            case nodes.BoolLit():
                return BOOL
            case nodes.DateLit():
                return DATE
            case nodes.InsufficientData():
                return NEVER
            case nodes.Var():
                return self._var(expr, scope, guarded)
            case nodes.Member():
                return self._member(expr, scope, guarded)
            case nodes.Index():
                return self._index(expr, scope)
            case nodes.Unary():
                if expr.op == "not":
                    self.expect(expr.operand, "bool", "the operand of `not`", scope)
                    return BOOL
                t = self.expect(expr.operand, "number", "the operand of `-`", scope)
                return t if isinstance(t, NumberType) else NUMBER
            case nodes.Binary():
                return self._binary(expr, scope)
            case nodes.IfElse():
                self.expect(expr.cond, "bool", "the condition of `if`", scope)
                a = self.check(expr.then, scope)
                b = self.check(expr.otherwise, scope)
                a, b = self._align(expr.then, a, expr.otherwise, b)
                both = unify(a, b)
                if both is None:
                    self.error("KR303", f"the branches of `if` differ: `then` gives {what(a)}, `else` gives {what(b)}",
                               expr.span, "make both branches give the same type of value")
                    return NEVER
                return both
            case nodes.Call():
                return self._call(expr, scope)
            case nodes.Aggregate():
                return self._aggregate(expr, scope)
            case nodes.Tiers():
                return self._tiers(expr, scope)
        raise TypeError(f"not an expression: {expr!r}")  # pragma: no cover

    def _var(self, expr: nodes.Var, scope: Mapping[str, ValueType], guarded: bool, table_ok: bool = False) -> ValueType:
        if expr.name in scope:
            return scope[expr.name]
        g = self.globals.get(expr.name)
        if g is None:
            hint = suggest(expr.name, [*self.globals, *scope]) or (
                "declare it as an input of the rated subject, a param, a table or a let")
            self.error("KR301", f"unknown name `{expr.name}`", expr.span, hint)
            return NEVER
        if isinstance(g.decl, nodes.InputDecl) and g.decl.missing == "optional" and not guarded:
            self.error("KR313", f"the optional input `{expr.name}` is read without a guard", expr.span,
                       f"an optional input may be missing: write `coalesce({expr.name}, VALUE)` or test "
                       f"`present({expr.name})` inside the expression")
        if g.kind == "table" and not table_ok:
            self.error("KR303", f"`{expr.name}` is a table; it is read with a key", expr.span,
                       f"write `{expr.name}[key]`")
            return NEVER
        return g.type if g.type is not None else self.let_type(expr.name)

    def _member(self, expr: nodes.Member, scope: Mapping[str, ValueType], guarded: bool) -> ValueType:
        t = self.check(expr.obj, scope)
        if isinstance(t, NeverType):
            return NEVER
        if not isinstance(t, RecordType):
            hint = "only list items (e.g. `t` in `sum(t in tasks: t.done)`) have fields"
            if isinstance(t, ListOf):
                hint = f"a list has no fields; read its items with an aggregate, e.g. `sum(t in ...: t.{expr.name})`"
            self.error("KR303", f"`.{expr.name}` reads a field of a record, but this is {what(t)}", expr.span, hint)
            return NEVER
        fields = self.fields_of(t.name)
        if fields is None:
            return NEVER
        if expr.name not in fields:
            hint = suggest(expr.name, fields) or f"the fields of `{t.name}` are {', '.join(fields) or 'none'}"
            self.error("KR310", f"`{t.name}` has no field `{expr.name}`", expr.span, hint)
            return NEVER
        if not guarded and self._optional_field(t.name, expr.name):
            self.error("KR313", f"the optional field `{expr.name}` of `{t.name}` is read without a guard", expr.span,
                       "an optional field may be missing: read it with `coalesce(...)` or test it with `present(...)`")
        return fields[expr.name]

    def _index(self, expr: nodes.Index, scope: Mapping[str, ValueType]) -> ValueType:
        if isinstance(expr.obj, nodes.Var):
            t = self._set(expr.obj, self._var(expr.obj, scope, False, table_ok=True))
        else:
            t = self.check(expr.obj, scope)
        k = self.check(expr.key, scope)
        if isinstance(t, NeverType):
            return NEVER
        if not isinstance(t, TableType):
            self.error("KR303", f"only a table can be read with `[...]`, but this is {what(t)}", expr.span,
                       "remove the `[...]`, or declare a `table` and read it")
            return NEVER
        _, k = self._align(expr.obj, t.key, expr.key, k)
        if unify(k, t.key) is None:
            self.error("KR303", f"the table is keyed by {what(t.key)}, but the key here is {what(k)}", expr.key.span,
                       f"look the table up with {what(t.key)}")
        return t.value

    def _binary(self, expr: nodes.Binary, scope: Mapping[str, ValueType]) -> ValueType:
        op = expr.op
        if op in ("and", "or"):
            self.expect(expr.left, "bool", f"the left side of `{op}`", scope)
            self.expect(expr.right, "bool", f"the right side of `{op}`", scope)
            return BOOL
        if op in ("+", "-", "*", "/"):
            a = self.expect(expr.left, "number", f"the left side of `{op}`", scope)
            b = self.expect(expr.right, "number", f"the right side of `{op}`", scope)
            if op in ("+", "-"):
                both = unify(a, b)
                return both if isinstance(both, NumberType) else NUMBER
            return NUMBER
        a = self.check(expr.left, scope)
        b = self.check(expr.right, scope)
        a, b = self._align(expr.left, a, expr.right, b)
        if isinstance(a, NeverType) or isinstance(b, NeverType):
            return BOOL
        ordering = op in ("<", "<=", ">", ">=")
        if isinstance(a, EnumType) and isinstance(b, EnumType):
            if a != b:
                self.error("KR303", f"`{op}` compares values of two different one_of types: "
                           f"{describe(a)} and {describe(b)}", expr.span,
                           "compare each one_of value with one of its own values, e.g. `x == \"value\"`")
        elif isinstance(a, (NumberType, DateType)) and unify(a, b) is not None:
            pass
        elif isinstance(a, (TextType, BoolType)) and a == b:
            if ordering:
                self.error("KR303", f"`{op}` cannot order {what(a)}; only `==` and `!=` compare it", expr.span,
                           "to order values, declare the input as `one_of(...)`, lowest first")
        else:
            hint = "compare a number with a number, a date with a date, text with text"
            if isinstance(a, EnumType) or isinstance(b, EnumType):
                hint = "compare a one_of value with a quoted value name, e.g. `discipline >= \"reprimand\"`"
            self.error("KR303", f"`{op}` cannot compare {what(a)} with {what(b)}", expr.span, hint)
        return BOOL

    # ------------------------------------------------------------------ calls

    def _call(self, expr: nodes.Call, scope: Mapping[str, ValueType]) -> ValueType:
        name = expr.func
        spec = FUNCTIONS.get(name)
        if spec is None:
            for arg in expr.args:
                self.check(arg, scope)
            for kw in expr.kwargs:
                self.check(kw.value, scope)
            hint = suggest(name, [*FUNCTIONS, *AGGREGATES]) or f"the functions are {', '.join(FUNCTIONS)}"
            self.error("KR309", f"unknown function `{name}`", expr.span, hint)
            return NEVER
        low, high, keywords = spec
        n = len(expr.args)
        arity_ok = low <= n and (high is None or n <= high)
        seen: set[str] = set()
        for kw in expr.kwargs:
            if kw.name not in keywords or kw.name in seen:
                allowed = ", ".join(sorted(keywords)) or "none"
                why = "is given twice" if kw.name in seen else "is not an option of"
                self.error("KR309", f"`{kw.name}:` {why} `{name}(...)`", kw.span or expr.span,
                           suggest(kw.name, keywords) or f"its options are: {allowed}")
            seen.add(kw.name)
        if not arity_ok:
            want = _arity_text(low, high)
            self.error("KR309", f"`{name}(...)` takes {want}, but is given {n}", expr.span, _USAGE.get(name))
        if name in ("present", "coalesce"):
            return self._optional_call(expr, scope, arity_ok)
        if name == "round":
            return self._round(expr, scope)
        types = [self.expect(a, "number", f"argument {i + 1} of `{name}`", scope) for i, a in enumerate(expr.args)]
        for kw in expr.kwargs:
            if kw.name == "if_zero":
                self.expect(kw.value, "number", f"`if_zero` of `{name}`", scope)
            elif kw.name not in keywords:
                self.check(kw.value, scope)
        if name == "percent":
            return NumberType("percent")
        if name == "ratio":
            return NUMBER
        units = {t.unit for t in types if isinstance(t, NumberType)}
        return NumberType(units.pop()) if len(units) == 1 else NUMBER

    def _round(self, expr: nodes.Call, scope: Mapping[str, ValueType]) -> ValueType:
        t = self.expect(expr.args[0], "number", "the value to round", scope) if expr.args else NUMBER
        if len(expr.args) >= 2:
            places = expr.args[1]
            self.check(places, scope)
            if not (isinstance(places, nodes.NumberLit) and places.value.denominator == 1):
                self.error("KR309", "the number of decimals of `round` must be a whole number written out, like `2`",
                           places.span, "write `round(x, 2)` or `round(x, 0, \"half_up\")`")
        if len(expr.args) >= 3:
            mode = expr.args[2]
            self.check(mode, scope)
            if not (isinstance(mode, nodes.StringLit) and mode.value in ROUNDING_MODES):
                modes = "the modes are " + ", ".join(f'"{m}"' for m in ROUNDING_MODES)
                if isinstance(mode, nodes.StringLit):
                    self.error("KR309", f"`{mode.value}` is not a rounding mode of `round`", mode.span,
                               suggest(mode.value, ROUNDING_MODES) or modes)
                else:
                    self.error("KR309", "the rounding mode of `round` must be written out in quotes", mode.span, modes)
        return t if isinstance(t, NumberType) else NUMBER

    def _optional_call(self, expr: nodes.Call, scope: Mapping[str, ValueType], arity_ok: bool) -> ValueType:
        name = expr.func
        if not expr.args:
            return BOOL if name == "present" else NEVER
        first = expr.args[0]
        t = self.check(first, scope, guarded=True)
        optional = False  # after an earlier error (unknown name or field) nothing more is said
        if isinstance(first, nodes.Var) and first.name not in scope:
            g = self.globals.get(first.name)
            optional = g is None or (isinstance(g.decl, nodes.InputDecl) and g.decl.missing == "optional") or (
                isinstance(g.decl, nodes.RelationDecl) and not g.decl.many)  # `present(parent)`
        elif isinstance(first, nodes.Member):
            obj_t = self.types.get(id(first.obj))
            optional = True
            if isinstance(obj_t, RecordType):
                fields = self.fields_of(obj_t.name) or {}
                optional = first.name not in fields or self._optional_field(obj_t.name, first.name)
        if not optional:
            g = self.globals.get(first.name) if isinstance(first, nodes.Var) else None
            if g is not None and isinstance(g.decl, nodes.InputDecl):
                why = f"`{g.decl.name}` " + ("has a default" if g.decl.missing == "default" else "is required")
            else:
                why = "this is not an input"
                if isinstance(first, nodes.Member):
                    why = f"`{_short(first)}` is not an optional field"
            self.error("KR309", f"`{name}(...)` is only for `optional` inputs, but {why}", first.span,
                       "read the input directly, or declare it `optional`")
        for extra in expr.args[1:] if name == "present" else expr.args[2:]:
            self.check(extra, scope)
        if name == "present":
            return BOOL
        if len(expr.args) < 2:
            return t
        fallback = expr.args[1]
        v = self.check(fallback, scope)
        t, v = self._align(first, t, fallback, v)
        both = unify(t, v)
        if both is None:
            self.error("KR303", f"the fallback of `coalesce` is {what(v)}, but the input is {what(t)}",
                       fallback.span, f"give a fallback that is {what(t)}")
            return t
        return both

    def _aggregate(self, expr: nodes.Aggregate, scope: Mapping[str, ValueType]) -> ValueType:
        body_kind = AGGREGATES.get(expr.func, "?")
        src = self.check(expr.source, scope)
        item: ValueType = NEVER
        if isinstance(src, ListOf):
            item = src.item
        elif not isinstance(src, NeverType):
            self.error("KR303", f"`{expr.func}` goes over a list, but `{_short(expr.source)}` is {what(src)}",
                       expr.source.span, "aggregate over a `list of ...` input or relation")
        if expr.var in self.globals or expr.var in scope:
            kind = self.globals[expr.var].kind if expr.var in self.globals else "aggregate variable"
            self.error("KR302", f"the aggregate variable `{expr.var}` has the same name as the {kind} `{expr.var}`",
                       expr.span, "choose another name for the variable, e.g. `t`")
        inner = {**scope, expr.var: item}
        if expr.where is not None:
            self.expect(expr.where, "bool", f"the `where` condition of `{expr.func}`", inner)
        if body_kind == "?":
            if expr.body is not None:
                self.check(expr.body, inner)
            hint = suggest(expr.func, AGGREGATES) or f"the aggregates are {', '.join(AGGREGATES)}"
            self.error("KR309", f"unknown aggregate `{expr.func}`", expr.span, hint)
            return NEVER
        if body_kind is None:
            if expr.body is not None:
                self.check(expr.body, inner)
                self.error("KR309", f"`{expr.func}` takes no `: ...` part; it counts the items that pass `where`",
                           expr.body.span, f"write `{expr.func}({expr.var} in ... where CONDITION)`")
            return NUMBER
        if expr.body is None:
            self.error("KR309", f"`{expr.func}` needs a value for each item after `:`", expr.span,
                       f"write `{expr.func}({expr.var} in {_short(expr.source)}: ...)`")
            return BOOL if body_kind == "bool" else NUMBER
        t = self.expect(expr.body, body_kind, f"the body of `{expr.func}`", inner)
        if body_kind == "bool":
            return BOOL
        if expr.func == "mean" or not isinstance(t, NumberType):
            return NUMBER if not isinstance(t, NumberType) else NumberType(t.unit)
        return t

    def _tiers(self, expr: nodes.Tiers, scope: Mapping[str, ValueType]) -> ValueType:
        self.expect(expr.subject, "number", "the value of `tiers`", scope)
        result: ValueType = NEVER
        previous: tuple[Fraction, nodes.Tier] | None = None
        first_value: nodes.Expr | None = None
        for tier in expr.tiers:
            self.expect(tier.threshold, "number", "a `tiers` threshold", scope)
            bound = literal_number(tier.threshold)
            if bound is not None:
                if previous is not None and bound >= previous[0]:
                    prev_span = previous[1].span
                    labels = (Label(prev_span, f"the step before is from {fmt_num(previous[0])}"),) if prev_span else ()
                    self.error("KR314", f"the thresholds of `tiers` must go down, but `from {fmt_num(bound)}` "
                               f"comes after `from {fmt_num(previous[0])}`", tier.span or tier.threshold.span,
                               "list the steps from the highest threshold to the lowest", labels)
                previous = (bound, tier)
            result = self._tier_value(tier.value, result, first_value, scope)
            first_value = first_value or tier.value
        return self._tier_value(expr.otherwise, result, first_value, scope)

    def _tier_value(self, value: nodes.Expr, result: ValueType, first: nodes.Expr | None,
                    scope: Mapping[str, ValueType]) -> ValueType:
        t = self.check(value, scope)
        if first is not None:
            result, t = self._align(first, result, value, t)
        both = unify(result, t)
        if both is None:
            self.error("KR303", f"the steps of `tiers` give different types: {what(result)} and {what(t)}",
                       value.span, "make every step (and `otherwise`) give the same type of value")
            return result
        return both


_USAGE = {
    "min": "write `min(a, b, ...)` with at least two values",
    "max": "write `max(a, b, ...)` with at least two values",
    "abs": "write `abs(x)`",
    "clamp": "write `clamp(x, low, high)`",
    "percent": "write `percent(part, whole, if_zero: VALUE)`",
    "ratio": "write `ratio(part, whole, if_zero: VALUE)`",
    "round": "write `round(x, 2)` or `round(x, 2, \"half_up\")`",
    "present": "write `present(x)` with one optional input",
    "coalesce": "write `coalesce(x, fallback)`",
}


def _arity_text(low: int, high: int | None) -> str:
    def args(n: int) -> str:
        return f"{n} argument{'s' if n != 1 else ''}"

    if high is None:
        return f"at least {args(low)}"
    if low == high:
        return args(low)
    return f"{low} or {args(high)}" if high == low + 1 else f"{low} to {args(high)}"


def _hint_for(t: ValueType, want: str) -> str:
    if isinstance(t, TableType):
        return "read a table with a key, e.g. `table[key]`"
    if isinstance(t, ListOf):
        return "turn a list into one value with an aggregate, e.g. `sum(t in list: ...)` or `count(...)`"
    if want == "bool" and isinstance(t, NumberType):
        return "compare it to get true/false, e.g. `x >= 50`"
    if want == "bool" and isinstance(t, EnumType):
        return "compare it with one of its values, e.g. `x == \"value\"`"
    if want == "number" and isinstance(t, BoolType):
        return "turn a condition into a number with `if CONDITION then 1 else 0`"
    if want == "number" and isinstance(t, EnumType):
        return "turn a one_of value into a number with a table keyed by it, e.g. `points[x]`"
    if want == "bool":
        return "write a condition here, e.g. a comparison such as `x >= 50`"
    return "write an expression that gives a number here"


def _literal_hint(want: ValueType) -> str:
    examples = {
        NumberType: "a number like `12`, `2.5` or `25%`",
        BoolType: "`true` or `false`",
        TextType: "a quoted text like `\"abc\"`",
        DateType: "a date like `2026-01-01`",
    }
    for cls, text in examples.items():
        if isinstance(want, cls):
            return f"write {text}"
    if isinstance(want, EnumType):
        return "write one of " + ", ".join(f'"{m}"' for m in want.members)
    return "a literal cannot have this type"


def _lit_text(lit: nodes.Expr) -> str:
    match lit:
        case nodes.NumberLit(value=v):
            return fmt_num(v)
        case nodes.PercentLit(value=v):
            return f"{fmt_num(v)}%"
        case nodes.StringLit(value=v):
            return f'"{v}"'
        case nodes.BoolLit(value=v):
            return "true" if v else "false"
        case nodes.DateLit(value=v):
            return v.isoformat()
    return "this value"


def _short(expr: nodes.Expr) -> str:
    if isinstance(expr, nodes.Var):
        return expr.name
    if isinstance(expr, nodes.Member):
        return f"{_short(expr.obj)}.{expr.name}"
    return "this"
