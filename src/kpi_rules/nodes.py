"""The rule-set syntax tree: frozen dataclasses shared by every stage.

Both forms of a rule set (the ``.kpi`` text and YAML) load to these nodes, and the printer
turns them back into canonical text. Spans and comments are excluded from equality, so a
text rule set and its YAML twin compare equal with plain ``==``. Nodes are never mutated;
later stages keep what they learn in side tables keyed by node identity or name.

Numbers are exact: every numeric literal is a :class:`fractions.Fraction` made from its
decimal text, never a float.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal, TypeAlias, Union

from kpi_rules.source import Span

# --------------------------------------------------------------------------- shared pieces


@dataclass(frozen=True, slots=True)
class Text:
    """A label for people: Vietnamese first, English optional."""

    vi: str
    en: str | None = None

    def get(self, lang: str) -> str:
        if lang == "en" and self.en:
            return self.en
        return self.vi


@dataclass(frozen=True, slots=True)
class Validity:
    """The dates in which something is in force: ``[start, end)``; ``end`` None is open."""

    start: _dt.date
    end: _dt.date | None = None

    def contains(self, day: _dt.date) -> bool:
        return self.start <= day and (self.end is None or day < self.end)


# --------------------------------------------------------------------------- types

ScalarName = Literal["number", "percent", "points", "bool", "text", "date"]


@dataclass(frozen=True, slots=True)
class ScalarType:
    """``number``, ``percent`` (0-100 scale), ``points``, ``bool``, ``text`` or ``date``."""

    name: ScalarName
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class OneOfType:
    """``one_of(a, b, c)``: ordered values, lowest first; ``<``/``>=`` compare by position."""

    members: tuple[str, ...]
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ListType:
    """``list of R``: a list of records of the declared record type ``R``."""

    item: str
    span: Span | None = field(default=None, compare=False, repr=False)


TypeExpr: TypeAlias = Union[ScalarType, OneOfType, ListType]

# --------------------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True)
class NumberLit:
    value: Fraction
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class PercentLit:
    """``25%``: ``value`` is the written number (25); it evaluates to ``value / 100``."""

    value: Fraction
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class StringLit:
    value: str
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class BoolLit:
    value: bool
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class DateLit:
    value: _dt.date
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class InsufficientData:
    """``insufficient_data``: evaluating it marks the whole result "insufficient data"."""

    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Var:
    """A name: an input, relation, parameter, table, let, criterion or aggregate variable."""

    name: str
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Member:
    """``obj.name``: a field of a record (or, later, of a related subject)."""

    obj: Expr
    name: str
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Index:
    """``table[key]``: a table lookup."""

    obj: Expr
    key: Expr
    span: Span | None = field(default=None, compare=False, repr=False)


UnaryOp = Literal["-", "not"]
BinaryOp = Literal["+", "-", "*", "/", "<", "<=", ">", ">=", "==", "!=", "and", "or"]


@dataclass(frozen=True, slots=True)
class Unary:
    op: UnaryOp
    operand: Expr
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Binary:
    """A binary operation. Chains are left-nested: ``a - b - c`` is ``(a - b) - c``."""

    op: BinaryOp
    left: Expr
    right: Expr
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class IfElse:
    cond: Expr
    then: Expr
    otherwise: Expr
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class KeywordArg:
    name: str
    value: Expr
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Call:
    """A built-in function call: ``min``, ``max``, ``clamp``, ``percent``, ``ratio``, ``round``...

    The validator knows the functions (see ``docs/language.md``); there is no user-defined code.
    """

    func: str
    args: tuple[Expr, ...]
    kwargs: tuple[KeywordArg, ...] = ()
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Aggregate:
    """``func(var in source where filter: body)`` over a list or related subjects.

    ``sum``/``mean``/``min``/``max`` need a body; ``count``/``share`` take none; ``any``/``all``
    take a boolean body.
    """

    func: str
    var: str
    source: Expr
    where: Expr | None
    body: Expr | None
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Tier:
    """One step of a tier table: when the subject is at least ``threshold``, give ``value``."""

    threshold: Expr
    value: Expr
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Tiers:
    """A piecewise step function: the first tier (thresholds descending) that matches wins."""

    subject: Expr
    tiers: tuple[Tier, ...]
    otherwise: Expr
    span: Span | None = field(default=None, compare=False, repr=False)


Literal_: TypeAlias = Union[NumberLit, PercentLit, StringLit, BoolLit, DateLit]
Expr: TypeAlias = Union[
    NumberLit,
    PercentLit,
    StringLit,
    BoolLit,
    DateLit,
    InsufficientData,
    Var,
    Member,
    Index,
    Unary,
    Binary,
    IfElse,
    Call,
    Aggregate,
    Tiers,
]


def sub_exprs(expr: Expr) -> tuple[Expr, ...]:
    """The expressions directly inside ``expr``, in source order (none for literals and names).

    >>> sub_exprs(Binary("+", Var("a"), NumberLit(Fraction(1))))
    (Var(name='a'), NumberLit(value=Fraction(1, 1)))
    """
    if isinstance(expr, Member):
        return (expr.obj,)
    if isinstance(expr, Index):
        return (expr.obj, expr.key)
    if isinstance(expr, Unary):
        return (expr.operand,)
    if isinstance(expr, Binary):
        return (expr.left, expr.right)
    if isinstance(expr, IfElse):
        return (expr.cond, expr.then, expr.otherwise)
    if isinstance(expr, Call):
        return (*expr.args, *(kw.value for kw in expr.kwargs))
    if isinstance(expr, Aggregate):
        return tuple(e for e in (expr.source, expr.where, expr.body) if e is not None)
    if isinstance(expr, Tiers):
        return (expr.subject, *(x for t in expr.tiers for x in (t.threshold, t.value)), expr.otherwise)
    return ()


# --------------------------------------------------------------------------- declarations

Missing = Literal["required", "default", "optional"]


@dataclass(frozen=True, slots=True)
class InputDecl:
    """A typed input. ``missing`` says what an absent value means: an error (``required``),
    the ``default`` literal, or ``optional`` (readable only through ``present``/``coalesce``)."""

    name: str
    type: TypeExpr
    label: Text
    missing: Missing = "required"
    default: Literal_ | None = None
    min: Fraction | None = None
    max: Fraction | None = None
    cite: str | None = None
    span: Span | None = field(default=None, compare=False, repr=False)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False)
    #: ``increasing``/``decreasing``: a promise that raising this input never lowers (never
    #: raises) the level; ``kpi-rules verify`` tests it. None: no promise.
    monotone: Monotone | None = None


Monotone = Literal["increasing", "decreasing"]


@dataclass(frozen=True, slots=True)
class RelationDecl:
    """A link to other subjects: ``relation unit : unit`` or ``relation staff : list of person``."""

    name: str
    target: str
    many: bool
    label: Text
    span: Span | None = field(default=None, compare=False, repr=False)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class RecordDecl:
    """A record type for list items, e.g. a task item."""

    name: str
    label: Text
    inputs: tuple[InputDecl, ...]
    span: Span | None = field(default=None, compare=False, repr=False)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SubjectDecl:
    """A kind of subject that is rated or related: a person, an organisational unit."""

    name: str
    label: Text
    inputs: tuple[InputDecl, ...]
    relations: tuple[RelationDecl, ...] = ()
    span: Span | None = field(default=None, compare=False, repr=False)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ParamDecl:
    """A named constant. Several declarations of one name with disjoint ``valid`` ranges are
    versions of it; the one in force on the evaluation date is used."""

    name: str
    type: TypeExpr
    value: Literal_
    label: Text
    valid: Validity | None = None
    cite: str | None = None
    span: Span | None = field(default=None, compare=False, repr=False)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class TableRow:
    key: Literal_
    value: Literal_
    span: Span | None = field(default=None, compare=False, repr=False)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class TableDecl:
    """A lookup table (catalogue coefficients, step values). Versioned like :class:`ParamDecl`.
    A table keyed by a ``one_of`` type must list every value."""

    name: str
    key_type: TypeExpr
    value_type: TypeExpr
    rows: tuple[TableRow, ...]
    label: Text
    valid: Validity | None = None
    cite: str | None = None
    span: Span | None = field(default=None, compare=False, repr=False)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class LetDecl:
    """A named intermediate value; it appears in explanations with its label and citation."""

    name: str
    expr: Expr
    label: Text | None = None
    cite: str | None = None
    span: Span | None = field(default=None, compare=False, repr=False)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Criterion:
    """A leaf criterion: points from an expression, floored at 0 and capped at ``max``."""

    name: str
    label: Text
    max: Fraction
    expr: Expr
    cite: str | None = None
    span: Span | None = field(default=None, compare=False, repr=False)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False)


GroupKind = Literal["group", "bonus", "penalty"]


@dataclass(frozen=True, slots=True)
class CriteriaGroup:
    """A group of criteria. A ``group``'s children's maxima must add up to its ``max``; a
    ``bonus`` adds and a ``penalty`` subtracts the sum of its children, capped at its ``max``."""

    kind: GroupKind
    name: str
    label: Text
    max: Fraction
    children: tuple[CriteriaItem, ...]
    cite: str | None = None
    span: Span | None = field(default=None, compare=False, repr=False)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False)


CriteriaItem: TypeAlias = Union[Criterion, CriteriaGroup]


@dataclass(frozen=True, slots=True)
class CriteriaTree:
    """The root: the total is the sum of its groups plus bonuses minus penalties, clamped to
    ``[0, max]``. The maxima of its ``group`` children must add up to ``max``."""

    name: str
    label: Text
    max: Fraction
    children: tuple[CriteriaItem, ...]
    cite: str | None = None
    span: Span | None = field(default=None, compare=False, repr=False)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Condition:
    """An extra, non-score condition of a level (``require ... = expr``)."""

    name: str
    label: Text
    expr: Expr
    cite: str | None = None
    span: Span | None = field(default=None, compare=False, repr=False)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Level:
    """A rating level with its score band ``[lower, upper)`` as the decree writes it:
    ``from 70 below 90``. ``lower`` None means from the bottom of the range, ``upper`` None
    up to and including the top."""

    name: str
    label: Text
    lower: Fraction | None
    upper: Fraction | None
    conditions: tuple[Condition, ...] = ()
    cite: str | None = None
    span: Span | None = field(default=None, compare=False, repr=False)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Disqualifier:
    """A condition that forces a level (by default the lowest) whatever the score."""

    name: str
    label: Text
    when: Expr
    target: str | None = None
    cite: str | None = None
    span: Span | None = field(default=None, compare=False, repr=False)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False)


Fallthrough = Literal["highest_met", "lowest"]


@dataclass(frozen=True, slots=True)
class OverridePolicy:
    """``allow override``: an authorised human decision (force majeure) may set the level.
    The decision itself comes with the record as data: who, when, which clause, why."""

    label: Text
    cite: str | None = None
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Rating:
    """Ordered levels (highest first), disqualifiers, the fall-through when a level's extra
    conditions fail, and whether overrides are allowed."""

    levels: tuple[Level, ...]
    disqualifiers: tuple[Disqualifier, ...] = ()
    fallthrough: Fallthrough = "highest_met"
    override: OverridePolicy | None = None
    cite: str | None = None
    span: Span | None = field(default=None, compare=False, repr=False)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False)


#: What ``remove KIND NAME`` can take away from a parent rule set (see :mod:`kpi_rules.merge`).
RemovalKind = Literal["record", "subject", "input", "relation", "param", "table", "let",
                      "criterion", "group", "level", "require", "disqualify", "cohort"]
REMOVAL_KINDS: tuple[RemovalKind, ...] = ("record", "subject", "input", "relation", "param", "table",
                                          "let", "criterion", "group", "level", "require", "disqualify",
                                          "cohort")


@dataclass(frozen=True, slots=True)
class Removal:
    """``remove disqualify ideology`` in a rule set that ``extends`` another: drop a parent
    declaration. Inputs and relations are named ``subject.input``, conditions ``level.require``."""

    kind: RemovalKind
    name: str
    span: Span | None = field(default=None, compare=False, repr=False)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False)


# --------------------------------------------------------------------------- periods and cohorts

#: The period of the records (``monitor``) and how periods combine (``combine``); the validator
#: checks the words (KR322, KR323), so both forms report them the same way.
PERIOD_KINDS: tuple[str, ...] = ("month", "quarter")
COMBINE_METHODS: tuple[str, ...] = ("mean", "rating_count")


@dataclass(frozen=True, slots=True)
class CountRule:
    """One rule of ``combine rating_count``: ``level excellent when periods("excellent") >= 2``.
    ``periods("x")`` counts the rated periods at level ``x``; the first rule that holds wins."""

    level: str
    when: Expr
    span: Span | None = field(default=None, compare=False, repr=False)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class PeriodsDecl:
    """``periods { monitor quarter  combine mean }``: the period of the records and how the
    half-year and the year are made from the periods actually worked (see :mod:`kpi_rules.periods`).
    ``rules`` and ``otherwise`` belong to ``combine rating_count``."""

    monitor: str
    combine: str
    rules: tuple[CountRule, ...] = ()
    otherwise: str | None = None
    cite: str | None = None
    span: Span | None = field(default=None, compare=False, repr=False)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False)


SortDirection = Literal["asc", "desc"]


@dataclass(frozen=True, slots=True)
class SortKey:
    """One key of a quota's order: ``total desc`` (the score) or a declared input (a tie-breaker)."""

    name: str
    direction: SortDirection = "desc"
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class CohortDecl:
    """A rule over a cohort of results: the excellent quota of Art. 20(5).

    ``limit excellent to 20% of good per unit, task_group``: in each group (one value of every
    key in ``groups``), the count at ``level`` may not exceed ``percent``% of the final count at
    ``of``; ``exception 25% when outstanding_unit`` raises the rate for groups flagged so;
    ``demote to good by total desc, seniority desc``: who is kept, and where the others go.
    ``percent`` is the number written (20 for 20%)."""

    name: str
    label: Text
    level: str
    percent: Fraction
    of: str
    groups: tuple[str, ...]
    demote_to: str
    order: tuple[SortKey, ...]
    exception_percent: Fraction | None = None
    exception_flag: str | None = None
    #: ``per_period`` after the limit: the rule also runs on each period, not only on the year.
    per_period: bool = False
    cite: str | None = None
    span: Span | None = field(default=None, compare=False, repr=False)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False)


RoundingMode = Literal["half_up", "half_even", "down", "up"]


@dataclass(frozen=True, slots=True)
class Display:
    """How numbers are shown. Display rounding never changes a rating."""

    decimals: int = 2
    mode: RoundingMode = "half_up"


@dataclass(frozen=True, slots=True)
class Ruleset:
    """A whole rule set. ``rates`` names the subject kind that its criteria and rating apply to.

    Room for later capabilities is kept in the same shape: ``extends`` (local variants),
    relations on subjects (hierarchies), and further tuples of declarations (cohort rules,
    periods) are added as new fields with empty defaults.
    """

    id: str
    title: Text
    basis: str
    version: str
    in_force: Validity
    rates: str
    extends: str | None = None
    display: Display = Display()
    records: tuple[RecordDecl, ...] = ()
    subjects: tuple[SubjectDecl, ...] = ()
    params: tuple[ParamDecl, ...] = ()
    tables: tuple[TableDecl, ...] = ()
    lets: tuple[LetDecl, ...] = ()
    criteria: CriteriaTree | None = None
    rating: Rating | None = None
    #: ``remove KIND NAME`` declarations of a variant (only meaningful with ``extends``).
    removals: tuple[Removal, ...] = ()
    #: ``periods { ... }``: how periods combine into the half-year and the year.
    periods: PeriodsDecl | None = None
    #: ``cohort NAME ... { ... }``: rules over many results (the excellent quota).
    cohorts: tuple[CohortDecl, ...] = ()
    span: Span | None = field(default=None, compare=False, repr=False)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False)
