"""Periods: period labels, and a half-year or year made from the periods actually worked.

Input: a :class:`~kpi_rules.plan.Plan` (its ``periods`` declaration and its ``rating``), a subject
id, a span label (``2026``, ``2026-H1``) and that subject's :class:`~kpi_rules.results.Result` for
periods of the span. Output: one ``Result`` for the span, whose ``combined`` field says which
periods were used and which were left out, and why.

Public functions (plain inputs; the province driver calls them, nothing here depends on it)::

    parse_period(label: str) -> Period                              # DiagnosticError(KR321)
    periods_in(span: Period | str, kind: str) -> tuple[Period, ...]
    combine_periods(plan: Plan, subject_id: str, span_label: str,
                    period_results: Sequence[Result], *, override: Override | None = None) -> Result
                                                                    # DiagnosticError(KR321, KR329)
    check_periods(ruleset: Ruleset, report: Report) -> None         # the validator's KR320-KR324 checks

Rules (``docs/language.md``, "Periods"; Art. 19 of Decree 335):

- ``combine mean``: the total is the exact mean of the totals of the periods with status
  ``rated``. Periods with ``insufficient_data`` (nothing assigned) and periods with no result (not
  worked: leave, transfer) are left out, never averaged in as 0 or 100. No rated period: the span
  is itself ``insufficient_data``. The level is the band of the mean in the same rating block; a
  disqualifier that fired in any rated period of the span forces its level for the span too,
  except in a period whose level an authority overrode.
- ``combine rating_count``: the level comes from the first rule whose condition holds, counting
  the rated periods by level (``periods("excellent")``; ``periods()`` counts every rated period),
  else from ``otherwise``. The total shown is still the mean; disqualifiers carry over as above.
- Level conditions (``require``): a level that has conditions is given for a span only if its
  conditions held in every rated period of the span (``LevelDecision.all_conditions``); otherwise
  the rating's ``fallthrough`` applies from the band of the mean, as it does within a period.
- An override for the span (an authority's decision on the year) is given as an argument and wins.

Example:
    >>> parse_period("2026-Q3").months
    (7, 9)
    >>> [p.label for p in periods_in("2026-H1", "quarter")]
    ['2026-Q1', '2026-Q2']
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, NoReturn

from kpi_rules import nodes
from kpi_rules.diagnostics import Diagnostic, DiagnosticError
from kpi_rules.evaluator import choose_level
from kpi_rules.plan import Plan
from kpi_rules.results import (
    Combination,
    ConditionResult,
    DecisionReason,
    DisqualifierResult,
    InsufficientReason,
    LevelDecision,
    Override,
    PeriodUse,
    Result,
)
from kpi_rules.source import Span

__all__ = ["Period", "PeriodKind", "check_periods", "combine_periods", "count_value", "parse_period", "periods_in"]

PeriodKind = Literal["month", "quarter", "half", "year"]

#: Months per period kind.
_LENGTH: dict[str, int] = {"month": 1, "quarter": 3, "half": 6, "year": 12}
_LABEL = re.compile(r"([0-9]{4})(?:-(?:([0-9]{2})|Q([0-9])|H([0-9])))?")
_HINT = "write a month `2026-01`, a quarter `2026-Q1`, a half-year `2026-H1` or a year `2026`"

#: The ``definition`` of a span's ``InsufficientReason`` when no period of it was rated.
NO_RATED_PERIOD = "periods"

#: How the validator reports a problem: (code, message, span, hint).
Report = Callable[[str, str, "Span | None", "str | None"], None]


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """A month, quarter, half-year or year. Ordered by start, then by length."""

    year: int
    first: int
    last: int

    @property
    def kind(self) -> PeriodKind:
        length = self.last - self.first + 1
        return "month" if length == 1 else "quarter" if length == 3 else "half" if length == 6 else "year"

    @property
    def months(self) -> tuple[int, int]:
        """The first and last month (1-12)."""
        return self.first, self.last

    @property
    def label(self) -> str:
        kind = self.kind
        if kind == "month":
            return f"{self.year:04d}-{self.first:02d}"
        if kind == "quarter":
            return f"{self.year:04d}-Q{(self.first + 2) // 3}"
        if kind == "half":
            return f"{self.year:04d}-H{(self.first + 5) // 6}"
        return f"{self.year:04d}"

    def contains(self, other: Period) -> bool:
        return self.year == other.year and self.first <= other.first and other.last <= self.last

    def __str__(self) -> str:
        return self.label


def parse_period(label: str, span: Span | None = None, where: str | None = None) -> Period:
    """Read ``2026-01`` (month), ``2026-Q1`` (quarter), ``2026-H1`` (half-year) or ``2026`` (year).

    Raises:
        DiagnosticError: KR321 for anything else (``2026-Q5``, ``2026-13``, ``26-Q1``).

    Example:
        >>> parse_period("2026-H2").label, parse_period("2026").kind
        ('2026-H2', 'year')
    """
    found = _period_of(label) if isinstance(label, str) else None
    if found is not None:
        return found
    raise DiagnosticError([Diagnostic("KR321", f"`{label}` is not a period label", span, hint=_HINT, where=where)])


@functools.lru_cache(maxsize=4096)
def _period_of(label: str) -> Period | None:
    """The period a label names, or None (cached: a province combines the same few labels for
    every subject)."""
    match = _LABEL.fullmatch(label.strip())
    if match is not None:
        year = int(match.group(1))
        month, quarter, half = match.group(2), match.group(3), match.group(4)
        if month is not None and 1 <= int(month) <= 12:
            return Period(year, int(month), int(month))
        if quarter is not None and 1 <= int(quarter) <= 4:
            return Period(year, 3 * int(quarter) - 2, 3 * int(quarter))
        if half is not None and 1 <= int(half) <= 2:
            return Period(year, 6 * int(half) - 5, 6 * int(half))
        if month is None and quarter is None and half is None:
            return Period(year, 1, 12)
    return None


@functools.lru_cache(maxsize=1024)
def periods_in(span: Period | str, kind: str) -> tuple[Period, ...]:
    """The periods of ``kind`` (``month``, ``quarter``, ``half``, ``year``) inside ``span``, in order.

    Example:
        >>> [p.label for p in periods_in("2026", "quarter")]
        ['2026-Q1', '2026-Q2', '2026-Q3', '2026-Q4']
    """
    whole = parse_period(span) if isinstance(span, str) else span
    length = _LENGTH[kind]
    out = []
    for first in range(whole.first, whole.last + 1, length):
        if (first - 1) % length == 0 and first + length - 1 <= whole.last:
            out.append(Period(whole.year, first, first + length - 1))
    return tuple(out)


# --------------------------------------------------------------------------- combining


def combine_periods(
    plan: Plan,
    subject_id: str,
    span_label: str,
    period_results: Sequence[Result],
    *,
    override: Override | None = None,
) -> Result:
    """One subject's result for a half-year or year, from its results of the periods in it.

    Args:
        plan: the rule set the periods were rated with; its ``periods`` block says how to combine
            (``monitor quarter`` and ``combine mean`` when it has none).
        subject_id: whose results these are.
        span_label: ``2026`` or ``2026-H1`` (any period longer than the monitored one).
        period_results: the subject's results of monitored periods inside the span, in any order;
            a period with no result is a period not worked.
        override: an authorised decision on the span's level (force majeure), if any.

    Returns:
        A ``Result`` with ``period=span_label`` and ``combined`` listing every monitored period of
        the span: used, or left out with its reason. Status ``insufficient_data`` when no period
        was rated.

    Raises:
        DiagnosticError: KR321 for a bad label; KR329 for a result of another subject, of a period
            outside the span or not of the monitored kind, or two results for one period.

    Example::

        year = combine_periods(plan, "p001", "2026", [q1, q2, q4])   # Q3 not worked
        [(u.period, u.status) for u in year.combined_from]          # ... ("2026-Q3", "no_record") ...
    """
    where = f"subject {subject_id}"
    decl = plan.ruleset.periods
    monitor = decl.monitor if decl is not None else _monitor_of(period_results)
    method = decl.combine if decl is not None else "mean"
    span = parse_period(span_label, where=where)
    if _LENGTH[span.kind] <= _LENGTH[monitor]:
        _misfit(f"the span `{span_label}` is not longer than the monitored period ({monitor})", where)
    by_period: dict[Period, Result] = {}
    for result in period_results:
        if result.subject_id != subject_id:
            _misfit(f"a result of `{result.subject_id}` was given to combine the periods of `{subject_id}`", where)
        if result.period is None:
            _misfit(f"a result of `{subject_id}` has no period", where)
        period = parse_period(result.period, where=where)
        if period.kind != monitor:
            _misfit(f"the period `{result.period}` is a {period.kind}, but the rule set monitors by {monitor}", where)
        if not span.contains(period):
            _misfit(f"the period `{result.period}` is not part of `{span.label}`", where)
        if period in by_period:
            _misfit(f"two results of `{subject_id}` for `{result.period}`", where)
        by_period[period] = result

    uses: list[PeriodUse] = []
    rated: list[Result] = []
    for period in periods_in(span, monitor):
        found = by_period.get(period)
        if found is None:
            uses.append(PeriodUse(period.label, False, "no_record"))
        elif found.status != "rated" or found.total is None:
            uses.append(PeriodUse(period.label, False, "insufficient_data"))
        else:
            rated.append(found)
            fired = tuple(d.name for d in found.decision.disqualifiers if d.fired) if found.decision else ()
            uses.append(PeriodUse(period.label, True, "rated", found.total, found.level, fired))
    name = next((r.subject_name for r in period_results if r.subject_name), None)
    if not rated:
        return Result(
            subject_id=subject_id, status="insufficient_data", provenance=plan.provenance,
            insufficient=InsufficientReason(NO_RATED_PERIOD, decl.span if decl is not None else None),
            subject_name=name, period=span.label, combined=Combination(method, tuple(uses)),
        )
    total = sum((r.total for r in rated if r.total is not None), Fraction(0)) / len(rated)
    combination = Combination(method, tuple(uses))
    decision = None
    rating = plan.ruleset.rating
    if rating is not None and rating.levels:
        decision, combination = _decide(rating, decl, total, rated, combination, override, where)
    return Result(
        subject_id=subject_id, status="rated", provenance=plan.provenance, total=total, decision=decision,
        subject_name=name, period=span.label, combined=combination,
    )


def _decide(
    rating: nodes.Rating, decl: nodes.PeriodsDecl | None, total: Fraction, rated: Sequence[Result],
    combination: Combination, override: Override | None, where: str,
) -> tuple[LevelDecision, Combination]:
    levels = rating.levels
    band = next((lv for lv in levels if _in_band(total, lv)), None)
    if band is None:  # the checker proves the bands cover the range; totals of rated periods lie in it
        _misfit(f"the mean {total} lies in no rating band", where)
    # A period whose level an authority overrode (force majeure) carries no disqualifier: the
    # decision replaced what fired in it.
    fired_anywhere = {
        d.name for r in rated if r.decision and r.decision.override is None
        for d in r.decision.disqualifiers if d.fired
    }
    disqualifiers = tuple(
        DisqualifierResult(d.name, d.name in fired_anywhere, d.target or levels[-1].name) for d in rating.disqualifiers
    )
    forced = next((d.target for d in disqualifiers if d.fired), None)
    level, final_reason, passed, conditions = _through_conditions(rating, band, rated)
    if decl is not None and decl.combine == "rating_count":
        counts = {lv.name: 0 for lv in levels}
        for r in rated:
            if r.level is not None:
                counts[r.level] = counts.get(r.level, 0) + 1
        rule = next((i for i, rr in enumerate(decl.rules, 1) if count_value(rr.when, counts, len(rated)) is True), None)
        level = decl.rules[rule - 1].level if rule is not None else (decl.otherwise or band.name)
        final_reason = "rating_count"
        combination = dataclasses.replace(combination, counts=tuple(counts.items()), rule=rule)
    if forced is not None:
        level, final_reason = forced, "disqualified"
    if override is not None:
        if override.level not in {lv.name for lv in levels}:
            raise DiagnosticError([Diagnostic("KR507", f"the override's level `{override.level}` is not a level of the rating",
                                              where=where)])
        level, final_reason = override.level, "override"
    if final_reason not in ("band", "fallthrough"):
        passed = ()
    decision = LevelDecision(band.name, level, final_reason, conditions=conditions, disqualifiers=disqualifiers,
                             passed_over=passed, override=override)
    return decision, combination


def _through_conditions(
    rating: nodes.Rating, band: nodes.Level, rated: Sequence[Result]
) -> tuple[str, DecisionReason, tuple[str, ...], tuple[ConditionResult, ...]]:
    """The span's level from the band of the mean and the conditions held in every rated period."""
    levels = rating.levels
    conditions: list[ConditionResult] = []

    def held_throughout(level: nodes.Level) -> bool:
        ok = True
        for cond in level.conditions:
            met = all(
                any(c.level == level.name and c.name == cond.name and c.met
                    for c in (r.decision.all_conditions if r.decision else ()))
                for r in rated
            )
            conditions.append(ConditionResult(level.name, cond.name, met))
            ok = ok and met
        return ok

    level, reason, passed = choose_level(levels, levels.index(band), None, rating.fallthrough,
                                         lambda j: held_throughout(levels[j]))
    return level, reason, passed, tuple(conditions)


def count_value(expr: nodes.Expr, counts: Mapping[str, int], rated: int) -> Fraction | bool:
    """The value of a ``rating_count`` condition: ``periods("x")`` is ``counts[x]``, ``periods()``
    is ``rated``; numbers, ``+ - *``, comparisons, ``and``/``or``/``not`` and ``if`` are allowed
    (the checker rejects anything else, KR324).

    Example:
        >>> from kpi_rules.parser import parse_expression
        >>> from kpi_rules.source import SourceFile
        >>> e = parse_expression(SourceFile("<doc>", 'periods("excellent") >= 2 and periods("not_complete") == 0'))
        >>> count_value(e, {"excellent": 3, "not_complete": 0}, 4)
        True
    """
    if isinstance(expr, nodes.NumberLit):
        return expr.value
    if isinstance(expr, nodes.PercentLit):
        return expr.value / 100
    if isinstance(expr, nodes.BoolLit):
        return expr.value
    if isinstance(expr, nodes.Call) and expr.func == "periods":
        if not expr.args:
            return Fraction(rated)
        arg = expr.args[0]
        return Fraction(counts.get(arg.value, 0)) if isinstance(arg, nodes.StringLit) else Fraction(0)
    if isinstance(expr, nodes.Unary):
        value = count_value(expr.operand, counts, rated)
        return (not value) if expr.op == "not" else -Fraction(value)
    if isinstance(expr, nodes.IfElse):
        chosen = expr.then if count_value(expr.cond, counts, rated) is True else expr.otherwise
        return count_value(chosen, counts, rated)
    if isinstance(expr, nodes.Binary):
        left = count_value(expr.left, counts, rated)
        if expr.op == "and":
            return left is True and count_value(expr.right, counts, rated) is True
        if expr.op == "or":
            return left is True or count_value(expr.right, counts, rated) is True
        right = count_value(expr.right, counts, rated)
        a, b = Fraction(left), Fraction(right)
        ops: dict[str, Callable[[Fraction, Fraction], Fraction | bool]] = {
            "+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y,
            "<": lambda x, y: x < y, "<=": lambda x, y: x <= y, ">": lambda x, y: x > y,
            ">=": lambda x, y: x >= y, "==": lambda x, y: x == y, "!=": lambda x, y: x != y,
        }
        if expr.op in ops:
            return ops[expr.op](a, b)
    raise ValueError(f"not allowed in a rating-count rule: {type(expr).__name__}")


def _monitor_of(results: Sequence[Result]) -> str:
    for r in results:
        if r.period:
            try:
                kind = parse_period(r.period).kind
            except DiagnosticError:
                continue
            if kind in nodes.PERIOD_KINDS:
                return kind
    return "quarter"


def _in_band(total: Fraction, level: nodes.Level) -> bool:
    return (level.lower is None or total >= level.lower) and (level.upper is None or total < level.upper)


def _misfit(message: str, where: str) -> NoReturn:
    raise DiagnosticError([Diagnostic("KR329", message, None, where=where,
                                      hint="give the results of one subject, one per monitored period of the span")])


# --------------------------------------------------------------------------- checks (the validator)


def check_periods(ruleset: nodes.Ruleset, report: Report) -> None:
    """The load-time checks of a ``periods`` block (KR320, KR322, KR323, KR324)."""
    decl = ruleset.periods
    if decl is None:
        return
    levels = [lv.name for lv in ruleset.rating.levels] if ruleset.rating is not None else []
    if decl.monitor not in nodes.PERIOD_KINDS:
        report("KR322", f"`monitor {decl.monitor}`: the records' period is `month` or `quarter`", decl.span,
               _close(decl.monitor, nodes.PERIOD_KINDS))
    if decl.combine not in nodes.COMBINE_METHODS:
        report("KR323", f"`combine {decl.combine}` is not a way to combine periods", decl.span,
               _close(decl.combine, nodes.COMBINE_METHODS))
    elif decl.combine == "mean" and (decl.rules or decl.otherwise is not None):
        report("KR323", "`combine mean` takes no level rules", decl.span,
               "remove the `{ ... }` block, or write `combine rating_count { ... }`")
    elif decl.combine == "rating_count":
        if decl.otherwise is None:
            report("KR323", "`combine rating_count` needs an `otherwise` level", decl.span,
                   "end the block with e.g. `otherwise good`: the level when no rule holds")
        elif decl.otherwise not in levels:
            report("KR320", f"`otherwise {decl.otherwise}` names no level of the rating", decl.span,
                   _levels_hint(decl.otherwise, levels))
    for rule in decl.rules:
        if rule.level not in levels:
            report("KR320", f"the rule `level {rule.level}` names no level of the rating", rule.span,
                   _levels_hint(rule.level, levels))
        kind = _count_type(rule.when, levels, report)
        if kind == "number":
            report("KR324", f"the condition of `level {rule.level}` is a number, not true or false",
                   rule.when.span or rule.span, 'compare it, e.g. `periods("excellent") >= 2`')


def _count_type(expr: nodes.Expr, levels: Sequence[str], report: Report) -> str | None:
    """``number``, ``bool``, or None after a reported problem."""
    span = expr.span
    if isinstance(expr, (nodes.NumberLit, nodes.PercentLit)):
        return "number"
    if isinstance(expr, nodes.BoolLit):
        return "bool"
    if isinstance(expr, nodes.Call) and expr.func == "periods":
        if expr.kwargs or len(expr.args) > 1 or (expr.args and not isinstance(expr.args[0], nodes.StringLit)):
            report("KR324", "`periods` takes one level in quotes, e.g. `periods(\"excellent\")`, or nothing",
                   span, "`periods()` counts every rated period")
            return None
        if expr.args:
            arg = expr.args[0]
            assert isinstance(arg, nodes.StringLit)
            if arg.value not in levels:
                report("KR320", f"`periods(\"{arg.value}\")` names no level of the rating", arg.span or span,
                       _levels_hint(arg.value, levels))
        return "number"
    if isinstance(expr, nodes.Unary):
        inner = _count_type(expr.operand, levels, report)
        want = "bool" if expr.op == "not" else "number"
        return _want(inner, want, expr, report)
    if isinstance(expr, nodes.IfElse):
        _want(_count_type(expr.cond, levels, report), "bool", expr.cond, report)
        a, b = _count_type(expr.then, levels, report), _count_type(expr.otherwise, levels, report)
        if a is not None and b is not None and a != b:
            report("KR324", "the two branches of `if` give different kinds of value", span,
                   "make both branches numbers, or both true/false")
            return None
        return a
    if isinstance(expr, nodes.Binary):
        left, right = _count_type(expr.left, levels, report), _count_type(expr.right, levels, report)
        if expr.op in ("and", "or"):
            _want(left, "bool", expr.left, report)
            _want(right, "bool", expr.right, report)
            return "bool"
        if expr.op == "/":
            report("KR324", "a rating-count rule cannot divide", span, "compare counts with `*` instead, e.g. "
                   '`2 * periods("excellent") >= periods()`')
            return None
        _want(left, "number", expr.left, report)
        _want(right, "number", expr.right, report)
        return "number" if expr.op in ("+", "-", "*") else "bool"
    report("KR324", "a rating-count rule can only count periods by level: `periods(\"x\")`, numbers, "
           "comparisons, `and`, `or`, `not`", span, "inputs, lets and other functions are per period, not per year")
    return None


def _want(kind: str | None, want: str, expr: nodes.Expr, report: Report) -> str | None:
    if kind is not None and kind != want:
        report("KR324", f"expected {'true or false' if want == 'bool' else 'a number'} here", expr.span,
               'count with `periods("x")`, compare counts with `>=`, join conditions with `and`/`or`')
        return None
    return kind


def _close(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else "write " + " or ".join(f"`{o}`" for o in options)


def _levels_hint(word: str, levels: Sequence[str]) -> str:
    if not levels:
        return "declare the levels in the `rating` block"
    close = difflib.get_close_matches(word, list(levels), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else f"the levels are {', '.join(levels)}"
