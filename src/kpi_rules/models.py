"""Pydantic models at the output edge: explanations, result summaries and batch reports.

Input: values built by :mod:`kpi_rules.explainer` (or :func:`summarize`). Output: JSON through
``model_dump_json()``, and the JSON Schema of an explanation through
:func:`explanation_json_schema`. Every model is frozen and rejects unknown fields, so a JSON
document read back with ``model_validate_json`` equals the model that wrote it.

Numbers are never floats here: each is a :class:`Number` holding the exact value as text (an
integer, a terminating decimal or ``num/den``, all readable by ``fractions.Fraction``) and the
text shown to people (the rule set's ``display`` rounding).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from kpi_rules.diagnostics import Diagnostic
    from kpi_rules.plan import Plan
    from kpi_rules.results import Result

__all__ = [
    "BatchReport",
    "Band",
    "CauseOut",
    "CohortOut",
    "CombinedSuggestionOut",
    "ConditionOut",
    "CriterionDeltaOut",
    "CriterionNode",
    "Decision",
    "DisqualifierOut",
    "Explanation",
    "InputDeltaOut",
    "Insufficient",
    "LevelChangeOut",
    "NextLevelOut",
    "Number",
    "OverrideOut",
    "PeriodOut",
    "PeriodsOut",
    "ProvenanceOut",
    "Ref",
    "RejectedRecord",
    "ResultSummary",
    "SubjectInfo",
    "SuggestionOut",
    "ValueEntry",
    "explanation_json_schema",
    "summarize",
]

Lang = Literal["vi", "en"]
StatusName = Literal["rated", "insufficient_data"]
KindName = Literal["total", "group", "bonus", "penalty", "criterion"]
ReasonName = Literal["band", "fallthrough", "disqualified", "override", "rating_count", "quota"]
ValueKind = Literal["number", "bool", "text", "date", "list", "none"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Number(_Model):
    """A number: ``exact`` is the exact value (``"47.578125"``, ``"275/3"``); ``display`` is it
    rounded as the rule set's ``display`` setting says (``"47.58"``)."""

    exact: str
    display: str


class Ref(_Model):
    """Something named in the rule set (a level, a disqualifier), with its label in the language."""

    id: str
    label: str


class SubjectInfo(_Model):
    id: str
    name: str | None = None
    period: str | None = None


class CriterionNode(_Model):
    """One node of the criteria tree: the total, a group, a bonus, a penalty or a criterion."""

    id: str
    kind: KindName
    label: str
    #: Points awarded (floored at 0 and capped at ``max``).
    points: Number
    #: The value before the floor and the cap.
    raw: Number
    max: Number
    #: The expression (criteria) or the sum of the children (groups), as rule text.
    formula: str | None = None
    #: The same with every name replaced by its value, then ``= value`` (``≈`` if not exact).
    formula_with_values: str | None = None
    #: The clause, with the rule set's legal basis (``Điều 16 khoản 1, Nghị định 335/2025/NĐ-CP``).
    cite: str | None = None
    capped: bool = False
    #: Why ``points`` differs from ``raw`` (capped at the maximum, or floored at 0).
    note: str | None = None
    children: tuple[CriterionNode, ...] = ()


class ValueEntry(_Model):
    """A named intermediate value (``let``), in evaluation order."""

    id: str
    label: str
    type: ValueKind
    exact: str
    display: str
    formula: str | None = None
    formula_with_values: str | None = None
    cite: str | None = None


class Band(_Model):
    """The level whose score band holds the total, and the band as the decree writes it."""

    level: Ref
    phrase: str
    cite: str | None = None


class ConditionOut(_Model):
    level: Ref
    id: str
    label: str
    met: bool
    formula: str | None = None
    formula_with_values: str | None = None
    cite: str | None = None


class DisqualifierOut(_Model):
    id: str
    label: str
    fired: bool
    target: Ref
    formula: str | None = None
    formula_with_values: str | None = None
    cite: str | None = None


class OverrideOut(_Model):
    level: Ref
    decided_by: str
    decided_on: dt.date
    clause: str
    reason: str


class CohortOut(_Model):
    """What a cohort rule (the excellent quota, Art. 20(5)) decided for this subject."""

    rule: Ref
    #: ``unit = snv.tccb, task_group = chuyen_vien``.
    group: str
    #: N (at the limited level or the counted one), k (allowed to keep the limited level), rank.
    eligible: int
    allowed: int
    rank: int
    #: The rate applied (``20%``) and whether it is the exception's.
    rate: str
    exception: bool
    demoted: bool
    from_level: Ref
    to_level: Ref
    #: The decision as a sentence, with the clause.
    text: str
    cite: str | None = None


class PeriodOut(_Model):
    """One period of a combined span: used, or left out and why."""

    period: str
    used: bool
    status: Literal["rated", "insufficient_data", "no_record"]
    #: Why it was left out (or "used"), for people.
    note: str
    total: Number | None = None
    level: Ref | None = None


class PeriodsOut(_Model):
    """How a half-year or year was made from its periods."""

    method: Literal["mean", "rating_count"]
    method_text: str
    periods: tuple[PeriodOut, ...]
    #: ``mean``: the mean of the used totals with the values, e.g. ``(84 + 90) / 2 = 87``.
    formula_with_values: str | None = None
    #: ``rating_count``: counts of the used periods by level.
    counts: tuple[tuple[Ref, int], ...] = ()
    cite: str | None = None


class Decision(_Model):
    """How the level was reached."""

    band: Band
    level: Ref
    reason: ReasonName
    #: The reason as a sentence for people.
    reason_text: str
    #: Cite of the final level (with the legal basis); for an override, the override's clause.
    cite: str | None = None
    conditions: tuple[ConditionOut, ...] = ()
    disqualifiers: tuple[DisqualifierOut, ...] = ()
    passed_over: tuple[Ref, ...] = ()
    override: OverrideOut | None = None
    #: Set when a cohort rule (the excellent quota) ranked this subject, kept or demoted.
    cohort: CohortOut | None = None


class Insufficient(_Model):
    """Why the record could not be rated."""

    definition: str
    label: str | None = None
    message: str
    #: The definition's formula, and the same with the values known when evaluation stopped.
    formula: str | None = None
    formula_with_values: str | None = None
    #: ``path:line:col`` of the expression that reached ``insufficient_data``.
    where: str | None = None


class ProvenanceOut(_Model):
    ruleset_id: str
    version: str
    content_hash: str
    title: str = ""
    basis: str = ""


class RelatedSubjectOut(_Model):
    """A related subject as it was read: its result in the same period."""

    id: str
    name: str | None = None
    rated: bool
    total: Number | None = None
    level: Ref | None = None
    #: Why it is not rated (no record, insufficient data, record rejected), in the explanation's language.
    note: str | None = None


class RelatedOut(_Model):
    """The subjects one relation linked to (``supervised``, ``children``...)."""

    relation: str
    label: str
    subjects: tuple[RelatedSubjectOut, ...] = ()


class SuggestionOut(_Model):
    """One input changed on its own that reaches the next level (checked by re-evaluation)."""

    #: ``general_iii`` or ``tasks[2].completed`` (0-based item index).
    path: str
    label: str
    direction: Literal["increasing", "decreasing"]
    from_value: Number
    to_value: Number
    #: The level the changed record gets (the next level or higher).
    level: Ref
    text: str
    #: For a half-year or year: the period whose record has this input.
    period: str | None = None


class CombinedSuggestionOut(_Model):
    """Two inputs changed together that reach the next level (checked by re-evaluation)."""

    changes: tuple[SuggestionOut, ...]
    level: Ref
    text: str


class NextLevelOut(_Model):
    """The distance to the next level up (see :mod:`kpi_rules.advice`)."""

    level: Ref
    #: Lower bound of its band minus the total (0 when the band is reached but something blocks it).
    points_missing: Number
    #: Unmet conditions of the level and disqualifiers that fired.
    blocked_by: tuple[Ref, ...] = ()
    suggestions: tuple[SuggestionOut, ...] = ()
    text: str
    #: Pairs of inputs changed together, when one is not enough or two change less.
    combined: tuple[CombinedSuggestionOut, ...] = ()


class CriterionDeltaOut(_Model):
    """One term of the change of the total: a criterion's signed points (negative under a
    penalty), or the floor/cap of a group (``kind="cap"``: its points minus its raw sum). The
    terms of a change add up to its ``total_delta`` exactly."""

    id: str
    label: str
    kind: Literal["criterion", "cap"]
    before: Number
    after: Number
    delta: Number
    cite: str | None = None
    text: str


class InputDeltaOut(_Model):
    """An input (``tasks[2].completed``; ``tasks`` for the number of items) or an intermediate
    value that changed; ``delta`` when both values are numbers."""

    path: str
    label: str
    before: str
    after: str
    delta: Number | None = None
    text: str


class CauseOut(_Model):
    """Why the level differs from the previous period's (see :mod:`kpi_rules.change`)."""

    kind: Literal["points", "disqualifier", "condition", "quota", "override", "override_ended", "band"]
    #: The level, disqualifier, ``level.condition`` or cohort rule concerned.
    id: str | None = None
    text: str
    cite: str | None = None


class LevelChangeOut(_Model):
    """The change since the previous period: direction, causes, and what moved (exact deltas)."""

    previous_period: str | None = None
    period: str | None = None
    direction: Literal["fell", "rose", "same", "not_comparable"]
    previous_level: Ref | None = None
    level: Ref | None = None
    previous_total: Number | None = None
    total: Number | None = None
    total_delta: Number | None = None
    causes: tuple[CauseOut, ...] = ()
    #: Largest change in the direction of the level first (the largest loss when it fell).
    criteria: tuple[CriterionDeltaOut, ...] = ()
    inputs: tuple[InputDeltaOut, ...] = ()
    values: tuple[InputDeltaOut, ...] = ()
    ruleset_changed: bool = False
    previous_version: str = ""
    previous_content_hash: str = ""
    text: str


class Explanation(_Model):
    """Why a subject got its result: every number, formula, clause and decision step."""

    subject: SubjectInfo
    lang: Lang
    status: StatusName
    status_text: str
    total: Number | None = None
    max: Number | None = None
    level: Ref | None = None
    criteria: CriterionNode | None = None
    values: tuple[ValueEntry, ...] = ()
    decision: Decision | None = None
    insufficient: Insufficient | None = None
    #: For a half-year or year: the periods used and left out.
    periods: PeriodsOut | None = None
    provenance: ProvenanceOut
    #: The related subjects read through relations (a province run), with their results.
    related: tuple[RelatedOut, ...] = ()
    #: The next level up and single-input changes that reach it (only when explained with its record).
    next_level: NextLevelOut | None = None
    #: What changed since the previous period and why (only when explained with it).
    change: LevelChangeOut | None = None


class ResultSummary(_Model):
    """One row per result, for ``evaluate --format json`` and the results table."""

    id: str
    name: str | None = None
    period: str | None = None
    status: StatusName
    status_text: str
    total: Number | None = None
    level: Ref | None = None
    #: Disqualifiers that fired.
    disqualifiers: tuple[Ref, ...] = ()
    #: The definition that reached ``insufficient_data``, if any.
    insufficient: str | None = None


class RejectedRecord(_Model):
    """A record that was not rated, and why (one row per problem)."""

    id: str
    code: str
    message: str
    where: str | None = None
    location: str | None = None
    hint: str | None = None

    @classmethod
    def from_diagnostic(cls, record_id: str, diagnostic: Diagnostic) -> RejectedRecord:
        location = None
        if diagnostic.span is not None:
            line, col = diagnostic.span.line_col()
            location = f"{diagnostic.span.path}:{line}:{col}"
        return cls(
            id=record_id,
            code=diagnostic.code,
            message=diagnostic.message,
            where=diagnostic.where,
            location=location,
            hint=diagnostic.hint,
        )


class BatchReport(_Model):
    """The JSON output of ``kpi-rules evaluate --format json``."""

    ruleset_id: str
    version: str
    content_hash: str
    results: list[ResultSummary] = Field(default_factory=list)
    rejected: list[RejectedRecord] = Field(default_factory=list)
    rated: int = Field(ge=0)
    insufficient_data: int = Field(ge=0)
    rejected_count: int = Field(ge=0)


class ProvinceReport(_Model):
    """The JSON output of ``kpi-rules evaluate BUNDLE PROVINCE --format json``."""

    bundle: str
    province: str
    periods: list[str] = Field(default_factory=list)
    #: Subject id → role (staff, deputy, head, unit).
    roles: dict[str, str] = Field(default_factory=dict)
    #: One row per subject and period, period by period in evaluation order.
    results: list[ResultSummary] = Field(default_factory=list)
    #: One row per subject and year (when the rule sets combine periods).
    years: list[ResultSummary] = Field(default_factory=list)
    rejected: list[RejectedRecord] = Field(default_factory=list)
    #: Warnings, e.g. a leader reading a subordinate whose record was rejected.
    notes: list[str] = Field(default_factory=list)
    #: Period (or year) → role → level or status → count.
    counts: dict[str, dict[str, dict[str, int]]] = Field(default_factory=dict)
    #: The optional stages (periods, cohort) and whether they ran.
    stages: dict[str, str] = Field(default_factory=dict)


def explanation_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of :class:`Explanation` as serialised."""
    schema = Explanation.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def summarize(result: Result, plan: Plan, lang: str = "vi") -> ResultSummary:
    """One summary row of a result (see :func:`kpi_rules.explainer.summarize`)."""
    from kpi_rules.explainer import summarize as _summarize  # the explainer imports this module

    return _summarize(result, plan, lang)
