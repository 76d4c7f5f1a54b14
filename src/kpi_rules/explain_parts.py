"""Parts of an explanation written as JSON text from the skeleton (:mod:`kpi_rules.explain_plan`).

The combined periods of a year, a quota (cohort) decision and the related subjects of a leader
were built as pydantic models and dumped, hundreds of microseconds to milliseconds each; a
province run explains a year per person and a period per leader. These functions write the very
bytes ``model_dump_json()`` of the explainer's models gives (:func:`kpi_rules.explainer._periods_out`,
``_cohort_out``, ``_reason_text`` for ``quota``, ``_related``), from the skeleton's cached texts.
``tests/test_explain_parts.py`` compares them with the models on generated provinces.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from json.encoder import encode_basestring
from typing import TYPE_CHECKING

from kpi_rules.i18n import message
from kpi_rules.results import CohortDecision, Combination, RelatedResult
from kpi_rules.values import format_exact

if TYPE_CHECKING:
    from kpi_rules.explain_plan import ExplanationSkeleton
    from kpi_rules.plan import Plan

__all__ = ["cohort_json", "periods_json", "quota_reason", "related_json", "related_subject_json"]


def _js(text: str | None) -> str:
    """A JSON string as pydantic writes it (UTF-8 kept, control characters escaped), or null."""
    return "null" if text is None else encode_basestring(text)


def periods_json(skel: ExplanationSkeleton, combined: Combination, total: Fraction | None) -> str:
    """JSON of ``_periods_out(ctx, combined)`` (``total``: the combined result's total)."""
    lang, formats = skel.lang, skel.formats
    texts = _texts(skel)
    out = ['{"method":']
    method = "rating_count" if combined.method == "rating_count" else "mean"
    out.append('"' + method + '","method_text":' + texts[method] + ',"periods":[')
    used: list[Fraction] = []
    for i, use in enumerate(combined.periods):
        if use.used and use.total is not None:
            used.append(use.total)
        note = texts["used"] if use.used else texts.get(use.status) or _js(message(f"periods.{use.status}", lang))
        out.append(('{"period":' if i == 0 else ',{"period":') + _js(use.period) + ',"used":'
                   + ("true" if use.used else "false") + ',"status":"' + use.status + '","note":' + note
                   + ',"total":' + (formats.number(use.total) if use.total is not None else "null")
                   + ',"level":' + (skel.ref(use.level) if use.level is not None else "null") + "}")
    out.append('],"formula_with_values":')
    if used and total is not None:
        terms = " + ".join(_formula_value(skel, t) for t in used)
        out.append(_js(f"({terms}) / {len(used)}{formats.equals(total)}"))
    else:
        out.append("null")
    out.append(',"counts":[' + ",".join("[" + skel.ref(name) + "," + str(int(n)) + "]" for name, n in combined.counts)
               + '],"cite":' + texts["cite"] + "}")
    return "".join(out)


def _formula_value(skel: ExplanationSkeleton, value: Fraction) -> str:
    plain = skel.formats.plain(value)
    return plain[0] if plain is not None else "?"


def _texts(skel: ExplanationSkeleton) -> Mapping[str, str]:
    """The fixed texts of the periods part, as JSON, cached on the skeleton."""
    hit = skel.parts_texts
    if not hit:
        lang = skel.lang
        decl = skel.ruleset.periods
        hit.update({
            "mean": _js(message("periods.mean", lang)),
            "rating_count": _js(message("periods.rating_count", lang)),
            "used": _js(message("periods.used", lang)),
            "insufficient_data": _js(message("periods.insufficient_data", lang)),
            "no_record": _js(message("periods.no_record", lang)),
            "cite": skel.cite_json(decl.cite) if decl is not None else "null",
        })
    return hit


def _label(skel: ExplanationSkeleton, name: str) -> str:
    level = skel.levels.get(name)
    return level.label.get(skel.lang) if level else name


def _group_text(group: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{key} = {value or '—'}" for key, value in group)


def quota_reason(skel: ExplanationSkeleton, level: str, c: CohortDecision, total: Fraction | None) -> str:
    """The reason sentence of a ``quota`` decision (``_reason_text``), as plain text."""
    from kpi_rules.explainer import cite_with_basis

    total_text = skel.formats.total_text(total) if total is not None else "?"
    return message("reason.quota", skel.lang, from_level=_label(skel, c.from_level), level=_label(skel, level),
                   cite=cite_with_basis(c.cite, skel.ruleset.basis) or c.rule, group=_group_text(c.group),
                   allowed=c.allowed, eligible=c.eligible, rate=f"{format_exact(c.percent)}%", rank=c.rank,
                   total=total_text)


def cohort_json(skel: ExplanationSkeleton, c: CohortDecision) -> str:
    """JSON of ``_cohort_out(ctx, c)``."""
    from kpi_rules.explainer import cite_with_basis

    lang = skel.lang
    rule = next((r for r in skel.ruleset.cohorts if r.name == c.rule), None)
    cite = cite_with_basis(c.cite, skel.ruleset.basis)
    rate = f"{format_exact(c.percent)}%"
    group = _group_text(c.group)
    params: dict[str, object] = dict(cite=cite or c.rule, group=group, allowed=c.allowed, eligible=c.eligible,
                                     rank=c.rank)
    if c.demoted:
        text = message("cohort.demoted", lang, from_level=_label(skel, c.from_level),
                       level=_label(skel, c.to_level), **params)
    else:
        text = message("cohort.kept", lang, level=_label(skel, c.from_level), rate=rate, **params)
    if c.exception:
        rate += f" ({message('cohort.exception', lang)})"
    return ('{"rule":{"id":' + _js(c.rule) + ',"label":' + _js(rule.label.get(lang) if rule is not None else c.rule)
            + '},"group":' + _js(group) + ',"eligible":' + str(int(c.eligible)) + ',"allowed":'
            + str(int(c.allowed)) + ',"rank":' + str(int(c.rank)) + ',"rate":' + _js(rate) + ',"exception":'
            + ("true" if c.exception else "false") + ',"demoted":' + ("true" if c.demoted else "false")
            + ',"from_level":' + skel.ref(c.from_level) + ',"to_level":' + skel.ref(c.to_level) + ',"text":'
            + _js(text) + ',"cite":' + _js(cite) + "}")


#: Entries of a :func:`related_json` cache before it is emptied.
RELATED_CACHE_LIMIT = 200_000


def related_json(skel: ExplanationSkeleton, plan: Plan,
                 related: Mapping[str, tuple[RelatedResult, ...] | RelatedResult | None],
                 cache: dict[int, tuple[RelatedResult, str]] | None = None) -> str:
    """JSON of the ``related`` list (``_related(ctx)``): each relation the record was rated with.

    ``cache``: the JSON of each related subject by the identity of its (immutable) result, for
    results shared by several records (a civil servant is read by their deputy, their division's
    head and their agency's head); it keeps the results it names alive. One cache per skeleton."""
    lang = skel.lang
    if cache is not None and len(cache) > RELATED_CACHE_LIMIT:
        cache.clear()
    notes: dict[str | None, str] = {}
    parts: list[str] = []
    for rel in plan.checked.subject.relations:
        if rel.name not in related:
            continue
        value = related[rel.name]
        items = value if isinstance(value, tuple) else (() if value is None else (value,))
        subjects: list[str] = []
        for item in items:
            if cache is not None:
                hit = cache.get(id(item))
                if hit is not None and hit[0] is item:
                    subjects.append(hit[1])
                    continue
            subjects.append(related_subject_json(skel, item, notes))
            if cache is not None:
                cache[id(item)] = (item, subjects[-1])
        parts.append('{"relation":' + _js(rel.name) + ',"label":' + _js(rel.label.get(lang)) + ',"subjects":['
                     + ",".join(subjects) + "]}")
    return "[" + ",".join(parts) + "]"


def related_subject_json(skel: ExplanationSkeleton, item: RelatedResult, notes: dict[str | None, str]) -> str:
    """JSON of one related subject of :func:`related_json` (``notes``: the note texts made so far)."""
    if item.rated:
        note = "null"
    else:
        note = notes.get(item.note) or notes.setdefault(
            item.note, _js(message(f"related.{item.note or 'not_rated'}", skel.lang)))
    return ('{"id":' + _js(item.id) + ',"name":' + _js(item.name) + ',"rated":'
            + ("true" if item.rated else "false") + ',"total":'
            + (skel.formats.number(item.total) if item.total is not None else "null") + ',"level":'
            + (skel.ref(item.level) if item.level is not None else "null") + ',"note":' + note + "}")
