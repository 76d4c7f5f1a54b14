"""Years from columns: the period results of a columnar province run → year results and the quota.

Input: the columnar batches of a province run (:class:`~kpi_rules.batch.BatchResult`, staff and
the leaders and units rated in batches) and the period results rated one by one. Output: what
:func:`kpi_rules.province.combine_and_rank` gives for the same results (year results, quota
reports, stages), without a ``Result`` per period row and without a ``Result`` per year until one
is read (:class:`YearResults` builds each on first access).

How: every period row becomes a few integers (status, the exact total as a reduced ``n / d``,
level code, a bit mask of the disqualifiers that fired, a bit mask of the level conditions met),
read from the batch's columns (or decoded from a ``Result`` rated one by one). Per subject and
year: the mean of the rated periods exactly (int64 numerators and denominators, rows whose
products could leave int64 go through Python fractions), its band by integer comparisons with
the cuts, the disqualifiers fired in any rated period (bitwise or), the conditions held in every
one (bitwise and). Year rows that share all of these share one decision, made once by
``periods._decide`` from that key's first row (so the decision logic is the one of
:func:`~kpi_rules.periods.combine_periods`). The quota runs over the year rows
(:mod:`kpi_rules.quota_columns`).

A year goes through :func:`~kpi_rules.periods.combine_periods` itself (with its period results)
when the columns cannot decide it: a period with an override, a period label that is not a
monitored period of its year (the function then raises as it always did), a total beyond int64,
a rule set without rating levels or with a rating that differs from its batch's.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from kpi_rules.batch import BatchResult
from kpi_rules.bundle import Bundle
from kpi_rules.colresults import REASONS
from kpi_rules.diagnostics import DiagnosticError
from kpi_rules.exactcols import full_column
from kpi_rules.periods import NO_RATED_PERIOD, _decide, _in_band, combine_periods, parse_period, periods_in
from kpi_rules.plan import Plan
from kpi_rules.results import (
    Combination,
    InsufficientReason,
    LevelDecision,
    PeriodUse,
    Result,
)

__all__ = ["YearResults", "combine_and_rank_columns"]

_NO, _INSUFFICIENT, _RATED = 0, 1, 2
#: Float estimates above this are treated as leaving int64 (a margin of 4x below 2**63).
_RISK = float(1 << 61)
_FIT = 1 << 62
#: Year rows read into Python lists at a time when results are built.
_BLOCK = 4096


# --------------------------------------------------------------------------- period rows


class _PeriodRows:
    """Every period result of the run as columns (one row per subject and period)."""

    def __init__(self) -> None:
        #: Subject and period of each row, as Arrow string arrays (encoded once for the whole run).
        self.subjects: list[Any] = []
        self.periods: list[Any] = []
        self._parts: dict[str, list[np.ndarray[Any, Any]]] = {k: [] for k in
                                                               ("status", "n", "d", "level", "fired", "conds",
                                                                "ok", "ref", "row")}
        #: (chunk, plan, cache of its decisions' lists) of each columnar chunk read.
        self.chunks: list[tuple[Any, Plan, dict[str, Any]]] = []
        #: Period results rated one by one (or by a batch's record-by-record path).
        self.objects: list[Result] = []
        #: Rows of objects not yet added to the parts (a list per column, then subject and period).
        self._pending: list[list[Any]] = [[] for _ in range(len(self._parts) + 2)]

    def _add(self, size: int, **columns: Any) -> None:
        self._flush()
        for key, parts in self._parts.items():
            value = columns[key]
            parts.append(np.asarray(value, dtype=np.bool_ if key == "ok" else np.int64)
                         if isinstance(value, np.ndarray) else np.full(size, value, np.bool_ if key == "ok" else np.int64))

    def _flush(self) -> None:
        pending = self._pending
        if not pending[0]:
            return
        for (key, parts), values in zip(self._parts.items(), pending):
            parts.append(np.array(values, dtype=np.bool_ if key == "ok" else np.int64))
        self.subjects.append(pending[-2])
        self.periods.append(pending[-1])
        self._pending = [[] for _ in pending]

    def add_batch(self, batch: BatchResult, rating_of: Mapping[str, tuple[Any, ...] | None],
                  role_of: Any) -> None:
        """The rows of one batch in record order: columnar stretches from the columns, the others
        as objects."""
        for chunk_index, item, stop in batch._segments:
            if chunk_index < 0:
                self.add_result(item, rating_of, role_of)
                continue
            chunk = batch._chunks[chunk_index]
            run = chunk.run
            size = stop - item
            if not size:
                continue
            ids = _strings(chunk, "ids", item, stop)
            sig = rating_of.get(role_of(ids[0].as_py()) or "")
            mine = run.rating is not None and sig is not None and _signature(batch.plan) == sig
            ref = len(self.chunks)
            self.chunks.append((chunk, batch.plan, {}))
            if not mine:
                for i in range(item, stop):
                    self.add_result(_light(self.chunks[ref], i), rating_of, role_of)
                continue
            rating = run.rating
            assert rating is not None
            total = run.total
            n = full_column(run.size, total.n)[item:stop]
            d = full_column(run.size, total.d)[item:stop]
            n, d = _reduced(n, d)
            fired = np.zeros(size, np.int64)
            for k, column in enumerate(rating.fired):
                fired |= np.broadcast_to(np.asarray(column, np.bool_), (run.size,))[item:stop].astype(np.int64) << k
            conds = np.zeros(size, np.int64)
            bit = 0
            for mets in rating.every:
                for column in mets:
                    conds |= np.broadcast_to(np.asarray(column, np.bool_), (run.size,))[item:stop].astype(np.int64) << bit
                    bit += 1
            level = np.broadcast_to(np.asarray(rating.level, np.int64), (run.size,))[item:stop]
            self._flush()
            self.subjects.append(ids)
            self.periods.append(_strings(chunk, "periods", item, stop))
            self._add(size, status=_RATED, n=n, d=d, level=level, fired=fired, conds=conds, ok=True, ref=ref,
                      row=np.arange(item, stop, dtype=np.int64))

    def add_result(self, result: Result, rating_of: Mapping[str, tuple[Any, ...] | None], role_of: Any) -> None:
        """A ``Result`` as a row: decoded when the columns can carry it, else kept for the slow path."""
        subject = result.subject_id
        sig = rating_of.get(role_of(subject) or "")
        status, n, d, level, fired, conds, ok = _INSUFFICIENT, 0, 1, -1, 0, 0, sig is not None
        if result.status == "rated" and result.total is not None:
            status = _RATED
            decision = result.decision
            total = result.total
            n, d = total.numerator, total.denominator
            ok = ok and decision is not None and decision.override is None and abs(n) < _FIT and d < _FIT
            if ok:
                assert decision is not None and sig is not None
                levels, disqualifiers, conditions = sig
                ok = decision.level in levels and tuple(q.name for q in decision.disqualifiers) == disqualifiers
                if ok:
                    level = levels.index(decision.level)
                    fired = sum(1 << k for k, q in enumerate(decision.disqualifiers) if q.fired)
                    met = {(c.level, c.name) for c in decision.all_conditions if c.met}
                    conds = sum(1 << b for b, pair in enumerate(conditions) if pair in met)
            if not ok:
                n, d = 0, 1
        for values, value in zip(self._pending, (status, n, d, level, fired, conds, ok, -1, len(self.objects),
                                                 subject, str(result.period))):
            values.append(value)
        self.objects.append(result)

    def column(self, key: str) -> np.ndarray[Any, Any]:
        self._flush()
        parts = self._parts[key]
        if not parts:
            return np.zeros(0, np.bool_ if key == "ok" else np.int64)
        return np.concatenate(parts)

    def codes(self, key: str) -> tuple[np.ndarray[Any, Any], list[str]]:
        """The code of each row's subject (``key="subjects"``) or period, and the values coded."""
        codes, values = self.coded(key)
        return codes, values.to_pylist()

    def coded(self, key: str) -> tuple[np.ndarray[Any, Any], Any]:
        """:meth:`codes` with the values coded as an Arrow string array."""
        import pyarrow as pa
        import pyarrow.compute as pc

        self._flush()
        parts: list[Any] = []
        pending: list[str] = []
        for part in getattr(self, key):
            if isinstance(part, pa.Array):
                if pending:
                    parts.append(pa.array(pending, pa.string()))
                    pending = []
                parts.append(part)
            else:
                pending.extend(part)
        if pending:
            parts.append(pa.array(pending, pa.string()))
        if not parts:
            return np.zeros(0, np.int64), pa.array([], pa.string())
        encoded = pc.dictionary_encode(pa.concat_arrays(parts))
        return np.asarray(encoded.indices.to_numpy(zero_copy_only=False), np.int64), encoded.dictionary

    def name(self, ref: int, row: int) -> str | None:
        if ref < 0:
            return self.objects[row].subject_name
        names: list[str | None] = self.chunks[ref][0].names
        return names[row]

    def names_of(self, ref: int) -> Sequence[str | None]:
        """``name(ref, row)`` for every row of one columnar chunk (``ref >= 0``), indexed by row."""
        names: list[str | None] = self.chunks[ref][0].names
        return names

    def light(self, ref: int, row: int) -> Result:
        """The period ``Result`` combining periods reads (status, total, decision, name, period)."""
        return self.objects[row] if ref < 0 else _light(self.chunks[ref], row)


def _strings(chunk: Any, key: str, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of a chunk's ids or periods as an Arrow string array."""
    import pyarrow as pa

    source = chunk._sources[key]
    if isinstance(source, pa.ChunkedArray):
        source = source.combine_chunks() if source.num_chunks != 1 else source.chunk(0)
    if isinstance(source, pa.Array):
        part = source.slice(start, stop - start)
        return part if part.type == pa.string() else part.cast(pa.string())
    return pa.array([str(x) for x in chunk._list(key)[start:stop]], pa.string())


def _signature(plan: Plan) -> tuple[Any, ...] | None:
    """Level names, disqualifier names and (level, condition) pairs of a rating; None without levels."""
    rating = plan.ruleset.rating
    if rating is None or not rating.levels or len(rating.disqualifiers) > 62 \
            or sum(len(lv.conditions) for lv in rating.levels) > 62:
        return None  # no levels, or more than an int64 mask holds
    return (tuple(lv.name for lv in rating.levels), tuple(q.name for q in rating.disqualifiers),
            tuple((lv.name, c.name) for lv in rating.levels for c in lv.conditions))


def _light(entry: tuple[Any, Plan, dict[str, Any]], i: int) -> Result:
    """Row ``i`` of a columnar chunk as the light ``Result`` the province run built before."""
    chunk, plan, py = entry
    run = chunk.run
    rating = run.rating
    if rating is not None and not py:
        py.update(band=rating.band.tolist(), level=rating.level.tolist(), reason=rating.reason.tolist(),
                  fired=[f.tolist() for f in rating.fired])
    decision = run._decision(i, py) if rating is not None else None
    total = Fraction(int(full_column(run.size, run.total.n)[i]), int(full_column(run.size, run.total.d)[i]))
    subject = _cell(chunk, "ids", i)
    return Result("" if subject is None else str(subject), "rated", plan.provenance, total, None, decision,
                  subject_name=_cell(chunk, "names", i), period=_cell(chunk, "periods", i))


def _cell(chunk: Any, key: str, i: int) -> Any:
    """One value of a chunk's ids, names or periods, without reading the whole column into a list."""
    done = chunk._lists.get(key)
    if done is not None:
        return done[i]
    source = chunk._sources[key]
    if source is None:
        return None
    return source[i] if isinstance(source, list) else source[i].as_py()


def _reduced(n: np.ndarray[Any, Any], d: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    n = np.asarray(n, np.int64)
    d = np.asarray(d, np.int64)
    g = np.gcd(n, d)
    g[g == 0] = 1
    sign = np.where(d < 0, -1, 1)
    return n // g * sign, d // g * sign


# --------------------------------------------------------------------------- exact means and bands


def _means(n: np.ndarray[Any, Any], d: np.ndarray[Any, Any], rated: np.ndarray[Any, Any]) -> tuple[
        np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The exact mean of the rated slots of each row as a reduced ``N / D``, and where int64 held."""
    rows = n.shape[0]
    acc_n = np.zeros(rows, np.int64)
    acc_d = np.ones(rows, np.int64)
    ok = np.ones(rows, np.bool_)
    with np.errstate(over="ignore"):
        for j in range(n.shape[1]):
            m = rated[:, j] & ok
            nj = np.where(m, n[:, j], 0)
            dj = np.where(m, d[:, j], 1)
            g = np.gcd(acc_d, dj)
            a, b = acc_d // g, dj // g
            risk = (np.abs(acc_n).astype(np.float64) * b + np.abs(nj).astype(np.float64) * a > _RISK) | \
                (acc_d.astype(np.float64) * b > _RISK)
            ok &= ~risk
            new_n = np.where(ok, acc_n * b + nj * a, 0)
            new_d = np.where(ok, acc_d * b, 1)
            g = np.gcd(new_n, new_d)
            acc_n, acc_d = new_n // g, new_d // g
        k = rated.sum(axis=1).astype(np.int64)
        kk = np.maximum(k, 1)
        g = np.gcd(acc_n, kk)
        g[g == 0] = 1
        big = acc_d.astype(np.float64) * (kk // g) > _RISK
        ok &= ~big
        return np.where(ok, acc_n // g, 0), np.where(ok, acc_d * (kk // g), 1), ok


def _bands(levels: Sequence[Any], num: np.ndarray[Any, Any], den: np.ndarray[Any, Any],
           ok: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The index of the first level whose band holds ``num / den`` (-1: none), and where int64 held."""
    band = np.full(num.shape[0], -1, np.int64)
    ok = ok.copy()
    with np.errstate(over="ignore"):
        for j in range(len(levels) - 1, -1, -1):
            inside = np.ones(num.shape[0], np.bool_)
            for cut, upper in ((levels[j].lower, False), (levels[j].upper, True)):
                if cut is None:
                    continue
                cut = Fraction(cut)
                if abs(cut.numerator) >= _FIT or cut.denominator >= _FIT:
                    ok[:] = False
                    continue
                risk = (np.abs(num).astype(np.float64) * cut.denominator > _RISK) | \
                    (den.astype(np.float64) * abs(cut.numerator) > _RISK)
                ok &= ~risk
                left, right = num * cut.denominator, den * cut.numerator
                inside &= (left < right) if upper else (left >= right)
            band = np.where(inside, j, band)
    return band, ok


def _distinct_rows(keys: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any],
                                                       np.ndarray[Any, Any]]:
    """``np.unique(keys, axis=0, return_index=True, return_inverse=True)`` for non-negative keys,
    through one int64 per row when the columns' ranges allow it (much faster than rows)."""
    radix = [int(c.max()) + 1 if len(c) else 1 for c in keys.T]
    if keys.size and int(keys.min()) >= 0 and float(np.prod(np.asarray(radix, np.float64))) < _RISK:
        single = np.zeros(keys.shape[0], np.int64)
        for column, base in zip(keys.T, radix):
            single = single * base + column
        _, first, inverse = np.unique(single, return_index=True, return_inverse=True)
        return keys[first], first, inverse.reshape(-1)
    distinct, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    return distinct, first, inverse.reshape(-1)


# --------------------------------------------------------------------------- one role's years


class _RoleYears:
    """The years of one role whose rule set declares ``periods``: matrices year row × period slot."""

    def __init__(self, plan: Plan, rows: _PeriodRows, subjects: list[str], years: list[str],
                 prow: np.ndarray[Any, Any], slow: np.ndarray[Any, Any],
                 members: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]],
                 columns: Mapping[str, np.ndarray[Any, Any]]) -> None:
        ruleset = plan.ruleset
        decl = ruleset.periods
        rating = ruleset.rating
        assert decl is not None
        self.plan, self.rows, self.subjects, self.years = plan, rows, subjects, years
        self.decl, self.method = decl, decl.combine
        self.prow, self.slow = prow, slow
        self.ref_of, self.row_of = columns["ref"], columns["row"]
        self.levels: tuple[str, ...] = tuple(lv.name for lv in rating.levels) if rating is not None else ()
        self.disqualifiers = tuple(q.name for q in rating.disqualifiers) if rating is not None else ()
        size = len(subjects)
        self.size = size
        here = prow >= 0
        safe = np.maximum(prow, 0)
        self.status = np.where(here, columns["status"][safe], _NO)
        self.n = np.where(here, columns["n"][safe], 0)
        self.d = np.where(here, columns["d"][safe], 1)
        self.level = np.where(here, columns["level"][safe], -1)
        self.fired = np.where(here, columns["fired"][safe], 0)
        rated = self.status == _RATED
        self.count = rated.sum(axis=1)
        # Decisions, per distinct key, and the exact mean of each year
        self.num = np.zeros(size, np.int64)
        self.den = np.ones(size, np.int64)
        self.big: dict[int, Fraction] = {}
        self.decision: list[LevelDecision | None] = [None] * size
        self.combination: list[tuple[tuple[tuple[str, int], ...], int | None]] = [((), None)] * size
        self.results: list[Result | None] = [None] * size
        self._not_used: dict[tuple[str, int], PeriodUse] = {}
        self._blocks: dict[int, tuple[list[Any], ...]] = {}
        self._fired_names: dict[int, tuple[str, ...]] = {}
        self._spans: dict[str, tuple[str, tuple[str, ...]]] = {}
        if rating is None or not rating.levels:
            self.slow = slow = np.ones(size, np.bool_)
        fast = ~slow & (self.count > 0)
        if fast.any():
            self._decide_fast(rating, fast, rated, here, safe, columns)
        # The years the columns cannot decide: through combine_periods with their period results.
        slow_rows = np.flatnonzero(self.slow)
        if len(slow_rows):
            mine, inverse = members
            pick = np.isin(inverse, slow_rows)
            found: dict[int, list[int]] = {}
            for y, r in zip(inverse[pick].tolist(), mine[pick].tolist()):
                found.setdefault(y, []).append(r)
            for y in slow_rows.tolist():
                results = sorted((rows.light(int(columns["ref"][r]), int(columns["row"][r])) for r in found[y]),
                                 key=lambda r: str(r.period))
                self.results[y] = combine_periods(plan, subjects[y], years[y], tuple(results))

    def _decide_fast(self, rating: Any, fast: np.ndarray[Any, Any], rated: np.ndarray[Any, Any],
                     here: np.ndarray[Any, Any], safe: np.ndarray[Any, Any],
                     columns: Mapping[str, np.ndarray[Any, Any]]) -> None:
        rows = np.flatnonzero(fast)
        r = rated[rows]
        num, den, ok = _means(self.n[rows], self.d[rows], r)
        band, ok = _bands(rating.levels, num, den, ok)
        totals: dict[int, Fraction] = {}
        for k in np.flatnonzero(~ok).tolist():
            y = int(rows[k])
            total = sum((Fraction(int(a), int(b)) for a, b, use in zip(self.n[y], self.d[y], rated[y]) if use),
                        Fraction(0)) / int(self.count[y])
            totals[y] = total
            band[k] = next((j for j, lv in enumerate(rating.levels) if _in_band(total, lv)), -1)
            if abs(total.numerator) < _FIT and total.denominator < _FIT:
                num[k], den[k] = total.numerator, total.denominator
            else:
                self.big[y] = total
        self.num[rows], self.den[rows] = num, den
        outside = band < 0
        if outside.any():  # the checker proves the bands cover the range: combine_periods says KR329
            self.slow[rows[outside]] = True
            rows, band, r = rows[~outside], band[~outside], r[~outside]
        conds = np.where(here, columns["conds"][safe], 0)[rows]
        all_ones = np.int64(-1)
        fired_any = np.bitwise_or.reduce(np.where(r, self.fired[rows], 0), axis=1)
        held = np.bitwise_and.reduce(np.where(r, conds, all_ones), axis=1)
        parts = [band, fired_any, held]
        if self.method == "rating_count":
            parts.append(self.count[rows])
            level = self.level[rows]
            parts.extend((r & (level == j)).sum(axis=1) for j in range(len(self.levels)))
        keys = np.stack(parts, axis=1).astype(np.int64)
        distinct, first, inverse = _distinct_rows(keys)
        made: list[tuple[LevelDecision, tuple[tuple[str, int], ...], int | None]] = []
        for k in range(len(distinct)):
            y = int(rows[first[k]])
            total = self.total(y)
            rated_results = [self.rows.light(int(columns["ref"][p]), int(columns["row"][p]))
                             for p, use in zip(self.prow[y].tolist(), rated[y].tolist()) if use]
            decision, combination = _decide(rating, self.decl, total, rated_results,
                                            Combination(self.method, ()), None, f"subject {self.subjects[y]}")
            made.append((decision, combination.counts, combination.rule))
        decisions, combos = self.decision, self.combination
        for y, k in zip(rows.tolist(), inverse.tolist()):
            decision, counts, rule = made[k]
            decisions[y] = decision
            combos[y] = (counts, rule)

    # ------------------------------------------------------------------ reading

    def total(self, y: int) -> Fraction:
        found = self.big.get(y)
        return found if found is not None else Fraction(int(self.num[y]), int(self.den[y]))

    def _span(self, year: str) -> tuple[str, tuple[str, ...]]:
        """The span's label and the labels of its monitored periods."""
        found = self._spans.get(year)
        if found is None:
            span = parse_period(year)
            found = self._spans[year] = (span.label, tuple(p.label for p in periods_in(span, self.decl.monitor)))
        return found

    def _fired(self, mask: int) -> tuple[str, ...]:
        found = self._fired_names.get(mask)
        if found is None:
            found = self._fired_names[mask] = tuple(q for k, q in enumerate(self.disqualifiers) if mask >> k & 1)
        return found

    def _block(self, b: int) -> tuple[list[Any], ...]:
        """Rows ``b * _BLOCK`` on as Python lists (building results one by one from numpy scalars
        would cost more than the results)."""
        found = self._blocks.get(b)
        if found is None:
            part = slice(b * _BLOCK, (b + 1) * _BLOCK)
            prow = self.prow[part]
            here = prow >= 0
            safe = np.maximum(prow, 0)
            found = self._blocks[b] = (
                self.status[part].tolist(), self.n[part].tolist(), self.d[part].tolist(), self.level[part].tolist(),
                self.fired[part].tolist(), np.where(here, self.ref_of[safe], -2).tolist(),
                np.where(here, self.row_of[safe], -1).tolist(), self.count[part].tolist())
        return found

    def result(self, y: int, cohort: Any = None) -> Result:
        """The year result of row ``y`` (``cohort``: its decision after the quota, if it was ranked)."""
        found = self.results[y]
        if found is not None:
            return found
        label, labels = self._span(self.years[y])
        status, n, d, level, fired, refs, rows, count = self._block(y // _BLOCK)
        k = y % _BLOCK
        status, n, d, level, fired = status[k], n[k], d[k], level[k], fired[k]
        uses: list[PeriodUse] = []
        not_used = self._not_used
        levels = self.levels
        for j, use_label in enumerate(labels):
            s = status[j]
            if s == _RATED:
                uses.append(PeriodUse(use_label, True, "rated", Fraction(n[j], d[j]), levels[level[j]],
                                      self._fired(fired[j])))
            else:
                use = not_used.get((use_label, s))
                if use is None:
                    use = not_used[(use_label, s)] = PeriodUse(use_label, False, "insufficient_data"
                                                               if s == _INSUFFICIENT else "no_record")
                uses.append(use)
        name = None
        for ref, row in zip(refs[k], rows[k]):
            if ref > -2:
                name = self.rows.name(ref, row)
                if name:
                    break
        name = name or None
        plan = self.plan
        if not count[k]:
            return Result(subject_id=self.subjects[y], status="insufficient_data", provenance=plan.provenance,
                          insufficient=InsufficientReason(NO_RATED_PERIOD, self.decl.span), subject_name=name,
                          period=label, combined=Combination(self.method, tuple(uses)))
        counts, rule = self.combination[y]
        decision = self.decision[y] if cohort is None else cohort
        return Result(subject_id=self.subjects[y], status="rated", provenance=plan.provenance, total=self.total(y),
                      decision=decision, subject_name=name, period=label,
                      combined=Combination(self.method, tuple(uses), counts, rule))

    def summary(self, y: int) -> tuple[bool, str | None, str | None]:
        """(rated with a decision and a total, level, decision reason) of row ``y`` before the quota."""
        found = self.results[y]
        if found is not None:
            rated = found.status == "rated" and found.decision is not None and found.total is not None
            return rated, found.level, found.decision.reason if found.decision is not None else None
        decision = self.decision[y]
        if not self.count[y] or decision is None:
            return False, None, None
        return True, decision.level, decision.reason

    def exact_total(self, y: int) -> Fraction:
        found = self.results[y]
        if found is not None:
            assert found.total is not None
            return found.total
        return self.total(y)


# --------------------------------------------------------------------------- the years mapping


class YearResults(Mapping[tuple[str, str], Result]):
    """Year results in the order ``combine_and_rank`` gives them, each built on first access.

    Rows are numbered in that order (``i``); the keys and their index are made when first asked for."""

    def __init__(self) -> None:
        self.tables: list[_RoleYears] = []
        #: (first row, end, role) of each role's rows, in order.
        self.spans: list[tuple[int, int, str]] = []
        #: The quota's outcome per row: (level, reason, cohort decision), set by the quota.
        self.ranked: dict[int, tuple[str, Any, Any]] = {}
        self.built: dict[int, Result] = {}
        self._size = 0
        self._index: dict[tuple[str, str], int] | None = None

    def add(self, table: _RoleYears, role: str) -> None:
        self.spans.append((self._size, self._size + table.size, role))
        self.tables.append(table)
        self._size += table.size
        self._index = None

    def locate(self, i: int) -> tuple[_RoleYears, int]:
        """The table of row ``i`` and the row's place in it."""
        k = bisect.bisect_right(self.spans, (i, 1 << 62)) - 1
        return self.tables[k], i - self.spans[k][0]

    def subjects(self) -> list[str]:
        return [s for table in self.tables for s in table.subjects]

    def row(self, i: int) -> Result:
        found = self.built.get(i)
        if found is not None:
            return found
        table, y = self.locate(i)
        ranked = self.ranked.get(i)
        if ranked is None:
            result = table.result(y)
        else:
            level, reason, cohort = ranked
            base = table.results[y]
            decision = base.decision if base is not None else table.decision[y]
            assert decision is not None
            final = LevelDecision(decision.band_level, level, reason, decision.conditions, decision.disqualifiers,
                                  decision.passed_over, decision.override, cohort, decision.all_conditions)
            result = dataclasses.replace(base, decision=final) if base is not None else table.result(y, final)
        self.built[i] = result
        return result

    def _keys(self) -> dict[tuple[str, str], int]:
        if self._index is None:
            self._index = {key: i for i, key in enumerate(self)}
        return self._index

    def __getitem__(self, key: tuple[str, str]) -> Result:
        return self.row(self._keys()[key])

    def __contains__(self, key: object) -> bool:
        return key in self._keys()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for table in self.tables:
            yield from zip(table.subjects, table.years)

    def __len__(self) -> int:
        return self._size

    def summaries(self, roles: set[str]) -> tuple[list[int], list[str], list[bool], list[str | None], list[Any]]:
        """The rows of ``roles`` (in order), their subjects and, for each, (rated with a decision
        and a total, level, decision reason) before the quota."""
        rows: list[int] = []
        subjects: list[str] = []
        rated: list[bool] = []
        levels: list[str | None] = []
        reasons: list[Any] = []
        for table, (start, stop, role) in zip(self.tables, self.spans):
            if role not in roles:
                continue
            base = len(rows)
            rows.extend(range(start, stop))
            subjects.extend(table.subjects)
            decisions = table.decision
            rated.extend(d is not None for d in decisions)
            levels.extend(d.level if d is not None else None for d in decisions)
            reasons.extend(d.reason if d is not None else None for d in decisions)
            for y in np.flatnonzero(table.slow).tolist():
                rated[base + y], levels[base + y], reasons[base + y] = table.summary(y)
        return rows, subjects, rated, levels, reasons

    def total(self, i: int) -> Fraction:
        table, y = self.locate(i)
        return table.exact_total(y)


# --------------------------------------------------------------------------- the stage


def combine_and_rank_columns(bundle: Bundle, province: Any, batches: Sequence[BatchResult],
                             others: Mapping[tuple[str, str], Result]) -> tuple[
        YearResults, tuple[object, ...], dict[str, str]]:
    """``combine_and_rank(bundle, province, results)`` for the period results of ``batches`` (every
    accepted row of each) and ``others`` (the results rated one by one): the same year results
    (built on access), the same quota reports in the same order, the same stages."""
    import pyarrow.compute as pc

    from kpi_rules.quota_columns import rank_year_rows

    role_cache: dict[str, str | None] = {}

    def role_of(subject: str) -> str | None:
        found = role_cache.get(subject, "")
        if found == "":
            found = role_cache[subject] = province.role_of(subject)
        return found

    rating_of = {role: _signature(rr.rules.plan) for role, rr in bundle.roles.items()}
    rows = _PeriodRows()
    for batch in batches:
        rows.add_batch(batch, rating_of, role_of)
    for result in others.values():
        rows.add_result(result, rating_of, role_of)
    columns = {key: rows.column(key) for key in ("status", "n", "d", "level", "fired", "conds", "ok", "ref", "row")}
    stages: dict[str, str] = {}
    years = YearResults()
    # subject and year of every period row, as codes
    scode, subject_values = rows.coded("subjects")
    subject_names: list[str] = subject_values.to_pylist()
    pcode, labels = rows.codes("periods")
    year_code: dict[str, int] = {}
    year_of_label = np.array([year_code.setdefault(p[:4], len(year_code)) for p in labels], np.int64)
    year_names = list(year_code)
    role_index = {role: k for k, role in enumerate(bundle.roles)}
    people, units = province.people, province.units  # Province.role_of, for every subject at once
    subject_role = np.array([role_index.get(p.role if (p := people.get(s)) is not None else
                                            "unit" if s in units else "", -1) for s in subject_names], np.int64)
    row_role = subject_role[scode] if len(scode) else np.zeros(0, np.int64)
    subject_rank = np.empty(len(subject_names), np.int64)
    # Arrow orders text by its UTF-8 bytes: the order of Python's str (code points)
    by_name = np.asarray(pc.sort_indices(subject_values).to_numpy(zero_copy_only=False), np.int64)
    subject_rank[by_name] = np.arange(len(subject_names))
    year_rank = np.empty(len(year_names), np.int64)
    year_rank[[year_code[s] for s in sorted(year_names)]] = np.arange(len(year_names))
    for role, rr in bundle.roles.items():
        plan = rr.rules.plan
        if not plan.ruleset.periods:
            stages.setdefault("periods", f"skipped for {role}: {rr.rules.id} declares no periods block")
            continue
        mine = np.flatnonzero(row_role == role_index[role])
        table = _role_years(plan, rows, columns, mine, scode, pcode, labels, year_of_label, subject_names,
                            year_names, subject_rank, year_rank)
        if table is not None:
            years.add(table, role)
        stages["periods"] = "ran"
    reports, ranked_stages = rank_year_rows(bundle, province, years, role_of)
    return years, reports, {**stages, **ranked_stages}


def _role_years(plan: Plan, rows: _PeriodRows, columns: Mapping[str, np.ndarray[Any, Any]],
                mine: np.ndarray[Any, Any], scode: np.ndarray[Any, Any], pcode: np.ndarray[Any, Any],
                labels: list[str], year_of_label: np.ndarray[Any, Any], subject_names: list[str],
                year_names: list[str], subject_rank: np.ndarray[Any, Any],
                year_rank: np.ndarray[Any, Any]) -> _RoleYears | None:
    """The year table of one role: its period rows grouped by subject and year (in the order of
    ``combine_and_rank``: subject, then year), each period in its slot of the year."""
    if not len(mine):
        return None
    decl = plan.ruleset.periods
    assert decl is not None
    # slot of each period label in its year (-1: not a monitored period of that year)
    slot_of_label = np.full(len(labels), -1, np.int64)
    width = 1
    for k, label in enumerate(labels):
        try:
            span = parse_period(label[:4])
            period = parse_period(label)
        except DiagnosticError:
            continue
        inside = periods_in(span, decl.monitor)
        width = max(width, len(inside))
        if period.kind == decl.monitor and period in inside:
            slot_of_label[k] = inside.index(period)
    yc = year_of_label[pcode[mine]]
    order_key = subject_rank[scode[mine]] * len(year_names) + year_rank[yc]
    distinct, inverse = np.unique(order_key, return_inverse=True)
    inverse = inverse.reshape(-1)
    size = len(distinct)
    first = np.full(size, -1, np.int64)
    first[inverse[::-1]] = mine[::-1]  # a row of each year (to read its subject and year)
    subjects = [subject_names[s] for s in scode[first].tolist()]
    years = [year_names[c] for c in year_of_label[pcode[first]].tolist()]
    slot = slot_of_label[pcode[mine]]
    slow = np.zeros(size, np.bool_)
    slow[inverse[slot < 0]] = True
    slow[inverse[~columns["ok"][mine]]] = True
    prow = np.full((size, width), -1, np.int64)
    placed = slot >= 0
    prow[inverse[placed], slot[placed]] = mine[placed]
    # every period row of each year, for the years combined by combine_periods
    return _RoleYears(plan, rows, subjects, years, prow, slow, (mine, inverse), columns)
