"""Expressions over columns: a :class:`~kpi_rules.nodes.Expr` + :class:`~kpi_rules.exactcols.Columns` → one exact value per row.

:class:`_Eval` is the expression evaluator of the columnar program
(:class:`kpi_rules.columnar.ColumnarProgram`): it evaluates a node over whole columns (the rows,
or the items of a list) with numpy, follows ``if``/``and``/``or``, ``if_zero``, tiers and
aggregates with masks like the tree-walker's short-circuits, and marks *bad* every row it cannot
decide exactly. Running the plan's steps and the rating over it is :mod:`kpi_rules.colrun`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from kpi_rules import nodes
from kpi_rules.colitems import AggPartial, finish, fold
from kpi_rules.exactcols import (
    COMPARE_OPS,
    I64,
    LIMIT,
    Arith,
    BoolArr,
    Cat,
    Columns,
    CValue,
    ItemTable,
    Num,
    Unsupported,
    and_mask,
    full_column,
)
from kpi_rules.results import Value
from kpi_rules.values import ROUNDING_MODES, literal_value

if TYPE_CHECKING:
    from kpi_rules.columnar import ColumnarProgram

__all__ = ["round_args"]

_ARITHMETIC = frozenset(("+", "-", "*", "/"))


class _Eval:
    """Evaluates expressions over one domain: the rows, or (``items``) the items of a list."""

    def __init__(self, prog: ColumnarProgram, columns: Columns, partials: Mapping[int, AggPartial],
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
        self.arith = Arith(self.size)
        self.env: dict[str, CValue] = {}
        self.trace: dict[int, tuple[CValue, BoolArr | None]] | None = {} if trace else None
        self.agg_cache: dict[int, tuple[CValue, BoolArr]] = {}

    def over_items(self, items: ItemTable, var: str) -> _Eval:
        """An evaluator over the items of a list (``var`` names the item), reading the rows' values."""
        return _Eval(self.prog, self.columns, self.partials, trace=False, items=items, var=var, parent=self)

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
            if isinstance(value, Num):
                self.arith.num(value)
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
            then = self.ev(expr.then, and_mask(mask, cond))
            other = self.ev(expr.otherwise, and_mask(mask, ~cond))
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
            taken = _take(value, self.items.row, self.size)
            if isinstance(value, Num) and isinstance(taken, Num) and not isinstance(value.n, int):
                lo, hi = self.parent.arith.interval(value.n)
                self.arith.known(taken.n, lo, hi)
            return taken
        if name in self.env:
            return self.env[name]
        plan = self.plan
        if name in self.columns.scalars:
            value = self.columns.scalars[name]
            if isinstance(value, Num):
                self.arith.num(value)
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
            right = self.boolean(self.ev(expr.right, and_mask(mask, left if op == "and" else ~left)))
            return (left & right) if op == "and" else (left | right)
        left_v = self.ev(expr.left, mask)
        right_v = self.ev(expr.right, mask)
        arith = self.arith
        if op in ("+", "-", "*"):
            # The value of an arithmetic sub-expression is held by nothing but this node (never
            # traced nor stored): the operation may write its result over it.
            spare = [v for e, v in ((expr.left, left_v), (expr.right, right_v))
                     if isinstance(v, Num) and isinstance(e, nodes.Binary) and e.op in _ARITHMETIC]
            if spare:
                arith.consume(*spare)
            try:
                if op == "*":
                    return arith.times(self.num(left_v), self.num(right_v), mask)
                return arith.add(self.num(left_v), self.num(right_v), mask, 1 if op == "+" else -1)
            finally:
                if spare:
                    arith.release()
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
                return np.asarray(COMPARE_OPS[op](lc.codes, rc.codes), dtype=np.bool_)
            if members is None:
                raise Unsupported("ordering text")
            lr, rr = self.rank(left, members, mask), self.rank(right, members, mask)
            return np.broadcast_to(np.asarray(COMPARE_OPS[op](lr, rr), dtype=np.bool_), (self.size,))
        if isinstance(left, np.ndarray) and isinstance(right, np.ndarray) and op in ("==", "!="):
            return np.asarray(COMPARE_OPS[op](self.boolean(left), self.boolean(right)), dtype=np.bool_)
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
            fallback = self.ev(if_zero, and_mask(mask, zero))
            return self.select(zero, fallback, quotient, mask)
        if func == "round":
            places, mode = round_args(expr)
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
        n, d = full_column(self.size, scaled.n), full_column(self.size, scaled.d)
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
                partial = AggPartial()
                fold(self, expr, items, partial)
            self.agg_cache[key] = finish(self, expr, partial)
            self.arith.publish(self.agg_cache[key][0])
        value, bad = self.agg_cache[key]
        self.fail(bad, mask)
        return value


def round_args(expr: nodes.Call) -> tuple[int, str]:
    """The places and the mode of a ``round`` call, when both are constants (else Unsupported)."""
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
