"""Columnar evaluation: :class:`~kpi_rules.plan.Plan` + columns → per-row results, exactly.

:func:`compile_columnar` checks once that a plan uses only what the columnar program
supports and prepares its tables; :meth:`ColumnarProgram.run` evaluates every step of the
plan over whole columns with numpy and returns a :class:`ColumnarRun`, from which
:meth:`ColumnarRun.result` builds the very :class:`~kpi_rules.results.Result` that
:func:`kpi_rules.evaluator.evaluate_record` gives for that row.

Exact numbers in columns
    A number column is a :class:`Num`: numerators and denominators as ``int64`` (either may
    be a Python ``int`` shared by the whole column; a shared denominator is the common case,
    ``n / 100`` for amounts with two decimals), the value of row ``i`` being ``n[i] / d[i]``
    with ``d > 0``. Every stored magnitude stays at most ``2**62``: before a product is
    formed the exact bound ``max|x| * max|y|`` is compared with ``2**62`` (one pass over the
    data); when it is exceeded, the rows whose float estimate comes near the limit are marked
    *bad* and computed as 0. Sums of two bounded values cannot overflow ``int64`` and are
    re-bounded. Denominators are reduced with ``np.gcd``. Comparisons with thresholds are
    exact cross-multiplications. No float ever decides a value; floats only estimate
    magnitudes to find the rows at risk.

Rows the program does not decide
    A row is *bad* when evaluating it would overflow, reach ``insufficient_data``, divide by
    zero, miss a table key, or anything else the tree-walker turns into an error or a stop.
    Only the rows where the node is actually evaluated count (``if``/``and``/``or``,
    ``if_zero``, tiers and ``any``/``all`` are followed with masks, like the short-circuits
    of the tree-walker). Bad rows are handed back to the caller, which evaluates them with
    :func:`~kpi_rules.evaluator.evaluate_record`: always correct, never approximate.

Task items
    A list input is a flat item table (the row of each item, then its fields as columns). An
    aggregate ``sum(t in tasks where W: B)`` evaluates ``W`` and ``B`` over all items at once
    and reduces per row; aggregates that read only item fields, inputs, params and tables are
    *pre-reduced*, possibly chunk by chunk (:meth:`ColumnarProgram.reduce_items`), so the item
    table never needs to be in memory whole.

Unsupported (the whole plan then runs record by record): dates, optional inputs
(``present``/``coalesce``), relations, ``round`` to negative places, nested aggregates,
tables keyed by numbers, and aggregates that read lets or criteria when items are chunked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, TypeAlias, Union

import numpy as np
import numpy.typing as npt

from kpi_rules import nodes
from kpi_rules.plan import Plan
from kpi_rules.results import (
    ConditionResult,
    CriterionKind,
    CriterionResult,
    DecisionReason,
    DisqualifierResult,
    LevelDecision,
    Result,
    Value,
)
from kpi_rules.values import ROUNDING_MODES, literal_value

__all__ = [
    "Cat",
    "ColumnarProgram",
    "ColumnarRun",
    "Columns",
    "ItemTable",
    "Num",
    "Unsupported",
    "compile_columnar",
]

I64 = npt.NDArray[np.int64]
BoolArr = npt.NDArray[np.bool_]
IntLike: TypeAlias = Union[int, I64]

#: Largest magnitude kept in an int64 column (sums of two such values still fit in int64).
LIMIT = 1 << 62
_RISK = float(1 << 61)  # float estimates above this are treated as overflowing (margin 2x)
_INT64_MAX = np.iinfo(np.int64).max


class Unsupported(Exception):
    """The plan (or this input) uses something the columnar program does not evaluate."""


@dataclass(slots=True)
class Num:
    """Exact rationals ``n / d`` (``d > 0``); ``n`` and ``d`` are int64 arrays or Python ints."""

    n: IntLike
    d: IntLike


@dataclass(slots=True)
class Cat:
    """Text or ``one_of`` values as codes into ``labels``."""

    codes: I64
    labels: tuple[str, ...]


CValue: TypeAlias = Union[Num, Cat, BoolArr, str]


@dataclass(slots=True)
class ItemTable:
    """Items of a list input: ``row[k]`` is the index of the row owning item ``k``.

    ``position`` is the index of the first item in the owner's list order (items of one row
    must appear in list order; rows may interleave). ``fields`` are columns of length ``size``.
    """

    row: I64
    fields: dict[str, CValue]
    size: int
    position: int = 0


@dataclass(slots=True)
class Columns:
    """The scalar inputs of ``size`` rows, typed, plus item tables of list inputs."""

    size: int
    scalars: dict[str, CValue]
    lists: dict[str, ItemTable] = field(default_factory=dict)


# --------------------------------------------------------------------------- int64 arithmetic


def _maxabs(x: IntLike) -> int:
    if isinstance(x, int):
        return abs(x)
    if x.size == 0:
        return 0
    return max(int(x.max()), -int(x.min()))


def _full(size: int, x: IntLike) -> I64:
    if isinstance(x, int):
        return np.full(size, x, dtype=np.int64)
    return x


class _Arith:
    """Overflow-checked int64 operations; rows at risk are marked in ``bad`` (under ``mask``)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.bad: BoolArr = np.zeros(size, dtype=np.bool_)

    def mark(self, rows: BoolArr | bool, mask: BoolArr | None) -> None:
        if isinstance(rows, (bool, np.bool_)):
            if not rows:
                return
            rows = np.ones(self.size, dtype=np.bool_)
        self.bad |= rows if mask is None else (rows & mask)

    def mul(self, x: IntLike, y: IntLike, mask: BoolArr | None) -> IntLike:
        bx, by = _maxabs(x), _maxabs(y)
        if bx * by <= LIMIT:
            if isinstance(x, int) and isinstance(y, int):
                return x * y
            return np.multiply(x, y, dtype=np.int64)
        if isinstance(x, int) and isinstance(y, int):
            self.mark(True, mask)
            return 0
        est = np.abs(np.asarray(x, dtype=np.float64)) * np.abs(np.asarray(y, dtype=np.float64))
        risky = np.broadcast_to(est >= _RISK, (self.size,))
        self.mark(risky, mask)
        xs = np.where(risky, 0, x).astype(np.int64)
        return np.multiply(xs, y, dtype=np.int64)

    def bound(self, n: IntLike, mask: BoolArr | None) -> IntLike:
        """``n`` with rows above ``LIMIT`` marked and zeroed (``n`` is a sum of bounded values)."""
        if _maxabs(n) <= LIMIT:
            return n
        if isinstance(n, int):
            self.mark(True, mask)
            return 0
        risky = (n > LIMIT) | (n < -LIMIT)
        self.mark(risky, mask)
        return np.where(risky, 0, n)

    # ------------------------------------------------------------------ rationals

    def norm(self, x: Num) -> Num:
        n, d = x.n, x.d
        if isinstance(d, int):
            if d > (1 << 20) and not isinstance(n, int) and n.size:
                g = math.gcd(d, int(np.gcd.reduce(n)))
                if g > 1:
                    return Num(n // g, d // g)
            elif isinstance(n, int):
                g = math.gcd(n, d)
                return Num(n // g, d // g)
            return x
        common = np.gcd(n, d)
        return Num(n // common, d // common)

    def common(self, a: Num, b: Num, mask: BoolArr | None) -> tuple[IntLike, IntLike, IntLike] | None:
        """Numerators of ``a`` and ``b`` over one shared scalar denominator, if both have one."""
        if isinstance(a.d, int) and isinstance(b.d, int):
            lcm = math.lcm(a.d, b.d)
            if lcm <= LIMIT:
                return self.mul(a.n, lcm // a.d, mask), self.mul(b.n, lcm // b.d, mask), lcm
        return None

    def add(self, a: Num, b: Num, mask: BoolArr | None, sign: int = 1) -> Num:
        shared = self.common(a, b, mask)
        if shared is not None:
            an, bn, lcm = shared
            return self.norm(Num(self.bound(an + bn if sign > 0 else an - bn, mask), lcm))
        left = self.mul(a.n, b.d, mask)
        right = self.mul(b.n, a.d, mask)
        den = self.mul(a.d, b.d, mask)
        num = self.bound(left + right if sign > 0 else left - right, mask)
        return self.norm(Num(num, _nonzero(den)))

    def times(self, a: Num, b: Num, mask: BoolArr | None) -> Num:
        a, b = self.norm(a), self.norm(b)
        if isinstance(a.d, int) and isinstance(b.d, int):
            return self.norm(Num(self.mul(a.n, b.n, mask), self.scalar(a.d * b.d, mask)))
        num = self.mul(a.n, b.n, mask)
        return self.norm(Num(num, _nonzero(self.mul(a.d, b.d, mask))))

    def scalar(self, d: int, mask: BoolArr | None) -> int:
        if d > LIMIT:
            self.mark(True, mask)
            return 1
        return d

    def divide(self, a: Num, b: Num, mask: BoolArr | None) -> tuple[Num, BoolArr | bool]:
        """``a / b`` and where ``b`` is zero (those rows get an arbitrary value)."""
        a, b = self.norm(a), self.norm(b)
        if isinstance(b.n, int):
            if b.n == 0:
                return Num(0, 1), True
            sign = -1 if b.n < 0 else 1
            if isinstance(a.d, int) and isinstance(b.d, int):
                num = self.mul(a.n, sign * b.d, mask)
                return self.norm(Num(num, self.scalar(a.d * abs(b.n), mask))), False
            num = self.mul(a.n, sign * b.d if isinstance(b.d, int) else sign * b.d, mask)
            return self.norm(Num(num, _nonzero(self.mul(a.d, abs(b.n), mask)))), False
        zero = b.n == 0
        bn = np.where(zero, 1, b.n)
        neg = bn < 0
        num = self.mul(a.n, b.d, mask)
        den = self.mul(a.d, np.abs(bn), mask)
        num = np.where(neg, -np.asarray(num), num)
        return self.norm(Num(num, _nonzero(den))), zero

    def compare(self, op: str, a: Num, b: Num, mask: BoolArr | None) -> BoolArr:
        shared = self.common(a, b, mask)
        if shared is not None:
            left, right, _ = shared
        else:
            left, right = self.mul(a.n, b.d, mask), self.mul(b.n, a.d, mask)
        out = _OPS[op](left, right)
        return np.broadcast_to(np.asarray(out, dtype=np.bool_), (self.size,))

    def select(self, cond: BoolArr, a: Num, b: Num, mask: BoolArr | None) -> Num:
        shared = self.common(a, b, mask)
        if shared is not None:
            an, bn, lcm = shared
            return self.norm(Num(np.where(cond, an, bn), lcm))
        return Num(np.where(cond, a.n, b.n), np.where(cond, a.d, b.d))


def _nonzero(d: IntLike) -> IntLike:
    """Denominators zeroed by an overflow (their rows are bad) become 1."""
    if isinstance(d, int):
        return d or 1
    return np.where(d == 0, 1, d)


_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


def _and(mask: BoolArr | None, rows: BoolArr) -> BoolArr:
    return rows if mask is None else (mask & rows)


# --------------------------------------------------------------------------- the program


@dataclass(slots=True)
class _AggPartial:
    """A pre-reduced aggregate over the items seen so far."""

    total: Num | None = None  # sum of the body (sum, mean)
    best: Num | None = None  # min / max
    has_best: BoolArr | None = None
    selected: I64 | None = None  # items passing ``where``
    hits: I64 | None = None  # items whose boolean body is true
    items: I64 | None = None  # all items
    first_event: I64 | None = None  # any/all: position of the first decisive or bad item
    first_bad: BoolArr | None = None
    bad: BoolArr | None = None


class ColumnarProgram:
    """A plan prepared for columnar evaluation (compile once, run on many batches)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        ruleset = plan.ruleset
        if ruleset.criteria is None:
            raise Unsupported("a rule set without criteria")
        self.lists: dict[str, str] = {}
        #: Inputs and item fields that may be declared but not read (dates, optional values).
        self.unreadable: set[str] = set()
        for decl in plan.checked.subject.inputs:
            t = decl.type
            if isinstance(t, nodes.ListType):
                self.lists[decl.name] = t.item
                for field_decl in plan.checked.records[t.item].inputs:
                    if not readable(field_decl):
                        self.unreadable.add(f"{decl.name}.{field_decl.name}")
            elif not readable(decl):
                self.unreadable.add(decl.name)
        if plan.checked.subject.relations:
            raise Unsupported("relations")
        for versions in list(plan.params.values()) + list(plan.tables.values()):
            if len(versions) != 1 or versions[0].decl.valid is not None:
                raise Unsupported("params or tables with versions")
        self.lets = [s for s in plan.steps if s.kind == "let"]
        self._source = ""
        #: Aggregates at the top level of a step that read only items, inputs, params, tables.
        self.pre: dict[int, nodes.Aggregate] = {}
        self.in_place: list[nodes.Aggregate] = []
        for step in plan.steps:
            if step.expr is not None:
                self._check(step.expr, None)
        rating = ruleset.rating
        self.levels: tuple[nodes.Level, ...] = rating.levels if rating is not None else ()

    # ------------------------------------------------------------------ static check

    def _check(self, expr: nodes.Expr, var: str | None) -> None:
        if isinstance(expr, (nodes.NumberLit, nodes.PercentLit, nodes.StringLit, nodes.BoolLit,
                             nodes.InsufficientData)):
            return
        if isinstance(expr, nodes.DateLit):
            raise Unsupported("dates")
        if isinstance(expr, nodes.Var):
            if expr.name in self.lists and var is None:
                raise Unsupported("a list outside an aggregate")
            if expr.name in self.unreadable and expr.name != var:
                raise Unsupported("dates or optional inputs")
            return
        if isinstance(expr, nodes.Member):
            if var is None or not isinstance(expr.obj, nodes.Var) or expr.obj.name != var:
                raise Unsupported("fields outside an aggregate")
            if f"{self._source}.{expr.name}" in self.unreadable:
                raise Unsupported("dates or optional fields")
            return
        if isinstance(expr, nodes.Index):
            if not isinstance(expr.obj, nodes.Var) or expr.obj.name not in self.plan.tables:
                raise Unsupported("indexing something other than a table")
            version = self.plan.table_version(expr.obj.name)
            if version is None or any(not isinstance(k, str) for k in version.rows):
                raise Unsupported("tables keyed by numbers")
            self._check(expr.key, var)
            return
        if isinstance(expr, nodes.Unary):
            self._check(expr.operand, var)
            return
        if isinstance(expr, nodes.Binary):
            self._check(expr.left, var)
            self._check(expr.right, var)
            return
        if isinstance(expr, nodes.IfElse):
            for sub in (expr.cond, expr.then, expr.otherwise):
                self._check(sub, var)
            return
        if isinstance(expr, nodes.Tiers):
            self._check(expr.subject, var)
            for tier in expr.tiers:
                self._check(tier.threshold, var)
                self._check(tier.value, var)
            self._check(expr.otherwise, var)
            return
        if isinstance(expr, nodes.Call):
            if expr.func not in ("min", "max", "abs", "clamp", "percent", "ratio", "round"):
                raise Unsupported(f"function {expr.func}")
            if expr.func == "round":
                self._round_args(expr)
            for arg in expr.args:
                self._check(arg, var)
            for kw in expr.kwargs:
                self._check(kw.value, var)
            return
        if isinstance(expr, nodes.Aggregate):
            if var is not None:
                raise Unsupported("nested aggregates")
            if not isinstance(expr.source, nodes.Var) or expr.source.name not in self.lists:
                raise Unsupported("aggregates over something other than a list input")
            if expr.func not in ("sum", "mean", "min", "max", "count", "share", "any", "all"):
                raise Unsupported(f"aggregate {expr.func}")
            self._source = expr.source.name
            for part in (expr.where, expr.body):
                if part is not None:
                    self._check(part, expr.var)
            if self._pre_reducible(expr):
                self.pre[id(expr)] = expr
            else:
                self.in_place.append(expr)
            return
        raise Unsupported(type(expr).__name__)

    def _round_args(self, expr: nodes.Call) -> tuple[int, str]:
        args = expr.args
        places = args[1] if len(args) > 1 else None
        mode_node: nodes.Expr | None = args[2] if len(args) == 3 else next(
            (k.value for k in expr.kwargs if k.name == "mode"), None)
        if not isinstance(places, nodes.NumberLit) or places.value.denominator != 1 or places.value < 0:
            raise Unsupported("round with computed or negative places")
        mode = "half_up"
        if mode_node is not None:
            if not isinstance(mode_node, nodes.StringLit) or mode_node.value not in ROUNDING_MODES:
                raise Unsupported("round with a computed mode")
            mode = mode_node.value
        if len(args) not in (2, 3):
            raise Unsupported("round arity")
        return int(places.value), mode

    def _pre_reducible(self, agg: nodes.Aggregate) -> bool:
        plan = self.plan
        ok = True

        def walk(e: nodes.Expr) -> None:
            nonlocal ok
            if isinstance(e, nodes.Var):
                if e.name != agg.var and e.name not in plan.inputs and e.name not in plan.params \
                        and e.name not in plan.tables:
                    ok = False
            for child in _children(e):
                walk(child)

        for sub in (agg.where, agg.body):
            if sub is not None:
                walk(sub)
        return ok

    # ------------------------------------------------------------------ items, chunk by chunk

    def new_partials(self, size: int) -> dict[int, _AggPartial]:
        return {key: _AggPartial() for key in self.pre}

    def reduce_items(self, columns: Columns, list_name: str, items: ItemTable,
                     partials: dict[int, _AggPartial]) -> None:
        """Fold one chunk of items of ``list_name`` into the pre-reduced aggregates."""
        for key, agg in self.pre.items():
            assert isinstance(agg.source, nodes.Var)
            if agg.source.name == list_name:
                ev = _Eval(self, columns, {}, trace=False)
                _fold(ev, agg, items, partials[key])

    # ------------------------------------------------------------------ run

    def run(self, columns: Columns, partials: dict[int, _AggPartial] | None = None,
            trace: bool = False) -> ColumnarRun:
        """Evaluate every step over ``columns``; aggregates use ``partials`` when given."""
        if partials is None:
            partials = self.new_partials(columns.size)
            for name, items in columns.lists.items():
                self.reduce_items(columns, name, items, partials)
        elif self.in_place and any(
                isinstance(a.source, nodes.Var) and a.source.name not in columns.lists for a in self.in_place):
            raise Unsupported("aggregates that read lets need the whole item table")
        ev = _Eval(self, columns, partials, trace)
        return ev.run_plan()


def readable(decl: nodes.InputDecl) -> bool:
    """Whether the columns hold this input: not a date, not optional."""
    if decl.missing == "optional":
        return False
    return not (isinstance(decl.type, nodes.ScalarType) and decl.type.name == "date")


def compile_columnar(plan: Plan) -> ColumnarProgram | None:
    """The columnar program of ``plan``, or None when the plan needs record-by-record evaluation."""
    try:
        return ColumnarProgram(plan)
    except Unsupported:
        return None


def _children(e: nodes.Expr) -> tuple[nodes.Expr, ...]:
    if isinstance(e, nodes.Member):
        return (e.obj,)
    if isinstance(e, nodes.Index):
        return (e.obj, e.key)
    if isinstance(e, nodes.Unary):
        return (e.operand,)
    if isinstance(e, nodes.Binary):
        return (e.left, e.right)
    if isinstance(e, nodes.IfElse):
        return (e.cond, e.then, e.otherwise)
    if isinstance(e, nodes.Call):
        return tuple(e.args) + tuple(k.value for k in e.kwargs)
    if isinstance(e, nodes.Aggregate):
        return tuple(x for x in (e.source, e.where, e.body) if x is not None)
    if isinstance(e, nodes.Tiers):
        return (e.subject, *(x for t in e.tiers for x in (t.threshold, t.value)), e.otherwise)
    return ()


# --------------------------------------------------------------------------- evaluation


class _Eval:
    """Evaluates expressions over one domain: the rows, or (``items``) the items of a list."""

    def __init__(self, prog: ColumnarProgram, columns: Columns, partials: Mapping[int, _AggPartial],
                 trace: bool, items: ItemTable | None = None, var: str | None = None,
                 parent: _Eval | None = None) -> None:
        self.prog = prog
        self.plan = prog.plan
        self.columns = columns
        self.partials = partials
        self.items = items
        self.var = var
        self.parent = parent
        self.size = items.size if items is not None else columns.size
        self.arith = _Arith(self.size)
        self.env: dict[str, CValue] = {}
        self.trace: dict[int, tuple[CValue, BoolArr | None]] | None = {} if trace else None
        self.agg_cache: dict[int, tuple[CValue, BoolArr]] = {}

    # ------------------------------------------------------------------ helpers

    def fail(self, rows: BoolArr | bool, mask: BoolArr | None) -> None:
        self.arith.mark(rows, mask)

    def num(self, v: CValue) -> Num:
        if not isinstance(v, Num):
            raise Unsupported("expected a number")
        return v

    def boolean(self, v: CValue) -> BoolArr:
        if not isinstance(v, np.ndarray) or v.dtype != np.bool_:
            raise Unsupported("expected true/false")
        return v

    def const(self, value: Value) -> CValue:
        if isinstance(value, bool):
            return np.full(self.size, value, dtype=np.bool_)
        if isinstance(value, Fraction):
            if max(abs(value.numerator), value.denominator) > LIMIT:
                raise Unsupported("a huge constant")
            return Num(value.numerator, value.denominator)
        if isinstance(value, str):
            return value
        raise Unsupported(f"constant {type(value).__name__}")

    # ------------------------------------------------------------------ dispatch

    def ev(self, expr: nodes.Expr, mask: BoolArr | None) -> CValue:
        value = self._ev(expr, mask)
        if self.trace is not None and isinstance(expr, (nodes.Var, nodes.Aggregate, nodes.Index)):
            self.trace[id(expr)] = (value, mask)
        return value

    def _ev(self, expr: nodes.Expr, mask: BoolArr | None) -> CValue:
        if isinstance(expr, (nodes.NumberLit, nodes.PercentLit, nodes.StringLit, nodes.BoolLit)):
            return self.const(literal_value(expr))
        if isinstance(expr, nodes.InsufficientData):
            self.fail(True, mask)
            return Num(0, 1)
        if isinstance(expr, nodes.Var):
            return self.var_value(expr.name)
        if isinstance(expr, nodes.Member):
            assert self.items is not None
            value = self.items.fields.get(expr.name)
            if value is None:
                raise Unsupported(f"item field {expr.name}")
            return value
        if isinstance(expr, nodes.Index):
            return self.index(expr, mask)
        if isinstance(expr, nodes.Unary):
            operand = self.ev(expr.operand, mask)
            if expr.op == "not":
                return ~self.boolean(operand)
            n = self.num(operand)
            return Num(-n.n if isinstance(n.n, int) else np.negative(n.n), n.d)
        if isinstance(expr, nodes.Binary):
            return self.binary(expr, mask)
        if isinstance(expr, nodes.IfElse):
            cond = self.boolean(self.ev(expr.cond, mask))
            then = self.ev(expr.then, _and(mask, cond))
            other = self.ev(expr.otherwise, _and(mask, ~cond))
            return self.select(cond, then, other, mask)
        if isinstance(expr, nodes.Tiers):
            return self.tiers(expr, mask)
        if isinstance(expr, nodes.Call):
            return self.call(expr, mask)
        if isinstance(expr, nodes.Aggregate):
            return self.aggregate(expr, mask)
        raise Unsupported(type(expr).__name__)

    def var_value(self, name: str) -> CValue:
        if self.items is not None:
            assert self.parent is not None
            value = self.parent.var_value(name)
            return _take(value, self.items.row, self.size)
        if name in self.env:
            return self.env[name]
        plan = self.plan
        if name in self.columns.scalars:
            value = self.columns.scalars[name]
        elif name in plan.params:
            version = plan.param_version(name)
            assert version is not None
            value = self.const(version.value)
        else:
            raise Unsupported(f"name {name}")
        self.env[name] = value
        return value

    def index(self, expr: nodes.Index, mask: BoolArr | None) -> CValue:
        assert isinstance(expr.obj, nodes.Var)
        version = self.plan.table_version(expr.obj.name)
        assert version is not None
        key = self.ev(expr.key, mask)
        if isinstance(key, str):
            key = Cat(np.zeros(self.size, dtype=np.int64), (key,))
        if not isinstance(key, Cat):
            raise Unsupported("table key")
        values = [version.rows.get(label) for label in key.labels]
        missing = np.array([v is None for v in values] + [True], dtype=np.bool_)
        self.fail(missing[key.codes], mask)
        present = [v for v in values if v is not None]
        if all(isinstance(v, Fraction) for v in present):
            fracs = [v if isinstance(v, Fraction) else Fraction(0) for v in values]
            lcm = math.lcm(*(f.denominator for f in fracs)) if fracs else 1
            if lcm > LIMIT or any(abs(f.numerator) * (lcm // f.denominator) > LIMIT for f in fracs):
                raise Unsupported("huge table values")
            lut = np.array([f.numerator * (lcm // f.denominator) for f in fracs] + [0], dtype=np.int64)
            return self.arith.norm(Num(lut[key.codes], lcm))
        if all(isinstance(v, bool) for v in present):
            blut = np.array([bool(v) for v in values] + [False], dtype=np.bool_)
            return blut[key.codes]
        if all(isinstance(v, str) for v in present):
            labels = tuple(dict.fromkeys(str(v) for v in present))
            clut = np.array([labels.index(v) if isinstance(v, str) else 0 for v in values] + [0], dtype=np.int64)
            return Cat(clut[key.codes], labels)
        raise Unsupported("table values")

    def binary(self, expr: nodes.Binary, mask: BoolArr | None) -> CValue:
        op = expr.op
        if op in ("and", "or"):
            left = self.boolean(self.ev(expr.left, mask))
            right = self.boolean(self.ev(expr.right, _and(mask, left if op == "and" else ~left)))
            return (left & right) if op == "and" else (left | right)
        left_v = self.ev(expr.left, mask)
        right_v = self.ev(expr.right, mask)
        arith = self.arith
        if op in ("+", "-"):
            return arith.add(self.num(left_v), self.num(right_v), mask, 1 if op == "+" else -1)
        if op == "*":
            return arith.times(self.num(left_v), self.num(right_v), mask)
        if op == "/":
            quotient, zero = arith.divide(self.num(left_v), self.num(right_v), mask)
            self.fail(zero, mask)
            return quotient
        return self.compare(op, left_v, right_v, expr, mask)

    def compare(self, op: str, left: CValue, right: CValue, expr: nodes.Expr, mask: BoolArr | None) -> BoolArr:
        if isinstance(left, Num) and isinstance(right, Num):
            return self.arith.compare(op, left, right, mask)
        if isinstance(left, (Cat, str)) and isinstance(right, (Cat, str)):
            members = self.plan.enum_orders.get(id(expr))
            if op in ("==", "!="):
                lc, rc = _unify_cats(left, right, self.size)
                return np.asarray(_OPS[op](lc.codes, rc.codes), dtype=np.bool_)
            if members is None:
                raise Unsupported("ordering text")
            lr, rr = self.rank(left, members, mask), self.rank(right, members, mask)
            return np.broadcast_to(np.asarray(_OPS[op](lr, rr), dtype=np.bool_), (self.size,))
        if isinstance(left, np.ndarray) and isinstance(right, np.ndarray) and op in ("==", "!="):
            return np.asarray(_OPS[op](self.boolean(left), self.boolean(right)), dtype=np.bool_)
        raise Unsupported("comparison")

    def rank(self, v: Cat | str, members: tuple[str, ...], mask: BoolArr | None) -> I64:
        cat = v if isinstance(v, Cat) else Cat(np.zeros(self.size, dtype=np.int64), (v,))
        lut = np.array([members.index(x) if x in members else -1 for x in cat.labels] + [-1], dtype=np.int64)
        ranks = lut[cat.codes]
        self.fail(ranks < 0, mask)
        return ranks

    def select(self, cond: BoolArr, a: CValue, b: CValue, mask: BoolArr | None) -> CValue:
        if isinstance(a, Num) and isinstance(b, Num):
            return self.arith.select(cond, a, b, mask)
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
            return np.where(cond, a, b)
        if isinstance(a, (Cat, str)) and isinstance(b, (Cat, str)):
            ac, bc = _unify_cats(a, b, self.size)
            return Cat(np.where(cond, ac.codes, bc.codes), ac.labels)
        raise Unsupported("if with mixed values")

    def tiers(self, expr: nodes.Tiers, mask: BoolArr | None) -> CValue:
        subject = self.ev(expr.subject, mask)
        members = self.plan.enum_orders.get(id(expr))
        pending = np.ones(self.size, dtype=np.bool_) if mask is None else mask.copy()
        chosen: list[tuple[BoolArr, CValue]] = []
        for tier in expr.tiers:
            threshold = self.ev(tier.threshold, pending)
            if members is not None and isinstance(subject, (Cat, str)) and isinstance(threshold, (Cat, str)):
                hit = self.rank(subject, members, pending) >= self.rank(threshold, members, pending)
            else:
                hit = self.arith.compare(">=", self.num(subject), self.num(threshold), pending)
            taken = pending & hit
            chosen.append((taken, self.ev(tier.value, taken)))
            pending = pending & ~hit
        value = self.ev(expr.otherwise, pending)
        for taken, tier_value in reversed(chosen):
            value = self.select(taken, tier_value, value, mask)
        return value

    # ------------------------------------------------------------------ calls

    def call(self, expr: nodes.Call, mask: BoolArr | None) -> CValue:
        func, args = expr.func, expr.args
        arith = self.arith
        if func in ("percent", "ratio"):
            if_zero: nodes.Expr | None = next((k.value for k in expr.kwargs if k.name == "if_zero"), None)
            if if_zero is None and len(args) == 3:
                if_zero = args[2]
            num = self.num(self.ev(args[0], mask))
            den = self.num(self.ev(args[1], mask))
            quotient, zero = arith.divide(num, den, mask)
            if func == "percent":
                quotient = arith.times(quotient, Num(100, 1), mask)
            if isinstance(zero, (bool, np.bool_)):
                zero = np.full(self.size, bool(zero), dtype=np.bool_)
            if not zero.any():
                return quotient
            if if_zero is None:
                self.fail(zero, mask)
                return quotient
            fallback = self.ev(if_zero, _and(mask, zero))
            return self.select(zero, fallback, quotient, mask)
        if func == "round":
            places, mode = self.prog._round_args(expr)
            return self.round(self.num(self.ev(args[0], mask)), places, mode, mask)
        values = [self.num(self.ev(a, mask)) for a in args]
        if func in ("min", "max"):
            best = values[0]
            for v in values[1:]:
                # Python's min/max keep the first of equal values; equal values are equal here.
                better = arith.compare("<" if func == "min" else ">", v, best, mask)
                best = arith.select(better, v, best, mask)
            return best
        if func == "abs":
            v = values[0]
            return Num(abs(v.n) if isinstance(v.n, int) else np.abs(v.n), v.d)
        if func == "clamp":
            x, lo, hi = values
            x = arith.select(arith.compare("<", x, lo, mask), lo, x, mask)
            return arith.select(arith.compare(">", x, hi, mask), hi, x, mask)
        raise Unsupported(func)

    def round(self, x: Num, places: int, mode: str, mask: BoolArr | None) -> Num:
        arith = self.arith
        scale = 10**places
        scaled = arith.times(x, Num(scale, 1), mask)
        n, d = _full(self.size, scaled.n), _full(self.size, scaled.d)
        negative = n < 0
        mag = np.abs(n)
        whole, rest = np.divmod(mag, d)
        twice = 2 * rest  # rest < d <= 2**62: fits
        if mode == "down":
            up = np.zeros(self.size, dtype=np.bool_)
        elif mode == "up":
            up = rest > 0
        elif mode == "half_up":
            up = twice >= d
        else:
            up = (twice > d) | ((twice == d) & (whole % 2 == 1))
        rounded = whole + up
        return arith.norm(Num(np.where(negative, -rounded, rounded), scale))

    # ------------------------------------------------------------------ aggregates

    def aggregate(self, expr: nodes.Aggregate, mask: BoolArr | None) -> CValue:
        key = id(expr)
        if key not in self.agg_cache:
            partial = self.partials.get(key)
            if partial is None:  # reads lets: fold the whole item table now
                assert isinstance(expr.source, nodes.Var)
                items = self.columns.lists.get(expr.source.name)
                if items is None:
                    raise Unsupported("items not in memory")
                partial = _AggPartial()
                _fold(self, expr, items, partial)
            self.agg_cache[key] = _finish(self, expr, partial)
        value, bad = self.agg_cache[key]
        self.fail(bad, mask)
        return value

    # ------------------------------------------------------------------ the plan

    def run_plan(self) -> ColumnarRun:
        plan, arith = self.plan, self.arith
        size = self.size
        lets: dict[str, CValue] = {}
        crit: dict[str, tuple[Num, Num]] = {}
        for step in plan.steps:
            node = step.node
            if isinstance(node, nodes.LetDecl):
                value = self.ev(node.expr, None)
                self.env[node.name] = lets[node.name] = value
            elif isinstance(node, nodes.Criterion):
                raw = self.num(self.ev(node.expr, None))
                points = _clamp(arith, raw, Num(0, 1), self.const(node.max))
                crit[node.name] = (points, raw)
                self.env[node.name] = points
            elif isinstance(node, (nodes.CriteriaGroup, nodes.CriteriaTree)):
                raw = Num(0, 1)
                for child in node.children:
                    child_points = crit[child.name][0]
                    penalty = isinstance(child, nodes.CriteriaGroup) and child.kind == "penalty"
                    raw = arith.add(raw, child_points, None, -1 if penalty else 1)
                points = _clamp(arith, raw, Num(0, 1), self.const(node.max))
                crit[node.name] = (points, raw)
                self.env[node.name] = points
        tree = plan.ruleset.criteria
        assert tree is not None
        total = crit[tree.name][0]
        rating = self._rate(total)
        return ColumnarRun(self.prog, size, arith.bad, lets, crit, total, rating, self.trace)

    def _rate(self, total: Num) -> _Rating | None:
        rating = self.plan.ruleset.rating
        if rating is None or not rating.levels:
            return None
        arith, size = self.arith, self.size
        levels = rating.levels
        lowest = len(levels) - 1
        band = np.full(size, -1, dtype=np.int64)
        for j, level in reversed(list(enumerate(levels))):
            inside = np.ones(size, dtype=np.bool_)
            if level.lower is not None:
                inside &= arith.compare(">=", total, self.const(level.lower), None)  # type: ignore[arg-type]
            if level.upper is not None:
                inside &= arith.compare("<", total, self.const(level.upper), None)  # type: ignore[arg-type]
            band = np.where(inside, j, band)
        self.fail(band < 0, None)  # KR305: no band
        band = np.where(band < 0, lowest, band)
        names = [lv.name for lv in levels]
        forced = np.full(size, -1, dtype=np.int64)
        fired_cols: list[BoolArr] = []
        for disq in rating.disqualifiers:
            fired = self.boolean(self.ev(disq.when, None))
            fired_cols.append(fired)
            target = names.index(disq.target) if disq.target else lowest
            forced = np.where((forced < 0) & fired, target, forced)
        free = forced < 0
        chosen = np.full(size, -1, dtype=np.int64)
        at_band = np.zeros(size, dtype=np.bool_)
        searching = np.zeros(size, dtype=np.bool_)
        evaluated: list[BoolArr] = []
        conditions: list[list[BoolArr]] = []
        for j, level in enumerate(levels):
            here = free & (band == j)
            active = here | searching
            mets = [self.boolean(self.ev(c.expr, active)) for c in level.conditions]
            holds = np.ones(size, dtype=np.bool_)
            for met in mets:
                holds &= met
            evaluated.append(active)
            conditions.append(mets)
            newly = active & holds & (chosen < 0)
            chosen = np.where(newly, j, chosen)
            at_band |= here & holds
            searching = (active & ~holds) if rating.fallthrough == "highest_met" else np.zeros(size, np.bool_)
        chosen = np.where(chosen < 0, lowest, chosen)
        chosen = np.maximum(chosen, band)
        final = np.where(free, chosen, forced)
        reason = np.where(~free, 2, np.where(at_band, 0, 1))  # 0 band, 1 fallthrough, 2 disqualified
        return _Rating(names, band, final, reason, fired_cols, evaluated, conditions)


def _clamp(arith: _Arith, x: Num, lo: Num, hi: CValue) -> Num:
    assert isinstance(hi, Num)
    x = arith.select(arith.compare("<", x, lo, None), lo, x, None)
    return arith.select(arith.compare(">", x, hi, None), hi, x, None)


def _take(value: CValue, rows: I64, size: int) -> CValue:
    if isinstance(value, Num):
        n = value.n if isinstance(value.n, int) else value.n[rows]
        d = value.d if isinstance(value.d, int) else value.d[rows]
        return Num(n, d)
    if isinstance(value, Cat):
        return Cat(value.codes[rows], value.labels)
    if isinstance(value, str):
        return value
    return value[rows]


def _unify_cats(a: Cat | str, b: Cat | str, size: int) -> tuple[Cat, Cat]:
    ac = a if isinstance(a, Cat) else Cat(np.zeros(size, dtype=np.int64), (a,))
    bc = b if isinstance(b, Cat) else Cat(np.zeros(size, dtype=np.int64), (b,))
    if ac.labels == bc.labels:
        return ac, bc
    labels = tuple(dict.fromkeys(ac.labels + bc.labels))
    index = {label: i for i, label in enumerate(labels)}
    bl = np.array([index[x] for x in bc.labels], dtype=np.int64)
    al = np.array([index[x] for x in ac.labels], dtype=np.int64)
    return Cat(al[ac.codes], labels), Cat(bl[bc.codes], labels)


# --------------------------------------------------------------------------- item reductions


def _segment_sum(rows: I64, values: IntLike, size: int) -> tuple[I64, BoolArr]:
    """Exact per-row sums of int64 values, and the rows whose sum could leave ``LIMIT``."""
    vals = _full(len(rows), values)
    est = np.bincount(rows, weights=np.abs(vals.astype(np.float64)), minlength=size)
    risky = est >= _RISK
    out = np.zeros(size, dtype=np.int64)
    if len(rows) and bool(np.all(rows[1:] >= rows[:-1])):
        # Sorted rows: differences of a wrapping cumulative sum are exact for bounded segments.
        csum = np.concatenate(([0], np.cumsum(vals, dtype=np.int64)))
        ends = np.searchsorted(rows, np.arange(size), side="right")
        starts = np.searchsorted(rows, np.arange(size), side="left")
        with np.errstate(over="ignore"):
            out = csum[ends] - csum[starts]
    else:
        np.add.at(out, rows, vals)
    return np.where(risky, 0, out), risky


def _fold(parent: _Eval, agg: nodes.Aggregate, items: ItemTable, partial: _AggPartial) -> None:
    """Evaluate an aggregate's ``where`` and body over ``items`` and fold them into ``partial``."""
    size = parent.size
    ev = _Eval(parent.prog, parent.columns, parent.partials, trace=False, items=items, var=agg.var,
               parent=parent)
    rows = items.row
    m = items.size
    selected: BoolArr = np.ones(m, dtype=np.bool_)
    if agg.where is not None:
        selected = ev.boolean(ev.ev(agg.where, None)).copy()
    func = agg.func
    body_value: CValue | None = None
    if agg.body is not None:
        body_value = ev.ev(agg.body, selected)
    item_bad = ev.arith.bad
    n_items = np.bincount(rows, minlength=size).astype(np.int64)
    n_selected = np.bincount(rows[selected], minlength=size).astype(np.int64)
    partial.items = n_items if partial.items is None else partial.items + n_items
    partial.selected = n_selected if partial.selected is None else partial.selected + n_selected
    bad = np.zeros(size, dtype=np.bool_)
    arith = parent.arith
    if func in ("any", "all") and body_value is not None:
        hit = ev.boolean(body_value) == (func == "any")
        event = selected & (hit | item_bad)
        pos = np.arange(items.position, items.position + m, dtype=np.int64)
        first = np.full(size, _INT64_MAX, dtype=np.int64)
        np.minimum.at(first, rows[event], pos[event])
        where_bad = np.zeros(size, dtype=np.bool_)
        where_bad[rows[item_bad & ~selected]] = True  # a bad `where` is always evaluated
        # Is the first event of each row a bad item?
        first_is_bad = np.zeros(size, dtype=np.bool_)
        ev_rows, ev_pos = rows[event & item_bad], pos[event & item_bad]
        first_is_bad[ev_rows[ev_pos == first[ev_rows]]] = True
        if partial.first_event is None or partial.first_bad is None:
            partial.first_event, partial.first_bad = first, first_is_bad
        else:
            earlier = first < partial.first_event
            partial.first_bad = np.where(earlier, first_is_bad, partial.first_bad)
            partial.first_event = np.minimum(first, partial.first_event)
        partial.bad = where_bad if partial.bad is None else (partial.bad | where_bad)
        return
    bad[rows[item_bad]] = True
    if func in ("count", "share") and body_value is not None:
        truth = selected & ev.boolean(body_value)
        hits = np.bincount(rows[truth], minlength=size).astype(np.int64)
        partial.hits = hits if partial.hits is None else partial.hits + hits
    elif func in ("sum", "mean"):
        assert body_value is not None
        value = ev.num(body_value)
        value = _to_shared_den(ev.arith, value, m)
        if not isinstance(value.d, int):
            raise Unsupported("item values without a common denominator")
        n = np.where(selected, value.n, 0)
        sums, risky = _segment_sum(rows, n, size)
        bad |= risky
        chunk = Num(sums, value.d)
        partial.total = chunk if partial.total is None else arith.add(partial.total, chunk, None)
    elif func in ("min", "max"):
        assert body_value is not None
        value = _to_shared_den(ev.arith, ev.num(body_value), m)
        if not isinstance(value.d, int):
            raise Unsupported("item values without a common denominator")
        n = _full(m, value.n)
        fill = _INT64_MAX if func == "min" else -_INT64_MAX
        best = np.full(size, fill, dtype=np.int64)
        (np.minimum if func == "min" else np.maximum).at(best, rows[selected], n[selected])
        has = n_selected > 0
        chunk_num = Num(np.where(has, best, 0), value.d)
        if partial.best is None or partial.has_best is None:
            partial.best, partial.has_best = chunk_num, has
        else:
            better = arith.compare("<" if func == "min" else ">", chunk_num, partial.best, None)
            take = has & (better | ~partial.has_best)
            partial.best = arith.select(take, chunk_num, partial.best, None)
            partial.has_best = partial.has_best | has
    partial.bad = bad if partial.bad is None else (partial.bad | bad)


def _to_shared_den(arith: _Arith, value: Num, m: int) -> Num:
    """Item values over one denominator (the lcm of the distinct ones), when it stays small."""
    if isinstance(value.d, int):
        return value
    dens = np.unique(value.d)
    lcm = 1
    for d in dens.tolist():
        lcm = math.lcm(lcm, int(d))
        if lcm > (1 << 40):
            return value
    factor = lcm // value.d
    return Num(arith.mul(value.n, factor, None), lcm)


def _finish(ev: _Eval, agg: nodes.Aggregate, p: _AggPartial) -> tuple[CValue, BoolArr]:
    """The value of a pre-reduced aggregate per row, and the rows that cannot be decided."""
    size = ev.size
    bad = p.bad.copy() if p.bad is not None else np.zeros(size, dtype=np.bool_)
    zero_i = np.zeros(size, dtype=np.int64)
    items = p.items if p.items is not None else zero_i
    selected = p.selected if p.selected is not None else zero_i
    func = agg.func
    arith = ev.arith
    if func in ("any", "all"):
        if agg.body is None:
            value = (selected > 0) if func == "any" else np.ones(size, dtype=np.bool_)
            return value, bad
        has_event = p.first_event < _INT64_MAX if p.first_event is not None else np.zeros(size, np.bool_)
        first_bad = p.first_bad if p.first_bad is not None else np.zeros(size, np.bool_)
        bad |= has_event & first_bad
        want = func == "any"
        return np.where(has_event, want, not want), bad
    if func == "count":
        return Num(p.hits if agg.body is not None and p.hits is not None else selected, 1), bad
    if func == "share":
        if agg.body is None:
            bad |= items == 0
            num, den = selected, items
        else:
            bad |= selected == 0
            num, den = (p.hits if p.hits is not None else zero_i), selected
        return arith.norm(Num(num, np.where(den == 0, 1, den))), bad
    if func == "sum":
        return (p.total if p.total is not None else Num(zero_i, 1)), bad
    if func == "mean":
        bad |= selected == 0
        total = p.total if p.total is not None else Num(zero_i, 1)
        quotient, _ = arith.divide(total, Num(np.where(selected == 0, 1, selected), 1), None)
        return quotient, bad
    bad |= selected == 0  # min/max over nothing
    best = p.best if p.best is not None else Num(zero_i, 1)
    return best, bad


# --------------------------------------------------------------------------- results


@dataclass(slots=True)
class _Rating:
    names: list[str]
    band: I64
    level: I64
    reason: I64
    fired: list[BoolArr]
    evaluated: list[BoolArr]
    conditions: list[list[BoolArr]]


_REASONS: tuple[DecisionReason, ...] = ("band", "fallthrough", "disqualified")


def _fractions(value: Num, size: int) -> list[Fraction]:
    num = Num(_full(size, value.n), _full(size, value.d))
    g = np.gcd(num.n, num.d)
    ns = (num.n // g).tolist()
    ds = (num.d // g).tolist()
    cache: dict[tuple[int, int], Fraction] = {}
    out: list[Fraction] = []
    for pair in zip(ns, ds):
        f = cache.get(pair)
        if f is None:
            f = cache[pair] = Fraction(pair[0], pair[1])
        out.append(f)
    return out


def _python(value: CValue, size: int) -> list[Value]:
    if isinstance(value, Num):
        return list(_fractions(value, size))
    if isinstance(value, Cat):
        labels = value.labels
        return [labels[c] for c in value.codes.tolist()]
    if isinstance(value, str):
        return [value] * size
    return [bool(x) for x in np.broadcast_to(value, (size,)).tolist()]


class ColumnarRun:
    """The columns of one evaluation; :meth:`result` builds the Result of one row."""

    def __init__(self, prog: ColumnarProgram, size: int, bad: BoolArr, lets: dict[str, CValue],
                 crit: dict[str, tuple[Num, Num]], total: Num, rating: _Rating | None,
                 trace: dict[int, tuple[CValue, BoolArr | None]] | None) -> None:
        self.prog = prog
        self.size = size
        #: Rows the columns do not decide: evaluate them record by record.
        self.bad = bad
        self.lets = lets
        self.crit = crit
        self.total = total
        self.rating = rating
        self._trace = trace
        self._py: dict[str, list[Any]] | None = None

    # Exact columns for callers who stay columnar.
    def total_fractions(self) -> list[Fraction]:
        return _fractions(self.total, self.size)

    def level_names(self) -> list[str | None]:
        if self.rating is None:
            return [None] * self.size
        names = self.rating.names
        return [names[i] for i in self.rating.level.tolist()]

    def _materialise(self) -> dict[str, list[Any]]:
        if self._py is None:
            size = self.size
            py: dict[str, list[Any]] = {}
            for name, value in self.lets.items():
                py["let:" + name] = _python(value, size)
            for name, (points, raw) in self.crit.items():
                py["pts:" + name] = _fractions(points, size)
                py["raw:" + name] = _fractions(raw, size)
            r = self.rating
            if r is not None:
                py["band"] = r.band.tolist()
                py["level"] = r.level.tolist()
                py["reason"] = r.reason.tolist()
                py["fired"] = [f.tolist() for f in r.fired]
            self._py = py
        return self._py

    def result(self, i: int, subject_id: str, name: str | None, period: str | None) -> Result:
        """The Result of row ``i`` (only for rows that are not bad)."""
        plan = self.prog.plan
        py = self._materialise()
        values = {n: py["let:" + n][i] for n in self.lets}
        tree = plan.ruleset.criteria
        assert tree is not None
        criteria = self._criterion(tree, py, i)
        decision = self._decision(i, py)
        trace = self.trace(i) if self._trace is not None else None
        return Result(subject_id=subject_id, status="rated", provenance=plan.provenance,
                      total=criteria.points, criteria=criteria, decision=decision, values=values,
                      subject_name=name, period=period, trace=trace)

    def _criterion(self, node: nodes.CriteriaTree | nodes.CriteriaItem, py: dict[str, list[Any]],
                   i: int) -> CriterionResult:
        name = node.name
        points, raw = py["pts:" + name][i], py["raw:" + name][i]
        if isinstance(node, nodes.Criterion):
            return CriterionResult(name, "criterion", points, raw, node.max)
        children = tuple(self._criterion(c, py, i) for c in node.children)
        kind: CriterionKind = "total" if isinstance(node, nodes.CriteriaTree) else node.kind
        return CriterionResult(name, kind, points, raw, node.max, children)

    def _decision(self, i: int, py: dict[str, list[Any]]) -> LevelDecision | None:
        r = self.rating
        rating = self.prog.plan.ruleset.rating
        if r is None or rating is None:
            return None
        band, level, reason = py["band"][i], py["level"][i], _REASONS[py["reason"][i]]
        names = r.names
        disqualifiers = tuple(
            DisqualifierResult(d.name, bool(py["fired"][k][i]), d.target or names[-1])
            for k, d in enumerate(rating.disqualifiers))
        conditions: list[ConditionResult] = []
        for j, lv in enumerate(rating.levels):
            if lv.conditions and r.evaluated[j][i]:
                conditions.extend(ConditionResult(lv.name, c.name, bool(r.conditions[j][k][i]))
                                  for k, c in enumerate(lv.conditions))
        passed = tuple(names[band:level]) if reason == "fallthrough" else ()
        return LevelDecision(band_level=names[band], level=names[level], reason=reason,
                             conditions=tuple(conditions), disqualifiers=disqualifiers, passed_over=passed)

    def trace(self, i: int) -> dict[int, Value]:
        """What a FullTracer would hold for the nodes explanations read (inputs, params,
        aggregates, table lookups), for row ``i``."""
        out: dict[int, Value] = {}
        assert self._trace is not None
        for key, (value, mask) in self._trace.items():
            if mask is not None and not mask[i]:
                continue
            out[key] = cell_value(value, i)
        return out


def cell_value(value: CValue, i: int) -> Value:
    """The exact value of row ``i`` of a column (or of a constant that stands for a column)."""
    if isinstance(value, Num):
        n = value.n if isinstance(value.n, int) else int(value.n[i])
        d = value.d if isinstance(value.d, int) else int(value.d[i])
        return Fraction(n, d)
    if isinstance(value, Cat):
        return value.labels[int(value.codes[i])]
    if isinstance(value, str):
        return value
    return bool(value[i])
