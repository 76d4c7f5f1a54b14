"""Explanations of the columnar province run in bulk (used by :mod:`kpi_rules.province_batch`).

The staff period lines come from the batches' columns (``BatchResult.explanation_lines``). Leaders
and units rated in one columnar batch of their *derived* plan (``relation_plan.py``: relations as
list inputs of related results) are explained from that batch too: the derived plan shares every
expression node with the role's own plan, so the batch's trace and lines are those of the record
path, save the ``related`` part (the derived record has no related subjects), which is written
from the period view's columns (:mod:`kpi_rules.related_lines`: each related subject's JSON made
once per period for every leader reading it; the bytes of
:func:`kpi_rules.explain_parts.related_json`) and spliced into the batch's line as bytes.
``tests/test_explain_parts.py`` and ``tests/test_related_lines.py`` compare every such line with
the record path's.

What needs the record itself (the next-level advice, which rates it again, and the pydantic
models of :meth:`~kpi_rules.province_batch.TablesRun.explanations`) rebuilds it and rates it one
by one with a full trace, exactly as the record path does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any, BinaryIO

from kpi_rules.explain_parts import related_json
from kpi_rules.explain_plan import explanation_json, skeleton_for
from kpi_rules.year_columns import YearResults
from kpi_rules.year_lines import YearLineCache, write_year_rows
from kpi_rules.related_lines import TextsCache, related_lines

if TYPE_CHECKING:
    import numpy as np

    from kpi_rules.batch import BatchResult
    from kpi_rules.explain_workers import Piece
    from kpi_rules.models import Explanation
    from kpi_rules.plan import Plan
    from kpi_rules.province import ProvinceResult
    from kpi_rules.province_batch import TablesRun
    from kpi_rules.related_view import PeriodView
    from kpi_rules.results import RelatedResult, Result, SubjectRecord

__all__ = ["LeaderBatch", "LeaderRecords", "Related", "explanation_pieces", "write_leader_lines", "write_year_lines"]

Related = Mapping[str, "tuple[RelatedResult, ...] | RelatedResult | None"]

_EMPTY_BYTES = b',"related":[]'
#: Key of the period view's related texts in a cache of :meth:`LeaderBatch.line_bytes`.
_TEXTS = "related_texts"


@dataclass
class LeaderBatch:
    """Subjects of one role, period and dependency layer rated in one columnar batch (with
    ``explain=True``) of the role's derived plan."""

    #: The role's own plan (what the record path explains with).
    plan: Plan
    period: str
    batch: BatchResult
    #: The batch's accepted rows, in its order.
    subjects: list[str]
    #: The related results a subject was rated with (``SubjectRecord.related`` of the record path).
    related: Callable[[str], Related]
    #: The subject's typed record with its related results (rebuilt, for the advice and models).
    record: Callable[[str], SubjectRecord]
    #: The period's view of related results and the codes of a subject's related subjects by
    #: relation (``RelatedCodes.of``): the ``related`` parts are written from the view's columns
    #: (:mod:`kpi_rules.related_lines`). Without them, through :attr:`related`.
    view: PeriodView | None = None
    codes: Callable[[str, str], np.ndarray[Any, Any] | None] | None = None

    def lines(self, lang: str, *, advice: bool = False, cache: dict[Any, Any] | None = None) -> Iterator[str]:
        """One JSON line per subject: ``explanation_json`` of the record path, byte for byte
        (:meth:`line_bytes` decoded, or with the advice rated again one by one)."""
        if advice:
            for subject in self.subjects:
                result, record = self.traced(subject)
                yield explanation_json(result, self.plan, lang, record=record, advice=True) + "\n"
            return
        for line in self.line_bytes(lang, cache=cache):
            yield line.decode()

    def line_bytes(self, lang: str, *, cache: dict[Any, Any] | None = None) -> Iterator[bytes]:
        """The lines without the advice as UTF-8 bytes: the batch's own lines
        (``explanation_bytes``) with each subject's ``related`` list spliced in. ``cache``: what
        is shared across batches (the period view's related texts; the related subjects' JSON
        by plan for batches without a view)."""
        if cache is None:
            cache = {}
        skel = skeleton_for(self.plan, lang)
        related: Iterable[list[bytes]] | None = None
        if self.view is not None and self.codes is not None:
            texts = cache.get(_TEXTS)
            if texts is None:
                texts = cache[_TEXTS] = TextsCache()
            related = related_lines(skel, self.plan, self.view, self.subjects, self.codes, texts)
        if related is None:
            by_plan = cache.setdefault(id(self.plan), {})
            related = ([related_json(skel, self.plan, self.related(subject), by_plan).encode()]
                       for subject in self.subjects)
        size = len(_EMPTY_BYTES)
        for subject, line, pieces in zip(self.subjects, self.batch.explanation_bytes(), related, strict=True):
            cut = line.rfind(_EMPTY_BYTES)
            if cut < 0:
                raise AssertionError(f"the batch line of `{subject}` has no empty `related` list")
            view = memoryview(line)  # (the line is copied once, into the joined one)
            yield b"".join([view[:cut], b',"related":', *pieces, view[cut + size:]])

    def explanations(self, lang: str) -> Iterator[Explanation]:
        """The explanations as ``explain`` gives them for the record path (advice included)."""
        from kpi_rules.explainer import explain

        for subject in self.subjects:
            result, record = self.traced(subject)
            yield explain(result, self.plan, lang, record=record)

    def traced(self, subject: str) -> tuple[Result, SubjectRecord]:
        """The subject rated again one by one with a full trace, as the record path rates it."""
        from kpi_rules.evaluator import evaluate_record
        from kpi_rules.trace import FullTracer

        record = self.record(subject)
        return evaluate_record(self.plan, record, FullTracer()), record


class LeaderRecords(Mapping[tuple[str, str], "SubjectRecord"]):
    """The typed records of a run with explanations (``ProvinceResult.records``): those rated one
    by one, then those of the :class:`LeaderBatch` es, rebuilt when asked for (as the record path
    kept them: with their related results)."""

    def __init__(self, eager: Mapping[tuple[str, str], SubjectRecord], leaders: list[LeaderBatch]) -> None:
        self.eager = eager
        self.batched = {(subject, b.period): b for b in leaders for subject in b.subjects}

    def __getitem__(self, key: tuple[str, str]) -> SubjectRecord:
        found = self.eager.get(key)
        if found is not None:
            return found
        return self.batched[key].record(key[0])

    def __contains__(self, key: object) -> bool:
        return key in self.eager or key in self.batched

    def __iter__(self) -> Iterator[tuple[str, str]]:
        yield from self.eager
        yield from (key for key in self.batched if key not in self.eager)

    def __len__(self) -> int:
        return len(self.eager) + sum(1 for key in self.batched if key not in self.eager)


def write_leader_lines(out: BinaryIO, leaders: list[LeaderBatch], lang: str, *, advice: bool = False,
                       caches: dict[Any, Any] | None = None) -> int:
    """The lines of every :class:`LeaderBatch`, in order, as UTF-8 bytes; returns how many. The
    JSON of a related subject is made once per period (a civil servant is read by several
    leaders; ``caches``: to share it across calls)."""
    if caches is None:
        caches = {}
    write = out.write
    count = 0
    for batch in leaders:
        lines = (line.encode() for line in batch.lines(lang, advice=True)) if advice \
            else batch.line_bytes(lang, cache=caches)
        for data in lines:
            write(data)
            count += 1
    return count


def write_year_lines(out: BinaryIO, outcome: ProvinceResult, plans: Mapping[str, Plan], lang: str, *,
                     advice: bool = False, keys: Iterable[tuple[str, str]] | None = None,
                     rows: tuple[int, int] | None = None, cache: YearLineCache | None = None) -> int:
    """The explanation of every year (or half-year) result of ``outcome`` as a JSON line, in the
    order of ``outcome.years`` (or of those of ``keys``, or its rows ``rows``: start, stop); returns
    how many. A year has no record (``advice`` changes nothing): the combined periods, the decision
    and its quota part are filled from the skeleton (:mod:`kpi_rules.explain_parts`); the years of a
    columnar run are written in blocks from their columns (:mod:`kpi_rules.year_lines`;
    ``cache``: its writers, kept across calls)."""
    table = _year_rows(outcome) if keys is None else None
    if table is not None:
        start, stop = rows if rows is not None else (0, len(table))
        return write_year_rows(out, table, plans, lang, start, stop, cache)
    role_of = outcome.province.role_of
    years = outcome.years
    if rows is not None:
        keys = list(islice(years, rows[0], rows[1]))
    chosen = years.items() if keys is None else ((key, years[key]) for key in keys)
    write = out.write
    count = 0
    for (subject, _), result in chosen:
        write((explanation_json(result, plans[role_of(subject) or ""], lang, advice=advice) + "\n").encode())
        count += 1
    return count


def _year_rows(outcome: ProvinceResult) -> YearResults | None:
    """The columnar year rows of ``outcome`` (None: its years are a plain mapping)."""
    years = outcome.years
    return years if isinstance(years, YearResults) else None


# --------------------------------------------------------------------------- parts, for workers

#: Estimated cost of a line (µs, measured on the generated provinces of bench/province_scale.py),
#: to split the lines of :func:`~kpi_rules.province_batch.write_explanations` among workers.
STAFF_COST, LEADER_COST, RECORD_COST, YEAR_COST = 12.0, 70.0, 600.0, 15.0
#: A year line built from its ``Result`` (years that are not columnar rows).
YEAR_RESULT_COST = 200.0
#: Records rated one by one, and years, are cut into pieces of this many lines.
PIECE_LINES = 1024


def explanation_pieces(run: TablesRun, *, advice: bool = False) -> tuple[list[Piece], list[float]]:
    """The lines of :func:`~kpi_rules.province_batch.write_explanations` as pieces in output order
    (staff batches, leader batches, records rated one by one, years), with their estimated costs:
    for :func:`kpi_rules.explain_workers.write_pieces`."""
    from kpi_rules.explain_plan import explanation_lines

    outcome, lang = run.outcome, run.lang
    plans = {role: rr.rules.plan for role, rr in outcome.bundle.roles.items()}
    pieces: list[Piece] = []
    costs: list[float] = []
    # With the advice every line rates its record again: about a record's cost each.
    staff_cost = RECORD_COST if advice else STAFF_COST
    leader_cost = RECORD_COST if advice else LEADER_COST

    def staff(batch: BatchResult) -> Piece:
        # Written as UTF-8 bytes: the staff lines are joined as bytes from the columns
        # (``explanation_bytes``), about twice as fast as text through a text file.
        def write(out: BinaryIO) -> int:
            lines = (line.encode() for line in batch.explanation_lines(advice=True)) if advice \
                else batch.explanation_bytes()
            count = 0
            for data in lines:
                out.write(data)
                count += 1
            return count
        return write

    for batch in run.batches.values():
        pieces.append(staff(batch))
        costs.append(staff_cost * len(batch))

    caches: dict[int, dict[int, tuple[RelatedResult, str]]] = {}  # (one per process)
    def leader(chosen: LeaderBatch) -> Piece:
        return lambda out: write_leader_lines(out, [chosen], lang, advice=advice, caches=caches)

    for leaders in run.leaders:
        pieces.append(leader(leaders))
        costs.append(leader_cost * len(leaders.subjects))

    led = {(subject, b.period) for b in run.leaders for subject in b.subjects}
    records = [key for key in outcome.records if key not in led]  # (a leader's record is rebuilt when read)

    def one_by_one(keys: list[tuple[str, str]]) -> Piece:
        def write(out: BinaryIO) -> int:
            count = 0
            for key in keys:
                plan = plans[outcome.province.role_of(key[0]) or ""]
                for line in explanation_lines([(outcome.results[key], outcome.records[key])], plan, lang,
                                              advice=advice):
                    out.write(line.encode())
                    count += 1
            return count
        return write

    for start in range(0, len(records), PIECE_LINES):
        part = records[start:start + PIECE_LINES]
        pieces.append(one_by_one(part))
        costs.append(RECORD_COST * len(part))

    rows = _year_rows(outcome)
    if rows is not None:  # written from the year columns, a range of rows a piece
        year_cache: YearLineCache = {}  # (one per process)

        def year_rows(start: int, stop: int) -> Piece:
            return lambda out: write_year_lines(out, outcome, plans, lang, rows=(start, stop), cache=year_cache)

        for start in range(0, len(rows), PIECE_LINES):
            stop = min(len(rows), start + PIECE_LINES)
            pieces.append(year_rows(start, stop))
            costs.append(YEAR_COST * (stop - start))
        return pieces, costs
    years = list(outcome.years)
    if years:
        _ = years[0] in outcome.years  # the key index, made once before the workers start
    def year(keys: list[tuple[str, str]]) -> Piece:
        return lambda out: write_year_lines(out, outcome, plans, lang, advice=advice, keys=keys)

    for start in range(0, len(years), PIECE_LINES):
        part = years[start:start + PIECE_LINES]
        pieces.append(year(part))
        costs.append(YEAR_RESULT_COST * len(part))
    return pieces, costs
