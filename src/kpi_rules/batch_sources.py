"""Sources of a batch: record dicts, data frames, Arrow tables, CSV and Parquet files → raw columns.

:func:`persons_from_dicts` turns a list of record dicts into columns a field at a time and
marks the rows to take record by record; :func:`to_arrow`, :func:`read_table` and
:func:`iter_table` read frames, tables and files (CSV cells as text, numbers parsed exactly
later); :func:`arrow_ids_unique` and :func:`bad_ids` check the id column of a table.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from kpi_rules import nodes
from kpi_rules.columns_in import MISSING
from kpi_rules.diagnostics import Diagnostic, DiagnosticError
from kpi_rules.plan import Plan

__all__ = ["Table", "arrow_ids_unique", "bad_ids", "ids_in_order", "iter_table", "lookup_codes", "persons_from_dicts", "read_table",
           "single_chunk", "text_or_integer", "texts_in_order", "to_arrow"]


@dataclass
class Table:
    """One table of persons (or items): columns by name, and its size. For persons, the ids,
    names and periods as a list or an Arrow column (read as lists only when needed)."""

    size: int
    columns: dict[str, Any]
    ids: Any = None
    names: Any = None
    periods: Any = None
    _id_list: list[str] | None = None

    def id_list(self) -> list[str]:
        if self._id_list is None:
            values = self.ids if isinstance(self.ids, list) else (
                self.ids.to_pylist() if self.ids is not None else [None] * self.size)
            self._id_list = [x if isinstance(x, str) else ("" if x is None else str(x)) for x in values]
        return self._id_list


_SIMPLE_KEYS = frozenset(("id", "name", "period", "inputs"))
_EMPTY: dict[str, object] = {}  # stands for a record that is not a dict (never written to)


def _field(rows: Sequence[Any], key: str) -> tuple[list[Any], int]:
    """``row.get(key, MISSING)`` of every dict in ``rows`` (a list comprehension when every row
    has it: its dict subscript is specialised by the interpreter, about twice as fast as a
    ``map`` of ``itemgetter``), and how many rows miss it."""
    try:
        return [row[key] for row in rows], 0
    except KeyError:
        values = list(map(dict.get, rows, repeat(key), repeat(MISSING)))
        return values, sum(map(operator.is_, values, repeat(MISSING)))


#: Records checked at a time: the passes over one block (types, keys, fields, the floats of a
#: number column) find its objects still in the caches, where passes over all the records would
#: read every dict from memory again (about 25% faster on 100k records).
BLOCK = 2048


def persons_from_dicts(raws: Sequence[object], plan: Plan) -> tuple[Table, np.ndarray[Any, Any],
                                                                     dict[str, Table], dict[str, np.ndarray[Any, Any]]]:
    """Columns of the records' scalar inputs and flat item tables (with owner rows).

    Built a field at a time (C loops over the records), and checked a column at a time: a
    check that holds for the whole column (every record a plain dict with known keys, every
    id text, ...) costs one pass; only when it fails are the rows that break it found and sent
    record by record, where ``coerce_record`` reports them. A record with ``on`` or
    ``override`` goes record by record too. The records are taken :data:`BLOCK` at a time, and
    a number column whose values are all floats is read into a float64 array block by block.
    """
    size = len(raws)
    subject = plan.checked.subject
    scalar_names = [d.name for d in subject.inputs if not isinstance(d.type, nodes.ListType)]
    list_decls = {d.name: d for d in subject.inputs if isinstance(d.type, nodes.ListType)}
    numeric = {d.name for d in subject.inputs if isinstance(d.type, nodes.ScalarType)
               and d.type.name in ("number", "percent", "points")}
    slow = np.zeros(size, dtype=np.bool_)
    ids: list[Any] = []
    inputs: list[Any] = []  # kept only for the items of list inputs
    parts: dict[str, list[list[object]]] = {n: [] for n in scalar_names}
    floats = {n: np.empty(size, dtype=np.float64) for n in numeric}
    meta: dict[str, list[list[Any] | None]] = {"name": [], "period": []}
    for start in range(0, size, BLOCK):
        stop = min(size, start + BLOCK)
        block_ids, block_inputs = _dict_block(raws[start:stop], scalar_names, list_decls, slow[start:stop], meta,
                                              parts, floats, start)
        ids.extend(block_ids)
        if list_decls:
            inputs.extend(block_inputs)
    cols: dict[str, Any] = {n: floats[n] if n in floats else _flat(parts[n]) for n in scalar_names}
    tables: dict[str, Table] = {}
    owners: dict[str, np.ndarray[Any, Any]] = {}
    for list_name, decl in list_decls.items():
        assert isinstance(decl.type, nodes.ListType)
        fields = [d.name for d in plan.checked.records[decl.type.item].inputs]
        allowed_fields = frozenset(fields)
        store: dict[str, list[object]] = {f: [] for f in fields}
        owner: list[int] = []
        for i, record_inputs in enumerate(inputs):
            items = record_inputs.get(list_name)
            if not isinstance(items, list):
                if items is not None:
                    slow[i] = True
                continue
            for item in items:
                if not isinstance(item, Mapping) or not (item.keys() <= allowed_fields):
                    slow[i] = True
                    continue
                owner.append(i)
                for f in fields:
                    store[f].append(item.get(f, MISSING))
        tables[list_name] = Table(len(owner), store)
        owners[list_name] = np.asarray(owner, dtype=np.int64)
    names, periods = (_joined(meta[key], raws) for key in ("name", "period"))
    persons = Table(size, cols, ids, names, periods)
    return persons, slow, tables, owners


def _flat(parts: list[list[object]]) -> list[object]:
    if len(parts) == 1:
        return parts[0]
    out: list[object] = []
    for part in parts:
        out.extend(part)
    return out


def _joined(parts: list[list[Any] | None], raws: Sequence[object]) -> list[Any] | None:
    """The blocks of a column of names or periods as one list (None: no record has one)."""
    if all(part is None for part in parts):
        return None
    out: list[Any] = []
    for k, part in enumerate(parts):
        out.extend(part if part is not None else [None] * (min(len(raws), (k + 1) * BLOCK) - k * BLOCK))
    return out


def _dict_block(raws: Sequence[object], scalar_names: list[str], list_decls: Mapping[str, Any],
                slow: np.ndarray[Any, Any], meta: dict[str, list[list[Any] | None]],
                parts: dict[str, list[list[object]]], floats: dict[str, np.ndarray[Any, Any]],
                offset: int) -> tuple[list[Any], list[Any]]:
    """One block of :func:`persons_from_dicts`: marks its rows in ``slow`` (a view of the block),
    appends its names and periods to ``meta``, the values of its scalar inputs to ``parts``
    (and, while a number column has only floats, to ``floats``, which is dropped as soon as a
    block has anything else); returns its ids and inputs."""
    size = len(raws)
    rows: Sequence[Any] = raws
    if set(map(type, raws)) != {dict}:
        plain = np.fromiter((type(r) is dict for r in raws), np.bool_, size)
        slow |= ~plain
        rows = [r if ok else _EMPTY for r, ok in zip(raws, plain.tolist())]
    # Keys: a record's keys are known when it has as many keys as known keys present; the sum
    # over the records says at once whether that holds for all of them.
    ids, ids_missing = _field(rows, "id")
    inputs, inputs_missing = _field(rows, "inputs")
    present = 2 * size - ids_missing - inputs_missing
    block_meta: dict[str, list[Any] | None] = {"name": None, "period": None}
    total_keys = sum(map(len, rows))
    if total_keys != present:
        for key in ("name", "period"):
            column, missing = _field(rows, key)
            present += size - missing
            if missing != size:
                if missing:
                    column = [None if x is MISSING else x for x in column]
                if not set(map(type, column)) <= {str, type(None)}:
                    slow |= ~np.fromiter((x is None or type(x) is str for x in column), np.bool_, size)
                block_meta[key] = column
        if total_keys != present:
            slow |= ~np.fromiter(map(_SIMPLE_KEYS.issuperset, rows), np.bool_, size)
    for key in ("name", "period"):
        meta[key].append(block_meta[key])
    if not set(map(type, ids)) <= {str}:
        good = np.fromiter((type(x) is str or type(x) is int for x in ids), np.bool_, size)
        slow |= ~good
        ids = [str(x) if ok else None for x, ok in zip(ids, good.tolist())]
    if set(map(type, inputs)) != {dict}:
        plain = np.fromiter((type(x) is dict for x in inputs), np.bool_, size)
        slow |= ~plain
        inputs = [x if ok else _EMPTY for x, ok in zip(inputs, plain.tolist())]
    present = 0
    for n in list_decls:
        present += sum(map(dict.__contains__, inputs, repeat(n)))
    for n in scalar_names:
        column, missing = _field(inputs, n)
        present += size - missing
        parts[n].append(column)
        if n in floats:
            if missing or set(map(type, column)) != {float}:
                del floats[n]
            else:
                floats[n][offset:offset + size] = np.fromiter(column, np.float64, size)
    allowed = frozenset(scalar_names) | frozenset(list_decls)
    if sum(map(len, inputs)) != present:
        slow |= ~np.fromiter(map(allowed.issuperset, inputs), np.bool_, size)
    return ids, inputs


def to_arrow(data: Any) -> Any:
    """A pyarrow Table from a pandas/polars DataFrame or a pyarrow Table."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    module = type(data).__module__
    if module.startswith("polars"):
        return data.to_arrow()
    if module.startswith("pandas"):
        return pa.Table.from_pandas(data, preserve_index=False)
    raise TypeError(f"cannot read records from {type(data).__name__}")


def read_table(path: Path) -> Any:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path)
    if suffix == ".csv":
        import pyarrow as pa
        import pyarrow.csv as pcsv

        names = pcsv.open_csv(path).schema.names
        convert = pcsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True)
        return pcsv.read_csv(path, convert_options=convert)
    raise DiagnosticError([Diagnostic("KR602", f"unknown record file type `{suffix}`", where=str(path),
                                      hint="batch records are read from .csv or .parquet files")])


def iter_table(source: Any, chunk_size: int) -> Iterator[Any]:
    """Record batches of a table or file, ``chunk_size`` rows at a time (bounded memory)."""
    import pyarrow as pa

    if isinstance(source, (str, Path)):
        path = Path(source)
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            yield from pq.ParquetFile(path).iter_batches(batch_size=chunk_size)
            return
        if suffix == ".csv":
            import pyarrow.csv as pcsv

            names = pcsv.open_csv(path).schema.names
            convert = pcsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True)
            read = pcsv.ReadOptions(block_size=max(1 << 16, chunk_size * 48))
            with pcsv.open_csv(path, read_options=read, convert_options=convert) as reader:
                for batch in reader:
                    yield batch
            return
        raise DiagnosticError([Diagnostic("KR602", f"unknown record file type `{suffix}`", where=str(path))])
    table = to_arrow(source)
    yield from table.to_batches(max_chunksize=chunk_size)


def single_chunk(column: Any) -> Any:
    """An Arrow array from a (chunked) column."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column


def text_or_integer(ids: Any) -> bool:
    """Whether an Arrow array holds text or integers (ids that compare as their text)."""
    import pyarrow as pa

    typ = ids.type
    return bool(pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_integer(typ))


def bad_ids(ids: Any, size: int) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Rows whose id is not text or an integer (they go record by record, to be rejected)."""
    import pyarrow as pa

    typ = ids.type
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_integer(typ):
        if not ids.null_count:
            return np.zeros(size, dtype=np.bool_)
        return np.asarray(ids.is_null().to_numpy(zero_copy_only=False), dtype=np.bool_)
    values = ids.to_pylist()
    return np.fromiter((not isinstance(x, (str, int)) or isinstance(x, bool) for x in values), np.bool_, size)


def arrow_ids_unique(ids: Any) -> bool:
    """Whether the non-null ids of an Arrow array of text or integers are all different.

    Exact in every case. A cheap proof is tried first (:func:`ids_in_order` for text and
    integers, then a bitmap over the range of integer ids); only when it fails are the
    distinct values counted with a hash (polars, about three times faster than pyarrow, when
    installed).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    typ = ids.type
    if not (pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_integer(typ)):
        return False
    if ids.null_count:
        ids = ids.drop_null()
    if len(ids) < 2 or ids_in_order(ids):
        return True
    if pa.types.is_integer(typ):
        proved = _integer_bitmap(ids)
        if proved is not None:
            return proved
    try:
        import polars as pl
    except ImportError:
        return len(pc.unique(ids)) == len(ids)
    return int(pl.from_arrow(ids).n_unique()) == len(ids)


def ids_in_order(ids: Any) -> bool:
    """Whether the ids (an Arrow array of text or integers without nulls) strictly increase,
    which proves them all different (a strict total order has no equal neighbours and no
    repeats further apart).

    Integers are compared as numbers. Text is tried in two orders: by its bytes (``cc-0001``,
    ``cc-0002``) and by length first, then bytes (``p9`` before ``p10``: numbers written as
    text, the order of most exports). One comparison of neighbours, no hashing.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    size = len(ids)
    if pa.types.is_integer(ids.type):
        values = ids.to_numpy(zero_copy_only=False)
        return bool(np.all(values[1:] > values[:-1]))
    buffers = ids.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64 if pa.types.is_large_string(ids.type) else np.int32,
                            count=ids.offset + size + 1)[ids.offset:]
    length = np.diff(offsets)
    if bool(np.all(length[1:] >= length[:-1])):
        proved = _blocks_in_order(buffers[2], offsets, length)
        if proved is not None:
            return proved
    shorter = length[:-1] < length[1:]
    less = _bits(pc.less(ids.slice(0, size - 1), ids.slice(1)))
    if bool(np.all(less)):
        return True  # by bytes
    return bool(np.all(shorter | ((length[:-1] == length[1:]) & less)))  # by length, then bytes


def texts_in_order(keys: list[Any]) -> bool:
    """Whether a list of texts strictly increases, by length then bytes or by bytes alone, which
    proves them all different (:func:`ids_in_order` for a Python list). False when unsure: a
    value that is not text (None), text that is not ASCII or holds a NUL, or neither order.

    The texts joined with NULs are their bytes one after the other, and the NULs give their
    offsets: nearly the layout of an Arrow string array, read by :func:`_blocks_in_order`
    without a Python call per text (about four times cheaper than a ``set`` of 100k ids).
    """
    if len(keys) < 2:
        return all(type(k) is str for k in keys)
    try:
        text = "\0".join(keys)
    except TypeError:  # None, or anything else that is not text
        return False
    if not text.isascii():
        return False
    raw = text.encode("ascii")
    ends = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == 0)
    if len(ends) != len(keys) - 1:
        return False  # a text holds a NUL
    offsets = np.empty(len(keys) + 1, dtype=np.int64)
    offsets[0], offsets[-1] = 0, len(raw) + 1
    np.add(ends, 1, out=offsets[1:-1])
    length = np.diff(offsets) - 1
    if bool(np.all(length[1:] >= length[:-1])):
        proved = _blocks_in_order(raw, offsets, length, gap=1)
        if proved is not None:
            return proved
    return all(map(operator.lt, keys, keys[1:]))  # by bytes (ASCII: the order of str)


def _blocks_in_order(data: Any, offsets: np.ndarray[Any, Any], length: np.ndarray[Any, Any],
                     gap: int = 0) -> bool | None:
    """Whether texts whose lengths never decrease strictly increase by length, then bytes;
    None when there are too many different lengths to be worth it. ``gap``: bytes between
    two texts (0 in an Arrow buffer, 1 for texts joined with a separator).

    The texts of one length lie back to back in the data buffer, so their bytes read as
    big-endian unsigned 8-byte words (:func:`_text_keys`) compare as the texts do. Between
    blocks of one length the length increases: only neighbours inside a block are compared.
    """
    starts = np.flatnonzero(length[1:] != length[:-1]) + 1
    if len(starts) > 64:
        return None
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    bounds = [0, *starts.tolist(), len(length)]
    for start, stop in zip(bounds, bounds[1:]):
        count, width = stop - start, int(length[start])
        if count < 2:
            continue
        if width == 0:
            return False  # two empty texts
        keys = _text_keys(raw, int(offsets[start]), count, width, width + gap)
        if len(keys) == 1:
            if not bool(np.all(keys[0][1:] > keys[0][:-1])):
                return False
            continue
        less = np.zeros(count - 1, dtype=np.bool_)
        equal = np.ones(count - 1, dtype=np.bool_)
        for word in keys:
            before, after = word[:-1], word[1:]
            less |= equal & (before < after)
            equal &= before == after
        if not bool(np.all(less)):
            return False
    return True


def _text_keys(raw: np.ndarray[Any, Any], first: int, count: int, width: int,
               stride: int | None = None) -> list[np.ndarray[Any, Any]]:
    """``count`` texts of ``width`` bytes each, ``stride`` bytes apart (default: back to back)
    from ``raw[first]``, as unsigned integer words (most significant first) that compare as
    the bytes do.

    Word ``j`` of text ``i`` is read, without copying the texts, as the big-endian 8 bytes at
    ``first + i * stride + 8 * j`` (a strided, unaligned view); the bytes of the last word that
    do not belong to the text are shifted out. Texts whose last word would read past the
    buffer are padded with zero bytes.
    """
    stride = width if stride is None else stride
    words = -(-width // 8)
    shift = np.uint64(8 * (8 * words - width))
    span = 8 * words
    fits = max(0, min(count, (len(raw) - first - span) // stride + 1)) if len(raw) >= first + span else 0
    tail = np.zeros((count - fits, span), dtype=np.uint8)
    for k, i in enumerate(range(fits, count)):
        at = first + i * stride
        tail[k, :width] = raw[at:at + width]
    tail_words = tail.view(">u8")
    keys = []
    for j in range(words):
        key = np.empty(count, dtype=np.uint64)
        if fits:
            key[:fits] = np.ndarray((fits,), dtype=">u8", buffer=raw, offset=first + 8 * j, strides=(stride,))
        key[fits:] = tail_words[:, j]
        if j == words - 1 and shift:
            np.right_shift(key, shift, out=key)
        keys.append(key)
    return keys


def _bits(flags: Any) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """A boolean Arrow array without nulls as numpy booleans (unpacking its bitmap is ~10×
    faster than ``to_numpy``)."""
    buffers = flags.buffers()
    if flags.offset or flags.null_count or buffers[1] is None:
        return np.asarray(flags.to_numpy(zero_copy_only=False), dtype=np.bool_)
    packed = np.frombuffer(buffers[1], dtype=np.uint8)
    return np.unpackbits(packed, count=len(flags), bitorder="little").view(np.bool_)


def _integer_bitmap(ids: Any) -> bool | None:
    """Whether integer ids are all different, with one bitmap over their range when the range
    is at most a few times their number; None when it is wider."""
    values = ids.to_numpy(zero_copy_only=False)
    lo, hi = int(values.min()), int(values.max())
    if hi - lo > 8 * len(values) + 1024:
        return None
    seen = np.zeros(hi - lo + 1, dtype=np.bool_)
    # Differences in the ids' own type when it is 64-bit (exact: they lie in [0, hi - lo]),
    # else in int64, so that narrow types cannot wrap.
    wide = values if values.dtype.itemsize == 8 else values.astype(np.int64)
    seen[np.subtract(wide, wide.dtype.type(lo)).astype(np.intp)] = True
    return int(np.count_nonzero(seen)) == len(values)


def lookup_codes(column: Any, keys: Mapping[str, int]) -> np.ndarray[Any, Any]:
    """The code of each value of ``column`` in ``keys`` (-1 when absent), looked up once per
    distinct value of the chunk: the cost follows the chunk, not the size of ``keys`` (a hash
    set of every key built per chunk would make the run grow faster than the province)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    encoded = column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)
    values = pc.cast(encoded.dictionary, pa.string()).to_pylist()
    distinct = np.fromiter((keys.get(v, -1) if v is not None else -1 for v in values), np.int64, len(values))
    codes = np.asarray(encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
    if not len(distinct):
        return np.full(len(codes), -1, dtype=np.int64)
    return np.where(codes >= 0, distinct[np.maximum(codes, 0)], -1)
