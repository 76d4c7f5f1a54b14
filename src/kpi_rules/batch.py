"""Batch evaluation: many records (dicts, data frames, Arrow, CSV/Parquet) → results, exactly.

:func:`evaluate_batch` turns its input into typed columns (:mod:`kpi_rules.columnar`),
evaluates the plan over the columns, and hands every row the columns cannot decide to the
record-by-record path (:func:`~kpi_rules.records.coerce_record` then
:func:`~kpi_rules.evaluator.evaluate_record`). The outcome is the one
:meth:`kpi_rules.engine.RuleSet.evaluate_many` gives for the same records: the same
``Result`` values in the same order, the same rejections with the same ids, and (with
``explain=True``) the same explanations as :meth:`~kpi_rules.engine.RuleSet.explain`.

A row goes the record-by-record way when anything about it is unusual: a problem the
record checks report (it is then rejected with its id, never dropped), an ``on`` day, an
override, a number the columns cannot hold exactly in int64, or a value the columnar program
leaves undecided (``insufficient_data``, division by zero, a missing table key).

Inputs:

* a list of record dicts (the shape of ``examples/nd335_individual.json``);
* a pandas or polars DataFrame, or a pyarrow Table, with one row per record (``id``,
  optionally ``name`` and ``period``, and the scalar inputs as columns) plus ``items``: the
  task items as a table with an ``id`` column naming the record (one such table per list
  input, as ``{"tasks": table}``; a single table when the rule set has one list input);
* paths of CSV or Parquet files in the same two shapes. Items are read in chunks of
  ``chunk_size`` rows and reduced as they come, so memory is bounded by the people, not by
  the task items. In CSV files every value is read as text and numbers are parsed exactly.
  Items may also come as an iterable of Arrow chunks, or be pushed chunk by chunk
  (:mod:`kpi_rules.batch_feed`).

pandas, polars and pyarrow are optional (``pip install "kpi-rules[columnar]"``).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from itertools import repeat
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from kpi_rules import nodes
from kpi_rules.columnar import (
    ColumnarProgram,
    ColumnarRun,
    Columns,
    CValue,
    ItemTable,
    Unsupported,
    cell_value,
    compile_columnar,
)
from kpi_rules.batch_sources import (
    Table,
    arrow_ids_unique,
    bad_ids,
    iter_table,
    lookup_codes,
    persons_from_dicts,
    read_table,
    single_chunk,
    text_or_integer,
    texts_in_order,
    to_arrow,
)
from kpi_rules.batch_feed import ItemFolder
from kpi_rules.columns_in import MISSING, Converter
from kpi_rules.diagnostics import Diagnostic, DiagnosticError
from kpi_rules.evaluator import EvaluationError, evaluate_record
from kpi_rules.explain_columns import NotColumnar, column_lines, column_lines_bytes
from kpi_rules.explain_plan import explanation_json, explanation_lines, explanation_model, skeleton_for
from kpi_rules.models import Explanation
from kpi_rules.plan import Plan, per_plan
from kpi_rules.records import coerce_record
from kpi_rules.results import LevelDecision, Result, SubjectRecord, Value
from kpi_rules.trace import FullTracer

__all__ = ["BatchResult", "evaluate_batch", "program_for"]

_Conv = Converter  # the name the tests know

_RECORD_KEYS = frozenset(("id", "name", "period", "on", "inputs", "override"))
#: Default number of records (dicts) or task items (files) handled at once.
DEFAULT_CHUNK = 200_000
#: Rows whose explanation lines are filled from the columns at once (bounds the memory they take:
#: their slot texts, ~2 kB a row; the lines themselves are joined one by one as they are asked for).
#: Each window pays ~8 ms of fixed work (one pass over the skeleton), hence not smaller; the
#: rows are cut into windows of equal size, each at most 1.5× this.
EXPLAIN_WINDOW = 16384


#: The columnar program of a plan, compiled once per plan object.
program_for: Callable[[Plan], ColumnarProgram | None] = per_plan(compile_columnar)


# --------------------------------------------------------------------------- the outcome


class _Chunk:
    """One columnar evaluation: its run, its columns, and the ids, names and periods of its
    rows (kept as they came, a list or an Arrow column, and read as lists on first use)."""

    def __init__(self, run: ColumnarRun, columns: Columns, ids: Any, names: Any, periods: Any) -> None:
        self.run = run
        self.columns = columns
        self._sources = {"ids": ids, "names": names, "periods": periods}
        self._lists: dict[str, list[Any]] = {}

    def _list(self, key: str) -> list[Any]:
        if key not in self._lists:
            source = self._sources[key]
            if source is None:
                values: list[Any] = [None] * self.run.size
            elif isinstance(source, list):
                values = source
            else:
                values = source.to_pylist()
            if key == "ids":
                values = [x if isinstance(x, str) else ("" if x is None else str(x)) for x in values]
            self._lists[key] = values
        return self._lists[key]

    @property
    def ids(self) -> list[str]:
        return self._list("ids")

    @property
    def names(self) -> list[str | None]:
        return self._list("names")

    @property
    def periods(self) -> list[str | None]:
        return self._list("periods")


#: A stretch of the outcome in record order: ``(chunk, start, stop)``, rows ``start:stop`` of a
#: columnar chunk, or ``(-1, result, 0)``, one result from the record-by-record path.
_Segment = tuple[int, Any, int]


@dataclass
class BatchResult:
    """Every record rated (or insufficient data) or rejected, like ``RuleSet.evaluate_many``.

    Rows decided by the columns are kept as columns; :attr:`results` builds the ``Result``
    objects on first use. ``columnar_rows`` and ``fallback_rows`` say how many rows each path
    decided.
    """

    plan: Plan
    rejected: tuple[Diagnostic, ...]
    rejected_ids: tuple[str, ...]
    _segments: list[_Segment] = field(repr=False)
    _chunks: list[_Chunk] = field(repr=False)
    #: The records of the results from the record-by-record path, by position in the outcome.
    _records: dict[int, SubjectRecord] = field(repr=False)
    explain: bool = False
    lang: str = "vi"
    columnar_rows: int = 0
    fallback_rows: int = 0
    #: False when the task items were folded and dropped (``start_batch(..., advice=False)``):
    #: the columnar rows' records have no list inputs, so the next-level advice cannot be made.
    advice: bool = True
    _results: tuple[Result, ...] | None = field(default=None, repr=False)
    _expanded: list[tuple[int, Any]] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return self.columnar_rows + len(self._records)

    @property
    def _order(self) -> list[tuple[int, Any]]:
        """In record order: (chunk index, row) for columnar rows, or (-1, Result) otherwise."""
        if self._expanded is None:
            out: list[tuple[int, Any]] = []
            for chunk_index, item, stop in self._segments:
                if chunk_index < 0:
                    out.append((-1, item))
                else:
                    out.extend((chunk_index, i) for i in range(item, stop))
            self._expanded = out
        return self._expanded

    @property
    def results(self) -> tuple[Result, ...]:
        if self._results is None:
            out: list[Result] = []
            for chunk_index, item, stop in self._segments:
                if chunk_index < 0:
                    out.append(item)
                    continue
                c = self._chunks[chunk_index]
                ids, names, periods, result = c.ids, c.names, c.periods, c.run.result
                out.extend(result(i, ids[i], names[i], periods[i]) for i in range(item, stop))
            self._results = tuple(out)
        return self._results

    @property
    def rated(self) -> tuple[Result, ...]:
        return tuple(r for r in self.results if r.status == "rated")

    @property
    def explanations(self) -> tuple[Explanation, ...]:
        """One explanation per result (requires ``explain=True``), as ``RuleSet.explain`` gives."""
        if not self.explain:
            raise ValueError("evaluate the batch with explain=True to get explanations")
        self._needs_advice()
        plan, lang = self.plan, self.lang
        return tuple(explanation_model(result, plan, lang, record=record) for result, record in self._explained())

    def explanation_lines(self, *, advice: bool = False) -> Iterator[str]:
        """The explanations as JSON lines (requires ``explain=True``), for bulk output: each line
        is ``model_dump_json()`` of the explanation :attr:`explanations` gives, plus ``\n``.
        The next-level advice (``next_level``) is left out unless ``advice=True``: it evaluates
        each record again for every input it tries, far more work than the rest."""
        if not self.explain:
            raise ValueError("evaluate the batch with explain=True to get explanations")
        if advice:
            self._needs_advice()
            return explanation_lines(self._explained(lists=True), self.plan, self.lang, advice=True)
        return self._column_lines()

    def _needs_advice(self) -> None:
        if not self.advice:
            raise ValueError("the batch was rated with advice=False (its task items were not kept): "
                             "only explanation lines without the next-level advice can be written")

    def explanation_bytes(self) -> Iterator[bytes]:
        """:meth:`explanation_lines` (without the advice) UTF-8 encoded, for writing to a file
        (``file.writelines(outcome.explanation_bytes())``): columnar rows are made as bytes,
        which is cheaper than texts, and each line is joined only when it is asked for, so a
        writer that drops the lines it wrote keeps reusing the same memory."""
        if not self.explain:
            raise ValueError("evaluate the batch with explain=True to get explanations")
        return self._column_lines(binary=True)

    def _column_lines(self, window: int = EXPLAIN_WINDOW, binary: bool = False) -> Iterator[Any]:
        """The lines without the advice: columnar rows filled column by column
        (:mod:`kpi_rules.explain_columns`), ``window`` rows of the outcome at a time; the other
        rows (and columnar rows the columns cannot fill) one by one."""
        plan, lang, order = self.plan, self.lang, self._order
        skel = skeleton_for(plan, lang)
        fill = column_lines_bytes if binary else column_lines

        def one(result: Result, record: SubjectRecord | None) -> Any:
            line = explanation_json(result, plan, lang, record=record, advice=False) + "\n"
            return line.encode() if binary else line

        # Windows of equal size, as many as make them closest to ``window`` rows (at most 1.5×):
        # each pays a fixed cost, so a short remainder is not a window of its own.
        count = max(1, round(len(order) / window))
        bounds = [len(order) * k // count for k in range(count + 1)]
        for start, stop in zip(bounds, bounds[1:]):
            part = order[start:stop]
            rows_of: dict[int, list[int]] = {}
            for chunk_index, item in part:
                if chunk_index >= 0:
                    rows_of.setdefault(chunk_index, []).append(item)
            filled: dict[int, Iterator[Any]] = {}
            for chunk_index, rows in rows_of.items():
                c = self._chunks[chunk_index]
                lines: Iterable[Any]  # columnar lines are joined as they are asked for
                try:
                    lines = fill(skel, c.run, c.columns.scalars, c.ids, c.names, c.periods,
                                 np.asarray(rows, dtype=np.int64))
                except NotColumnar:
                    lines = [one(c.run.result(i, c.ids[i], c.names[i], c.periods[i]), _record_of(c, i, lists=False))
                             for i in rows]
                filled[chunk_index] = iter(lines)
            if len(rows_of) == 1 and len(next(iter(rows_of.values()))) == len(part):
                yield from next(iter(filled.values()))  # the whole window from one chunk
                continue
            for position, (chunk_index, item) in enumerate(part, start):
                if chunk_index >= 0:
                    yield next(filled[chunk_index])
                else:
                    yield one(item, self._records.get(position))

    def _explained(self, *, lists: bool = True) -> Iterator[tuple[Result, SubjectRecord | None]]:
        """Each result with the record it was rated from (what explanations read). A columnar
        row's record is rebuilt from the columns; ``lists=False`` leaves out its list inputs,
        which an explanation without the advice never reads (a list is never put into a formula)."""
        for position, result in enumerate(self.results):
            chunk_index, item = self._order[position]
            record = self._records.get(position)
            if record is None and chunk_index >= 0:
                record = _record_of(self._chunks[chunk_index], item, lists=lists)
            yield result, record

    def totals(self) -> list[Fraction | None]:
        """The exact totals in record order, without building Result objects."""
        cache: dict[int, list[Fraction]] = {}
        out: list[Fraction | None] = []
        for chunk_index, item, stop in self._segments:
            if chunk_index < 0:
                out.append(item.total)
                continue
            if chunk_index not in cache:
                cache[chunk_index] = self._chunks[chunk_index].run.total_fractions()
            out.extend(cache[chunk_index][item:stop])
        return out

    def levels(self) -> list[str | None]:
        """The levels in record order, without building Result objects."""
        cache: dict[int, list[str | None]] = {}
        out: list[str | None] = []
        for chunk_index, item, stop in self._segments:
            if chunk_index < 0:
                out.append(item.level)
                continue
            if chunk_index not in cache:
                cache[chunk_index] = self._chunks[chunk_index].run.level_names()
            out.extend(cache[chunk_index][item:stop])
        return out

    def decisions(self) -> list[LevelDecision | None]:
        """The level decisions in record order (what combining periods and the quota read), without
        building the criteria trees and values of the Result objects (used by province_batch.py)."""
        out: list[LevelDecision | None] = []
        cache: dict[int, dict[str, Any]] = {}
        shared_by_chunk: dict[int, dict[tuple[Any, ...], LevelDecision | None]] = {}
        for chunk_index, item, stop in self._segments:
            if chunk_index < 0:
                out.append(item.decision)
                continue
            run = self._chunks[chunk_index].run
            rating = run.rating
            if rating is None:
                out.extend([None] * (stop - item))
                continue
            if chunk_index not in cache:
                cache[chunk_index] = {"band": rating.band.tolist(), "level": rating.level.tolist(),
                                      "reason": rating.reason.tolist(), "fired": [f.tolist() for f in rating.fired]}
            py = cache[chunk_index]
            levels = self.plan.ruleset.rating.levels if self.plan.ruleset.rating is not None else ()
            if any(level.conditions for level in levels):
                out.extend(run._decision(i, py) for i in range(item, stop))
                continue
            # Without level conditions a decision is fixed by band, level, reason and what fired:
            # rows that share them share one (frozen) LevelDecision.
            shared = shared_by_chunk.setdefault(chunk_index, {})
            band, level, reason, fired = py["band"], py["level"], py["reason"], py["fired"]
            for i in range(item, stop):
                key = (band[i], level[i], reason[i], *(f[i] for f in fired))
                found = shared.get(key)
                if found is None:
                    found = shared[key] = run._decision(i, py)
                out.append(found)
        return out


class _RowInputs(Mapping[str, Value]):
    """The scalar inputs of one columnar row, each read from its column when asked for (an
    explanation reads only the few its trace lacks)."""

    __slots__ = ("_columns", "_row")

    def __init__(self, columns: Mapping[str, Any], row: int) -> None:
        self._columns, self._row = columns, row

    def __getitem__(self, name: str) -> Value:
        return cell_value(self._columns[name], self._row)

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)


def _record_of(chunk: _Chunk, i: int, *, lists: bool = True) -> SubjectRecord:
    """The record of row ``i``: its scalar inputs and the items of its list inputs, in list order
    (what explanations read from a record, and what the next-level advice evaluates again).
    ``lists=False``: the scalar inputs only, read lazily (for explanations without the advice)."""
    if not lists:
        return SubjectRecord(chunk.ids[i], _RowInputs(chunk.columns.scalars, i), chunk.names[i], chunk.periods[i])
    inputs: dict[str, Value] = {name: cell_value(value, i) for name, value in chunk.columns.scalars.items()}
    for name, table in chunk.columns.lists.items():
        keys = [int(k) for k in np.flatnonzero(table.row[:table.size] == i)]
        inputs[name] = tuple(MappingProxyType({f: cell_value(col, k) for f, col in table.fields.items()}) for k in keys)
    return SubjectRecord(chunk.ids[i], MappingProxyType(inputs), chunk.names[i], chunk.periods[i])


# --------------------------------------------------------------------------- sources


@dataclass
class _Part:
    """Consecutive records of the input, in order.

    ``chunk >= 0``: a columnar chunk; ``kinds[i]`` is 0 when the columns decide row ``i`` and 1
    when it goes record by record (checks, then evaluation). ``chunk == -1``: records that all go
    record by record. ``raw_of(i)`` gives the record dict of row ``i``.
    """

    chunk: int
    size: int
    raw_of: Callable[[int], Any]
    kinds: np.ndarray[Any, Any] | None = None


# --------------------------------------------------------------------------- the driver


def evaluate_batch(
    rules_or_plan: Any,
    data: Any,
    *,
    items: Any = None,
    explain: bool = False,
    lang: str = "vi",
    chunk_size: int = DEFAULT_CHUNK,
    record_check: Callable[[SubjectRecord], list[Diagnostic]] | None = None,
) -> BatchResult:
    """Rate many records at once, exactly as record by record.

    Args:
        rules_or_plan: a :class:`~kpi_rules.engine.RuleSet` or a :class:`~kpi_rules.plan.Plan`.
        data: a list of record dicts; a pandas/polars DataFrame or pyarrow Table with one row
            per record; or the path of a CSV or Parquet file of such rows.
        items: for tables and files, the task items: a table or path with an ``id`` column
            naming the record and the item fields (``{"tasks": ...}`` when there are several
            list inputs), or an iterable of such chunks (Arrow record batches or tables,
            frames), folded as they come: a list (or any iterable that starts over when
            iterated again) is read once more only for the records that go record by record,
            while a one-shot iterator (a generator) has its chunks kept until the end for
            them. To push chunks instead, see :func:`kpi_rules.batch_feed.start_batch`.
            Ignored for dicts, which carry their items.
        explain: keep what explanations need; :attr:`BatchResult.explanations` then gives one
            per result, equal to ``RuleSet.explain`` of the same record.
        lang: language of the explanations (``"vi"`` or ``"en"``).
        chunk_size: records (dicts) or task items (tables, files) handled at a time.
        record_check: extra problems of an accepted record (the façade's catalogue check);
            when given, every record goes the record-by-record way.

    Returns:
        A :class:`BatchResult`: ``results``, ``rejected``, ``rejected_ids`` as from
        ``RuleSet.evaluate_many``, plus columnar ``totals()`` and ``levels()``.

    Example::

        rules = kpi_rules.load("criteria/nd335/individual.kpi")
        outcome = rules.evaluate_batch(kpi_rules.read_records("examples/nd335_individual.json"))
        print(outcome.levels())
    """
    plan: Plan = rules_or_plan if isinstance(rules_or_plan, Plan) else rules_or_plan.plan
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    program = program_for(plan) if record_check is None else None
    driver = _Driver(plan, program, explain, lang, record_check)
    if isinstance(data, (list, tuple)):
        for start in range(0, len(data), chunk_size):
            driver.dicts(data[start:start + chunk_size], start)
    else:
        driver.tables(data, items, chunk_size)
    return driver.finish()


class _Driver:
    def __init__(self, plan: Plan, program: ColumnarProgram | None, explain: bool, lang: str,
                 record_check: Callable[[SubjectRecord], list[Diagnostic]] | None = None,
                 advice: bool = True) -> None:
        self.plan = plan
        self.record_check = record_check
        self.program = program
        self.explain = explain
        #: Whether explanations may ask for the next-level advice (which needs every record's items).
        self.advice = advice
        self.lang = lang
        #: The records in order, part by part.
        self.parts: list[_Part] = []
        self.chunks: list[_Chunk] = []
        self.extra_rejected: list[tuple[Diagnostic, str]] = []
        self.orphans: set[str] = set()

    def _one_by_one(self, size: int, raw_of: Callable[[int], Any]) -> None:
        self.parts.append(_Part(-1, size, raw_of))

    # ------------------------------------------------------------------ list of dicts

    def dicts(self, raws: Sequence[object], offset: int) -> None:
        program = self.program
        if program is None:
            self._one_by_one(len(raws), raws.__getitem__)
            return
        persons, slow, tables, owners = persons_from_dicts(raws, self.plan)
        self._columnar(persons, slow, tables, owners, raws.__getitem__, None)

    # ------------------------------------------------------------------ tables and files

    def persons(self, data: Any) -> tuple[Any, Table, np.ndarray[Any, Any], bool]:
        """The persons of a table, frame or file: the Arrow table, its columns, the rows that go
        record by record whatever their items (ids, ``on``, ``override``), and whether the
        columns may rate it (no column the rule set does not declare)."""
        persons_table = read_table(Path(data)) if isinstance(data, (str, Path)) else to_arrow(data)
        size = persons_table.num_rows
        cols = {name: persons_table.column(name) for name in persons_table.column_names}
        if "id" not in cols:
            raise DiagnosticError([Diagnostic("KR509", "the records table has no `id` column", where="records")])
        meta = ("id", "name", "period")
        persons = Table(size, {n: cols[n] for n in cols if n not in meta}, single_chunk(cols["id"]),
                        cols.get("name"), cols.get("period"))
        slow = bad_ids(persons.ids, size)
        for key in ("on", "override"):
            if key in cols and cols[key].null_count != size:
                slow |= ~np.asarray(cols[key].is_null().to_numpy(zero_copy_only=False), dtype=np.bool_)
        allowed = {d.name for d in self.plan.checked.subject.inputs} | set(_RECORD_KEYS)
        return persons_table, persons, slow, all(c in allowed for c in cols)

    def tables(self, data: Any, items: Any, chunk_size: int) -> None:
        plan = self.plan
        list_names = [d.name for d in plan.checked.subject.inputs if isinstance(d.type, nodes.ListType)]
        if items is not None and not isinstance(items, Mapping):
            if len(list_names) != 1:
                raise ValueError("give items as {list_name: table} when the rule set has several lists")
            items = {list_names[0]: items}
        item_sources: Mapping[str, Any] = items or {}
        persons_table, persons, slow, plain = self.persons(data)
        size = persons.size

        def raw_of(i: int) -> dict[str, Any]:
            return self._raw_row(persons_table, i, item_sources, persons.id_list()[i])

        if any(not _table_like(src) for src in item_sources.values()):
            self._chunked(persons_table, persons, slow, plain, item_sources, chunk_size)
            return
        if not plain or self.program is None:
            self._one_by_one(size, raw_of)
            return
        row_of: dict[str, int] = {}
        if item_sources:
            row_of = {rid: i for i, rid in reversed(list(enumerate(persons.id_list())))}
        tables: dict[str, Table] = {}
        owners: dict[str, np.ndarray[Any, Any]] = {}
        for list_name, src in item_sources.items():
            table = read_table(Path(src)) if isinstance(src, (str, Path)) else to_arrow(src)
            item_ids = single_chunk(table.column("id"))
            owner = self._owners_arrow(item_ids, row_of, list_name) if text_or_integer(item_ids) \
                else self._owners(item_ids.to_pylist(), row_of, list_name)
            keep = owner >= 0
            every = bool(keep.all())  # then no copy of the item columns
            tables[list_name] = Table(int(keep.sum()), {n: table.column(n) if every else table.column(n).filter(
                _pa_mask(keep)) for n in table.column_names if n != "id"})
            owners[list_name] = owner if every else owner[keep]
        self._columnar(persons, slow, tables, owners, raw_of, None)

    def _owners_arrow(self, ids: Any, row_of: Mapping[str, int], list_name: str,
                      report: bool = True) -> np.ndarray[Any, Any]:
        """:meth:`_owners` of an Arrow id column, with a vectorised hash lookup (tens of millions
        of items go through here); orphans are reported by ``_owners`` (unless ``report=False``:
        -1 for them)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        owner = lookup_codes(ids, row_of)
        if report and (owner < 0).any():
            return self._owners(pc.cast(ids, pa.string()).to_pylist(), row_of, list_name)
        return owner

    def _owners(self, item_ids: list[Any], row_of: Mapping[str, int], list_name: str) -> np.ndarray[Any, Any]:
        owner = np.fromiter((row_of.get(str(x), -1) for x in item_ids), np.int64, len(item_ids))
        if (owner < 0).any():
            orphans = sorted({str(x) for x, o in zip(item_ids, owner.tolist()) if o < 0})
            for rid in orphans:
                if rid not in self.orphans:
                    self.orphans.add(rid)
                    self.extra_rejected.append((Diagnostic(
                        "KR509", f"`{list_name}` items name record `{rid}`, which is not among the records",
                        where=f"record {rid}", hint="add the record or remove its items"), rid))
        return owner

    def _raw_row(self, persons: Any, i: int, item_sources: Mapping[str, Any], rid: str) -> dict[str, Any]:
        """The record dict of row ``i`` (with its items) for the record-by-record path."""
        decls = self.plan.inputs
        row = {name: _typed(decls.get(name), persons.column(name)[i].as_py()) for name in persons.column_names}
        raw: dict[str, Any] = {"id": row.pop("id")}
        for key in ("name", "period", "on", "override"):
            if key in row:
                value = row.pop(key)
                if value is not None:
                    raw[key] = value
        inputs = {k: v for k, v in row.items() if v is not None}
        for list_name, src in item_sources.items():
            inputs[list_name] = self._items_of(src, rid, list_name)
        raw["inputs"] = inputs
        return raw

    def _items_of(self, src: Any, rid: str, list_name: str) -> list[dict[str, Any]]:
        import pyarrow.compute as pc

        found: list[dict[str, Any]] = []
        for batch in iter_table(src, 1 << 20):
            ids = batch.column(batch.schema.get_field_index("id"))
            picked = batch.filter(pc.equal(pc.cast(ids, "string"), rid))
            for item in picked.to_pylist():
                item.pop("id", None)
                found.append(item)
        return self._typed_items(list_name, found)

    def _typed_items(self, list_name: str, items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Items as a record's list: absent fields left out, CSV text typed as the checks read it."""
        list_decl = self.plan.inputs[list_name].type
        assert isinstance(list_decl, nodes.ListType)
        fields = {d.name: d for d in self.plan.checked.records[list_decl.item].inputs}
        return [{k: _typed(fields.get(k), v) for k, v in item.items() if v is not None} for item in items]

    def _chunked(self, persons_table: Any, persons: Table, slow: np.ndarray[Any, Any], plain: bool,
                 item_sources: Mapping[str, Any], chunk_size: int) -> None:
        """Persons in memory, items streamed (files, iterables of chunks): a loop over an
        :class:`~kpi_rules.batch_feed.ItemFolder`, which folds the pre-reduced aggregates chunk by
        chunk. The items of rows that go record by record are read again from the source (a
        one-shot iterator's chunks are kept for them)."""
        folder = ItemFolder(self, persons_table, persons, slow, plain, lists=tuple(item_sources))
        again: dict[str, Callable[[], Iterable[Any]]] = {}
        for list_name, src in item_sources.items():
            source: Callable[[], Iterable[Any]] | None
            if isinstance(src, (str, Path)):
                source = lambda src=src: iter_table(src, chunk_size)  # noqa: E731
            elif _table_like(src):
                table = to_arrow(src)
                source = lambda table=table: table.to_batches(max_chunksize=chunk_size)  # noqa: E731
            else:
                source = None if iter(src) is src else (lambda src=src: iter(src))  # noqa: E731
            if source is not None:
                again[list_name] = source
            if folder.mode != "records" or source is None:
                for chunk in src if source is None else source():
                    folder.feed(chunk, list_name=list_name, keep=source is None)
        folder.complete(again)

    # ------------------------------------------------------------------ shared

    def _scalar_columns(self, conv: Converter, persons: Table) -> Columns:
        scalars: dict[str, CValue] = {}
        for decl in self.plan.checked.subject.inputs:
            if isinstance(decl.type, nodes.ListType):
                continue
            values = persons.columns.get(decl.name)
            if values is None:
                values = [MISSING] * persons.size
            scalars[decl.name] = conv.column(decl, values)
        return Columns(persons.size, scalars)

    def _columnar(self, persons: Table, slow: np.ndarray[Any, Any], tables: Mapping[str, Table],
                  owners: Mapping[str, np.ndarray[Any, Any]], raw_of: Any, _unused: None) -> None:
        program = self.program
        assert program is not None
        conv = Converter(persons.size)
        columns = self._scalar_columns(conv, persons)
        slow |= conv.slow
        record_name = {d.name: d.type.item for d in self.plan.checked.subject.inputs
                       if isinstance(d.type, nodes.ListType)}
        for list_name, table in tables.items():
            decls = self.plan.checked.records[record_name[list_name]].inputs
            iconv = Converter(table.size)
            owner = owners[list_name]
            fields = {d.name: iconv.column(d, table.columns.get(d.name, [MISSING] * table.size)) for d in decls}
            slow[owner[iconv.slow]] = True
            columns.lists[list_name] = ItemTable(owner, fields, table.size)
        self._finish_columns(columns, persons, slow, None, raw_of)

    def _finish_columns(self, columns: Columns, persons: Table, slow: np.ndarray[Any, Any],
                        partials: Any, raw_of: Any) -> None:
        program = self.program
        assert program is not None
        try:
            run = program.run(columns, partials, trace=self.explain)
        except Unsupported:
            self._one_by_one(persons.size, raw_of)
            return
        chunk = _Chunk(run, columns, persons.ids, persons.names, persons.periods)
        self.chunks.append(chunk)
        kinds = slow | run.bad
        self.parts.append(_Part(len(self.chunks) - 1, persons.size, raw_of, kinds.view(np.int8)))

    # ------------------------------------------------------------------ the outcome

    def _unique_ids(self) -> bool:
        """Whether no two records that could be accepted share an id (then no row needs the
        duplicate check of ``coerce_records``). False when unsure."""
        if any(part.kinds is None for part in self.parts):
            return False
        sources = [self.chunks[part.chunk]._sources["ids"] for part in self.parts]
        if len(sources) == 1 and not isinstance(sources[0], list):
            return arrow_ids_unique(sources[0])
        keys: list[Any] = []
        for source in sources:
            keys.extend(source if isinstance(source, list) else source.to_pylist())
        if all(isinstance(source, list) for source in sources) and texts_in_order(keys):
            return True  # proved without hashing (the ids of record dicts are text or None)
        if not set(map(type, keys)) <= {str, type(None)}:
            keys = [None if k is None else str(k) for k in keys]
        distinct = set(keys)
        if None in distinct:
            distinct.discard(None)
            return len(distinct) == len(keys) - sum(map(operator.is_, keys, repeat(None)))
        return len(distinct) == len(keys)

    def finish(self) -> BatchResult:
        plan = self.plan
        rejected: list[Diagnostic] = []
        rejected_ids: list[str] = []
        # In record order: (chunk, start, stop) rows decided by the columns, or (-1, record, 0).
        accepted: list[tuple[int, Any, int]] = []

        def take(chunk: int, start: int, stop: int) -> None:
            if accepted and accepted[-1][0] == chunk and accepted[-1][2] == start:
                accepted[-1] = (chunk, accepted[-1][1], stop)
            else:
                accepted.append((chunk, start, stop))

        unique = self._unique_ids()
        seen: set[str] = set()
        offset = 0
        for part in self.parts:
            kinds = part.kinds
            # With unique ids only the rows that go record by record need a look; else every row.
            special: Iterable[int] = np.flatnonzero(kinds).tolist() if unique and kinds is not None \
                else range(part.size)
            ids = self.chunks[part.chunk].ids if kinds is not None and not unique else None
            start = 0
            for i in special:
                if kinds is not None and i > start:
                    take(part.chunk, start, i)
                start = i + 1
                if kinds is not None and not kinds[i]:
                    assert ids is not None
                    rid = ids[i]
                    if rid in seen:
                        rejected.append(_duplicate(rid))
                        rejected_ids.append(rid)
                    else:
                        seen.add(rid)
                        take(part.chunk, i, i + 1)
                    continue
                item = part.raw_of(i)
                try:
                    record = item if isinstance(item, SubjectRecord) else coerce_record(
                        item if isinstance(item, Mapping) else {}, plan.checked)
                except DiagnosticError as error:
                    rejected.extend(error.diagnostics)
                    raw_id = item.get("id") if isinstance(item, Mapping) else None
                    rejected_ids.append(str(raw_id) if isinstance(raw_id, (str, int)) else f"#{offset + i + 1}")
                    continue
                if not unique:
                    if record.id in seen:
                        rejected.append(_duplicate(record.id))
                        rejected_ids.append(record.id)
                        continue
                    seen.add(record.id)
                accepted.append((-1, record, 0))
            if kinds is not None and part.size > start:
                take(part.chunk, start, part.size)
            offset += part.size
        for diagnostic, rid in self.extra_rejected:
            rejected.append(diagnostic)
            rejected_ids.append(rid)
        segments: list[_Segment] = []
        records: dict[int, SubjectRecord] = {}
        fallback = columnar = 0
        for chunk, item, stop in accepted:
            if chunk >= 0:
                segments.append((chunk, item, stop))
                columnar += stop - item
                continue
            record = item
            fallback += 1
            problems = self.record_check(record) if self.record_check is not None else []
            if problems:
                rejected.extend(problems)
                rejected_ids.append(record.id)
                continue
            try:
                result = evaluate_record(plan, record, FullTracer() if self.explain else None)
            except EvaluationError as error:
                rejected.append(error.diagnostic)
                rejected_ids.append(record.id)
                continue
            records[columnar + len(records)] = record
            segments.append((-1, result, 0))
        return BatchResult(plan, tuple(rejected), tuple(rejected_ids), segments, self.chunks, records,
                           self.explain, self.lang, columnar, fallback, self.advice)


def _duplicate(rid: str) -> Diagnostic:
    return Diagnostic("KR508", f"record id `{rid}` appears more than once", where=f"record {rid}",
                      hint="each record needs its own id")


_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _typed(decl: nodes.InputDecl | None, value: Any) -> Any:
    """A value of a CSV cell (text) as the record checks expect it: numbers exact, booleans."""
    if isinstance(value, dict) and decl is not None and isinstance(decl.type, nodes.ScalarType) \
            and decl.type.name in ("number", "percent", "points"):
        from kpi_rules.exact_input import exact_value  # a cell of an exact numerator/denominator column

        return exact_value(value)
    if decl is None or not isinstance(value, str):
        return value
    t = decl.type
    if isinstance(t, nodes.ScalarType):
        if t.name in ("number", "percent", "points") and _DECIMAL.fullmatch(value.strip()):
            return Decimal(value.strip())
        if t.name == "bool" and value in ("true", "false"):
            return value == "true"
    return value


def _raw_id(raw: object) -> str:
    rid = raw.get("id") if isinstance(raw, Mapping) else None
    return str(rid) if isinstance(rid, (str, int)) else ""


def _table_like(src: Any) -> bool:
    """Whether items are one table in memory (Arrow, pandas, polars), not a file or an iterable of chunks."""
    import pyarrow as pa

    if isinstance(src, (pa.Table, pa.RecordBatch)):
        return True
    return type(src).__module__.startswith(("pandas", "polars"))


def _pa_mask(keep: np.ndarray[Any, Any]) -> Any:
    import pyarrow as pa

    return pa.array(keep)


def iter_records(outcome: BatchResult) -> Iterable[Result]:
    """The results of a batch one at a time."""
    return iter(outcome.results)
