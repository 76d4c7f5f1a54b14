"""A plan whose relations are read as list inputs: what lets the columnar batch rate leaders.

The columnar program (:mod:`kpi_rules.columnar`) rates no plan that declares relations. A
deputy's or head's rule set reads its ``supervised`` staff only as ``p.total``, ``p.level`` and
``p.rated``; :func:`relation_plan` makes each ``list of`` relation a list input of such related
results (a record ``related_result`` with the fields ``total``, ``level``, ``rated``), keeping
every step and the provenance, so a batch of these records with their related results as items
gives the results the relation reads give (``kpi_rules.province_batch`` checks that every
related subject is rated before it uses it; ``tests/test_province_batch.py`` compares the
outcome with ``evaluate_province``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

from kpi_rules import nodes
from kpi_rules.compiler import compile_ruleset
from kpi_rules.diagnostics import DiagnosticError
from kpi_rules.plan import Plan
from kpi_rules.validator import check_ruleset

if TYPE_CHECKING:
    from kpi_rules.bundle import Bundle

__all__ = ["RELATED_RECORD", "has_conditions", "member_names", "only_related_fields", "relation_plan"]

RELATED_RECORD = "related_result"


def relation_plan(plan: Plan) -> Plan | None:
    """``plan`` with each ``list of`` relation made a list input of related results (``total``,
    ``level``, ``rated``), so the columnar batch can rate it; same provenance, same steps.

    None when the plan has a single relation, reads anything else of a related subject, or
    cannot be compiled that way."""
    subject = plan.checked.subject
    ruleset = plan.ruleset
    if not subject.relations or any(not r.many for r in subject.relations):
        return None
    if any(r.name == RELATED_RECORD for r in ruleset.records):
        return None
    item_fields = {d.name for r in plan.checked.records.values() for d in r.inputs}
    if member_names(ruleset) - item_fields - {"total", "level", "rated"}:
        return None
    label = subject.relations[0].label
    record = nodes.RecordDecl(RELATED_RECORD, label, (
        nodes.InputDecl("total", nodes.ScalarType("number"), label),
        nodes.InputDecl("level", nodes.ScalarType("text"), label),
        nodes.InputDecl("rated", nodes.ScalarType("bool"), label)))
    lists = tuple(nodes.InputDecl(r.name, nodes.ListType(RELATED_RECORD), r.label) for r in subject.relations)
    changed = dataclasses.replace(subject, inputs=subject.inputs + lists, relations=())
    subjects = tuple(changed if s.name == subject.name else s for s in ruleset.subjects)
    try:
        checked = check_ruleset(dataclasses.replace(ruleset, records=(*ruleset.records, record), subjects=subjects))
        derived = compile_ruleset(checked)
    except DiagnosticError:
        return None
    return dataclasses.replace(derived, provenance=plan.provenance)


def has_conditions(plan: Plan) -> bool:
    """Whether a level of the rating has extra conditions (the columnar decisions give their
    ``LevelDecision.all_conditions``, which combining periods reads, so such plans batch too)."""
    rating = plan.ruleset.rating
    return rating is not None and any(level.conditions for level in rating.levels)


def only_related_fields(bundle: Bundle) -> bool:
    """Whether every rule set reads of related subjects only ``total``, ``level`` and ``rated``."""
    for rr in bundle.roles.values():
        plan = rr.rules.plan
        if plan.checked.subject.relations:
            item_fields = {d.name for r in plan.checked.records.values() for d in r.inputs}
            if member_names(plan.ruleset) - item_fields - {"total", "level", "rated"}:
                return False
    return True


def member_names(root: object) -> set[str]:
    """Every ``x.name`` read anywhere in a rule set."""
    found: set[str] = set()
    seen: set[int] = set()
    stack: list[object] = [root]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, nodes.Member):
            found.add(current.name)
        if dataclasses.is_dataclass(current) and not isinstance(current, type):
            stack.extend(getattr(current, f.name) for f in dataclasses.fields(current))
        elif isinstance(current, (tuple, list)):
            stack.extend(current)
        elif isinstance(current, Mapping):
            stack.extend(current.values())
    return found
