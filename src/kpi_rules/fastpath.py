"""Single-record fast path: :class:`~kpi_rules.plan.Plan` → nested closures → ``Result``.

:func:`compile_fast` turns every step's expression into nested Python closures over
``Fraction`` values once, so rating a record no longer walks the syntax tree with a
dispatch per node. :meth:`FastPlan.evaluate` returns the very ``Result`` that
:func:`kpi_rules.evaluator.evaluate_record` returns.

It decides only the ordinary case. Whenever the tree-walker would do something else (raise a
KR5xx error, stop at ``insufficient_data``, coerce an input that is not already an engine
value, apply an override), the fast path gives up on that record (``_Bail``) and the caller
runs :func:`~kpi_rules.evaluator.evaluate_record`, which produces the exact error or result.
Plans with relations give ``None`` (the tree-walker is used for them).
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

from kpi_rules import nodes
from kpi_rules.evaluator import choose_level, evaluate_record
from kpi_rules.plan import Plan, per_plan
from kpi_rules.results import (
    ConditionResult,
    CriterionKind,
    CriterionResult,
    DisqualifierResult,
    LevelDecision,
    Result,
    SubjectRecord,
    Value,
)
from kpi_rules.values import ROUNDING_MODES, literal_value, round_fraction

__all__ = ["FastPlan", "compile_fast", "evaluate_fast", "fast_plan_for"]

_ZERO = Fraction(0)
_MISSING = object()


class _Bail(Exception):
    """This record needs the tree-walker (an error, insufficient data, unusual input)."""


class _Unsupported(Exception):
    pass


Env = dict[str, Any]
Fn = Callable[[Env, Env | None], Any]

_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


def _num(v: object) -> Fraction:
    if type(v) is not Fraction:
        raise _Bail
    return v


def _bool(v: object) -> bool:
    if type(v) is not bool:
        raise _Bail
    return v


def _bail() -> Any:
    raise _Bail


class FastPlan:
    """A plan compiled to closures. ``evaluate(record)`` equals ``evaluate_record(plan, record)``."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        if plan.checked.subject.relations:
            raise _Unsupported("relations")
        self.inputs = plan.inputs
        self.steps: list[tuple[str, str, Any, Fn | None]] = []
        for step in plan.steps:
            node = step.node
            if isinstance(node, (nodes.LetDecl, nodes.Criterion)):
                self.steps.append((step.kind, node.name, node, self.expr(node.expr)))
            elif isinstance(node, (nodes.CriteriaGroup, nodes.CriteriaTree)):
                self.steps.append((step.kind, node.name, node, None))
        rating = plan.ruleset.rating
        self.rating = rating
        self.disqualifiers = [(d, self.expr(d.when)) for d in rating.disqualifiers] if rating else []
        self.conditions = [[(c, self.expr(c.expr)) for c in lv.conditions] for lv in rating.levels] \
            if rating else []

    # ------------------------------------------------------------------ expressions

    def expr(self, e: nodes.Expr) -> Fn:  # noqa: C901 - one branch per node kind
        plan = self.plan
        if isinstance(e, (nodes.NumberLit, nodes.PercentLit, nodes.StringLit, nodes.BoolLit, nodes.DateLit)):
            value = literal_value(e)
            return lambda env, local: value
        if isinstance(e, nodes.InsufficientData):
            return lambda env, local: _bail()
        if isinstance(e, nodes.Var):
            return self.var(e.name)
        if isinstance(e, nodes.Member):
            return self.member(e)
        if isinstance(e, nodes.Index):
            if not isinstance(e.obj, nodes.Var) or e.obj.name not in plan.tables:
                raise _Unsupported("index")
            versions = plan.tables[e.obj.name]
            if len(versions) != 1 or versions[0].decl.valid is not None:
                raise _Unsupported("versioned tables (the day may come from the item)")
            version = versions[0]
            rows = version.rows
            key_fn = self.expr(e.key)

            def index(env: Env, local: Env | None) -> Any:
                value = rows.get(key_fn(env, local), _MISSING)
                if value is _MISSING:
                    raise _Bail
                return value
            return index
        if isinstance(e, nodes.Unary):
            operand = self.expr(e.operand)
            if e.op == "not":
                return lambda env, local: not _bool(operand(env, local))
            return lambda env, local: -_num(operand(env, local))
        if isinstance(e, nodes.Binary):
            return self.binary(e)
        if isinstance(e, nodes.IfElse):
            cond, then, other = self.expr(e.cond), self.expr(e.then), self.expr(e.otherwise)
            return lambda env, local: then(env, local) if _bool(cond(env, local)) else other(env, local)
        if isinstance(e, nodes.Tiers):
            return self.tiers(e)
        if isinstance(e, nodes.Call):
            return self.call(e)
        if isinstance(e, nodes.Aggregate):
            return self.aggregate(e)
        raise _Unsupported(type(e).__name__)

    def var(self, name: str) -> Fn:
        plan = self.plan
        if name in plan.inputs:
            decl = plan.inputs[name]
            check = _checker(decl.type)
            default = literal_value(decl.default) if decl.missing == "default" and decl.default is not None \
                else _MISSING
            optional = decl.missing == "optional"

            def read_input(env: Env, local: Env | None) -> Any:
                if local is not None and name in local:
                    return local[name]
                if name in env:
                    return env[name]
                raw = env["$inputs"].get(name, _MISSING)
                if raw is _MISSING or raw is None:
                    if default is not _MISSING:
                        value = default
                    elif optional:
                        value = None
                    else:
                        raise _Bail
                else:
                    value = check(raw)
                env[name] = value
                return value
            return read_input
        if name in plan.params:
            version = plan.param_version(name)
            multi = len(plan.params[name]) > 1

            def read_param(env: Env, local: Env | None) -> Any:
                if local is not None and name in local:
                    return local[name]
                if multi or env["$on"] is not None:
                    found = plan.param_version(name, env["$day"])
                    if found is None:
                        raise _Bail
                    return found.value
                if version is None:
                    raise _Bail
                return version.value
            return read_param

        def read(env: Env, local: Env | None) -> Any:
            if local is not None and name in local:
                return local[name]
            try:
                return env[name]
            except KeyError:
                raise _Bail from None
        return read

    def member(self, e: nodes.Member) -> Fn:
        obj = self.expr(e.obj)
        field = e.name

        def member(env: Env, local: Env | None) -> Any:
            item = obj(env, local)
            if not isinstance(item, Mapping):
                raise _Bail
            value = item.get(field, _MISSING)
            if value is _MISSING or value is None:
                raise _Bail
            return value
        return member

    def binary(self, e: nodes.Binary) -> Fn:
        left, right = self.expr(e.left), self.expr(e.right)
        op = e.op
        if op == "and":
            return lambda env, local: _bool(left(env, local)) and _bool(right(env, local))
        if op == "or":
            return lambda env, local: _bool(left(env, local)) or _bool(right(env, local))
        if op == "+":
            return lambda env, local: _num(left(env, local)) + _num(right(env, local))
        if op == "-":
            return lambda env, local: _num(left(env, local)) - _num(right(env, local))
        if op == "*":
            return lambda env, local: _num(left(env, local)) * _num(right(env, local))
        if op == "/":
            def divide(env: Env, local: Env | None) -> Any:
                a, b = _num(left(env, local)), _num(right(env, local))
                if not b:
                    raise _Bail
                return a / b
            return divide
        members = self.plan.enum_orders.get(id(e))
        if op in ("==", "!="):
            want = op == "=="

            def equal(env: Env, local: Env | None) -> Any:
                a, b = left(env, local), right(env, local)
                if a is None or b is None or type(a) is not type(b) or isinstance(a, (tuple, Mapping)):
                    raise _Bail
                return (a == b) == want
            return equal
        cmp = _CMP[op]

        def compare(env: Env, local: Env | None) -> Any:
            a, b = left(env, local), right(env, local)
            if type(a) is Fraction and type(b) is Fraction:
                return cmp(a, b)
            if isinstance(a, str) and isinstance(b, str) and members is not None \
                    and a in members and b in members:
                return cmp(members.index(a), members.index(b))
            if isinstance(a, dt.date) and type(a) is type(b):
                return cmp(a, b)
            raise _Bail
        return compare

    def tiers(self, e: nodes.Tiers) -> Fn:
        subject = self.expr(e.subject)
        tiers = [(self.expr(t.threshold), self.expr(t.value)) for t in e.tiers]
        otherwise = self.expr(e.otherwise)
        members = self.plan.enum_orders.get(id(e))

        def run(env: Env, local: Env | None) -> Any:
            s = subject(env, local)
            for threshold, value in tiers:
                t = threshold(env, local)
                if members is not None and isinstance(s, str) and isinstance(t, str):
                    if s not in members or t not in members:
                        raise _Bail
                    hit = members.index(s) >= members.index(t)
                else:
                    hit = _num(s) >= _num(t)
                if hit:
                    return value(env, local)
            return otherwise(env, local)
        return run

    def call(self, e: nodes.Call) -> Fn:
        func, args = e.func, [self.expr(a) for a in e.args]
        if func == "present" and len(args) == 1:
            a0 = args[0]
            return lambda env, local: a0(env, local) is not None
        if func == "coalesce" and len(args) == 2:
            c0, c1 = args

            def coalesce(env: Env, local: Env | None) -> Any:
                first = c0(env, local)
                return first if first is not None else c1(env, local)
            return coalesce
        if func in ("percent", "ratio") and len(e.args) in (2, 3):
            if_zero_node: nodes.Expr | None = next((k.value for k in e.kwargs if k.name == "if_zero"), None)
            if if_zero_node is None and len(e.args) == 3:
                if_zero_node = e.args[2]
            if_zero = self.expr(if_zero_node) if if_zero_node is not None else None
            scale = Fraction(100) if func == "percent" else Fraction(1)
            num_fn, den_fn = args[0], args[1]

            def divide(env: Env, local: Env | None) -> Any:
                num, den = _num(num_fn(env, local)), _num(den_fn(env, local))
                if not den:
                    if if_zero is None:
                        raise _Bail
                    return if_zero(env, local)
                return num / den * scale
            return divide
        if func == "round" and len(e.args) in (2, 3):
            mode_node: nodes.Expr | None = e.args[2] if len(e.args) == 3 else next(
                (k.value for k in e.kwargs if k.name == "mode"), None)
            mode_fn = self.expr(mode_node) if mode_node is not None else (lambda env, local: "half_up")
            x_fn, places_fn = args[0], args[1]

            def rounding(env: Env, local: Env | None) -> Any:
                x, places = _num(x_fn(env, local)), _num(places_fn(env, local))
                mode = mode_fn(env, local)
                if places.denominator != 1 or mode not in ROUNDING_MODES:
                    raise _Bail
                return round_fraction(x, int(places), mode)
            return rounding
        if func in ("min", "max") and args:
            pick = min if func == "min" else max
            return lambda env, local: pick([_num(a(env, local)) for a in args])
        if func == "abs" and len(args) == 1:
            a0 = args[0]
            return lambda env, local: abs(_num(a0(env, local)))
        if func == "clamp" and len(args) == 3:
            x_fn, lo_fn, hi_fn = args

            def clamp(env: Env, local: Env | None) -> Any:
                x, lo, hi = _num(x_fn(env, local)), _num(lo_fn(env, local)), _num(hi_fn(env, local))
                return lo if x < lo else hi if x > hi else x
            return clamp
        raise _Unsupported(func)

    def aggregate(self, e: nodes.Aggregate) -> Fn:
        source = self.expr(e.source)
        where = self.expr(e.where) if e.where is not None else None
        body = self.expr(e.body) if e.body is not None else None
        var, func = e.var, e.func
        if func not in ("sum", "mean", "min", "max", "count", "share", "any", "all"):
            raise _Unsupported(func)
        if func in ("sum", "mean", "min", "max") and body is None:
            raise _Unsupported("aggregate without a body")

        def run(env: Env, local: Env | None) -> Any:
            items = source(env, local)
            if items is None:
                items = ()
            elif not isinstance(items, (tuple, list)):
                raise _Bail
            scope: Env = dict(local) if local else {}
            selected = []
            for item in items:
                if not isinstance(item, Mapping):
                    raise _Bail
                scope[var] = item
                if where is None or _bool(where(env, scope)):
                    selected.append(item)
            if func in ("any", "all"):
                if body is None:
                    return bool(selected) if func == "any" else True
                want = func == "any"
                for item in selected:
                    scope[var] = item
                    if _bool(body(env, scope)) == want:
                        return want
                return not want
            if func in ("count", "share"):
                if body is None:
                    if func == "count":
                        return Fraction(len(selected))
                    if not items:
                        raise _Bail
                    return Fraction(len(selected), len(items))
                hits = 0
                for item in selected:
                    scope[var] = item
                    hits += _bool(body(env, scope))
                if func == "count":
                    return Fraction(hits)
                if not selected:
                    raise _Bail
                return Fraction(hits, len(selected))
            assert body is not None
            numbers = []
            for item in selected:
                scope[var] = item
                numbers.append(_num(body(env, scope)))
            if func == "sum":
                return sum(numbers, _ZERO)
            if not numbers:
                raise _Bail
            if func == "mean":
                return sum(numbers, _ZERO) / len(numbers)
            return min(numbers) if func == "min" else max(numbers)
        return run

    # ------------------------------------------------------------------ a record

    def evaluate(self, record: SubjectRecord) -> Result:
        """Rate one record; identical to :func:`~kpi_rules.evaluator.evaluate_record`."""
        if record.override is not None or record.on is not None:
            return evaluate_record(self.plan, record)
        try:
            return self._run(record)
        except _Bail:
            return evaluate_record(self.plan, record)

    def _run(self, record: SubjectRecord) -> Result:
        env: Env = {"$inputs": record.inputs, "$on": record.on, "$day": record.on or self.plan.default_day()}
        lets: dict[str, Value] = {}
        done: dict[str, CriterionResult] = {}
        total: Fraction | None = None
        tree: CriterionResult | None = None
        for kind, name, node, fn in self.steps:
            if fn is not None:
                value = fn(env, None)
                if kind == "let":
                    env[name] = lets[name] = value
                else:
                    raw = _num(value)
                    points = _ZERO if raw < _ZERO else node.max if raw > node.max else raw
                    done[name] = CriterionResult(name, "criterion", points, raw, node.max)
                    env[name] = points
            else:
                children = tuple(done[c.name] for c in node.children)
                raw = _ZERO
                for child in children:
                    raw = raw - child.points if child.kind == "penalty" else raw + child.points
                ckind: CriterionKind = "total" if kind == "total" else node.kind
                points = _ZERO if raw < _ZERO else node.max if raw > node.max else raw
                result = done[name] = CriterionResult(name, ckind, points, raw, node.max, children)
                env[name] = points
                if kind == "total":
                    tree, total = result, points
        decision = self._rate(env, total) if total is not None else None
        return Result(subject_id=record.id, status="rated", provenance=self.plan.provenance, total=total,
                      criteria=tree, decision=decision, values=lets, subject_name=record.name,
                      period=record.period, trace=None)

    def _rate(self, env: Env, total: Fraction) -> LevelDecision | None:
        rating = self.rating
        if rating is None or not rating.levels:
            return None
        levels = rating.levels
        lowest = len(levels) - 1
        band = next((i for i, lv in enumerate(levels)
                     if (lv.lower is None or total >= lv.lower) and (lv.upper is None or total < lv.upper)), None)
        if band is None:
            raise _Bail
        disqualifiers = []
        forced: str | None = None
        for disq, fn in self.disqualifiers:
            fired = _bool(fn(env, None))
            target = disq.target or levels[lowest].name
            disqualifiers.append(DisqualifierResult(disq.name, fired, target))
            if fired and forced is None:
                forced = target
        conditions: list[ConditionResult] = []

        def holds(j: int) -> bool:
            ok = True
            for cond, fn in self.conditions[j]:
                met = _bool(fn(env, None))
                conditions.append(ConditionResult(levels[j].name, cond.name, met))
                ok = ok and met
            return ok

        level, reason, passed = choose_level(levels, band, forced, rating.fallthrough, holds)
        return LevelDecision(band_level=levels[band].name, level=level, reason=reason,
                             conditions=tuple(conditions), disqualifiers=tuple(disqualifiers),
                             passed_over=passed)


def _checker(t: nodes.TypeExpr) -> Callable[[object], Value]:
    """Accept an input value that is already an engine value of type ``t``; bail otherwise."""
    if isinstance(t, nodes.ListType):
        def items(raw: object) -> Value:
            if not isinstance(raw, tuple):
                raise _Bail
            return raw
        return items
    if isinstance(t, nodes.OneOfType):
        members = t.members

        def member(raw: object) -> Value:
            if not isinstance(raw, str) or raw not in members:
                raise _Bail
            return raw
        return member
    name = t.name
    if name in ("number", "percent", "points"):
        return _num
    if name == "bool":
        return _bool
    if name == "text":
        def text(raw: object) -> Value:
            if not isinstance(raw, str):
                raise _Bail
            return raw
        return text

    def date(raw: object) -> Value:
        if not isinstance(raw, dt.date):
            raise _Bail
        return raw
    return date


def compile_fast(plan: Plan) -> FastPlan | None:
    """The closure form of ``plan``, or None when the plan needs the tree-walker."""
    try:
        return FastPlan(plan)
    except _Unsupported:
        return None


def evaluate_fast(plan: Plan, record: SubjectRecord, fast: FastPlan | None = None) -> Result:
    """``evaluate_record(plan, record)`` through the closure form when there is one."""
    fast = fast if fast is not None else compile_fast(plan)
    if fast is None:
        return evaluate_record(plan, record)
    return fast.evaluate(record)


#: The closure form of a plan, compiled once per plan object.
fast_plan_for: Callable[[Plan], FastPlan | None] = per_plan(compile_fast)
