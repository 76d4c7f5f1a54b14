"""The relations a rule set may declare, and what each means in the organisation tree.

A rule set reads related subjects only through these names (docs/decree-design.md,
"Relations"); :mod:`kpi_rules.validator` rejects any other name at load time (KR360) and
:mod:`kpi_rules.org` derives the values from the province data. The subject kinds are the
two of the organisation model: ``person`` and ``unit``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PERSON", "RELATIONS", "RelationSpec", "UNIT", "relation_spec"]

PERSON = "person"
UNIT = "unit"


@dataclass(frozen=True, slots=True)
class RelationSpec:
    """One relation name: on which subject kind, to which kind, one or many, and its meaning."""

    name: str
    on: str
    target: str
    many: bool
    meaning: str


RELATIONS: dict[str, RelationSpec] = {
    spec.name: spec
    for spec in (
        RelationSpec("supervised", PERSON, PERSON, True,
                     "a head: every person of the unit (with head_supervises: subtree, also of the units "
                     "below) except the head; a deputy: the staff of the unit whose field is one of the "
                     "deputy's fields; staff: nobody"),
        RelationSpec("unit", PERSON, UNIT, False, "the person's unit"),
        RelationSpec("children", UNIT, UNIT, True, "the units directly below"),
        RelationSpec("staff", UNIT, PERSON, True, "every person of the unit"),
        RelationSpec("head", UNIT, PERSON, False, "the unit's head (absent when it has none)"),
        RelationSpec("parent", UNIT, UNIT, False, "the unit above (absent for the root)"),
    )
}


def relation_spec(name: str) -> RelationSpec | None:
    """The meaning of a relation name, or None when the organisation model does not know it."""
    return RELATIONS.get(name)
