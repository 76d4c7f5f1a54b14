"""The ``related`` part of leaders' explanation lines, written from a period's columns.

A leader (deputy, head) or unit rated in a columnar batch (:class:`kpi_rules.province_explain.LeaderBatch`)
reads tens to a thousand related subjects of its period, and a civil servant is read by several
leaders. :func:`kpi_rules.explain_parts.related_json` builds each related subject's JSON from a
``RelatedResult`` (a ``Fraction`` total formatted by ``ValueFormats.number``), which the province
view (:class:`~kpi_rules.related_view.PeriodView`) builds one by one from its columns: ~0.5 ms of
a leader's line. Here the JSON of every subject the leaders of a batch read is made once per
period view and reader's number format, together, from the view's columns (exact total
numerator and denominator, level code, records row of the name): the totals through
:class:`~kpi_rules.explain_numbers.NumberTexts` over their distinct values, levels by a table of
``skel.ref`` texts, ids and names escaped once. Entries that are not columns (rated one by one,
rows a batch rated record by record) go through the explainer's own function
(:func:`kpi_rules.explain_parts.related_subject_json`). A leader's ``related`` list is then one
join of those UTF-8 texts by its related codes (:class:`~kpi_rules.related_view.RelatedCodes`).
The bytes are those of ``related_json`` (``tests/test_related_lines.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from kpi_rules.explain_numbers import NumberTexts
from kpi_rules.explain_parts import _js, related_subject_json

if TYPE_CHECKING:
    from kpi_rules.explain_plan import ExplanationSkeleton
    from kpi_rules.plan import Plan
    from kpi_rules.related_view import PeriodView

__all__ = ["RelatedTexts", "TextsCache", "related_lines"]

_FITS = 1 << 31  # n·2³² + d as one int64 key
_RATED = b',"rated":true,"total":'


class RelatedTexts:
    """The ``related`` JSON of each subject of one period view, for one reader's skeleton (its
    number format, level labels and language), as UTF-8 bytes; made when first needed."""

    def __init__(self, view: PeriodView, skel: ExplanationSkeleton, heads: _Heads) -> None:
        self.view, self.skel, self._heads = view, skel, heads
        size = view.codes.size
        #: The texts by subject code (object array: None where not made).
        self.texts: np.ndarray[Any, Any] = np.full(size, None, dtype=object)
        self.have = np.zeros(size, dtype=np.bool_)

    def need(self, codes: np.ndarray[Any, Any]) -> None:
        """Make the texts of these codes (any order, repeats allowed) that are not made yet."""
        if not len(codes):
            return
        wanted = np.zeros(len(self.have), dtype=np.bool_)  # (a mask: cheaper than sorting the codes)
        wanted[codes] = True
        missing = np.flatnonzero(wanted & ~self.have)
        if not len(missing):
            return
        view = self.view
        columnar = view.columnar[missing]
        self._columns(missing[columnar])
        rest = missing[~columnar]
        if len(rest):
            skel, ids, texts = self.skel, view.codes.ids, self.texts
            notes: dict[str | None, str] = {}
            for k in rest.tolist():
                texts[k] = related_subject_json(skel, view[ids[k]], notes).encode()  # KeyError as view[x]
        self.have[missing] = True

    def _columns(self, ks: np.ndarray[Any, Any]) -> None:
        """Texts of batch rows held as columns: what ``view[x]`` would build
        (``RelatedResult(id, n/d, label, True, {}, None, name)``), written together."""
        if not len(ks):
            return
        view, skel = self.view, self.skel
        n, d = view.n[ks], view.d[ks]
        if int(np.abs(n).max()) < _FITS and int(d.max()) < _FITS:
            keys = (n << 32) | d  # distinct values by sorting (np.unique without an inverse hashes: slower)
            order = np.argsort(keys, kind="stable")
            ordered = keys[order]
            first = np.ones(len(ordered), dtype=np.bool_)
            first[1:] = ordered[1:] != ordered[:-1]
            uniq = ordered[first]
            inverse = np.empty(len(keys), dtype=np.int64)
            inverse[order] = np.cumsum(first) - 1
            un, ud = uniq >> 32, uniq & ((1 << 32) - 1)
        else:
            un, ud, inverse = n, d, np.arange(len(n))
        numbers = np.empty(len(un), dtype=object)
        numbers[:] = NumberTexts(un, ud, skel.formats).texts("number", binary=True)
        totals = numbers[inverse].tolist()
        tails = np.empty(len(view.labels) + 1, dtype=object)
        tails[:] = [(',"level":' + skel.ref(label) + ',"note":null}').encode() for label in view.labels] \
            + [b',"level":null,"note":null}']
        level = view.level[ks]
        ends = tails[np.where(level < 0, len(tails) - 1, level)].tolist()
        heads = self._heads.of(ks, view.row[ks], view.names).tolist()
        made = np.empty(len(ks), dtype=object)
        made[:] = list(map(b"".join, zip(heads, totals, ends)))
        self.texts[ks] = made


class _Heads:
    """``{"id":…,"name":…,"rated":true,"total":`` of each subject, made once for the run (a
    subject's name is its records row's, the same in every period unless the records say otherwise)."""

    def __init__(self, ids: Sequence[str]) -> None:
        self.ids = ids
        self.texts: np.ndarray[Any, Any] = np.full(len(ids), None, dtype=object)
        #: The name each text was made with: its number among the distinct names (-1: none yet).
        self.made_with = np.full(len(ids), -1, dtype=np.int64)
        self._names: Sequence[str | None] | None = None
        self._numbered: tuple[np.ndarray[Any, Any], list[str | None]] | None = None

    def _numbers(self, names: Sequence[str | None]) -> tuple[np.ndarray[Any, Any], list[str | None]]:
        """Each records row's name as a number, and the distinct names (numbered once per run:
        comparing numbers per period rather than texts)."""
        if self._numbered is None or self._names is not names:
            array = getattr(names, "array", None)  # names kept as an Arrow array (province_rows.RowNames)
            if array is not None:
                import pyarrow as pa
                import pyarrow.compute as pc

                if isinstance(array, pa.ChunkedArray):
                    array = array.combine_chunks()
                encoded = pc.dictionary_encode(array)
                rows = np.asarray(encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
                distinct: list[str | None] = encoded.dictionary.to_pylist()
            else:
                number: dict[str | None, int] = {}
                rows = np.fromiter((number.setdefault(x, len(number)) for x in names), np.int64, len(names))
                distinct = list(number)
            distinct.append(None)  # row number -1: a null name
            rows[rows < 0] = len(distinct) - 1
            self._names, self._numbered = names, (rows, distinct)
            self.made_with[:] = -1  # (numbers of other names: every text made again)
        return self._numbered

    def of(self, ks: np.ndarray[Any, Any], rows: np.ndarray[Any, Any], names: Sequence[str | None]) -> np.ndarray[Any, Any]:
        numbers, distinct = self._numbers(names)
        now = numbers[rows]
        stale = self.made_with[ks] != now
        if stale.any():
            at = np.flatnonzero(stale)
            ids = self.ids
            made = np.empty(len(at), dtype=object)
            made[:] = [('{"id":' + _js(ids[k]) + ',"name":' + _js(distinct[x])).encode() + _RATED
                       for k, x in zip(ks[at].tolist(), now[at].tolist())]
            self.texts[ks[at]] = made
            self.made_with[ks[at]] = now[at]
        found: np.ndarray[Any, Any] = self.texts[ks]
        return found


class TextsCache:
    """The :class:`RelatedTexts` of the period view being written (one view at a time: leaders'
    batches come period by period, and a view's texts are dropped when the next view's are made)."""

    def __init__(self) -> None:
        self._view: PeriodView | None = None
        self._texts: dict[tuple[Any, ...], RelatedTexts] = {}
        self._heads: _Heads | None = None

    def texts(self, view: PeriodView, skel: ExplanationSkeleton) -> RelatedTexts:
        if view is not self._view:
            self._view, self._texts = view, {}
        if self._heads is None or self._heads.ids is not view.codes.ids:
            self._heads = _Heads(view.codes.ids)
        # What a text depends on: the reader's number format, level labels and language
        # (skeletons of plans that share them share the texts: deputies and heads).
        formats = skel.formats
        key = (formats.decimals, formats.mode, skel.lang, tuple(skel.ref(name) for name in skel.levels))
        found = self._texts.get(key)
        if found is None:
            found = self._texts[key] = RelatedTexts(view, skel, self._heads)
        return found


def related_lines(skel: ExplanationSkeleton, plan: Plan, view: PeriodView, subjects: Sequence[str],
                  codes_of: Callable[[str, str], np.ndarray[Any, Any] | None],
                  cache: TextsCache | None = None) -> list[list[bytes]] | None:
    """The ``related`` JSON (:func:`~kpi_rules.explain_parts.related_json`) of each subject, as
    UTF-8 bytes in pieces (joined once, into the line), its relations (every one a ``list of``)
    read from ``view`` through ``codes_of(subject, relation)``. None if a relation is not a
    ``list of`` one (then write them from the ``RelatedResult`` s)."""
    lang = skel.lang
    relations = plan.checked.subject.relations
    heads = [('{"relation":' + _js(rel.name) + ',"label":' + _js(rel.label.get(lang)) + ',"subjects":[').encode()
             for rel in relations]
    per_subject: list[list[np.ndarray[Any, Any]]] = []
    for subject in subjects:
        found: list[np.ndarray[Any, Any]] = []
        for rel in relations:
            codes = codes_of(subject, rel.name)
            if codes is None:
                return None
            found.append(codes)
        per_subject.append(found)
    table = (cache if cache is not None else TextsCache()).texts(view, skel)
    every = [c for found in per_subject for c in found]
    if every:
        table.need(np.concatenate(every))
    texts = table.texts
    out: list[list[bytes]] = []
    comma = b","
    for found in per_subject:
        pieces = [b"["]
        for j, (head, codes) in enumerate(zip(heads, found, strict=True)):
            pieces.append(head if j == 0 else comma + head)
            pieces.append(comma.join(texts[codes].tolist()))
            pieces.append(b"]}")
        pieces.append(b"]")
        out.append(pieces)
    return out
