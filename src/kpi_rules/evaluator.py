"""Evaluator: :class:`~kpi_rules.plan.Plan` + :class:`~kpi_rules.results.SubjectRecord` → :class:`~kpi_rules.results.Result`.

A tree-walking interpreter over the syntax nodes. Every number is a ``Fraction``; nothing is
ever a float. The steps of the plan are run in order: lets, then criteria (a criterion's
points are its value floored at 0 and capped at its maximum; a group adds its children's
points, plus bonuses and minus penalties, and is floored and capped likewise), then the
rating (disqualifiers, the score band, level conditions and fall-through, overrides).

Reaching ``insufficient_data`` (or a ``mean``/``min``/``max``/``share`` over nothing) stops the
record: its result has ``status="insufficient_data"`` and no total or level. A run-time problem
(no table entry, division by zero, no version in force) raises :class:`EvaluationError` naming
the expression's span, the definition and the record id; :func:`evaluate_records` keeps going
with the other records.

>>> # result = evaluate_record(plan, record, FullTracer())   # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any, NoReturn, cast

from kpi_rules import nodes
from kpi_rules.diagnostics import Diagnostic, DiagnosticError
from kpi_rules.plan import Plan
from kpi_rules.results import (
    ConditionResult,
    CriterionKind,
    CriterionResult,
    DecisionReason,
    DisqualifierResult,
    InsufficientReason,
    LevelDecision,
    RecordValue,
    Result,
    SubjectRecord,
    Value,
)
from kpi_rules.source import Span
from kpi_rules.trace import Tracer
from kpi_rules.values import ROUNDING_MODES, literal_value, round_fraction, to_fraction

__all__ = ["EvaluationError", "evaluate_record", "evaluate_records"]

_ZERO = Fraction(0)


class EvaluationError(DiagnosticError):
    """A run-time problem with one record (KR5xx): carries one diagnostic.

    ``diagnostic.where`` is ``"record <id>"``; the message names the definition being
    evaluated and the record, and ``diagnostic.span`` points at the expression.
    """

    def __init__(self, diagnostic: Diagnostic, record_id: str | None = None, step: str | None = None) -> None:
        super().__init__([diagnostic])
        self.diagnostic = diagnostic
        self.record_id = record_id
        self.step = step


class _Insufficient(Exception):
    """``insufficient_data`` was reached (internal: becomes a Result, never escapes)."""

    def __init__(self, span: Span | None) -> None:
        super().__init__("insufficient data")
        self.span = span


_MISSING = object()

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_ARITH: dict[str, Callable[[Fraction, Fraction], Fraction]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
}


def evaluate_record(plan: Plan, record: SubjectRecord, tracer: Tracer | None = None) -> Result:
    """Rate one record.

    Args:
        plan: a compiled rule set (:func:`kpi_rules.compiler.compile_ruleset`).
        record: typed inputs of one subject for one period (:mod:`kpi_rules.records`).
        tracer: a :class:`~kpi_rules.trace.FullTracer` to keep expression values for
            explanations; the default records nothing.

    Returns:
        A ``Result`` with status ``"rated"`` (total, criteria, level decision) or
        ``"insufficient_data"`` (where it was reached; no total, no level).

    Raises:
        EvaluationError: KR501-KR510 problems of this record at run time.
    """
    return _Run(plan, record, tracer).run()


def evaluate_records(plan: Plan, records: Iterable[SubjectRecord]) -> list[Result | EvaluationError]:
    """Rate many records independently, in order: one bad record never stops the others."""
    out: list[Result | EvaluationError] = []
    for record in records:
        try:
            out.append(evaluate_record(plan, record))
        except EvaluationError as error:
            out.append(error)
    return out


class _Run:
    """The evaluation of one record."""

    def __init__(self, plan: Plan, record: SubjectRecord, tracer: Tracer | None) -> None:
        self.plan = plan
        self.record = record
        self.day: dt.date = record.on or plan.default_day()
        #: Values of inputs, params, lets and criteria (points) read so far.
        self.env: dict[str, Value] = {}
        self.lets: dict[str, Value] = {}
        self.tracer = tracer if tracer is not None and tracer.enabled else None
        self.in_aggregate = 0
        self.step = ""

    # ------------------------------------------------------------------ errors

    def fail(self, code: str, what: str, span: Span | None, hint: str | None = None) -> NoReturn:
        rid = self.record.id
        where = f"`{self.step}`" if self.step else "the record"
        diagnostic = Diagnostic(
            code, f"{what} in {where} (record {rid})", span, hint=hint, where=f"record {rid}"
        )
        raise EvaluationError(diagnostic, rid, self.step or None)

    # ------------------------------------------------------------------ driver

    def run(self) -> Result:
        plan, record = self.plan, self.record
        self.check_override()
        results: dict[str, CriterionResult] = {}
        total: Fraction | None = None
        tree: CriterionResult | None = None
        try:
            for step in plan.steps:
                self.step = step.name
                node = step.node
                if isinstance(node, nodes.LetDecl):
                    value = self.ev(node.expr, None)
                    self.env[node.name] = value
                    self.lets[node.name] = value
                elif isinstance(node, nodes.Criterion):
                    raw = self.number(self.ev(node.expr, None), node.expr)
                    points = _clamp(raw, _ZERO, node.max)
                    results[node.name] = CriterionResult(node.name, "criterion", points, raw, node.max)
                    self.env[node.name] = points
                elif isinstance(node, (nodes.CriteriaGroup, nodes.CriteriaTree)):
                    result = _group_result(node, results)
                    results[node.name] = result
                    self.env[node.name] = result.points
                    if isinstance(node, nodes.CriteriaTree):
                        tree, total = result, result.points
                # conditions and disqualifiers are evaluated by the rating, as it needs them
            decision = self.rate(total) if total is not None else None
        except _Insufficient as stop:
            return Result(
                subject_id=record.id,
                status="insufficient_data",
                provenance=plan.provenance,
                values=dict(self.lets),
                insufficient=InsufficientReason(self.step, stop.span),
                subject_name=record.name,
                period=record.period,
                trace=self.tracer.snapshot() if self.tracer is not None else None,
            )
        return Result(
            subject_id=record.id,
            status="rated",
            provenance=plan.provenance,
            total=total,
            criteria=tree,
            decision=decision,
            values=dict(self.lets),
            subject_name=record.name,
            period=record.period,
            trace=self.tracer.snapshot() if self.tracer is not None else None,
        )

    # ------------------------------------------------------------------ rating

    def check_override(self) -> None:
        override = self.record.override
        if override is None:
            return
        rating = self.plan.ruleset.rating
        if rating is None or rating.override is None:
            self.fail(
                "KR507",
                "an override was given but the rule set does not allow overrides",
                None,
                "remove the override, or rate with a rule set that declares `allow override`",
            )
        names = [level.name for level in rating.levels]
        if override.level not in names:
            self.fail(
                "KR507",
                f"the override's level `{override.level}` is not a level of the rating",
                None,
                f"use one of: {', '.join(names)}",
            )

    def rate(self, total: Fraction) -> LevelDecision | None:
        rating = self.plan.ruleset.rating
        if rating is None or not rating.levels:
            return None
        levels = rating.levels
        lowest = len(levels) - 1
        band = next((i for i, lv in enumerate(levels) if _in_band(total, lv)), None)
        if band is None:
            self.step = "rating"
            self.fail("KR305", f"the total {total} lies in no rating band", rating.span)

        disqualifiers: list[DisqualifierResult] = []
        forced: str | None = None
        for disq in rating.disqualifiers:
            self.step = disq.name
            fired = self.truth(self.ev(disq.when, None), disq.when)
            target = disq.target or levels[lowest].name
            disqualifiers.append(DisqualifierResult(disq.name, fired, target))
            if fired and forced is None:
                forced = target

        conditions: list[ConditionResult] = []

        def holds(j: int) -> bool:
            level = levels[j]
            ok = True
            for cond in level.conditions:
                self.step = f"{level.name}.{cond.name}"
                met = self.truth(self.ev(cond.expr, None), cond.expr)
                conditions.append(ConditionResult(level.name, cond.name, met))
                ok = ok and met
            return ok

        level, reason, passed = choose_level(levels, band, forced, rating.fallthrough, holds)
        override = self.record.override
        if override is not None:
            level, reason, passed = override.level, "override", ()
        return LevelDecision(
            band_level=levels[band].name,
            level=level,
            reason=reason,
            conditions=tuple(conditions),
            disqualifiers=tuple(disqualifiers),
            passed_over=passed,
            override=override,
            all_conditions=self.every_condition(levels, conditions),
        )

    def every_condition(
        self, levels: Sequence[nodes.Level], known: Sequence[ConditionResult]
    ) -> tuple[ConditionResult, ...]:
        """The conditions of every level, reusing those the decision already evaluated.

        The others are evaluated here only so that a half-year or year can tell whether a level's
        conditions held in each period; one that cannot be established (a run-time problem or
        insufficient data in it) counts as not met, so a span never gets a level it did not earn.
        """
        seen = {(c.level, c.name): c for c in known}
        out: list[ConditionResult] = []
        tracer, self.tracer = self.tracer, None
        try:
            for level in levels:
                for cond in level.conditions:
                    found = seen.get((level.name, cond.name))
                    if found is None:
                        try:
                            found = ConditionResult(level.name, cond.name, self.truth(self.ev(cond.expr, None), cond.expr))
                        except (EvaluationError, _Insufficient):
                            found = ConditionResult(level.name, cond.name, False)
                    out.append(found)
        finally:
            self.tracer = tracer
        return tuple(out)

    # ------------------------------------------------------------------ expressions

    def ev(self, expr: nodes.Expr, local: dict[str, Value] | None) -> Value:
        value = _DISPATCH[type(expr)](self, expr, local)
        if self.tracer is not None and not self.in_aggregate:
            self.tracer.record(expr, value)
        return value

    def number(self, value: Value, expr: nodes.Expr) -> Fraction:
        if isinstance(value, Fraction):
            return value
        if value is None:
            self.fail("KR501", "a value is missing (an optional input without a value?)", expr.span,
                      "read optional inputs with `coalesce(x, fallback)` or test `present(x)`")
        self.fail("KR303", f"expected a number, got {_describe(value)}", expr.span)

    def truth(self, value: Value, expr: nodes.Expr) -> bool:
        if isinstance(value, bool):
            return value
        if value is None:
            self.fail("KR501", "a value is missing (an optional input without a value?)", expr.span)
        self.fail("KR303", f"expected true or false, got {_describe(value)}", expr.span)

    def _literal(self, expr: nodes.Expr, local: dict[str, Value] | None) -> Value:
        assert isinstance(expr, (nodes.NumberLit, nodes.PercentLit, nodes.StringLit, nodes.BoolLit, nodes.DateLit))
        return literal_value(expr)

    def _insufficient(self, expr: nodes.Expr, local: dict[str, Value] | None) -> Value:
        raise _Insufficient(expr.span)

    def _var(self, expr: nodes.Expr, local: dict[str, Value] | None) -> Value:
        assert isinstance(expr, nodes.Var)
        name = expr.name
        if local is not None and name in local:
            return local[name]
        env = self.env
        if name in env:
            return env[name]
        plan = self.plan
        if name in plan.inputs:
            value = self.input_value(plan.inputs[name])
        elif name in plan.params:
            version = plan.param_version(name, self.day)
            if version is None:
                self.fail("KR510", f"no version of param `{name}` is in force on {self.day}", expr.span)
            value = version.value
        elif name in plan.tables:
            self.fail("KR303", f"table `{name}` must be read with a key: `{name}[key]`", expr.span)
        elif any(r.name == name for r in plan.checked.subject.relations):
            # related subjects' results of the same period (kpi_rules.province fills them)
            raw = self.record.related[name] if name in self.record.related else self.record.inputs.get(name)
            value = tuple(raw) if isinstance(raw, list) else cast(Value, raw)
        else:
            self.fail("KR301", f"`{name}` has no value here", expr.span)
        env[name] = value
        return value

    def _member(self, expr: nodes.Expr, local: dict[str, Value] | None) -> Value:
        assert isinstance(expr, nodes.Member)
        obj = self.ev(expr.obj, local)
        if obj is None and isinstance(expr.obj, nodes.Var) and expr.obj.name not in (local or {}) and any(
                r.name == expr.obj.name for r in self.plan.checked.subject.relations):
            self.fail("KR501", f"`{expr.obj.name}` has no related subject here (e.g. the root unit has no "
                      f"parent), so `.{expr.name}` has no value", expr.span,
                      f"test `present({expr.obj.name})` first")
        if not isinstance(obj, Mapping):
            self.fail("KR303", f"`.{expr.name}` needs a record, got {_describe(obj)}", expr.span)
        value = obj.get(expr.name, _MISSING)
        if value is _MISSING:
            self.fail("KR501", f"the item has no field `{expr.name}`", expr.span)
        return value

    def _index(self, expr: nodes.Expr, local: dict[str, Value] | None) -> Value:
        assert isinstance(expr, nodes.Index)
        table = expr.obj
        if not isinstance(table, nodes.Var) or table.name not in self.plan.tables:
            self.fail("KR303", "only a table can be read with `[key]`", expr.span)
        day = _assigned_on(expr.key, local) if table.name == "catalogue" else None
        day = day or self.day
        version = self.plan.table_version(table.name, day)
        if version is None:
            self.fail("KR510", f"no version of table `{table.name}` is in force on {day}", expr.span)
        key = self.ev(expr.key, local)
        value = version.rows.get(key, _MISSING)
        if value is _MISSING:
            self.fail(
                "KR505",
                f"table `{table.name}` has no entry for key {_show(key)}",
                expr.span,
                f"add the key to table `{table.name}` or correct the record",
            )
        return value  # type: ignore[return-value]

    def _unary(self, expr: nodes.Expr, local: dict[str, Value] | None) -> Value:
        assert isinstance(expr, nodes.Unary)
        value = self.ev(expr.operand, local)
        if expr.op == "not":
            return not self.truth(value, expr.operand)
        return -self.number(value, expr.operand)

    def _binary(self, expr: nodes.Expr, local: dict[str, Value] | None) -> Value:
        assert isinstance(expr, nodes.Binary)
        op = expr.op
        if op == "and":
            return self.truth(self.ev(expr.left, local), expr.left) and self.truth(
                self.ev(expr.right, local), expr.right)
        if op == "or":
            return self.truth(self.ev(expr.left, local), expr.left) or self.truth(
                self.ev(expr.right, local), expr.right)
        left = self.ev(expr.left, local)
        right = self.ev(expr.right, local)
        arith = _ARITH.get(op)
        if arith is not None:
            return arith(self.number(left, expr.left), self.number(right, expr.right))
        if op == "/":
            divisor = self.number(right, expr.right)
            if divisor == 0:
                self.fail("KR506", "division by zero", expr.span,
                          "use `ratio(x, y, if_zero: VALUE)` or `percent(x, y, if_zero: VALUE)` "
                          "to say what a zero divisor means")
            return self.number(left, expr.left) / divisor
        return self.compare(op, left, right, expr)

    def compare(self, op: str, left: Value, right: Value, expr: nodes.Binary) -> bool:
        if left is None or right is None:
            missing = expr.left if left is None else expr.right
            self.fail("KR501", "a value is missing (an optional input without a value?)", missing.span)
        if isinstance(left, str) and isinstance(right, str) and op not in ("==", "!="):
            return _COMPARE[op](self.rank(left, expr), self.rank(right, expr))
        if type(left) is not type(right) or isinstance(left, (tuple, Mapping)):
            self.fail("KR303", f"cannot compare {_describe(left)} with {_describe(right)}", expr.span)
        if isinstance(left, bool) and op not in ("==", "!="):
            self.fail("KR303", "true and false cannot be ordered", expr.span)
        return _COMPARE[op](left, right)

    def rank(self, member: str, expr: nodes.Expr) -> int:
        members = self.plan.enum_orders.get(id(expr))
        if members is None:
            self.fail("KR303", "text can only be compared with `==` and `!=`", expr.span)
        if member not in members:
            self.fail("KR311", f'"{member}" is not one of {", ".join(members)}', expr.span)
        return members.index(member)

    def _if(self, expr: nodes.Expr, local: dict[str, Value] | None) -> Value:
        assert isinstance(expr, nodes.IfElse)
        if self.truth(self.ev(expr.cond, local), expr.cond):
            return self.ev(expr.then, local)
        return self.ev(expr.otherwise, local)

    def _tiers(self, expr: nodes.Expr, local: dict[str, Value] | None) -> Value:
        assert isinstance(expr, nodes.Tiers)
        subject = self.ev(expr.subject, local)
        members = self.plan.enum_orders.get(id(expr))
        for tier in expr.tiers:
            threshold = self.ev(tier.threshold, local)
            if members is not None and isinstance(subject, str) and isinstance(threshold, str):
                hit = self.rank(subject, expr) >= self.rank(threshold, expr)
            else:
                hit = self.number(subject, expr.subject) >= self.number(threshold, tier.threshold)
            if hit:
                return self.ev(tier.value, local)
        return self.ev(expr.otherwise, local)

    # ------------------------------------------------------------------ calls

    def _call(self, expr: nodes.Expr, local: dict[str, Value] | None) -> Value:
        assert isinstance(expr, nodes.Call)
        func, args = expr.func, expr.args
        if func == "present":
            self.arity(expr, 1)
            return self.ev(args[0], local) is not None
        if func == "coalesce":
            self.arity(expr, 2)
            first = self.ev(args[0], local)
            return first if first is not None else self.ev(args[1], local)
        if func in ("percent", "ratio"):
            return self.divide(expr, local, Fraction(100) if func == "percent" else Fraction(1))
        if func == "round":
            return self.round(expr, local)
        values = [self.number(self.ev(a, local), a) for a in args]
        if func in ("min", "max") and values:
            return min(values) if func == "min" else max(values)
        if func == "abs" and len(values) == 1:
            return abs(values[0])
        if func == "clamp" and len(values) == 3:
            return _clamp(values[0], values[1], values[2])
        self.fail("KR309", f"unknown function `{func}` or wrong number of arguments", expr.span)

    def arity(self, expr: nodes.Call, n: int) -> None:
        if len(expr.args) != n:
            self.fail("KR309", f"`{expr.func}` takes {n} argument(s)", expr.span)

    def divide(self, expr: nodes.Call, local: dict[str, Value] | None, scale: Fraction) -> Value:
        args = expr.args
        if_zero: nodes.Expr | None = next((k.value for k in expr.kwargs if k.name == "if_zero"), None)
        if if_zero is None and len(args) == 3:
            if_zero = args[2]
        if len(args) not in (2, 3):
            self.fail("KR309", f"`{expr.func}` takes a numerator and a denominator", expr.span)
        num = self.number(self.ev(args[0], local), args[0])
        den = self.number(self.ev(args[1], local), args[1])
        if den == 0:
            if if_zero is None:
                self.fail("KR506", f"division by zero: the denominator of `{expr.func}` is 0", expr.span,
                          f"say what a zero denominator means: `{expr.func}(x, y, if_zero: VALUE)`")
            return self.ev(if_zero, local)
        return num / den * scale

    def round(self, expr: nodes.Call, local: dict[str, Value] | None) -> Value:
        args = expr.args
        if len(args) not in (2, 3):
            self.fail("KR309", "write `round(x, 2)` or `round(x, 2, \"half_up\")`", expr.span)
        x = self.number(self.ev(args[0], local), args[0])
        places = self.number(self.ev(args[1], local), args[1])
        mode_node: nodes.Expr | None = args[2] if len(args) == 3 else next(
            (k.value for k in expr.kwargs if k.name == "mode"), None)
        mode = self.ev(mode_node, local) if mode_node is not None else "half_up"
        if places.denominator != 1 or not isinstance(mode, str) or mode not in ROUNDING_MODES:
            self.fail("KR309", "invalid decimals or rounding mode of `round`", expr.span)
        return round_fraction(x, int(places), mode)

    # ------------------------------------------------------------------ aggregates

    def _aggregate(self, expr: nodes.Expr, local: dict[str, Value] | None) -> Value:
        assert isinstance(expr, nodes.Aggregate)
        source = self.ev(expr.source, local)
        if source is None:
            items: tuple[Any, ...] = ()
        elif isinstance(source, (tuple, list)):
            items = tuple(source)
        else:
            self.fail("KR303", f"`{expr.func}` needs a list, got {_describe(source)}", expr.source.span)
        func, where, body = expr.func, expr.where, expr.body
        scope: dict[str, Value] = dict(local) if local else {}
        self.in_aggregate += 1
        try:
            selected: list[Value] = []
            for item in items:
                scope[expr.var] = item
                if where is not None and not self.truth(self.ev(where, scope), where):
                    continue
                selected.append(item)
            return self.fold(expr, func, items, selected, body, scope)
        finally:
            self.in_aggregate -= 1

    def fold(
        self,
        expr: nodes.Aggregate,
        func: str,
        items: Sequence[Any],
        selected: list[Value],
        body: nodes.Expr | None,
        scope: dict[str, Value],
    ) -> Value:
        var = expr.var

        def body_values() -> Iterable[Value]:
            assert body is not None
            for item in selected:
                scope[var] = item
                yield self.ev(body, scope)

        if func in ("sum", "mean", "min", "max"):
            if body is None:
                self.fail("KR309", f"`{func}` needs a body: `{func}({var} in list: EXPR)`", expr.span)
            numbers = [self.number(v, body) for v in body_values()]
            if func == "sum":
                return sum(numbers, _ZERO)
            if not numbers:
                raise _Insufficient(expr.span)
            if func == "mean":
                return sum(numbers, _ZERO) / len(numbers)
            return min(numbers) if func == "min" else max(numbers)
        if func == "count":
            if body is None:
                return Fraction(len(selected))
            return Fraction(sum(1 for v in body_values() if self.truth(v, body)))
        if func == "share":
            if body is None:
                if not items:
                    raise _Insufficient(expr.span)
                return Fraction(len(selected), len(items))
            if not selected:
                raise _Insufficient(expr.span)
            return Fraction(sum(1 for v in body_values() if self.truth(v, body)), len(selected))
        if func in ("any", "all"):
            if body is None:
                return bool(selected) if func == "any" else True
            want = func == "any"
            for v in body_values():
                if self.truth(v, body) == want:
                    return want
            return not want
        self.fail("KR309", f"unknown aggregate `{func}`", expr.span)

    # ------------------------------------------------------------------ inputs

    def input_value(self, decl: nodes.InputDecl) -> Value:
        raw = self.record.inputs.get(decl.name, _MISSING)
        return self.coerce(raw, decl, decl.name)

    def coerce(self, raw: object, decl: nodes.InputDecl, path: str) -> Value:
        """Defaults for absent values; numbers to Fraction (records.py normally did both)."""
        if raw is _MISSING or raw is None:
            if decl.missing == "default" and decl.default is not None:
                return literal_value(decl.default)
            if decl.missing == "optional":
                return None
            self.fail("KR501", f"required input `{path}` is missing", None)
        t = decl.type
        if isinstance(t, nodes.ListType):
            return self.coerce_items(raw, t.item, path)
        if isinstance(t, nodes.ScalarType):
            name = t.name
            if name in ("number", "percent", "points"):
                if isinstance(raw, Fraction):
                    return raw
                if isinstance(raw, (int, float, str, Decimal)) and not isinstance(raw, bool):
                    try:
                        return to_fraction(raw)
                    except (TypeError, ValueError):
                        pass
                self.fail("KR502", f"input `{path}` must be a number, got {_describe(raw)}", None)
            if name == "bool" and isinstance(raw, bool):
                return raw
            if name == "text" and isinstance(raw, str):
                return raw
            if name == "date" and isinstance(raw, dt.date):
                return raw
            self.fail("KR502", f"input `{path}` must be {name}, got {_describe(raw)}", None)
        if not isinstance(raw, str) or raw not in t.members:
            self.fail("KR502", f"input `{path}` must be one of {', '.join(t.members)}", None)
        return raw

    def coerce_items(self, raw: object, record_name: str, path: str) -> Value:
        if not isinstance(raw, (tuple, list)):
            self.fail("KR502", f"input `{path}` must be a list", None)
        record = self.plan.checked.records.get(record_name)
        if record is None:
            return tuple(item for item in raw if isinstance(item, Mapping))
        items: list[RecordValue] = []
        for i, item in enumerate(raw):
            if not isinstance(item, Mapping):
                self.fail("KR502", f"item {path}[{i}] must be a record of `{record_name}`", None)
            items.append(
                {d.name: self.coerce(item.get(d.name, _MISSING), d, f"{path}[{i}].{d.name}") for d in record.inputs}
            )
        return tuple(items)


# --------------------------------------------------------------------------- helpers

_DISPATCH: dict[type, Callable[[_Run, nodes.Expr, dict[str, Value] | None], Value]] = {
    nodes.NumberLit: _Run._literal,
    nodes.PercentLit: _Run._literal,
    nodes.StringLit: _Run._literal,
    nodes.BoolLit: _Run._literal,
    nodes.DateLit: _Run._literal,
    nodes.InsufficientData: _Run._insufficient,
    nodes.Var: _Run._var,
    nodes.Member: _Run._member,
    nodes.Index: _Run._index,
    nodes.Unary: _Run._unary,
    nodes.Binary: _Run._binary,
    nodes.IfElse: _Run._if,
    nodes.Call: _Run._call,
    nodes.Aggregate: _Run._aggregate,
    nodes.Tiers: _Run._tiers,
}


def _assigned_on(key: nodes.Expr, local: dict[str, Value] | None) -> dt.date | None:
    """The ``assigned_on`` date of the item a catalogue key is read from (``catalogue[t.product]``):
    a coefficient is snapshotted on the day the work was assigned (docs/catalogue.md)."""
    if local and isinstance(key, nodes.Member) and isinstance(key.obj, nodes.Var):
        item = local.get(key.obj.name)
        if isinstance(item, Mapping):
            day = item.get("assigned_on")
            if isinstance(day, dt.date):
                return day
    return None


def _clamp(x: Fraction, lo: Fraction, hi: Fraction) -> Fraction:
    return lo if x < lo else hi if x > hi else x


def choose_level(levels: Sequence[nodes.Level], band: int, forced: str | None, fallthrough: nodes.Fallthrough,
                 holds: Callable[[int], bool]) -> tuple[str, DecisionReason, tuple[str, ...]]:
    """The level, the reason and the levels passed over, for a total in band ``band``.

    A fired disqualifier's target (``forced``) wins; else the band's level when ``holds(band)``
    (its conditions hold); else the fallthrough: with ``highest_met`` the first level below the
    band whose conditions hold, otherwise the lowest level. ``holds`` is called in that order
    (the record path and the fast path both record the conditions it evaluates).
    """
    if forced is not None:
        return forced, "disqualified", ()
    if holds(band):
        return levels[band].name, "band", ()
    lowest = len(levels) - 1
    chosen = lowest
    if fallthrough == "highest_met":
        chosen = next((j for j in range(band + 1, len(levels)) if holds(j)), lowest)
    chosen = max(chosen, band)
    return levels[chosen].name, "fallthrough", tuple(lv.name for lv in levels[band:chosen])


def _in_band(total: Fraction, level: nodes.Level) -> bool:
    return (level.lower is None or total >= level.lower) and (level.upper is None or total < level.upper)


def _group_result(
    node: nodes.CriteriaGroup | nodes.CriteriaTree, done: Mapping[str, CriterionResult]
) -> CriterionResult:
    """Children's points added (a penalty child subtracted), floored at 0 and capped at max."""
    children = tuple(done[child.name] for child in node.children)
    raw = _ZERO
    for child in children:
        raw = raw - child.points if child.kind == "penalty" else raw + child.points
    kind: CriterionKind = "total" if isinstance(node, nodes.CriteriaTree) else node.kind
    return CriterionResult(node.name, kind, _clamp(raw, _ZERO, node.max), raw, node.max, children)


def _describe(value: object) -> str:
    if value is None:
        return "no value"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, Fraction):
        return "a number"
    if isinstance(value, str):
        return f'text "{value}"'
    if isinstance(value, dt.date):
        return "a date"
    if isinstance(value, (tuple, list)):
        return "a list"
    if isinstance(value, Mapping):
        return "a record"
    return type(value).__name__


def _show(key: Value) -> str:
    if isinstance(key, str):
        return f'"{key}"'
    if isinstance(key, Fraction):
        return str(key.numerator) if key.denominator == 1 else str(key)
    return str(key)
