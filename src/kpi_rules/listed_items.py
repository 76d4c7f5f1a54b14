"""Task items of the records a province rates outside the staff batches, kept as Arrow chunks.

The items of leaders, units and records rated one by one are not folded into a staff batch
(:mod:`kpi_rules.batch_feed`); the province run keeps them for later. A leader's own items go to
its layer's batch as an item table, so making a dict per item first (and a table again from the
dicts) cost more than the items' whole pass at a hundred thousand people. :class:`ListedItems`
keeps each chunk's items with their owners (records rows) and gives:

* :meth:`ListedItems.table`: the items of many records at once as one Arrow table, in the
  records' order, each record's items in file order (what the dicts gave, as columns);
* :meth:`ListedItems.get`: one record's items as dicts (absent fields left out), for the records
  built one by one; all the dicts are made on the first such call.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ListedItems"]


class ListedItems:
    """Items by owner (a records row), read chunk by chunk (a record's items come together and
    in list order across chunks)."""

    def __init__(self) -> None:
        self._chunks: list[tuple[Any, np.ndarray[Any, Any]]] = []
        self._dicts: dict[int, list[dict[str, Any]]] | None = None

    def add(self, items: Any, owners: np.ndarray[Any, Any]) -> None:
        """A chunk's items (an Arrow table without ``subject``/``period``) and the owner of each."""
        if items.num_rows:
            self._chunks.append((items, np.asarray(owners, dtype=np.int64)))
            self._dicts = None

    def get(self, row: int, default: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The items of records row ``row`` as dicts, without their null fields."""
        if self._dicts is None:
            self._dicts = {}
            for items, owners in self._chunks:
                _append_dicts(self._dicts, items, owners)
        return self._dicts.get(row, default)

    def table(self, rows: np.ndarray[Any, Any], fields: list[str]) -> tuple[
            Any, np.ndarray[Any, Any], np.ndarray[Any, Any]] | None:
        """The items of the records ``rows`` as one table of the columns ``fields`` (a field no
        chunk has is all nulls), the records in the order of ``rows`` and each one's items in
        file order; and, per item, its place in ``rows``. Also which of ``rows`` have an item with
        a value in a field not among ``fields`` (a boolean per row). None when the chunks do not
        make one table (columns of different types)."""
        import pyarrow as pa

        place = np.full(max((int(o.max()) for _, o in self._chunks if len(o)), default=-1) + 1,
                        -1, dtype=np.int64)
        inside = rows < len(place)
        place[rows[inside]] = np.flatnonzero(inside)
        picked: list[Any] = []
        where: list[np.ndarray[Any, Any]] = []
        for items, owners in self._chunks:
            at = place[owners]
            mine = at >= 0
            if mine.all():
                picked.append(items)
            elif mine.any():
                picked.append(items.filter(pa.array(mine)))
            else:
                continue
            where.append(at[mine])
        undeclared = np.zeros(len(rows), dtype=np.bool_)
        if not picked:
            empty = pa.table({f: pa.nulls(0) for f in fields})
            return empty, np.zeros(0, dtype=np.int64), undeclared
        picked = [pa.Table.from_batches([x]) if isinstance(x, pa.RecordBatch) else x for x in picked]
        try:
            whole = pa.concat_tables(picked) if len(picked) > 1 else picked[0]
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return None
        at = np.concatenate(where)
        known = set(fields)
        for name in whole.column_names:
            if name not in known:
                valued = np.asarray(whole.column(name).is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
                undeclared[at[valued]] = True
        order = np.argsort(at, kind="stable")  # records in the order of rows, items in file order
        taken = whole.take(pa.array(order)) if len(order) and (order[1:] < order[:-1]).any() else whole
        columns: dict[str, Any] = {}
        for name in fields:
            if name in whole.column_names:
                column = taken.column(name)
                if pa.types.is_dictionary(column.type):
                    column = column.cast(column.type.value_type)
                columns[name] = column
            else:
                columns[name] = pa.nulls(taken.num_rows)
        return (pa.table(columns), at[order], undeclared)


def _append_dicts(out: dict[int, list[dict[str, Any]]], items: Any, owners: np.ndarray[Any, Any]) -> None:
    """Each item as a dict (absent fields left out), appended to its owner's list a run of equal
    owners at a time."""
    rows = items.to_pylist()
    if any(column.null_count for column in items.columns):
        rows = [{k: v for k, v in item.items() if v is not None} for item in rows]
    if not rows:
        return
    starts = np.flatnonzero(np.concatenate(([True], owners[1:] != owners[:-1]))).tolist()
    ends = starts[1:] + [len(rows)]
    for owner, start, end in zip(owners[starts].tolist(), starts, ends):
        out.setdefault(owner, []).extend(rows[start:end])
