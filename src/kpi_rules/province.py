"""The province driver: :class:`~kpi_rules.bundle.Bundle` + :class:`~kpi_rules.org.Province` → :class:`ProvinceResult`.

Every record is still rated by :func:`kpi_rules.evaluator.evaluate_record` with its role's
plan; this module only decides the order and supplies the relation values. For each period:

1. the subjects are put in dependency order (:func:`dependency_order`): a subject comes after
   every subject its rule set reads through a relation (staff before their deputies and heads,
   lower units before higher ones). The order is the same in every period, as the tree is; a
   cycle between two subjects is rejected before anything is rated (KR715, naming both ids);
2. each subject's record is checked by its role's rule set and rated with the relation values
   (:class:`~kpi_rules.results.RelatedResult`) made from the results of the same period
   already computed. A subject without a record in the period is "no record" (not rated); a
   rejected record is reported with its id and the others are still rated; a subject that
   reads a rejected subject reads it as not rated, and a note (KR717) says so;
3. the periods are combined into the year and the excellent quota is applied, through
   :func:`combine_and_rank` (``kpi_rules.periods`` and ``kpi_rules.cohort``, when the rule
   sets declare ``periods`` and ``cohort`` blocks).
"""

from __future__ import annotations

import dataclasses
import heapq
import importlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from types import MappingProxyType
from typing import Any, cast

from kpi_rules.bundle import Bundle
from kpi_rules.diagnostics import Diagnostic, DiagnosticError, Severity
from kpi_rules.evaluator import EvaluationError, evaluate_record
from kpi_rules.explainer import explain as explain_result
from kpi_rules.models import Explanation
from kpi_rules.org import Province, Rejection
from kpi_rules.plan import Plan
from kpi_rules.results import Related, RelatedResult, Result, SubjectRecord
from kpi_rules.trace import FullTracer

__all__ = [
    "ProvinceResult",
    "combine_and_rank",
    "dependency_order",
    "evaluate_province",
    "explain_subject",
    "level_counts",
    "rank_years",
]

#: ``RelatedResult.note`` values.
NO_RECORD = "no_record"
REJECTED = "rejected"
INSUFFICIENT = "insufficient_data"
NO_RULES = "no_rule_set"


@dataclass(frozen=True, slots=True)
class ProvinceResult:
    """Everything a province run produced."""

    province: Province
    bundle: Bundle
    #: The periods of the data, in order.
    periods: tuple[str, ...]
    #: Results per (subject, period); subjects without a record in a period have none.
    results: Mapping[tuple[str, str], Result]
    #: The typed records behind :attr:`results`, with their relation values (for explanations).
    records: Mapping[tuple[str, str], SubjectRecord]
    #: Results per (subject, year), when the rule sets declare how periods combine.
    years: Mapping[tuple[str, str], Result] = field(default_factory=dict)
    #: Records not rated: problems of the file and of each record, naming the subject and period.
    rejected: tuple[Rejection, ...] = ()
    #: Warnings: a subject read a related subject whose record was rejected (KR717).
    notes: tuple[Diagnostic, ...] = ()
    #: The evaluation order of the subjects (the same in every period).
    order: tuple[str, ...] = ()
    #: What the quota stage reported (demotions), as ``kpi_rules.cohort`` gives them.
    quota_reports: tuple[object, ...] = ()
    #: Which of the optional stages ran, e.g. ``("periods", "cohort")``, and why others did not.
    stages: Mapping[str, str] = field(default_factory=dict)

    def counts(self, span: str | None = None) -> dict[str, dict[str, int]]:
        """Role → level (or ``insufficient_data``) → count, for one period or year (None: all periods)."""
        return level_counts(self, span)

    def result(self, subject: str, period: str) -> Result | None:
        return self.results.get((subject, period)) or self.years.get((subject, period))


def level_counts(outcome: ProvinceResult, span: str | None = None) -> dict[str, dict[str, int]]:
    """Counts per role and level (``insufficient_data``, ``rejected`` and ``no_record`` included)."""
    out: dict[str, dict[str, int]] = {}
    province = outcome.province
    chosen: list[tuple[tuple[str, str], Result]] = []
    if span is None:
        chosen = list(outcome.results.items())
    else:
        source = outcome.years if any(k[1] == span for k in outcome.years) else outcome.results
        chosen = [(k, r) for k, r in source.items() if k[1] == span]
    for (subject, _), result in chosen:
        role = province.role_of(subject) or "?"
        key = result.level if result.level is not None else result.status
        bucket = out.setdefault(role, {})
        bucket[key] = bucket.get(key, 0) + 1
    for rejection in outcome.rejected:
        if span is None or rejection.period == span:
            role = province.role_of(rejection.subject) or "?"
            bucket = out.setdefault(role, {})
            bucket["rejected"] = bucket.get("rejected", 0) + 1
    return out


# --------------------------------------------------------------------------- order


def _reads_through(province: Province, subject: str, relations: Sequence[Any], bundle: Bundle) -> list[tuple[str, str]]:
    """(relation, related subject id) for every relation of ``relations`` (the subject's rule set's)."""
    out: list[tuple[str, str]] = []
    for rel in relations:
        ids = province.related_ids(subject, rel.name, bundle.settings)
        if isinstance(ids, tuple):
            out.extend(zip(repeat(rel.name), ids))
        elif ids is not None:
            out.append((rel.name, ids))
    return out


def dependency_order(bundle: Bundle, province: Province) -> tuple[str, ...]:
    """Every subject after the subjects it reads; ties keep the file order (units, then people).

    Raises:
        DiagnosticError: KR715 for a cycle between subjects, naming both ends and the relations.
    """
    subjects = province.subjects()
    # Only subjects whose role declares relations read anyone (at scale: the leaders and units).
    relations: dict[str, Sequence[Any]] = {}
    for role in {"unit", *(p.role for p in province.people.values())}:
        rules = bundle.rules_for(role)
        relations[role] = rules.plan.checked.subject.relations if rules is not None else ()
    needs: dict[str, list[tuple[str, str]]] = {}
    for unit in province.units:
        if relations["unit"]:
            needs[unit] = _reads_through(province, unit, relations["unit"], bundle)
    for pid, person in province.people.items():
        if relations[person.role]:
            needs[pid] = _reads_through(province, pid, relations[person.role], bundle)
    waiting: dict[str, int] = {}
    readers: defaultdict[str, list[str]] = defaultdict(list)
    problems: list[Diagnostic] = []
    for s, reads in needs.items():
        for rel, t in reads:
            if t == s:
                problems.append(Diagnostic("KR715", f"`{s}` reads itself through `{rel}`", where=f"subject {s}",
                                           hint="a subject cannot depend on its own result"))
        others = {t for _, t in reads if t != s}
        waiting[s] = len(others)
        for t in others:
            readers[t].append(s)
    if problems:
        raise DiagnosticError(problems)
    # The ready subject of the lowest position next: those ready from the start come in file
    # order, so only the ones freed later need the heap (a heap of every subject is most of the cost).
    position = {s: i for i, s in enumerate(subjects)}
    initial = [i for i, s in enumerate(subjects) if not waiting.get(s)]
    ready: list[tuple[int, str]] = []
    order: list[str] = []
    k = 0
    while k < len(initial) or ready:
        if ready and (k == len(initial) or ready[0][0] < initial[k]):
            s = heapq.heappop(ready)[1]
        else:
            s = subjects[initial[k]]
            k += 1
        order.append(s)
        for r in readers.get(s, ()):
            waiting[r] -= 1
            if waiting[r] == 0:
                heapq.heappush(ready, (position[r], r))
    if len(order) < len(subjects):
        raise DiagnosticError(_cycles(province, {s: needs.get(s, []) for s in subjects}, set(subjects) - set(order)))
    return tuple(order)


def _cycles(province: Province, needs: Mapping[str, list[tuple[str, str]]], left: set[str]) -> list[Diagnostic]:
    """One diagnostic per cycle among the subjects left unordered, naming both ends."""
    out: list[Diagnostic] = []
    seen: set[str] = set()
    for start in sorted(left):
        if start in seen:
            continue
        path: list[tuple[str, str, str]] = []  # (reader, relation, read)
        index: dict[str, int] = {}
        current = start
        while current not in index:
            index[current] = len(path)
            rel, nxt = next((r, t) for r, t in needs[current] if t in left)
            path.append((current, rel, nxt))
            current = nxt
        cycle = path[index[current]:]
        seen.update(a for a, _, _ in cycle)
        first, last = cycle[0], cycle[-1]
        steps = "; ".join(f"`{a}` ({province.role_of(a)}) reads `{b}` through `{rel}`" for a, rel, b in cycle)
        out.append(Diagnostic(
            "KR715", f"`{first[0]}` and `{last[0]}` depend on each other: {steps}",
            where=f"subject {first[0]}",
            hint="the rule sets of their roles read each other's results; one of them must not "
                 "(e.g. a head reading `unit.level` while the unit reads `head.total`)"))
    return out


# --------------------------------------------------------------------------- one province


def evaluate_province(bundle: Bundle, data: Province, *, trace: bool = False,
                      progress: Callable[[int], None] | None = None, rank: bool = True) -> ProvinceResult:
    """Rate every subject of the province in every period, then combine the periods.

    Args:
        bundle: the rule set per role (:func:`kpi_rules.bundle.load_bundle`).
        data: the province (:func:`kpi_rules.org.load_province`).
        trace: keep expression values in every result (for explanations; slower).
        progress: called with the number of records done, as they are rated
            (see :mod:`kpi_rules.progress`).
        rank: apply the cohort rules (the quota) to the year results. ``False`` leaves them
            unranked, for a caller that rates parts of a province apart and resolves the quota
            afterwards with :func:`rank_years` (``kpi_rules.distributed``).

    Raises:
        DiagnosticError: KR715 when two subjects depend on each other.
    """
    order = dependency_order(bundle, data)
    by_period: dict[str, dict[str, Mapping[str, object]]] = {}
    for rec in data.records:
        by_period.setdefault(rec.period, {})[rec.subject] = rec.raw
    results: dict[tuple[str, str], Result] = {}
    records: dict[tuple[str, str], SubjectRecord] = {}
    rejected: list[Rejection] = list(data.rejected)
    notes: list[Diagnostic] = []
    relations = {role: tuple(rr.rules.plan.checked.subject.relations) for role, rr in bundle.roles.items()}
    periods = data.periods()
    for period in periods:
        raws = by_period.get(period, {})
        view: dict[str, RelatedResult] = {}
        for subject in order:
            role = data.role_of(subject) or ""
            name = data.name_of(subject)
            rules = bundle.rules_for(role)
            raw = raws.get(subject)
            if progress is not None and raw is not None:
                progress(1)
            if rules is None or raw is None:
                view[subject] = RelatedResult(subject, note=NO_RULES if rules is None else NO_RECORD, name=name)
                continue
            try:
                typed = rules.record(raw)
            except DiagnosticError as error:
                rejected.append(Rejection(subject, period, error.diagnostics))
                view[subject] = RelatedResult(subject, note=REJECTED, name=name)
                continue
            related: dict[str, tuple[RelatedResult, ...] | RelatedResult | None] = {}
            for rel in relations.get(role, ()):
                ids = data.related_ids(subject, rel.name, bundle.settings)
                if isinstance(ids, tuple):
                    related[rel.name] = tuple(view[i] for i in ids)
                else:
                    related[rel.name] = view[ids] if ids is not None else None
                for other in _as_tuple(related[rel.name]):
                    if other.note == REJECTED:
                        notes.append(rejected_read_note(subject, other.id, rel.name, period))
            typed = dataclasses.replace(typed, related=MappingProxyType(related), period=period)
            try:
                result = evaluate_record(rules.plan, typed, FullTracer() if trace else None)
            except EvaluationError as error:
                rejected.append(Rejection(subject, period, (error.diagnostic,)))
                view[subject] = RelatedResult(subject, note=REJECTED, name=name)
                continue
            results[(subject, period)] = result
            records[(subject, period)] = typed
            rated = result.status == "rated"
            view[subject] = RelatedResult(subject, result.total, result.level, rated, typed.inputs,
                                          None if rated else INSUFFICIENT, name)
    years, quota, stages = combine_and_rank(bundle, data, results, rank=rank)
    return ProvinceResult(data, bundle, periods, MappingProxyType(results), MappingProxyType(records),
                          MappingProxyType(years), tuple(rejected), tuple(notes), order, quota,
                          MappingProxyType(stages))


def rejected_read_note(subject: str, other: str, relation: str, period: str) -> Diagnostic:
    """KR717: ``subject`` reads ``other`` through ``relation``, whose record was rejected."""
    return Diagnostic(
        "KR717", f"`{subject}` reads `{other}` ({relation}), whose record for {period} was "
        "rejected: it is read as not rated", severity=Severity.WARNING,
        where=f"record {subject} ({period})",
        hint=f"correct the record of `{other}` and rate again")


def _as_tuple(value: tuple[RelatedResult, ...] | RelatedResult | None) -> tuple[RelatedResult, ...]:
    if value is None:
        return ()
    return value if isinstance(value, tuple) else (value,)


# --------------------------------------------------------------------------- periods and quota (the seam)


def _optional(module: str, name: str) -> Callable[..., Any] | None:
    try:
        found = importlib.import_module(f"kpi_rules.{module}")
    except ImportError:
        return None
    func = getattr(found, name, None)
    return cast("Callable[..., Any]", func) if callable(func) else None


def _declares(plan: Plan, attribute: str) -> bool:
    value = getattr(plan.ruleset, attribute, None)
    return bool(value)


def combine_and_rank(
    bundle: Bundle, data: Province, results: Mapping[tuple[str, str], Result], *, rank: bool = True
) -> tuple[dict[tuple[str, str], Result], tuple[object, ...], dict[str, str]]:
    """The seam to the period and quota stages: year results, quota reports, what ran.

    For each role whose rule set declares ``periods``, every subject's period results of each year
    are combined with ``kpi_rules.periods.combine_periods(plan, subject_id, span_label,
    period_results)``; then, for each role whose rule set declares ``cohort`` rules,
    ``kpi_rules.cohort.apply_cohort(plan, results, members)`` applies the quota to the year results
    (``members``: subject id → its unit, task group and other attributes). When a module is not
    there or a rule set declares nothing, that stage is skipped and ``stages`` says why. With
    ``rank=False`` the quota stage is left to the caller (:func:`rank_years`).
    """
    stages: dict[str, str] = {}
    combine = _optional("periods", "combine_periods")
    years: dict[tuple[str, str], Result] = {}
    if combine is None:
        stages["periods"] = "skipped: kpi_rules.periods is not available"
    # Every result grouped by role, subject and year in one pass (the role of each subject looked
    # up once), in the order of ``results``.
    by_role: dict[str | None, dict[tuple[str, str], list[Result]]] = {}
    roles_of: dict[str, str | None] = {}
    for (subject, period), result in results.items():
        role_here = roles_of.get(subject, "")
        if role_here == "":
            role_here = roles_of[subject] = data.role_of(subject)
        by_role.setdefault(role_here, {}).setdefault((subject, period[:4]), []).append(result)
    for role, rr in bundle.roles.items():
        plan = rr.rules.plan
        if combine is None:
            break
        if not _declares(plan, "periods"):
            stages.setdefault("periods", f"skipped for {role}: {rr.rules.id} declares no periods block")
            continue
        grouped = by_role.get(role, {})
        for (subject, year), period_results in sorted(grouped.items()):
            years[(subject, year)] = combine(plan, subject, year, tuple(period_results))
        stages["periods"] = "ran"
    if not rank:
        return years, (), stages
    ranked, reports, ranked_stages = rank_years(bundle, data, years)
    return ranked, reports, {**stages, **ranked_stages}


def rank_years(
    bundle: Bundle, data: Province, unranked: Mapping[tuple[str, str], Result]
) -> tuple[dict[tuple[str, str], Result], tuple[object, ...], dict[str, str]]:
    """The quota stage alone: the cohort rules applied to the year results of a whole province.

    ``unranked`` must hold every subject of each cohort group (a group may span parts of the
    province rated apart); its order is the one :func:`combine_and_rank` builds (roles in bundle
    order, then subject and year), which fixes the order of the reports.
    """
    stages: dict[str, str] = {}
    cohort = _optional("cohort", "apply_cohort")
    years = dict(unranked)
    reports: list[object] = []
    if cohort is None:
        stages["cohort"] = "skipped: kpi_rules.cohort is not available"
        return years, tuple(reports), stages
    # Roles whose rule sets declare the same cohort rules (staff, deputies and heads through
    # `extends`) form one cohort: a head and a deputy of one unit share its leaders' group.
    together: dict[object, list[str]] = {}
    for role, rr in bundle.roles.items():
        plan = rr.rules.plan
        if not _declares(plan, "cohorts"):
            stages.setdefault("cohort", f"skipped for {role}: {rr.rules.id} declares no cohort rule")
            continue
        together.setdefault(getattr(plan.ruleset, "cohorts"), []).append(role)
    for roles in together.values():
        plan = bundle.roles[roles[0]].rules.plan
        mine = [(k, r) for k, r in years.items() if data.role_of(k[0]) in roles]
        members = {k[0]: _member_info(data, k[0]) for k, _ in mine}
        adjusted, found = cohort(plan, tuple(r for _, r in mine), members)
        for (key, _), new in zip(mine, adjusted):
            years[key] = new
        reports.extend(found)
        stages["cohort"] = "ran"
    return years, tuple(reports), stages


def _member_info(data: Province, subject: str) -> Mapping[str, object]:
    """The keys a cohort rule may group by: ``unit``, ``agency`` (the unit's root in the tree: the
    department or commune), ``task_group``, ``role`` and the subject's other attributes."""
    person = data.people.get(subject)
    if person is None:
        unit = data.units[subject]
        return {"unit": unit.parent, "agency": _agency(data, unit.parent or unit.id), "task_group": unit.kind,
                **unit.attributes}
    return {"unit": person.unit, "agency": _agency(data, person.unit), "task_group": person.task_group,
            "role": person.role, **person.attributes}


def _agency(data: Province, unit_id: str) -> str:
    """The root of a unit's chain of parents (the tree has no cycles: org.py checks it)."""
    unit = data.units[unit_id]
    while unit.parent is not None:
        unit = data.units[unit.parent]
    return unit.id


# --------------------------------------------------------------------------- explanations


def explain_subject(outcome: ProvinceResult, subject: str, period: str | None = None,
                    lang: str = "vi") -> Explanation:
    """Explain one subject's result in one period (default: its last period with a result), or
    in a half-year or year (``2026``): the combination of its periods, after the quota.

    A period's record is rated again with a full trace, with the same relation values.

    Raises:
        KeyError: when the subject has no result in that period (the message says why).
    """
    span_result = outcome.years.get((subject, period)) if period is not None else None
    if span_result is not None:
        role = outcome.province.role_of(subject) or ""
        span_rules = outcome.bundle.rules_for(role)
        assert span_rules is not None
        return explain_result(span_result, span_rules.plan, lang)
    if period is None:
        mine = [p for p in outcome.periods if (subject, p) in outcome.records]
        if not mine:
            raise KeyError(_why_none(outcome, subject, None))
        period = mine[-1]
    record = outcome.records.get((subject, period))
    if record is None:
        raise KeyError(_why_none(outcome, subject, period))
    role = outcome.province.role_of(subject) or ""
    rules = outcome.bundle.rules_for(role)
    assert rules is not None
    result = evaluate_record(rules.plan, record, FullTracer())
    return explain_result(result, rules.plan, lang, record=record)


def _why_none(outcome: ProvinceResult, subject: str, period: str | None) -> str:
    if outcome.province.kind_of(subject) is None:
        return f"`{subject}` is neither a unit nor a person of the province"
    for rejection in outcome.rejected:
        if rejection.subject == subject and (period is None or rejection.period == period):
            return f"the record of `{subject}` for {rejection.period} was rejected"
    when = f" for {period}" if period else ""
    return f"`{subject}` has no rated record{when}"


def related_of(record: SubjectRecord) -> Related:
    """The relation values a record was rated with."""
    return record.related


def iter_results(outcome: ProvinceResult, periods: Sequence[str] | None = None) -> Iterable[Result]:
    """The period results in evaluation order, period by period."""
    for period in periods or outcome.periods:
        for subject in outcome.order:
            found = outcome.results.get((subject, period))
            if found is not None:
                yield found
