"""Aggregates over task items for the columnar program: fold items into per-row partials.

An aggregate ``sum(t in tasks where W: B)`` is evaluated over all items of a chunk at once
(``W`` and ``B`` by an item-level evaluator of :mod:`kpi_rules.columnar`) and reduced per owner
row into an :class:`AggPartial` (exact int64 segment sums: a wrapping cumulative sum when items
are grouped, ``np.add.at`` otherwise; per-owner magnitude estimates with ``np.bincount`` find
the owners at risk). Partials of successive chunks fold together, so item files are streamed;
:func:`finish` turns a partial into the aggregate's value per row and the rows it cannot decide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kpi_rules import nodes
from kpi_rules.exactcols import (
    I64,
    INT64_MAX,
    LIMIT,
    RISK,
    Arith,
    BoolArr,
    CValue,
    IntLike,
    ItemTable,
    Num,
    Unsupported,
    full_column,
)

if TYPE_CHECKING:
    from kpi_rules.colexpr import _Eval

__all__ = ["AggPartial", "finish", "fold"]


@dataclass(slots=True)
class AggPartial:
    """A pre-reduced aggregate over the items seen so far."""

    total: Num | None = None  # sum of the body (sum, mean)
    best: Num | None = None  # min / max
    has_best: BoolArr | None = None
    selected: I64 | None = None  # items passing ``where``
    hits: I64 | None = None  # items whose boolean body is true
    items: I64 | None = None  # all items
    first_event: I64 | None = None  # any/all: position of the first decisive or bad item
    first_bad: BoolArr | None = None
    bad: BoolArr | None = None
    #: ``total.n`` is this partial's own array (folds may add into it in place).
    owned: bool = False


def _segment_sum(rows: I64, values: IntLike, size: int) -> tuple[I64, BoolArr]:
    """Exact per-row sums of int64 values, and the rows whose sum could leave ``LIMIT``.

    Sums wrap in int64 and are exact whenever the true sum fits; a row is at risk when a float
    estimate of the sum of its absolute values reaches ``RISK``, an estimate skipped when the
    largest value times the longest run of one row's items stays below it (the usual case)."""
    vals = full_column(len(rows), values)
    m = len(rows)
    out = np.zeros(size, dtype=np.int64)
    risky = np.zeros(size, dtype=np.bool_)
    if not m:
        return out, risky
    big = max(int(vals.max()), -int(vals.min()))
    if bool(np.all(rows[1:] >= rows[:-1])):
        # Sorted rows (items come grouped by record): one sum per run of equal rows.
        starts = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1])))
        with np.errstate(over="ignore"):
            sums = np.add.reduceat(vals, starts)
        owners = rows[starts]
        longest = int(np.diff(np.append(starts, m)).max())
        if big * longest < RISK:
            out[owners] = sums
            return out, risky
        at_risk = np.add.reduceat(np.abs(vals.astype(np.float64)), starts) >= RISK
        out[owners] = np.where(at_risk, 0, sums)
        risky[owners] = at_risk
        return out, risky
    with np.errstate(over="ignore"):
        np.add.at(out, rows, vals)
    if big * m < RISK:
        return out, risky
    risky = np.bincount(rows, weights=np.abs(vals.astype(np.float64)), minlength=size) >= RISK
    return np.where(risky, 0, out), risky


def fold(parent: _Eval, agg: nodes.Aggregate, items: ItemTable, partial: AggPartial) -> None:
    """Evaluate an aggregate's ``where`` and body over ``items`` and fold them into ``partial``."""
    size = parent.size
    ev = parent.over_items(items, agg.var)
    rows = items.row
    m = items.size
    selected: BoolArr = np.ones(m, dtype=np.bool_)
    if agg.where is not None:
        selected = ev.boolean(ev.ev(agg.where, None)).copy()
    func = agg.func
    body_value: CValue | None = None
    if agg.body is not None:
        body_value = ev.ev(agg.body, selected)
    item_bad = ev.arith.bad
    if func in ("count", "share", "sum", "mean") and _fold_window(ev, agg, items, partial, selected, body_value,
                                                                   item_bad, size):
        return
    n_items = np.bincount(rows, minlength=size).astype(np.int64)
    n_selected = np.bincount(rows[selected], minlength=size).astype(np.int64) if agg.where is not None \
        else n_items.copy()
    partial.items = n_items if partial.items is None else partial.items + n_items
    partial.selected = n_selected if partial.selected is None else partial.selected + n_selected
    bad = np.zeros(size, dtype=np.bool_)
    arith = parent.arith
    if func in ("any", "all") and body_value is not None:
        hit = ev.boolean(body_value) == (func == "any")
        event = selected & (hit | item_bad)
        pos = np.arange(items.position, items.position + m, dtype=np.int64)
        first = np.full(size, INT64_MAX, dtype=np.int64)
        np.minimum.at(first, rows[event], pos[event])
        where_bad = np.zeros(size, dtype=np.bool_)
        where_bad[rows[item_bad & ~selected]] = True  # a bad `where` is always evaluated
        # Is the first event of each row a bad item?
        first_is_bad = np.zeros(size, dtype=np.bool_)
        ev_rows, ev_pos = rows[event & item_bad], pos[event & item_bad]
        first_is_bad[ev_rows[ev_pos == first[ev_rows]]] = True
        if partial.first_event is None or partial.first_bad is None:
            partial.first_event, partial.first_bad = first, first_is_bad
        else:
            earlier = first < partial.first_event
            partial.first_bad = np.where(earlier, first_is_bad, partial.first_bad)
            partial.first_event = np.minimum(first, partial.first_event)
        partial.bad = where_bad if partial.bad is None else (partial.bad | where_bad)
        return
    bad[rows[item_bad]] = True
    if func in ("count", "share") and body_value is not None:
        truth = selected & ev.boolean(body_value)
        hits = np.bincount(rows[truth], minlength=size).astype(np.int64)
        partial.hits = hits if partial.hits is None else partial.hits + hits
    elif func in ("sum", "mean"):
        assert body_value is not None
        value = ev.num(body_value)
        value = _to_shared_den(ev.arith, value, m)
        if not isinstance(value.d, int):
            raise Unsupported("item values without a common denominator")
        n = np.where(selected, value.n, 0) if agg.where is not None else value.n
        sums, risky = _segment_sum(rows, n, size)
        bad |= risky
        chunk = Num(sums, value.d)
        partial.total = chunk if partial.total is None else arith.add(partial.total, chunk, None)
        partial.owned = False
    elif func in ("min", "max"):
        assert body_value is not None
        value = _to_shared_den(ev.arith, ev.num(body_value), m)
        if not isinstance(value.d, int):
            raise Unsupported("item values without a common denominator")
        n = full_column(m, value.n)
        fill = INT64_MAX if func == "min" else -INT64_MAX
        best = np.full(size, fill, dtype=np.int64)
        (np.minimum if func == "min" else np.maximum).at(best, rows[selected], n[selected])
        has = n_selected > 0
        chunk_num = Num(np.where(has, best, 0), value.d)
        if partial.best is None or partial.has_best is None:
            partial.best, partial.has_best = chunk_num, has
        else:
            better = arith.compare("<" if func == "min" else ">", chunk_num, partial.best, None)
            take = has & (better | ~partial.has_best)
            partial.best = arith.select(take, chunk_num, partial.best, None)
            partial.has_best = partial.has_best | has
    partial.bad = bad if partial.bad is None else (partial.bad | bad)


def _fold_window(ev: _Eval, agg: nodes.Aggregate, items: ItemTable, partial: AggPartial, selected: BoolArr,
                 body_value: CValue | None, item_bad: BoolArr, size: int) -> bool:
    """Fold a chunk whose items belong to a narrow range of rows into that range of ``partial``
    only. Items come grouped by record, so a chunk of a large batch touches a few of its rows:
    arrays over every row per chunk would make a batch of n people cost n × chunks. Returns False
    (nothing done) when the range is not narrow, or when a sum cannot be added in place exactly
    (another denominator, a bound that could pass ``LIMIT``): the caller folds over every row."""
    m = items.size
    if not m:
        return False
    rows = items.row
    lo, hi = int(rows.min()), int(rows.max())
    width = hi - lo + 1
    if width * 4 > size:
        return False
    sums: I64 | None = None
    den = 1
    if agg.func in ("sum", "mean"):
        assert body_value is not None
        value = _to_shared_den(ev.arith, ev.num(body_value), m)
        if not isinstance(value.d, int):
            return False
        den = value.d
        total = partial.total
        if total is not None and not (isinstance(total.d, int) and total.d == den and isinstance(total.n, np.ndarray)):
            return False
        n = np.where(selected, value.n, 0) if agg.where is not None else value.n
        sums, risky = _segment_sum(rows - lo, n, width)
        if total is not None:
            assert isinstance(total.n, np.ndarray)
            here = total.n[lo:hi + 1]
            reach = max(abs(int(here.min())), abs(int(here.max()))) + max(abs(int(sums.min())), abs(int(sums.max())))
            if reach > LIMIT:
                return False
    local = rows - lo
    window = slice(lo, hi + 1)

    def counter(current: I64 | None, picked: I64) -> I64:
        out = np.zeros(size, dtype=np.int64) if current is None else current
        out[window] += np.bincount(picked, minlength=width)
        return out

    partial.items = counter(partial.items, local)
    partial.selected = counter(partial.selected, local[selected] if agg.where is not None else local)
    bad = np.zeros(size, dtype=np.bool_) if partial.bad is None else partial.bad
    bad[rows[item_bad]] = True
    if agg.func in ("count", "share") and body_value is not None:
        partial.hits = counter(partial.hits, local[selected & ev.boolean(body_value)])
    elif sums is not None:
        bad[window] |= risky
        if partial.total is None:
            partial.total = Num(np.zeros(size, dtype=np.int64), den)
        elif partial.total.lo is not None or partial.total.hi is not None or not partial.owned:
            # Own the array before adding in place (an earlier fold may have handed over a shared one).
            partial.total = Num(np.array(partial.total.n, dtype=np.int64), den)
        partial.owned = True
        assert isinstance(partial.total.n, np.ndarray)
        partial.total.n[window] += sums
    partial.bad = bad
    return True


def _to_shared_den(arith: Arith, value: Num, m: int) -> Num:
    """Item values over one denominator (the lcm of the distinct ones), when it stays small."""
    if isinstance(value.d, int):
        return value
    dens = np.unique(value.d)
    lcm = 1
    for d in dens.tolist():
        lcm = math.lcm(lcm, int(d))
        if lcm > (1 << 40):
            return value
    factor = lcm // value.d
    return Num(arith.mul(value.n, factor, None), lcm)


def finish(ev: _Eval, agg: nodes.Aggregate, p: AggPartial) -> tuple[CValue, BoolArr]:
    """The value of a pre-reduced aggregate per row, and the rows that cannot be decided."""
    size = ev.size
    bad = p.bad.copy() if p.bad is not None else np.zeros(size, dtype=np.bool_)
    zero_i = np.zeros(size, dtype=np.int64)
    items = p.items if p.items is not None else zero_i
    selected = p.selected if p.selected is not None else zero_i
    func = agg.func
    arith = ev.arith
    if func in ("any", "all"):
        if agg.body is None:
            value = (selected > 0) if func == "any" else np.ones(size, dtype=np.bool_)
            return value, bad
        has_event = p.first_event < INT64_MAX if p.first_event is not None else np.zeros(size, np.bool_)
        first_bad = p.first_bad if p.first_bad is not None else np.zeros(size, np.bool_)
        bad |= has_event & first_bad
        want = func == "any"
        return np.where(has_event, want, not want), bad
    if func == "count":
        return Num(p.hits if agg.body is not None and p.hits is not None else selected, 1), bad
    if func == "share":
        if agg.body is None:
            bad |= items == 0
            num, den = selected, items
        else:
            bad |= selected == 0
            num, den = (p.hits if p.hits is not None else zero_i), selected
        return arith.norm(Num(num, np.where(den == 0, 1, den))), bad
    if func == "sum":
        return (p.total if p.total is not None else Num(zero_i, 1)), bad
    if func == "mean":
        bad |= selected == 0
        total = p.total if p.total is not None else Num(zero_i, 1)
        quotient, _ = arith.divide(total, Num(np.where(selected == 0, 1, selected), 1), None)
        return quotient, bad
    bad |= selected == 0  # min/max over nothing
    best = p.best if p.best is not None else Num(zero_i, 1)
    return best, bad
