"""The YAML form of a rule set: YAML text (a :class:`SourceFile`) → :class:`nodes.Ruleset`, and back.

A rule set written in YAML loads to exactly the nodes its ``.kpi`` twin parses to, so the two
compare equal with ``==``. ``docs/yaml-form.md`` describes the schema.

This module reads the rule-set structure (``ruleset`` … ``override``) on top of the node
primitives of :mod:`kpi_rules.yaml_nodes` (the hardened loader, scalars, expressions, positions);
the writer is :mod:`kpi_rules.yaml_dump`, re-exported here as :func:`dump_yaml_ruleset`.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Final, cast

import yaml

from kpi_rules import nodes
from kpi_rules.source import SourceFile, Span
from kpi_rules.yaml_dump import dump_yaml_ruleset as dump_yaml_ruleset
from kpi_rules.yaml_nodes import MAX_DEPTH as MAX_DEPTH
from kpi_rules.yaml_nodes import _RuleLoader as _RuleLoader
from kpi_rules.yaml_nodes import _DOTTED_NAME, _NAME, _Fields, _Reader, _compose, _is_null, _join

__all__ = ["MAX_DEPTH", "dump_yaml_ruleset", "load_yaml_ruleset"]

_MONOTONE: Final[tuple[nodes.Monotone, ...]] = ("increasing", "decreasing")
_ROUNDING_MODES: Final[tuple[nodes.RoundingMode, ...]] = ("half_up", "half_even", "down", "up")
_FALLTHROUGHS: Final[tuple[nodes.Fallthrough, ...]] = ("highest_met", "lowest")
_ITEM_KINDS: Final = ("group", "bonus", "penalty", "criterion")
_DEFAULT_DISPLAY: Final = nodes.Display()


# =========================================================================== loading


def load_yaml_ruleset(source: SourceFile) -> nodes.Ruleset:
    r"""Load the YAML form of a rule set.

    Raises:
        DiagnosticError: KR105 (too large or too deep), KR201 (YAML syntax), KR202 (duplicate
            key), KR203/KR204/KR205 (schema), and KR1xx for errors inside expression strings.

    >>> text = (
    ...     "ruleset: demo\ntitle: {vi: Thử, en: Test}\nbasis: b\nversion: '1'\n"
    ...     "in_force: {from: 2026-01-01}\nrates: person\nlets:\n  a: 2.5 * 2\n"
    ... )
    >>> rs = load_yaml_ruleset(SourceFile("demo.yaml", text))
    >>> rs.in_force.start, rs.lets[0].expr.left
    (datetime.date(2026, 1, 1), NumberLit(value=Fraction(5, 2)))
    """
    root = _compose(source)
    reader = _RulesetReader(source)
    reader.check_duplicate_keys(root)
    ruleset = reader.ruleset(root)
    reader.sink.raise_if_errors()
    return ruleset


def _leading_comments(text: str) -> tuple[str, ...]:
    """The ``#`` lines at the top of the file: the rule set's comments, as the text form keeps them."""
    comments: list[str] = []
    for line in text.splitlines():
        stripped = line.strip().lstrip("\ufeff")
        if stripped.startswith("#"):
            comments.append(stripped[1:].rstrip())
        elif stripped:
            break
    return tuple(comments)


class _RulesetReader(_Reader):
    """Reads the rule-set structure (``ruleset`` … ``override``) with the primitives of :class:`_Reader`."""

    # ----------------------------------------------------------------- the rule set

    def ruleset(self, root: yaml.Node) -> nodes.Ruleset:
        if not isinstance(root, yaml.MappingNode):
            self.wrong(root, "", "a mapping that starts with `ruleset: <id>`")
            return nodes.Ruleset("", nodes.Text(""), "", "", nodes.Validity(dt.date(1, 1, 1)), "")
        f = self.fields(root, "", owner=Span(self.source, self.span(root).start, self.span(root).start))
        ruleset = nodes.Ruleset(
            id=self.dotted_name(f.get("ruleset", required=True), "ruleset"),
            title=self.text(f.get("title", required=True), "title"),
            basis=self.string(f.get("basis", required=True), "basis"),
            version=self.string(f.get("version", required=True), "version"),
            in_force=self.validity(f.get("in_force", required=True), "in_force", f.key_span("in_force")),
            extends=self.optional(self.dotted_name, f.get("extends"), "extends"),
            rates=self.name(f.get("rates", required=True), "rates"),
            display=self.display(f.get("display"), "display"),
            records=tuple(self.record(n, k, v, p) for n, k, v, p in self.named(f.get("records"), "records")),
            subjects=tuple(self.subject(n, k, v, p) for n, k, v, p in self.named(f.get("subjects"), "subjects")),
            params=tuple(self.param(item, p) for item, p in self.items(f.get("params"), "params")),
            tables=tuple(self.table(item, p) for item, p in self.items(f.get("tables"), "tables")),
            lets=tuple(self.let(n, k, v, p) for n, k, v, p in self.named(f.get("lets"), "lets")),
            criteria=self.optional(self.criteria, f.get("criteria"), "criteria"),
            rating=self.optional(self.rating, f.get("rating"), "rating"),
            removals=tuple(self.removal(item, p) for item, p in self.items(f.get("remove"), "remove")),
            periods=self.optional(self.periods, f.get("periods"), "periods"),
            cohorts=tuple(self.cohort(n, k, v, p) for n, k, v, p in self.named(f.get("cohorts"), "cohorts")),
            span=self.span(root),
            comments=_leading_comments(self.source.text),
        )
        f.finish()
        return ruleset

    def removal(self, node: yaml.Node, path: str) -> nodes.Removal:
        """``remove: ["disqualify ideology", "input person.x"]`` (a variant drops parent declarations)."""
        kind, _, name = self.string(node, path).partition(" ")
        if kind not in nodes.REMOVAL_KINDS or not _DOTTED_NAME.fullmatch(name.strip()):
            self.wrong(node, path, "`KIND NAME`, e.g. `disqualify ideology`",
                       hint="KIND is one of " + ", ".join(nodes.REMOVAL_KINDS))
        return nodes.Removal(cast(nodes.RemovalKind, kind), name.strip(), span=self.span(node))

    def validity(self, node: yaml.Node | None, path: str, owner: Span | None = None) -> nodes.Validity:
        f = self.fields(node, path, owner)
        start = self.date(f.get("from", required=True), f.sub("from"))
        end = self.optional(self.date, f.get("until"), f.sub("until"))
        f.finish()
        return nodes.Validity(start, end)

    def flat_validity(self, f: _Fields) -> nodes.Validity | None:
        """``from:``/``until:`` written directly in a param or table."""
        start_node = f.get("from", required=f.has("until"))
        end = self.optional(self.date, f.get("until"), f.sub("until"))
        if start_node is None:
            return None
        return nodes.Validity(self.date(start_node, f.sub("from")), end)

    def display(self, node: yaml.Node | None, path: str) -> nodes.Display:
        if node is None:
            return nodes.Display()
        f = self.fields(node, path)
        decimals_node, mode_node = f.get("decimals"), f.get("mode")
        display = nodes.Display(
            decimals=_DEFAULT_DISPLAY.decimals if decimals_node is None
            else self.integer(decimals_node, f.sub("decimals")),
            mode=_DEFAULT_DISPLAY.mode if mode_node is None else self.choice(mode_node, f.sub("mode"), _ROUNDING_MODES),
        )
        f.finish()
        return display

    # ----------------------------------------------------------------- records and subjects

    def record(self, name: str, key: yaml.Node, node: yaml.Node, path: str) -> nodes.RecordDecl:
        f = self.fields(node, path, self.span(key))
        decl = nodes.RecordDecl(
            name=name,
            label=self.text(f.get("label", required=True), f.sub("label")),
            inputs=tuple(self.input(n, k, v, p) for n, k, v, p in self.named(f.get("inputs"), f.sub("inputs"))),
            span=self.entry_span(key, node),
        )
        f.finish()
        return decl

    def subject(self, name: str, key: yaml.Node, node: yaml.Node, path: str) -> nodes.SubjectDecl:
        f = self.fields(node, path, self.span(key))
        decl = nodes.SubjectDecl(
            name=name,
            label=self.text(f.get("label", required=True), f.sub("label")),
            inputs=tuple(self.input(n, k, v, p) for n, k, v, p in self.named(f.get("inputs"), f.sub("inputs"))),
            relations=tuple(
                self.relation(n, k, v, p) for n, k, v, p in self.named(f.get("relations"), f.sub("relations"))
            ),
            span=self.entry_span(key, node),
        )
        f.finish()
        return decl

    def input(self, name: str, key: yaml.Node, node: yaml.Node, path: str) -> nodes.InputDecl:
        f = self.fields(node, path, self.span(key))
        type_ = self.type_expr(f.get("type", required=True), f.sub("type"))
        label = self.text(f.get("label", required=True), f.sub("label"))
        low = self.optional(lambda n, p: self.number(n, p, signed=True), f.get("min"), f.sub("min"))
        high = self.optional(lambda n, p: self.number(n, p, signed=True), f.get("max"), f.sub("max"))
        default_node, optional_node = f.get("default"), f.get("optional")
        default = self.optional(self.literal, default_node, f.sub("default"))
        optional = self.boolean(optional_node, f.sub("optional"))
        if default is not None and optional and optional_node is not None:
            self.error("KR205", f"`{f.sub('optional')}` cannot be true when `{f.sub('default')}` is given",
                       self.span(optional_node),
                       hint="an input either has a default or is optional; remove one of the two")
        missing: nodes.Missing = "default" if default is not None else "optional" if optional else "required"
        decl = nodes.InputDecl(
            name=name, type=type_, label=label, missing=missing, default=default, min=low, max=high,
            cite=self.optional(self.string, f.get("cite"), f.sub("cite")),
            span=self.entry_span(key, node),
            monotone=self.optional(lambda n, p: self.choice(n, p, _MONOTONE), f.get("monotone"), f.sub("monotone")),
        )
        f.finish()
        return decl

    def relation(self, name: str, key: yaml.Node, node: yaml.Node, path: str) -> nodes.RelationDecl:
        f = self.fields(node, path, self.span(key))
        decl = nodes.RelationDecl(
            name=name,
            target=self.name(f.get("target", required=True), f.sub("target")),
            many=self.boolean(f.get("many"), f.sub("many")),
            label=self.text(f.get("label", required=True), f.sub("label")),
            span=self.entry_span(key, node),
        )
        f.finish()
        return decl

    # ----------------------------------------------------------------- params, tables, lets

    def param(self, node: yaml.Node, path: str) -> nodes.ParamDecl:
        f = self.fields(node, path)
        decl = nodes.ParamDecl(
            name=self.name(f.get("name", required=True), f.sub("name")),
            type=self.type_expr(f.get("type", required=True), f.sub("type")),
            value=self.literal(f.get("value", required=True), f.sub("value")),
            label=self.text(f.get("label", required=True), f.sub("label")),
            valid=self.flat_validity(f),
            cite=self.optional(self.string, f.get("cite"), f.sub("cite")),
            span=self.span(node),
        )
        f.finish()
        return decl

    def table(self, node: yaml.Node, path: str) -> nodes.TableDecl:
        f = self.fields(node, path)
        decl = nodes.TableDecl(
            name=self.name(f.get("name", required=True), f.sub("name")),
            key_type=self.type_expr(f.get("key", required=True), f.sub("key")),
            value_type=self.type_expr(f.get("value", required=True), f.sub("value")),
            label=self.text(f.get("label", required=True), f.sub("label")),
            valid=self.flat_validity(f),
            cite=self.optional(self.string, f.get("cite"), f.sub("cite")),
            rows=self.rows(f.get("rows", required=True), f.sub("rows")),
            span=self.span(node),
        )
        f.finish()
        return decl

    def rows(self, node: yaml.Node | None, path: str) -> tuple[nodes.TableRow, ...]:
        """``{key: value, ...}``, or a list of ``[key, value]`` pairs."""
        if node is None or _is_null(node):
            return ()
        if isinstance(node, yaml.MappingNode):
            return tuple(
                nodes.TableRow(
                    self.literal(k, _join(path, str(k.value))), self.literal(v, _join(path, str(k.value))),
                    self.entry_span(k, v),
                )
                for k, v in node.value
            )
        rows: list[nodes.TableRow] = []
        for item, item_path in self.items(node, path):
            if not isinstance(item, yaml.SequenceNode) or len(item.value) != 2:
                self.wrong(item, item_path, "a `[key, value]` pair")
                continue
            key, value = item.value
            rows.append(nodes.TableRow(
                self.literal(key, f"{item_path}[0]"), self.literal(value, f"{item_path}[1]"), self.span(item)))
        return tuple(rows)

    def let(self, name: str, key: yaml.Node, node: yaml.Node, path: str) -> nodes.LetDecl:
        if isinstance(node, yaml.ScalarNode):
            return nodes.LetDecl(name, self.expr(node, path), span=self.entry_span(key, node))
        f = self.fields(node, path, self.span(key))
        decl = nodes.LetDecl(
            name=name,
            label=self.optional(self.text, f.get("label"), f.sub("label")),
            cite=self.optional(self.string, f.get("cite"), f.sub("cite")),
            expr=self.expr(f.get("expr", required=True), f.sub("expr")),
            span=self.entry_span(key, node),
        )
        f.finish()
        return decl

    # ----------------------------------------------------------------- criteria

    def criteria(self, node: yaml.Node, path: str) -> nodes.CriteriaTree:
        f = self.fields(node, path)
        tree = nodes.CriteriaTree(
            name=self.name(f.get("id", required=True), f.sub("id")),
            label=self.text(f.get("label", required=True), f.sub("label")),
            max=self.number(f.get("max", required=True), f.sub("max")),
            cite=self.optional(self.string, f.get("cite"), f.sub("cite")),
            children=self.children(f.get("children"), f.sub("children")),
            span=self.span(node),
        )
        f.finish()
        return tree

    def children(self, node: yaml.Node | None, path: str) -> tuple[nodes.CriteriaItem, ...]:
        return tuple(self.criteria_item(item, p) for item, p in self.items(node, path))

    def criteria_item(self, node: yaml.Node, path: str) -> nodes.CriteriaItem:
        f = self.fields(node, path)
        kinds = [kind for kind in _ITEM_KINDS if f.has(kind)]
        if not kinds and f.ok:
            self.error("KR203", f"`{path}` needs one of `group`, `bonus`, `penalty` or `criterion` with its id",
                       self.span(node), hint="for example `- criterion: i1`")
        for extra in kinds[1:]:
            self.error("KR204", f"`{path}` has both `{kinds[0]}` and `{extra}`; an item is one of them",
                       f.key_span(extra))
            f.known.append(extra)
        kind = kinds[0] if kinds else "criterion"
        name = self.name(f.get(kind), f.sub(kind))
        label = self.text(f.get("label", required=True), f.sub("label"))
        maximum = self.number(f.get("max", required=True), f.sub("max"))
        cite = self.optional(self.string, f.get("cite"), f.sub("cite"))
        item: nodes.CriteriaItem
        if kind == "criterion":
            item = nodes.Criterion(name, label, maximum, self.expr(f.get("expr", required=f.ok), f.sub("expr")),
                                   cite, span=self.span(node))
        else:
            item = nodes.CriteriaGroup(cast(nodes.GroupKind, kind), name, label, maximum,
                                       self.children(f.get("children"), f.sub("children")), cite,
                                       span=self.span(node))
        f.finish()
        return item

    # ----------------------------------------------------------------- rating

    def rating(self, node: yaml.Node, path: str) -> nodes.Rating:
        f = self.fields(node, path)
        fallthrough_node = f.get("fallthrough")
        rating = nodes.Rating(
            cite=self.optional(self.string, f.get("cite"), f.sub("cite")),
            levels=tuple(self.level(item, p) for item, p in self.items(f.get("levels", required=True), f.sub("levels"))),
            disqualifiers=tuple(
                self.disqualifier(item, p) for item, p in self.items(f.get("disqualifiers"), f.sub("disqualifiers"))
            ),
            fallthrough="highest_met" if fallthrough_node is None
            else self.choice(fallthrough_node, f.sub("fallthrough"), _FALLTHROUGHS),
            override=self.optional(self.override, f.get("override"), f.sub("override")),
            span=self.span(node),
        )
        f.finish()
        return rating

    def level(self, node: yaml.Node, path: str) -> nodes.Level:
        f = self.fields(node, path)
        name = self.name(f.get("id", required=True), f.sub("id"))
        label = self.text(f.get("label", required=True), f.sub("label"))
        lower_node, upper_node = f.get("from"), f.get("below")
        if lower_node is None and upper_node is None and f.ok:
            self.error("KR203", f"`{path}` needs a band: `from`, `below` or both",
                       self.span(node), hint="for example `from: 70` and `below: 90` for [70, 90)")
        level = nodes.Level(
            name=name,
            label=label,
            lower=self.optional(self.number, lower_node, f.sub("from")),
            upper=self.optional(self.number, upper_node, f.sub("below")),
            cite=self.optional(self.string, f.get("cite"), f.sub("cite")),
            conditions=tuple(self.condition(item, p) for item, p in self.items(f.get("require"), f.sub("require"))),
            span=self.span(node),
        )
        f.finish()
        return level

    def condition(self, node: yaml.Node, path: str) -> nodes.Condition:
        f = self.fields(node, path)
        condition = nodes.Condition(
            name=self.name(f.get("id", required=True), f.sub("id")),
            label=self.text(f.get("label", required=True), f.sub("label")),
            cite=self.optional(self.string, f.get("cite"), f.sub("cite")),
            expr=self.expr(f.get("expr", required=True), f.sub("expr")),
            span=self.span(node),
        )
        f.finish()
        return condition

    def disqualifier(self, node: yaml.Node, path: str) -> nodes.Disqualifier:
        f = self.fields(node, path)
        disqualifier = nodes.Disqualifier(
            name=self.name(f.get("id", required=True), f.sub("id")),
            label=self.text(f.get("label", required=True), f.sub("label")),
            cite=self.optional(self.string, f.get("cite"), f.sub("cite")),
            when=self.expr(f.get("when", required=True), f.sub("when")),
            target=self.optional(self.name, f.get("to"), f.sub("to")),
            span=self.span(node),
        )
        f.finish()
        return disqualifier

    # ----------------------------------------------------------------- periods and cohorts

    def periods(self, node: yaml.Node, path: str) -> nodes.PeriodsDecl:
        """``{cite, monitor, combine, rules: [{level, when}], otherwise}``."""
        f = self.fields(node, path)
        decl = nodes.PeriodsDecl(
            cite=self.optional(self.string, f.get("cite"), f.sub("cite")),
            monitor=self.name(f.get("monitor", required=True), f.sub("monitor")),
            combine=self.name(f.get("combine", required=True), f.sub("combine")),
            rules=tuple(self.count_rule(item, p) for item, p in self.items(f.get("rules"), f.sub("rules"))),
            otherwise=self.optional(self.name, f.get("otherwise"), f.sub("otherwise")),
            span=self.span(node),
        )
        f.finish()
        return decl

    def count_rule(self, node: yaml.Node, path: str) -> nodes.CountRule:
        f = self.fields(node, path)
        rule = nodes.CountRule(
            level=self.name(f.get("level", required=True), f.sub("level")),
            when=self.expr(f.get("when", required=True), f.sub("when")),
            span=self.span(node),
        )
        f.finish()
        return rule

    def percent(self, node: yaml.Node | None, path: str) -> Fraction:
        """A rate written as a percentage (``20%``); the number written is returned (20)."""
        lit = self.literal(node, path)
        if isinstance(lit, nodes.PercentLit):
            return lit.value
        if node is not None:
            self.wrong(node, path, "a percentage such as `20%`")
        return Fraction(0)

    def names(self, node: yaml.Node | None, path: str) -> tuple[str, ...]:
        return tuple(self.name(item, p) for item, p in self.items(node, path))

    def sort_key(self, node: yaml.Node, path: str) -> nodes.SortKey:
        """``total desc`` or ``seniority asc``."""
        name, _, direction = self.string(node, path).strip().partition(" ")
        direction = direction.strip()
        if not _NAME.fullmatch(name) or direction not in ("asc", "desc"):
            self.wrong(node, path, "`NAME asc` or `NAME desc`, e.g. `total desc`")
            direction = "desc"
        return nodes.SortKey(name, cast(nodes.SortDirection, direction), span=self.span(node))

    def cohort(self, name: str, key: yaml.Node, node: yaml.Node, path: str) -> nodes.CohortDecl:
        """``{label, cite, limit: {level, to, of, per, per_period}, exception: {rate, when}, demote: {to, by}}``."""
        f = self.fields(node, path, self.span(key))
        label = self.text(f.get("label", required=True), f.sub("label"))
        cite = self.optional(self.string, f.get("cite"), f.sub("cite"))
        lim = self.fields(f.get("limit", required=True), f.sub("limit"), self.span(key))
        level = self.name(lim.get("level", required=True), lim.sub("level"))
        percent = self.percent(lim.get("to", required=True), lim.sub("to"))
        of = self.name(lim.get("of", required=True), lim.sub("of"))
        groups = self.names(lim.get("per", required=True), lim.sub("per"))
        per_period = self.boolean(lim.get("per_period"), lim.sub("per_period"))
        lim.finish()
        exception_node = f.get("exception")
        exception_percent: Fraction | None = None
        exception_flag: str | None = None
        if exception_node is not None:
            exc = self.fields(exception_node, f.sub("exception"))
            exception_percent = self.percent(exc.get("rate", required=True), exc.sub("rate"))
            exception_flag = self.name(exc.get("when", required=True), exc.sub("when"))
            exc.finish()
        dem = self.fields(f.get("demote", required=True), f.sub("demote"), self.span(key))
        demote_to = self.name(dem.get("to", required=True), dem.sub("to"))
        order = tuple(self.sort_key(item, p) for item, p in self.items(dem.get("by", required=True), dem.sub("by")))
        dem.finish()
        decl = nodes.CohortDecl(
            name=name, label=label, level=level, percent=percent, of=of, groups=groups, demote_to=demote_to,
            order=order, exception_percent=exception_percent, exception_flag=exception_flag,
            per_period=per_period, cite=cite, span=self.entry_span(key, node),
        )
        f.finish()
        return decl

    def override(self, node: yaml.Node, path: str) -> nodes.OverridePolicy:
        f = self.fields(node, path)
        policy = nodes.OverridePolicy(
            label=self.text(f.get("label", required=True), f.sub("label")),
            cite=self.optional(self.string, f.get("cite"), f.sub("cite")),
            span=self.span(node),
        )
        f.finish()
        return policy
