"""The evaluation plan: what :mod:`kpi_rules.compiler` hands :mod:`kpi_rules.evaluator`.

A :class:`Plan` is the checked rule set plus its definitions as :class:`Step` values in
dependency (topological) order, the versions of params and tables, and the provenance that
every result carries. Each step keeps its node, so its span, label and citation are at hand
for explanations. Plans are frozen and shared: compile once, evaluate many records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, TypeVar, Union

from kpi_rules import nodes
from kpi_rules.checked import CheckedRuleset
from kpi_rules.results import Provenance, Value
from kpi_rules.source import Span

__all__ = ["ParamVersion", "Plan", "Step", "StepKind", "StepNode", "TableVersion"]

StepKind = Literal["let", "criterion", "group", "total", "condition", "disqualifier"]
StepNode: TypeAlias = Union[
    nodes.LetDecl,
    nodes.Criterion,
    nodes.CriteriaGroup,
    nodes.CriteriaTree,
    nodes.Condition,
    nodes.Disqualifier,
]


@dataclass(frozen=True, slots=True)
class Step:
    """One definition to evaluate.

    ``name`` is the global name for lets and criteria; a level condition is named
    ``"<level>.<condition>"`` (its ``level`` field holds the level). ``deps`` are the global
    names the step reads, in order of first use (aggregate variables excluded); for a group or
    the total they are its children. ``index`` is the declaration order.
    """

    name: str
    kind: StepKind
    node: StepNode
    deps: tuple[str, ...]
    index: int
    level: str | None = None
    parent: str | None = None
    children: tuple[str, ...] = ()

    @property
    def expr(self) -> nodes.Expr | None:
        """The expression evaluated by this step (None for a group or the total)."""
        node = self.node
        if isinstance(node, (nodes.LetDecl, nodes.Criterion, nodes.Condition)):
            return node.expr
        if isinstance(node, nodes.Disqualifier):
            return node.when
        return None

    @property
    def span(self) -> Span | None:
        return self.node.span

    @property
    def label(self) -> nodes.Text | None:
        return self.node.label

    @property
    def cite(self) -> str | None:
        return self.node.cite


@dataclass(frozen=True, slots=True)
class ParamVersion:
    decl: nodes.ParamDecl
    value: Value


@dataclass(frozen=True, slots=True)
class TableVersion:
    """One version of a table with its rows as a dict (keys and values are engine values)."""

    decl: nodes.TableDecl
    rows: Mapping[object, Value]


@dataclass(frozen=True, slots=True)
class Plan:
    """A compiled rule set: evaluation order, versions and provenance."""

    checked: CheckedRuleset
    steps: tuple[Step, ...]
    provenance: Provenance
    #: Versions of each param and table, in declaration order.
    params: Mapping[str, tuple[ParamVersion, ...]] = field(default_factory=dict, repr=False)
    tables: Mapping[str, tuple[TableVersion, ...]] = field(default_factory=dict, repr=False)
    #: For comparison and ``tiers`` nodes over ``one_of`` values: ``id(node)`` → the members,
    #: lowest first (values are ordered by position).
    enum_orders: Mapping[int, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _by_name: Mapping[str, Step] = field(default_factory=dict, repr=False, compare=False)
    #: The rated subject's inputs by name (filled from ``checked.subject``).
    inputs: Mapping[str, nodes.InputDecl] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self._by_name:
            object.__setattr__(self, "_by_name", {s.name: s for s in self.steps})
        if not self.inputs:
            object.__setattr__(self, "inputs", {d.name: d for d in self.checked.subject.inputs})

    @property
    def ruleset(self) -> nodes.Ruleset:
        return self.checked.ruleset

    def step(self, name: str) -> Step:
        """The step of a let, criterion, group or the total (``"<level>.<cond>"`` for a condition)."""
        return self._by_name[name]

    def has_step(self, name: str) -> bool:
        return name in self._by_name

    def default_day(self) -> dt.date:
        """The day used when a record has no ``on``: the start of the rule set's validity."""
        return self.checked.ruleset.in_force.start

    def param_version(self, name: str, day: dt.date | None = None) -> ParamVersion | None:
        """The version of param ``name`` in force on ``day`` (None: none is)."""
        return _in_force(self.params.get(name, ()), day or self.default_day())

    def table_version(self, name: str, day: dt.date | None = None) -> TableVersion | None:
        """The version of table ``name`` in force on ``day`` (None: none is)."""
        return _in_force(self.tables.get(name, ()), day or self.default_day())


_V = TypeVar("_V", ParamVersion, TableVersion)


def _in_force(versions: tuple[_V, ...], day: dt.date) -> _V | None:
    fallback: _V | None = None
    for version in versions:
        valid = version.decl.valid
        if valid is None:
            fallback = fallback or version
        elif valid.contains(day):
            return version
    return fallback


_Built = TypeVar("_Built")


def per_plan(build: Callable[[Plan], _Built], *, size: int = 64) -> Callable[[Plan], _Built]:
    """Memoise ``build`` per plan object: plans are immutable, so what is compiled from one stays
    valid while it lives. Keyed by identity (plans are not hashed), bounded to ``size`` plans."""
    cache: dict[int, tuple[Plan, _Built]] = {}

    def get(plan: Plan) -> _Built:
        hit = cache.get(id(plan))
        if hit is not None and hit[0] is plan:
            return hit[1]
        built = build(plan)
        cache[id(plan)] = (plan, built)
        if len(cache) > size:
            cache.pop(next(iter(cache)))
        return built

    get.__doc__ = build.__doc__
    return get
