"""Compiler: :class:`~kpi_rules.checked.CheckedRuleset` → :class:`~kpi_rules.plan.Plan`.

Every let, criterion, group, the criteria tree, every level condition and every disqualifier
becomes a :class:`~kpi_rules.plan.Step` with the global names it reads. The steps are put in
dependency order; among independent steps the declaration order is kept, so the plan is the
same on every run. A cycle between definitions (``let x = y + 1`` with ``let y = x``, or a
criterion that reads the total containing it) has no order: each distinct cycle is reported
once as KR401, naming the definitions along it, and all are raised together.

>>> # plan = compile_ruleset(check_ruleset(parse_ruleset(source)))   # doctest: +SKIP
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from kpi_rules import nodes
from kpi_rules.checked import CheckedRuleset
from kpi_rules.diagnostics import Diagnostic, DiagnosticError, Label
from kpi_rules.plan import ParamVersion, Plan, Step, StepKind, StepNode, TableVersion
from kpi_rules.results import Provenance, Value
from kpi_rules.source import Span
from kpi_rules.valuetypes import EnumType, ListOf, NeverType, TableType
from kpi_rules.values import literal_value

__all__ = ["compile_ruleset", "expression_reads", "MAX_REPORTED_CYCLES"]

#: More cycles than this in one rule set are not listed one by one.
MAX_REPORTED_CYCLES = 50

#: Symbol kinds whose names are steps (edges of the dependency graph).
_STEP_SYMBOLS = ("let", "criterion", "group", "total")


def compile_ruleset(checked: CheckedRuleset, content_hash: str = "") -> Plan:
    """Order the definitions of a checked rule set for evaluation.

    Args:
        checked: the output of :func:`kpi_rules.validator.check_ruleset`.
        content_hash: the hash of the rule files, carried into every result's provenance.

    Raises:
        DiagnosticError: with one KR401 diagnostic per distinct cycle between definitions.
    """
    ruleset = checked.ruleset
    raw_steps, reads = _collect_steps(ruleset)
    step_names = {s.name for s in raw_steps}
    ordered = _topological(raw_steps, step_names)
    if len(ordered) < len(raw_steps):
        placed = {s.name for s in ordered}
        remaining = [s for s in raw_steps if s.name not in placed]
        raise DiagnosticError(_cycle_diagnostics(remaining, step_names, reads))
    return Plan(
        checked=checked,
        steps=tuple(ordered),
        provenance=Provenance(ruleset.id, ruleset.version, content_hash),
        params=_param_versions(ruleset),
        tables=_table_versions(ruleset),
        enum_orders=_EnumOrders(checked).run(ordered),
    )


# --------------------------------------------------------------------------- reads


def expression_reads(expr: nodes.Expr) -> dict[str, Span | None]:
    """The global names an expression reads, in order of first use, with that use's span.

    Aggregate variables (``t`` in ``sum(t in tasks: t.assigned)``) are local and left out;
    field names, function names and keyword names are not names.
    """
    out: dict[str, Span | None] = {}
    _reads(expr, frozenset(), out)
    return out


def _reads(expr: nodes.Expr, bound: frozenset[str], out: dict[str, Span | None]) -> None:
    match expr:
        case nodes.Var(name=name, span=span):
            if name not in bound and name not in out:
                out[name] = span
        case nodes.Member(obj=obj):
            _reads(obj, bound, out)
        case nodes.Index(obj=obj, key=key):
            _reads(obj, bound, out)
            _reads(key, bound, out)
        case nodes.Unary(operand=operand):
            _reads(operand, bound, out)
        case nodes.Binary(left=left, right=right):
            _reads(left, bound, out)
            _reads(right, bound, out)
        case nodes.IfElse(cond=cond, then=then, otherwise=otherwise):
            _reads(cond, bound, out)
            _reads(then, bound, out)
            _reads(otherwise, bound, out)
        case nodes.Call(args=args, kwargs=kwargs):
            for arg in args:
                _reads(arg, bound, out)
            for kw in kwargs:
                _reads(kw.value, bound, out)
        case nodes.Aggregate(var=var, source=source, where=where, body=body):
            _reads(source, bound, out)
            inner = bound | {var}
            if where is not None:
                _reads(where, inner, out)
            if body is not None:
                _reads(body, inner, out)
        case nodes.Tiers(subject=subject, tiers=tiers, otherwise=otherwise):
            _reads(subject, bound, out)
            for tier in tiers:
                _reads(tier.threshold, bound, out)
                _reads(tier.value, bound, out)
            _reads(otherwise, bound, out)
        case _:
            pass  # literals and insufficient_data read nothing


# --------------------------------------------------------------------------- steps


def _collect_steps(
    ruleset: nodes.Ruleset,
) -> tuple[list[Step], dict[tuple[str, str], tuple[Span | None, str]]]:
    """All steps in declaration order, and for each graph edge its span and kind."""
    steps: list[Step] = []
    #: (from, to) -> (span of the reading or contained node, "reads" | "contains")
    edges: dict[tuple[str, str], tuple[Span | None, str]] = {}

    def add(
        name: str,
        kind: StepKind,
        node: StepNode,
        expr: nodes.Expr | None,
        level: str | None = None,
        parent: str | None = None,
        children: tuple[str, ...] = (),
    ) -> None:
        if expr is not None:
            found = expression_reads(expr)
            deps = tuple(found)
            for dep, span in found.items():
                edges.setdefault((name, dep), (span, "reads"))
        else:
            deps = children
        steps.append(Step(name, kind, node, deps, len(steps), level, parent, children))

    for let in ruleset.lets:
        add(let.name, "let", let, let.expr)

    def walk(item: nodes.CriteriaItem | nodes.CriteriaTree, parent: str | None) -> None:
        if isinstance(item, nodes.Criterion):
            add(item.name, "criterion", item, item.expr, parent=parent)
            return
        children = tuple(child.name for child in item.children)
        kind: StepKind = "total" if isinstance(item, nodes.CriteriaTree) else "group"
        add(item.name, kind, item, None, parent=parent, children=children)
        for child in item.children:
            edges.setdefault((item.name, child.name), (child.span, "contains"))
            walk(child, item.name)

    if ruleset.criteria is not None:
        walk(ruleset.criteria, None)
    if ruleset.rating is not None:
        for level in ruleset.rating.levels:
            for cond in level.conditions:
                add(f"{level.name}.{cond.name}", "condition", cond, cond.expr, level=level.name)
        for disq in ruleset.rating.disqualifiers:
            add(disq.name, "disqualifier", disq, disq.when)
    return steps, edges


def _graph_deps(step: Step, step_names: set[str]) -> list[str]:
    return [d for d in dict.fromkeys(step.deps) if d in step_names]


def _topological(steps: list[Step], step_names: set[str]) -> list[Step]:
    """Kahn's algorithm; among ready steps the earliest declared goes first."""
    by_name = {s.name: s for s in steps}
    waiting: dict[str, int] = {}
    users: dict[str, list[str]] = {s.name: [] for s in steps}
    for s in steps:
        deps = _graph_deps(s, step_names)
        waiting[s.name] = len(deps)
        for d in deps:
            users[d].append(s.name)
    ready = [(s.index, s.name) for s in steps if waiting[s.name] == 0]
    heapq.heapify(ready)
    ordered: list[Step] = []
    while ready:
        _, name = heapq.heappop(ready)
        ordered.append(by_name[name])
        for user in users[name]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, (by_name[user].index, user))
    return ordered


# --------------------------------------------------------------------------- cycles


def _cycle_diagnostics(
    remaining: list[Step],
    step_names: set[str],
    edges: Mapping[tuple[str, str], tuple[Span | None, str]],
) -> list[Diagnostic]:
    names = [s.name for s in remaining]
    inside = set(names)
    by_name = {s.name: s for s in remaining}
    succ = {n: [d for d in _graph_deps(by_name[n], step_names) if d in inside] for n in names}
    reach = {n: _reachable(n, succ) for n in names}
    # Keep only edges inside one strongly connected component: other edges lie on no cycle.
    for n in names:
        succ[n] = [d for d in succ[n] if n in reach[d]]
    cycles = _elementary_cycles(names, succ, MAX_REPORTED_CYCLES + 1)
    diagnostics = [_cycle_diagnostic(c, by_name, edges) for c in cycles[:MAX_REPORTED_CYCLES]]
    if len(cycles) > MAX_REPORTED_CYCLES:
        diagnostics[-1] = Diagnostic(
            diagnostics[-1].code,
            diagnostics[-1].message,
            diagnostics[-1].span,
            note=f"more than {MAX_REPORTED_CYCLES} cycles; only the first are listed",
            labels=diagnostics[-1].labels,
        )
    return diagnostics


def _reachable(start: str, succ: Mapping[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(succ[start])
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(succ[n])
    return seen


def _elementary_cycles(order: list[str], succ: Mapping[str, list[str]], limit: int) -> list[list[str]]:
    """Each elementary cycle once, found from its earliest-declared definition."""
    pos = {n: i for i, n in enumerate(order)}
    cycles: list[list[str]] = []
    for root in order:
        r = pos[root]
        path = [root]
        on_path = {root}
        stack: list[Iterator[str]] = [iter(succ[root])]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                on_path.discard(path.pop())
                continue
            if nxt == root:
                cycles.append(list(path))
                if len(cycles) >= limit:
                    return cycles
            elif pos[nxt] > r and nxt not in on_path:
                path.append(nxt)
                on_path.add(nxt)
                stack.append(iter(succ[nxt]))
    return cycles


def _cycle_diagnostic(
    cycle: list[str],
    by_name: Mapping[str, Step],
    edges: Mapping[tuple[str, str], tuple[Span | None, str]],
) -> Diagnostic:
    k = len(cycle)

    def edge(i: int) -> tuple[str, str, Span | None, str]:
        src, dst = cycle[i], cycle[(i + 1) % k]
        span, kind = edges.get((src, dst), (None, "reads"))
        return src, dst, span or by_name[src].span, kind

    # Start the story at a definition that reads the next one (not at a containing group).
    start = next((i for i in range(k) if edge(i)[3] == "reads"), 0)
    cycle = cycle[start:] + cycle[:start]
    first_src, first_dst, first_span, first_kind = edge(0)
    labels: list[Label] = []
    if k == 1:
        message = f"`{first_src}` depends on itself"
    else:
        verb = "depends on" if first_kind == "reads" else "contains"
        parts = [f"`{first_src}` {verb} `{first_dst}`"]
        for i in range(1, k):
            src, dst, span, kind = edge(i)
            verb = "depends on" if kind == "reads" else "contains"
            parts.append(f"which {verb} `{dst}`")
            if span is not None:
                note = f"`{src}` reads `{dst}` here" if kind == "reads" else f"`{src}` contains `{dst}`"
                labels.append(Label(span, note))
        message = ", ".join(parts)
    return Diagnostic(
        "KR401",
        message,
        first_span,
        hint="a definition cannot depend on itself, directly or through others; "
        "compute the shared part in its own `let`",
        labels=tuple(labels),
    )


# --------------------------------------------------------------------------- versions


def _param_versions(ruleset: nodes.Ruleset) -> dict[str, tuple[ParamVersion, ...]]:
    out: dict[str, list[ParamVersion]] = {}
    for p in ruleset.params:
        out.setdefault(p.name, []).append(ParamVersion(p, literal_value(p.value)))
    return {name: tuple(versions) for name, versions in out.items()}


def _table_versions(ruleset: nodes.Ruleset) -> dict[str, tuple[TableVersion, ...]]:
    out: dict[str, list[TableVersion]] = {}
    for t in ruleset.tables:
        rows: dict[object, Value] = {}
        for row in t.rows:
            rows[literal_value(row.key)] = literal_value(row.value)
        out.setdefault(t.name, []).append(TableVersion(t, rows))
    return {name: tuple(versions) for name, versions in out.items()}


# --------------------------------------------------------------------------- one_of orders

_ORDERED_OPS = ("<", "<=", ">", ">=", "==", "!=")


@dataclass
class _EnumOrders:
    """Finds the ``one_of`` type of compared values, so the evaluator can order members.

    The checker's ``expr_types`` is used first; declarations are the fallback (the checker
    may leave some nodes untyped)."""

    checked: CheckedRuleset

    def run(self, steps: list[Step]) -> dict[int, tuple[str, ...]]:
        self.found: dict[int, tuple[str, ...]] = {}
        for step in steps:
            if step.expr is not None:
                self.walk(step.expr, {})
        return self.found

    def walk(self, expr: nodes.Expr, scope: dict[str, Mapping[str, nodes.InputDecl]]) -> None:
        match expr:
            case nodes.Binary(op=op, left=left, right=right):
                if op in _ORDERED_OPS:
                    members = self.enum_of(left, scope) or self.enum_of(right, scope)
                    if members is not None:
                        self.found[id(expr)] = members
                self.walk(left, scope)
                self.walk(right, scope)
            case nodes.Tiers(subject=subject, tiers=tiers, otherwise=otherwise):
                members = self.enum_of(subject, scope)
                if members is not None:
                    self.found[id(expr)] = members
                self.walk(subject, scope)
                for tier in tiers:
                    self.walk(tier.threshold, scope)
                    self.walk(tier.value, scope)
                self.walk(otherwise, scope)
            case nodes.Aggregate(var=var, source=source, where=where, body=body):
                self.walk(source, scope)
                inner = dict(scope)
                inner[var] = self.item_fields(source, scope)
                if where is not None:
                    self.walk(where, inner)
                if body is not None:
                    self.walk(body, inner)
            case nodes.Member(obj=obj):
                self.walk(obj, scope)
            case nodes.Index(obj=obj, key=key):
                self.walk(obj, scope)
                self.walk(key, scope)
            case nodes.Unary(operand=operand):
                self.walk(operand, scope)
            case nodes.IfElse(cond=cond, then=then, otherwise=otherwise):
                for part in (cond, then, otherwise):
                    self.walk(part, scope)
            case nodes.Call(args=args, kwargs=kwargs):
                for arg in args:
                    self.walk(arg, scope)
                for kw in kwargs:
                    self.walk(kw.value, scope)
            case _:
                pass

    def item_fields(
        self, source: nodes.Expr, scope: Mapping[str, Mapping[str, nodes.InputDecl]]
    ) -> Mapping[str, nodes.InputDecl]:
        checked = self.checked
        t = checked.expr_types.get(id(source))
        if isinstance(t, ListOf) and t.item.name in checked.records:
            return {d.name: d for d in checked.records[t.item.name].inputs}
        if isinstance(source, nodes.Var) and source.name not in scope:
            symbol = checked.symbols.get(source.name)
            decl = symbol.decl if symbol is not None else None
            if isinstance(decl, nodes.InputDecl) and isinstance(decl.type, nodes.ListType):
                record = checked.records.get(decl.type.item)
                if record is not None:
                    return {d.name: d for d in record.inputs}
            if isinstance(decl, nodes.RelationDecl):
                subject = checked.subjects.get(decl.target)
                if subject is not None:
                    return {d.name: d for d in subject.inputs}
        return {}

    def enum_of(
        self, expr: nodes.Expr, scope: Mapping[str, Mapping[str, nodes.InputDecl]]
    ) -> tuple[str, ...] | None:
        t = self.checked.expr_types.get(id(expr))
        if isinstance(t, EnumType):
            return t.members
        if t is not None and not isinstance(t, NeverType):
            return None
        match expr:
            case nodes.Var(name=name) if name not in scope:
                symbol = self.checked.symbols.get(name)
                if symbol is None:
                    return None
                if isinstance(symbol.type, EnumType):
                    return symbol.type.members
                decl = symbol.decl
                if isinstance(decl, (nodes.InputDecl, nodes.ParamDecl)):
                    return _decl_members(decl.type)
            case nodes.Member(obj=nodes.Var(name=var), name=field) if var in scope:
                decl = scope[var].get(field)
                return _decl_members(decl.type) if decl is not None else None
            case nodes.Index(obj=nodes.Var(name=name)):
                symbol = self.checked.symbols.get(name)
                if symbol is not None and isinstance(symbol.type, TableType):
                    value = symbol.type.value
                    return value.members if isinstance(value, EnumType) else None
                if symbol is not None and isinstance(symbol.decl, nodes.TableDecl):
                    return _decl_members(symbol.decl.value_type)
            case nodes.IfElse(then=then, otherwise=otherwise):
                return self.enum_of(then, scope) or self.enum_of(otherwise, scope)
            case nodes.Call(func="coalesce" | "min" | "max", args=args):
                for arg in args:
                    members = self.enum_of(arg, scope)
                    if members is not None:
                        return members
            case _:
                return None
        return None


def _decl_members(t: nodes.TypeExpr) -> tuple[str, ...] | None:
    return t.members if isinstance(t, nodes.OneOfType) else None
