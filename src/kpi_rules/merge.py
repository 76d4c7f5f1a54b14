"""Variants: a parent :class:`~kpi_rules.nodes.Ruleset` and a child that ``extends`` it → one rule set.

A variant states only what differs from the rule set it extends. :func:`merge_rulesets` applies
it, with one rule at every level: **a declaration whose name exists in the parent replaces it in
place; a new name is added; ``remove KIND NAME`` drops a parent declaration.** In detail:

=====================  ======================================================================
header                 the child's id, title, basis, version, in_force (and ``display`` when it
                       writes one) replace the parent's; ``rates`` must be the same (KR352)
records, subjects      by name; the child's label replaces the parent's, and the inputs and
                       relations inside are merged by name (replaced in place, new ones added)
params, tables         by name; the child's versions of a name replace *all* the parent's
                       versions of that name
lets                   by name
criteria               the child's ``criteria`` block amends the parent's tree: its header
                       (label, max, cite) replaces the root's, and each item written directly
                       in it replaces the item with the same id *wherever it is in the
                       parent's tree*, with its whole subtree; an item with a new id is added
                       at the end of the root. To add a criterion inside a group, restate the
                       group (its maxima must add up anyway).
rating                 levels by id (a restated level replaces the band, label and citation;
                       its ``require`` conditions merge by name), disqualifiers by id; a new
                       level goes where its band puts it; ``fallthrough lowest`` and ``allow
                       override`` replace the parent's when the child writes them
removals               applied to the parent first: ``remove disqualify ideology``,
                       ``remove input person.x``, ``remove require good.all_done``,
                       ``remove cohort excellent_quota``...
periods, cohorts       the child's ``periods`` block replaces the parent's; cohort rules by name
other declarations     (added by later versions) by name, or the child's block replaces the
                       parent's
=====================  ======================================================================

Every node keeps its span, so a problem in the merged rule set is reported in the file that
declared it. The merged rule set is checked as a whole by the validator.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from kpi_rules import nodes
from kpi_rules.diagnostics import Diagnostic, DiagnosticSink

__all__ = ["merge_rulesets"]

_N = TypeVar("_N")

#: Ruleset fields merged by the explicit rules above (the others are handled generically).
_HANDLED = {
    "id", "title", "basis", "version", "in_force", "rates", "extends", "display", "records",
    "subjects", "params", "tables", "lets", "criteria", "rating", "removals", "span", "comments",
}


def merge_rulesets(parent: nodes.Ruleset, child: nodes.Ruleset) -> nodes.Ruleset:
    """The rule set ``child`` describes: ``parent`` with the child's declarations applied.

    Raises:
        DiagnosticError: KR352 when the two rate different subjects, KR353 for a ``remove`` of a
            declaration the parent does not have.

    Example:
        >>> from kpi_rules.parser import parse_ruleset
        >>> from kpi_rules.source import SourceFile
        >>> head = 'basis "b" version "1" in_force from 2026-01-01'
        >>> base = parse_ruleset(SourceFile("a.kpi", 'ruleset a "A" {' + head + ' rates p let x = 1 let y = 2}'))
        >>> var = parse_ruleset(SourceFile("b.kpi", 'ruleset b "B" {' + head + ' extends a rates p let y = 3}'))
        >>> [(let.name, str(let.expr.value)) for let in merge_rulesets(base, var).lets]
        [('x', '1'), ('y', '3')]
    """
    sink = DiagnosticSink()
    if parent.rates != child.rates:
        sink.error(
            "KR352", f"this variant rates `{child.rates}` but `{parent.id}` rates `{parent.rates}`",
            child.span, hint=f"write `rates {parent.rates}`, or extend a rule set that rates `{child.rates}`",
        )
        sink.raise_if_errors()
    base = _apply_removals(parent, child.removals, sink)
    sink.raise_if_errors()
    display = child.display if child.display != nodes.Display() else base.display
    changes: dict[str, Any] = dict(
        id=child.id,
        title=child.title,
        basis=child.basis,
        version=child.version,
        in_force=child.in_force,
        extends=child.extends,
        display=display,
        records=_by_name(base.records, child.records, _merge_record),
        subjects=_by_name(base.subjects, child.subjects, _merge_subject),
        params=_versions(base.params, child.params),
        tables=_versions(base.tables, child.tables),
        lets=_by_name(base.lets, child.lets),
        criteria=_merge_tree(base.criteria, child.criteria),
        rating=_merge_rating(base.rating, child.rating),
        removals=(),
        span=child.span,
        comments=child.comments or base.comments,
    )
    for f in dataclasses.fields(nodes.Ruleset):
        if f.name in _HANDLED:
            continue
        mine, theirs = getattr(child, f.name), getattr(base, f.name)
        if isinstance(mine, tuple) and isinstance(theirs, tuple):
            changes[f.name] = _by_name(theirs, mine) if _all_named(theirs + mine) else (mine or theirs)
        else:
            changes[f.name] = theirs if mine is None or mine == f.default else mine
    return dataclasses.replace(base, **changes)


# --------------------------------------------------------------------------- by name


def _all_named(items: tuple[Any, ...]) -> bool:
    return all(isinstance(getattr(item, "name", None), str) for item in items)


def _by_name(
    parent: Sequence[_N], child: Sequence[_N], combine: Callable[[_N, _N], _N] | None = None
) -> tuple[_N, ...]:
    """Parent items with same-named child items put in their place; new child items appended."""
    mine = {_name(item): item for item in child}
    out: list[_N] = []
    for item in parent:
        replacement = mine.pop(_name(item), None)
        if replacement is None:
            out.append(item)
        else:
            out.append(combine(item, replacement) if combine else replacement)
    out.extend(item for item in child if _name(item) in mine)
    return tuple(out)


def _name(item: object) -> str:
    return str(getattr(item, "name"))


def _versions(parent: Sequence[_N], child: Sequence[_N]) -> tuple[_N, ...]:
    """Versioned declarations: the child's versions of a name replace all the parent's."""
    names = {_name(item) for item in child}
    out: list[_N] = []
    placed: set[str] = set()
    for item in parent:
        name = _name(item)
        if name not in names:
            out.append(item)
        elif name not in placed:
            placed.add(name)
            out.extend(c for c in child if _name(c) == name)
    out.extend(c for c in child if _name(c) not in placed)
    return tuple(out)


def _merge_record(parent: nodes.RecordDecl, child: nodes.RecordDecl) -> nodes.RecordDecl:
    return dataclasses.replace(
        child, inputs=_by_name(parent.inputs, child.inputs), comments=child.comments or parent.comments
    )


def _merge_subject(parent: nodes.SubjectDecl, child: nodes.SubjectDecl) -> nodes.SubjectDecl:
    return dataclasses.replace(
        child,
        inputs=_by_name(parent.inputs, child.inputs),
        relations=_by_name(parent.relations, child.relations),
        comments=child.comments or parent.comments,
    )


# --------------------------------------------------------------------------- criteria


def _merge_tree(parent: nodes.CriteriaTree | None, child: nodes.CriteriaTree | None) -> nodes.CriteriaTree | None:
    if parent is None or child is None:
        return child or parent
    pending = {item.name: item for item in child.children}

    def walk(items: tuple[nodes.CriteriaItem, ...]) -> tuple[nodes.CriteriaItem, ...]:
        out: list[nodes.CriteriaItem] = []
        for item in items:
            if item.name in pending:
                out.append(pending.pop(item.name))
            elif isinstance(item, nodes.CriteriaGroup):
                out.append(dataclasses.replace(item, children=walk(item.children)))
            else:
                out.append(item)
        return tuple(out)

    children = walk(parent.children)
    added = tuple(item for item in child.children if item.name in pending)
    return dataclasses.replace(
        child, children=children + added, comments=child.comments or parent.comments
    )


# --------------------------------------------------------------------------- rating


def _merge_rating(parent: nodes.Rating | None, child: nodes.Rating | None) -> nodes.Rating | None:
    if parent is None or child is None:
        return child or parent
    levels = list(parent.levels)
    known = {level.name for level in parent.levels}
    for level in child.levels:
        if level.name in known:
            index = next(i for i, old in enumerate(levels) if old.name == level.name)
            old = levels[index]
            levels[index] = dataclasses.replace(
                level, conditions=_by_name(old.conditions, level.conditions),
                comments=level.comments or old.comments,
            )
        else:
            levels.insert(_level_position(levels, level), level)
    return dataclasses.replace(
        parent,
        levels=tuple(levels),
        disqualifiers=_by_name(parent.disqualifiers, child.disqualifiers),
        fallthrough=child.fallthrough if child.fallthrough != "highest_met" else parent.fallthrough,
        override=child.override or parent.override,
        cite=child.cite or parent.cite,
        span=child.span or parent.span,
        comments=child.comments or parent.comments,
    )


def _level_position(levels: list[nodes.Level], new: nodes.Level) -> int:
    """Where a new level goes: before the first level whose band starts lower (highest first)."""
    def lower(level: nodes.Level) -> float:
        return float("-inf") if level.lower is None else float(level.lower)

    for index, level in enumerate(levels):
        if lower(level) < lower(new):
            return index
    return len(levels)


# --------------------------------------------------------------------------- removals

#: ``remove KIND NAME`` of a top-level declaration → the Ruleset field holding it.
_TOP_LEVEL = {"record": "records", "subject": "subjects", "param": "params", "table": "tables", "let": "lets",
              "cohort": "cohorts"}


def _apply_removals(ruleset: nodes.Ruleset, removals: Iterable[nodes.Removal], sink: DiagnosticSink) -> nodes.Ruleset:
    for removal in removals:
        updated = _remove(ruleset, removal)
        if updated is None:
            sink.add(_unknown(ruleset, removal))
        else:
            ruleset = updated
    return ruleset


def _without(items: tuple[_N, ...], name: str) -> tuple[_N, ...] | None:
    kept = tuple(item for item in items if _name(item) != name)
    return kept if len(kept) < len(items) else None


def _remove(r: nodes.Ruleset, removal: nodes.Removal) -> nodes.Ruleset | None:
    kind, name = removal.kind, removal.name
    owner, _, member = name.rpartition(".")
    if kind in _TOP_LEVEL:
        field = _TOP_LEVEL[kind]
        kept = _without(getattr(r, field), name)
        changes: dict[str, Any] = {field: kept}
        return None if kept is None else dataclasses.replace(r, **changes)
    if kind in ("input", "relation"):
        for field in ("subjects", "records"):
            decls: list[Any] = list(getattr(r, field))
            for index, decl in enumerate(decls):
                if decl.name != owner or (kind == "relation" and field == "records"):
                    continue
                attr = "inputs" if kind == "input" else "relations"
                kept = _without(getattr(decl, attr), member)
                if kept is not None:
                    decls[index] = dataclasses.replace(decl, **{attr: kept})
                    update: dict[str, Any] = {field: tuple(decls)}
                    return dataclasses.replace(r, **update)
        return None
    if kind in ("criterion", "group"):
        tree = r.criteria
        if tree is None:
            return None
        want = nodes.Criterion if kind == "criterion" else nodes.CriteriaGroup
        found = False

        def prune(items: tuple[nodes.CriteriaItem, ...]) -> tuple[nodes.CriteriaItem, ...]:
            nonlocal found
            out: list[nodes.CriteriaItem] = []
            for item in items:
                if item.name == name and isinstance(item, want):
                    found = True
                    continue
                if isinstance(item, nodes.CriteriaGroup):
                    item = dataclasses.replace(item, children=prune(item.children))
                out.append(item)
            return tuple(out)

        children = prune(tree.children)
        return dataclasses.replace(r, criteria=dataclasses.replace(tree, children=children)) if found else None
    rating = r.rating
    if rating is None:
        return None
    if kind == "level":
        levels = _without(rating.levels, name)
        return None if levels is None else dataclasses.replace(r, rating=dataclasses.replace(rating, levels=levels))
    if kind == "disqualify":
        kept_q = _without(rating.disqualifiers, name)
        return None if kept_q is None else dataclasses.replace(r, rating=dataclasses.replace(rating, disqualifiers=kept_q))
    # require LEVEL.CONDITION
    levels_list = list(rating.levels)
    for index, level in enumerate(levels_list):
        if level.name == owner:
            conditions = _without(level.conditions, member)
            if conditions is None:
                return None
            levels_list[index] = dataclasses.replace(level, conditions=conditions)
            return dataclasses.replace(r, rating=dataclasses.replace(rating, levels=tuple(levels_list)))
    return None


def _candidates(r: nodes.Ruleset, kind: str) -> list[str]:
    rating = r.rating
    if kind in _TOP_LEVEL:
        field = _TOP_LEVEL[kind]
        return [_name(d) for d in getattr(r, field)]
    if kind == "input":
        owners: tuple[nodes.SubjectDecl | nodes.RecordDecl, ...] = (*r.subjects, *r.records)
        return [f"{d.name}.{i.name}" for d in owners for i in d.inputs]
    if kind == "relation":
        return [f"{d.name}.{x.name}" for d in r.subjects for x in d.relations]
    if kind in ("criterion", "group"):
        want = nodes.Criterion if kind == "criterion" else nodes.CriteriaGroup
        out: list[str] = []

        def walk(items: tuple[nodes.CriteriaItem, ...]) -> None:
            for item in items:
                if isinstance(item, want):
                    out.append(item.name)
                if isinstance(item, nodes.CriteriaGroup):
                    walk(item.children)

        walk(r.criteria.children if r.criteria else ())
        return out
    if rating is None:
        return []
    if kind == "level":
        return [level.name for level in rating.levels]
    if kind == "disqualify":
        return [q.name for q in rating.disqualifiers]
    return [f"{level.name}.{c.name}" for level in rating.levels for c in level.conditions]


def _unknown(r: nodes.Ruleset, removal: nodes.Removal) -> Diagnostic:
    names = _candidates(r, removal.kind)
    close = difflib.get_close_matches(removal.name, names, n=1, cutoff=0.6)
    if close:
        hint = f"did you mean `{close[0]}`?"
    elif names:
        hint = f"`{r.id}` has: " + ", ".join(f"`{n}`" for n in names[:8]) + (", ..." if len(names) > 8 else "")
    else:
        hint = f"`{r.id}` declares no {removal.kind} at all"
    return Diagnostic(
        "KR353", f"cannot remove {removal.kind} `{removal.name}`: `{r.id}` declares no such {removal.kind}",
        removal.span, hint=hint,
    )
