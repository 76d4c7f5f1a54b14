"""Province data in: a JSON or YAML file → :class:`Province` (the unit tree, people, records).

The file format is the one of ``docs/decree-design.md`` ("Province data")::

    province: {id: gl-synth, name: "..."}
    units:   [{id, name, parent, kind}, ...]                       # parent null for a root
    people:  [{id, name, unit, role, field | fields, task_group, ...}, ...]
    records: [{subject, period, on, inputs, override}, ...]        # per subject and period

pydantic checks the shape at the edge; inside, everything is a frozen dataclass. Problems of the
tree (unknown parent or unit, a cycle in the parent chain, two heads of one unit, an unknown
role, duplicate ids) stop the load: they are all reported together (KR7xx), each naming the id.
Problems of one record (an unknown subject, an invalid period, a second record for the same
subject and period, a malformed record) reject that record only; the others are still rated.

The relations of docs/decree-design.md ("Relations") are derived here from the tree:
:meth:`Province.related_ids`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from itertools import chain, compress
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, ValidationError

from kpi_rules.diagnostics import Diagnostic, DiagnosticError
from kpi_rules.relations import PERSON, UNIT
from kpi_rules.datafiles import load_data_file

__all__ = [
    "OrgSettings",
    "Person",
    "Province",
    "ProvinceRecord",
    "Rejection",
    "Role",
    "ROLES",
    "PERSON_ROLES",
    "Unit",
    "load_province",
    "province_from_data",
]

Role = Literal["staff", "deputy", "head", "unit"]
#: The roles of people; every unit is rated with the role ``unit``.
PERSON_ROLES: tuple[str, ...] = ("staff", "deputy", "head")
ROLES: tuple[str, ...] = (*PERSON_ROLES, "unit")
Scope = Literal["unit", "subtree"]

#: Largest province file read.
MAX_PROVINCE_FILE_BYTES = 512 * 1024 * 1024
_PERIOD = re.compile(r"^\d{4}(?:-(?:0[1-9]|1[0-2]|Q[1-4]|H[12]))?$")


@dataclass(frozen=True, slots=True)
class OrgSettings:
    """How the relations are derived (bundle ``settings``; docs/defaults.md)."""

    #: ``supervised`` of a head: the people of their unit (``unit``) or also of the units below.
    head_supervises: Scope = "subtree"
    #: ``supervised`` of a deputy: the staff of their fields in their unit, or also below.
    deputy_supervises: Scope = "unit"


@dataclass(frozen=True, slots=True)
class Unit:
    id: str
    name: str | None
    parent: str | None
    kind: str | None = None
    #: Any other fields of the unit in the file.
    attributes: Mapping[str, object] = dc_field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    name: str | None
    unit: str
    role: str
    #: The field of a staff member (which deputy supervises them).
    field: str | None = None
    #: The fields assigned to a deputy.
    fields: tuple[str, ...] = ()
    #: The group of similar tasks (the excellent quota is counted per unit and task group).
    task_group: str | None = None
    #: Any other fields of the person in the file (e.g. ``seniority``).
    attributes: Mapping[str, object] = dc_field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class ProvinceRecord:
    """One record of the file: a subject's inputs for one period (checked later by its role's rules)."""

    subject: str
    period: str
    #: The record in the form :func:`kpi_rules.records.coerce_record` reads (``id`` = the subject).
    raw: Mapping[str, object]
    #: 1-based position in the file's ``records``.
    position: int


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record that is not rated: its subject, period and every problem found."""

    subject: str
    period: str | None
    diagnostics: tuple[Diagnostic, ...]


@dataclass(frozen=True, slots=True)
class Province:
    """The organisation tree, its people and their records. Build with :func:`load_province`."""

    id: str
    name: str | None
    units: Mapping[str, Unit]
    people: Mapping[str, Person]
    records: tuple[ProvinceRecord, ...]
    #: Records rejected while reading the file (the others are rated).
    rejected: tuple[Rejection, ...] = ()
    source: str = "<data>"
    _children: Mapping[str, tuple[str, ...]] = dc_field(default_factory=dict, compare=False, repr=False)
    _members: Mapping[str, tuple[str, ...]] = dc_field(default_factory=dict, compare=False, repr=False)
    _heads: Mapping[str, str] = dc_field(default_factory=dict, compare=False, repr=False)
    #: ``supervised`` of each leader (and the staff of each unit by field), worked out once:
    #: the province run reads them several times per leader and period.
    _memo: dict[object, object] = dc_field(default_factory=dict, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        children: dict[str, list[str]] = {u: [] for u in self.units}
        for unit in self.units.values():
            if unit.parent is not None and unit.parent in children:
                children[unit.parent].append(unit.id)
        members: dict[str, list[str]] = {u: [] for u in self.units}
        heads: dict[str, str] = {}
        for person in self.people.values():
            if person.unit in members:
                members[person.unit].append(person.id)
            if person.role == "head":
                heads.setdefault(person.unit, person.id)
        object.__setattr__(self, "_children", {k: tuple(v) for k, v in children.items()})
        object.__setattr__(self, "_members", {k: tuple(v) for k, v in members.items()})
        object.__setattr__(self, "_heads", heads)

    # ------------------------------------------------------------------ the tree

    def kind_of(self, subject: str) -> str | None:
        """``"person"``, ``"unit"`` or None for an unknown id."""
        if subject in self.people:
            return PERSON
        if subject in self.units:
            return UNIT
        return None

    def role_of(self, subject: str) -> str | None:
        """The role whose rule set rates the subject: a person's role, ``"unit"`` for a unit."""
        if subject in self.people:
            return self.people[subject].role
        return "unit" if subject in self.units else None

    def name_of(self, subject: str) -> str | None:
        if subject in self.people:
            return self.people[subject].name
        unit = self.units.get(subject)
        return unit.name if unit is not None else None

    def children(self, unit: str) -> tuple[str, ...]:
        """The units directly below ``unit``, in file order."""
        return self._children.get(unit, ())

    def subtree(self, unit: str) -> tuple[str, ...]:
        """``unit`` and every unit below it (depth first, file order)."""
        out: list[str] = []
        stack = [unit]
        while stack:
            current = stack.pop()
            out.append(current)
            stack.extend(reversed(self._children.get(current, ())))
        return tuple(out)

    def members(self, unit: str) -> tuple[str, ...]:
        """Every person of ``unit`` (not of the units below), in file order."""
        return self._members.get(unit, ())

    def head(self, unit: str) -> str | None:
        return self._heads.get(unit)

    def subjects(self) -> tuple[str, ...]:
        """Every subject id: the units, then the people, in file order."""
        return (*self.units, *self.people)

    def periods(self) -> tuple[str, ...]:
        """The periods of the records, in order (``2026-Q1`` before ``2026-Q2``)."""
        return tuple(sorted({r.period for r in self.records}))

    def related_ids(self, subject: str, relation: str,
                    settings: OrgSettings = OrgSettings()) -> tuple[str, ...] | str | None:
        """The subjects a relation of ``subject`` links to (docs/decree-design.md, "Relations").

        A ``list of`` relation gives a tuple (possibly empty); a single one an id or None.
        Raises KeyError for a relation name the organisation model does not know.
        """
        person = self.people.get(subject)
        unit = self.units.get(subject)
        if relation == "supervised":
            if person is None:
                return ()
            return self._supervised(person, settings)
        if relation == "unit":
            return person.unit if person is not None else None
        if relation == "children":
            return self.children(subject) if unit is not None else ()
        if relation == "staff":
            return self.members(subject) if unit is not None else ()
        if relation == "head":
            return self.head(subject) if unit is not None else None
        if relation == "parent":
            return unit.parent if unit is not None else None
        raise KeyError(relation)

    def _supervised(self, person: Person, settings: OrgSettings) -> tuple[str, ...]:
        key = (person.id, settings)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._work_out_supervised(person, settings)
        assert isinstance(found, tuple)
        return found

    def _work_out_supervised(self, person: Person, settings: OrgSettings) -> tuple[str, ...]:
        """The people of the units in scope, in unit then file order: for a head all but
        themselves, for a deputy the staff of their fields."""
        if person.role == "head":
            units = self.subtree(person.unit) if settings.head_supervises == "subtree" else (person.unit,)
            out = list(chain.from_iterable(map(self.members, units)))
            if person.id in out:
                out.remove(person.id)  # ids are unique: they appear once
            return tuple(out)
        if person.role == "deputy":
            units = self.subtree(person.unit) if settings.deputy_supervises == "subtree" else (person.unit,)
            wanted = set(person.fields)
            picked: list[str] = []
            for u in units:
                ids, fields = self._staff_fields(u)
                picked.extend(compress(ids, map(wanted.__contains__, fields)))
            return tuple(picked)
        return ()

    def _staff_fields(self, unit: str) -> tuple[tuple[str, ...], tuple[str | None, ...]]:
        """The staff of ``unit`` (file order) and the field of each."""
        key = ("staff-fields", unit)
        found = self._memo.get(key)
        if found is None:
            people = self.people
            staff = [person for p in self.members(unit) if (person := people[p]).role == "staff"]
            found = self._memo[key] = (tuple(p.id for p in staff), tuple(p.field for p in staff))
        return cast("tuple[tuple[str, ...], tuple[str | None, ...]]", found)


# --------------------------------------------------------------------------- the file (pydantic)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _ProvinceHeader(_In):
    id: str
    name: str | None = None


class _UnitIn(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, frozen=True)
    id: str
    name: str | None = None
    parent: str | None = None
    kind: str | None = None


class _PersonIn(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, frozen=True)
    id: str
    name: str | None = None
    unit: str
    role: str
    field: str | None = None
    fields: list[str] | None = None
    task_group: str | None = None


class _RecordIn(_In):
    subject: str
    period: str
    name: str | None = None
    on: str | None = None
    inputs: dict[str, Any] = {}
    override: dict[str, Any] | None = None
    # Mẫu 01 items 4-6 and the self/superior score columns: checked by records.py (KR620-KR623).
    remarks: Any = None
    self_scores: Any = None
    superior_scores: Any = None


class _FileIn(_In):
    province: _ProvinceHeader
    units: list[Any] = []
    people: list[Any] = []
    records: list[Any] = []


def _pydantic_problems(error: ValidationError, where: str, code: str = "KR701") -> list[Diagnostic]:
    out = []
    for item in error.errors()[:20]:
        path = ".".join(str(p) for p in item["loc"])
        out.append(Diagnostic(code, f"{path}: {item['msg']}" if path else item["msg"], where=where))
    return out


def load_province(path: str | Path) -> Province:
    """Read and check a province data file (``.json``, ``.yaml``/``.yml``).

    Raises:
        DiagnosticError: KR701 unreadable or malformed file, and the tree problems KR702-KR707,
            KR710, all reported together. Problems of single records are kept in
            :attr:`Province.rejected` instead.
    """
    data = load_data_file(path, code="KR701", what="province", max_bytes=MAX_PROVINCE_FILE_BYTES)
    return province_from_data(data, str(path))


def province_from_data(data: object, where: str = "<data>") -> Province:
    """Check province data already read from a file (see :func:`load_province`)."""
    try:
        whole = _FileIn.model_validate(data)
    except ValidationError as error:
        raise DiagnosticError(_pydantic_problems(error, where)) from None
    problems: list[Diagnostic] = []
    units = _units(whole.units, where, problems)
    people = _people(whole.people, units, where, problems)
    taken = set(units)
    for pid in people:
        if pid in taken:
            problems.append(Diagnostic("KR702", f"`{pid}` is the id of a unit and of a person", where=f"person {pid}",
                                       hint="records name their subject by id: give every unit and person its own"))
    _check_tree(units, where, problems)
    if problems:
        raise DiagnosticError(problems)
    records, rejected = _records(whole.records, units, people)
    return Province(whole.province.id, whole.province.name, MappingProxyType(units), MappingProxyType(people),
                    records, rejected, where)


def _extra(model: BaseModel) -> Mapping[str, object]:
    return MappingProxyType(dict(model.model_extra or {}))


def _units(raws: Sequence[Any], where: str, problems: list[Diagnostic]) -> dict[str, Unit]:
    units: dict[str, Unit] = {}
    for index, raw in enumerate(raws):
        try:
            u = _UnitIn.model_validate(raw)
        except ValidationError as error:
            rid = raw.get("id") if isinstance(raw, Mapping) else None
            problems.extend(_pydantic_problems(error, f"unit {rid if isinstance(rid, str) else f'#{index + 1}'}"))
            continue
        if u.id in units:
            problems.append(Diagnostic("KR702", f"the unit id `{u.id}` appears twice", where=f"unit {u.id}",
                                       hint="give every unit its own id"))
            continue
        units[u.id] = Unit(u.id, u.name, u.parent, u.kind, _extra(u))
    for unit in units.values():
        if unit.parent is not None and unit.parent not in units:
            problems.append(Diagnostic("KR703", f"the parent `{unit.parent}` of unit `{unit.id}` is not a unit",
                                       where=f"unit {unit.id}", hint=_close(unit.parent, units)
                                       or "write the id of a unit of the file, or null for a root"))
    return units


def _people(raws: Sequence[Any], units: Mapping[str, Unit], where: str,
            problems: list[Diagnostic]) -> dict[str, Person]:
    people: dict[str, Person] = {}
    heads: dict[str, str] = {}
    for index, raw in enumerate(raws):
        try:
            p = _PersonIn.model_validate(raw)
        except ValidationError as error:
            rid = raw.get("id") if isinstance(raw, Mapping) else None
            problems.extend(_pydantic_problems(error, f"person {rid if isinstance(rid, str) else f'#{index + 1}'}"))
            continue
        here = f"person {p.id}"
        if p.id in people:
            problems.append(Diagnostic("KR702", f"the person id `{p.id}` appears twice", where=here,
                                       hint="give every person their own id"))
            continue
        if p.unit not in units:
            problems.append(Diagnostic("KR705", f"`{p.id}` works in `{p.unit}`, which is not a unit", where=here,
                                       hint=_close(p.unit, units) or "write the id of a unit of the file"))
        if p.role not in PERSON_ROLES:
            problems.append(Diagnostic("KR706", f"`{p.role}` is not a role", where=here,
                                       hint=_close(p.role, PERSON_ROLES) or "the roles are staff, deputy and head"))
        elif p.role == "head" and p.unit in heads:
            problems.append(Diagnostic("KR707", f"`{p.unit}` has two heads: `{heads[p.unit]}` and `{p.id}`",
                                       where=here, hint="a unit has at most one head; make the other a deputy"))
        elif p.role == "head":
            heads[p.unit] = p.id
        if p.role == "staff" and p.fields:
            problems.append(Diagnostic("KR710", f"the staff member `{p.id}` has `fields`; staff have one `field`",
                                       where=here, hint="write `field: ...`; `fields` lists a deputy's fields"))
        if p.role == "deputy" and p.field is not None:
            problems.append(Diagnostic("KR710", f"the deputy `{p.id}` has `field`; a deputy's fields are a list",
                                       where=here, hint=f"write `fields: [{p.field}]`"))
        people[p.id] = Person(p.id, p.name, p.unit, p.role, p.field, tuple(p.fields or ()), p.task_group, _extra(p))
    return people


def _check_tree(units: Mapping[str, Unit], where: str, problems: list[Diagnostic]) -> None:
    """Each cycle in the parent chain, once, naming its units."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    for start in units:
        path: list[str] = []
        current: str | None = start
        while current is not None and current in units and state.get(current) is None:
            state[current] = 1
            path.append(current)
            current = units[current].parent
        if current is not None and state.get(current) == 1:
            cycle = path[path.index(current):]
            shown = " → ".join([*cycle, current])
            problems.append(Diagnostic(
                "KR704", f"the parent chain of `{cycle[0]}` comes back to it through `{cycle[-1]}`: {shown}",
                where=f"unit {cycle[0]}", hint="every chain of `parent` must end at a root (parent: null)"))
        for u in path:
            state[u] = 2


def _records(raws: Sequence[Any], units: Mapping[str, Unit],
             people: Mapping[str, Person]) -> tuple[tuple[ProvinceRecord, ...], tuple[Rejection, ...]]:
    records: list[ProvinceRecord] = []
    rejected: list[Rejection] = []
    seen: set[tuple[str, str]] = set()
    for position, raw in enumerate(raws, start=1):
        subject = raw.get("subject") if isinstance(raw, Mapping) else None
        period = raw.get("period") if isinstance(raw, Mapping) else None
        sid = subject if isinstance(subject, str) else f"#{position}"
        pid = period if isinstance(period, str) else None
        here = f"record {sid}" + (f" ({pid})" if pid else "")
        try:
            r = _RecordIn.model_validate(raw)
        except ValidationError as error:
            problems = [dataclasses.replace(d, hint="a record has subject, period, on, inputs, override, name, remarks, self_scores and superior_scores")
                        for d in _pydantic_problems(error, here, "KR709")]
            rejected.append(Rejection(sid, pid, tuple(problems)))
            continue
        if r.subject not in units and r.subject not in people:
            rejected.append(Rejection(r.subject, r.period, (Diagnostic(
                "KR708", f"`{r.subject}` is neither a unit nor a person of the province", where=here,
                hint=_close(r.subject, [*units, *people]) or "records name a unit or a person by id"),)))
            continue
        if not _PERIOD.match(r.period):
            rejected.append(Rejection(r.subject, r.period, (Diagnostic(
                "KR709", f"`{r.period}` is not a period", where=here,
                hint="write 2026-01 (month), 2026-Q1 (quarter), 2026-H1 (half-year) or 2026 (year)"),)))
            continue
        if (r.subject, r.period) in seen:
            rejected.append(Rejection(r.subject, r.period, (Diagnostic(
                "KR709", f"`{r.subject}` has two records for {r.period}", where=here,
                hint="keep one record per subject and period"),)))
            continue
        seen.add((r.subject, r.period))
        body: dict[str, object] = {"id": r.subject, "period": r.period, "inputs": r.inputs}
        name = r.name or (people[r.subject].name if r.subject in people else units[r.subject].name)
        if name is not None:
            body["name"] = name
        if r.on is not None:
            body["on"] = r.on
        if r.override is not None:
            body["override"] = r.override
        for extra in ("remarks", "self_scores", "superior_scores"):
            if getattr(r, extra) is not None:
                body[extra] = getattr(r, extra)
        records.append(ProvinceRecord(r.subject, r.period, MappingProxyType(body), position))
    return tuple(records), tuple(rejected)


def _close(name: str, choices: Sequence[str] | Mapping[str, object]) -> str | None:
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None
