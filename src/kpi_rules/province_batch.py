"""The columnar province run: :class:`~kpi_rules.province_tables.ProvinceTables` → :class:`TablesRun`.

The same outcome as :func:`kpi_rules.province.evaluate_province` on the same data (the same
period results, year results, quota decisions, rejections and notes), organised for size:

1. **Items, one pass.** The items file is read in chunks of ``chunk_size`` rows. Each item is
   matched to its record (``subject``, ``period``) with a vectorised hash lookup, then sent to
   the record's *batch group* (role × period, written to a temporary Parquet file in that
   group's shape: ``id`` + the item fields) or, for records rated one by one, kept in memory.
2. **Roles without relations** (staff: the vast majority) are rated with
   :func:`kpi_rules.batch.evaluate_batch`, one columnar batch per role and period, the items of
   the group streamed from its file. Results stay columns (``totals()``, ``levels()``) until
   asked for.
3. **Roles that read relations** (deputies, heads, units) are rated in dependency layers,
   period by period: a rule set whose relations are all ``list of`` and read only ``total``,
   ``level`` and ``rated`` in one columnar batch per role and layer (``relation_plan.py``; level
   conditions included, their ``LevelDecision.all_conditions`` coming from the columns), the
   others record by record exactly as ``evaluate_province`` does. The relation values
   (:class:`~kpi_rules.results.RelatedResult`) of batch-rated subjects come from the batch
   columns (id, total, level, rated). A rule set that reads another input of a related
   subject makes that subject's role go record by record too, so nothing it reads is missing.
4. Records with an ``on`` day, an override, or a value in a column their rule set does not
   declare go record by record as well (the checks of ``records.py`` then speak for them).
5. Periods combine into years and the excellent quota applies through
   :func:`kpi_rules.province.combine_and_rank`, the very code of the JSON run.

Python's cyclic collector is paused for the run (:func:`~kpi_rules.province_tables.collector_paused`).

Explanations (``explain=True``): batch groups are rated with ``explain=True`` and give
``BatchResult.explanations``; records rated one by one are traced and explained with their
record; years are explained from their combined result. :func:`write_explanations` writes them
as JSON lines.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from kpi_rules import nodes
from kpi_rules.batch import DEFAULT_CHUNK, BatchResult
from kpi_rules.bundle import Bundle
from kpi_rules.diagnostics import Diagnostic, DiagnosticError
from kpi_rules.engine import RuleSet
from kpi_rules.evaluator import EvaluationError, evaluate_record
from kpi_rules.explain_plan import explanation_lines
from kpi_rules.explainer import explain as explain_result
from kpi_rules.models import Explanation
from kpi_rules.org import Rejection
from kpi_rules.plan import Plan
from kpi_rules.province import (
    INSUFFICIENT,
    NO_RECORD,
    NO_RULES,
    REJECTED,
    ProvinceResult,
    combine_and_rank,
    dependency_order,
    rejected_read_note,
)
from kpi_rules.province_tables import ITEM_KEYS, ProvinceTables, collector_paused, iter_item_batches
from kpi_rules.relation_plan import member_names, only_related_fields, relation_plan
from kpi_rules.results import RELATED_FIELDS, RelatedResult, Result, SubjectRecord
from kpi_rules.trace import FullTracer

__all__ = ["TablesRun", "evaluate_province_tables", "write_explanations"]


@dataclass
class TablesRun:
    """A columnar province run: the outcome (as ``evaluate_province`` gives it) and how it went."""

    outcome: ProvinceResult
    #: Seconds per stage: ``items`` (partition), ``batch``, ``records``, ``years_quota``.
    timings: dict[str, float] = field(default_factory=dict)
    #: The columnar batch of each (role, period).
    batches: dict[tuple[str, str], BatchResult] = field(default_factory=dict)
    #: Rows rated by the batches' columns, and rows rated one by one (here or in a batch).
    columnar_rows: int = 0
    record_rows: int = 0
    explain: bool = False
    lang: str = "vi"

    def explanations(self) -> Iterator[Explanation]:
        """Every period result's explanation (period by period, batch groups first), then every year's."""
        if not self.explain:
            raise ValueError("run with explain=True to get explanations")
        outcome = self.outcome
        done: set[tuple[str, str]] = set()
        for (role, period), batch in self.batches.items():
            for explanation in batch.explanations:
                done.add((explanation.subject.id, period))
                yield explanation
        plans = {role: rr.rules.plan for role, rr in outcome.bundle.roles.items()}
        for key, record in outcome.records.items():
            if key in done:
                continue
            result = outcome.results[key]
            plan = plans[outcome.province.role_of(key[0]) or ""]
            yield explain_result(result, plan, self.lang, record=record)
        for (subject, _), result in outcome.years.items():
            yield explain_result(result, plans[outcome.province.role_of(subject) or ""], self.lang)


def write_explanations(run: TablesRun, path: str | Path, *, advice: bool = False) -> int:
    """Every explanation of the run as JSON lines, in the order of :meth:`TablesRun.explanations`,
    written by the bulk builder (:func:`kpi_rules.explain_plan.explanation_lines`: the same JSON as
    ``Explanation.model_dump_json()``). The next-level advice is left out unless ``advice=True``
    (it rates each record again for every input it tries). Returns how many lines were written."""
    if not run.explain:
        raise ValueError("run with explain=True to get explanations")
    outcome = run.outcome
    plans = {role: rr.rules.plan for role, rr in outcome.bundle.roles.items()}
    count = 0
    with collector_paused(), open(path, "w", encoding="utf-8") as out:
        for batch in run.batches.values():
            for line in batch.explanation_lines(advice=advice):
                out.write(line)
                count += 1
        for key, record in outcome.records.items():
            plan = plans[outcome.province.role_of(key[0]) or ""]
            for line in explanation_lines([(outcome.results[key], record)], plan, run.lang, advice=advice):
                out.write(line)
                count += 1
        for (subject, _), result in outcome.years.items():
            plan = plans[outcome.province.role_of(subject) or ""]
            for line in explanation_lines([(result, None)], plan, run.lang, advice=advice):
                out.write(line)
                count += 1
    return count


# --------------------------------------------------------------------------- results, lazily


class _Results(Mapping[tuple[str, str], Result]):
    """Period results: those rated one by one, and the batch rows built into ``Result`` on first use."""

    def __init__(self) -> None:
        self.eager: dict[tuple[str, str], Result] = {}
        self.lazy: dict[tuple[str, str], tuple[BatchResult, int]] = {}

    def __getitem__(self, key: tuple[str, str]) -> Result:
        found = self.eager.get(key)
        if found is not None:
            return found
        batch, position = self.lazy[key]
        return batch.results[position]

    def __contains__(self, key: object) -> bool:
        return key in self.eager or key in self.lazy

    def __iter__(self) -> Iterator[tuple[str, str]]:
        yield from self.lazy
        yield from self.eager

    def __len__(self) -> int:
        return len(self.eager) + len(self.lazy)


# --------------------------------------------------------------------------- the run


def evaluate_province_tables(
    bundle: Bundle,
    tables: ProvinceTables,
    *,
    explain: bool = False,
    lang: str = "vi",
    chunk_size: int = DEFAULT_CHUNK,
    workdir: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
    record_subjects: Collection[str] = (),
) -> TablesRun:
    """Rate a province in the columnar form; the outcome equals ``evaluate_province`` on the same data.

    Args:
        bundle: the rule set per role.
        tables: :func:`kpi_rules.province_tables.load_province_tables`.
        explain: keep what explanations need (:meth:`TablesRun.explanations`).
        lang: language of the explanations.
        chunk_size: task items read (and reduced) at a time; memory is bounded by the people.
        workdir: where the items of each batch group are written while the run lasts (a
            temporary directory by default, removed at the end).
        progress: called with the number of records done, as they are rated.
        record_subjects: subjects rated record by record whatever their role, so that
            ``outcome.records`` holds their typed records (``explain_subject`` needs them).

    Raises:
        DiagnosticError: KR715 when two subjects depend on each other; KR730 unreadable items.
    """
    with collector_paused():
        return _evaluate(bundle, tables, explain, lang, chunk_size, workdir, progress, record_subjects)


def _evaluate(bundle: Bundle, tables: ProvinceTables, explain: bool, lang: str, chunk_size: int,
              workdir: str | Path | None, progress: Callable[[int], None] | None,
              record_subjects: Collection[str]) -> TablesRun:
    province = tables.province
    timings: dict[str, float] = {}
    start = time.perf_counter()
    order = dependency_order(bundle, province)
    timings["order"] = time.perf_counter() - start
    plans = {role: rr.rules.plan for role, rr in bundle.roles.items()}
    columnar_roles = _columnar_roles(bundle)
    records = tables.records
    subjects: list[str] = records.column("subject").to_pylist()
    periods_col: list[str] = records.column("period").to_pylist()
    names = _names(records, province)
    inputs = tables.input_columns()
    undeclared = _undeclared_rows(records, plans, province, subjects, inputs)
    special = np.zeros(len(subjects), dtype=np.bool_)
    for key in ("on", "override"):
        if key in records.column_names:
            special |= ~np.asarray(records.column(key).is_null().to_numpy(zero_copy_only=False), dtype=np.bool_)
    if record_subjects:
        wanted = set(record_subjects)
        special |= np.fromiter((s in wanted for s in subjects), np.bool_, len(subjects))
    groups: dict[tuple[str, str], int] = {}
    route = np.full(len(subjects), -1, dtype=np.int64)
    for i, (subject, period) in enumerate(zip(subjects, periods_col)):
        role = province.role_of(subject) or ""
        if role in columnar_roles and not special[i] and not undeclared[i]:
            route[i] = groups.setdefault((role, period), len(groups))
    own = tempfile.mkdtemp(prefix="kpi-province-") if workdir is None else None
    folder = Path(own) if own is not None else Path(workdir)  # type: ignore[arg-type]
    folder.mkdir(parents=True, exist_ok=True)
    try:
        start = time.perf_counter()
        parts = _partition_items(tables, subjects, periods_col, route, groups, folder, chunk_size)
        timings["items"] = time.perf_counter() - start
        return _rate(bundle, tables, plans, order, groups, route, ~special & ~undeclared, parts, names, inputs,
                     explain, lang, chunk_size, timings, progress)
    finally:
        if own is not None:
            shutil.rmtree(own, ignore_errors=True)


@dataclass
class _Parts:
    """Where the items went: a file per batch group, lists per record rated one by one, orphans."""

    files: dict[int, Path]
    fields: tuple[str, ...]
    listed: dict[int, list[dict[str, Any]]]
    orphans: list[tuple[str, str]]
    #: Items read as text (CSV): numbers and booleans are typed when a record is built.
    text: bool = False


def _rate(bundle: Bundle, tables: ProvinceTables, plans: Mapping[str, Plan], order: tuple[str, ...],
          groups: Mapping[tuple[str, str], int], route: np.ndarray[Any, Any], plain: np.ndarray[Any, Any],
          parts: _Parts,
          names: list[str | None], inputs: tuple[str, ...], explain: bool, lang: str, chunk_size: int,
          timings: dict[str, float], progress: Callable[[int], None] | None) -> TablesRun:
    province = tables.province
    records = tables.records
    subjects: list[str] = records.column("subject").to_pylist()
    periods_col: list[str] = records.column("period").to_pylist()
    results = _Results()
    light: dict[tuple[str, str], Result] = {}
    typed_records: dict[tuple[str, str], SubjectRecord] = {}
    rejected: list[Rejection] = list(tables.rejected)
    notes: list[Diagnostic] = []
    views: dict[str, dict[str, RelatedResult]] = {}
    batches: dict[tuple[str, str], BatchResult] = {}
    columnar_rows = 0
    for subject, period in parts.orphans:
        rejected.append(Rejection(subject, period, (Diagnostic(
            "KR733", f"task items name `{subject}` for {period}, which has no record", where=f"record {subject} ({period})",
            hint="add the record of that subject and period, or remove its items"),)))
    start = time.perf_counter()
    for (role, period), g in groups.items():
        rows = np.flatnonzero(route == g)
        plan = plans[role]
        persons = _persons(records, rows, plan, names, inputs)
        items_src: Any = parts.files.get(g)
        if _list_names(plan) and items_src is None:
            items_src = _empty_items(plan)
        elif explain and items_src is not None:
            # Streamed items are reduced and dropped; an explanation's record (and its next-level
            # advice) needs them, so with explanations a group's items are held in memory.
            import pyarrow.parquet as pq

            items_src = pq.read_table(items_src)
        rules = bundle.rules_for(role)
        assert rules is not None
        # The rule set, not its plan: a bound catalogue's product checks apply as record by record.
        batch = rules.evaluate_batch(persons, items=items_src if _list_names(plan) else None, explain=explain,
                                     lang=lang, chunk_size=chunk_size)
        batches[(role, period)] = batch
        columnar_rows += batch.columnar_rows
        ids = [subjects[i] for i in rows.tolist()]
        view = views.setdefault(period, {})
        gone = _batch_rejections(batch, ids)
        for subject, diagnostics in gone.items():
            rejected.append(Rejection(subject, period, diagnostics))
            view[subject] = RelatedResult(subject, note=REJECTED, name=province.name_of(subject))
        kept = [(i, s) for i, s in zip(rows.tolist(), ids) if s not in gone]
        totals, levels, decisions = batch.totals(), batch.levels(), batch.decisions()
        assert len(totals) == len(kept), "a batch gives one result per accepted record"
        provenance = plan.provenance
        for position, ((i, subject), total, level) in enumerate(zip(kept, totals, levels)):
            results.lazy[(subject, period)] = (batch, position)
            # What combining periods reads of a period result (status, total, decision, name):
            # the criteria tree and values are built only when asked for.
            light[(subject, period)] = Result(subject, "rated" if total is not None else "insufficient_data",
                                              provenance, total, None, decisions[position], subject_name=names[i],
                                              period=period)
            rated = total is not None
            view[subject] = RelatedResult(subject, total, level, rated, MappingProxyType({}),
                                          None if rated else INSUFFICIENT, names[i])
        if progress is not None:
            progress(len(rows))
    timings["batch"] = time.perf_counter() - start
    start = time.perf_counter()
    one_by_one: dict[str, dict[str, int]] = {}
    minus = np.flatnonzero(route < 0)
    for i in minus.tolist():
        one_by_one.setdefault(periods_col[i], {})[subjects[i]] = i
    rows_py = dict(zip(minus.tolist(), records.take(minus).to_pylist())) if len(minus) else {}
    relations = {role: tuple(rr.rules.plan.checked.subject.relations) for role, rr in bundle.roles.items()}
    layers = _layers(bundle, province, order)
    derived = {} if explain or not only_related_fields(bundle) else {
        role: d for role, rr in bundle.roles.items() if (d := relation_plan(rr.rules.plan)) is not None}
    layered: dict[int, list[str]] = {}
    for subject in order:
        layered.setdefault(layers.get(subject, 0), []).append(subject)
    state = _RecordState(bundle, province, relations, rows_py, parts, names, inputs, explain, results, light,
                         typed_records, rejected, notes, progress)
    for period in sorted({*periods_col}):
        view = views.setdefault(period, {})
        rows_here = one_by_one.get(period, {})
        for layer in sorted(layered):
            together: dict[str, list[tuple[str, int]]] = {}
            for subject in layered[layer]:
                if subject in view:
                    continue
                role = province.role_of(subject) or ""
                rules = bundle.rules_for(role)
                found = rows_here.get(subject)
                if rules is None or found is None:
                    view[subject] = RelatedResult(subject, note=NO_RULES if rules is None else NO_RECORD,
                                                  name=province.name_of(subject))
                    continue
                i = found
                if role in derived and plain[i] and _all_rated(province, bundle, relations[role], subject, view):
                    together.setdefault(role, []).append((subject, i))
                    continue
                state.one(subject, i, period, view)
            for role, members in together.items():
                rules = bundle.rules_for(role)
                assert rules is not None
                columnar_rows += state.related_batch(rules, derived[role], members, period, view, chunk_size)
    timings["records"] = time.perf_counter() - start
    start = time.perf_counter()
    light.update(results.eager)
    years, quota, stages = combine_and_rank(bundle, province, light)
    timings["years_quota"] = time.perf_counter() - start
    periods = tuple(sorted({*periods_col}))
    outcome = ProvinceResult(province, bundle, periods, results, MappingProxyType(typed_records),
                             MappingProxyType(years), tuple(rejected), tuple(notes), order, quota,
                             MappingProxyType(stages))
    return TablesRun(outcome, timings, batches, columnar_rows, len(results) - columnar_rows, explain, lang)


class _RecordState:
    """Rates the subjects of roles that read relations: one by one, or in a batch of a layer."""

    def __init__(self, bundle: Bundle, province: Any, relations: Mapping[str, tuple[nodes.RelationDecl, ...]],
                 rows: Mapping[int, dict[str, Any]], parts: _Parts, names: list[str | None], inputs: tuple[str, ...],
                 explain: bool, results: _Results, light: dict[tuple[str, str], Result],
                 typed_records: dict[tuple[str, str], SubjectRecord], rejected: list[Rejection],
                 notes: list[Diagnostic], progress: Callable[[int], None] | None) -> None:
        self.bundle, self.province, self.relations, self.rows = bundle, province, relations, rows
        self.parts, self.names, self.inputs, self.explain = parts, names, inputs, explain
        self.results, self.light, self.typed_records = results, light, typed_records
        self.rejected, self.notes, self.progress = rejected, notes, progress

    def one(self, subject: str, i: int, period: str, view: dict[str, RelatedResult]) -> None:
        """Rate one record exactly as ``evaluate_province`` does (same checks, notes, rejections)."""
        province, bundle = self.province, self.bundle
        role = province.role_of(subject) or ""
        name = province.name_of(subject)
        rules = bundle.rules_for(role)
        assert rules is not None
        raw = _raw_record(self.rows[i], rules.plan, self.names[i], self.inputs, self.parts.listed.get(i, []),
                          self.parts.text)
        if self.progress is not None:
            self.progress(1)
        try:
            typed = rules.record(raw)
        except DiagnosticError as error:
            self.rejected.append(Rejection(subject, period, error.diagnostics))
            view[subject] = RelatedResult(subject, note=REJECTED, name=name)
            return
        related: dict[str, tuple[RelatedResult, ...] | RelatedResult | None] = {}
        for rel in self.relations.get(role, ()):
            ids = province.related_ids(subject, rel.name, bundle.settings)
            if isinstance(ids, tuple):
                related[rel.name] = tuple(view[x] for x in ids)
            else:
                related[rel.name] = view[ids] if ids is not None else None
            value = related[rel.name]
            for other in (value if isinstance(value, tuple) else (value,) if value is not None else ()):
                if other.note == REJECTED:
                    self.notes.append(rejected_read_note(subject, other.id, rel.name, period))
        typed = dataclasses.replace(typed, related=MappingProxyType(related), period=period)
        try:
            result = evaluate_record(rules.plan, typed, FullTracer() if self.explain else None)
        except EvaluationError as error:
            self.rejected.append(Rejection(subject, period, (error.diagnostic,)))
            view[subject] = RelatedResult(subject, note=REJECTED, name=name)
            return
        key = (subject, period)
        self.results.eager[key] = result
        self.light[key] = result
        self.typed_records[key] = typed
        rated = result.status == "rated"
        view[subject] = RelatedResult(subject, result.total, result.level, rated, typed.inputs,
                                      None if rated else INSUFFICIENT, name)

    def related_batch(self, rules: RuleSet, derived: Plan, members: list[tuple[str, int]], period: str,
                      view: dict[str, RelatedResult], chunk_size: int) -> int:
        """Rate subjects of one role and one dependency layer in one columnar batch of ``derived``
        (their relations as list inputs of related results, every one rated). A record the batch
        rejects is rated again one by one, so its diagnostics are those of the JSON run. Returns
        the number of rows the columns decided."""
        province, bundle = self.province, self.bundle
        plan = rules.plan
        role = province.role_of(members[0][0]) or ""
        raws: list[dict[str, object]] = []
        for subject, i in members:
            raw = _raw_record(self.rows[i], plan, self.names[i], self.inputs, self.parts.listed.get(i, []),
                              self.parts.text)
            values = raw["inputs"]
            assert isinstance(values, dict)
            for rel in self.relations[role]:
                ids = province.related_ids(subject, rel.name, bundle.settings)
                assert isinstance(ids, tuple)
                values[rel.name] = [{"total": view[x].total, "level": view[x].level, "rated": True} for x in ids]
            raws.append(raw)
        batch = RuleSet(derived, rules.catalogue).evaluate_batch(raws, chunk_size=max(chunk_size, len(raws)))
        gone = set(batch.rejected_ids)
        kept = [(s, i) for s, i in members if s not in gone]
        totals, levels, decisions = batch.totals(), batch.levels(), batch.decisions()
        assert len(totals) == len(kept), "a batch gives one result per accepted record"
        for position, ((subject, i), total, level) in enumerate(zip(kept, totals, levels)):
            key = (subject, period)
            self.results.lazy[key] = (batch, position)
            self.light[key] = Result(subject, "rated" if total is not None else "insufficient_data",
                                     derived.provenance, total, None, decisions[position],
                                     subject_name=self.names[i], period=period)
            rated = total is not None
            view[subject] = RelatedResult(subject, total, level, rated, MappingProxyType({}),
                                          None if rated else INSUFFICIENT, self.names[i])
        for subject, i in members:
            if subject in gone:
                self.one(subject, i, period, view)
        if self.progress is not None:
            self.progress(len(kept))
        return batch.columnar_rows


def _layers(bundle: Bundle, province: Any, order: tuple[str, ...]) -> dict[str, int]:
    """Dependency depth of each subject: 0 reads nobody, else one more than the deepest it reads.
    Subjects of one layer never read each other, so a layer can be rated at once."""
    depth: dict[str, int] = {}
    relations = {role: rr.rules.plan.checked.subject.relations for role, rr in bundle.roles.items()}
    for subject in order:
        deepest = -1
        for rel in relations.get(province.role_of(subject) or "", ()):
            ids = province.related_ids(subject, rel.name, bundle.settings)
            for other in ids if isinstance(ids, tuple) else (ids,) if ids is not None else ():
                deepest = max(deepest, depth.get(other, 0))
        depth[subject] = deepest + 1
    return depth


def _all_rated(province: Any, bundle: Bundle, relations: tuple[nodes.RelationDecl, ...], subject: str,
               view: Mapping[str, RelatedResult]) -> bool:
    for rel in relations:
        ids = province.related_ids(subject, rel.name, bundle.settings)
        if not isinstance(ids, tuple):
            return False
        for other in ids:
            seen = view.get(other)
            if seen is None or not seen.rated or seen.total is None or seen.level is None:
                return False
    return True


# --------------------------------------------------------------------------- routing


def _list_names(plan: Plan) -> list[str]:
    return [d.name for d in plan.checked.subject.inputs if isinstance(d.type, nodes.ListType)]


def _columnar_roles(bundle: Bundle) -> set[str]:
    """Roles rated in columnar batches: their rule set reads no relation, and no other role's rule
    set reads one of their inputs through a relation (related subjects carry only id, total,
    level and rated from a batch)."""
    plain = {role for role, rr in bundle.roles.items()
             if not rr.rules.plan.checked.subject.relations}
    read: set[str] = set()
    for rr in bundle.roles.values():
        if rr.rules.plan.checked.subject.relations:
            read |= member_names(rr.rules.plan.ruleset)
    item_fields = set()
    for rr in bundle.roles.values():
        for record in rr.rules.plan.checked.records.values():
            item_fields |= {d.name for d in record.inputs}
    wanted = read - set(RELATED_FIELDS) - item_fields
    out = set()
    for role in plain:
        declared = {d.name for d in bundle.roles[role].rules.plan.checked.subject.inputs}
        if not (declared & wanted):
            out.add(role)
    return out


def _names(records: Any, province: Any) -> list[str | None]:
    """The name of each record: its own, else its subject's (as the JSON form gives it)."""
    subjects = records.column("subject").to_pylist()
    own = records.column("name").to_pylist() if "name" in records.column_names else [None] * len(subjects)
    return [n if n else province.name_of(s) for s, n in zip(subjects, own)]


def _undeclared_rows(records: Any, plans: Mapping[str, Plan], province: Any, subjects: list[str],
                     inputs: tuple[str, ...]) -> np.ndarray[Any, Any]:
    """Rows with a value in a column their role's rule set does not declare (rejected by the checks)."""
    out = np.zeros(len(subjects), dtype=np.bool_)
    present = {c: ~np.asarray(records.column(c).is_null().to_numpy(zero_copy_only=False), dtype=np.bool_)
               for c in inputs}
    declared = {role: {d.name for d in plan.checked.subject.inputs} for role, plan in plans.items()}
    roles = np.array([province.role_of(s) or "" for s in subjects], dtype=object)
    for role in set(roles.tolist()):
        mine = roles == role
        for column in inputs:
            if column not in declared.get(role, set()):
                out |= mine & present[column]
    return out


# --------------------------------------------------------------------------- items


def _partition_items(tables: ProvinceTables, subjects: list[str], periods: list[str], route: np.ndarray[Any, Any],
                     groups: Mapping[tuple[str, str], int], folder: Path, chunk_size: int) -> _Parts:
    """One pass over the items: each batch group's items to its Parquet file (``id`` + fields),
    the items of records rated one by one to memory, and the (subject, period) of items whose
    record does not exist (a record rejected at load has its items dropped with it)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    parts = _Parts({}, (), {}, [])
    if tables.items is None:
        return parts
    parts.text = tables.items.suffix.lower() == ".csv"
    # (subject, period) → records row, as a dense table over subject and period codes
    subject_code = {s: k for k, s in enumerate(dict.fromkeys(subjects))}
    period_code = {p: k for k, p in enumerate(sorted(set(periods)))}
    row_table = np.full((len(subject_code), max(1, len(period_code))), -1, dtype=np.int64)
    for i, (s, p) in enumerate(zip(subjects, periods)):
        row_table[subject_code[s], period_code[p]] = i
    rejected_keys = {(r.subject, r.period) for r in tables.rejected}
    writers: dict[int, Any] = {}
    orphans: dict[tuple[str, str], None] = {}
    try:
        for batch in iter_item_batches(tables.items, chunk_size):
            names = batch.schema.names
            missing = [c for c in ITEM_KEYS if c not in names]
            if missing:
                raise DiagnosticError([Diagnostic("KR731", "the items table has no column "
                                                  + ", ".join(f"`{c}`" for c in missing), where=str(tables.items))])
            subject = batch.column(names.index("subject"))
            period = batch.column(names.index("period"))
            fields = [n for n in names if n not in ITEM_KEYS]
            parts.fields = tuple(fields)
            si = _codes(subject, subject_code)
            pi = _codes(period, period_code)
            subject = pc.cast(subject, pa.string()) if not pa.types.is_dictionary(subject.type) else subject
            period = pc.cast(period, pa.string()) if not pa.types.is_dictionary(period.type) else period
            known = (si >= 0) & (pi >= 0)
            row = np.where(known, row_table[np.maximum(si, 0), np.maximum(pi, 0)], -1)
            target = np.where(row >= 0, route[np.maximum(row, 0)], -2)
            target[row < 0] = -2
            shaped = pa.RecordBatch.from_arrays([subject, *(batch.column(names.index(f)) for f in fields)],
                                                names=["id", *fields])
            for g in np.unique(target).tolist():
                mask = target == g
                if g == -2:
                    for s, p in zip(subject.filter(pa.array(mask)).to_pylist(), period.filter(pa.array(mask)).to_pylist()):
                        if (s, p) not in rejected_keys:
                            orphans.setdefault((str(s), str(p)), None)
                elif g == -1:
                    picked = batch.filter(pa.array(mask))
                    owners = row[mask].tolist()
                    for owner, item in zip(owners, picked.select(fields).to_pylist()):
                        parts.listed.setdefault(owner, []).append({k: v for k, v in item.items() if v is not None})
                else:
                    part = shaped if bool(mask.all()) else shaped.filter(pa.array(mask))
                    writer = writers.get(g)
                    if writer is None:
                        path = folder / f"group-{g}.parquet"
                        writer = writers[g] = pq.ParquetWriter(path, part.schema, compression="lz4")
                        parts.files[g] = path
                    writer.write_batch(part)
    finally:
        for writer in writers.values():
            writer.close()
    parts.orphans = list(orphans)
    return parts


def _codes(column: Any, keys: Mapping[str, int]) -> np.ndarray[Any, Any]:
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


def _empty_items(plan: Plan) -> Any:
    """An empty item table in the plan's shape (a group whose records have no items)."""
    import pyarrow as pa

    list_decl = next(d for d in plan.checked.subject.inputs if isinstance(d.type, nodes.ListType))
    assert isinstance(list_decl.type, nodes.ListType)
    fields = [d.name for d in plan.checked.records[list_decl.type.item].inputs]
    return pa.table({"id": pa.array([], pa.string()), **{f: pa.array([], pa.string()) for f in fields}})


# --------------------------------------------------------------------------- records


def _persons(records: Any, rows: np.ndarray[Any, Any], plan: Plan, names: list[str | None],
             inputs: tuple[str, ...]) -> Any:
    """The batch table of a group: ``id``, ``name``, ``period`` and the inputs its rule set declares."""
    import pyarrow as pa

    taken = records.take(pa.array(rows))
    declared = {d.name for d in plan.checked.subject.inputs if not isinstance(d.type, nodes.ListType)}
    columns: dict[str, Any] = {"id": taken.column("subject"), "period": taken.column("period"),
                               "name": pa.array([names[i] for i in rows.tolist()], pa.string())}
    for column in inputs:
        if column in declared:
            columns[column] = taken.column(column)
    return pa.table(columns)


def _raw_record(row: Mapping[str, Any], plan: Plan, name: str | None, inputs: tuple[str, ...],
                items: list[dict[str, Any]], text: bool) -> dict[str, object]:
    """A records row in the shape of a JSON record (as ``org.py`` hands it to ``coerce_record``)."""
    decls = plan.inputs
    values: dict[str, object] = {c: _cell(decls.get(c), row[c]) for c in inputs if row.get(c) is not None}
    list_names = _list_names(plan)
    if list_names:
        list_decl = decls[list_names[0]].type
        assert isinstance(list_decl, nodes.ListType)
        fields = {d.name: d for d in plan.checked.records[list_decl.item].inputs}
        values[list_names[0]] = [{k: _cell(fields.get(k), v) for k, v in item.items()} for item in items] \
            if text else list(items)
    body: dict[str, object] = {"id": row["subject"], "period": row["period"], "inputs": values}
    if name is not None:
        body["name"] = name
    if row.get("on") is not None:
        body["on"] = row["on"]
    if row.get("override") is not None:
        try:
            body["override"] = json.loads(row["override"], parse_float=Decimal)
        except json.JSONDecodeError:
            body["override"] = row["override"]  # rejected by the record checks, naming the field
    return body


def _cell(decl: nodes.InputDecl | None, value: Any) -> Any:
    """A cell as the record checks read it: CSV text of numbers and booleans typed, floats kept."""
    if decl is None or not isinstance(value, str):
        return value
    t = decl.type
    if isinstance(t, nodes.ScalarType):
        if t.name in ("number", "percent", "points"):
            try:
                return Decimal(value.strip())
            except InvalidOperation:
                return value
        if t.name == "bool" and value in ("true", "false"):
            return value == "true"
    return value


def _batch_rejections(batch: BatchResult, ids: list[str]) -> dict[str, tuple[Diagnostic, ...]]:
    """The diagnostics of each record a batch rejected (they come in record order, each naming it)."""
    out: dict[str, list[Diagnostic]] = {}
    if not batch.rejected_ids:
        return {}
    pending = list(batch.rejected_ids)
    k = 0
    for diagnostic in batch.rejected:
        where = diagnostic.where or ""
        while k + 1 < len(pending) and not _names_record(where, pending[k]) and _names_record(where, pending[k + 1]):
            k += 1
        out.setdefault(pending[k], []).append(diagnostic)
    for rid in pending:
        out.setdefault(rid, [])
    return {k2: tuple(v) for k2, v in out.items()}


def _names_record(where: str, rid: str) -> bool:
    prefix = f"record {rid}"
    return where == prefix or where.startswith(prefix + ",") or where.startswith(prefix + " ")
