"""Columnar province data in: a directory of tables → :class:`ProvinceTables`.

The JSON/YAML province file of :mod:`kpi_rules.org` holds every task item inside its record;
that is fine for a few thousand records and hopeless for twenty million items. The columnar
form (``docs/performance.md``, "Province at scale") is a directory of four tables, each a
Parquet (``.parquet``), Arrow IPC (``.arrow``, ``.feather``) or CSV (``.csv``) file::

    units.parquet    id, name, parent, kind, <other unit attributes>
    people.parquet   id, name, unit, role, field, fields, task_group, <other person attributes>
    records.parquet  subject, period, [name, on, override], <one column per input>
    items.parquet    subject, period, <one column per task-item field>

plus an optional ``province.yaml`` manifest (``province: {id, name}`` and, per table, another
file name, e.g. ``items: tasks-2026.parquet``). A deputy's ``fields`` is a list column, or text
separated by ``;`` in CSV. A null cell is an absent value. ``override`` is the JSON text of the
override object. A record's list input (``tasks``) holds the items naming its subject and period,
in file order.

Units, people and records are read whole (their size is that of the organisation); task items
are never read here: :mod:`kpi_rules.province_batch` streams them in chunks.

Problems of the tree are those of :func:`kpi_rules.org.province_from_data` (KR701-KR710, all
reported together); problems of the tables themselves are KR730-KR734. A record naming an
unknown subject (KR708), with a bad period or a second record for a subject and period (KR709)
is rejected alone, as in the JSON form.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from kpi_rules.diagnostics import Diagnostic, DiagnosticError
from kpi_rules.org import _PERIOD, Province, Rejection, province_from_data
from kpi_rules.safe_yaml import SafeYamlError, load_safe_yaml
from kpi_rules.tree_columns import tree_from_tables

__all__ = [
    "ITEM_KEYS",
    "RECORD_KEYS",
    "ProvinceTables",
    "collector_paused",
    "is_province_tables",
    "iter_item_batches",
    "load_province_tables",
    "write_province_tables",
]

TABLES = ("units", "people", "records", "items")
SUFFIXES = (".parquet", ".arrow", ".feather", ".csv")
MANIFEST = "province.yaml"
#: Columns of ``records`` that are not inputs.
RECORD_KEYS = ("subject", "period", "name", "on", "override")
#: Columns of ``items`` that name the record.
ITEM_KEYS = ("subject", "period")
_REQUIRED = {"units": ("id",), "people": ("id", "unit", "role"), "records": ("subject", "period"),
             "items": ("subject", "period")}


@dataclass(frozen=True)
class ProvinceTables:
    """The organisation (units and people, no records), the records as a table, and where the items are."""

    #: Units and people, checked like the JSON form (``records`` is empty).
    province: Province
    #: One row per accepted record (a ``pyarrow.Table``): ``subject``, ``period``, the other
    #: columns of :data:`RECORD_KEYS` present, and one column per input.
    records: Any
    #: The task items file (streamed in chunks), or None when there is none.
    items: Path | None
    #: Records not rated (unknown subject, bad period, duplicate), naming subject and period.
    rejected: tuple[Rejection, ...]
    source: str

    def periods(self) -> tuple[str, ...]:
        """The periods of the accepted records, in order."""
        import pyarrow.compute as pc

        return tuple(sorted(str(p) for p in pc.unique(self.records.column("period")).to_pylist()))

    def input_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.records.column_names if c not in RECORD_KEYS)


def is_province_tables(path: str | Path) -> bool:
    """Whether ``path`` is a directory in the columnar province form (a file is the JSON/YAML form,
    even one named ``province.yaml``)."""
    p = Path(path)
    return p.is_dir() and ((p / MANIFEST).is_file() or _find(p, "records") is not None)


def _find(directory: Path, table: str) -> Path | None:
    for suffix in SUFFIXES:
        candidate = directory / f"{table}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _fail(code: str, message: str, where: str, hint: str | None = None) -> DiagnosticError:
    return DiagnosticError([Diagnostic(code, message, where=where, hint=hint)])


def _manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = load_safe_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SafeYamlError) as error:
        raise _fail("KR734", f"cannot read the manifest: {error}", str(path)) from None
    allowed = {"province", *TABLES}
    if not isinstance(data, Mapping) or not set(data) <= allowed:
        raise _fail("KR734", "the manifest is not a mapping of `province` and table file names", str(path),
                    hint="write e.g. `province: {id: gl, name: Gia Lai}` and `items: items-2026.parquet`")
    header = data.get("province", {})
    if not isinstance(header, Mapping) or not isinstance(header.get("id", ""), str):
        raise _fail("KR734", "`province` must be a mapping with a text `id`", str(path))
    for table in TABLES:
        if table in data and not isinstance(data[table], str):
            raise _fail("KR734", f"`{table}` must be a file name", str(path))
    return dict(data)


def _table_path(directory: Path, manifest: Mapping[str, Any], table: str, required: bool) -> Path | None:
    named = manifest.get(table)
    if isinstance(named, str):
        path = (directory / named).resolve()
        if not path.is_file():
            raise _fail("KR730", f"the {table} table `{named}` does not exist", str(directory / MANIFEST))
        if path.suffix.lower() not in SUFFIXES:
            raise _fail("KR730", f"unknown table file type `{path.suffix}`", str(path),
                        hint="tables are .parquet, .arrow, .feather or .csv files")
        return path
    found = _find(directory, table)
    if found is None and required:
        raise _fail("KR730", f"no {table} table in the directory", str(directory),
                    hint=f"write `{table}.parquet` (or .arrow, .feather, .csv)")
    return found


def read_table(path: Path, *, text: Sequence[str] = ()) -> Any:
    """A whole table file as a ``pyarrow.Table`` (KR730 when unreadable). In CSV files the
    columns named in ``text`` are read as text, the others typed by pyarrow."""
    import pyarrow as pa

    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            # One file: ParquetFile reads it as read_table does, without importing pyarrow.dataset
            # (half a second of every run).
            with pq.ParquetFile(path) as source:
                return source.read()
        if suffix in (".arrow", ".feather"):
            import pyarrow.feather as feather

            return feather.read_table(path)
        if suffix == ".csv":
            import pyarrow.csv as pcsv

            convert = pcsv.ConvertOptions(column_types={n: pa.string() for n in text}, strings_can_be_null=True)
            return pcsv.read_csv(path, convert_options=convert)
    except (OSError, pa.ArrowException) as error:
        raise _fail("KR730", f"cannot read the table: {error}", str(path)) from None
    raise _fail("KR730", f"unknown table file type `{suffix}`", str(path),
                hint="tables are .parquet, .arrow, .feather or .csv files")


def iter_item_batches(path: Path, chunk_size: int) -> Iterator[Any]:
    """Record batches of the items file, ``chunk_size`` rows at a time (bounded memory).

    CSV items are read as text (numbers are then read exactly from their decimal text)."""
    import pyarrow as pa

    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            # subject and period repeat: read them dictionary-encoded (matched once per distinct value)
            source = pq.ParquetFile(path)
            names = source.schema_arrow.names
            source = pq.ParquetFile(path, read_dictionary=[c for c in ITEM_KEYS if c in names])
            yield from source.iter_batches(batch_size=chunk_size)
        elif suffix in (".arrow", ".feather"):
            import pyarrow.ipc as ipc

            with pa.memory_map(str(path)) as source:
                reader = ipc.open_file(source)
                for k in range(reader.num_record_batches):
                    batch = reader.get_batch(k)
                    for start in range(0, batch.num_rows, chunk_size):
                        yield batch.slice(start, chunk_size)
        elif suffix == ".csv":
            import pyarrow.csv as pcsv

            names = pcsv.open_csv(path).schema.names
            convert = pcsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True)
            read = pcsv.ReadOptions(block_size=max(1 << 16, chunk_size * 48))
            with pcsv.open_csv(path, read_options=read, convert_options=convert) as reader:
                yield from reader
        else:
            raise _fail("KR730", f"unknown table file type `{suffix}`", str(path))
    except (OSError, pa.ArrowException) as error:
        raise _fail("KR730", f"cannot read the items: {error}", str(path)) from None


def _need_columns(table: Any, name: str, path: Path) -> None:
    missing = [c for c in _REQUIRED[name] if c not in table.column_names]
    if missing:
        raise _fail("KR731", f"the {name} table has no column {', '.join(f'`{c}`' for c in missing)}", str(path),
                    hint=f"the {name} table needs the columns {', '.join(_REQUIRED[name])}")


def _rows(table: Any, name: str, path: Path) -> list[dict[str, Any]]:
    """Rows as dicts without null cells; an id cell that is not text is KR732 (naming the row)."""
    rows = table.to_pylist()
    problems: list[Diagnostic] = []
    out: list[dict[str, Any]] = []
    for index, row in enumerate(rows, start=1):
        clean = {k: _plain(v) for k, v in row.items() if v is not None and not _nan(v)}
        rid = clean.get("id")
        if not isinstance(rid, str) or not rid:
            problems.append(Diagnostic("KR732", f"row {index} of the {name} table has no text `id`",
                                       where=f"{path}, row {index}", hint="every unit and person needs a text id"))
            continue
        fields = clean.get("fields")
        if name == "people" and isinstance(fields, str):
            clean["fields"] = [f for f in fields.split(";") if f]
        out.append(clean)
    if problems:
        raise DiagnosticError(problems)
    return out


def _nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _plain(value: object) -> object:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a province is read or rated.

    A province run allocates millions of long-lived objects (period results, decisions, years)
    and few reference cycles; with the collector on, each of its full passes walks every live
    object, which took about a third of a 30,000-person run (docs/performance.md, "Province at
    scale"). Objects are still freed by reference counting; the collector is restored (if it was
    on) when the block ends, so nested uses are harmless."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def load_province_tables(path: str | Path) -> ProvinceTables:
    """Read and check the columnar form of a province (a directory of tables).

    Raises:
        DiagnosticError: KR730 a missing or unreadable table, KR731 a missing column, KR732 a row
            without an id, KR734 a bad manifest, and the tree problems of the JSON form
            (KR701-KR710), all reported together. Problems of single records (KR708, KR709) are
            kept in :attr:`ProvinceTables.rejected` instead.
    """
    with collector_paused():
        return _load_province_tables(path)


def _load_province_tables(path: str | Path) -> ProvinceTables:
    import pyarrow as pa

    directory = Path(path)
    if not directory.is_dir():
        raise _fail("KR730", "not a directory of province tables", str(path),
                    hint="give the directory that holds units, people, records and items tables")
    manifest = _manifest(directory)
    header = dict(manifest.get("province") or {})
    paths = {t: _table_path(directory, manifest, t, t != "items") for t in TABLES}
    units_path, people_path, records_path = paths["units"], paths["people"], paths["records"]
    assert units_path is not None and people_path is not None and records_path is not None
    units = read_table(units_path, text=("id", "name", "parent", "kind"))
    people = read_table(people_path, text=("id", "name", "unit", "role", "field", "fields", "task_group"))
    _need_columns(units, "units", units_path)
    _need_columns(people, "people", people_path)
    province_id, province_name = header.get("id") or directory.name, header.get("name")
    province = tree_from_tables(units, people, province_id, province_name, str(directory))
    if province is None:  # something to report: the checks of the JSON form, row by row
        data = {"province": {"id": province_id, "name": province_name},
                "units": _rows(units, "units", units_path), "people": _rows(people, "people", people_path),
                "records": []}
        province = province_from_data(data, str(directory))
    records = read_table(records_path, text=("subject", "period", "name", "on", "override"))
    _need_columns(records, "records", records_path)
    for column in ("subject", "period", "name", "on", "override"):
        if column in records.column_names and not pa.types.is_string(records.schema.field(column).type):
            raise _fail("KR731", f"the column `{column}` of the records table is not text", str(records_path))
    records, rejected = _check_records(records, province, records_path)
    items = paths["items"]
    if items is not None:
        import pyarrow.parquet as pq

        if items.suffix.lower() == ".parquet":
            try:
                names = pq.ParquetFile(items).schema_arrow.names
            except (OSError, pa.ArrowException) as error:
                raise _fail("KR730", f"cannot read the items: {error}", str(items)) from None
            missing = [c for c in ITEM_KEYS if c not in names]
            if missing:
                raise _fail("KR731", f"the items table has no column {', '.join(f'`{c}`' for c in missing)}",
                            str(items), hint="each item names its record by `subject` and `period`")
    return ProvinceTables(province, records, items, rejected, str(directory))


def _check_records(records: Any, province: Province, where: Path) -> tuple[Any, tuple[Rejection, ...]]:
    """Accepted records, and one rejection per record with an unknown subject, a bad period, or
    a second record for the same subject and period (KR708, KR709: the codes of the JSON form).

    The checks run over the columns (each distinct subject and period looked up once); only the
    rows with a problem are read one by one, in order, for their diagnostics."""
    import numpy as np
    import pyarrow as pa

    size = records.num_rows
    subject_codes, subject_values = _encoded(records.column("subject"))
    period_codes, period_values = _encoded(records.column("period"))
    # per distinct value, and a last False for null (code -1)
    known = np.fromiter((*(v in province.units or v in province.people for v in subject_values), False), np.bool_,
                        len(subject_values) + 1)
    well = np.fromiter((*(_PERIOD.match(v) is not None for v in period_values), False), np.bool_,
                       len(period_values) + 1)
    valid = known[subject_codes] & well[period_codes]
    # a second record: a valid row whose (subject, period) an earlier valid row has
    rows = np.flatnonzero(valid)
    pair = subject_codes[rows] * max(1, len(period_values)) + period_codes[rows]
    _, first = np.unique(pair, return_index=True)
    keep = np.zeros(size, dtype=np.bool_)
    keep[rows[first]] = True
    if keep.all():
        return records, ()
    rejected: list[Rejection] = []
    subjects = records.column("subject")
    periods = records.column("period")
    for i in np.flatnonzero(~keep).tolist():
        subject, period = subjects[i].as_py(), periods[i].as_py()
        here = f"record {subject if subject is not None else f'#{i + 1}'}" + (f" ({period})" if period else "")
        if subject is None or period is None:
            problem = Diagnostic("KR709", "a record needs a `subject` and a `period`", where=here,
                                 hint=f"fill row {i + 1} of {where.name}")
        elif not valid[i] and subject not in province.units and subject not in province.people:
            problem = Diagnostic("KR708", f"`{subject}` is neither a unit nor a person of the province", where=here,
                                 hint="records name a unit or a person by id")
        elif not valid[i]:
            problem = Diagnostic("KR709", f"`{period}` is not a period", where=here,
                                 hint="write 2026-01 (month), 2026-Q1 (quarter), 2026-H1 (half-year) or 2026 (year)")
        else:
            problem = Diagnostic("KR709", f"`{subject}` has two records for {period}", where=here,
                                 hint="keep one record per subject and period")
        rejected.append(Rejection(subject if subject is not None else f"#{i + 1}", period, (problem,)))
    return records.filter(pa.array(keep)), tuple(rejected)


def _encoded(column: Any) -> tuple[Any, list[Any]]:
    """Codes of a text column (-1 for null) and its distinct values."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    encoded = array if pa.types.is_dictionary(array.type) else pc.dictionary_encode(array)
    indices = encoded.indices
    codes = np.asarray((indices.fill_null(-1) if indices.null_count else indices).to_numpy(zero_copy_only=False),
                       dtype=np.int64)
    return codes, pc.cast(encoded.dictionary, pa.string()).to_pylist()


# --------------------------------------------------------------------------- writing (JSON form → tables)


def write_province_tables(data: Mapping[str, Any], out: str | Path, fmt: str = "parquet") -> Path:
    """Write province data in the JSON form (``units``, ``people``, ``records`` with inputs and task
    items inline) as the columnar form in the directory ``out``; returns ``out``.

    Numbers are written as float64 columns (exact for decimals of up to 15 digits), other inputs
    as their Arrow type. ``fmt`` is ``parquet`` or ``csv``.
    """
    import pyarrow as pa

    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    header = data.get("province") or {}
    (target / MANIFEST).write_text(json.dumps({"province": dict(header)}, ensure_ascii=False) + "\n",
                                   encoding="utf-8")
    units = [dict(u) for u in data.get("units", [])]
    people = [dict(p) for p in data.get("people", [])]
    if fmt == "csv":
        for p in people:
            if isinstance(p.get("fields"), list):
                p["fields"] = ";".join(p["fields"])
    records: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    for raw in data.get("records", []):
        row: dict[str, Any] = {k: raw.get(k) for k in ("subject", "period", "name", "on")}
        if raw.get("override") is not None:
            row["override"] = json.dumps(_jsonable(raw["override"]), ensure_ascii=False)
        for key, value in dict(raw.get("inputs") or {}).items():
            if isinstance(value, list):
                for item in value:
                    items.append({"subject": raw.get("subject"), "period": raw.get("period"),
                                  **{k: _number(v) for k, v in dict(item).items()}})
            else:
                row[key] = _number(value)
        records.append(row)
    tables = {"units": units, "people": people, "records": records, "items": items}
    for name, rows in tables.items():
        table = _table_of(rows, pa)
        _write(table, target / f"{name}.{fmt}", fmt)
    return target


def _jsonable(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _number(value: object) -> object:
    """JSON decimals as floats (exact again through their shortest repr); the rest as it is."""
    if isinstance(value, Decimal):
        return float(value)
    return value


def _table_of(rows: Sequence[Mapping[str, Any]], pa: Any) -> Any:
    columns: dict[str, list[Any]] = {}
    for row in rows:
        for key in row:
            columns.setdefault(key, [])
    for key, values in columns.items():
        values.extend(row.get(key) for row in rows)
    arrays = {}
    for key, values in columns.items():
        if all(v is None for v in values):
            arrays[key] = pa.array(values, type=pa.string())
        else:
            arrays[key] = pa.array([_number(v) for v in values])
    return pa.table(arrays) if arrays else pa.table({"subject": pa.array([], pa.string()),
                                                     "period": pa.array([], pa.string())})


def _write(table: Any, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    elif fmt == "csv":
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, path)
    else:
        raise ValueError(f"unknown table format {fmt!r}")

