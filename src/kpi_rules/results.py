"""Results of evaluation: plain frozen dataclasses (pydantic models are made from them at the edges)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal, TypeAlias, Union

from kpi_rules.source import Span

RecordValue: TypeAlias = Mapping[str, "Value"]
Value: TypeAlias = Union[Fraction, bool, str, dt.date, tuple[RecordValue, ...], None]

Status = Literal["rated", "insufficient_data"]
CriterionKind = Literal["total", "group", "bonus", "penalty", "criterion"]
DecisionReason = Literal["band", "fallthrough", "disqualified", "override"]


@dataclass(frozen=True, slots=True)
class Override:
    """An authorised human decision that sets the level (force majeure), received as data."""

    level: str
    decided_by: str
    decided_on: dt.date
    clause: str
    reason: str


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

    @property
    def level(self) -> str | None:
        return self.decision.level if self.decision else None
