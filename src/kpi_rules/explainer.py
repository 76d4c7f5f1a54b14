"""Explanations: :class:`~kpi_rules.results.Result` + :class:`~kpi_rules.plan.Plan` →
:class:`~kpi_rules.models.Explanation`.

The explainer walks the rule set's criteria tree alongside the result's, and shows for every
node and every ``let`` its label, its exact and displayed value, its formula, the formula with
values substituted, and the clause of law it rests on. Labels come from the rule set
(``Text.get(lang)``) and every fixed phrase from :mod:`kpi_rules.i18n`.

Every number shown is read from the result (or the trace, the record, the plan's params): the
explainer never recomputes a value. In a formula with values, a name is replaced by its value
(lets and criteria from the result; inputs and params from the trace, else from the record and
the plan), and an aggregate, a table lookup or a field read by its traced value. Calls keep
their shape (``min(percent(22, 32, if_zero: insufficient_data), 100)``) so the reader sees the
rule; the expression itself is never replaced, its value follows ``=``. A value that is not a
terminating decimal is shown rounded with ``≈``.

:func:`explain` is built by :mod:`kpi_rules.explain_plan`: an explanation skeleton compiled
once per plan and language, filled with the result's values into the JSON of the explanation
(the bytes bulk output writes), from which the model is read. The functions here build the
parts that skeleton leaves to them (insufficient data, combined periods, quota and override
decisions, related subjects, the next-level advice) and the summary rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Literal

from kpi_rules import nodes
from kpi_rules.advice import NextLevelAdvice, Suggestion, span_advice
from kpi_rules.i18n import LANGUAGES, MessageError, catalogue, message

if TYPE_CHECKING:
    from kpi_rules.change import Previous
    from kpi_rules.explain_plan import ExplanationSkeleton
from kpi_rules.models import (
    Band,
    CohortOut,
    CombinedSuggestionOut,
    ConditionOut,
    Decision,
    DisqualifierOut,
    Explanation,
    Insufficient,
    Lang,
    LevelChangeOut,
    NextLevelOut,
    Number,
    OverrideOut,
    PeriodOut,
    PeriodsOut,
    Ref,
    RelatedOut,
    RelatedSubjectOut,
    ResultSummary,
    SuggestionOut,
)
from kpi_rules.plan import Plan
from kpi_rules.printer import format_expr
from kpi_rules.periods import NO_RATED_PERIOD
from kpi_rules.results import CohortDecision, Combination, CriterionResult, LevelDecision, Result, SubjectRecord, Value
from kpi_rules.values import format_exact, format_number

__all__ = ["cite_with_basis", "explain", "summarize"]

#: Citations that start with one of these are clauses of the rule set's legal basis, so the
#: basis is appended ("Điều 16 khoản 1" → "Điều 16 khoản 1, Nghị định 335/2025/NĐ-CP"). Other
#: citations (a project default, another act) are shown as written.
_LEGAL_HEADINGS = (
    "điều", "khoản", "điểm", "mục", "mẫu", "phụ lục", "chương",
    "article", "clause", "point", "form", "annex", "appendix", "chapter",
)


def cite_with_basis(cite: str | None, basis: str) -> str | None:
    """Combine a clause with the rule set's legal basis.

    >>> cite_with_basis("Điều 16 khoản 1", "Nghị định 335/2025/NĐ-CP")
    'Điều 16 khoản 1, Nghị định 335/2025/NĐ-CP'
    >>> cite_with_basis("docs/defaults.md: a, b, c above 100%", "Nghị định 335/2025/NĐ-CP")
    'docs/defaults.md: a, b, c above 100%'
    """
    if cite is None:
        return None
    text = cite.strip()
    if not basis or basis.casefold() in text.casefold():
        return text
    if text.casefold().startswith(_LEGAL_HEADINGS):
        return f"{text}, {basis}"
    return text


# --------------------------------------------------------------------------- context


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
    # One source for values in formulas: the explanation skeleton of the plan (explain_plan.py).

    def formula_value(self, value: Value) -> str | None:
        """A value substituted into a formula (``≈`` before a value shown rounded)."""
        plain = self.skeleton().formats.plain(value)
        return plain[0] if plain is not None else None

    def equals(self, value: Value) -> str:
        """`` = value`` after a formula (`` ≈ value`` when the value is shown rounded)."""
        return self.skeleton().formats.equals(value)

    def with_values(self, expr: nodes.Expr, value: Value) -> str:
        from kpi_rules.explain_plan import fill_formula

        return fill_formula(self.plan, self.lang, self.result, self.record, expr, value)

    def skeleton(self) -> ExplanationSkeleton:
        from kpi_rules.explain_plan import skeleton_for

        return skeleton_for(self.plan, self.lang)


def _kinds(ruleset: nodes.Ruleset) -> dict[str, str]:
    kinds: dict[str, str] = {}
    for subject in ruleset.subjects:
        if subject.name == ruleset.rates:
            kinds.update((i.name, "input") for i in subject.inputs)
            kinds.update((r.name, "relation") for r in subject.relations)
    kinds.update((p.name, "param") for p in ruleset.params)
    kinds.update((t.name, "table") for t in ruleset.tables)
    kinds.update((let.name, "let") for let in ruleset.lets)
    if ruleset.criteria is not None:
        for item in _walk_criteria(ruleset.criteria):
            kinds[item.name] = "criterion"
    return kinds


def _walk_criteria(
    node: nodes.CriteriaTree | nodes.CriteriaItem,
) -> Iterator[nodes.CriteriaTree | nodes.CriteriaItem]:
    yield node
    if not isinstance(node, nodes.Criterion):
        for child in node.children:
            yield from _walk_criteria(child)


def _walk_results(node: CriterionResult) -> Iterator[CriterionResult]:
    yield node
    for child in node.children:
        yield from _walk_results(child)


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


# --------------------------------------------------------------------------- values


def _date_text(ctx: _Ctx, day: dt.date) -> str:
    return ctx.msg("format.date", day=f"{day.day:02d}", month=f"{day.month:02d}", year=f"{day.year:04d}")


# --------------------------------------------------------------------------- decision


def band_phrase(level: nodes.Level, lang: str = "vi") -> str:
    """The band of a level as the decree writes it: ``từ 70 điểm đến dưới 90 điểm``."""
    lower = format_exact(level.lower) if level.lower is not None else None
    upper = format_exact(level.upper) if level.upper is not None else None
    if lower is not None and upper is not None:
        return message("band.from_below", lang, lower=lower, upper=upper)
    if lower is not None:
        return message("band.from", lang, lower=lower)
    if upper is not None:
        return message("band.below", lang, upper=upper)
    return message("band.any", lang)


def _total_text(ctx: _Ctx, total: Fraction) -> str:
    """The total for a sentence: displayed, with more decimals if rounding would cross a band
    boundary (89.996 must not read as 90.00 next to "below 90")."""
    return ctx.skeleton().formats.total_text(total)


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


def _group_text(group: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{key} = {value or '—'}" for key, value in group)


def _counts_text(ctx: _Ctx, counts: tuple[tuple[str, int], ...]) -> str:
    return ctx.msg("format.list_separator").join(
        ctx.msg("periods.count", level=ctx.level_ref(name).label, count=n) for name, n in counts)


def _cohort_out(ctx: _Ctx, c: CohortDecision) -> CohortOut:
    rule = next((r for r in ctx.ruleset.cohorts if r.name == c.rule), None)
    cite = ctx.cite(c.cite)
    rate = f"{format_exact(c.percent)}%"
    params = dict(cite=cite or c.rule, group=_group_text(c.group), allowed=c.allowed, eligible=c.eligible,
                  rank=c.rank)
    if c.demoted:
        text = ctx.msg("cohort.demoted", from_level=ctx.level_ref(c.from_level).label,
                       level=ctx.level_ref(c.to_level).label, **params)
    else:
        text = ctx.msg("cohort.kept", level=ctx.level_ref(c.from_level).label, rate=rate, **params)
    return CohortOut(
        rule=Ref(id=c.rule, label=rule.label.get(ctx.lang) if rule is not None else c.rule),
        group=_group_text(c.group), eligible=c.eligible, allowed=c.allowed, rank=c.rank,
        rate=rate + (f" ({ctx.msg('cohort.exception')})" if c.exception else ""), exception=c.exception,
        demoted=c.demoted, from_level=ctx.level_ref(c.from_level), to_level=ctx.level_ref(c.to_level),
        text=text, cite=cite,
    )


def _periods_out(ctx: _Ctx, combined: Combination) -> PeriodsOut:
    decl = ctx.ruleset.periods
    items = []
    for use in combined.periods:
        items.append(PeriodOut(
            period=use.period, used=use.used, status=use.status,
            note=ctx.msg("periods.used" if use.used else f"periods.{use.status}"),
            total=ctx.number(use.total) if use.total is not None else None,
            level=ctx.level_ref(use.level) if use.level is not None else None,
        ))
    used = [u.total for u in combined.periods if u.used and u.total is not None]
    formula = None
    if used and ctx.result.total is not None:
        terms = " + ".join(ctx.formula_value(t) or "?" for t in used)
        formula = f"({terms}) / {len(used)}{ctx.equals(ctx.result.total)}"
    method: Literal["mean", "rating_count"] = "rating_count" if combined.method == "rating_count" else "mean"
    return PeriodsOut(
        method=method, method_text=ctx.msg(f"periods.{method}"), periods=tuple(items),
        formula_with_values=formula,
        counts=tuple((ctx.level_ref(name), n) for name, n in combined.counts),
        cite=ctx.cite(decl.cite) if decl is not None else None,
    )


def _disqualifier_decl(ctx: _Ctx, name: str) -> nodes.Disqualifier | None:
    rating = ctx.ruleset.rating
    return next((d for d in rating.disqualifiers if d.name == name), None) if rating else None


def _disqualifier_label(ctx: _Ctx, name: str) -> str:
    decl = _disqualifier_decl(ctx, name)
    return decl.label.get(ctx.lang) if decl else name


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


def _definition(ctx: _Ctx, name: str) -> tuple[str | None, nodes.Expr | None]:
    """Label and expression of a let, criterion, disqualifier or level condition
    (``"<level>.<condition>"``), as named by ``InsufficientReason.definition``."""
    level_name, _, cond_name = name.partition(".")
    if cond_name and level_name in ctx.levels:
        cond = next((c for c in ctx.levels[level_name].conditions if c.name == cond_name), None)
        return (cond.label.get(ctx.lang), cond.expr) if cond else (None, None)
    dq = _disqualifier_decl(ctx, name)
    if dq is not None:
        return dq.label.get(ctx.lang), dq.when
    for let in ctx.ruleset.lets:
        if let.name == name:
            return (let.label.get(ctx.lang) if let.label else None), let.expr
    if ctx.ruleset.criteria is not None:
        for item in _walk_criteria(ctx.ruleset.criteria):
            if item.name == name:
                return item.label.get(ctx.lang), item.expr if isinstance(item, nodes.Criterion) else None
    return None, None


def _insufficient(ctx: _Ctx) -> Insufficient | None:
    reason = ctx.result.insufficient
    if reason is None:
        return None
    if ctx.result.combined is not None and reason.definition == NO_RATED_PERIOD:
        return Insufficient(definition=reason.definition,
                            message=ctx.msg("periods.none_rated", span=ctx.result.period or ""))
    label, expr = _definition(ctx, reason.definition)
    where = None
    if reason.span is not None:
        line, col = reason.span.line_col()
        where = f"{reason.span.path}:{line}:{col}"
    return Insufficient(
        definition=reason.definition,
        label=label,
        message=ctx.msg("insufficient.message", definition=label or reason.definition),
        formula=format_expr(expr) if expr is not None else None,
        # No value follows: the evaluation stopped inside this formula.
        formula_with_values=ctx.with_values(expr, None) if expr is not None else None,
        where=where,
    )


def _lang(lang: str) -> Lang:
    if lang == "vi":
        return "vi"
    if lang == "en":
        return "en"
    raise MessageError(f"unknown language `{lang}`; supported: {', '.join(LANGUAGES)}")


def explain(
    result: Result, plan: Plan, lang: str = "vi", *, record: SubjectRecord | None = None,
    previous: Previous | None = None, period_records: Sequence[SubjectRecord] = (),
) -> Explanation:
    """Explain a result: criteria tree, intermediate values, decision, each with its clause.

    Args:
        result: the evaluated result; with a ``FullTracer`` trace, aggregates and the inputs
            read at the top level of formulas are shown with their values.
        plan: the plan that produced ``result``.
        lang: ``"vi"`` (default) or ``"en"``.
        record: the evaluated record; without a trace, inputs in formulas take their values
            from it (and params follow its ``on`` day).
        period_records: for a half-year or year, the records of its periods: ``next_level``
            then says which period's inputs to change (:func:`kpi_rules.advice.span_advice`).
        previous: the same subject's previous period (result, plan, record): ``change`` then
            says what changed and why the level fell or rose (:mod:`kpi_rules.change`).

    Raises:
        MessageError: for an unknown language.

    Example::

        explanation = explain(evaluate_record(plan, record, FullTracer()), plan, "en")
        print(explanation.model_dump_json(indent=2))
    """
    # One source: the explanation skeleton of the plan (kpi_rules.explain_plan), filled with
    # this result's values, gives the JSON that bulk output writes; the model is read from it.
    from kpi_rules.explain_plan import explanation_model  # it builds on this module's helpers

    model = explanation_model(result, plan, _lang(lang), record=record, previous=previous)
    if record is None and period_records and result.combined is not None:
        ctx = _context(result, plan, _lang(lang), None)
        model = model.model_copy(update={"next_level": _next_level(ctx, span_advice(plan, period_records, result))})
    return model


def _change(previous: Previous, result: Result, plan: Plan, record: SubjectRecord | None,
            lang: str) -> LevelChangeOut:
    from kpi_rules.change import change_out, level_change  # change.py imports this module

    return change_out(level_change(previous, result, plan, record), lang)


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
    suggestions = tuple(_suggestion_out(ctx, s, "advice.increase", "advice.decrease") for s in advice.suggestions)
    combined = []
    for pair in advice.combined:
        parts = tuple(_suggestion_out(ctx, s, "advice.raise_part", "advice.lower_part") for s in pair.changes)
        reached = ctx.level_ref(pair.level)
        combined.append(CombinedSuggestionOut(changes=parts, level=reached, text=ctx.msg(
            "advice.together", changes=ctx.msg("format.list_separator").join(p.text for p in parts),
            level=reached.label)))
    return NextLevelOut(level=ref, points_missing=missing, blocked_by=blocked,
                        suggestions=suggestions, text=text, combined=tuple(combined))


def _suggestion_out(ctx: _Ctx, s: Suggestion, up: str, down: str) -> SuggestionOut:
    label = s.label.get(ctx.lang)
    if s.item is not None:
        item = s.item_key or (s.item_label.get(ctx.lang) if s.item_label else "")
        label = ctx.msg("advice.item", label=label, number=s.item + 1, item=item)
    reached = ctx.level_ref(s.level)
    old, new = ctx.number(s.from_value), ctx.number(s.to_value)
    key = up if s.direction == "increasing" else down
    params: dict[str, object] = dict(label=label, path=s.path, old=old.exact, new=new.exact)
    if "{level}" in catalogue(ctx.lang)[key]:
        params["level"] = reached.label
    text = ctx.msg(key, **params)
    if s.period is not None:
        text = ctx.msg("advice.in_period", period=s.period, change=text)
    return SuggestionOut(path=s.path, label=label, direction=s.direction, from_value=old, to_value=new,
                         level=reached, text=text, period=s.period)


def _related(ctx: _Ctx) -> tuple[RelatedOut, ...]:
    """The related subjects the record was rated with (relation values of a province run)."""
    record = ctx.record
    if record is None or not record.related:
        return ()
    out: list[RelatedOut] = []
    for rel in ctx.plan.checked.subject.relations:
        if rel.name not in record.related:
            continue
        value = record.related[rel.name]
        items = value if isinstance(value, tuple) else (() if value is None else (value,))
        subjects = tuple(
            RelatedSubjectOut(
                id=item.id,
                name=item.name,
                rated=item.rated,
                total=ctx.number(item.total) if item.total is not None else None,
                level=ctx.level_ref(item.level) if item.level is not None else None,
                note=None if item.rated else ctx.msg(f"related.{item.note or 'not_rated'}"),
            )
            for item in items
        )
        out.append(RelatedOut(relation=rel.name, label=rel.label.get(ctx.lang), subjects=subjects))
    return tuple(out)


def summarize(result: Result, plan: Plan, lang: str = "vi") -> ResultSummary:
    """One row for the results table and ``evaluate --format json``."""
    ctx = _context(result, plan, _lang(lang), None)
    fired: tuple[Ref, ...] = ()
    if result.decision is not None:
        fired = tuple(Ref(id=d.name, label=_disqualifier_label(ctx, d.name))
                      for d in result.decision.disqualifiers if d.fired)
    return ResultSummary(
        id=result.subject_id,
        name=result.subject_name,
        period=result.period,
        status=result.status,
        status_text=ctx.msg(f"status.{result.status}"),
        total=ctx.number(result.total) if result.total is not None else None,
        level=ctx.level_ref(result.decision.level) if result.decision else None,
        disqualifiers=fired,
        insufficient=result.insufficient.definition if result.insufficient else None,
    )
