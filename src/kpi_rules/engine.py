"""The library's façade: load a rule set once, then rate and explain records with it.

>>> import kpi_rules
>>> rules = kpi_rules.load("criteria/nd335/individual.kpi")   # doctest: +SKIP
>>> result = rules.evaluate({"id": "cc-1", "inputs": {...}})   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kpi_rules.batch import DEFAULT_CHUNK, BatchResult, evaluate_batch
from kpi_rules.diagnostics import Diagnostic, DiagnosticError
from kpi_rules.catalogue import Catalogue, catalogue_reads, check_products, load_catalogue
from kpi_rules.evaluator import EvaluationError, evaluate_record
from kpi_rules.fastpath import evaluate_fast, fast_plan_for
from kpi_rules.explainer import explain as explain_result
from kpi_rules.loader import compile_source, load_plan
from kpi_rules.models import Explanation
from kpi_rules.plan import Plan
from kpi_rules.records import coerce_record, coerce_records, load_record_data
from kpi_rules.results import Result, SubjectRecord
from kpi_rules.source import SourceFile
from kpi_rules.trace import FullTracer


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """Results of a batch: every record is either rated (or insufficient data) or rejected."""

    results: tuple[Result, ...]
    #: Problems of rejected records; each diagnostic names the record id in ``where``.
    rejected: tuple[Diagnostic, ...]
    rejected_ids: tuple[str, ...]

    @property
    def rated(self) -> tuple[Result, ...]:
        return tuple(r for r in self.results if r.status == "rated")


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A compiled rule set: compile once, evaluate many times."""

    plan: Plan
    #: The bound product catalogue (``load(..., catalogue=...)``): record product codes are checked against it.
    catalogue: Catalogue | None = None

    @property
    def id(self) -> str:
        return self.plan.provenance.ruleset_id

    @property
    def version(self) -> str:
        return self.plan.provenance.version

    @property
    def content_hash(self) -> str:
        return self.plan.provenance.content_hash

    def record(self, raw: Mapping[str, object] | SubjectRecord) -> SubjectRecord:
        """Check and convert one raw record (DiagnosticError lists every problem in it)."""
        record = raw if isinstance(raw, SubjectRecord) else coerce_record(raw, self.plan.checked)
        problems = self._product_problems(record)
        if problems:
            raise DiagnosticError(problems)
        return record

    def _product_problems(self, record: SubjectRecord) -> list[Diagnostic]:
        if self.catalogue is None:
            return []
        reads = catalogue_reads(self.plan.ruleset)
        return check_products(record, self.catalogue, reads, self.plan.default_day())

    def evaluate(self, raw: Mapping[str, object] | SubjectRecord) -> Result:
        """Rate one record. Raises DiagnosticError for a bad record or a run-time problem."""
        record = self.record(raw)
        try:
            return evaluate_fast(self.plan, record, fast_plan_for(self.plan))
        except EvaluationError as error:
            raise DiagnosticError([error.diagnostic]) from None

    def evaluate_batch(self, data: object, *, items: object = None, explain: bool = False,
                       lang: str = "vi", chunk_size: int = DEFAULT_CHUNK) -> BatchResult:
        """Rate many records over columns (see :func:`kpi_rules.batch.evaluate_batch`): dicts,
        data frames, Arrow tables, CSV or Parquet files; the same outcome as :meth:`evaluate_many`."""
        check = self._product_problems if self.catalogue is not None else None
        return evaluate_batch(self.plan, data, items=items, explain=explain, lang=lang,
                              chunk_size=chunk_size, record_check=check)

    def evaluate_many(self, raws: Iterable[object], *,
                      progress: Callable[[int], None] | None = None) -> BatchOutcome:
        """Rate many records in order; a bad record is reported with its id, the others are rated.

        Items are raw mappings (as read from JSON/YAML) or :class:`SubjectRecord` values; anything
        else is rejected as an invalid record, never silently skipped. ``progress(n)`` is called
        as records are done (see :mod:`kpi_rules.progress`).
        """
        items = list(raws)
        batch = coerce_records(items, self.plan.checked)
        results: list[Result] = []
        rejected = list(batch.rejected)
        rejected_ids = list(batch.rejected_ids)
        if progress is not None and len(items) > len(batch.records):
            progress(len(items) - len(batch.records))  # rejected before rating
        for record in batch.records:
            if progress is not None:
                progress(1)
            problems = self._product_problems(record)
            if problems:
                rejected.extend(problems)
                rejected_ids.append(record.id)
                continue
            try:
                results.append(evaluate_record(self.plan, record))
            except EvaluationError as error:
                rejected.append(error.diagnostic)
                rejected_ids.append(record.id)
        return BatchOutcome(tuple(results), tuple(rejected), tuple(rejected_ids))

    def explain(self, raw: Mapping[str, object] | SubjectRecord, lang: str = "vi") -> Explanation:
        """Rate one record with a full trace and explain the result."""
        record = self.record(raw)
        try:
            result = evaluate_record(self.plan, record, FullTracer())
        except EvaluationError as error:
            raise DiagnosticError([error.diagnostic]) from None
        return explain_result(result, self.plan, lang, record=record)


def load(
    path: str | Path,
    *,
    catalogue: str | Path | Catalogue | None = None,
    search_path: Sequence[str | Path] = (),
) -> RuleSet:
    """Load, check and compile a rule file (``.kpi`` or ``.yaml``). Raises DiagnosticError.

    A rule file that ``extends`` another is merged onto it (the parent is looked up beside the
    file, in ``search_path``, then under ``criteria/``); ``catalogue`` (a catalogue file, see
    ``docs/catalogue.md``) supplies the rows of the rule set's ``catalogue`` table.
    """
    bound = _catalogue(catalogue)
    return RuleSet(load_plan(path, bound, search_path), bound)


def loads(
    text: str,
    path: str = "<string>.kpi",
    *,
    catalogue: str | Path | Catalogue | None = None,
    search_path: Sequence[str | Path] = (),
) -> RuleSet:
    """Like :func:`load`, from text; ``path`` names the source in diagnostics and picks the form."""
    bound = _catalogue(catalogue)
    return RuleSet(compile_source(SourceFile(path, text), bound, search_path), bound)


def _catalogue(catalogue: str | Path | Catalogue | None) -> Catalogue | None:
    if catalogue is None or isinstance(catalogue, Catalogue):
        return catalogue
    return load_catalogue(catalogue)


def read_records(path: str | Path) -> list[object]:
    """Read raw records from a JSON or YAML file (DiagnosticError for an unreadable file)."""
    return load_record_data(path)
