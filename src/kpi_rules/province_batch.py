"""The columnar province run: :class:`~kpi_rules.province_tables.ProvinceTables` → :class:`TablesRun`.

The same outcome as :func:`kpi_rules.province.evaluate_province` on the same data (the same
period results, year results, quota decisions, rejections and notes), organised for size:

1. **Items, one pass.** The items file is read in chunks of ``chunk_size`` rows. Each item is
   matched to its record (``subject``, ``period``) with a vectorised hash lookup, then pushed
   into the record's *batch group* (role × period: an :class:`~kpi_rules.batch_feed.ItemFolder`
   that folds it into the group's pre-reduced aggregates at once, its owner given as a row, no
   temporary file) or, for records rated one by one, kept in memory. Rows a batch sends record
   by record get their items from a second pass over the file, only when there are such rows.
2. **Roles without relations** (staff: the vast majority) are rated as columnar batches
   (:mod:`kpi_rules.batch`), one per role and period, fed by that pass. Results stay columns
   (``totals()``, ``levels()``) until asked for.
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
5. Periods combine into years and the excellent quota applies from the batches' columns
   (:func:`kpi_rules.year_columns.combine_and_rank_columns`: the outcome of
   :func:`kpi_rules.province.combine_and_rank`, year results built on first access).

Python's cyclic collector is paused for the run (:func:`~kpi_rules.province_tables.collector_paused`).

Explanations (``explain=True``): batch groups, and the batches of leaders and units, are rated
with ``explain=True`` (the leaders' lines are their batch's with the related subjects spliced in:
:mod:`kpi_rules.province_explain`); records rated one by one are traced and explained with their
record; years are explained from their combined result. :func:`write_explanations` writes them
as JSON lines (UTF-8 bytes).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import repeat
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from kpi_rules import nodes
from kpi_rules.batch import DEFAULT_CHUNK, BatchResult
from kpi_rules.batch_sources import lookup_codes
from kpi_rules.batch_feed import ItemFolder, start_batch
from kpi_rules.bundle import Bundle
from kpi_rules.diagnostics import Diagnostic, DiagnosticError
from kpi_rules.engine import RuleSet
from kpi_rules.evaluator import EvaluationError, evaluate_record
from kpi_rules.listed_items import ListedItems
from kpi_rules.explain_workers import write_pieces
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
from kpi_rules.province_explain import LeaderBatch, LeaderRecords, explanation_pieces
from kpi_rules.province_tables import ITEM_KEYS, ProvinceTables, collector_paused, iter_item_batches
from kpi_rules.province_order import CodedOrder, coded_order
from kpi_rules.province_rows import RecordCodes, RowNames
from kpi_rules.related_view import PeriodView, RelatedCodes, SubjectCodes
from kpi_rules.relation_plan import member_names, only_related_fields, relation_plan
from kpi_rules.results import RELATED_FIELDS, RelatedResult, Result, SubjectRecord
from kpi_rules.trace import FullTracer
from kpi_rules.year_columns import YearResults, combine_and_rank_columns

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
    #: With explanations: leaders and units rated in columnar batches of their derived plans.
    leaders: list[LeaderBatch] = field(default_factory=list)
    #: False: rated with ``advice=False`` (explanations only without the next-level advice).
    advice: bool = True

    def explanations(self) -> Iterator[Explanation]:
        """Every period result's explanation (period by period, batch groups first), then every year's."""
        if not self.explain:
            raise ValueError("run with explain=True to get explanations")
        if not self.advice:
            raise ValueError("the run was rated with advice=False: write its explanations without the "
                             "next-level advice (write_explanations)")
        outcome = self.outcome
        done: set[tuple[str, str]] = set()
        for (role, period), batch in self.batches.items():
            for explanation in batch.explanations:
                done.add((explanation.subject.id, period))
                yield explanation
        for leaders in self.leaders:
            done.update((subject, leaders.period) for subject in leaders.subjects)
            yield from leaders.explanations(self.lang)
        plans = {role: rr.rules.plan for role, rr in outcome.bundle.roles.items()}
        for key in outcome.records:
            if key in done:  # (a leader's record is rebuilt when read)
                continue
            result = outcome.results[key]
            plan = plans[outcome.province.role_of(key[0]) or ""]
            yield explain_result(result, plan, self.lang, record=outcome.records[key])
        for (subject, _), result in outcome.years.items():
            yield explain_result(result, plans[outcome.province.role_of(subject) or ""], self.lang)


def write_explanations(run: TablesRun, path: str | Path, *, advice: bool = False, workers: int = 1) -> int:
    """Every explanation of the run as JSON lines, in the order of :meth:`TablesRun.explanations`,
    written by the bulk builder (:func:`kpi_rules.explain_plan.explanation_lines`: the same JSON as
    ``Explanation.model_dump_json()``). The next-level advice is left out unless ``advice=True``
    (it rates each record again for every input it tries). Returns how many lines were written.

    ``workers > 1`` (where ``fork`` is available): the lines are cut into that many contiguous
    parts of about equal estimated cost, written by forked workers and joined in order
    (:mod:`kpi_rules.explain_workers`); the file is the same, byte for byte."""
    if not run.explain:
        raise ValueError("run with explain=True to get explanations")
    if advice and not run.advice:
        raise ValueError("the run was rated with advice=False: its task items were not kept for the advice")
    pieces, costs = explanation_pieces(run, advice=advice)
    with collector_paused():
        return write_pieces(path, pieces, costs, workers)


# --------------------------------------------------------------------------- results, lazily


class _Results(Mapping[tuple[str, str], Result]):
    """Period results: those rated one by one, and the batch rows built into ``Result`` on first use."""

    def __init__(self) -> None:
        self.eager: dict[tuple[str, str], Result] = {}
        #: Batch rows, a run at a time: (batch, subjects, period, the batch position of each
        #: subject or None for 0, 1, ...). The key index (``lazy``) is made on first use: at a
        #: million people it is four million entries nothing in the run itself reads.
        self._runs: list[tuple[BatchResult, list[str], str, list[int] | None]] = []
        self._lazy: dict[tuple[str, str], tuple[BatchResult, int]] | None = None
        self._lazy_size = 0
        #: Every batch whose accepted rows are in ``lazy`` (what years and quota read).
        self.batches: list[BatchResult] = []

    def add(self, batch: BatchResult, subjects: list[str], period: str, positions: list[int] | None = None) -> None:
        """Batch rows: ``subjects[k]`` (for ``period``) is the batch's result ``positions[k]`` (or ``k``)."""
        self._runs.append((batch, subjects, period, positions))
        self._lazy_size += len(subjects)
        self._lazy = None

    @property
    def lazy(self) -> dict[tuple[str, str], tuple[BatchResult, int]]:
        """(subject, period) -> (batch, position) of every batch row, in the order added."""
        if self._lazy is None:
            lazy: dict[tuple[str, str], tuple[BatchResult, int]] = {}
            for batch, subjects, period, positions in self._runs:
                for subject, k in zip(subjects, range(len(subjects)) if positions is None else positions):
                    lazy[(subject, period)] = (batch, k)
            self._lazy = lazy
        return self._lazy

    def __getitem__(self, key: tuple[str, str]) -> Result:
        found = self.eager.get(key)
        if found is not None:
            return found
        batch, position = self.lazy[key]
        return batch.results[position]

    def __contains__(self, key: object) -> bool:
        return key in self.eager or key in self.lazy

    def __iter__(self) -> Iterator[tuple[str, str]]:
        if self._lazy is not None:
            yield from self._lazy
        else:
            for _, subjects, period, _ in self._runs:
                yield from zip(subjects, repeat(period))
        yield from self.eager

    def __len__(self) -> int:
        return len(self.eager) + (len(self._lazy) if self._lazy is not None else self._lazy_size)

    def from_batches(self) -> bool:
        """Whether the lazy results are exactly the accepted rows of :attr:`batches` and none is
        also rated one by one (then years and quota can be read from the batches' columns)."""
        if not self.eager:
            return sum(len(b) for b in self.batches) == len(self)
        return sum(len(b) for b in self.batches) == len(self.lazy) and not any(k in self.lazy for k in self.eager)


# --------------------------------------------------------------------------- the run


def evaluate_province_tables(
    bundle: Bundle,
    tables: ProvinceTables,
    *,
    explain: bool = False,
    lang: str = "vi",
    chunk_size: int = DEFAULT_CHUNK,
    progress: Callable[[int], None] | None = None,
    record_subjects: Collection[str] = (),
    advice: bool = True,
) -> TablesRun:
    """Rate a province in the columnar form; the outcome equals ``evaluate_province`` on the same data.

    Args:
        bundle: the rule set per role.
        tables: :func:`kpi_rules.province_tables.load_province_tables`.
        explain: keep what explanations need (:meth:`TablesRun.explanations`).
        advice: with ``explain``, False when the explanations will be written without the
            next-level advice (``write_explanations(run, path)``): the task items are then
            folded and dropped as without explanations, instead of kept for the advice
            (which rates each record again with its items). The lines are the same bytes;
            :meth:`TablesRun.explanations` and ``write_explanations(advice=True)`` raise.
        lang: language of the explanations.
        chunk_size: task items read (and reduced) at a time; memory is bounded by the people.
        progress: called with the number of records done, as they are rated.
        record_subjects: subjects rated record by record whatever their role, so that
            ``outcome.records`` holds their typed records (``explain_subject`` needs them).

    Raises:
        DiagnosticError: KR715 when two subjects depend on each other; KR730 unreadable items.
    """
    with collector_paused():
        run = _evaluate(bundle, tables, explain, lang, chunk_size, progress, record_subjects, advice)
    run.advice = advice
    return run


def _evaluate(bundle: Bundle, tables: ProvinceTables, explain: bool, lang: str, chunk_size: int,
              progress: Callable[[int], None] | None,
              record_subjects: Collection[str], advice: bool = True) -> TablesRun:
    province = tables.province
    timings: dict[str, float] = {}
    start = time.perf_counter()
    records = tables.records
    # Every records row as codes (subject, period, role): no Python list per row (province_rows.py).
    codes = SubjectCodes(province)
    rows = RecordCodes(records, province, codes.ids, list(bundle.roles))
    related = RelatedCodes(province, bundle.settings, codes)
    ordered = coded_order(bundle, province, related, rows.subject_role, rows.roles)
    order = ordered.ids if ordered is not None else dependency_order(bundle, province)
    timings["order"] = time.perf_counter() - start
    plans = {role: rr.rules.plan for role, rr in bundle.roles.items()}
    columnar_roles = _columnar_roles(bundle)
    names = rows.names(records, province)
    inputs = tables.input_columns()
    undeclared = rows.undeclared(records, inputs, {role: {d.name for d in plan.checked.subject.inputs}
                                                   for role, plan in plans.items()})
    special = np.zeros(rows.size, dtype=np.bool_)
    for key in ("on", "override"):
        if key in records.column_names:
            special |= ~np.asarray(records.column(key).is_null().to_numpy(zero_copy_only=False), dtype=np.bool_)
    if record_subjects:
        special |= rows.among(record_subjects)
    eligible = np.isin(rows.role, [k for k, role in enumerate(rows.roles) if role in columnar_roles])
    groups, route = rows.groups(eligible & ~special & ~undeclared)
    start = time.perf_counter()
    feeds = _group_feeds(bundle, tables, groups, route, names, inputs, explain, lang, advice)
    parts = _partition_items(tables, rows, codes.code, route, groups, feeds, chunk_size)
    timings["items"] = time.perf_counter() - start
    return _rate(bundle, tables, plans, order, groups, route, ~special & ~undeclared, parts, names, inputs,
                 explain, lang, chunk_size, timings, progress, codes, rows, related, ordered)


@dataclass
class _Feed:
    """A batch group: its records rows, its persons table, and (when its rule set has a list
    input) the batch its items are pushed into as the items file is read."""

    rows: np.ndarray[Any, Any]
    persons: Any
    folder: ItemFolder | None


@dataclass
class _Parts:
    """Where the items went: each batch group's batch (folded as read), lists per record rated
    one by one, orphans."""

    feeds: dict[int, _Feed]
    listed: ListedItems
    orphans: list[tuple[str, str]]
    #: Items read as text (CSV): numbers and booleans are typed when a record is built.
    text: bool = False


def _rate(bundle: Bundle, tables: ProvinceTables, plans: Mapping[str, Plan], order: tuple[str, ...],
          groups: Mapping[tuple[str, str], int], route: np.ndarray[Any, Any], plain: np.ndarray[Any, Any],
          parts: _Parts,
          names: RowNames, inputs: tuple[str, ...], explain: bool, lang: str, chunk_size: int,
          timings: dict[str, float], progress: Callable[[int], None] | None, codes: SubjectCodes,
          coded: RecordCodes, related: RelatedCodes, ordered: CodedOrder | None) -> TablesRun:
    province = tables.province
    records = tables.records
    results = _Results()
    typed_records: dict[tuple[str, str], SubjectRecord] = {}
    rejected: list[Rejection] = list(tables.rejected)
    notes: list[Diagnostic] = []
    views: dict[str, PeriodView] = {}
    batches: dict[tuple[str, str], BatchResult] = {}
    columnar_rows = 0
    for subject, period in parts.orphans:
        rejected.append(Rejection(subject, period, (Diagnostic(
            "KR733", f"task items name `{subject}` for {period}, which has no record", where=f"record {subject} ({period})",
            hint="add the record of that subject and period, or remove its items"),)))
    start = time.perf_counter()
    for (role, period), g in groups.items():
        feed = parts.feeds[g]
        rows = feed.rows
        plan = plans[role]
        if feed.folder is not None:
            # Items were folded as the items file was read (held whole with explanations: an
            # explanation's record and its next-level advice list them).
            batch = feed.folder.finish()
        else:
            rules = bundle.rules_for(role)
            assert rules is not None
            # The rule set, not its plan: a bound catalogue's product checks apply as record by record.
            batch = rules.evaluate_batch(feed.persons, explain=explain, lang=lang, chunk_size=chunk_size)
        feed.folder = None
        batches[(role, period)] = batch
        columnar_rows += batch.columnar_rows
        ids = coded.subjects(rows)
        view = views.get(period)
        if view is None:
            view = views[period] = PeriodView(codes, names)
        gone = _batch_rejections(batch, ids)
        for subject, diagnostics in gone.items():
            rejected.append(Rejection(subject, period, diagnostics))
            view[subject] = RelatedResult(subject, note=REJECTED, name=province.name_of(subject))
        kept_rows: list[int] = rows.tolist()
        kept = ids
        if gone:
            kept_rows = [i for i, s in zip(kept_rows, ids) if s not in gone]
            kept = [s for s in ids if s not in gone]
        assert len(batch) == len(kept), "a batch gives one result per accepted record"
        # Years and quota read the batch's columns (year_columns.py): no Result per row here.
        results.batches.append(batch)
        results.add(batch, kept, period)
        view.add_rows(kept, kept_rows, batch)
        if progress is not None:
            progress(len(rows))
    timings["batch"] = time.perf_counter() - start
    start = time.perf_counter()
    one_by_one: dict[str, dict[str, int]] = {}
    minus = np.flatnonzero(route < 0)
    labels = coded.labels
    for i, p in zip(minus.tolist(), coded.period[minus].tolist()):
        one_by_one.setdefault(labels[p], {})[coded.subject_of(i)] = i
    rows_py = _LazyRows(records, minus)
    relations = {role: tuple(rr.rules.plan.checked.subject.relations) for role, rr in bundle.roles.items()}
    derived = {} if not only_related_fields(bundle) else {
        role: d for role, rr in bundle.roles.items() if (d := relation_plan(rr.rules.plan)) is not None}
    # the subjects of each dependency layer, in evaluation order, as codes
    if ordered is not None:
        layer_of = ordered.depth[ordered.codes]
        layer_codes = {layer: ordered.codes[layer_of == layer] for layer in np.unique(layer_of).tolist()}
    else:
        layers = _layers(bundle, province, order, related)
        layered: dict[int, list[str]] = {}
        for subject in order:
            layered.setdefault(layers.get(subject, 0), []).append(subject)
        layer_codes = {layer: np.fromiter((codes.code[s] for s in members), np.int64, len(members))
                       for layer, members in layered.items()}
    subject_ids = codes.ids
    state = _RecordState(bundle, province, relations, rows_py, parts, names, inputs, explain, results,
                         typed_records, rejected, notes, progress, records, related)
    state.lang = lang
    for period in labels:
        view = views.get(period)
        if view is None:
            view = views[period] = PeriodView(codes, names)
        rows_here = one_by_one.get(period, {})
        for layer in sorted(layer_codes):
            together: dict[str, list[tuple[str, int]]] = {}
            in_layer = layer_codes[layer]
            # those of the layer not yet in the view (not rated in a batch), in order
            for c in in_layer[~view.columnar[in_layer]].tolist():
                subject = subject_ids[c]
                if subject in view.eager:
                    continue
                role = province.role_of(subject) or ""
                rules = bundle.rules_for(role)
                found = rows_here.get(subject)
                if rules is None or found is None:
                    view[subject] = RelatedResult(subject, note=NO_RULES if rules is None else NO_RECORD,
                                                  name=province.name_of(subject))
                    continue
                i = found
                if role in derived and plain[i] and all(view.all_ok(related.of(subject, rel.name))
                                                        for rel in relations[role]):
                    together.setdefault(role, []).append((subject, i))
                    continue
                state.one(subject, i, period, view)
            for role, members in together.items():
                rules = bundle.rules_for(role)
                assert rules is not None
                columnar_rows += state.related_batch(rules, derived[role], members, period, view, chunk_size)
    timings["records"] = time.perf_counter() - start
    start = time.perf_counter()
    years, quota, stages = combine_and_rank_columns(bundle, province, results.batches, results.eager) \
        if results.from_batches() else combine_and_rank(bundle, province, results)
    timings["years_quota"] = time.perf_counter() - start
    periods = tuple(labels)
    outcome = ProvinceResult(province, bundle, periods, results,
                             LeaderRecords(typed_records, state.leaders) if state.leaders
                             else MappingProxyType(typed_records),
                             # (YearResults is a read-only mapping already; kept as itself so the
                             # year lines can be written from its columns: kpi_rules.year_lines)
                             years if isinstance(years, YearResults) else MappingProxyType(years),
                             tuple(rejected), tuple(notes), order, quota, MappingProxyType(stages))
    return TablesRun(outcome, timings, batches, columnar_rows, len(results) - columnar_rows, explain, lang,
                     state.leaders)


class _RecordState:
    """Rates the subjects of roles that read relations: one by one, or in a batch of a layer."""

    def __init__(self, bundle: Bundle, province: Any, relations: Mapping[str, tuple[nodes.RelationDecl, ...]],
                 rows: Mapping[int, dict[str, Any]], parts: _Parts, names: RowNames, inputs: tuple[str, ...],
                 explain: bool, results: _Results,
                 typed_records: dict[tuple[str, str], SubjectRecord], rejected: list[Rejection],
                 notes: list[Diagnostic], progress: Callable[[int], None] | None, records: Any,
                 related: RelatedCodes) -> None:
        self.bundle, self.province, self.relations, self.rows = bundle, province, relations, rows
        self.parts, self.names, self.inputs, self.explain = parts, names, inputs, explain
        self.results, self.typed_records = results, typed_records
        self.rejected, self.notes, self.progress = rejected, notes, progress
        self.records, self.related = records, related
        #: With explanations: the language, and the batches of related subjects to explain.
        self.lang = "vi"
        self.leaders: list[LeaderBatch] = []

    def one(self, subject: str, i: int, period: str, view: PeriodView) -> None:
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
        self.typed_records[key] = typed
        rated = result.status == "rated"
        view[subject] = RelatedResult(subject, result.total, result.level, rated, typed.inputs,
                                      None if rated else INSUFFICIENT, name)

    def related_batch(self, rules: RuleSet, derived: Plan, members: list[tuple[str, int]], period: str,
                      view: PeriodView, chunk_size: int) -> int:
        """Rate subjects of one role and one dependency layer in one columnar batch of ``derived``
        (their relations as list inputs of related results, every one rated). A record the batch
        rejects is rated again one by one, so its diagnostics are those of the JSON run. Returns
        the number of rows the columns decided."""
        found = self._batch_of_columns(rules, derived, members, view, chunk_size)
        aside: set[str] = set()
        batched = members
        if found is None:
            batch = self._batch_of_dicts(rules, derived, members, view, chunk_size)
        else:
            batch, aside, batched = found
        gone = set(batch.rejected_ids)
        kept = [(s, i) for s, i in batched if s not in gone]  # in the batch's order
        assert len(batch) == len(kept), "a batch gives one result per accepted record"
        if self.explain:
            self.leaders.append(_leader_batch(self, rules, batch, kept, period, view))
        self.results.batches.append(batch)
        position_of = {s: k for k, (s, _) in enumerate(kept)}
        # results in the order of the layer, as rated one by one
        placed = [(s, position_of[s]) for s, _ in members if s in position_of]
        self.results.add(batch, [s for s, _ in placed], period, [k for _, k in placed])
        view.add_rows([s for s, _ in kept], [i for _, i in kept], batch)
        for subject, i in members:
            if subject in gone or subject in aside:
                self.one(subject, i, period, view)
        if self.progress is not None:
            self.progress(len(kept))
        return batch.columnar_rows

    def _batch_of_columns(self, rules: RuleSet, derived: Plan, members: list[tuple[str, int]], view: PeriodView,
                          chunk_size: int) -> tuple[BatchResult, set[str], list[tuple[str, int]]] | None:
        """The leaders' batch from tables: the records rows, their own items (held as dicts for
        the records rated one by one) and each relation as an item table of the related
        subjects' columns (exact totals). Also the members left aside, to rate one by one: those
        with an item field their rule set does not declare (which the record checks reject), and
        the members batched, in the batch's order: by id (increasing ids prove the batch has no
        duplicate without hashing them). None when the rule set has several lists of its own or
        the items do not make a table."""
        import pyarrow as pa

        plan = rules.plan
        own = _list_names(plan)
        if len(own) > 1:
            return None
        role = self.province.role_of(members[0][0]) or ""
        aside: set[str] = set()
        items: dict[str, Any] = {}
        if own:
            list_decl = plan.inputs[own[0]].type
            assert isinstance(list_decl, nodes.ListType)
            declared = [d.name for d in plan.checked.records[list_decl.item].inputs]
            rows = np.fromiter((i for _, i in members), np.int64, len(members))
            found = self.parts.listed.table(rows, declared)
            if found is None:
                return None
            table, at, undeclared = found
            # A member with an item field its rule set does not declare is rated one by one.
            aside.update(members[k][0] for k in np.flatnonzero(undeclared).tolist())
            if undeclared.any():
                keep = ~undeclared[at]
                table, at = table.filter(pa.array(keep)), at[keep]
            subjects = np.array([s for s, _ in members], dtype=object)
            items[own[0]] = table.add_column(0, "id", pa.array(subjects[at], pa.string()))
        batched = sorted(((s, i) for s, i in members if s not in aside), key=lambda m: m[0])
        owners = [s for s, _ in batched]
        for rel in self.relations[role]:
            items[rel.name] = view.items_table(owners, [self.related.of(s, rel.name) for s in owners])
        persons = _persons(self.records, np.fromiter((i for _, i in batched), np.int64, len(batched)), derived,
                           self.names, self.inputs)
        batch = RuleSet(derived, rules.catalogue).evaluate_batch(persons, items=items, explain=self.explain,
                                                                 lang=self.lang, chunk_size=max(chunk_size, len(batched)))
        return batch, aside, batched

    def _batch_of_dicts(self, rules: RuleSet, derived: Plan, members: list[tuple[str, int]], view: PeriodView,
                        chunk_size: int) -> BatchResult:
        """The leaders' batch from record dicts, related results as item dicts (when
        :meth:`_batch_of_columns` cannot: several lists of the rule set's own, or items that
        make no table)."""
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
        return RuleSet(derived, rules.catalogue).evaluate_batch(raws, explain=self.explain, lang=self.lang,
                                                                chunk_size=max(chunk_size, len(raws)))


def _leader_batch(state: _RecordState, rules: RuleSet, batch: BatchResult, kept: list[tuple[str, int]],
                  period: str, view: PeriodView) -> LeaderBatch:
    """What explains the subjects of a related batch: their related results as the record path
    gives them to the record (read from ``view`` when asked), and their records rebuilt."""
    province, bundle, plan = state.province, state.bundle, rules.plan
    relations = state.relations.get(province.role_of(kept[0][0]) or "", ()) if kept else ()
    row_of = dict(kept)

    def related(subject: str) -> dict[str, tuple[RelatedResult, ...] | RelatedResult | None]:
        out: dict[str, tuple[RelatedResult, ...] | RelatedResult | None] = {}
        for rel in relations:
            ids = province.related_ids(subject, rel.name, bundle.settings)
            if isinstance(ids, tuple):
                out[rel.name] = tuple(view[x] for x in ids)
            else:
                out[rel.name] = view[ids] if ids is not None else None
        return out

    def record(subject: str) -> SubjectRecord:
        i = row_of[subject]
        typed = rules.record(_raw_record(state.rows[i], plan, state.names[i], state.inputs,
                                         state.parts.listed.get(i, []), state.parts.text))
        return dataclasses.replace(typed, related=MappingProxyType(related(subject)), period=period)

    return LeaderBatch(plan, period, batch, [s for s, _ in kept], related, record, view, state.related.of)


class _LazyRows(Mapping[int, dict[str, Any]]):
    """The records rows of the subjects rated one by one, as dicts, read on first use (the
    leaders' batches read the records table itself)."""

    def __init__(self, records: Any, rows: np.ndarray[Any, Any]) -> None:
        self.records, self.rows = records, rows
        self._rows: dict[int, dict[str, Any]] | None = None

    def _all(self) -> dict[int, dict[str, Any]]:
        if self._rows is None:
            self._rows = dict(zip(self.rows.tolist(), self.records.take(self.rows).to_pylist())) \
                if len(self.rows) else {}
        return self._rows

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self._all()[i]

    def __iter__(self) -> Iterator[int]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self.rows)


def _layers(bundle: Bundle, province: Any, order: tuple[str, ...], related: RelatedCodes) -> dict[str, int]:
    """Dependency depth of each subject: 0 reads nobody, else one more than the deepest it reads.
    Subjects of one layer never read each other, so a layer can be rated at once."""
    depth: dict[str, int] = {}
    relations = {role: rr.rules.plan.checked.subject.relations for role, rr in bundle.roles.items()}
    codes = related.codes
    deep = np.zeros(codes.size, dtype=np.int64)  # depth by subject code, for list relations
    for subject in order:
        deepest = -1
        for rel in relations.get(province.role_of(subject) or "", ()):
            many = related.of(subject, rel.name)
            if many is not None:
                if len(many):
                    deepest = max(deepest, int(deep[many].max()))
                continue
            other = province.related_ids(subject, rel.name, bundle.settings)
            if other is not None:
                deepest = max(deepest, depth.get(other, 0))
        depth[subject] = deepest + 1
        k = codes.code.get(subject)
        if k is not None:
            deep[k] = deepest + 1
    return depth


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


# --------------------------------------------------------------------------- items


def _group_feeds(bundle: Bundle, tables: ProvinceTables, groups: Mapping[tuple[str, str], int],
                 route: np.ndarray[Any, Any], names: RowNames, inputs: tuple[str, ...], explain: bool,
                 lang: str, advice: bool) -> dict[int, _Feed]:
    """Each batch group's rows and persons, and the batch its items will be pushed into."""
    records = tables.records
    by_group = np.argsort(route, kind="stable")
    bounds = np.searchsorted(route[by_group], np.arange(len(groups) + 1))
    feeds: dict[int, _Feed] = {}
    for (role, _), g in groups.items():
        rows = by_group[bounds[g]:bounds[g + 1]]
        rules = bundle.rules_for(role)
        assert rules is not None
        persons = _persons(records, rows, rules.plan, names, inputs)
        # The rule set, not its plan: a bound catalogue's product checks apply as record by record.
        folder = start_batch(rules, persons, explain=explain, lang=lang, advice=advice) \
            if _list_names(rules.plan) else None
        feeds[g] = _Feed(rows, persons, folder)
    return feeds


def _partition_items(tables: ProvinceTables, coded: RecordCodes, subject_code: Mapping[str, int],
                     route: np.ndarray[Any, Any], groups: Mapping[tuple[str, str], int], feeds: Mapping[int, _Feed], chunk_size: int) -> _Parts:
    """One pass over the items: each chunk's items of a batch group pushed into the group's
    batch (owners known as records rows: no id is matched again), the items of records rated one
    by one kept as lists, and the (subject, period) of items whose record does not exist (a
    record rejected at load has its items dropped with it). Then each batch is closed, and when
    some of their rows go record by record the items file is read once more for those rows."""
    import pyarrow as pa

    parts = _Parts(dict(feeds), ListedItems(), [])
    if tables.items is None:
        for feed in feeds.values():
            if feed.folder is not None:
                feed.folder.close()
        return parts
    parts.text = tables.items.suffix.lower() == ".csv"
    locate = _Locate(coded, subject_code, route, str(tables.items))
    local = np.full(coded.size, -1, dtype=np.int64)  # records row -> row in its group's batch
    for feed in feeds.values():
        local[feed.rows] = np.arange(len(feed.rows), dtype=np.int64)
    rejected_keys = {(r.subject, r.period) for r in tables.rejected}
    orphans: dict[tuple[str, str], None] = {}
    for batch in iter_item_batches(tables.items, chunk_size):
        row, target, shaped = locate(batch)
        for g in _present(target):
            mask = target == g
            if g == -2:
                subject, period = (batch.column(batch.schema.get_field_index(k)) for k in ITEM_KEYS)
                picked = pa.array(mask)
                for s, p in zip(subject.filter(picked).to_pylist(), period.filter(picked).to_pylist()):
                    if (s, p) not in rejected_keys:
                        orphans.setdefault((str(s), str(p)), None)
            elif g == -1:
                parts.listed.add(shaped.filter(pa.array(mask)), row[mask])
            else:
                folder = feeds[g].folder
                if folder is not None:
                    every = bool(mask.all())
                    folder.feed(shaped if every else shaped.filter(pa.array(mask)),
                                owners=local[row] if every else local[row[mask]])
    parts.orphans = list(orphans)
    wanted = np.zeros(coded.size, dtype=np.bool_)
    for feed in feeds.values():
        if feed.folder is not None:
            wanted[feed.rows[feed.folder.close()]] = True
    if wanted.any():
        # Rows going record by record need their items as lists: one more pass, for them only.
        for batch in iter_item_batches(tables.items, chunk_size):
            row, target, shaped = locate(batch)
            hit = (target >= 0) & wanted[np.maximum(row, 0)]
            for g in _present(target[hit]):
                mask = hit & (target == g)
                folder = feeds[g].folder
                if folder is not None:
                    folder.refeed(shaped.filter(pa.array(mask)), owners=local[row[mask]])
    return parts


class _Locate:
    """The records row (-1: none) and batch group (-1: rated one by one, -2: no record) of each
    item of a chunk, and the chunk's item fields (without ``subject`` and ``period``)."""

    def __init__(self, coded: RecordCodes, subject_code: Mapping[str, int], route: np.ndarray[Any, Any],
                 where: str) -> None:
        # (subject, period) -> records row, as a dense table over subject and period codes
        self.subject_code = subject_code
        self.period_code = {p: k for k, p in enumerate(coded.labels)}
        self.row_table = np.full((len(coded.ids), max(1, len(coded.labels))), -1, dtype=np.int64)
        known = coded.subject >= 0
        self.row_table[coded.subject[known], coded.period[known]] = np.flatnonzero(known)
        self.route = route
        self.where = where

    def __call__(self, batch: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], Any]:
        names = batch.schema.names
        missing = [c for c in ITEM_KEYS if c not in names]
        if missing:
            raise DiagnosticError([Diagnostic("KR731", "the items table has no column "
                                              + ", ".join(f"`{c}`" for c in missing), where=self.where)])
        si = lookup_codes(batch.column(names.index("subject")), self.subject_code)
        pi = lookup_codes(batch.column(names.index("period")), self.period_code)
        known = (si >= 0) & (pi >= 0)
        row = np.where(known, self.row_table[np.maximum(si, 0), np.maximum(pi, 0)], -1)
        target = np.where(row >= 0, self.route[np.maximum(row, 0)], -2)
        shaped = batch.select([k for k, n in enumerate(names) if n not in ITEM_KEYS])
        return row, target, shaped


def _present(target: np.ndarray[Any, Any]) -> list[int]:
    """The distinct values (from -2 up) of a chunk's item targets, with a count instead of a sort."""
    if not len(target):
        return []
    return (np.flatnonzero(np.bincount(target + 2)) - 2).tolist()


# --------------------------------------------------------------------------- records


def _persons(records: Any, rows: np.ndarray[Any, Any], plan: Plan, names: RowNames,
             inputs: tuple[str, ...]) -> Any:
    """The batch table of a group: ``id``, ``name``, ``period`` and the inputs its rule set declares."""
    import pyarrow as pa

    taken = records.take(pa.array(rows))
    declared = {d.name for d in plan.checked.subject.inputs if not isinstance(d.type, nodes.ListType)}
    columns: dict[str, Any] = {"id": taken.column("subject"), "period": taken.column("period"),
                               "name": names.take(rows)}
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
