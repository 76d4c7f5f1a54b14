"""Bundles in: a bundle file (YAML) → :class:`Bundle` (a rule set per role, settings).

A bundle names the rule set that rates each role of the organisation model and the settings of
a province run (docs/decree-design.md, "Roles and the bundle")::

    bundle: nd335
    title: {vi: "...", en: "..."}
    roles: {staff: individual.kpi, deputy: deputy.kpi, head: head.kpi, unit: organisation.kpi}
    catalogue: null            # or a catalogue file, bound to every rule set's `catalogue` table
    settings: {head_supervises: subtree, deputy_supervises: unit}

Rule files and the catalogue are found relative to the bundle file. Loading checks every rule set
(all problems of all files together), that each declares relations only between the two kinds of
the organisation model as :mod:`kpi_rules.relations` defines them (KR713), and that the roles do
not depend on each other in a circle the unit tree cannot order (KR714). A cycle between two
particular subjects is found later, when the province data is known (:mod:`kpi_rules.province`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from kpi_rules import nodes
from kpi_rules.diagnostics import Diagnostic, DiagnosticError, Label
from kpi_rules.engine import RuleSet, load
from kpi_rules.loader import read_source, resolve_ruleset
from kpi_rules.org import PERSON_ROLES, ROLES, OrgSettings
from kpi_rules.relations import PERSON, UNIT, relation_spec
from kpi_rules.safe_yaml import SafeYamlError, load_safe_yaml

__all__ = ["Bundle", "RoleRead", "RoleRules", "is_bundle_file", "load_bundle", "role_kind"]

_BUNDLE_KEY = re.compile(r"^bundle[ \t]*:", re.MULTILINE)
Direction = Literal["down", "up", "across"]


def role_kind(role: str) -> str:
    """The subject kind a role rates: ``unit`` for the unit role, ``person`` for the others."""
    return UNIT if role == "unit" else PERSON


@dataclass(frozen=True, slots=True)
class RoleRules:
    """The rule set of one role."""

    role: str
    path: Path
    rules: RuleSet


@dataclass(frozen=True, slots=True)
class RoleRead:
    """Role ``role`` reads, through ``relation``, results of subjects rated by ``target``.

    ``direction`` says how the unit tree orders the two when they are the same role: ``down``
    (the related subject is in a unit below: ``children``, a head's ``supervised`` over the
    subtree), ``up`` (``parent``) or ``across`` (no tree order: the same unit).
    """

    role: str
    relation: str
    target: str
    direction: Direction
    decl: nodes.RelationDecl = field(compare=False)


@dataclass(frozen=True, slots=True)
class Bundle:
    id: str
    path: Path
    roles: Mapping[str, RoleRules]
    settings: OrgSettings = OrgSettings()
    title: nodes.Text | None = None
    #: The catalogue file bound to the rule sets (resolved against the bundle file), if any.
    catalogue: str | None = None
    #: What each role reads of other roles (the role-level dependency graph).
    reads: tuple[RoleRead, ...] = ()

    def rules_for(self, role: str) -> RuleSet | None:
        found = self.roles.get(role)
        return found.rules if found is not None else None


class _BundleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    bundle: str
    title: dict[str, str] | str | None = None
    roles: dict[str, str]
    catalogue: str | None = None
    settings: dict[str, Any] = {}


_SETTINGS: dict[str, tuple[str, ...]] = {
    "head_supervises": ("unit", "subtree"),
    "deputy_supervises": ("unit", "subtree"),
}


def is_bundle_file(path: str | Path) -> bool:
    """A YAML file whose top level has a ``bundle:`` key (read from its first 64 KiB)."""
    p = Path(path)
    if p.suffix.lower() not in (".yaml", ".yml") or not p.is_file():
        return False
    try:
        with p.open(encoding="utf-8-sig", errors="replace") as handle:
            head = handle.read(65536)
    except OSError:
        return False
    return _BUNDLE_KEY.search(head) is not None


def load_bundle(path: str | Path) -> Bundle:
    """Read a bundle file and load the rule set of every role.

    Raises:
        DiagnosticError: KR711 a malformed bundle, KR712 an unknown role, KR716 an invalid setting,
            the problems of every rule file, KR713 a relation between the wrong kinds and KR714 a
            cycle between roles, each file's problems reported together.
    """
    p = Path(path)
    where = str(p)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise DiagnosticError([Diagnostic("KR601", f"cannot read the file: {error.strerror}", where=where)]) from None
    except UnicodeDecodeError:
        raise DiagnosticError([Diagnostic("KR711", "the file is not UTF-8 text", where=where)]) from None
    try:
        data = load_safe_yaml(text)
    except SafeYamlError as error:
        raise DiagnosticError([Diagnostic("KR711", str(error), where=where)]) from None
    try:
        spec = _BundleIn.model_validate(data)
    except ValidationError as error:
        raise DiagnosticError([
            Diagnostic("KR711", f"{'.'.join(str(x) for x in e['loc']) or 'bundle'}: {e['msg']}", where=where,
                       hint="a bundle has `bundle`, `roles` and optionally `title`, `catalogue`, `settings`")
            for e in error.errors()[:20]
        ]) from None
    problems: list[Diagnostic] = []
    settings = _settings(spec.settings, where, problems)
    for role in spec.roles:
        if role not in ROLES:
            problems.append(Diagnostic("KR712", f"`{role}` is not a role", where=f"{where}, roles.{role}",
                                       hint="the roles are " + ", ".join(ROLES)))
    if problems:
        raise DiagnosticError(problems)
    base = p.parent
    catalogue = str(base / spec.catalogue) if spec.catalogue else None
    roles: dict[str, RoleRules] = {}
    for role, file in spec.roles.items():
        rule_path = base / file
        try:
            bound = catalogue if catalogue is not None and _reads_catalogue(rule_path) else None
            roles[role] = RoleRules(role, rule_path, load(rule_path, catalogue=bound))
        except DiagnosticError as error:
            problems.extend(error.diagnostics)
    if problems:
        raise DiagnosticError(problems)
    reads = _role_reads(roles, settings, problems)
    _role_cycles(reads, problems)
    if problems:
        raise DiagnosticError(problems)
    title = spec.title
    label = nodes.Text(title.get("vi", spec.bundle), title.get("en")) if isinstance(title, dict) else (
        nodes.Text(title) if isinstance(title, str) else None)
    return Bundle(spec.bundle, p, MappingProxyType(roles), settings, label, catalogue, tuple(reads))


def _reads_catalogue(path: Path) -> bool:
    """Whether the rule set (with its ``extends`` chain) declares the ``catalogue`` table the
    bundle's catalogue is bound to; a rule set without one (the organisation's) is loaded as is."""
    ruleset, _ = resolve_ruleset(read_source(path))
    return any(t.name == "catalogue" for t in ruleset.tables)


def _settings(raw: Mapping[str, Any], where: str, problems: list[Diagnostic]) -> OrgSettings:
    values: dict[str, str] = {}
    for key, value in raw.items():
        allowed = _SETTINGS.get(key)
        if allowed is None:
            problems.append(Diagnostic("KR716", f"`{key}` is not a setting", where=f"{where}, settings.{key}",
                                       hint="the settings are " + ", ".join(_SETTINGS)))
        elif value not in allowed:
            problems.append(Diagnostic("KR716", f"`{value}` is not a value of `{key}`", where=f"{where}, settings.{key}",
                                       hint="write one of " + ", ".join(allowed)))
        else:
            values[key] = value
    return OrgSettings(**values)  # type: ignore[arg-type]


def _targets(role: str, relation: str, settings: OrgSettings) -> tuple[tuple[str, Direction], ...]:
    """The roles whose subjects ``relation`` links a subject of ``role`` to, with the tree order."""
    if relation == "supervised":
        if role == "head":
            below: tuple[tuple[str, Direction], ...] = (("head", "down"),) if settings.head_supervises == "subtree" else ()
            return (("staff", "across"), ("deputy", "across"), *below)
        if role == "deputy":
            return (("staff", "across"),)
        return ()
    table: dict[str, tuple[tuple[str, Direction], ...]] = {
        "unit": (("unit", "across"),),
        "children": (("unit", "down"),),
        "parent": (("unit", "up"),),
        "staff": tuple((r, "across") for r in PERSON_ROLES),
        "head": (("head", "across"),),
    }
    return table.get(relation, ())


def _role_reads(roles: Mapping[str, RoleRules], settings: OrgSettings,
                problems: list[Diagnostic]) -> list[RoleRead]:
    reads: list[RoleRead] = []
    for role, rr in roles.items():
        subject = rr.rules.plan.checked.subject
        kind = role_kind(role)
        if subject.name != kind:
            problems.append(Diagnostic(
                "KR713", f"the role `{role}` rates {kind}s, but `{rr.rules.id}` rates `{subject.name}`",
                subject.span, where=None if subject.span else str(rr.path),
                hint=f"a rule set for the role `{role}` says `rates {kind}`"))
            continue
        subjects = rr.rules.plan.checked.subjects
        for rel in subject.relations:
            spec = relation_spec(rel.name)
            if spec is None:
                continue  # reported by the checker (KR360)
            target_decl = subjects.get(rel.target)
            if spec.on != kind or rel.target != spec.target or target_decl is None:
                problems.append(Diagnostic(
                    "KR713", f"the relation `{rel.name}` links a {spec.on} to "
                    f"{'a list of ' if spec.many else 'a '}{spec.target}, but `{rr.rules.id}` declares it "
                    f"on `{subject.name}` to `{rel.target}`", rel.span,
                    hint=f"declare it inside `subject {spec.on}` as `relation {rel.name} : "
                    f"{'list of ' if spec.many else ''}{spec.target}`"))
                continue
            for target, direction in _targets(role, rel.name, settings):
                if target in roles:
                    reads.append(RoleRead(role, rel.name, target, direction, rel))
    return reads


def _role_cycles(reads: list[RoleRead], problems: list[Diagnostic]) -> None:
    """A cycle between roles that the unit tree cannot order, naming both ends."""
    for role in sorted({r.role for r in reads}):
        own = [r for r in reads if r.role == role and r.target == role]
        across = [r for r in own if r.direction == "across"]
        downs = [r for r in own if r.direction == "down"]
        ups = [r for r in own if r.direction == "up"]
        if across:
            problems.append(_cycle(across[0], across[0]))
        elif downs and ups:
            problems.append(_cycle(downs[0], ups[0]))
    edges: dict[str, dict[str, RoleRead]] = {}
    for r in reads:
        if r.target != r.role:
            edges.setdefault(r.role, {}).setdefault(r.target, r)
    reported: set[frozenset[str]] = set()
    for start in sorted(edges):
        path = _find_path(edges, start)
        if path is None:
            continue
        key = frozenset(x.role for x in path)
        if key in reported:
            continue
        reported.add(key)
        problems.append(_cycle(path[0], path[-1], path))


def _find_path(edges: Mapping[str, Mapping[str, RoleRead]], start: str) -> list[RoleRead] | None:
    """The first cycle from ``start`` back to it, as the reads along it (depth first)."""
    stack: list[tuple[str, list[RoleRead]]] = [(start, [])]
    while stack:
        node, path = stack.pop()
        for target, read in sorted(edges.get(node, {}).items(), reverse=True):
            if target == start:
                return [*path, read]
            if all(r.role != target for r in path) and len(path) < len(edges):
                stack.append((target, [*path, read]))
    return None


def _cycle(first: RoleRead, last: RoleRead, path: list[RoleRead] | None = None) -> Diagnostic:
    if path is None and first is last:
        message = (f"the role `{first.role}` reads `{first.relation}`, which links a subject to others of the same "
                   f"role in the same unit: their order cannot be decided")
    elif path is None:
        message = (f"the role `{first.role}` reads both `{first.relation}` (units below) and `{last.relation}` "
                   f"(units above): each unit would wait for the other")
    else:
        steps = "; ".join(f"`{r.role}` reads `{r.relation}` (rated by `{r.target}`)" for r in path)
        message = (f"the roles `{first.role}` and `{first.target}` depend on each other: {steps}")
    labels = (Label(last.decl.span, f"`{last.role}` reads `{last.relation}` here"),) if (
        last is not first and last.decl.span is not None) else ()
    return Diagnostic("KR714", message, first.decl.span, labels=labels,
                      hint="one of the two must not read the other: remove one of the relations")
