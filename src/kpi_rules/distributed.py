"""Beyond one machine: the batch API and the province driver under Dask.

Input: a rule set (or a bundle) and data too large for one process (a Dask DataFrame, Parquet or
CSV paths, record dicts, a province). Output: exactly what the single-machine run gives
(:func:`kpi_rules.batch.evaluate_batch`, :func:`kpi_rules.province.evaluate_province`).

Two rules make the distributed run equal to the single-machine one:

* **Rule files travel as text, never as pickled plans.** A :class:`~kpi_rules.plan.Plan` pickles,
  but its side tables (``Plan.enum_orders``, ``CheckedRuleset.expr_types``) are keyed by
  ``id(node)``, and object ids do not survive a trip to another process. So the driver ships
  every file behind the rules (the ``extends`` chain, a bound catalogue) as
  ``(path, text)`` with the content hash (:class:`PlanSource`); each worker process compiles
  them once, checks that its own hash equals the driver's (KR721 otherwise) and keeps the plan
  for the next partitions. Paths stay the driver's, so diagnostics and provenance are the same.
* **Everything that compares people across partitions runs afterwards, on the driver.** A batch
  is partitioned by record id (every occurrence of an id and all its task items land in one
  partition, in their input order), so duplicate ids (KR508) and orphan items (KR509) are found
  exactly as on one machine. A province is partitioned by unit subtree: every relation of the
  organisation model (``unit``, ``children``, ``staff``, ``head``, ``parent``, ``supervised``)
  stays inside the subtree of a root unit, so a subtree is rated exactly as in the whole
  province; only the excellent quota (a cohort group may span subtrees, e.g. a ``task_group``)
  is resolved after the year results are gathered (:func:`kpi_rules.province.rank_years`).

Dask is optional (``pip install "kpi-rules[dask]"``): it is imported when a function here is
called, and its absence is a KR720 diagnostic. See ``docs/distributed.md`` for a real cluster.
"""

from __future__ import annotations

import dataclasses
import io
import pickle
import re
import threading
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType
from typing import Any

from kpi_rules import nodes
from kpi_rules.batch import DEFAULT_CHUNK
from kpi_rules.bundle import Bundle, RoleRead, RoleRules, load_bundle
from kpi_rules.catalogue import Catalogue, bind_catalogue, parse_catalogue
from kpi_rules.compiler import compile_ruleset
from kpi_rules.diagnostics import Diagnostic, DiagnosticError
from kpi_rules.engine import RuleSet, load
from kpi_rules.loader import content_hash, parse_source, read_source
from kpi_rules.merge import merge_rulesets
from kpi_rules.org import OrgSettings, Province, Rejection, load_province, province_from_data
from kpi_rules.plan import Plan
from kpi_rules.province import ProvinceResult, dependency_order, evaluate_province, rank_years
from kpi_rules.results import Result
from kpi_rules.source import SourceFile
from kpi_rules.validator import check_ruleset

__all__ = [
    "BundleSource",
    "DaskBatchResult",
    "PlanSource",
    "evaluate_batch_dask",
    "evaluate_province_dask",
    "subtree_partitions",
]

#: Hidden columns: the input position of a row, and the partition its record id hashes to.
ROW = "__kpi_row__"
PART = "__kpi_part__"
#: The columns of :attr:`DaskBatchResult.frame` (``total``: exact, as ``"numerator/denominator"``).
FRAME_COLUMNS = ("id", "name", "period", "status", "level", "total", "content_hash")
_CATALOGUE_KEY = re.compile(r"^catalogue[ \t]*:", re.MULTILINE)
_RULESET_KEY = re.compile(r"^(?:ruleset[ \t]*:|[ \t]*ruleset[ \t]+[a-z_])", re.MULTILINE)


def _require_dask() -> Any:
    """The ``dask`` module, or KR720 when dask (with its DataFrame and distributed parts) is absent."""
    try:
        import dask
        import dask.dataframe  # noqa: F401  (the DataFrame part is an extra of dask)
    except ImportError as error:
        raise DiagnosticError([Diagnostic(
            "KR720", f"the distributed run needs dask, which cannot be imported ({error})",
            where="kpi_rules.distributed",
            hint='install it with `pip install "kpi-rules[dask]"` (on the driver and on every worker)')]) from None
    return dask


# --------------------------------------------------------------------------- rules shipped as text


@dataclass(frozen=True, slots=True)
class PlanSource:
    """A rule set as it travels to the workers: the text of every file behind it, and its hash.

    ``files`` are ``(path, text)`` in the order of the plan's provenance (the rule file, then its
    ``extends`` parents, then the bound catalogue when ``has_catalogue``). ``check_products``:
    records are checked against the catalogue (what ``RuleSet.evaluate_batch`` does when the rule
    set was loaded with one).
    """

    files: tuple[tuple[str, str], ...]
    content_hash: str
    ruleset_id: str
    has_catalogue: bool = False
    check_products: bool = False

    @classmethod
    def of(cls, rules: RuleSet | Plan | str | Path | PlanSource, *, catalogue: str | Path | None = None,
           search_path: Sequence[str | Path] = ()) -> PlanSource:
        """The shippable form of a loaded rule set (or of a rule file, loaded here first).

        The files are read again from the paths the plan names, and their hash must be the one
        the plan was compiled with (KR721 when a file changed since it was loaded).
        """
        if isinstance(rules, PlanSource):
            return rules
        if isinstance(rules, (str, Path)):
            rules = load(rules, catalogue=catalogue, search_path=search_path)
        plan = rules.plan if isinstance(rules, RuleSet) else rules
        files: list[SourceFile] = []
        for entry in plan.provenance.sources:
            path, _, _ = entry.rpartition(" sha256:")
            files.append(read_source(path))
        if not files or content_hash(files) != plan.provenance.content_hash:
            raise DiagnosticError([Diagnostic(
                "KR721", f"the files behind `{plan.provenance.ruleset_id}` changed since it was loaded "
                "(or are not readable from here): their hash is not "
                f"{plan.provenance.content_hash}", where=", ".join(plan.provenance.sources) or "<rules>",
                hint="load the rule set again and start the run from the directory it was loaded from")])
        if isinstance(rules, RuleSet):
            has_catalogue = rules.catalogue is not None
        else:
            last = files[-1].text
            has_catalogue = len(files) > 1 and bool(_CATALOGUE_KEY.search(last)) and not _RULESET_KEY.search(last)
        return cls(tuple((f.path, f.text) for f in files), plan.provenance.content_hash,
                   plan.provenance.ruleset_id, has_catalogue,
                   isinstance(rules, RuleSet) and rules.catalogue is not None)

    def load(self) -> RuleSet:
        """The compiled rule set, compiled once per process and kept.

        Keyed by the content hash *and* the paths: the hash covers the texts only, while the
        provenance (and every diagnostic's span) names the paths, which must stay the driver's.
        """
        key = (self.content_hash, tuple(p for p, _ in self.files), self.has_catalogue, self.check_products)
        with _LOCK:
            found = _COMPILED.get(key)
        if found is None:
            found = self._compile()
            with _LOCK:
                _COMPILED[key] = found
        return found

    def _compile(self) -> RuleSet:
        """What :func:`kpi_rules.loader.compile_source` does, from the shipped texts (no disk)."""
        sources = [SourceFile(path, text) for path, text in self.files]
        got = content_hash(sources)
        if got != self.content_hash:
            raise DiagnosticError([Diagnostic(
                "KR721", f"the rule files received for `{self.ruleset_id}` hash to {got}, not to the "
                f"driver's {self.content_hash}", where=", ".join(p for p, _ in self.files),
                hint="the files were altered on the way; run again")])
        chain = sources[:-1] if self.has_catalogue else sources
        rulesets = [parse_source(s) for s in chain]
        merged = rulesets[-1]
        for child in reversed(rulesets[:-1]):
            merged = merge_rulesets(merged, child)
        bound: Catalogue | None = None
        if self.has_catalogue:
            bound = parse_catalogue(sources[-1])
            merged = bind_catalogue(merged, bound)
        plan = compile_ruleset(check_ruleset(merged), content_hash=got)
        stamped = dataclasses.replace(plan.provenance,
                                      sources=tuple(f"{s.path} sha256:{s.sha256()}" for s in sources))
        return RuleSet(dataclasses.replace(plan, provenance=stamped), bound if self.check_products else None)


#: Compiled rule sets of this process (a worker compiles each rule set once).
_COMPILED: dict[tuple[str, tuple[str, ...], bool, bool], RuleSet] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class BundleSource:
    """A bundle as it travels to the workers: a :class:`PlanSource` per role and the settings."""

    id: str
    path: str
    roles: tuple[tuple[str, str, PlanSource], ...]
    settings: OrgSettings
    title: nodes.Text | None
    catalogue: str | None
    reads: tuple[RoleRead, ...]

    @classmethod
    def of(cls, bundle: Bundle) -> BundleSource:
        roles = tuple((role, str(rr.path), PlanSource.of(rr.rules)) for role, rr in bundle.roles.items())
        return cls(bundle.id, str(bundle.path), roles, bundle.settings, bundle.title, bundle.catalogue, bundle.reads)

    def load(self) -> Bundle:
        roles = {role: RoleRules(role, Path(path), source.load()) for role, path, source in self.roles}
        return Bundle(self.id, Path(self.path), MappingProxyType(roles), self.settings, self.title,
                      self.catalogue, self.reads)


# --------------------------------------------------------------------------- the batch


@dataclass(frozen=True)
class DaskBatchResult:
    """The outcome of :func:`evaluate_batch_dask`: one row per rated (or insufficient data)
    record, and the rejected records with their ids.

    ``frame`` is a pandas DataFrame with :data:`FRAME_COLUMNS`, in input order: ``status``
    (``rated`` or ``insufficient_data``), ``level`` (None when not rated), ``total`` as exact
    text ``"numerator/denominator"`` (None when not rated; never a float) and the content hash
    of the rules that rated the row. ``rejected`` holds every problem of the rejected records
    (each naming its record), ``rejected_ids`` one id per rejected record, partition by partition.
    """

    content_hash: str
    frame: Any
    rejected: tuple[Diagnostic, ...]
    rejected_ids: tuple[str, ...]
    partitions: int

    def totals(self) -> list[Fraction | None]:
        """The exact totals, in the order of :attr:`frame`."""
        return [None if t is None else Fraction(t) for t in self.frame["total"].tolist()]

    def levels(self) -> list[str | None]:
        return [None if v is None else str(v) for v in self.frame["level"].tolist()]


def _exact(total: Fraction | None) -> str | None:
    return None if total is None else f"{total.numerator}/{total.denominator}"


def _outcome_frame(results: Sequence[Result], rows: Sequence[int]) -> Any:
    import pandas as pd

    data: dict[str, list[object]] = {ROW: list(rows)}
    data["id"] = [r.subject_id for r in results]
    data["name"] = [r.subject_name for r in results]
    data["period"] = [r.period for r in results]
    data["status"] = [r.status for r in results]
    data["level"] = [r.level for r in results]
    data["total"] = [_exact(r.total) for r in results]
    data["content_hash"] = [r.provenance.content_hash for r in results]
    return pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in data.items()})


def _columns_frame(outcome: Any, people: Any, positions: Sequence[int], rules_hash: str) -> Any:
    """The outcome of a partition without a rejection: one result per row, in row order, read
    from the batch's columns (``totals()``, ``levels()``) without building ``Result`` objects."""
    import pandas as pd
    import pyarrow as pa

    size = len(people)
    totals = outcome.totals()

    def meta(name: str) -> list[object]:
        if name not in people.columns:
            return [None] * size
        # Read as the batch reads it (through Arrow), so a missing name is None, not NaN.
        values: list[object] = pa.Table.from_pandas(people[[name]], preserve_index=False).column(name).to_pylist()
        return values

    data: dict[str, list[object]] = {
        ROW: list(positions), "id": [str(x) for x in people["id"].tolist()], "name": meta("name"),
        "period": meta("period"), "status": ["insufficient_data" if t is None else "rated" for t in totals],
        "level": list(outcome.levels()), "total": [_exact(t) for t in totals], "content_hash": [rules_hash] * size}
    return pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in data.items()})


def _rows_of(results: Sequence[Result], ids: Sequence[str], positions: Sequence[int],
             has_result: Callable[[int], bool]) -> list[int]:
    """The input position of each result (results come in input order, one per accepted record).

    An id given once is its own row. Of an id given several times, the accepted occurrence is the
    first one the record checks let through (the later ones are KR508), i.e. the first that has a
    result when rated alone (``has_result``): tried only for repeated ids, which are rare.
    """
    occurrences: dict[str, list[int]] = {}
    for k, rid in enumerate(ids):
        occurrences.setdefault(rid, []).append(k)
    out: list[int] = []
    for result in results:
        found = occurrences.get(result.subject_id, [])
        if len(found) > 1:
            found = [next((k for k in found if has_result(k)), found[0])]
        out.append(positions[found[0]] if found else -1)
    return out


def _rate_frames(source: PlanSource, persons: Any, items: Mapping[str, Any], chunk_size: int
                 ) -> tuple[Any, tuple[Diagnostic, ...], tuple[str, ...]]:
    """On a worker: one partition of records (and of their items) → its outcome."""
    rules = source.load()
    persons = persons.sort_values(ROW, kind="stable")
    positions = [int(x) for x in persons[ROW].tolist()]
    people = persons.drop(columns=[ROW, PART]).reset_index(drop=True)
    ids = [str(x) for x in people["id"].tolist()]
    tables = {name: t.sort_values(ROW, kind="stable").drop(columns=[ROW, PART]).reset_index(drop=True)
              for name, t in items.items()}
    if len(people) == 0 and all(len(t) == 0 for t in tables.values()):
        return _outcome_frame((), ()), (), ()
    outcome = rules.evaluate_batch(people, items=tables or None, chunk_size=chunk_size)
    if not outcome.rejected_ids and len(outcome) == len(people):
        return _columns_frame(outcome, people, positions, source.content_hash), (), ()

    def has_result(k: int) -> bool:
        mine = {n: t[t["id"].astype(str) == ids[k]] for n, t in tables.items()}
        alone = rules.evaluate_batch(people.iloc[[k]].reset_index(drop=True), items=mine or None)
        return bool(alone.results)

    rows = _rows_of(outcome.results, ids, positions, has_result)
    return _outcome_frame(outcome.results, rows), outcome.rejected, outcome.rejected_ids


def _rate_dicts(source: PlanSource, raws: Sequence[tuple[int, object]], chunk_size: int
                ) -> tuple[Any, tuple[Diagnostic, ...], tuple[str, ...]]:
    """On a worker: one partition of record dicts → its outcome."""
    rules = source.load()
    records = [raw for _, raw in raws]
    ids = [str(raw.get("id")) if isinstance(raw, Mapping) else "" for raw in records]
    outcome = rules.evaluate_batch(records, chunk_size=chunk_size)
    rows = _rows_of(outcome.results, ids, [position for position, _ in raws],
                    lambda k: bool(rules.evaluate_batch([records[k]]).results))
    return _outcome_frame(outcome.results, rows), outcome.rejected, outcome.rejected_ids


def _partition_of(key: object, partitions: int) -> int:
    """A stable partition number for a record id (the same in every process, unlike ``hash``)."""
    return zlib.crc32(str(key).encode("utf-8")) % partitions


def _keyed(frame: Any, partitions: int) -> Any:
    """``frame`` with its input position and the partition of its record id as columns."""
    frame = frame.assign(**{ROW: 1})
    frame = frame.assign(**{ROW: frame[ROW].cumsum() - 1})

    def part(chunk: Any) -> Any:
        import pandas as pd

        return pd.Series([_partition_of(k, partitions) for k in chunk["id"].tolist()],
                         index=chunk.index, dtype="int64")

    return frame.assign(**{PART: frame.map_partitions(part, meta=(PART, "int64"))})


def _by_id(frame: Any, partitions: int) -> list[Any]:
    """The partitions of ``frame`` after moving every row to the partition of its record id.

    Records and items are moved the same way (a hash join's shuffle), so partition ``i`` of the
    items holds exactly the items of the records of partition ``i``.
    """
    keyed = _keyed(frame, partitions)
    moved = keyed.shuffle(on=PART, npartitions=partitions, shuffle_method="tasks")
    delayed: list[Any] = moved.to_delayed()
    return delayed


def _as_dask_frame(data: Any, what: str) -> Any:
    """A Dask DataFrame from a Dask or pandas DataFrame, or from Parquet/CSV path(s)."""
    import dask.dataframe

    dd: Any = dask.dataframe  # partly typed: calls are checked by the tests, not by mypy
    if isinstance(data, dd.DataFrame):
        return data
    module = type(data).__module__
    if module.startswith("pandas"):
        # Dask would turn object columns into text (a column of flags into "True"/"False").
        with dask.config.set({"dataframe.convert-string": False}):
            return dd.from_pandas(data, npartitions=1)
    paths = [data] if isinstance(data, (str, Path)) else list(data) if isinstance(data, (list, tuple)) else None
    if paths and all(isinstance(p, (str, Path)) for p in paths):
        texts = [str(p) for p in paths]
        suffixes = {Path(t.replace("*", "x")).suffix.lower() for t in texts}
        if suffixes == {".parquet"}:
            return dd.read_parquet(texts)
        if suffixes == {".csv"}:
            import pyarrow.csv as pcsv

            # The batch reads CSV cells as text, with pyarrow's null markers: the same here.
            nulls = list(pcsv.ConvertOptions().null_values)
            return dd.read_csv(texts, dtype=str, keep_default_na=False, na_values=nulls)
    raise DiagnosticError([Diagnostic(
        "KR722", f"cannot read the {what} from {type(data).__name__}", where=what,
        hint="give a Dask or pandas DataFrame, or the paths of .parquet or .csv files")])


def evaluate_batch_dask(
    rules: RuleSet | Plan | str | Path | PlanSource,
    data: Any,
    *,
    items: Any = None,
    client: Any = None,
    npartitions: int | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    catalogue: str | Path | None = None,
    search_path: Sequence[str | Path] = (),
) -> DaskBatchResult:
    """Rate many records on a Dask cluster, partition by partition, exactly as on one machine.

    Args:
        rules: a loaded rule set, a plan, or the path of a rule file (loaded on the driver, with
            ``catalogue`` and ``search_path``). It is shipped as text and compiled once per worker.
        data: a Dask or pandas DataFrame with one row per record (``id``, optionally ``name``
            and ``period``, the scalar inputs), the path(s) of Parquet or CSV files of such rows,
            or a list of record dicts (items inside each record).
        items: the task items (a DataFrame or path(s) with an ``id`` column naming the record),
            as ``{list_name: items}`` when the rule set has several list inputs.
        client: a ``distributed.Client``; None uses Dask's current scheduler.
        npartitions: how many partitions to rate (default: those of ``data``).
        chunk_size: passed to :func:`kpi_rules.batch.evaluate_batch` on each worker.

    Returns:
        A :class:`DaskBatchResult`. The rows, totals, levels, statuses, rejected diagnostics
        and rejected ids are those of ``evaluate_batch`` over the same data; only the order of
        the rejections differs (partition by partition).

    Raises:
        DiagnosticError: KR720 without dask, KR721 when the rule files changed, KR722 for data
            of a form that cannot be read.

    Example::

        from distributed import Client
        rules = kpi_rules.load("criteria/nd335/individual.kpi")
        outcome = evaluate_batch_dask(rules, "s3://bucket/persons/*.parquet",
                                      items="s3://bucket/tasks/*.parquet", client=Client(address))
        outcome.frame.to_parquet("ratings.parquet")
    """
    dask = _require_dask()
    source = PlanSource.of(rules, catalogue=catalogue, search_path=search_path)
    if isinstance(data, (list, tuple)) and (not data or not all(isinstance(p, (str, Path)) for p in data)):
        count = npartitions or 1
        buckets: list[list[tuple[int, object]]] = [[] for _ in range(count)]
        for position, raw in enumerate(data):
            rid = raw.get("id") if isinstance(raw, Mapping) else None
            buckets[_partition_of(rid, count)].append((position, raw))
        shipped = dask.delayed(source)
        tasks = [dask.delayed(_rate_dicts)(shipped, bucket, chunk_size) for bucket in buckets]
        return _gather(source, tasks, client, count)
    persons = _as_dask_frame(data, "records")
    tables = _item_frames(source.load().plan, items)
    count = npartitions or persons.npartitions
    person_parts = _by_id(persons, count)
    item_parts = {name: _by_id(table, count) for name, table in tables.items()}
    shipped = dask.delayed(source)
    tasks = [dask.delayed(_rate_frames)(shipped, person_parts[i], {n: p[i] for n, p in item_parts.items()},
                                        chunk_size) for i in range(count)]
    return _gather(source, tasks, client, count)


def _item_frames(plan: Plan, items: Any) -> dict[str, Any]:
    if items is None:
        return {}
    if not isinstance(items, Mapping):
        lists = [d.name for d in plan.checked.subject.inputs if isinstance(d.type, nodes.ListType)]
        if len(lists) != 1:
            raise DiagnosticError([Diagnostic(
                "KR722", f"the rule set has {len(lists)} list inputs: name the table of each", where="items",
                hint="give items as {list_name: table}")])
        items = {lists[0]: items}
    return {name: _as_dask_frame(table, f"items `{name}`") for name, table in items.items()}


def _compute(tasks: Sequence[Any], client: Any) -> list[Any]:
    dask = _require_dask()
    if client is not None:
        gathered: list[Any] = client.gather(client.compute(list(tasks)))
        return gathered
    return list(dask.compute(*tasks))


def _gather(source: PlanSource, tasks: Sequence[Any], client: Any, count: int) -> DaskBatchResult:
    import pandas as pd

    parts = _compute(tasks, client)
    frames = [frame for frame, _, _ in parts if len(frame)]
    frame = pd.concat(frames, ignore_index=True) if frames else _outcome_frame((), ())
    frame = frame.sort_values(ROW, kind="stable").drop(columns=[ROW]).reset_index(drop=True)
    rejected = tuple(d for _, diagnostics, _ in parts for d in diagnostics)
    rejected_ids = tuple(i for _, _, ids in parts for i in ids)
    return DaskBatchResult(source.content_hash, frame, rejected, rejected_ids, count)


# --------------------------------------------------------------------------- the province


def subtree_partitions(province: Province, partitions: int | None = None) -> list[tuple[str, ...]]:
    """The root units of the province grouped into partitions (each root with its whole subtree).

    ``None``: one partition per root unit (a department, a commune). A number: that many groups
    (at most one per root), balanced by the records of each subtree (largest first, each into the
    lightest group); roots keep the file order inside a group.
    """
    roots = [u.id for u in province.units.values() if u.parent is None]
    if partitions is None or partitions >= len(roots):
        return [(r,) for r in roots]
    if partitions < 1:
        raise ValueError("partitions must be at least 1")
    weight: dict[str, int] = {}
    unit_root = {u: r for r in roots for u in province.subtree(r)}
    for rec in province.records:
        person = province.people.get(rec.subject)
        unit = person.unit if person is not None else rec.subject
        root = unit_root[unit]
        weight[root] = weight.get(root, 0) + 1
    groups: list[list[str]] = [[] for _ in range(partitions)]
    loads = [0] * partitions
    for root in sorted(roots, key=lambda r: -weight.get(r, 0)):
        lightest = loads.index(min(loads))
        groups[lightest].append(root)
        loads[lightest] += weight.get(root, 0) + 1
    position = {r: i for i, r in enumerate(roots)}
    return [tuple(sorted(g, key=position.__getitem__)) for g in groups if g]


def _subprovince_data(province: Province, roots: Sequence[str]) -> dict[str, object]:
    """The province file's data restricted to the subtrees of ``roots`` (plain, picklable)."""
    units = {u for r in roots for u in province.subtree(r)}
    people = {p.id for p in province.people.values() if p.unit in units}
    return {
        "province": {"id": province.id, "name": province.name},
        "units": [{"id": u.id, "name": u.name, "parent": u.parent, "kind": u.kind, **u.attributes}
                  for u in province.units.values() if u.id in units],
        "people": [{"id": p.id, "name": p.name, "unit": p.unit, "role": p.role, "field": p.field,
                    "fields": list(p.fields) if p.fields else None, "task_group": p.task_group, **p.attributes}
                   for p in province.people.values() if p.id in people],
        "records": [_record_data(rec.raw) for rec in province.records if rec.subject in units | people],
    }


def _record_data(raw: Mapping[str, object]) -> dict[str, object]:
    out: dict[str, object] = {"subject": raw["id"], "period": raw["period"], "inputs": raw.get("inputs", {})}
    for key in ("name", "on", "override"):
        if raw.get(key) is not None:
            out[key] = raw[key]
    return out


class _Pickler(pickle.Pickler):
    """Pickles read-only mappings (``MappingProxyType``, which ``pickle`` refuses) as copies of
    their contents; used only for what a worker sends back, nothing is registered globally."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is MappingProxyType:
            return _read_only, (dict(obj),)
        return NotImplemented


def _read_only(contents: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(contents)


def _dumps(value: object) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


def _rate_subtrees(source: BundleSource, data: Mapping[str, object], where: str) -> bytes:
    """On a worker: the subtrees of one partition rated as a province of their own, unranked."""
    bundle = source.load()
    part = province_from_data(data, where)
    outcome = evaluate_province(bundle, part, rank=False)
    return _dumps((dict(outcome.results), dict(outcome.records), dict(outcome.years), outcome.rejected,
                   outcome.notes, dict(outcome.stages)))


_NOTE_WHERE = re.compile(r"^record (?P<subject>\S+) \((?P<period>[^)]+)\)$")


def evaluate_province_dask(
    bundle: Bundle | str | Path,
    province: Province | str | Path,
    *,
    client: Any = None,
    partitions: int | None = None,
) -> ProvinceResult:
    """Rate a province on a Dask cluster: each unit subtree on a worker, the quota afterwards.

    Every partition (:func:`subtree_partitions`) is rated by
    :func:`~kpi_rules.province.evaluate_province` with the quota stage skipped; the driver
    gathers the period and year results and applies the cohort rules to the whole province
    (:func:`~kpi_rules.province.rank_years`), so a quota group spanning partitions is exact.
    The outcome equals ``evaluate_province(bundle, province)``: the same results, records,
    year results, rejections, notes, order, quota reports and stages.

    Raises:
        DiagnosticError: KR720 without dask, KR721 when a rule file changed since it was loaded,
            KR715 when two subjects depend on each other (found on the driver, before any work).
    """
    dask = _require_dask()
    whole = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    data = province if isinstance(province, Province) else load_province(province)
    order = dependency_order(whole, data)
    shipped = dask.delayed(BundleSource.of(whole))
    groups = subtree_partitions(data, partitions)
    tasks = [dask.delayed(_rate_subtrees)(shipped, _subprovince_data(data, roots), data.source) for roots in groups]
    parts = [pickle.loads(blob) for blob in _compute(tasks, client)]
    return _assemble(whole, data, order, parts)


def _assemble(bundle: Bundle, data: Province, order: tuple[str, ...], parts: Sequence[Any]) -> ProvinceResult:
    """The partitions' outcomes put together in the single-machine order, then the quota."""
    periods = data.periods()
    period_at = {p: i for i, p in enumerate(periods)}
    subject_at = {s: i for i, s in enumerate(order)}
    results: dict[tuple[str, str], Result] = {}
    records: dict[tuple[str, str], Any] = {}
    years: dict[tuple[str, str], Result] = {}
    found: list[Rejection] = []
    notes: list[Diagnostic] = []
    stages: dict[str, str] = {}
    for part_results, part_records, part_years, part_rejected, part_notes, part_stages in parts:
        results.update(part_results)
        records.update(part_records)
        years.update(part_years)
        found.extend(part_rejected)
        notes.extend(part_notes)
        for key, value in part_stages.items():
            stages.setdefault(key, value)

    def at(subject: str, period: str | None) -> tuple[int, int]:
        return period_at.get(period or "", len(periods)), subject_at.get(subject, len(order))

    def note_at(note: Diagnostic) -> tuple[int, int]:
        match = _NOTE_WHERE.match(note.where or "")
        return at(match["subject"], match["period"]) if match else (len(periods), len(order))

    ordered = {k: results[k] for k in sorted(results, key=lambda k: at(k[0], k[1]))}
    ordered_records = {k: records[k] for k in sorted(records, key=lambda k: at(k[0], k[1]))}
    role_at = {role: i for i, role in enumerate(bundle.roles)}
    unranked = {k: years[k] for k in sorted(years, key=lambda k: (role_at.get(data.role_of(k[0]) or "", 0), k))}
    ranked, reports, quota_stages = rank_years(bundle, data, unranked)
    rejected = (*data.rejected, *sorted(found, key=lambda r: at(r.subject, r.period)))
    return ProvinceResult(data, bundle, periods, MappingProxyType(ordered), MappingProxyType(ordered_records),
                          MappingProxyType(ranked), tuple(rejected), tuple(sorted(notes, key=note_at)), order,
                          reports, MappingProxyType({**stages, **quota_stages}))

