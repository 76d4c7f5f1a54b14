"""The records table of a columnar province run as integer codes (``kpi_rules.province_batch``).

A province of a million people has four million records rows. Reading their ``subject`` and
``period`` into Python lists, and asking the province for the role and the name of each row's
subject, made Python objects and dict lookups per row that grew faster than the province (the
lists alone were hundreds of megabytes; the lookups miss the caches more as the dicts grow).
Here each row is a subject code (the numbering of :class:`~kpi_rules.related_view.SubjectCodes`,
matched with one Arrow hash lookup), a period code (periods sorted) and a role code (per subject,
worked out once); the batch groups, the rows with undeclared values and the names are computed
over those columns. Row ``i``'s subject is ``ids[subject[i]]``: the province's own strings.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any, overload

import numpy as np

__all__ = ["RecordCodes", "RowNames"]


def _array(column: Any) -> Any:
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column


class RecordCodes:
    """Subject, period and role of each records row, as codes."""

    def __init__(self, records: Any, province: Any, ids: Sequence[str], roles: Sequence[str]) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        self.size: int = records.num_rows
        self.ids = ids
        #: The Arrow array of ``ids`` (subject code -> id).
        self.id_array = pa.array(ids, pa.string())
        subject = _array(records.column("subject"))
        found = pc.index_in(subject, value_set=self.id_array)
        #: Code of each row's subject (-1: not a subject of the province; the load rejects those).
        self.subject = np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
        encoded = pc.dictionary_encode(_array(records.column("period")))
        raw = [str(p) for p in encoded.dictionary.to_pylist()]
        #: The distinct periods, sorted; ``period`` codes index it.
        self.labels: list[str] = sorted(set(raw))
        remap = np.array([self.labels.index(p) for p in raw] or [0], dtype=np.int64)
        indices = np.asarray(encoded.indices.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
        self.period = remap[indices] if len(raw) else np.zeros(self.size, np.int64)
        #: The roles (``roles`` then any other role of the province); -1: no role (unknown subject).
        self.roles: list[str] = list(roles)
        index = {r: k for k, r in enumerate(self.roles)}
        people = province.people
        units = len(province.units)
        subject_role = np.empty(len(ids), dtype=np.int64)
        subject_role[:units] = index.setdefault("unit", len(index))
        subject_role[units:] = np.fromiter((index.setdefault(p.role, len(index)) for p in people.values()),
                                           np.int64, len(people))
        self.roles = list(index)
        #: Role code of each subject code.
        self.subject_role = subject_role
        #: Role code of each row.
        self.role = np.where(self.subject >= 0, subject_role[np.maximum(self.subject, 0)], -1)

    def subject_of(self, i: int) -> str:
        return self.ids[int(self.subject[i])]

    def subjects(self, rows: np.ndarray[Any, Any]) -> list[str]:
        """The subjects of ``rows`` (the province's own strings, no new ones)."""
        ids = self.ids
        return [ids[k] for k in self.subject[rows].tolist()]

    def among(self, wanted: Collection[str]) -> np.ndarray[Any, Any]:
        """Rows whose subject is in ``wanted``."""
        import pyarrow as pa
        import pyarrow.compute as pc

        hit = pc.is_in(self.id_array, value_set=pa.array(list(wanted), pa.string()))
        by_code = np.asarray(hit.to_numpy(zero_copy_only=False), dtype=np.bool_)
        return (self.subject >= 0) & by_code[np.maximum(self.subject, 0)]

    def groups(self, eligible: np.ndarray[Any, Any]) -> tuple[dict[tuple[str, str], int], np.ndarray[Any, Any]]:
        """Batch groups (role × period) of the ``eligible`` rows, numbered in order of first
        row, and the group of each row (-1: not eligible)."""
        route = np.full(self.size, -1, dtype=np.int64)
        rows = np.flatnonzero(eligible)
        if not len(rows):
            return {}, route
        width = max(1, len(self.labels))
        key = self.role[rows] * width + self.period[rows]
        distinct, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        by_first = np.argsort(first, kind="stable")
        number = np.empty(len(distinct), dtype=np.int64)
        number[by_first] = np.arange(len(distinct), dtype=np.int64)
        route[rows] = number[inverse.reshape(-1)]
        groups = {(self.roles[int(distinct[k]) // width], self.labels[int(distinct[k]) % width]): g
                  for g, k in enumerate(by_first.tolist())}
        return groups, route

    def undeclared(self, records: Any, inputs: Sequence[str],
                   declared: Mapping[str, Collection[str]]) -> np.ndarray[Any, Any]:
        """Rows with a value in a column their role's rule set does not declare."""
        out = np.zeros(self.size, dtype=np.bool_)
        for column in inputs:
            present: np.ndarray[Any, Any] | None = None
            for code, role in enumerate(self.roles):
                if column in declared.get(role, ()):
                    continue
                if present is None:
                    present = ~np.asarray(records.column(column).is_null().to_numpy(zero_copy_only=False),
                                          dtype=np.bool_)
                out |= (self.role == code) & present
            if present is None and bool((self.role < 0).any()):
                present = ~np.asarray(records.column(column).is_null().to_numpy(zero_copy_only=False), dtype=np.bool_)
            if present is not None:
                out |= (self.role < 0) & present  # no role: nothing is declared
        return out

    def names(self, records: Any, province: Any) -> RowNames:
        """The name of each row: its own (``name`` column), else its subject's."""
        import pyarrow as pa
        import pyarrow.compute as pc

        own = _array(records.column("name")) if "name" in records.column_names else None
        if own is not None and not own.null_count and not bool(pc.any(pc.equal(own, "")).as_py()):
            return RowNames(own)
        by_code = pa.array([*(u.name for u in province.units.values()), *(p.name for p in province.people.values())],
                           pa.string())
        taken = by_code.take(pa.array(np.maximum(self.subject, 0)))
        if self.size and bool((self.subject < 0).any()):
            taken = pc.if_else(pa.array(self.subject >= 0), taken, pa.nulls(self.size, pa.string()))
        if own is not None:
            keep = pc.fill_null(pc.not_equal(own, ""), False)
            taken = pc.if_else(keep, own, taken)
        return RowNames(taken)


class RowNames(Sequence[str | None]):
    """The name of each records row, kept as an Arrow string array (read one at a time)."""

    def __init__(self, array: Any) -> None:
        self.array = array

    @overload
    def __getitem__(self, i: int) -> str | None: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[str | None]: ...

    def __getitem__(self, i: int | slice) -> str | None | Sequence[str | None]:
        if isinstance(i, slice):
            return list(self.array[i].to_pylist())
        value = self.array[int(i)].as_py()
        return None if value is None else str(value)

    def __len__(self) -> int:
        return len(self.array)

    def __iter__(self) -> Iterator[str | None]:
        return iter(self.array.to_pylist())

    def take(self, rows: np.ndarray[Any, Any]) -> Any:
        """The names of ``rows`` as an Arrow string array."""
        import pyarrow as pa

        return self.array.take(pa.array(rows))
