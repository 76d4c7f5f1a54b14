"""Results of evaluation: plain frozen dataclasses (pydantic models are made from them at the edges)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal, TypeAlias, Union

from kpi_rules.source import Span

RecordValue: TypeAlias = Mapping[str, "Value"]
Value: TypeAlias = Union[Fraction, bool, str, dt.date, tuple[RecordValue, ...], None]

Status = Literal["rated", "insufficient_data"]
CriterionKind = Literal["total", "group", "bonus", "penalty", "criterion"]
#: ``rating_count``: a combined period's level from the counts of period levels (periods.py);
#: ``quota``: demoted by a cohort rule (cohort.py).
DecisionReason = Literal["band", "fallthrough", "disqualified", "override", "rating_count", "quota"]


@dataclass(frozen=True, slots=True)
class Override:
    """An authorised human decision that sets the level (force majeure), received as data."""

    level: str
    decided_by: str
    decided_on: dt.date
    clause: str
    reason: str


#: The fields every related subject has, before the inputs its subject declaration lists.
RELATED_FIELDS: tuple[str, ...] = ("id", "total", "level", "rated")


@dataclass(frozen=True, slots=True, eq=True)
class RelatedResult(Mapping[str, "Value"]):
    """A related subject as a rule set reads it: its result in the same period.

    ``p.id`` (text), ``p.total`` (the exact total; None when not rated), ``p.level`` (the level
    id; None when not rated), ``p.rated`` (false for insufficient data, no record, or a rejected
    record) and the related subject's inputs by name. It is a read-only mapping, so the evaluator
    reads ``p.total`` exactly as it reads a field of a list item. ``note`` says why a subject is
    not rated (``"no_record"``, ``"insufficient_data"``, ``"rejected"``).
    """

    id: str
    total: Fraction | None = None
    level: str | None = None
    rated: bool = False
    inputs: Mapping[str, "Value"] = field(default_factory=dict)
    note: str | None = None
    name: str | None = None

    def __getitem__(self, key: str) -> "Value":
        if key == "id":
            return self.id
        if key == "total":
            return self.total
        if key == "level":
            return self.level
        if key == "rated":
            return self.rated
        return self.inputs[key]

    def __iter__(self) -> Iterator[str]:
        yield from RELATED_FIELDS
        yield from (k for k in self.inputs if k not in RELATED_FIELDS)

    def __len__(self) -> int:
        return len(RELATED_FIELDS) + sum(1 for k in self.inputs if k not in RELATED_FIELDS)

    __hash__ = None  # type: ignore[assignment]


#: Relation values of one record: a relation name → its related subjects (``list of``) or one
#: related subject (None when absent, e.g. the root unit's ``parent``).
Related: TypeAlias = Mapping[str, Union[tuple[RelatedResult, ...], RelatedResult, None]]


@dataclass(frozen=True, slots=True)
class SubjectRecord:
    """One typed record: the inputs of one subject for one period."""

    id: str
    inputs: Mapping[str, Value]
    name: str | None = None
    period: str | None = None
    #: The day whose versions of params and tables apply; None means the rule set's start.
    on: dt.date | None = None
    override: Override | None = None
    #: Relation values (the province driver fills them from results of the same period);
    #: empty for a record rated on its own.
    related: Related = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CriterionResult:
    name: str
    kind: CriterionKind
    #: Points awarded: the raw value floored at 0 and capped at ``max``.
    points: Fraction
    #: Before the floor and cap: the expression's value, or the children's sum.
    raw: Fraction
    max: Fraction
    children: tuple[CriterionResult, ...] = ()

    @property
    def capped(self) -> bool:
        return self.raw != self.points


@dataclass(frozen=True, slots=True)
class ConditionResult:
    level: str
    name: str
    met: bool


@dataclass(frozen=True, slots=True)
class DisqualifierResult:
    name: str
    fired: bool
    target: str


@dataclass(frozen=True, slots=True)
class CohortDecision:
    """What a cohort rule (the excellent quota) decided for one person (see :mod:`kpi_rules.cohort`)."""

    rule: str
    #: The group: (key, value) pairs in the rule's order, e.g. (("unit", "snv.tccb"), ("task_group", "cv")).
    group: tuple[tuple[str, str], ...]
    #: N: people of the group at the limited level or the counted one (excellent or good).
    eligible: int
    #: k: how many may keep the limited level.
    allowed: int
    #: 1-based rank among the candidates (total desc, then the tie-breakers, then subject id).
    rank: int
    #: The level before the rule, and the level after it (equal when kept).
    from_level: str
    to_level: str
    demoted: bool
    #: The rate applied, as written (20 for 20%), and whether it is the exception's.
    percent: Fraction
    exception: bool = False
    cite: str | None = None


@dataclass(frozen=True, slots=True)
class LevelDecision:
    """How the level was reached, step by step."""

    #: The level whose score band holds the total.
    band_level: str
    #: The final level.
    level: str
    reason: DecisionReason
    #: Every extra condition evaluated, for every level considered.
    conditions: tuple[ConditionResult, ...] = ()
    #: Every disqualifier, fired or not.
    disqualifiers: tuple[DisqualifierResult, ...] = ()
    #: Levels passed over because their conditions failed (highest first).
    passed_over: tuple[str, ...] = ()
    override: Override | None = None
    #: Set by a cohort rule (the excellent quota) on everyone it ranked, kept or demoted.
    cohort: CohortDecision | None = None
    #: The extra conditions of every level that has some, whether that level was considered or
    #: not (a condition that cannot be established counts as not met). A half-year or year gives
    #: a level with conditions only if they held in every rated period (see ``periods.py``).
    all_conditions: tuple[ConditionResult, ...] = ()


@dataclass(frozen=True, slots=True)
class InsufficientReason:
    """Where ``insufficient_data`` was reached."""

    definition: str
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Provenance:
    ruleset_id: str
    version: str
    content_hash: str
    #: Every file behind the rules (a variant's whole ``extends`` chain, a bound catalogue),
    #: each as ``"<path> sha256:<hex>"``; ``content_hash`` covers them all.
    sources: tuple[str, ...] = ()


PeriodStatus = Literal["rated", "insufficient_data", "no_record"]


@dataclass(frozen=True, slots=True)
class PeriodUse:
    """One period of a combined span: used (rated), or left out and why."""

    period: str
    used: bool
    #: ``rated`` (used), ``insufficient_data`` (nothing assigned) or ``no_record`` (not worked:
    #: leave, transfer); the last two are left out, never counted as 0 or 100.
    status: PeriodStatus
    total: Fraction | None = None
    level: str | None = None
    #: Disqualifiers that fired in this period.
    fired: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Combination:
    """How a half-year or year result was made from its periods (see :mod:`kpi_rules.periods`)."""

    #: ``mean`` or ``rating_count``.
    method: str
    periods: tuple[PeriodUse, ...]
    #: ``rating_count``: counts of the used periods by level, in the rating's level order.
    counts: tuple[tuple[str, int], ...] = ()
    #: ``rating_count``: the 1-based number of the rule that matched; None for ``otherwise``.
    rule: int | None = None


@dataclass(frozen=True, slots=True)
class Result:
    subject_id: str
    status: Status
    provenance: Provenance
    total: Fraction | None = None
    criteria: CriterionResult | None = None
    decision: LevelDecision | None = None
    #: The value of every let, by name (those reached before insufficient data, if any).
    values: Mapping[str, Value] = field(default_factory=dict)
    insufficient: InsufficientReason | None = None
    subject_name: str | None = None
    period: str | None = None
    #: Values of expression nodes by ``id(node)`` when evaluated with a ``FullTracer``.
    trace: Mapping[int, Value] | None = field(default=None, compare=False, repr=False)
    #: For a half-year or year made from periods: which periods were used, which left out and why.
    combined: Combination | None = None

    @property
    def level(self) -> str | None:
        return self.decision.level if self.decision else None

    @property
    def combined_from(self) -> tuple[PeriodUse, ...]:
        """The periods of a combined result (empty for a result of one period)."""
        return self.combined.periods if self.combined is not None else ()
