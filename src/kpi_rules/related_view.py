"""What relations read in the columnar province run, kept as columns (``kpi_rules.province_batch``).

A leader's rule set reads its related subjects' results of the same period (``p.total``,
``p.level``, ``p.rated``: :class:`~kpi_rules.results.RelatedResult`). The JSON run
(:func:`kpi_rules.province.evaluate_province`) keeps one ``RelatedResult`` per subject and period;
at a hundred thousand people that is 400,000 objects made only to be read by a few thousand
leaders. Here:

* :class:`SubjectCodes`: every subject of the province numbered once (units, then people);
* :class:`RelatedCodes`: the codes of the subjects each ``list of`` relation of a subject links
  to (:meth:`kpi_rules.org.Province.related_ids`), worked out once for the run, not per period;
* :class:`PeriodView`: the related results of one period, a ``Mapping[str, RelatedResult]``
  whose batch-rated rows are columns (exact total numerator and denominator, level code, the
  records row of the name) and whose other entries (rejected, no record, rated one by one) are
  the objects the JSON run makes. A ``RelatedResult`` of a batch row is built only when a
  subject rated one by one reads it, and equals the one the JSON run builds;
* :meth:`PeriodView.items_table`: the relation of many leaders at once as an item table (owner
  id, exact ``total`` (:mod:`kpi_rules.exact_input`), ``level``, ``rated``) for the leaders' batch
  (``kpi_rules.relation_plan``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from fractions import Fraction
from types import MappingProxyType
from typing import Any

import numpy as np

from kpi_rules.results import RelatedResult

__all__ = ["PeriodView", "RelatedCodes", "SubjectCodes", "batch_columns"]

_LIMIT = 1 << 62  # kpi_rules.columnar.LIMIT: what an exact input column holds
_NONE: Mapping[str, Any] = MappingProxyType({})


class SubjectCodes:
    """Every subject of a province (units, then people, in file order) and its code."""

    def __init__(self, province: Any) -> None:
        self.ids: tuple[str, ...] = province.subjects()
        self.code: dict[str, int] = {s: k for k, s in enumerate(self.ids)}
        self.size = len(self.ids)


class RelatedCodes:
    """The codes of the subjects a ``list of`` relation links to, per subject, worked out once."""

    def __init__(self, province: Any, settings: Any, codes: SubjectCodes) -> None:
        from kpi_rules.org import Province

        self.province, self.settings, self.codes = province, settings, codes
        self._memo: dict[tuple[str, str], np.ndarray[Any, Any] | None] = {}
        #: Per unit: the codes of its members, and of its staff with the field of each.
        self._members: dict[str, np.ndarray[Any, Any]] = {}
        self._staff: dict[str, tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = {}
        self._by_unit = isinstance(province, Province)
        self._grouped: tuple[dict[str, int], np.ndarray[Any, Any], np.ndarray[Any, Any]] | None = None
        #: Per person (people order): -1 not staff, -2 staff without a field, else the field's code.
        self._staff_field = np.zeros(0, np.int64)
        self._field_code: dict[str, int] = {}

    def of(self, subject: str, relation: str) -> np.ndarray[Any, Any] | None:
        """The codes (in the relation's order), or None for a single (not ``list of``) relation."""
        key = (subject, relation)
        if key not in self._memo:
            found = self._from_units(subject, relation) if self._by_unit else None
            if found is None:
                ids = self.province.related_ids(subject, relation, self.settings)
                code = self.codes.code
                found = np.fromiter((code[x] for x in ids), np.int64, len(ids)) if isinstance(ids, tuple) else None
            self._memo[key] = found
        return self._memo[key]

    def _from_units(self, subject: str, relation: str) -> np.ndarray[Any, Any] | None:
        """``supervised`` of a head or a deputy and ``staff`` of a unit from codes kept per unit
        (what ``Province.related_ids`` gives, in its order: each person is looked up once per
        unit, not once per leader reading them); None for the other cases."""
        province = self.province
        if relation == "staff":
            return self._member_codes(subject) if subject in province.units else None
        if relation != "supervised":
            return None
        person = province.people.get(subject)
        if person is None:
            return None
        settings = self.settings
        if person.role == "head":
            units = province.subtree(person.unit) if settings.head_supervises == "subtree" else (person.unit,)
            every = np.concatenate([self._member_codes(u) for u in units])
            own = np.flatnonzero(every == self.codes.code[person.id])
            return np.delete(every, own[0]) if len(own) else every
        if person.role == "deputy":
            units = province.subtree(person.unit) if settings.deputy_supervises == "subtree" else (person.unit,)
            self._people_by_unit()
            wanted = [k for f in person.fields if (k := self._field_code.get(f)) is not None]
            parts: list[np.ndarray[Any, Any]] = []
            for u in units:
                staff, fields = self._staff_codes(u)
                parts.append(staff[np.isin(fields, wanted)])
            return np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return None

    def _people_by_unit(self) -> tuple[dict[str, int], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Unit -> its index; the people's codes grouped by unit (file order within a unit, as
        ``Province.members``) and where each unit's run starts. A person's code is its place
        among the people after the units (``SubjectCodes``): no lookup in the map of every id."""
        if self._grouped is None:
            province = self.province
            unit_index = {u: k for k, u in enumerate(province.units)}
            people = province.people
            unit_of = np.fromiter((unit_index.get(p.unit, -1) for p in people.values()), np.int64, len(people))
            order = np.argsort(unit_of, kind="stable")
            bounds = np.searchsorted(unit_of[order], np.arange(len(unit_index) + 1))
            self._grouped = (unit_index, order + len(unit_index), bounds)
            field_code = self._field_code
            self._staff_field = np.fromiter(
                (-1 if p.role != "staff" else -2 if p.field is None else field_code.setdefault(p.field, len(field_code))
                 for p in people.values()), np.int64, len(people))
        return self._grouped

    def _member_codes(self, unit: str) -> np.ndarray[Any, Any]:
        found = self._members.get(unit)
        if found is None:
            unit_index, grouped, bounds = self._people_by_unit()
            k = unit_index.get(unit)
            found = self._members[unit] = np.zeros(0, np.int64) if k is None else grouped[bounds[k]:bounds[k + 1]]
        return found

    def _staff_codes(self, unit: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """The codes of the staff of ``unit`` (file order) and the code of each one's field
        (-2: none), as ``Province._staff_fields``."""
        found = self._staff.get(unit)
        if found is None:
            members = self._member_codes(unit)
            fields = self._staff_field[members - len(self.province.units)]
            staff = fields != -1
            found = self._staff[unit] = (members[staff], fields[staff])
        return found


class PeriodView(Mapping[str, RelatedResult]):
    """The related results of one period: batch rows as columns, the other subjects as objects."""

    def __init__(self, codes: SubjectCodes, names: Sequence[str | None]) -> None:
        self.codes = codes
        self.names = names
        size = codes.size
        self.eager: dict[str, RelatedResult] = {}
        self._built: dict[str, RelatedResult] = {}
        #: 1 where the subject is a batch row held in the columns below.
        self.columnar = np.zeros(size, dtype=np.bool_)
        #: Rated with a total and a level that an exact input column holds (a leader's batch reads it).
        self.ok = np.zeros(size, dtype=np.bool_)
        self.n = np.zeros(size, dtype=np.int64)
        self.d = np.ones(size, dtype=np.int64)
        self.level = np.full(size, -1, dtype=np.int64)
        self.row = np.full(size, -1, dtype=np.int64)
        self.labels: list[str] = []
        self._label_code: dict[str, int] = {}

    # ------------------------------------------------------------------ Mapping

    def __getitem__(self, subject: str) -> RelatedResult:
        found = self.eager.get(subject)
        if found is not None:
            return found
        found = self._built.get(subject)
        if found is not None:
            return found
        k = self.codes.code.get(subject)
        if k is None or not self.columnar[k]:
            raise KeyError(subject)
        level = int(self.level[k])
        found = self._built[subject] = RelatedResult(
            subject, Fraction(int(self.n[k]), int(self.d[k])), self.labels[level] if level >= 0 else None, True,
            _NONE, None, self.names[int(self.row[k])])
        return found

    def __contains__(self, subject: object) -> bool:
        if subject in self.eager:
            return True
        k = self.codes.code.get(subject) if isinstance(subject, str) else None
        return k is not None and bool(self.columnar[k])

    def __iter__(self) -> Iterator[str]:
        ids = self.codes.ids
        for k in np.flatnonzero(self.columnar).tolist():
            yield ids[k]
        yield from self.eager

    def __len__(self) -> int:
        return len(self.eager) + int(self.columnar.sum())

    def __setitem__(self, subject: str, value: RelatedResult) -> None:
        self.eager[subject] = value
        self._built.pop(subject, None)
        k = self.codes.code.get(subject)
        if k is None:
            return
        self.columnar[k] = False
        total, level = value.total, value.level
        fits = value.rated and total is not None and level is not None \
            and abs(total.numerator) <= _LIMIT and total.denominator <= _LIMIT
        self.ok[k] = fits
        if fits:
            assert total is not None and level is not None
            self.n[k], self.d[k], self.level[k] = total.numerator, total.denominator, self._code_of(level)

    def _code_of(self, label: str) -> int:
        found = self._label_code.get(label)
        if found is None:
            found = self._label_code[label] = len(self.labels)
            self.labels.append(label)
        return found

    # ------------------------------------------------------------------ columns

    def add_rows(self, subjects: Sequence[str], rows: Sequence[int], batch: Any) -> None:
        """The kept rows of a batch, in the batch's record order: ``subjects[k]`` (records row
        ``rows[k]``) is the batch's accepted record ``k``. What the JSON run would make of each
        is ``RelatedResult(id, total, level, total is not None, {}, note, name)``."""
        from kpi_rules.province import INSUFFICIENT

        columns = batch_columns(batch)
        if columns is None:
            totals, levels = batch.totals(), batch.levels()
            for subject, i, total, level in zip(subjects, rows, totals, levels):
                rated = total is not None
                self[subject] = RelatedResult(subject, total, level, rated, _NONE,
                                              None if rated else INSUFFICIENT, self.names[i])
            return
        n, d, level, labels, fallback = columns
        code = self.codes.code
        ks = np.fromiter((code[s] for s in subjects), np.int64, len(subjects))
        lut = np.array([self._code_of(x) for x in labels] + [-1], dtype=np.int64)
        level_codes = lut[np.where(level < 0, len(labels), level)]
        mask = np.ones(len(ks), dtype=np.bool_)
        for position, result in fallback.items():
            mask[position] = False
        take = ks[mask]
        self.columnar[take] = True
        self.n[take], self.d[take], self.level[take] = n[mask], d[mask], level_codes[mask]
        self.ok[take] = level_codes[mask] >= 0
        self.row[take] = np.asarray(rows, dtype=np.int64)[mask]
        for position, result in fallback.items():
            total = result.total
            rated = total is not None
            self[subjects[position]] = RelatedResult(subjects[position], total, result.level, rated, _NONE,
                                                     None if rated else INSUFFICIENT, self.names[rows[position]])

    def all_ok(self, related: np.ndarray[Any, Any] | None) -> bool:
        """Whether every subject of a ``list of`` relation is rated with a total and a level."""
        return related is not None and bool(self.ok[related].all())

    def items_table(self, owners: Sequence[str], related: Sequence[np.ndarray[Any, Any] | None]) -> Any:
        """The item table of one relation of the leaders ``owners`` (``related[k]``: the codes of
        leader ``k``'s related subjects, every one :meth:`all_ok`): ``id`` (the owner), ``total``
        (exact), ``level``, ``rated``."""
        import pyarrow as pa

        from kpi_rules.exact_input import exact_array

        assert all(r is not None for r in related), "only list relations are items"
        arrays = [r for r in related if r is not None]
        lengths = np.fromiter((len(r) for r in arrays), np.int64, len(arrays))
        ks = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)
        ids = np.repeat(np.array(list(owners), dtype=object), lengths)
        labels = pa.array(self.labels, pa.string())
        return pa.table({
            "id": pa.array(ids, pa.string()),
            "total": exact_array(self.n[ks], self.d[ks]),
            "level": pa.DictionaryArray.from_arrays(pa.array(self.level[ks], pa.int32()), labels),
            "rated": pa.array(np.ones(len(ks), dtype=np.bool_)),
        })


def batch_columns(batch: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any],
                                       list[str], dict[int, Any]] | None:
    """The accepted records of a :class:`~kpi_rules.batch.BatchResult` as columns, in record
    order: exact total numerators and denominators (int64), level codes into ``labels`` (-1: none)
    and, by position, the ``Result`` of each row rated record by record (its columns unset).
    None when the columns are not in that form (then read ``totals()``/``levels()``)."""
    from kpi_rules.exactcols import full_column

    parts_n: list[np.ndarray[Any, Any]] = []
    parts_d: list[np.ndarray[Any, Any]] = []
    parts_level: list[np.ndarray[Any, Any]] = []
    labels: list[str] = []
    label_code: dict[str, int] = {}
    fallback: dict[int, Any] = {}
    position = 0
    for chunk_index, item, stop in batch._segments:
        if chunk_index < 0:
            fallback[position] = item
            parts_n.append(np.zeros(1, dtype=np.int64))
            parts_d.append(np.ones(1, dtype=np.int64))
            parts_level.append(np.full(1, -1, dtype=np.int64))
            position += 1
            continue
        run = batch._chunks[chunk_index].run
        size = run.size
        total = run.total
        n = full_column(size, total.n)[item:stop]
        d = full_column(size, total.d)[item:stop]
        if run.rating is None:
            codes = np.full(stop - item, -1, dtype=np.int64)
        else:
            names = run.rating.names
            lut = np.array([label_code.setdefault(x, len(label_code)) for x in names], dtype=np.int64)
            raw = np.asarray(run.rating.level[item:stop], dtype=np.int64)
            if len(raw) and (int(raw.min()) < 0 or int(raw.max()) >= len(names)):
                return None
            codes = lut[raw] if len(names) else raw
        parts_n.append(np.asarray(n, dtype=np.int64))
        parts_d.append(np.asarray(d, dtype=np.int64))
        parts_level.append(codes)
        position += stop - item
    labels = list(label_code)
    if not parts_n:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), empty.copy(), labels, fallback
    n_all, d_all = np.concatenate(parts_n), np.concatenate(parts_d)
    if len(d_all) and (int(d_all.min()) <= 0 or int(np.abs(n_all).max()) > _LIMIT or int(d_all.max()) > _LIMIT
                       or int(n_all.min()) < -_LIMIT):
        return None
    return n_all, d_all, np.concatenate(parts_level), labels, fallback
