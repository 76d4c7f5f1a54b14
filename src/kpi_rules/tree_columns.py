"""Units and people straight from their tables (``load_province_tables``), when they are clean.

:func:`kpi_rules.org.province_from_data` checks every unit and person with a pydantic model, one
row at a time: a third of reading a province of 100,000 people. Here the tables' columns are
checked as a whole (text columns, ids present and unique, known units, parents and roles, one
head per unit, ``field``/``fields`` by role, no cycle) and the ``Unit``/``Person`` values are made
directly. When anything is off, :func:`tree_from_tables` returns None and the caller goes the
pydantic way, whose diagnostics (KR701-KR710, KR732) are then the ones reported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from kpi_rules.org import PERSON_ROLES, Person, Province, Unit, _check_tree
from kpi_rules.diagnostics import Diagnostic

__all__ = ["tree_from_tables"]

_UNIT_KEYS = ("id", "name", "parent", "kind")
_PERSON_KEYS = ("id", "name", "unit", "role", "field", "fields", "task_group")


def tree_from_tables(units: Any, people: Any, province_id: object, province_name: object,
                     where: str) -> Province | None:
    """The province (no records) of the units and people tables, or None to go the checked way."""
    if not isinstance(province_id, str) or not (province_name is None or isinstance(province_name, str)):
        return None
    ucols = _columns(units, _UNIT_KEYS)
    pcols = _columns(people, _PERSON_KEYS)
    if ucols is None or pcols is None:
        return None
    unit_ids = ucols["id"]
    if not _ids_ok(unit_ids):
        return None
    known = set(unit_ids)
    if any(p is not None and p not in known for p in ucols.get("parent", ())):
        return None
    made_units: dict[str, Unit] = {}
    extras = _extras(ucols, _UNIT_KEYS, len(unit_ids))
    for k, (uid, name, parent, kind) in enumerate(zip(unit_ids, *(_get(ucols, c, len(unit_ids))
                                                                   for c in ("name", "parent", "kind")))):
        made_units[uid] = Unit(uid, name, parent, kind, extras[k])
    problems: list[Diagnostic] = []
    _check_tree(made_units, where, problems)
    if problems:
        return None
    made_people = _people(pcols, known)
    if made_people is None:
        return None
    return Province(province_id, province_name, MappingProxyType(made_units), MappingProxyType(made_people), (), (),
                    where)


def _people(cols: Mapping[str, list[Any]], units: set[str]) -> dict[str, Person] | None:
    ids = cols["id"]
    size = len(ids)
    if not _ids_ok(ids) or not units.isdisjoint(ids):
        return None
    unit_of, role_of = _get(cols, "unit", size), _get(cols, "role", size)
    if any(u is None or u not in units for u in unit_of) or not set(role_of) <= set(PERSON_ROLES):
        return None
    field_of, fields_of = _get(cols, "field", size), _get(cols, "fields", size)
    heads: set[str] = set()
    for unit, role, field, fields in zip(unit_of, role_of, field_of, fields_of):
        if role == "head":
            if unit in heads:
                return None
            heads.add(unit)
        elif role == "staff" and fields:
            return None
        elif role == "deputy" and field is not None:
            return None
    extras = _extras(cols, _PERSON_KEYS, size)
    out: dict[str, Person] = {}
    for k, (pid, name, unit, role, field, fields, group) in enumerate(zip(
            ids, _get(cols, "name", size), unit_of, role_of, field_of, fields_of, _get(cols, "task_group", size))):
        out[pid] = Person(pid, name, unit, role, field, tuple(fields or ()), group, extras[k])
    return out


def _ids_ok(ids: list[Any]) -> bool:
    return all(type(x) is str and x for x in ids) and len(set(ids)) == len(ids)


def _get(cols: Mapping[str, list[Any]], name: str, size: int) -> list[Any]:
    found = cols.get(name)
    return found if found is not None else [None] * size


def _columns(table: Any, keys: tuple[str, ...]) -> dict[str, list[Any]] | None:
    """Each column as a list (null and NaN as None); None when a known column is not text
    (``fields``: a list of text, or text separated by ``;``)."""
    import pyarrow as pa

    out: dict[str, list[Any]] = {}
    for name in table.column_names:
        column = table.column(name)
        typ = column.type
        values = column.to_pylist()
        if name == "fields" and "fields" in keys:
            if pa.types.is_string(typ) or pa.types.is_large_string(typ):
                values = [None if v is None else [f for f in v.split(";") if f] for v in values]
            elif pa.types.is_list(typ) or pa.types.is_large_list(typ):
                if not all(v is None or all(type(f) is str for f in v) for v in values):
                    return None
            elif not pa.types.is_null(typ):
                return None
        elif name in keys:
            if not (pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_null(typ)):
                return None
        elif pa.types.is_floating(typ):
            values = [None if v is None or math.isnan(v) else v for v in values]
        out[name] = values
    return out


def _extras(cols: Mapping[str, list[Any]], keys: tuple[str, ...], size: int) -> list[Mapping[str, object]]:
    """The other fields of each row, without its null cells (as ``Unit.attributes``/``Person.attributes``)."""
    names = [n for n in cols if n not in keys]
    if not names:
        empty: Mapping[str, object] = MappingProxyType({})
        return [empty] * size
    # Rows with the same values share one mapping (a province's attributes take few distinct
    # values: a million people made a million dicts); only for values whose equality means
    # sameness (text, integers, booleans: 1 == True == 1.0 and Decimal("1.0") == Decimal("1")).
    shared: dict[tuple[object, ...], Mapping[str, object]] = {}
    plain = (str, int, bool, type(None))
    out: list[Mapping[str, object]] = []
    for row in zip(*(cols[n] for n in names)):
        if all(type(v) in plain for v in row):
            key = (*row, *map(type, row))
            found = shared.get(key)
            if found is None:
                found = shared[key] = MappingProxyType({n: v for n, v in zip(names, row) if v is not None})
            out.append(found)
        else:
            out.append(MappingProxyType({n: v for n, v in zip(names, row) if v is not None}))
    return out
