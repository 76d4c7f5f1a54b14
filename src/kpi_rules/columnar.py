"""Columnar evaluation: :class:`~kpi_rules.plan.Plan` + columns → per-row results, exactly.

:func:`compile_columnar` checks once that a plan uses only what the columnar program
supports and prepares its tables; :meth:`ColumnarProgram.run` evaluates every step of the
plan over whole columns with numpy and returns a :class:`ColumnarRun`, from which
:meth:`~kpi_rules.colresults.ColumnarRun.result` builds the very
:class:`~kpi_rules.results.Result` that :func:`kpi_rules.evaluator.evaluate_record` gives for
that row (:mod:`kpi_rules.colresults`).

Exact numbers in columns
    A number column is a :class:`~kpi_rules.exactcols.Num`: int64 numerators over a
    denominator, usually one Python ``int`` shared by the column (``n / 100`` for amounts with
    two decimals). :mod:`kpi_rules.exactcols` holds the arithmetic: every stored magnitude stays
    at most ``2**62``, and before a product or a sum it proves from exact intervals (the
    declared ``min``/``max`` of inputs, constants) that the result stays there; only when the
    proof fails are the rows at risk found (float *estimates*) and marked *bad*. Comparisons
    with constants are one integer comparison (``n >= ceil(c * d)``), none when the intervals
    decide them; the bands of the rating are integer cut points on the total's numerators.
    No float ever decides a value.

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
from collections.abc import Mapping, Sequence
from fractions import Fraction

import numpy as np

from kpi_rules import nodes
from kpi_rules.colitems import AggPartial, finish, fold
from kpi_rules.colresults import ColumnarRun, _Rating, cell_value
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
    decide_range,
    full_column,
)
from kpi_rules.plan import Plan
from kpi_rules.results import Value
from kpi_rules.values import ROUNDING_MODES, literal_value

__all__ = [
    "LIMIT",
    "CValue",
    "Cat",
    "ColumnarProgram",
    "ColumnarRun",
    "Columns",
    "ItemTable",
    "Num",
    "Unsupported",
    "cell_value",
    "compile_columnar",
    "readable",
]

# --------------------------------------------------------------------------- the program


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
        #: The integer cut points of the bands for each denominator of the total (:func:`_band_table`).
        self.band_tables: dict[int, tuple[list[int], list[int]]] = {}

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

    def new_partials(self, size: int) -> dict[int, AggPartial]:
        return {key: AggPartial() for key in self.pre}

    def reduce_items(self, columns: Columns, list_name: str, items: ItemTable,
                     partials: dict[int, AggPartial]) -> None:
        """Fold one chunk of items of ``list_name`` into the pre-reduced aggregates."""
        for key, agg in self.pre.items():
            assert isinstance(agg.source, nodes.Var)
            if agg.source.name == list_name:
                ev = _Eval(self, columns, {}, trace=False)
                fold(ev, agg, items, partials[key])

    # ------------------------------------------------------------------ run

    def run(self, columns: Columns, partials: dict[int, AggPartial] | None = None,
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
                arith.publish(value)
            elif isinstance(node, nodes.Criterion):
                raw = self.num(self.ev(node.expr, None))
                points = _clamp(arith, raw, Num(0, 1), self.const(node.max))
                crit[node.name] = (points, raw)
                self.env[node.name] = points
                arith.publish(points, raw)
            elif isinstance(node, (nodes.CriteriaGroup, nodes.CriteriaTree)):
                raw = Num(0, 1)
                for child in node.children:
                    child_points = crit[child.name][0]
                    penalty = isinstance(child, nodes.CriteriaGroup) and child.kind == "penalty"
                    arith.consume(raw)  # the running sum: held by this loop alone
                    try:
                        raw = arith.add(raw, child_points, None, -1 if penalty else 1)
                    finally:
                        arith.release()
                points = _clamp(arith, raw, Num(0, 1), self.const(node.max))
                crit[node.name] = (points, raw)
                self.env[node.name] = points
                arith.publish(points, raw)
        tree = plan.ruleset.criteria
        assert tree is not None
        total = crit[tree.name][0]
        rating = self._rate(total)
        return ColumnarRun(self.prog, size, arith.bad, lets, crit, total, rating, self.trace)

    def _bands(self, total: Num) -> I64 | None:
        """The band of every row from integer cut points (one comparison per cut), when the
        total has one denominator; None otherwise."""
        rating = self.plan.ruleset.rating
        n, d = total.n, total.d
        if rating is None or isinstance(n, int) or not isinstance(d, int):
            return None
        tables = self.prog.band_tables
        if d not in tables:
            tables[d] = _band_table(rating.levels, d)
        cuts, lut = tables[d]
        if len(cuts) > 120 or any(abs(c) > LIMIT for c in cuts):
            return None
        lo, hi = self.arith.interval(n)
        top = len(cuts)
        # Usually each cut passed is one band up (band 0 is the highest): then the band is
        # ``top`` minus the cuts passed, without a table lookup.
        direct = lut == list(range(top, -1, -1))
        index = np.full(self.size, top if direct else 0, dtype=np.int8)
        passed = np.empty(self.size, dtype=np.bool_)
        for cut in cuts:
            decided = decide_range(">=", lo, hi, cut)
            if decided is None:
                np.greater_equal(n, cut, out=passed)
                step = passed.view(np.int8)
            elif decided:
                step = np.int8(1)  # type: ignore[assignment]
            else:
                continue
            if direct:
                np.subtract(index, step, out=index)
            else:
                np.add(index, step, out=index)
        return index if direct else np.asarray(lut, dtype=np.int8)[index]  # type: ignore[return-value]

    def _rate(self, total: Num) -> _Rating | None:
        rating = self.plan.ruleset.rating
        if rating is None or not rating.levels:
            return None
        arith, size = self.arith, self.size
        levels = rating.levels
        lowest = len(levels) - 1
        band = self._bands(total)
        if band is None:
            band = np.full(size, -1, dtype=np.int64)
            for j, level in reversed(list(enumerate(levels))):
                inside = np.ones(size, dtype=np.bool_)
                if level.lower is not None:
                    inside &= arith.compare(">=", total, self.const(level.lower), None)  # type: ignore[arg-type]
                if level.upper is not None:
                    inside &= arith.compare("<", total, self.const(level.upper), None)  # type: ignore[arg-type]
                band = np.where(inside, j, band)
        if band.size and int(band.min()) < 0:
            self.fail(band < 0, None)  # KR305: no band
            band = np.where(band < 0, lowest, band)
        if not rating.disqualifiers and not any(lv.conditions for lv in levels):
            # Nothing but the score decides: the level is the band.
            none = np.zeros(size, dtype=np.bool_)
            return _Rating([lv.name for lv in levels], band, band, np.zeros(size, dtype=np.int8), [],
                           [none] * len(levels), [[] for _ in levels], [[] for _ in levels])
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
        every = self._every_condition(levels, evaluated, conditions)
        return _Rating(names, band, final, reason, fired_cols, evaluated, conditions, every)

    def _every_condition(self, levels: Sequence[nodes.Level], evaluated: list[BoolArr],
                         conditions: list[list[BoolArr]]) -> list[list[BoolArr]]:
        """Every condition of every level on every row (``LevelDecision.all_conditions``): the
        decision's masks where it evaluated them, evaluated here (untraced) on the other rows. A
        row where that cannot be done is marked bad (the record path then counts it as not met)."""
        trace, self.trace = self.trace, None
        try:
            out: list[list[BoolArr]] = []
            for level, active, mets in zip(levels, evaluated, conditions):
                rest = ~active
                if not level.conditions or not rest.any():
                    out.append(mets)
                    continue
                out.append([np.where(active, met, self.boolean(self.ev(c.expr, rest)) & rest)
                            for c, met in zip(level.conditions, mets)])
            return out
        finally:
            self.trace = trace


_ARITHMETIC = frozenset(("+", "-", "*", "/"))


def _band_table(levels: Sequence[nodes.Level], d: int) -> tuple[list[int], list[int]]:
    """Integer cut points on the numerators ``n`` of totals ``n / d``, and the band of each
    stretch between cuts (-1: no level's band holds it).

    For an integer ``n``, ``n / d >= x`` exactly when ``n >= ceil(x * d)``, and ``n / d < x``
    exactly when ``n < ceil(x * d)``: every band ``[lower, upper)`` becomes two integer cuts.
    """
    cuts_of: list[tuple[int | None, int | None]] = []
    for level in levels:
        lo = -((-level.lower.numerator * d) // level.lower.denominator) if level.lower is not None else None
        hi = -((-level.upper.numerator * d) // level.upper.denominator) if level.upper is not None else None
        cuts_of.append((lo, hi))
    cuts = sorted({c for pair in cuts_of for c in pair if c is not None})
    lut: list[int] = []
    for k in range(len(cuts) + 1):
        point = cuts[k - 1] if k else (cuts[0] - 1 if cuts else 0)
        lut.append(next((j for j, (lo, hi) in enumerate(cuts_of)
                         if (lo is None or point >= lo) and (hi is None or point < hi)), -1))
    return cuts, lut


def _clamp(arith: Arith, x: Num, lo: Num, hi: CValue) -> Num:
    assert isinstance(hi, Num)
    return arith.clamp(x, lo, hi)


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
