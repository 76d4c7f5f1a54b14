"""The columns of one columnar evaluation, and the ``Result`` of each row built from them.

:class:`ColumnarRun` holds what :meth:`kpi_rules.columnar.ColumnarProgram.run` computed (the
lets, the points of every criterion, the total, the rating, the traced values) and builds, for
one row, the very :class:`~kpi_rules.results.Result` that
:func:`kpi_rules.evaluator.evaluate_record` gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from kpi_rules import nodes
from kpi_rules.exactcols import I64, BoolArr, Cat, CValue, Num, full_column
from kpi_rules.results import (
    ConditionResult,
    CriterionKind,
    CriterionResult,
    DecisionReason,
    DisqualifierResult,
    LevelDecision,
    Result,
    Value,
)

if TYPE_CHECKING:
    from kpi_rules.columnar import ColumnarProgram

__all__ = ["REASONS", "ColumnarRun", "cell_value"]


@dataclass(slots=True)
class _Rating:
    names: list[str]
    band: I64
    level: I64
    reason: I64
    fired: list[BoolArr]
    evaluated: list[BoolArr]
    conditions: list[list[BoolArr]]
    #: Every condition of every level on every row (``LevelDecision.all_conditions``).
    every: list[list[BoolArr]]


_REASONS: tuple[DecisionReason, ...] = ("band", "fallthrough", "disqualified")
#: The decision reason of each code of ``_Rating.reason``.
REASONS = _REASONS


def _fractions(value: Num, size: int) -> list[Fraction]:
    num = Num(full_column(size, value.n), full_column(size, value.d))
    g = np.gcd(num.n, num.d)
    ns = (num.n // g).tolist()
    ds = (num.d // g).tolist()
    cache: dict[tuple[int, int], Fraction] = {}
    out: list[Fraction] = []
    for pair in zip(ns, ds):
        f = cache.get(pair)
        if f is None:
            f = cache[pair] = Fraction(pair[0], pair[1])
        out.append(f)
    return out


def _python(value: CValue, size: int) -> list[Value]:
    if isinstance(value, Num):
        return list(_fractions(value, size))
    if isinstance(value, Cat):
        labels = value.labels
        return [labels[c] for c in value.codes.tolist()]
    if isinstance(value, str):
        return [value] * size
    return [bool(x) for x in np.broadcast_to(value, (size,)).tolist()]


class ColumnarRun:
    """The columns of one evaluation; :meth:`result` builds the Result of one row."""

    def __init__(self, prog: ColumnarProgram, size: int, bad: BoolArr, lets: dict[str, CValue],
                 crit: dict[str, tuple[Num, Num]], total: Num, rating: _Rating | None,
                 trace: dict[int, tuple[CValue, BoolArr | None]] | None) -> None:
        self.prog = prog
        self.size = size
        #: Rows the columns do not decide: evaluate them record by record.
        self.bad = bad
        self.lets = lets
        self.crit = crit
        self.total = total
        self.rating = rating
        self._trace = trace
        self._py: dict[str, list[Any]] | None = None

    # Exact columns for callers who stay columnar.
    def total_fractions(self) -> list[Fraction]:
        return _fractions(self.total, self.size)

    def level_names(self) -> list[str | None]:
        if self.rating is None:
            return [None] * self.size
        names = self.rating.names
        return [names[i] for i in self.rating.level.tolist()]

    def _materialise(self) -> dict[str, list[Any]]:
        if self._py is None:
            size = self.size
            py: dict[str, list[Any]] = {}
            for name, value in self.lets.items():
                py["let:" + name] = _python(value, size)
            for name, (points, raw) in self.crit.items():
                py["pts:" + name] = _fractions(points, size)
                py["raw:" + name] = _fractions(raw, size)
            r = self.rating
            if r is not None:
                py["band"] = r.band.tolist()
                py["level"] = r.level.tolist()
                py["reason"] = r.reason.tolist()
                py["fired"] = [f.tolist() for f in r.fired]
            self._py = py
        return self._py

    def result(self, i: int, subject_id: str, name: str | None, period: str | None) -> Result:
        """The Result of row ``i`` (only for rows that are not bad)."""
        plan = self.prog.plan
        py = self._materialise()
        values = {n: py["let:" + n][i] for n in self.lets}
        tree = plan.ruleset.criteria
        assert tree is not None
        criteria = self._criterion(tree, py, i)
        decision = self._decision(i, py)
        trace = self.trace(i) if self._trace is not None else None
        return Result(subject_id=subject_id, status="rated", provenance=plan.provenance,
                      total=criteria.points, criteria=criteria, decision=decision, values=values,
                      subject_name=name, period=period, trace=trace)

    def _criterion(self, node: nodes.CriteriaTree | nodes.CriteriaItem, py: dict[str, list[Any]],
                   i: int) -> CriterionResult:
        name = node.name
        points, raw = py["pts:" + name][i], py["raw:" + name][i]
        if isinstance(node, nodes.Criterion):
            return CriterionResult(name, "criterion", points, raw, node.max)
        children = tuple(self._criterion(c, py, i) for c in node.children)
        kind: CriterionKind = "total" if isinstance(node, nodes.CriteriaTree) else node.kind
        return CriterionResult(name, kind, points, raw, node.max, children)

    def _decision(self, i: int, py: dict[str, list[Any]]) -> LevelDecision | None:
        r = self.rating
        rating = self.prog.plan.ruleset.rating
        if r is None or rating is None:
            return None
        band, level, reason = py["band"][i], py["level"][i], _REASONS[py["reason"][i]]
        names = r.names
        disqualifiers = tuple(
            DisqualifierResult(d.name, bool(py["fired"][k][i]), d.target or names[-1])
            for k, d in enumerate(rating.disqualifiers))
        conditions: list[ConditionResult] = []
        for j, lv in enumerate(rating.levels):
            if lv.conditions and r.evaluated[j][i]:
                conditions.extend(ConditionResult(lv.name, c.name, bool(r.conditions[j][k][i]))
                                  for k, c in enumerate(lv.conditions))
        passed = tuple(names[band:level]) if reason == "fallthrough" else ()
        every = py.get("every")
        if every is None:
            every = py["every"] = [[m.tolist() for m in mets] for mets in r.every]
        all_conditions = tuple(ConditionResult(lv.name, c.name, bool(every[j][k][i]))
                               for j, lv in enumerate(rating.levels) for k, c in enumerate(lv.conditions))
        return LevelDecision(band_level=names[band], level=names[level], reason=reason,
                             conditions=tuple(conditions), disqualifiers=disqualifiers, passed_over=passed,
                             all_conditions=all_conditions)

    def traced(self, node_id: int) -> tuple[CValue, BoolArr | None] | None:
        """The traced column of a node and the mask of the rows it holds for (None: all rows),
        or None when the run did not trace it (explanations filled from the columns read it)."""
        if self._trace is None:
            return None
        return self._trace.get(node_id)

    def trace(self, i: int) -> dict[int, Value]:
        """What a FullTracer would hold for the nodes explanations read (inputs, params,
        aggregates, table lookups), for row ``i``."""
        out: dict[int, Value] = {}
        assert self._trace is not None
        for key, (value, mask) in self._trace.items():
            if mask is not None and not mask[i]:
                continue
            out[key] = cell_value(value, i)
        return out


def cell_value(value: CValue, i: int) -> Value:
    """The exact value of row ``i`` of a column (or of a constant that stands for a column)."""
    if isinstance(value, Num):
        n = value.n if isinstance(value.n, int) else int(value.n[i])
        d = value.d if isinstance(value.d, int) else int(value.d[i])
        return Fraction(n, d)
    if isinstance(value, Cat):
        return value.labels[int(value.codes[i])]
    if isinstance(value, str):
        return value
    return bool(value[i])
