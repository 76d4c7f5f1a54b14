"""The plan's steps over columns: :class:`~kpi_rules.colexpr._Eval` → :class:`~kpi_rules.colresults.ColumnarRun`.

:func:`run_plan` evaluates the lets and the criteria of a plan in order with the expression
evaluator of :mod:`kpi_rules.colexpr` (points clamped, groups summed, penalties subtracted), then
rates the total: the band from integer cut points on its numerators (:func:`band_table`), the
disqualifiers, and the conditions of the levels with the fallthrough of the rating.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kpi_rules import nodes
from kpi_rules.colexpr import _Eval
from kpi_rules.colresults import ColumnarRun, _Rating
from kpi_rules.exactcols import I64, LIMIT, Arith, BoolArr, CValue, Num, decide_range

__all__ = ["band_table", "run_plan"]


def run_plan(ev: _Eval) -> ColumnarRun:
    """Evaluate every step of the plan over the rows of ``ev``, then the total's band and level."""
    plan, arith = ev.plan, ev.arith
    size = ev.size
    lets: dict[str, CValue] = {}
    crit: dict[str, tuple[Num, Num]] = {}
    for step in plan.steps:
        node = step.node
        if isinstance(node, nodes.LetDecl):
            value = ev.ev(node.expr, None)
            ev.env[node.name] = lets[node.name] = value
            arith.publish(value)
        elif isinstance(node, nodes.Criterion):
            raw = ev.num(ev.ev(node.expr, None))
            points = _clamp(arith, raw, Num(0, 1), ev.const(node.max))
            crit[node.name] = (points, raw)
            ev.env[node.name] = points
            arith.publish(points, raw)
        elif isinstance(node, (nodes.CriteriaGroup, nodes.CriteriaTree)):
            raw = Num(0, 1)
            for child in node.children:
                child_points = crit[child.name][0]
                penalty = isinstance(child, nodes.CriteriaGroup) and child.kind == "penalty"
                arith.consume(raw)  # the running sum: held by this loop alone
                try:
                    raw = arith.add(raw, child_points, None, -1 if penalty else 1)
                finally:
                    arith.release()
            points = _clamp(arith, raw, Num(0, 1), ev.const(node.max))
            crit[node.name] = (points, raw)
            ev.env[node.name] = points
            arith.publish(points, raw)
    tree = plan.ruleset.criteria
    assert tree is not None
    total = crit[tree.name][0]
    rating = _rate(ev, total)
    return ColumnarRun(ev.prog, size, arith.bad, lets, crit, total, rating, ev.trace)

def _bands(ev: _Eval, total: Num) -> I64 | None:
    """The band of every row from integer cut points (one comparison per cut), when the
    total has one denominator; None otherwise."""
    rating = ev.plan.ruleset.rating
    n, d = total.n, total.d
    if rating is None or isinstance(n, int) or not isinstance(d, int):
        return None
    tables = ev.prog.band_tables
    if d not in tables:
        tables[d] = band_table(rating.levels, d)
    cuts, lut = tables[d]
    if len(cuts) > 120 or any(abs(c) > LIMIT for c in cuts):
        return None
    lo, hi = ev.arith.interval(n)
    top = len(cuts)
    # Usually each cut passed is one band up (band 0 is the highest): then the band is
    # ``top`` minus the cuts passed, without a table lookup.
    direct = lut == list(range(top, -1, -1))
    index = np.full(ev.size, top if direct else 0, dtype=np.int8)
    passed = np.empty(ev.size, dtype=np.bool_)
    for cut in cuts:
        decided = decide_range(">=", lo, hi, cut)
        if decided is None:
            np.greater_equal(n, cut, out=passed)
            step = passed.view(np.int8)
        elif decided:
            step = np.int8(1)  # type: ignore[assignment]
        else:
            continue
        if direct:
            np.subtract(index, step, out=index)
        else:
            np.add(index, step, out=index)
    return index if direct else np.asarray(lut, dtype=np.int8)[index]  # type: ignore[return-value]

def _rate(ev: _Eval, total: Num) -> _Rating | None:
    rating = ev.plan.ruleset.rating
    if rating is None or not rating.levels:
        return None
    arith, size = ev.arith, ev.size
    levels = rating.levels
    lowest = len(levels) - 1
    band = _bands(ev, total)
    if band is None:
        band = np.full(size, -1, dtype=np.int64)
        for j, level in reversed(list(enumerate(levels))):
            inside = np.ones(size, dtype=np.bool_)
            if level.lower is not None:
                inside &= arith.compare(">=", total, ev.const(level.lower), None)  # type: ignore[arg-type]
            if level.upper is not None:
                inside &= arith.compare("<", total, ev.const(level.upper), None)  # type: ignore[arg-type]
            band = np.where(inside, j, band)
    if band.size and int(band.min()) < 0:
        ev.fail(band < 0, None)  # KR305: no band
        band = np.where(band < 0, lowest, band)
    if not rating.disqualifiers and not any(lv.conditions for lv in levels):
        # Nothing but the score decides: the level is the band.
        none = np.zeros(size, dtype=np.bool_)
        return _Rating([lv.name for lv in levels], band, band, np.zeros(size, dtype=np.int8), [],
                       [none] * len(levels), [[] for _ in levels], [[] for _ in levels])
    names = [lv.name for lv in levels]
    forced = np.full(size, -1, dtype=np.int64)
    fired_cols: list[BoolArr] = []
    for disq in rating.disqualifiers:
        fired = ev.boolean(ev.ev(disq.when, None))
        fired_cols.append(fired)
        target = names.index(disq.target) if disq.target else lowest
        forced = np.where((forced < 0) & fired, target, forced)
    free = forced < 0
    chosen = np.full(size, -1, dtype=np.int64)
    at_band = np.zeros(size, dtype=np.bool_)
    searching = np.zeros(size, dtype=np.bool_)
    evaluated: list[BoolArr] = []
    conditions: list[list[BoolArr]] = []
    for j, level in enumerate(levels):
        here = free & (band == j)
        active = here | searching
        mets = [ev.boolean(ev.ev(c.expr, active)) for c in level.conditions]
        holds = np.ones(size, dtype=np.bool_)
        for met in mets:
            holds &= met
        evaluated.append(active)
        conditions.append(mets)
        newly = active & holds & (chosen < 0)
        chosen = np.where(newly, j, chosen)
        at_band |= here & holds
        searching = (active & ~holds) if rating.fallthrough == "highest_met" else np.zeros(size, np.bool_)
    chosen = np.where(chosen < 0, lowest, chosen)
    chosen = np.maximum(chosen, band)
    final = np.where(free, chosen, forced)
    reason = np.where(~free, 2, np.where(at_band, 0, 1))  # 0 band, 1 fallthrough, 2 disqualified
    every = _every_condition(ev, levels, evaluated, conditions)
    return _Rating(names, band, final, reason, fired_cols, evaluated, conditions, every)

def _every_condition(ev: _Eval, levels: Sequence[nodes.Level], evaluated: list[BoolArr],
                     conditions: list[list[BoolArr]]) -> list[list[BoolArr]]:
    """Every condition of every level on every row (``LevelDecision.all_conditions``): the
    decision's masks where it evaluated them, evaluated here (untraced) on the other rows. A
    row where that cannot be done is marked bad (the record path then counts it as not met)."""
    trace, ev.trace = ev.trace, None
    try:
        out: list[list[BoolArr]] = []
        for level, active, mets in zip(levels, evaluated, conditions):
            rest = ~active
            if not level.conditions or not rest.any():
                out.append(mets)
                continue
            out.append([np.where(active, met, ev.boolean(ev.ev(c.expr, rest)) & rest)
                        for c, met in zip(level.conditions, mets)])
        return out
    finally:
        ev.trace = trace


def band_table(levels: Sequence[nodes.Level], d: int) -> tuple[list[int], list[int]]:
    """Integer cut points on the numerators ``n`` of totals ``n / d``, and the band of each
    stretch between cuts (-1: no level's band holds it).

    For an integer ``n``, ``n / d >= x`` exactly when ``n >= ceil(x * d)``, and ``n / d < x``
    exactly when ``n < ceil(x * d)``: every band ``[lower, upper)`` becomes two integer cuts.
    """
    cuts_of: list[tuple[int | None, int | None]] = []
    for level in levels:
        lo = -((-level.lower.numerator * d) // level.lower.denominator) if level.lower is not None else None
        hi = -((-level.upper.numerator * d) // level.upper.denominator) if level.upper is not None else None
        cuts_of.append((lo, hi))
    cuts = sorted({c for pair in cuts_of for c in pair if c is not None})
    lut: list[int] = []
    for k in range(len(cuts) + 1):
        point = cuts[k - 1] if k else (cuts[0] - 1 if cuts else 0)
        lut.append(next((j for j, (lo, hi) in enumerate(cuts_of)
                         if (lo is None or point >= lo) and (hi is None or point < hi)), -1))
    return cuts, lut


def _clamp(arith: Arith, x: Num, lo: Num, hi: CValue) -> Num:
    assert isinstance(hi, Num)
    return arith.clamp(x, lo, hi)

