"""Cohort rules: the excellent quota of Art. 20(5), applied to many results at once.

Input: a :class:`~kpi_rules.plan.Plan` (its ``cohort`` declarations and rating levels), the
:class:`~kpi_rules.results.Result` of many subjects (usually the year's) and, per subject, its
group keys (unit, task group), tie-breaker values and flags. Output: the results with demotions
recorded on their ``LevelDecision`` (``cohort``), in the input order, and one
:class:`CohortReport` per rule and group.

Public functions (plain inputs; the province driver calls them, nothing here depends on it)::

    apply_cohort(plan: Plan, results: Sequence[Result],
                 members: Mapping[str, CohortMember | Mapping[str, object]])
        -> tuple[list[Result], list[CohortReport]]
    allowed_count(eligible: int, percent: Fraction) -> int
    check_cohorts(ruleset: Ruleset, report: Report) -> None   # the validator's KR320, KR325-KR328

The strict reading (domain.md §5, worked example 4): in each group, N people are at the limited
level or the counted one (excellent or good). After the quota the excellent count k must satisfy
k ≤ rate × (N − k), the final good count, so k = ⌊rate × N / (1 + rate)⌋, computed exactly
(20% gives ⌊N/6⌋, 25% gives ⌊N/5⌋). The candidates are ranked by total (highest first), then by
the declared tie-breakers, then, when still tied, by subject id (the report says when that
decided who was kept); the first k keep their level, the others are demoted to the declared level
(good). A group whose every member carries the exception's flag gets the exception's rate. Only
rated results are counted. An override (an authority's decision) is never demoted: overridden
candidates are kept first and use up places (the report notes it).

Example:
    >>> allowed_count(9, Fraction(20)), allowed_count(10, Fraction(20)), allowed_count(10, Fraction(25))
    (1, 1, 2)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from kpi_rules import nodes
from kpi_rules.plan import Plan
from kpi_rules.results import CohortDecision, Result
from kpi_rules.source import Span
from kpi_rules.values import format_exact

__all__ = ["CohortMember", "CohortReport", "RankedMember", "allowed_count", "apply_cohort", "check_cohorts", "cut_notes"]

#: How the validator reports a problem: (code, message, span, hint).
Report = Callable[[str, str, "Span | None", "str | None"], None]

#: The sort key that means the result's total (also accepted: the criteria tree's id).
TOTAL_KEY = "total"

SortValue = Fraction | dt.date


@dataclass(frozen=True, slots=True)
class CohortMember:
    """What a cohort rule needs to know of one subject besides its result.

    ``groups``: the value of each group key (``unit``, ``task_group``); ``tie_breakers``: values
    of the declared tie-breaker inputs; ``flags``: e.g. ``outstanding_unit``.
    """

    groups: Mapping[str, str] = field(default_factory=dict)
    tie_breakers: Mapping[str, SortValue] = field(default_factory=dict)
    flags: Mapping[str, bool] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> CohortMember:
        """From plain attributes (``{"unit": "snv", "task_group": "cv", "seniority": 12,
        "outstanding_unit": True}``): booleans are flags, numbers and dates tie-breakers, the rest
        (text; None as empty text) group values."""
        groups: dict[str, str] = {}
        ties: dict[str, SortValue] = {}
        flags: dict[str, bool] = {}
        for key, value in data.items():
            if isinstance(value, bool):
                flags[key] = value
            elif isinstance(value, (int, Fraction, Decimal)):
                ties[key] = Fraction(value)
            elif isinstance(value, float):
                ties[key] = Fraction(str(value))
            elif isinstance(value, dt.date):
                ties[key] = value
            else:
                groups[key] = "" if value is None else str(value)
        return cls(groups, ties, flags)


@dataclass(frozen=True, slots=True)
class RankedMember:
    subject_id: str
    rank: int
    total: Fraction
    kept: bool


@dataclass(frozen=True, slots=True)
class CohortReport:
    """What one cohort rule did in one group (for the unit summary)."""

    rule: str
    group: tuple[tuple[str, str], ...]
    #: N: rated people of the group at the limited level or the counted one.
    eligible: int
    #: Candidates: people at the limited level before the rule.
    candidates: int
    #: k: how many may keep the limited level.
    allowed: int
    #: The rate applied, as written (20 for 20%), and whether it is the exception's.
    percent: Fraction
    exception: bool
    kept: tuple[RankedMember, ...]
    demoted: tuple[RankedMember, ...]
    #: After the rule: counts at the limited level and at the counted one.
    final_limited: int
    final_counted: int
    #: True when candidates equal on total and every tie-breaker straddled the cut, so the
    #: subject id decided who was kept.
    tie_broken_by_id: bool = False
    notes: tuple[str, ...] = ()
    cite: str | None = None


def allowed_count(eligible: int, percent: Fraction) -> int:
    """The largest k with k ≤ percent/100 × (eligible − k), exactly.

    Example:
        >>> allowed_count(12, Fraction(20)), allowed_count(5, Fraction(20)), allowed_count(6, Fraction(20))
        (2, 0, 1)
    """
    rate = Fraction(percent) / 100
    if eligible <= 0 or rate <= 0:
        return 0
    return math.floor(rate * eligible / (1 + rate))


def apply_cohort(
    plan: Plan,
    results: Sequence[Result],
    members: Mapping[str, CohortMember | Mapping[str, object]],
) -> tuple[list[Result], list[CohortReport]]:
    """Apply every cohort rule of ``plan`` to ``results`` (one result per subject).

    Args:
        plan: the rule set; its ``cohorts`` are applied in declaration order.
        results: results of many subjects (the same period or year).
        members: subject id → :class:`CohortMember` (or plain attributes, read by
            :meth:`CohortMember.from_mapping`) for every rated subject.

    Returns:
        The results in the same order (kept and demoted ones carry a ``CohortDecision``; the
        demoted have the new level and reason ``quota``), and one report per rule and group,
        groups in sorted order.

    Raises:
        KeyError: a rated result whose subject is not in ``members``.
    """
    out = list(results)
    reports: list[CohortReport] = []
    ruleset = plan.ruleset
    level_names = [lv.name for lv in ruleset.rating.levels] if ruleset.rating is not None else []
    total_names = {TOTAL_KEY} | ({ruleset.criteria.name} if ruleset.criteria is not None else set())
    info = {sid: m if isinstance(m, CohortMember) else CohortMember.from_mapping(m) for sid, m in members.items()}
    for rule in ruleset.cohorts:
        groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
        for i, result in enumerate(out):
            if result.status != "rated" or result.decision is None or result.total is None:
                continue
            if result.subject_id not in info:
                raise KeyError(f"no cohort data (unit, task group...) for the subject `{result.subject_id}`")
            member = info[result.subject_id]
            key = tuple((g, member.groups.get(g, "")) for g in rule.groups)
            groups.setdefault(key, []).append(i)
        for key in sorted(groups):
            reports.append(_apply_group(rule, key, groups[key], out, info, total_names, level_names))
    return out, reports


def _apply_group(
    rule: nodes.CohortDecl, key: tuple[tuple[str, str], ...], indexes: list[int], out: list[Result],
    info: Mapping[str, CohortMember], total_names: set[str], level_names: Sequence[str],
) -> CohortReport:
    notes: list[str] = []
    eligible = [i for i in indexes if out[i].level in (rule.level, rule.of)]
    candidates = [i for i in eligible if out[i].level == rule.level]
    flagged = rule.exception_flag is not None and rule.exception_percent is not None and bool(eligible) and all(
        info[out[i].subject_id].flags.get(rule.exception_flag, False) for i in eligible)
    if rule.exception_flag is not None and not flagged and any(
            info[out[i].subject_id].flags.get(rule.exception_flag, False) for i in eligible):
        notes.append(f"`{rule.exception_flag}` is set for some members of the group only; the exception is not applied")
    percent = rule.exception_percent if flagged and rule.exception_percent is not None else rule.percent
    allowed = allowed_count(len(eligible), percent)
    ties = [k for k in rule.order if k.name not in total_names]

    def sort_key(i: int) -> tuple[object, ...]:
        result, member = out[i], info[out[i].subject_id]
        parts: list[object] = [0 if _overridden(result) else 1, -(result.total or Fraction(0))]
        parts.extend(_tie_part(member.tie_breakers.get(k.name), k.direction) for k in ties)
        return tuple(parts)

    ranked = sorted(candidates, key=lambda i: (*sort_key(i), out[i].subject_id))
    overridden = sum(1 for i in ranked if _overridden(out[i]))
    keep = max(min(allowed, len(ranked)), overridden)
    tie_by_id = 0 < keep < len(ranked) and sort_key(ranked[keep - 1]) == sort_key(ranked[keep])
    missing = sorted({k.name for k in ties for i in ranked if k.name not in info[out[i].subject_id].tie_breakers})
    notes.extend(cut_notes(overridden, allowed, tie_by_id, missing))
    kept: list[RankedMember] = []
    demoted: list[RankedMember] = []
    for rank, i in enumerate(ranked, 1):
        result = out[i]
        assert result.decision is not None and result.total is not None
        is_kept = rank <= keep
        decision = CohortDecision(
            rule=rule.name, group=key, eligible=len(eligible), allowed=allowed, rank=rank,
            from_level=rule.level, to_level=rule.level if is_kept else rule.demote_to, demoted=not is_kept,
            percent=percent, exception=flagged, cite=rule.cite,
        )
        if is_kept:
            new = dataclasses.replace(result.decision, cohort=decision)
            kept.append(RankedMember(result.subject_id, rank, result.total, True))
        else:
            new = dataclasses.replace(result.decision, level=rule.demote_to, reason="quota", cohort=decision)
            demoted.append(RankedMember(result.subject_id, rank, result.total, False))
        out[i] = dataclasses.replace(result, decision=new)
    final_limited = sum(1 for i in eligible if out[i].level == rule.level)
    final_counted = sum(1 for i in indexes if out[i].level == rule.of)
    return CohortReport(
        rule=rule.name, group=key, eligible=len(eligible), candidates=len(candidates), allowed=allowed,
        percent=percent, exception=flagged, kept=tuple(kept), demoted=tuple(demoted),
        final_limited=final_limited, final_counted=final_counted, tie_broken_by_id=tie_by_id,
        notes=tuple(notes), cite=rule.cite,
    )


def _overridden(result: Result) -> bool:
    return result.decision is not None and result.decision.reason == "override"


def _tie_part(value: SortValue | None, direction: str) -> tuple[int, object]:
    """Sorts ascending: present values first (in the asked direction), missing ones last."""
    if value is None:
        return (1, 0)
    if isinstance(value, dt.date):
        ordinal = Fraction(value.toordinal())
        return (0, -ordinal if direction == "desc" else ordinal)
    return (0, -value if direction == "desc" else value)


# --------------------------------------------------------------------------- checks (the validator)

_ORDERED_TYPES = ("number", "percent", "points", "date")


def check_cohorts(ruleset: nodes.Ruleset, report: Report) -> None:
    """The load-time checks of ``cohort`` declarations (KR302, KR320, KR325-KR328)."""
    levels = [lv.name for lv in ruleset.rating.levels] if ruleset.rating is not None else []
    subject = next((s for s in ruleset.subjects if s.name == ruleset.rates), None)
    inputs = {i.name: i for i in subject.inputs} if subject is not None else {}
    total_names = {TOTAL_KEY} | ({ruleset.criteria.name} if ruleset.criteria is not None else set())
    seen: set[str] = set()
    for rule in ruleset.cohorts:
        if rule.name in seen:
            report("KR302", f"the cohort rule `{rule.name}` is declared twice", rule.span, "give each one its own name")
        seen.add(rule.name)
        for what, name in (("limit", rule.level), ("of", rule.of), ("demote to", rule.demote_to)):
            if name not in levels:
                report("KR320", f"`{what} {name}` in the cohort rule `{rule.name}` names no level of the rating",
                       rule.span, _hint(name, levels, "the levels are " + ", ".join(levels) if levels
                                        else "declare the levels in the `rating` block"))
        for what, pct in (("limit", rule.percent), ("exception", rule.exception_percent)):
            if pct is not None and not (0 < pct <= 100):
                report("KR325", f"the {what} rate {_pct(pct)} of `{rule.name}` is outside 0% (excluded) to 100%",
                       rule.span, "write a rate such as `20%`")
        if rule.exception_percent is not None and 0 < rule.exception_percent < rule.percent:
            report("KR325", f"the exception rate {_pct(rule.exception_percent)} of `{rule.name}` is below its "
                   f"limit {_pct(rule.percent)}", rule.span, "an exception raises the rate, e.g. `exception 25% when ...`")
        if rule.level in levels and rule.of in levels and levels.index(rule.level) >= levels.index(rule.of):
            report("KR327", f"`{rule.name}` limits `{rule.level}` by a share of `{rule.of}`, which is not a lower level",
                   rule.span, "limit a higher level by a share of a lower one: `limit excellent to 20% of good`")
        if rule.demote_to != rule.of and rule.of in levels:
            report("KR327", f"`{rule.name}` counts `{rule.of}` but demotes to `{rule.demote_to}`", rule.span,
                   f"write `demote to {rule.of}`: the strict reading counts the demoted in `{rule.of}`")
        if not rule.groups or len(set(rule.groups)) != len(rule.groups):
            dup = next((g for g in rule.groups if rule.groups.count(g) > 1), None)
            report("KR328", f"`{rule.name}` lists the group key `{dup}` twice" if dup else
                   f"`{rule.name}` has no group keys", rule.span, "write e.g. `per unit, task_group`")
        _check_order(rule, inputs, total_names, report)


def _check_order(rule: nodes.CohortDecl, inputs: Mapping[str, nodes.InputDecl], total_names: set[str],
                 report: Report) -> None:
    first = rule.order[0] if rule.order else None
    if first is None or first.name not in total_names or first.direction != "desc":
        report("KR326", f"`{rule.name}` must rank by score first: `by total desc`",
               first.span if first is not None and first.span is not None else rule.span,
               "the quota keeps the highest totals; tie-breakers follow, e.g. `by total desc, seniority desc`")
    seen: set[str] = set()
    for key in rule.order[1:]:
        if key.name in seen or key.name in total_names:
            report("KR326", f"`{key.name}` is given twice in the order of `{rule.name}`", key.span or rule.span,
                   "keep only one")
            continue
        seen.add(key.name)
        decl = inputs.get(key.name)
        if decl is None:
            report("KR326", f"the tie-breaker `{key.name}` of `{rule.name}` is not a declared input",
                   key.span or rule.span, _hint(key.name, list(inputs), "declare it as a number or date input"))
        elif not (isinstance(decl.type, nodes.ScalarType) and decl.type.name in _ORDERED_TYPES):
            report("KR326", f"the tie-breaker `{key.name}` of `{rule.name}` is not a number or a date",
                   key.span or rule.span, "tie-breakers are number, percent, points or date inputs")


def _pct(value: Fraction) -> str:
    return f"{format_exact(value)}%"


def _hint(word: str, options: Sequence[str], fallback: str) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else fallback


def cut_notes(overridden: int, allowed: int, tie_by_id: bool, missing: Sequence[str]) -> list[str]:
    """What a quota report notes about its cut: overrides kept beyond the quota, a tie at the cut
    ordered by id, tie-breakers some candidates have no value for."""
    notes: list[str] = []
    if overridden > allowed:
        notes.append(f"{overridden} candidates were set by an override and are kept; the quota allows {allowed}")
    if tie_by_id:
        notes.append("candidates equal on total and every tie-breaker were ordered by subject id")
    if missing:
        notes.append("no value for " + ", ".join(f"`{m}`" for m in missing) + " for some candidates: ranked after the others")
    return notes
