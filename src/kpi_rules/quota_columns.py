"""The quota over year rows: :func:`kpi_rules.cohort.apply_cohort` without a ``Result`` per year.

Input: the bundle, the province and the year rows of :class:`~kpi_rules.year_columns.YearResults`
(each row's status, level, decision reason and exact total, read without building its
``Result``). Output: the quota reports of :func:`kpi_rules.province.rank_years` (the same
:class:`~kpi_rules.cohort.CohortReport` objects, in the same order), the stages, and each ranked
row's new level, reason and :class:`~kpi_rules.results.CohortDecision`, recorded on the rows
(``YearResults.ranked``) and applied when a year result is built.

The group keys, flags and tie-breakers of a subject are read as
:func:`kpi_rules.province._member_info` and :meth:`kpi_rules.cohort.CohortMember.from_mapping`
read them, for the keys the rules name only (no mapping per subject).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from kpi_rules import nodes
from kpi_rules.bundle import Bundle
from kpi_rules.cohort import TOTAL_KEY, CohortReport, RankedMember, _tie_part, allowed_count, cut_notes
from kpi_rules.results import CohortDecision

if TYPE_CHECKING:
    from kpi_rules.year_columns import YearResults

__all__ = ["rank_year_rows"]

_MISSING = object()


class _Members:
    """What ``_member_info`` gives for one subject and one key, without building the mapping."""

    def __init__(self, province: Any) -> None:
        self.province = province
        self._agency: dict[str, str] = {}
        self._flagged: dict[str, set[str]] = {}

    def agency(self, unit_id: str) -> str:
        found = self._agency.get(unit_id)
        if found is None:
            units = self.province.units
            unit = units[unit_id]
            while unit.parent is not None:
                unit = units[unit.parent]
            found = self._agency[unit_id] = unit.id
        return found

    def value(self, subject: str, key: str) -> object:
        person = self.province.people.get(subject)
        if person is not None:
            attributes = person.attributes
            if key in attributes:
                return attributes[key]
            if key == "unit":
                return person.unit
            if key == "agency":
                return self.agency(person.unit)
            if key == "task_group":
                return person.task_group
            if key == "role":
                return person.role
            return _MISSING
        unit = self.province.units[subject]
        if key in unit.attributes:
            return unit.attributes[key]
        if key == "unit":
            return unit.parent
        if key == "agency":
            return self.agency(unit.parent or unit.id)
        if key == "task_group":
            return unit.kind
        return _MISSING


    def flagged(self, key: str) -> set[str]:
        """The subjects whose ``key`` is a flag that is set (``CohortMember.flags``): only an
        attribute can be one (the other keys are text)."""
        found = self._flagged.get(key)
        if found is None:
            found = self._flagged[key] = {
                *(p.id for p in self.province.people.values() if p.attributes and p.attributes.get(key) is True),
                *(u.id for u in self.province.units.values() if u.attributes and u.attributes.get(key) is True)}
        return found

    def group_keys(self, keys: tuple[str, ...]) -> Callable[[str], tuple[tuple[str, str], ...]]:
        """subject → its group key under ``keys``; people whose attributes name none of the keys
        share the key of their (unit, task group, role)."""
        wanted = set(keys)
        shared: dict[tuple[str, str | None, str], tuple[tuple[str, str], ...]] = {}
        people = self.province.people
        value = self.value

        def key_of(subject: str) -> tuple[tuple[str, str], ...]:
            person = people.get(subject)
            if person is not None and not (person.attributes and not wanted.isdisjoint(person.attributes)):
                triple = (person.unit, person.task_group, person.role)
                found = shared.get(triple)
                if found is None:
                    found = shared[triple] = tuple((g, _group_value(value(subject, g))) for g in keys)
                return found
            return tuple((g, _group_value(value(subject, g))) for g in keys)

        return key_of


def _group_value(value: object) -> str:
    """A group key's value as ``CohortMember.from_mapping`` files it (flags and numbers are not groups)."""
    if value is _MISSING or value is None or isinstance(value, (bool, int, Fraction, Decimal, float, dt.date)):
        return ""
    return str(value)


def _tie(value: object) -> Fraction | dt.date | None:
    if value is _MISSING or isinstance(value, bool):
        return None
    if isinstance(value, (int, Fraction, Decimal)):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(str(value))
    if isinstance(value, dt.date):
        return value
    return None


def rank_year_rows(bundle: Bundle, province: Any, years: YearResults,
                   role_of: Callable[[str], str | None]) -> tuple[tuple[object, ...], dict[str, str]]:
    """``rank_years`` over the year rows: the reports and stages; the ranked rows' outcome goes to
    ``years.ranked``."""
    stages: dict[str, str] = {}
    reports: list[object] = []
    together: dict[object, list[str]] = {}
    for role, rr in bundle.roles.items():
        plan = rr.rules.plan
        if not getattr(plan.ruleset, "cohorts", None):
            stages.setdefault("cohort", f"skipped for {role}: {rr.rules.id} declares no cohort rule")
            continue
        together.setdefault(getattr(plan.ruleset, "cohorts"), []).append(role)
    members = _Members(province)
    for roles in together.values():
        plan = bundle.roles[roles[0]].rules.plan
        _apply(plan, set(roles), years, members, reports)
        stages["cohort"] = "ran"
    return tuple(reports), stages


def _apply(plan: Any, roles: set[str], years: YearResults, members: _Members, reports: list[object]) -> None:
    """``apply_cohort(plan, [years[i] for i in rows], ...)``: every rule in order, groups sorted.
    Rows are addressed by their position in ``rows`` (``p``); ``rows[p]`` is the year row."""
    ruleset = plan.ruleset
    total_names = {TOTAL_KEY} | ({ruleset.criteria.name} if ruleset.criteria is not None else set())
    rows, subjects, rated, level, reason = years.summaries(roles)
    chosen = [p for p, ok in enumerate(rated) if ok]
    cohort: dict[int, CohortDecision] = {}
    for rule in ruleset.cohorts:
        groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
        key_of = members.group_keys(rule.groups)
        for p in chosen:
            groups.setdefault(key_of(subjects[p]), []).append(p)
        for key in sorted(groups):
            reports.append(_group(rule, key, groups[key], rows, subjects, years, members, total_names, level, reason,
                                  cohort))
    for p, decision in cohort.items():
        new_level = level[p]
        assert new_level is not None
        years.ranked[rows[p]] = (new_level, reason[p], decision)


def _group(rule: nodes.CohortDecl, key: tuple[tuple[str, str], ...], indexes: list[int], rows: list[int],
           subjects: list[str], years: YearResults, members: _Members, total_names: set[str],
           level: list[str | None], reason: list[Any], cohort: dict[int, CohortDecision]) -> CohortReport:
    """``cohort._apply_group`` over the rows (the same report, the same decisions)."""
    notes: list[str] = []
    limited, counted = rule.level, rule.of
    eligible = [p for p in indexes if level[p] == limited or level[p] == counted]
    candidates = [p for p in eligible if level[p] == limited]
    flag = rule.exception_flag
    flagged = False
    if flag is not None and eligible:
        on = members.flagged(flag)
        flags = [subjects[p] in on for p in eligible]
        flagged = rule.exception_percent is not None and all(flags)
        if not flagged and any(flags):
            notes.append(f"`{flag}` is set for some members of the group only; the exception is not applied")
    percent = rule.exception_percent if flagged and rule.exception_percent is not None else rule.percent
    allowed = allowed_count(len(eligible), percent)
    ties = [k for k in rule.order if k.name not in total_names]
    totals = {p: years.total(rows[p]) for p in candidates}
    tie_values = {p: [_tie(members.value(subjects[p], k.name)) for k in ties] for p in candidates} if ties else {}

    def sort_key(p: int) -> tuple[object, ...]:
        # The float first (a correctly rounded division: never out of order, so equal floats
        # alone fall to the exact totals); the order is apply_cohort's.
        total = totals[p]
        parts: list[object] = [0 if reason[p] == "override" else 1, -float(total), -total]
        if ties:
            parts.extend(_tie_part(v, k.direction) for v, k in zip(tie_values[p], ties))
        return tuple(parts)

    ranked = sorted(candidates, key=lambda p: (*sort_key(p), subjects[p]))
    overridden = sum(1 for p in ranked if reason[p] == "override")
    keep = max(min(allowed, len(ranked)), overridden)
    tie_by_id = 0 < keep < len(ranked) and sort_key(ranked[keep - 1]) == sort_key(ranked[keep])
    missing = sorted({k.name for j, k in enumerate(ties) for p in ranked if tie_values[p][j] is None})
    notes.extend(cut_notes(overridden, allowed, tie_by_id, missing))
    kept: list[RankedMember] = []
    demoted: list[RankedMember] = []
    for rank, p in enumerate(ranked, 1):
        is_kept = rank <= keep
        cohort[p] = CohortDecision(
            rule=rule.name, group=key, eligible=len(eligible), allowed=allowed, rank=rank,
            from_level=limited, to_level=limited if is_kept else rule.demote_to, demoted=not is_kept,
            percent=percent, exception=flagged, cite=rule.cite,
        )
        if is_kept:
            kept.append(RankedMember(subjects[p], rank, totals[p], True))
        else:
            level[p], reason[p] = rule.demote_to, "quota"
            demoted.append(RankedMember(subjects[p], rank, totals[p], False))
    final_limited = sum(1 for p in eligible if level[p] == limited)
    final_counted = sum(1 for p in indexes if level[p] == counted)
    return CohortReport(
        rule=rule.name, group=key, eligible=len(eligible), candidates=len(candidates), allowed=allowed,
        percent=percent, exception=flagged, kept=tuple(kept), demoted=tuple(demoted),
        final_limited=final_limited, final_counted=final_counted, tie_broken_by_id=tie_by_id,
        notes=tuple(notes), cite=rule.cite,
    )
