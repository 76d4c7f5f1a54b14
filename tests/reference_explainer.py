"""The explainer as it was before explanation skeletons (kpi_rules/explain_plan.py): kept as
the slow reference the fast path is compared with in tests/test_explain_fast.py. Not used by
the library. The next-level advice and the change since the previous period are built by the
library's current functions (the skeletons splice them in as they are), and so are the parts the
skeletons did not replace (periods, quota, insufficient data, related subjects, citations): they
are imported from kpi_rules.explainer rather than copied."""

# ruff: noqa

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

from kpi_rules import nodes
from kpi_rules.advice import NextLevelAdvice, next_level_advice
from kpi_rules.i18n import LANGUAGES, MessageError, message

if TYPE_CHECKING:
    from kpi_rules.change import Previous
from kpi_rules.models import (
    Band,
    ConditionOut,
    CriterionNode,
    Decision,
    DisqualifierOut,
    Explanation,
    NextLevelOut,
    Number,
    OverrideOut,
    ProvenanceOut,
    Ref,
    SubjectInfo,
    SuggestionOut,
    ValueEntry,
    ValueKind,
)
from kpi_rules.plan import Plan
from kpi_rules.explainer import _next_level as _current_next_level
# What the skeleton did not replace is shared with the explainer, not copied: the reference
# keeps its own context, criteria tree, values, totals in sentences and the decision text.
from kpi_rules.explainer import (  # noqa: E402
    cite_with_basis,
    _kinds,
    _walk_results,
    _date_text,
    band_phrase,
    _group_text,
    _counts_text,
    _cohort_out,
    _periods_out,
    _disqualifier_decl,
    _disqualifier_label,
    _insufficient,
    _lang,
    _change,
    _related,
)
from kpi_rules.printer import format_expr
from kpi_rules.results import CriterionResult, LevelDecision, Result, SubjectRecord, Value
from kpi_rules.values import format_exact, format_number

__all__ = ["explain"]

#: A terminating decimal with more places than this is shown rounded (with ``≈``) in formulas.
MAX_FORMULA_DECIMALS = 10


# --------------------------------------------------------------------------- numbers and values


def _is_terminating(x: Fraction) -> bool:
    den = x.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    return den == 1


def _decimal_places(x: Fraction) -> int:
    den, places = x.denominator, 0
    while den != 1:
        den //= 10 if den % 10 == 0 else (2 if den % 2 == 0 else 5)
        places += 1
    return places


@dataclass(frozen=True, slots=True)
class _Ctx:
    plan: Plan
    result: Result
    lang: str
    record: SubjectRecord | None
    trace: Mapping[int, Value]
    #: Global name → what it is (input, param, table, relation, let, criterion).
    kinds: Mapping[str, str]
    #: Points of every criterion, group and the total, by name.
    points: Mapping[str, Fraction]
    day: dt.date
    levels: Mapping[str, nodes.Level] = field(default_factory=dict)

    @property
    def ruleset(self) -> nodes.Ruleset:
        return self.plan.checked.ruleset

    def msg(self, key: str, **params: object) -> str:
        return message(key, self.lang, **params)

    def cite(self, cite: str | None) -> str | None:
        return cite_with_basis(cite, self.ruleset.basis)

    def number(self, x: Fraction) -> Number:
        return Number(exact=format_exact(x), display=self.display(x))

    def display(self, x: Fraction) -> str:
        shown = self.ruleset.display
        return format_number(x, shown.decimals, shown.mode)

    def level_ref(self, name: str) -> Ref:
        level = self.levels.get(name)
        return Ref(id=name, label=level.label.get(self.lang) if level else name)

    # ------------------------------------------------------------------ values in formulas

    def _plain(self, value: Value) -> tuple[str, bool] | None:
        """A value as written in a formula, and whether it is rounded; None: not shown there."""
        if isinstance(value, bool):
            return ("true" if value else "false"), False
        if isinstance(value, Fraction):
            if _is_terminating(value) and _decimal_places(value) <= MAX_FORMULA_DECIMALS:
                return format_exact(value), False
            return self.display(value), True
        if isinstance(value, str):
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"', False
        if isinstance(value, dt.date):
            return value.isoformat(), False
        return None

    def formula_value(self, value: Value) -> str | None:
        """A value substituted into a formula (the printer parenthesises negative numbers)."""
        plain = self._plain(value)
        if plain is None:
            return None
        return ("≈" if plain[1] else "") + plain[0]

    def equals(self, value: Value) -> str:
        """`` = value`` after a formula (`` ≈ value`` when the value is shown rounded)."""
        plain = self._plain(value)
        if plain is None:
            return ""
        return (" ≈ " if plain[1] else " = ") + plain[0]

    def name_value(self, node: nodes.Var) -> tuple[bool, Value]:
        kind = self.kinds.get(node.name)
        if kind == "let" and node.name in self.result.values:
            return True, self.result.values[node.name]
        if kind == "criterion" and node.name in self.points:
            return True, self.points[node.name]
        if id(node) in self.trace and kind in ("input", "param"):
            return True, self.trace[id(node)]
        if kind == "input" and self.record is not None and node.name in self.record.inputs:
            return True, self.record.inputs[node.name]
        if kind == "param":
            version = self.plan.param_version(node.name, self.day)
            if version is not None:
                return True, version.value
        return False, None

    def with_values(self, expr: nodes.Expr, value: Value) -> str:
        def substitute(node: nodes.Expr) -> str | None:
            if node is expr:
                return None
            if isinstance(node, nodes.Var):
                found, v = self.name_value(node)
                return self.formula_value(v) if found else None
            if isinstance(node, (nodes.Aggregate, nodes.Index, nodes.Member)) and id(node) in self.trace:
                return self.formula_value(self.trace[id(node)])
            return None

        return format_expr(expr, substitute) + self.equals(value)


def _context(result: Result, plan: Plan, lang: str, record: SubjectRecord | None) -> _Ctx:
    if lang not in LANGUAGES:
        raise MessageError(f"unknown language `{lang}`; supported: {', '.join(LANGUAGES)}")
    ruleset = plan.checked.ruleset
    points = {r.name: r.points for r in _walk_results(result.criteria)} if result.criteria else {}
    levels = {level.name: level for level in ruleset.rating.levels} if ruleset.rating else {}
    day = (record.on if record is not None else None) or ruleset.in_force.start
    return _Ctx(
        plan=plan,
        result=result,
        lang=lang,
        record=record,
        trace=result.trace or {},
        kinds=_kinds(ruleset),
        points=points,
        day=day,
        levels=levels,
    )


# --------------------------------------------------------------------------- criteria tree


def _group_formula(
    ctx: _Ctx, node: nodes.CriteriaTree | nodes.CriteriaGroup, res: CriterionResult
) -> tuple[str | None, str | None]:
    """``general + results`` and ``27 + 47.578125 = 74.578125`` (penalties subtracted)."""
    if not node.children:
        return None, None
    names: list[str] = []
    shown: list[str] = []
    for i, child in enumerate(node.children):
        minus = isinstance(child, nodes.CriteriaGroup) and child.kind == "penalty"
        op = ("-" if i == 0 else " - ") if minus else ("" if i == 0 else " + ")
        names.append(op + child.name)
        value = ctx.points.get(child.name)
        text = ctx.formula_value(value) if value is not None else None
        shown.append(op + (text if text is not None else child.name))
    return "".join(names), "".join(shown) + ctx.equals(res.raw)


def _criterion_node(
    ctx: _Ctx, node: nodes.CriteriaTree | nodes.CriteriaItem, res: CriterionResult, inherited: str | None
) -> CriterionNode:
    cite = node.cite or inherited
    if isinstance(node, nodes.Criterion):
        formula: str | None = format_expr(node.expr)
        with_values: str | None = ctx.with_values(node.expr, res.raw)
        children: tuple[CriterionNode, ...] = ()
    else:
        formula, with_values = _group_formula(ctx, node, res)
        by_name = {c.name: c for c in res.children}
        children = tuple(
            _criterion_node(ctx, child, by_name[child.name], cite)
            for child in node.children
            if child.name in by_name
        )
    note = None
    if res.capped:
        if res.raw < 0:
            note = ctx.msg("points.floored", raw=ctx.display(res.raw))
        else:
            note = ctx.msg("points.capped", max=format_exact(res.max), raw=ctx.display(res.raw))
    return CriterionNode(
        id=res.name,
        kind=res.kind,
        label=node.label.get(ctx.lang),
        points=ctx.number(res.points),
        raw=ctx.number(res.raw),
        max=ctx.number(res.max),
        formula=formula,
        formula_with_values=with_values,
        cite=ctx.cite(cite),
        capped=res.capped,
        note=note,
        children=children,
    )


# --------------------------------------------------------------------------- lets


def _value_kind(value: Value) -> ValueKind:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Fraction):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, tuple):
        return "list"
    return "none"


def _value_texts(ctx: _Ctx, value: Value) -> tuple[str, str]:
    """(exact, display) of any value."""
    if isinstance(value, bool):
        return ("true" if value else "false"), ctx.msg("value.true" if value else "value.false")
    if isinstance(value, Fraction):
        return format_exact(value), ctx.display(value)
    if isinstance(value, str):
        return value, value
    if isinstance(value, dt.date):
        return value.isoformat(), _date_text(ctx, value)
    if isinstance(value, tuple):
        return str(len(value)), ctx.msg("value.items", count=len(value))
    return "", ctx.msg("value.none")


def _let_order(ctx: _Ctx) -> list[str]:
    """Lets in evaluation order (the plan's), then any left in declaration order."""
    order = [s.name for s in ctx.plan.steps if s.kind == "let"]
    seen = set(order)
    order.extend(let.name for let in ctx.ruleset.lets if let.name not in seen)
    return [name for name in order if name in ctx.result.values]


def _values(ctx: _Ctx) -> tuple[ValueEntry, ...]:
    lets = {let.name: let for let in ctx.ruleset.lets}
    entries = []
    for name in _let_order(ctx):
        let = lets.get(name)
        value = ctx.result.values[name]
        exact, display = _value_texts(ctx, value)
        entries.append(ValueEntry(
            id=name,
            label=let.label.get(ctx.lang) if let and let.label else name,
            type=_value_kind(value),
            exact=exact,
            display=display,
            formula=format_expr(let.expr) if let else None,
            formula_with_values=ctx.with_values(let.expr, value) if let else None,
            cite=ctx.cite(let.cite) if let else None,
        ))
    return tuple(entries)


# --------------------------------------------------------------------------- decision


def _total_text(ctx: _Ctx, total: Fraction) -> str:
    """The total for a sentence: displayed, with more decimals if rounding would cross a band
    boundary (89.996 must not read as 90.00 next to "below 90")."""
    shown = ctx.ruleset.display
    bounds = [b for lv in ctx.levels.values() for b in (lv.lower, lv.upper) if b is not None]
    for decimals in range(shown.decimals, shown.decimals + 13):
        text = format_number(total, decimals, shown.mode)
        rounded = Fraction(text)
        if all((total < b) == (rounded < b) for b in bounds):
            return text
    return format_exact(total)


def _reason_text(ctx: _Ctx, decision: LevelDecision, total: Fraction | None) -> str:
    level = ctx.level_ref(decision.level).label
    band_level = ctx.levels.get(decision.band_level)
    band = band_phrase(band_level, ctx.lang) if band_level else decision.band_level
    total_text = _total_text(ctx, total) if total is not None else "?"
    if decision.reason == "band":
        return ctx.msg("reason.band", total=total_text, band=band, level=level)
    if decision.reason == "fallthrough":
        policy = ctx.ruleset.rating.fallthrough if ctx.ruleset.rating else "highest_met"
        return ctx.msg(f"reason.fallthrough_{policy}", total=total_text, band=band,
                       band_level=ctx.level_ref(decision.band_level).label, level=level)
    if decision.reason == "disqualified":
        fired = [d for d in decision.disqualifiers if d.fired]
        deciding = [d for d in fired if d.target == decision.level] or fired
        labels = [_disqualifier_label(ctx, d.name) for d in deciding]
        return ctx.msg("reason.disqualified", disqualifier=ctx.msg("format.list_separator").join(labels),
                       level=level, total=total_text)
    if decision.reason == "quota" and decision.cohort is not None:
        c = decision.cohort
        return ctx.msg("reason.quota", from_level=ctx.level_ref(c.from_level).label, level=level,
                       cite=ctx.cite(c.cite) or c.rule, group=_group_text(c.group), allowed=c.allowed,
                       eligible=c.eligible, rate=f"{format_exact(c.percent)}%", rank=c.rank, total=total_text)
    if decision.reason == "rating_count":
        combined = ctx.result.combined
        counts = _counts_text(ctx, combined.counts if combined is not None else ())
        if combined is not None and combined.rule is not None:
            return ctx.msg("reason.rating_count", counts=counts, rule=combined.rule, level=level)
        return ctx.msg("reason.rating_count_otherwise", counts=counts, level=level)
    override = decision.override
    if override is None:  # an "override" decision always carries its override
        raise ValueError("a decision with reason `override` has no override")
    return ctx.msg("reason.override", level=level, decided_by=override.decided_by,
                   decided_on=_date_text(ctx, override.decided_on), clause=override.clause,
                   reason=override.reason.rstrip(" ."), band_level=ctx.level_ref(decision.band_level).label)


def _decision(ctx: _Ctx, decision: LevelDecision, total: Fraction | None) -> Decision:
    rating = ctx.ruleset.rating
    band_level = ctx.levels.get(decision.band_level)
    final = ctx.levels.get(decision.level)
    conditions = []
    for cond in decision.conditions:
        level = ctx.levels.get(cond.level)
        decl = next((c for c in level.conditions if c.name == cond.name), None) if level else None
        conditions.append(ConditionOut(
            level=ctx.level_ref(cond.level),
            id=cond.name,
            label=decl.label.get(ctx.lang) if decl else cond.name,
            met=cond.met,
            formula=format_expr(decl.expr) if decl else None,
            formula_with_values=ctx.with_values(decl.expr, cond.met) if decl else None,
            cite=ctx.cite((decl.cite if decl else None) or (level.cite if level else None)),
        ))
    disqualifiers = []
    for dq in decision.disqualifiers:
        ddecl = _disqualifier_decl(ctx, dq.name)
        disqualifiers.append(DisqualifierOut(
            id=dq.name,
            label=ddecl.label.get(ctx.lang) if ddecl else dq.name,
            fired=dq.fired,
            target=ctx.level_ref(dq.target),
            formula=format_expr(ddecl.when) if ddecl else None,
            formula_with_values=ctx.with_values(ddecl.when, dq.fired) if ddecl else None,
            cite=ctx.cite((ddecl.cite if ddecl else None) or (rating.cite if rating else None)),
        ))
    override = None
    if decision.override is not None:
        o = decision.override
        override = OverrideOut(level=ctx.level_ref(o.level), decided_by=o.decided_by,
                               decided_on=o.decided_on, clause=o.clause, reason=o.reason)
    return Decision(
        band=Band(
            level=ctx.level_ref(decision.band_level),
            phrase=band_phrase(band_level, ctx.lang) if band_level else decision.band_level,
            cite=ctx.cite((band_level.cite if band_level else None) or (rating.cite if rating else None)),
        ),
        level=ctx.level_ref(decision.level),
        reason=decision.reason,
        reason_text=_reason_text(ctx, decision, total),
        cite=ctx.cite(decision.override.clause if decision.override is not None else
                      decision.cohort.cite if decision.reason == "quota" and decision.cohort is not None else
                      (final.cite if final else None) or (rating.cite if rating else None)),
        conditions=tuple(conditions),
        disqualifiers=tuple(disqualifiers),
        passed_over=tuple(ctx.level_ref(name) for name in decision.passed_over),
        override=override,
        cohort=_cohort_out(ctx, decision.cohort) if decision.cohort is not None else None,
    )


# --------------------------------------------------------------------------- entry points


def explain(
    result: Result, plan: Plan, lang: str = "vi", *, record: SubjectRecord | None = None,
    previous: Previous | None = None,
) -> Explanation:
    """Explain a result: criteria tree, intermediate values, decision, each with its clause.

    Args:
        result: the evaluated result; with a ``FullTracer`` trace, aggregates and the inputs
            read at the top level of formulas are shown with their values.
        plan: the plan that produced ``result``.
        lang: ``"vi"`` (default) or ``"en"``.
        record: the evaluated record; without a trace, inputs in formulas take their values
            from it (and params follow its ``on`` day).
        previous: the same subject's previous period (result, plan, record): ``change`` then
            says what changed and why the level fell or rose (:mod:`kpi_rules.change`).

    Raises:
        MessageError: for an unknown language.

    Example::

        explanation = explain(evaluate_record(plan, record, FullTracer()), plan, "en")
        print(explanation.model_dump_json(indent=2))
    """
    ctx = _context(result, plan, _lang(lang), record)
    ruleset = ctx.ruleset
    criteria = None
    if result.criteria is not None and ruleset.criteria is not None:
        criteria = _criterion_node(ctx, ruleset.criteria, result.criteria, None)
    decision = _decision(ctx, result.decision, result.total) if result.decision else None
    return Explanation(
        subject=SubjectInfo(id=result.subject_id, name=result.subject_name, period=result.period),
        lang=_lang(lang),
        status=result.status,
        status_text=ctx.msg(f"status.{result.status}"),
        total=ctx.number(result.total) if result.total is not None else None,
        max=ctx.number(ruleset.criteria.max) if ruleset.criteria is not None else None,
        level=ctx.level_ref(result.decision.level) if result.decision else None,
        criteria=criteria,
        values=_values(ctx),
        decision=decision,
        insufficient=_insufficient(ctx),
        periods=_periods_out(ctx, result.combined) if result.combined is not None else None,
        provenance=ProvenanceOut(
            ruleset_id=result.provenance.ruleset_id,
            version=result.provenance.version,
            content_hash=result.provenance.content_hash,
            title=ruleset.title.get(ctx.lang),
            basis=ruleset.basis,
        ),
        related=_related(ctx),
        # The advice is not what the skeletons compute: follow the library's current one.
        next_level=_current_next_level(ctx, next_level_advice(plan, record, result)) if record is not None else None,
        change=_change(previous, result, plan, record, ctx.lang) if previous is not None else None,
    )


def _next_level(ctx: _Ctx, advice: NextLevelAdvice | None) -> NextLevelOut | None:
    """The distance to the next level up and the single-input changes that reach it."""
    if advice is None:
        return None
    level = advice.level
    ref = Ref(id=level.name, label=level.label.get(ctx.lang))
    blocked = tuple(
        Ref(id=b.name, label=ctx.msg(f"advice.{b.kind}", label=b.label.get(ctx.lang) if b.label else b.name))
        for b in advice.blocked_by
    )
    # Rounded up, so the points said to be missing are never fewer than those really missing.
    missing = Number(exact=format_exact(advice.points_missing),
                     display=format_number(advice.points_missing, ctx.ruleset.display.decimals, "up"))
    if advice.points_missing > 0 and level.lower is not None:
        text = ctx.msg("advice.missing", points=missing.display,
                       lower=format_exact(level.lower), level=ref.label)
    else:
        text = ctx.msg("advice.band_reached", level=ref.label)
    if blocked:
        text += " " + ctx.msg("advice.blocked", blocked=ctx.msg("format.list_separator").join(b.label for b in blocked))
    suggestions = []
    for s in advice.suggestions:
        label = s.label.get(ctx.lang)
        if s.item is not None:
            item = s.item_key or (s.item_label.get(ctx.lang) if s.item_label else "")
            label = ctx.msg("advice.item", label=label, number=s.item + 1, item=item)
        reached = ctx.level_ref(s.level)
        old, new = ctx.number(s.from_value), ctx.number(s.to_value)
        suggestions.append(SuggestionOut(
            path=s.path, label=label, direction=s.direction, from_value=old, to_value=new, level=reached,
            text=ctx.msg("advice.increase" if s.direction == "increasing" else "advice.decrease", label=label,
                         path=s.path, old=old.exact, new=new.exact, level=reached.label),
        ))
    return NextLevelOut(level=ref, points_missing=missing, blocked_by=blocked,
                        suggestions=tuple(suggestions), text=text)

