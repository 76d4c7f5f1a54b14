"""Tracers: what the evaluator records about the values of expression nodes.

A tracer is an argument of :func:`kpi_rules.evaluator.evaluate_record`, never a global. The
default :class:`NullTracer` records nothing and costs nothing (the evaluator checks
``enabled`` once per record). :class:`FullTracer` keeps the value of every expression node
evaluated at the top level of a step, keyed by ``id(node)``; inside an aggregate's ``where``
and body nothing is recorded per item, but the aggregate's own value is.

>>> from kpi_rules.nodes import NumberLit
>>> from fractions import Fraction
>>> node = NumberLit(Fraction(3))
>>> tracer = FullTracer()
>>> tracer.record(node, Fraction(3))
>>> tracer.snapshot()[id(node)]
Fraction(3, 1)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from kpi_rules import nodes
from kpi_rules.results import Value

__all__ = ["FullTracer", "NullTracer", "Tracer"]


@runtime_checkable
class Tracer(Protocol):
    """Receives the value of each evaluated expression node (when ``enabled``)."""

    @property
    def enabled(self) -> bool:
        """False means the evaluator never calls :meth:`record`."""
        ...

    def record(self, expr: nodes.Expr, value: Value) -> None:
        """Called once per evaluated node with the value it produced."""
        ...

    def snapshot(self) -> Mapping[int, Value] | None:
        """What goes into ``Result.trace``: values by ``id(node)``, or None."""
        ...


class NullTracer:
    """Records nothing (the default)."""

    __slots__ = ()

    @property
    def enabled(self) -> bool:
        return False

    def record(self, expr: nodes.Expr, value: Value) -> None:
        return None

    def snapshot(self) -> Mapping[int, Value] | None:
        return None


class FullTracer:
    """Records the value of every top-level expression node of every step.

    Use a fresh tracer per record: the snapshot of one evaluation goes into its ``Result``.
    The node ids are valid as long as the plan (which owns the nodes) is alive.
    """

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: dict[int, Value] = {}

    @property
    def enabled(self) -> bool:
        return True

    def record(self, expr: nodes.Expr, value: Value) -> None:
        self.values[id(expr)] = value

    def snapshot(self) -> Mapping[int, Value] | None:
        return dict(self.values)
