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

pandas, polars and pyarrow are optional (``pip install "kpi-rules[columnar]"``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from kpi_rules import nodes
from kpi_rules.columnar import (
    LIMIT,
    Cat,
    ColumnarProgram,
    ColumnarRun,
    Columns,
    CValue,
    ItemTable,
    Num,
    Unsupported,
    cell_value,
    compile_columnar,
    readable,
)
from kpi_rules.diagnostics import Diagnostic, DiagnosticError
from kpi_rules.evaluator import EvaluationError, evaluate_record
from kpi_rules.explainer import explain as explain_result
from kpi_rules.models import Explanation
from kpi_rules.plan import Plan, per_plan
from kpi_rules.records import coerce_record
from kpi_rules.results import Result, SubjectRecord, Value
from kpi_rules.trace import FullTracer
from kpi_rules.values import literal_value

__all__ = ["BatchResult", "evaluate_batch", "program_for"]

_RECORD_KEYS = frozenset(("id", "name", "period", "on", "inputs", "override"))
_MISSING = object()
#: Default number of records (dicts) or task items (files) handled at once.
DEFAULT_CHUNK = 200_000


#: The columnar program of a plan, compiled once per plan object.
program_for: Callable[[Plan], ColumnarProgram | None] = per_plan(compile_columnar)


# --------------------------------------------------------------------------- the outcome


@dataclass(slots=True)
class _Chunk:
    run: ColumnarRun
    columns: Columns
    ids: list[str]
    names: list[str | None]
    periods: list[str | None]


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
    #: In record order: (chunk index, row) for columnar rows, or (-1, Result) otherwise.
    _order: list[tuple[int, Any]] = field(repr=False)
    _chunks: list[_Chunk] = field(repr=False)
    _records: dict[int, SubjectRecord] = field(repr=False)
    explain: bool = False
    lang: str = "vi"
    columnar_rows: int = 0
    fallback_rows: int = 0
    _results: tuple[Result, ...] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self._order)

    @property
    def results(self) -> tuple[Result, ...]:
        if self._results is None:
            out: list[Result] = []
            for chunk_index, item in self._order:
                if chunk_index < 0:
                    out.append(item)
                else:
                    c = self._chunks[chunk_index]
                    out.append(c.run.result(item, c.ids[item], c.names[item], c.periods[item]))
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
        out: list[Explanation] = []
        for position, result in enumerate(self.results):
            chunk_index, item = self._order[position]
            record = self._records.get(position)
            if record is None and chunk_index >= 0:
                record = _record_of(self._chunks[chunk_index], item)
            out.append(explain_result(result, self.plan, self.lang, record=record))
        return tuple(out)

    def totals(self) -> list[Fraction | None]:
        """The exact totals in record order, without building Result objects."""
        cache: dict[int, list[Fraction]] = {}
        out: list[Fraction | None] = []
        for chunk_index, item in self._order:
            if chunk_index < 0:
                out.append(item.total)
            else:
                if chunk_index not in cache:
                    cache[chunk_index] = self._chunks[chunk_index].run.total_fractions()
                out.append(cache[chunk_index][item])
        return out

    def levels(self) -> list[str | None]:
        """The levels in record order, without building Result objects."""
        cache: dict[int, list[str | None]] = {}
        out: list[str | None] = []
        for chunk_index, item in self._order:
            if chunk_index < 0:
                out.append(item.level)
            else:
                if chunk_index not in cache:
                    cache[chunk_index] = self._chunks[chunk_index].run.level_names()
                out.append(cache[chunk_index][item])
        return out


def _record_of(chunk: _Chunk, i: int) -> SubjectRecord:
    """The record of row ``i``: its scalar inputs and the items of its list inputs, in list order
    (what explanations read from a record, and what the next-level advice evaluates again)."""
    inputs: dict[str, Value] = {name: cell_value(value, i) for name, value in chunk.columns.scalars.items()}
    for name, table in chunk.columns.lists.items():
        keys = [int(k) for k in np.flatnonzero(table.row[:table.size] == i)]
        inputs[name] = tuple(MappingProxyType({f: cell_value(col, k) for f, col in table.fields.items()}) for k in keys)
    return SubjectRecord(chunk.ids[i], MappingProxyType(inputs), chunk.names[i], chunk.periods[i])


# --------------------------------------------------------------------------- typed columns


class _Conv:
    """Converts raw columns of one table to typed columns; ``slow`` marks rows to do one by one."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.slow = np.zeros(size, dtype=np.bool_)

    def column(self, decl: nodes.InputDecl, values: Any) -> CValue:
        """``values``: a Python list (``_MISSING``/None for absent) or a pyarrow array."""
        t = decl.type
        if _is_arrow(values):
            values, absent = _arrow_values(values, t)
        else:
            absent = np.fromiter((v is _MISSING or v is None for v in values), np.bool_, self.size)
        if isinstance(values, list) and absent.any():
            holder = _placeholder(t)
            values = [holder if a else v for v, a in zip(values, absent.tolist())]
        if not readable(decl):
            # Declared but never read by the program: a row giving a value goes one by one
            # (where the value is checked); the column itself is not used.
            self.slow |= ~absent
            return Num(0, 1)
        default: Value = None
        if absent.any():
            if decl.missing == "default" and decl.default is not None:
                default = literal_value(decl.default)
            else:
                self.slow |= absent
        if isinstance(t, nodes.OneOfType):
            cat = self.cat(values, t.members, absent)
            if default is not None:
                cat = Cat(np.where(absent, t.members.index(str(default)), cat.codes), cat.labels)
            return cat
        assert isinstance(t, nodes.ScalarType)
        if t.name in ("number", "percent", "points"):
            num = self.number(values)
            if isinstance(default, Fraction):
                num = _fill_num(num, absent, default)
            if decl.min is not None:
                self.slow |= _cmp_lt(num, Num(decl.min.numerator, decl.min.denominator))
            if decl.max is not None:
                self.slow |= _cmp_lt(Num(decl.max.numerator, decl.max.denominator), num)
            return num
        if t.name == "bool":
            flags = self.boolean(values, absent)
            if isinstance(default, bool):
                flags = np.where(absent, default, flags)
            return flags
        if t.name == "text":
            cat = self.cat(values, None, absent)
            if isinstance(default, str):
                labels = cat.labels if default in cat.labels else cat.labels + (default,)
                cat = Cat(np.where(absent, labels.index(default), cat.codes), labels)
            return cat
        raise Unsupported(f"input type {t.name}")

    def number(self, values: Any) -> Num:
        if isinstance(values, Num):
            return values
        if isinstance(values, np.ndarray):
            if values.dtype.kind in "iu":
                return Num(values.astype(np.int64), 1)
            if values.dtype.kind == "f":
                return self.floats(values)
            if values.dtype.kind == "b":
                self.slow |= True
                return Num(np.zeros(self.size, dtype=np.int64), 1)
            values = values.tolist()
        kinds = {type(v) for v in values}
        if kinds <= {int}:
            try:
                return Num(np.fromiter(values, np.int64, self.size), 1)
            except OverflowError:
                pass
        if kinds <= {float}:
            return self.floats(np.fromiter(values, np.float64, self.size))
        if kinds <= {int, float} and all(abs(v) < 2**52 for v in values):
            return self.floats(np.fromiter(values, np.float64, self.size))
        ns = np.zeros(self.size, dtype=np.int64)
        ds = np.ones(self.size, dtype=np.int64)
        for i, v in enumerate(values):
            pair = _ratio(v)
            if pair is None or abs(pair[0]) > LIMIT or pair[1] > LIMIT:
                self.slow[i] = True
            else:
                ns[i], ds[i] = pair
        return _shared(Num(ns, ds), self.slow)

    def floats(self, f: np.ndarray[Any, Any]) -> Num:
        """Exact decimals of floats, as ``to_fraction`` reads them (through their shortest repr).

        For ``|f| * 10**k < 2**50`` the k-digit decimal that round-trips is unique and is the
        value of ``repr(f)``; other floats (and NaN, infinities) go record by record.
        """
        n = np.zeros(len(f), dtype=np.int64)
        k_of = np.full(len(f), -1, dtype=np.int64)
        finite = np.isfinite(f)
        todo = finite.copy()
        for k in range(0, 10):
            if not todo.any():
                break
            scaled = f * 10.0**k
            m = np.rint(np.where(todo, scaled, 0.0))
            ok = todo & (np.abs(m) < 2.0**50) & (m / 10.0**k == f)
            n = np.where(ok, np.where(ok, m, 0.0).astype(np.int64), n)
            k_of = np.where(ok, k, k_of)
            todo &= ~ok
        self.slow |= k_of < 0
        kmax = int(k_of.max()) if len(k_of) else 0
        kmax = max(kmax, 0)
        factor = 10 ** (kmax - np.where(k_of < 0, kmax, k_of))
        return Num(n * factor, 10**kmax)

    def boolean(self, values: Any, absent: np.ndarray[Any, np.dtype[np.bool_]]) -> np.ndarray[Any, np.dtype[np.bool_]]:
        if isinstance(values, np.ndarray) and values.dtype == np.bool_:
            return values
        ok = np.fromiter((type(v) is bool for v in values), np.bool_, self.size)
        self.slow |= ~ok & ~absent
        return np.fromiter((v is True for v in values), np.bool_, self.size)

    def cat(self, values: Any, members: tuple[str, ...] | None,
            absent: np.ndarray[Any, np.dtype[np.bool_]]) -> Cat:
        if isinstance(values, Cat):
            codes, labels = values.codes, values.labels
        else:
            index: dict[object, int] = {}
            codes = np.fromiter((index.setdefault(v, len(index)) for v in values), np.int64, self.size)
            labels_any = list(index)
            bad_label = np.array([not isinstance(x, str) for x in labels_any] + [True], dtype=np.bool_)
            self.slow |= bad_label[codes] & ~absent
            labels = tuple(x if isinstance(x, str) else "" for x in labels_any)
        if members is None:
            return Cat(codes, labels)
        lut = np.array([members.index(x) if x in members else -1 for x in labels] + [-1], dtype=np.int64)
        ranks = lut[codes]
        self.slow |= (ranks < 0) & ~absent
        return Cat(np.where(ranks < 0, 0, ranks), members)


def _cmp_lt(a: Num, b: Num) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Exact ``a < b`` with Python ints where int64 could overflow."""
    left_bound = _mag(a.n) * _mag(b.d)
    right_bound = _mag(b.n) * _mag(a.d)
    if max(left_bound, right_bound) < LIMIT:
        return np.asarray(np.multiply(a.n, b.d, dtype=np.int64) < np.multiply(b.n, a.d, dtype=np.int64))
    an = np.asarray(a.n, dtype=object)
    bd = np.asarray(b.d, dtype=object)
    bn = np.asarray(b.n, dtype=object)
    ad = np.asarray(a.d, dtype=object)
    return np.asarray(an * bd < bn * ad, dtype=np.bool_)


def _mag(x: Any) -> int:
    if isinstance(x, int):
        return abs(x)
    if x.size == 0:
        return 0
    return max(int(x.max()), -int(x.min()))


def _ratio(v: object) -> tuple[int, int] | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v, 1
    if isinstance(v, Fraction):
        return v.numerator, v.denominator
    if isinstance(v, Decimal):
        if not v.is_finite():
            return None
        return v.as_integer_ratio()
    if isinstance(v, float):
        if not math.isfinite(v):
            return None
        f = Fraction(repr(v))
        return f.numerator, f.denominator
    return None


def _shared(num: Num, slow: np.ndarray[Any, np.dtype[np.bool_]]) -> Num:
    """A denominator shared by the whole column when the lcm stays small."""
    d = num.d
    if isinstance(d, int):
        return num
    dens = np.unique(d[~slow]) if (~slow).any() else np.array([1])
    lcm = 1
    for x in dens.tolist():
        lcm = math.lcm(lcm, int(x))
        if lcm > 10**12:
            return num
    factor = lcm // d
    n = num.n
    assert not isinstance(n, int)
    risky = (np.abs(n.astype(np.float64)) * factor.astype(np.float64)) >= float(LIMIT) / 2
    slow |= risky
    return Num(np.where(risky, 0, n) * factor, lcm)


def _placeholder(t: nodes.TypeExpr) -> object:
    if isinstance(t, nodes.OneOfType):
        return t.members[0]
    if isinstance(t, nodes.ScalarType) and t.name == "bool":
        return False
    if isinstance(t, nodes.ScalarType) and t.name == "text":
        return ""
    return 0


def _fill_num(num: Num, absent: np.ndarray[Any, np.dtype[np.bool_]], value: Fraction) -> Num:
    """``num`` with the absent rows set to ``value`` (a declared default)."""
    d = num.d if isinstance(num.d, int) else None
    if d is None:
        n = np.where(absent, value.numerator, num.n)
        return Num(n, np.where(absent, value.denominator, num.d))
    lcm = math.lcm(d, value.denominator)
    scaled = np.multiply(num.n, lcm // d, dtype=np.int64)
    return Num(np.where(absent, value.numerator * (lcm // value.denominator), scaled), lcm)


# --------------------------------------------------------------------------- arrow


def _is_arrow(values: object) -> bool:
    return type(values).__module__.startswith("pyarrow")


def _arrow_values(array: Any, t: nodes.TypeExpr) -> tuple[Any, np.ndarray[Any, np.dtype[np.bool_]]]:
    """Typed values of a pyarrow (chunked) array, and where it is null."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    absent = np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=np.bool_)
    typ = array.type
    numeric = isinstance(t, nodes.ScalarType) and t.name in ("number", "percent", "points")
    if pa.types.is_dictionary(typ):
        array = array.cast(typ.value_type)
        typ = array.type
    if numeric:
        if pa.types.is_integer(typ):
            return array.fill_null(0).to_numpy().astype(np.int64), absent
        if pa.types.is_floating(typ):
            return array.fill_null(0.0).to_numpy().astype(np.float64), absent
        if pa.types.is_decimal(typ):
            scale = typ.scale
            try:
                unscaled = pc.cast(pc.multiply(array.fill_null(0), pa.scalar(10**scale, typ)), pa.int64())
                return Num(unscaled.to_numpy().astype(np.int64), 10**scale), absent
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return array.to_pylist(), absent
        if pa.types.is_string(typ) or pa.types.is_large_string(typ):
            return _decimal_text(array, absent), absent
        return array.to_pylist(), absent
    if isinstance(t, nodes.ScalarType) and t.name == "bool":
        if pa.types.is_boolean(typ):
            return np.asarray(array.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.bool_), absent
        if pa.types.is_string(typ) or pa.types.is_large_string(typ):
            truth = pc.equal(array, "true").fill_null(False).to_numpy(zero_copy_only=False)
            falsity = pc.equal(array, "false").fill_null(False).to_numpy(zero_copy_only=False)
            values = [True if a else (False if b else "?") for a, b in zip(truth.tolist(), falsity.tolist())]
            return values, absent
        return array.to_pylist(), absent
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        encoded = pc.dictionary_encode(array.fill_null(""))
        codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        labels = tuple(str(x) for x in encoded.dictionary.to_pylist())
        return Cat(codes, labels), absent
    return array.to_pylist(), absent


def _decimal_text(array: Any, absent: np.ndarray[Any, np.dtype[np.bool_]]) -> Any:
    """Exact numbers from decimal text (``"12"``, ``"-2.375"``) with pyarrow compute."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.utf8_trim_whitespace(array.fill_null("0"))
    ok = pc.match_substring_regex(text, r"^[+-]?\d{1,15}(\.\d{0,6})?$").to_numpy(zero_copy_only=False)
    ok = np.asarray(ok, dtype=np.bool_)
    safe = pc.if_else(pa.array(ok), text, pa.scalar("0"))
    point = pc.find_substring(safe, ".").to_numpy(zero_copy_only=False).astype(np.int64)
    length = pc.utf8_length(safe).to_numpy(zero_copy_only=False).astype(np.int64)
    places = np.where(point >= 0, length - point - 1, 0)
    digits = pc.cast(pc.replace_substring(safe, ".", ""), pa.int64()).to_numpy(zero_copy_only=False)
    digits = np.where(ok, digits.astype(np.int64), 0)
    kmax = int(places.max()) if len(places) else 0
    n = digits * (10 ** (kmax - places))
    num = Num(n.astype(np.int64), 10**kmax)
    if ok.all():
        return num
    return _merge_bad_text(num, ~ok, array)


def _merge_bad_text(num: Num, bad: np.ndarray[Any, np.dtype[np.bool_]], array: Any) -> list[object]:
    """Rows whose text is not plain decimal keep their text (and are rejected as not a number)."""
    raw = array.to_pylist()
    assert not isinstance(num.n, int) and isinstance(num.d, int)
    ns = num.n.tolist()
    return [raw[i] if bad[i] else Fraction(ns[i], num.d) for i in range(len(raw))]


# --------------------------------------------------------------------------- sources


@dataclass
class _Table:
    """One table of persons (or items): columns by name, and its size."""

    size: int
    columns: dict[str, Any]


def _persons_from_dicts(raws: Sequence[object], plan: Plan) -> tuple[_Table, np.ndarray[Any, Any],
                                                                     dict[str, _Table], dict[str, np.ndarray[Any, Any]]]:
    """Columns of the records' scalar inputs and flat item tables (with owner rows)."""
    size = len(raws)
    subject = plan.checked.subject
    names = [d.name for d in subject.inputs]
    allowed = frozenset(names)
    slow = np.zeros(size, dtype=np.bool_)
    cols: dict[str, list[object]] = {n: [] for n in names}
    meta: dict[str, list[object]] = {"id": [], "name": [], "period": []}
    list_decls = {d.name: d for d in subject.inputs if isinstance(d.type, nodes.ListType)}
    item_fields = {n: [d.name for d in plan.checked.records[d.type.item].inputs]  # type: ignore[union-attr]
                   for n, d in list_decls.items()}
    item_cols: dict[str, dict[str, list[object]]] = {n: {f: [] for f in fs} for n, fs in item_fields.items()}
    item_rows: dict[str, list[int]] = {n: [] for n in list_decls}
    for i, raw in enumerate(raws):
        inputs: Any = None
        if isinstance(raw, Mapping):
            inputs = raw.get("inputs", {})
            rid = raw.get("id")
            if not (raw.keys() <= _RECORD_KEYS) or not isinstance(inputs, Mapping) \
                    or not (inputs.keys() <= allowed) or not isinstance(rid, (str, int)) \
                    or isinstance(rid, bool) or raw.get("on") is not None or raw.get("override") is not None:
                slow[i] = True
        else:
            slow[i] = True
        if slow[i]:
            inputs = {}
            rid, name, period = "", None, None
        else:
            assert isinstance(raw, Mapping)
            name, period = raw.get("name"), raw.get("period")
            if not (name is None or isinstance(name, str)) or not (period is None or isinstance(period, str)):
                slow[i] = True
        meta["id"].append(str(rid))
        meta["name"].append(name)
        meta["period"].append(period)
        for n in names:
            cols[n].append(inputs.get(n, _MISSING))
        for list_name, fields in item_fields.items():
            items = inputs.get(list_name)
            if not isinstance(items, list):
                if items is not None and not slow[i]:
                    slow[i] = True
                cols[list_name][-1] = None
                continue
            allowed_fields = frozenset(fields)
            store = item_cols[list_name]
            rows = item_rows[list_name]
            for item in items:
                if not isinstance(item, Mapping) or not (item.keys() <= allowed_fields):
                    slow[i] = True
                    continue
                rows.append(i)
                for f in fields:
                    store[f].append(item.get(f, _MISSING))
    persons = _Table(size, {**cols, **meta})
    tables = {n: _Table(len(item_rows[n]), dict(item_cols[n])) for n in list_decls}
    owners = {n: np.asarray(item_rows[n], dtype=np.int64) for n in list_decls}
    return persons, slow, tables, owners


def _to_arrow(data: Any) -> Any:
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


def _read_table(path: Path) -> Any:
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


def _iter_table(source: Any, chunk_size: int) -> Iterator[Any]:
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
    table = _to_arrow(source)
    yield from table.to_batches(max_chunksize=chunk_size)


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
            list inputs). Ignored for dicts, which carry their items.
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
                 record_check: Callable[[SubjectRecord], list[Diagnostic]] | None = None) -> None:
        self.plan = plan
        self.record_check = record_check
        self.program = program
        self.explain = explain
        self.lang = lang
        #: Per record, in order: ("c", chunk, row) or ("r", raw record) to do one by one.
        self.rows: list[tuple[str, int, Any, str]] = []
        self.chunks: list[_Chunk] = []
        self.bad_rows: dict[tuple[int, int], bool] = {}
        self.extra_rejected: list[tuple[Diagnostic, str]] = []
        self.orphans: set[str] = set()

    # ------------------------------------------------------------------ list of dicts

    def dicts(self, raws: Sequence[object], offset: int) -> None:
        program = self.program
        if program is None:
            for raw in raws:
                self.rows.append(("r", -1, raw, _raw_id(raw)))
            return
        persons, slow, tables, owners = _persons_from_dicts(raws, self.plan)
        self._columnar(persons, slow, tables, owners, lambda i: raws[i], None)

    # ------------------------------------------------------------------ tables and files

    def tables(self, data: Any, items: Any, chunk_size: int) -> None:
        plan = self.plan
        list_names = [d.name for d in plan.checked.subject.inputs if isinstance(d.type, nodes.ListType)]
        if items is not None and not isinstance(items, Mapping):
            if len(list_names) != 1:
                raise ValueError("give items as {list_name: table} when the rule set has several lists")
            items = {list_names[0]: items}
        item_sources: Mapping[str, Any] = items or {}
        persons_table = _read_table(Path(data)) if isinstance(data, (str, Path)) else _to_arrow(data)
        size = persons_table.num_rows
        cols = {name: persons_table.column(name) for name in persons_table.column_names}
        if "id" not in cols:
            raise DiagnosticError([Diagnostic("KR509", "the records table has no `id` column", where="records")])
        ids = [str(x) if x is not None else "" for x in cols["id"].to_pylist()]
        meta: dict[str, list[Any]] = {"id": ids}
        for key in ("name", "period"):
            meta[key] = cols[key].to_pylist() if key in cols else [None] * size
        slow = np.zeros(size, dtype=np.bool_)
        for i, x in enumerate(cols["id"].to_pylist()):
            if not isinstance(x, (str, int)) or isinstance(x, bool):
                slow[i] = True
        for key in ("on", "override"):
            if key in cols:
                slow |= ~np.asarray(cols[key].is_null().to_numpy(zero_copy_only=False), dtype=np.bool_)
        allowed = {d.name for d in plan.checked.subject.inputs} | set(_RECORD_KEYS)
        unknown = [c for c in cols if c not in allowed]
        persons = _Table(size, {**{n: cols[n] for n in cols if n not in meta}, **meta})

        def raw_of(i: int) -> dict[str, Any]:
            return self._raw_row(persons_table, i, item_sources, ids[i])

        if unknown or self.program is None:
            for i in range(size):
                self.rows.append(("r", -1, raw_of(i), ids[i]))
            return
        row_of = {rid: i for i, rid in reversed(list(enumerate(ids)))}
        tables: dict[str, _Table] = {}
        owners: dict[str, np.ndarray[Any, Any]] = {}
        chunked = all(isinstance(src, (str, Path)) for src in item_sources.values()) and \
            not self.program.in_place
        if chunked:
            self._chunked(persons, slow, item_sources, row_of, chunk_size, raw_of)
            return
        for list_name, src in item_sources.items():
            table = _read_table(Path(src)) if isinstance(src, (str, Path)) else _to_arrow(src)
            owner = self._owners(table.column("id").to_pylist(), row_of, list_name)
            keep = owner >= 0
            tables[list_name] = _Table(int(keep.sum()), {n: table.column(n).filter(_pa_mask(keep))
                                                         for n in table.column_names if n != "id"})
            owners[list_name] = owner[keep]
        self._columnar(persons, slow, tables, owners, raw_of, None)

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

        list_decl = self.plan.inputs[list_name].type
        assert isinstance(list_decl, nodes.ListType)
        fields = {d.name: d for d in self.plan.checked.records[list_decl.item].inputs}

        found: list[dict[str, Any]] = []
        for batch in _iter_table(src, 1 << 20):
            ids = batch.column(batch.schema.get_field_index("id"))
            picked = batch.filter(pc.equal(pc.cast(ids, "string"), rid))
            for item in picked.to_pylist():
                item.pop("id", None)
                found.append({k: _typed(fields.get(k), v) for k, v in item.items() if v is not None})
        return found

    def _chunked(self, persons: _Table, slow: np.ndarray[Any, Any], item_sources: Mapping[str, Any],
                 row_of: Mapping[str, int], chunk_size: int, raw_of: Any) -> None:
        """Persons in memory, items streamed: pre-reduced aggregates fold chunk by chunk."""
        program = self.program
        assert program is not None
        import pyarrow.compute as pc

        conv = _Conv(persons.size)
        columns = self._scalar_columns(conv, persons)
        slow |= conv.slow
        partials = program.new_partials(persons.size)
        position: dict[str, int] = {}
        record_name = {d.name: d.type.item for d in self.plan.checked.subject.inputs
                       if isinstance(d.type, nodes.ListType)}
        for list_name, src in item_sources.items():
            decls = self.plan.checked.records[record_name[list_name]].inputs
            for batch in _iter_table(src, chunk_size):
                ids = pc.cast(batch.column(batch.schema.get_field_index("id")), "string").to_pylist()
                owner = self._owners(ids, row_of, list_name)
                keep = owner >= 0
                names = batch.schema.names
                unknown = [n for n in names if n != "id" and n not in {d.name for d in decls}]
                if unknown:
                    slow[owner[keep]] = True
                sub = batch.filter(_pa_mask(keep))
                owner = owner[keep]
                iconv = _Conv(len(owner))
                fields = {d.name: iconv.column(d, sub.column(names.index(d.name)) if d.name in names
                                               else [_MISSING] * len(owner)) for d in decls}
                slow[owner[iconv.slow]] = True
                start = position.get(list_name, 0)
                table = ItemTable(owner, fields, len(owner), start)
                position[list_name] = start + len(owner)
                try:
                    program.reduce_items(columns, list_name, table, partials)
                except Unsupported:
                    self.program = None
                    for i in range(persons.size):
                        self.rows.append(("r", -1, raw_of(i), persons.columns["id"][i]))
                    return
        self._finish_columns(columns, persons, slow, partials, raw_of)

    # ------------------------------------------------------------------ shared

    def _scalar_columns(self, conv: _Conv, persons: _Table) -> Columns:
        scalars: dict[str, CValue] = {}
        for decl in self.plan.checked.subject.inputs:
            if isinstance(decl.type, nodes.ListType):
                continue
            values = persons.columns.get(decl.name)
            if values is None:
                values = [_MISSING] * persons.size
            scalars[decl.name] = conv.column(decl, values)
        return Columns(persons.size, scalars)

    def _columnar(self, persons: _Table, slow: np.ndarray[Any, Any], tables: Mapping[str, _Table],
                  owners: Mapping[str, np.ndarray[Any, Any]], raw_of: Any, _unused: None) -> None:
        program = self.program
        assert program is not None
        conv = _Conv(persons.size)
        columns = self._scalar_columns(conv, persons)
        slow |= conv.slow
        record_name = {d.name: d.type.item for d in self.plan.checked.subject.inputs
                       if isinstance(d.type, nodes.ListType)}
        for list_name, table in tables.items():
            decls = self.plan.checked.records[record_name[list_name]].inputs
            iconv = _Conv(table.size)
            owner = owners[list_name]
            fields = {d.name: iconv.column(d, table.columns.get(d.name, [_MISSING] * table.size)) for d in decls}
            slow[owner[iconv.slow]] = True
            columns.lists[list_name] = ItemTable(owner, fields, table.size)
        self._finish_columns(columns, persons, slow, None, raw_of)

    def _finish_columns(self, columns: Columns, persons: _Table, slow: np.ndarray[Any, Any],
                        partials: Any, raw_of: Any) -> None:
        program = self.program
        assert program is not None
        try:
            run = program.run(columns, partials, trace=self.explain)
        except Unsupported:
            for i in range(persons.size):
                self.rows.append(("r", -1, raw_of(i), str(persons.columns["id"][i])))
            return
        ids = [str(x) for x in persons.columns["id"]]
        chunk = _Chunk(run, columns, ids, list(persons.columns["name"]), list(persons.columns["period"]))
        index = len(self.chunks)
        self.chunks.append(chunk)
        undecided = slow | run.bad
        for i, is_slow in enumerate(slow.tolist()):
            if is_slow:
                self.rows.append(("r", -1, raw_of(i), ids[i]))
            elif undecided[i]:
                self.rows.append(("b", index, raw_of(i), ids[i]))
            else:
                self.rows.append(("c", index, i, ids[i]))

    # ------------------------------------------------------------------ the outcome

    def finish(self) -> BatchResult:
        plan = self.plan
        rejected: list[Diagnostic] = []
        rejected_ids: list[str] = []
        accepted: list[tuple[str, int, Any, SubjectRecord | None]] = []
        seen: set[str] = set()
        for position, (kind, chunk, item, rid) in enumerate(self.rows, start=1):
            record: SubjectRecord | None = None
            if kind in ("r", "b"):
                try:
                    record = item if isinstance(item, SubjectRecord) else coerce_record(
                        item if isinstance(item, Mapping) else {}, plan.checked)
                except DiagnosticError as error:
                    rejected.extend(error.diagnostics)
                    raw_id = item.get("id") if isinstance(item, Mapping) else None
                    rejected_ids.append(str(raw_id) if isinstance(raw_id, (str, int)) else f"#{position}")
                    continue
                rid = record.id
            if rid in seen:
                rejected.append(Diagnostic("KR508", f"record id `{rid}` appears more than once",
                                           where=f"record {rid}", hint="each record needs its own id"))
                rejected_ids.append(rid)
                continue
            seen.add(rid)
            accepted.append((kind, chunk, item, record))
        for diagnostic, rid in self.extra_rejected:
            rejected.append(diagnostic)
            rejected_ids.append(rid)
        order: list[tuple[int, Any]] = []
        records: dict[int, SubjectRecord] = {}
        fallback = 0
        for kind, chunk, item, record in accepted:
            if kind == "c":
                order.append((chunk, item))
                continue
            assert record is not None
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
            records[len(order)] = record
            order.append((-1, result))
        return BatchResult(plan, tuple(rejected), tuple(rejected_ids), order, self.chunks, records,
                           self.explain, self.lang, len(order) - len(records), fallback)


_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _typed(decl: nodes.InputDecl | None, value: Any) -> Any:
    """A value of a CSV cell (text) as the record checks expect it: numbers exact, booleans."""
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


def _pa_mask(keep: np.ndarray[Any, Any]) -> Any:
    import pyarrow as pa

    return pa.array(keep)


def iter_records(outcome: BatchResult) -> Iterable[Result]:
    """The results of a batch one at a time."""
    return iter(outcome.results)
