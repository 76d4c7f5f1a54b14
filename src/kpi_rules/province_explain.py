"""Explanations of the columnar province run in bulk (used by :mod:`kpi_rules.province_batch`).

The staff period lines come from the batches' columns (``BatchResult.explanation_lines``). Leaders
and units rated in one columnar batch of their *derived* plan (``relation_plan.py``: relations as
list inputs of related results) are explained from that batch too: the derived plan shares every
expression node with the role's own plan, so the batch's trace and lines are those of the record
path, save the ``related`` part (the derived record has no related subjects), which is written
from the related results the batch was given (:func:`kpi_rules.explain_parts.related_json`) and
spliced in. ``tests/test_explain_parts.py`` compares every such line with the record path's.

What needs the record itself (the next-level advice, which rates it again, and the pydantic
models of :meth:`~kpi_rules.province_batch.TablesRun.explanations`) rebuilds it and rates it one
by one with a full trace, exactly as the record path does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from kpi_rules.explain_parts import related_json
from kpi_rules.explain_plan import explanation_json, skeleton_for

if TYPE_CHECKING:
    from kpi_rules.batch import BatchResult
    from kpi_rules.models import Explanation
    from kpi_rules.plan import Plan
    from kpi_rules.province import ProvinceResult
    from kpi_rules.results import RelatedResult, Result, SubjectRecord

__all__ = ["LeaderBatch", "LeaderRecords", "Related", "write_leader_lines", "write_year_lines"]

Related = Mapping[str, "tuple[RelatedResult, ...] | RelatedResult | None"]

_EMPTY = ',"related":[]'


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

    def lines(self, lang: str, *, advice: bool = False,
              cache: dict[int, tuple[RelatedResult, str]] | None = None) -> Iterator[str]:
        """One JSON line per subject: ``explanation_json`` of the record path, byte for byte.
        ``cache``: related subjects' JSON shared across batches of one plan and language
        (:func:`~kpi_rules.explain_parts.related_json`)."""
        if advice:
            for subject in self.subjects:
                result, record = self.traced(subject)
                yield explanation_json(result, self.plan, lang, record=record, advice=True) + "\n"
            return
        skel = skeleton_for(self.plan, lang)
        for subject, line in zip(self.subjects, self.batch.explanation_lines(), strict=True):
            cut = line.rfind(_EMPTY)
            if cut < 0:
                raise AssertionError(f"the batch line of `{subject}` has no empty `related` list")
            yield (line[:cut] + ',"related":' + related_json(skel, self.plan, self.related(subject), cache)
                   + line[cut + len(_EMPTY):])

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


def write_leader_lines(out: BinaryIO, leaders: list[LeaderBatch], lang: str, *, advice: bool = False) -> int:
    """The lines of every :class:`LeaderBatch`, in order; returns how many. The JSON of a related
    subject is made once per plan (a civil servant is read by several leaders)."""
    caches: dict[int, dict[int, tuple[RelatedResult, str]]] = {}
    write = out.write
    count = 0
    for batch in leaders:
        for line in batch.lines(lang, advice=advice, cache=caches.setdefault(id(batch.plan), {})):
            write(line.encode())
            count += 1
    return count


def write_year_lines(out: BinaryIO, outcome: ProvinceResult, plans: Mapping[str, Plan], lang: str, *,
                     advice: bool = False) -> int:
    """The explanation of every year (or half-year) result of ``outcome`` as a JSON line, in the
    order of ``outcome.years``; returns how many. A year has no record: the combined periods, the
    decision and its quota part are filled from the skeleton (:mod:`kpi_rules.explain_parts`)."""
    role_of = outcome.province.role_of
    write = out.write
    count = 0
    for (subject, _), result in outcome.years.items():
        write((explanation_json(result, plans[role_of(subject) or ""], lang, advice=advice) + "\n").encode())
        count += 1
    return count
