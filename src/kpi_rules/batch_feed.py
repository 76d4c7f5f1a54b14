"""Task items pushed into a batch chunk by chunk: one pass over the items, no temporary files.

An :class:`ItemFolder` is made for one table of persons (:func:`start_batch`, or
:func:`kpi_rules.batch.evaluate_batch` for item files and iterables of chunks). Each chunk of
task items given to :meth:`ItemFolder.feed` (an Arrow record batch or table naming its record by
``id``, or with ``owners``: the persons row of each item) is converted and folded into the
columnar program's pre-reduced aggregates (:func:`kpi_rules.colitems.fold`), then dropped, so
memory is bounded by the persons, not by the items; :meth:`ItemFolder.finish` gives the
:class:`~kpi_rules.batch.BatchResult`.

Rows that go record by record (the record checks, rows the columns leave undecided) need their
items as a list again. :meth:`ItemFolder.close` rates the columns and says which rows those are;
their items are then read again from the source (:meth:`ItemFolder.complete`: a file or a list
of chunks), or the caller hands them back with :meth:`ItemFolder.refeed` (the province reads its
items file once more for all its batch groups at once, only when some row needs it), or they
were kept (``keep=True``: a one-shot iterator's chunks are kept until the end). With
``explain=True`` (the next-level advice rates each record again with its items; not with
``advice=False``), with aggregates that need the whole item table, or without a columnar
program, the chunks are kept and rated together at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from kpi_rules import nodes
from kpi_rules.batch_sources import Table
from kpi_rules.columns_in import MISSING, Converter
from kpi_rules.exactcols import ItemTable, Unsupported

if TYPE_CHECKING:
    from kpi_rules.batch import BatchResult, _Driver
    from kpi_rules.diagnostics import Diagnostic
    from kpi_rules.results import SubjectRecord

__all__ = ["ItemFolder", "start_batch"]


def start_batch(rules_or_plan: Any, data: Any, *, explain: bool = False, lang: str = "vi",
                record_check: Callable[[SubjectRecord], list[Diagnostic]] | None = None,
                advice: bool = True) -> ItemFolder:
    """A batch of the persons ``data`` (a table, a frame or a path, as for ``evaluate_batch``)
    whose task items are pushed with :meth:`ItemFolder.feed`, then :meth:`ItemFolder.finish`.
    The outcome is the one of ``evaluate_batch(rules_or_plan, data, items=...)`` with the same
    items (every list input given, empty when nothing is fed). Chunks are folded and dropped:
    feed with ``keep=True``, or give the items of the rows :meth:`ItemFolder.close` names back
    with :meth:`ItemFolder.refeed`.

    ``explain=True`` keeps every chunk until the end, because the next-level advice of an
    explanation rates each record again with its items. ``advice=False`` gives that up: the
    chunks are folded and dropped as without explanations, and the batch writes its
    explanation lines without the advice (the same bytes as ``explanation_lines()``), while
    ``explanations`` and ``explanation_lines(advice=True)`` raise ``ValueError``."""
    from kpi_rules.batch import _Driver, program_for
    from kpi_rules.plan import Plan

    plan: Plan = rules_or_plan if isinstance(rules_or_plan, Plan) else rules_or_plan.plan
    if record_check is None and getattr(rules_or_plan, "catalogue", None) is not None:
        record_check = rules_or_plan._product_problems  # as RuleSet.evaluate_batch does
    program = program_for(plan) if record_check is None else None
    driver = _Driver(plan, program, explain, lang, record_check, advice=advice)
    persons_table, persons, slow, plain = driver.persons(data)
    return ItemFolder(driver, persons_table, persons, slow, plain)


class ItemFolder:
    """One batch of persons whose task items are pushed in chunks (see the module docstring)."""

    def __init__(self, driver: _Driver, persons_table: Any, persons: Table, slow: np.ndarray[Any, Any],
                 plain: bool, lists: Iterable[str] | None = None) -> None:
        self._driver = driver
        self._persons_table = persons_table
        self._persons = persons
        self._slow = slow
        plan = driver.plan
        item_of = {d.name: d.type.item for d in plan.checked.subject.inputs if isinstance(d.type, nodes.ListType)}
        #: The list inputs whose items are given (a record going record by record has them, maybe empty).
        self._lists = tuple(item_of) if lists is None else tuple(lists)
        self._decls = {name: plan.checked.records[item_of[name]].inputs for name in self._lists}
        self._declared = {name: frozenset(d.name for d in decls) for name, decls in self._decls.items()}
        program = driver.program
        #: "stream": fold as the chunks come; "whole": keep them, rate them together at the end;
        #: "records": every row goes record by record.
        self.mode = "records" if not plain or program is None else (
            "whole" if program.in_place or (driver.explain and driver.advice) else "stream")
        self._row_of: dict[str, int] | None = None
        self._first: np.ndarray[Any, Any] | None = None
        self._kept: dict[str, list[tuple[Any, np.ndarray[Any, Any]]]] = {n: [] for n in self._lists}
        self._position: dict[str, int] = {}
        self._needs: np.ndarray[Any, Any] | None = None
        self._wanted: np.ndarray[Any, Any] | None = None
        self._fetched: dict[str, dict[int, list[dict[str, Any]]]] = {n: {} for n in self._lists}
        if self.mode == "stream":
            assert program is not None
            conv = Converter(persons.size)
            self._columns = driver._scalar_columns(conv, persons)
            slow |= conv.slow
            self._partials = program.new_partials(persons.size)

    # ------------------------------------------------------------------ feeding

    @property
    def size(self) -> int:
        """The number of persons (rows) of the batch."""
        return self._persons.size

    def _row_map(self) -> dict[str, int]:
        """Record id -> row (the first row with that id owns the items naming it)."""
        if self._row_of is None:
            self._row_of = {rid: i for i, rid in reversed(list(enumerate(self._persons.id_list())))}
        return self._row_of

    def _list(self, list_name: str | None) -> str:
        if list_name is None:
            if len(self._lists) != 1:
                raise ValueError("name the list input (list_name=...) when the rule set has several lists")
            return self._lists[0]
        if list_name not in self._decls:
            raise ValueError(f"`{list_name}` is not a list input given to this batch")
        return list_name

    def feed(self, items: Any, *, list_name: str | None = None, owners: Any = None, keep: bool = False) -> None:
        """Fold a chunk of task items: an Arrow record batch or table (or a pandas/polars frame)
        with an ``id`` column naming each item's record, or without it and with ``owners``, the
        persons row of each item (-1: none). Items of a record come in list order across chunks.
        ``keep=True`` keeps the chunk for the rows that go record by record (a source that cannot
        be read again); else give their items back with :meth:`refeed` after :meth:`close`."""
        if self._needs is not None:
            raise ValueError("the batch is closed: feed items before close()")
        name = self._list(list_name)
        for batch, owner in _pairs(items, owners):
            self._feed_one(name, batch, owner, keep)

    def _owners(self, batch: Any, owner: np.ndarray[Any, Any] | None, name: str,
                report: bool) -> tuple[Any, np.ndarray[Any, Any]]:
        """The chunk without its ``id`` column, and the persons row of each item (-1: none)."""
        names = batch.schema.names
        if owner is None:
            if "id" not in names:
                raise ValueError("task items need an `id` column naming their record, or owners=")
            ids = batch.column(names.index("id"))
            owner = self._driver._owners_arrow(ids, self._row_map(), name, report=report)
        if "id" in names:
            batch = batch.select([k for k, n in enumerate(names) if n != "id"])
        return batch, owner

    def _feed_one(self, name: str, batch: Any, owner: np.ndarray[Any, Any] | None, keep: bool) -> None:
        slow = self._slow
        if self.mode == "records":
            if keep:
                self._kept[name].append(self._owners(batch, owner, name, report=False))
            return
        batch, owner = self._owners(batch, owner, name, report=True)
        names = batch.schema.names
        keep_rows = owner >= 0
        if not bool(keep_rows.all()):  # else no copy of the item columns
            batch = batch.filter(_mask(keep_rows))
            owner = owner[keep_rows]
        if any(n not in self._declared[name] for n in names):
            slow[owner] = True  # an item field the rule set does not declare: the checks speak
        if self.mode == "whole" or keep:
            self._kept[name].append((batch, owner))
        if self.mode != "stream":
            return
        program = self._driver.program
        assert program is not None
        m = len(owner)
        iconv = Converter(m)
        fields = {d.name: iconv.column(d, batch.column(names.index(d.name)) if d.name in names else [MISSING] * m)
                  for d in self._decls[name]}
        slow[owner[iconv.slow]] = True
        start = self._position.get(name, 0)
        self._position[name] = start + m
        try:
            program.reduce_items(self._columns, name, ItemTable(owner, fields, m, start), self._partials)
        except Unsupported:
            # The columns cannot fold these items: their records go record by record (exactly).
            slow[owner] = True

    # ------------------------------------------------------------------ closing

    def close(self) -> np.ndarray[Any, Any]:
        """Rate the columns; returns the rows (ascending) that go record by record. Their items
        come from the kept chunks, or are given again with :meth:`refeed`."""
        if self._needs is not None:
            return self._needs
        driver, persons, slow = self._driver, self._persons, self._slow
        before = len(driver.parts)
        if self.mode == "stream":
            driver._finish_columns(self._columns, persons, slow, self._partials, self._raw_of)
            del self._columns, self._partials
        elif self.mode == "whole":
            tables: dict[str, Table] = {}
            owners: dict[str, np.ndarray[Any, Any]] = {}
            for name, chunks in self._kept.items():
                tables[name], owners[name] = _whole(chunks)
            driver._columnar(persons, slow, tables, owners, self._raw_of, None)
        else:
            driver._one_by_one(persons.size, self._raw_of)
        kinds = driver.parts[before].kinds
        needs = np.arange(persons.size, dtype=np.int64) if kinds is None else np.flatnonzero(kinds)
        self._needs = needs
        self._wanted = np.zeros(persons.size, dtype=np.bool_)
        if len(needs):
            self._wanted[self._first_rows()[needs]] = True
        for name in self._lists:
            for batch, owner in self._kept[name]:
                self._take(name, batch, owner)
            self._kept[name] = []
        return needs

    def _first_rows(self) -> np.ndarray[Any, Any]:
        """The first row with the id of each row (whose items a duplicate record is given)."""
        if self._first is None:
            from kpi_rules.batch_sources import arrow_ids_unique, text_or_integer

            ids = self._persons.ids
            size = self._persons.size
            if ids is not None and not isinstance(ids, list) and text_or_integer(ids) and not ids.null_count \
                    and arrow_ids_unique(ids):
                self._first = np.arange(size, dtype=np.int64)
            else:
                row_of = self._row_map()
                self._first = np.fromiter((row_of[rid] for rid in self._persons.id_list()), np.int64, size)
        return self._first

    def refeed(self, items: Any, *, list_name: str | None = None, owners: Any = None) -> None:
        """After :meth:`close`: items again (all of them, or only those of the rows it named) for
        the rows that go record by record; items of other rows are ignored."""
        if self._needs is None:
            raise ValueError("close() the batch before refeeding items")
        name = self._list(list_name)
        if not len(self._needs):
            return
        for batch, owner in _pairs(items, owners):
            self._take(name, *self._owners(batch, owner, name, report=False))

    def _take(self, name: str, batch: Any, owner: np.ndarray[Any, Any]) -> None:
        """Keep, as dicts, the items of ``batch`` whose record goes record by record."""
        wanted = self._wanted
        assert wanted is not None
        hit = owner >= 0
        first = self._first_rows()
        rows = first[owner[hit]]
        hit[hit] = wanted[rows]
        if not hit.any():
            return
        by_row = self._fetched[name]
        for row, item in zip(first[owner[hit]].tolist(), batch.filter(_mask(hit)).to_pylist()):
            by_row.setdefault(row, []).append(item)

    def _raw_of(self, i: int) -> dict[str, Any]:
        """The record dict of row ``i`` with its items (for the record-by-record path)."""
        driver = self._driver
        raw = driver._raw_row(self._persons_table, i, {}, self._persons.id_list()[i])
        inputs = raw["inputs"]
        row = int(self._first_rows()[i])
        for name in self._lists:
            inputs[name] = driver._typed_items(name, self._fetched[name].get(row, ()))
        return raw

    def complete(self, again: Mapping[str, Callable[[], Iterable[Any]]] | None = None) -> None:
        """Close, then read the items of the rows that go record by record from ``again`` (per
        list: a function giving the chunks again, with ``id`` columns) when not kept."""
        needs = self.close()
        if again and len(needs):
            for name, source in again.items():
                for chunk in source():
                    self.refeed(chunk, list_name=name)

    def finish(self) -> BatchResult:
        """The outcome of the batch (closing it first)."""
        self.close()
        return self._driver.finish()


def _pairs(items: Any, owners: Any) -> Iterator[tuple[Any, np.ndarray[Any, Any] | None]]:
    """Non-empty record batches of a record batch, a table or a frame, each with its owners."""
    import pyarrow as pa

    from kpi_rules.batch_sources import to_arrow

    batches = [items] if isinstance(items, pa.RecordBatch) else \
        (items if isinstance(items, pa.Table) else to_arrow(items)).to_batches()
    owner_all = None if owners is None else np.asarray(owners, dtype=np.int64)
    offset = 0
    for batch in batches:
        n = batch.num_rows
        if n:
            yield batch, None if owner_all is None else owner_all[offset:offset + n]
        offset += n
    if owner_all is not None and offset != len(owner_all):
        raise ValueError(f"{len(owner_all)} owners for {offset} items")


def _mask(keep: np.ndarray[Any, Any]) -> Any:
    import pyarrow as pa

    return pa.array(keep)


def _whole(chunks: list[tuple[Any, np.ndarray[Any, Any]]]) -> tuple[Table, np.ndarray[Any, Any]]:
    """The kept chunks of one list as one item table (columns by name) and their owners."""
    import pyarrow as pa

    if not chunks:
        return Table(0, {}), np.zeros(0, dtype=np.int64)
    tables = [pa.Table.from_batches([batch]) for batch, _ in chunks]
    table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
    owner = np.concatenate([o for _, o in chunks])
    return Table(table.num_rows, {n: table.column(n) for n in table.column_names}), owner
