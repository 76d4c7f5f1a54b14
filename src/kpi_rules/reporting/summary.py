"""Unit and province summary pages: counts per level, the quota check, every score, rejections.

Both pages are built from a small view (plain frozen dataclasses) so the HTML and the Markdown
print the same numbers. Counts are taken from the evaluated results (``ProvinceResult``); the
quota groups from what each subject's decision says about the cohort rule (``CohortOut``), so
the page shows the decision as the subject's own sheet states it. Score cells carry the exact
value in ``data-exact``, so a reader (or a test) can check the printed figure against it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kpi_rules.i18n import message
from kpi_rules.models import Explanation
from kpi_rules.reporting.render import _env, _squeeze, _translator

if TYPE_CHECKING:
    from kpi_rules.province import ProvinceResult

__all__ = [
    "ProvinceView",
    "UnitView",
    "in_span",
    "level_columns",
    "province_summary_html",
    "province_summary_markdown",
    "province_view",
    "unit_summary_html",
    "unit_summary_markdown",
    "unit_view",
]

#: Count keys after the levels: a subject rated with insufficient data, and one with no result.
INSUFFICIENT = "insufficient_data"
NO_RESULT = "no_result"


@dataclass(frozen=True)
class Member:
    """A person (or unit) on a summary page: link, role, and the explanation of the span."""

    href: str | None
    role: str
    expl: Explanation


@dataclass(frozen=True)
class QuotaGroup:
    """One cohort group as its members' decisions state it."""

    rule: str
    group: str
    rate: str
    exception: bool
    eligible: int
    allowed: int
    #: (member, rank, demoted, the decision as a sentence), by rank.
    ranked: tuple[tuple[Member, int, bool, str], ...]
    #: Candidates of the whole group kept and demoted (a unit page shows only its own members,
    #: but the counts of the whole group, which may span several units).
    kept: int = 0
    demoted: int = 0


@dataclass(frozen=True)
class UnitView:
    unit_id: str
    unit_name: str
    span: str
    lang: str
    #: (label, count), levels in the rule set's order, then statuses.
    counts: tuple[tuple[str, int], ...]
    quota: tuple[QuotaGroup, ...]
    members: tuple[Member, ...]
    province_href: str | None = None
    #: The unit's own rating as an organisation, when it is rated as a subject.
    own: Member | None = None


def _quota_groups(members: Sequence[Member]) -> tuple[QuotaGroup, ...]:
    """Group the members whose decision names a cohort rule, by rule and group, ranked."""
    found: dict[tuple[str, str], list[tuple[Member, Any]]] = {}
    for m in members:
        decision = m.expl.decision
        if decision is not None and decision.cohort is not None:
            c = decision.cohort
            found.setdefault((c.rule.label, c.group), []).append((m, c))
    out = []
    for (rule, group), pairs in sorted(found.items()):
        pairs.sort(key=lambda pair: (pair[1].rank, pair[0].expl.subject.id))
        first = pairs[0][1]
        demoted = sum(1 for _, c in pairs if c.demoted)
        out.append(QuotaGroup(rule, group, first.rate, first.exception, first.eligible, first.allowed,
                              tuple((m, c.rank, c.demoted, c.text) for m, c in pairs), len(pairs) - demoted, demoted))
    return tuple(out)


def _level_key(expl: Explanation) -> str:
    return expl.level.id if expl.level is not None else expl.status


def _counts(expls: Sequence[Explanation], order: Sequence[tuple[str, str]], lang: str) -> tuple[tuple[str, int], ...]:
    """(label, count) per level in ``order`` (id, label), then insufficient data; zero rows kept."""
    tally: dict[str, int] = {}
    labels = dict(order)
    for e in expls:
        key = _level_key(e)
        tally[key] = tally.get(key, 0) + 1
        if e.level is not None:
            labels.setdefault(e.level.id, e.level.label)
    keys = [k for k, _ in order] + [k for k in labels if k not in dict(order)]
    rows = [(labels[k], tally.get(k, 0)) for k in keys]
    if tally.get(INSUFFICIENT):
        rows.append((message("status.insufficient_data", lang), tally[INSUFFICIENT]))
    return tuple(rows)


def unit_view(unit_id: str, unit_name: str, span: str, lang: str,
              people: Sequence[tuple[str | None, str, Explanation]],
              levels: Sequence[tuple[str, str]] = (), province_href: str | None = None,
              own: tuple[str | None, Explanation] | None = None,
              whole: Sequence[QuotaGroup] = ()) -> UnitView:
    """``people``: (sheet file name or None, role, explanation) per member, in file order;
    ``levels``: (id, label) of the rule set's levels, highest first (levels no one reached still
    get a row with 0); ``own``: (page, explanation) of the unit's own rating; ``whole``: the
    quota groups of the whole province (their kept and demoted counts replace the unit's part)."""
    members = tuple(Member(h, r, e) for h, r, e in people)
    totals = {(g.rule, g.group): (g.kept, g.demoted) for g in whole}
    quota = tuple(dataclasses.replace(g, kept=totals[(g.rule, g.group)][0], demoted=totals[(g.rule, g.group)][1])
                  if (g.rule, g.group) in totals else g for g in _quota_groups(members))
    return UnitView(unit_id, unit_name, span, lang, _counts([m.expl for m in members], levels, lang),
                    quota, members, province_href,
                    Member(own[0], "", own[1]) if own is not None else None)


def _render(template: str, kind: str, **ctx: object) -> str:
    lang = str(ctx["lang"])
    return _squeeze(_env(kind).get_template(template).render(t=_translator(lang), **ctx))


def unit_summary_html(unit_id: str, unit_name: str, span: str, lang: str,
                      people: Sequence[tuple[str | None, str, Explanation]],
                      levels: Sequence[tuple[str, str]] = (), province_href: str | None = None,
                      own: tuple[str | None, Explanation] | None = None, whole: Sequence[QuotaGroup] = ()) -> str:
    """A unit's summary: its own rating, counts per level, the quota (N, k, kept and demoted, rank,
    reason), every member's score."""
    view = unit_view(unit_id, unit_name, span, lang, people, levels, province_href, own, whole)
    return _render("unit.html.j2", "html", v=view, lang=lang)


def unit_summary_markdown(unit_id: str, unit_name: str, span: str, lang: str,
                          people: Sequence[tuple[str | None, str, Explanation]],
                          levels: Sequence[tuple[str, str]] = (), province_href: str | None = None,
                          own: tuple[str | None, Explanation] | None = None,
                          whole: Sequence[QuotaGroup] = ()) -> str:
    """The same summary as Markdown (links point to the ``.html`` pages beside it)."""
    view = unit_view(unit_id, unit_name, span, lang, people, levels, province_href, own, whole)
    return _render("unit.md.j2", "md", v=view, lang=lang)


# --------------------------------------------------------------------------- province


@dataclass(frozen=True)
class CountRow:
    """Counts of one agency (or the province): one per level column, then the total."""

    id: str
    name: str
    href: str | None
    counts: tuple[int, ...]
    total: int


@dataclass(frozen=True)
class OrgRow:
    """One organisation (a unit rated as a subject): its result in the span and its pages."""

    id: str
    name: str
    agency: str
    summary_href: str | None
    sheet_href: str | None
    expl: Explanation | None


@dataclass(frozen=True)
class RejectedRow:
    subject: str
    name: str
    period: str
    code: str
    text: str


@dataclass(frozen=True)
class InsufficientRow:
    subject: str
    name: str
    href: str | None
    reason: str


@dataclass(frozen=True)
class ProvinceView:
    province_id: str
    province_name: str
    span: str
    lang: str
    #: (key, label) of the count columns: the levels, insufficient data, no result.
    columns: tuple[tuple[str, str], ...]
    agencies: tuple[CountRow, ...]
    total: CountRow
    organisations: tuple[OrgRow, ...]
    quota: tuple[QuotaGroup, ...]
    rejected: tuple[RejectedRow, ...]
    insufficient: tuple[InsufficientRow, ...]


def in_span(period: str | None, span: str) -> bool:
    """True when a period lies in the span: ``2026-Q2`` in ``2026``, or the span itself."""
    if period is None:
        return True  # a problem of the whole file concerns every span
    return period == span or (len(span) == 4 and period[:4] == span)


def _root(outcome: ProvinceResult, unit_id: str) -> str:
    units = outcome.province.units
    seen = {unit_id}
    while units[unit_id].parent is not None and units[unit_id].parent not in seen:
        unit_id = str(units[unit_id].parent)
        seen.add(unit_id)
    return unit_id


def level_columns(outcome: ProvinceResult, lang: str) -> tuple[tuple[str, str], ...]:
    """(id, label) of the levels of the people's rule sets, highest first, each once."""
    province, bundle = outcome.province, outcome.bundle
    roles = sorted({p.role for p in province.people.values()}, key=lambda r: list(bundle.roles).index(r)
                   if r in bundle.roles else len(bundle.roles))
    out: dict[str, str] = {}
    for role in roles:
        rules = bundle.rules_for(role)
        rating = rules.plan.checked.ruleset.rating if rules is not None else None
        for level in rating.levels if rating is not None else ():
            out.setdefault(level.name, level.label.get(lang))
    return tuple(out.items())


def province_view(outcome: ProvinceResult, span: str, lang: str,
                  explained: Mapping[str, tuple[str, Explanation]],
                  unit_pages: Mapping[str, str]) -> ProvinceView:
    """The province page of one span (a period, or a year after the quota).

    ``explained``: subject → (page file name, explanation) for every subject written;
    ``unit_pages``: unit id → its summary page.
    """
    province = outcome.province
    keyed: list[tuple[str, str]] = []
    for pid, person in province.people.items():
        result = outcome.result(pid, span)
        key = NO_RESULT if result is None else (result.level if result.level is not None else result.status)
        keyed.append((_root(outcome, person.unit), key))
    levels = level_columns(outcome, lang)
    known = {k for k, _ in levels} | {INSUFFICIENT, NO_RESULT}
    levels += tuple((k, k) for k in dict.fromkeys(k for _, k in keyed if k not in known))
    columns = (*levels, (INSUFFICIENT, message("status.insufficient_data", lang)),
               (NO_RESULT, message("form.no_result", lang)))
    keys = [k for k, _ in columns]
    per_agency: dict[str, list[int]] = {}
    for agency, key in keyed:
        per_agency.setdefault(agency, [0] * len(keys))[keys.index(key)] += 1
    agencies = []
    for uid, unit in province.units.items():
        if uid in per_agency:
            counts = tuple(per_agency[uid])
            agencies.append(CountRow(uid, unit.name or uid, unit_pages.get(uid), counts, sum(counts)))
    totals = tuple(sum(row.counts[i] for row in agencies) for i in range(len(keys)))
    total = CountRow(province.id, province.name or province.id, None, totals, sum(totals))
    organisations = []
    for uid, unit in province.units.items():
        page = explained.get(uid)
        organisations.append(OrgRow(uid, unit.name or uid, province.units[_root(outcome, uid)].name or uid,
                                    unit_pages.get(uid), page[0] if page else None, page[1] if page else None))
    members = [Member(href, province.role_of(s) or "", e) for s, (href, e) in explained.items()]
    rejected = [RejectedRow(r.subject, province.name_of(r.subject) or "", r.period or "", d.code, d.message)
                for r in outcome.rejected if in_span(r.period, span) for d in r.diagnostics]
    insufficient = [InsufficientRow(s, e.subject.name or "", href, _why_insufficient(e))
                    for s, (href, e) in explained.items() if e.status == INSUFFICIENT]
    return ProvinceView(province.id, province.name or province.id, span, lang, columns, tuple(agencies), total,
                        tuple(organisations), _quota_groups(members), tuple(rejected), tuple(insufficient))


def _why_insufficient(expl: Explanation) -> str:
    if expl.insufficient is not None:
        return expl.insufficient.message
    if expl.decision is not None:
        return expl.decision.reason_text
    return expl.status_text


def province_summary_html(view: ProvinceView) -> str:
    """The province page: counts per level per agency and in total, organisations, the quota
    per group, rejected records, insufficient data, links to the unit pages."""
    return _render("province.html.j2", "html", v=view, lang=view.lang)


def province_summary_markdown(view: ProvinceView) -> str:
    return _render("province.md.j2", "md", v=view, lang=view.lang)
