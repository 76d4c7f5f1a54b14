"""The writer of the YAML form: :class:`nodes.Ruleset` → YAML text, the inverse of
:func:`kpi_rules.yaml_form.load_yaml_ruleset`."""

from __future__ import annotations

import datetime as dt
import re
from fractions import Fraction
from typing import Final, cast

import yaml

from kpi_rules import nodes
from kpi_rules.printer import format_expr, format_number
from kpi_rules.yaml_nodes import _IMPLICIT_RESOLVERS

_STR_TAG: Final = "tag:yaml.org,2002:str"
_MAP_TAG: Final = "tag:yaml.org,2002:map"
_SEQ_TAG: Final = "tag:yaml.org,2002:seq"


def _implicit_tag(value: str) -> str:
    """The tag YAML gives ``value`` written as a plain scalar (our resolvers: no timestamps)."""
    candidates = list(_IMPLICIT_RESOLVERS.get(value[:1] if value else "", []))
    candidates += _IMPLICIT_RESOLVERS.get(None, [])
    for tag, regexp in candidates:
        if regexp.match(value):
            return cast(str, tag)
    return _STR_TAG


def dump_yaml_ruleset(ruleset: nodes.Ruleset) -> str:
    """Write a rule set in the YAML form: stable key order, exact decimals, Vietnamese unescaped.

    ``load_yaml_ruleset(SourceFile("x.yaml", dump_yaml_ruleset(r))) == r`` for every rule set whose
    numbers are finite decimals (as every parsed rule set's are).

    Raises:
        ValueError: a number that has no finite decimal form (such as 1/3).
    """
    header = "".join(f"# {line}\n".replace("# \n", "#\n") for line in _comment_lines(ruleset.comments))
    body = yaml.serialize(
        _Writer().ruleset(ruleset), Dumper=_RuleDumper, allow_unicode=True, width=1_000_000, indent=2,
    )
    return header + body


def _comment_lines(comments: tuple[str, ...]) -> list[str]:
    lines: list[str] = []
    for comment in comments:
        for line in comment.splitlines() or [""]:
            lines.append(line[1:].strip() if line.startswith("#") else line.strip())
    return lines


class _RuleDumper(yaml.SafeDumper):
    yaml_implicit_resolvers = _IMPLICIT_RESOLVERS

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent list items under their key (PyYAML's default puts `- ` at the key's column).
        super().increase_indent(flow, False)


# Characters PyYAML may write raw in plain or single-quoted text but reads back differently
# (YAML's extra line breaks, carriage returns, BOMs, controls): text holding one is double-quoted.
_NEEDS_ESCAPES = re.compile("[^\t\n\x20-\x7e\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")


def _scalar(value: str, style: str | None = None) -> yaml.ScalarNode:
    """Text, written plain when YAML would read it back as text (``2026.1`` and ``yes`` get quotes,
    so that any YAML tool sees text there too)."""
    if _NEEDS_ESCAPES.search(value):
        style = '"'
    return yaml.ScalarNode(_STR_TAG, value, style=style)


def _plain(value: str) -> yaml.ScalarNode:
    """A number, percent, date or boolean, written plain (we read it back from its text)."""
    return yaml.ScalarNode(_implicit_tag(value), value)


_Pairs = list[tuple[str, yaml.Node | None]]


def _mapping(pairs: _Pairs, flow: bool = False) -> yaml.MappingNode:
    """A mapping of the pairs whose value is not None, in the given order."""
    return yaml.MappingNode(
        _MAP_TAG, [(_scalar(key), value) for key, value in pairs if value is not None], flow_style=flow
    )


def _sequence(items: list[yaml.Node], flow: bool = False) -> yaml.SequenceNode | None:
    return yaml.SequenceNode(_SEQ_TAG, items, flow_style=flow) if items else None


class _Writer:
    """Builds the YAML node graph of a rule set (the inverse of :class:`yaml_form._RulesetReader`)."""

    def ruleset(self, r: nodes.Ruleset) -> yaml.MappingNode:
        return _mapping([
            ("ruleset", _scalar(r.id)),
            ("title", self.text(r.title)),
            ("basis", _scalar(r.basis)),
            ("version", _scalar(r.version)),
            ("in_force", self.validity(r.in_force)),
            ("extends", self.opt(r.extends)),
            ("rates", _scalar(r.rates)),
            ("display", _mapping([("decimals", _plain(str(r.display.decimals))), ("mode", _scalar(r.display.mode))])),
            ("remove", _sequence([_scalar(f"{x.kind} {x.name}") for x in r.removals])),
            ("records", self.named([(d.name, self.record(d)) for d in r.records])),
            ("subjects", self.named([(d.name, self.subject(d)) for d in r.subjects])),
            ("params", _sequence([self.param(d) for d in r.params])),
            ("tables", _sequence([self.table(d) for d in r.tables])),
            ("lets", self.named([(d.name, self.let(d)) for d in r.lets])),
            ("criteria", None if r.criteria is None else self.criteria(r.criteria)),
            ("rating", None if r.rating is None else self.rating(r.rating)),
            ("periods", None if r.periods is None else self.periods(r.periods)),
            ("cohorts", self.named([(d.name, self.cohort(d)) for d in r.cohorts])),
        ])

    # ----------------------------------------------------------------- pieces

    @staticmethod
    def opt(value: str | None) -> yaml.ScalarNode | None:
        return None if value is None else _scalar(value)

    @staticmethod
    def named(pairs: list[tuple[str, yaml.Node]]) -> yaml.MappingNode | None:
        return _mapping(list(pairs)) if pairs else None

    @staticmethod
    def text(text: nodes.Text) -> yaml.Node:
        if text.en is None:
            return _scalar(text.vi)
        return _mapping([("vi", _scalar(text.vi)), ("en", _scalar(text.en))])

    @staticmethod
    def number(value: Fraction | None) -> yaml.ScalarNode | None:
        return None if value is None else _plain(format_number(value))

    @staticmethod
    def date(value: dt.date | None) -> yaml.ScalarNode | None:
        return None if value is None else _plain(value.isoformat())

    def validity(self, valid: nodes.Validity) -> yaml.MappingNode:
        return _mapping([("from", self.date(valid.start)), ("until", self.date(valid.end))])

    def flat_validity(self, valid: nodes.Validity | None) -> _Pairs:
        if valid is None:
            return []
        return [("from", self.date(valid.start)), ("until", self.date(valid.end))]

    @staticmethod
    def type_expr(type_: nodes.TypeExpr) -> yaml.ScalarNode:
        if isinstance(type_, nodes.ScalarType):
            return _scalar(type_.name)
        if isinstance(type_, nodes.OneOfType):
            return _scalar(f"one_of({', '.join(type_.members)})")
        return _scalar(f"list of {type_.item}")

    @staticmethod
    def literal(lit: nodes.Literal_) -> yaml.ScalarNode:
        if isinstance(lit, nodes.NumberLit):
            return _plain(format_number(lit.value))
        if isinstance(lit, nodes.PercentLit):
            return _plain(format_number(lit.value) + "%")
        if isinstance(lit, nodes.BoolLit):
            return _plain("true" if lit.value else "false")
        if isinstance(lit, nodes.DateLit):
            return _plain(lit.value.isoformat())
        return _scalar(lit.value, style='"')  # text is always quoted, so `"12"` stays text

    @staticmethod
    def expr(expr: nodes.Expr) -> yaml.ScalarNode:
        return _scalar(format_expr(expr))

    # ----------------------------------------------------------------- declarations

    def record(self, d: nodes.RecordDecl) -> yaml.MappingNode:
        return _mapping([("label", self.text(d.label)), ("inputs", self.inputs(d.inputs))])

    def subject(self, d: nodes.SubjectDecl) -> yaml.MappingNode:
        return _mapping([
            ("label", self.text(d.label)),
            ("inputs", self.inputs(d.inputs)),
            ("relations", self.named([(r.name, self.relation(r)) for r in d.relations])),
        ])

    def inputs(self, inputs: tuple[nodes.InputDecl, ...]) -> yaml.MappingNode | None:
        return self.named([(d.name, self.input(d)) for d in inputs])

    def input(self, d: nodes.InputDecl) -> yaml.MappingNode:
        return _mapping([
            ("type", self.type_expr(d.type)),
            ("label", self.text(d.label)),
            ("min", self.number(d.min)),
            ("max", self.number(d.max)),
            ("default", None if d.missing != "default" or d.default is None else self.literal(d.default)),
            ("optional", _plain("true") if d.missing == "optional" else None),
            ("monotone", _plain(d.monotone) if d.monotone is not None else None),
            ("cite", self.opt(d.cite)),
        ])

    def relation(self, d: nodes.RelationDecl) -> yaml.MappingNode:
        return _mapping([
            ("target", _scalar(d.target)),
            ("many", _plain("true") if d.many else None),
            ("label", self.text(d.label)),
        ])

    def param(self, d: nodes.ParamDecl) -> yaml.MappingNode:
        return _mapping([
            ("name", _scalar(d.name)),
            ("type", self.type_expr(d.type)),
            ("value", self.literal(d.value)),
            ("label", self.text(d.label)),
            *self.flat_validity(d.valid),
            ("cite", self.opt(d.cite)),
        ])

    def table(self, d: nodes.TableDecl) -> yaml.MappingNode:
        keys = [self.literal(row.key) for row in d.rows]
        rows: yaml.Node
        if len({key.value for key in keys}) == len(keys):
            rows = yaml.MappingNode(_MAP_TAG, [(key, self.literal(row.value)) for key, row in zip(keys, d.rows)])
        else:  # keys that read alike (1 and "1"): pairs keep them apart and in order
            rows = yaml.SequenceNode(_SEQ_TAG, [
                yaml.SequenceNode(_SEQ_TAG, [key, self.literal(row.value)], flow_style=True)
                for key, row in zip(keys, d.rows)
            ])
        return _mapping([
            ("name", _scalar(d.name)),
            ("key", self.type_expr(d.key_type)),
            ("value", self.type_expr(d.value_type)),
            ("label", self.text(d.label)),
            *self.flat_validity(d.valid),
            ("cite", self.opt(d.cite)),
            ("rows", rows),
        ])

    def let(self, d: nodes.LetDecl) -> yaml.Node:
        if d.label is None and d.cite is None:
            return self.expr(d.expr)
        return _mapping([
            ("label", None if d.label is None else self.text(d.label)),
            ("cite", self.opt(d.cite)),
            ("expr", self.expr(d.expr)),
        ])

    def criteria(self, tree: nodes.CriteriaTree) -> yaml.MappingNode:
        return _mapping([
            ("id", _scalar(tree.name)),
            ("label", self.text(tree.label)),
            ("max", self.number(tree.max)),
            ("cite", self.opt(tree.cite)),
            ("children", _sequence([self.criteria_item(child) for child in tree.children])),
        ])

    def criteria_item(self, item: nodes.CriteriaItem) -> yaml.MappingNode:
        head: _Pairs = [
            ("criterion" if isinstance(item, nodes.Criterion) else item.kind, _scalar(item.name)),
            ("label", self.text(item.label)),
            ("max", self.number(item.max)),
            ("cite", self.opt(item.cite)),
        ]
        if isinstance(item, nodes.Criterion):
            return _mapping([*head, ("expr", self.expr(item.expr))])
        return _mapping([*head, ("children", _sequence([self.criteria_item(c) for c in item.children]))])

    def rating(self, rating: nodes.Rating) -> yaml.MappingNode:
        override = rating.override
        return _mapping([
            ("cite", self.opt(rating.cite)),
            ("levels", yaml.SequenceNode(_SEQ_TAG, [self.level(level) for level in rating.levels])),
            ("disqualifiers", _sequence([self.disqualifier(d) for d in rating.disqualifiers])),
            ("fallthrough", _scalar(rating.fallthrough)),
            ("override", None if override is None else _mapping([
                ("label", self.text(override.label)), ("cite", self.opt(override.cite)),
            ])),
        ])

    def level(self, level: nodes.Level) -> yaml.MappingNode:
        return _mapping([
            ("id", _scalar(level.name)),
            ("label", self.text(level.label)),
            ("from", self.number(level.lower)),
            ("below", self.number(level.upper)),
            ("cite", self.opt(level.cite)),
            ("require", _sequence([
                _mapping([
                    ("id", _scalar(c.name)),
                    ("label", self.text(c.label)),
                    ("cite", self.opt(c.cite)),
                    ("expr", self.expr(c.expr)),
                ])
                for c in level.conditions
            ])),
        ])

    def disqualifier(self, d: nodes.Disqualifier) -> yaml.MappingNode:
        return _mapping([
            ("id", _scalar(d.name)),
            ("label", self.text(d.label)),
            ("cite", self.opt(d.cite)),
            ("when", self.expr(d.when)),
            ("to", self.opt(d.target)),
        ])

    def periods(self, d: nodes.PeriodsDecl) -> yaml.MappingNode:
        return _mapping([
            ("cite", self.opt(d.cite)),
            ("monitor", _scalar(d.monitor)),
            ("combine", _scalar(d.combine)),
            ("rules", _sequence([
                _mapping([("level", _scalar(r.level)), ("when", self.expr(r.when))]) for r in d.rules
            ])),
            ("otherwise", self.opt(d.otherwise)),
        ])

    def cohort(self, d: nodes.CohortDecl) -> yaml.MappingNode:
        exception = None
        if d.exception_percent is not None and d.exception_flag is not None:
            exception = _mapping([
                ("rate", _plain(format_number(d.exception_percent) + "%")),
                ("when", _scalar(d.exception_flag)),
            ], flow=True)
        return _mapping([
            ("label", self.text(d.label)),
            ("cite", self.opt(d.cite)),
            ("limit", _mapping([
                ("level", _scalar(d.level)),
                ("to", _plain(format_number(d.percent) + "%")),
                ("of", _scalar(d.of)),
                ("per", yaml.SequenceNode(_SEQ_TAG, [_scalar(g) for g in d.groups], flow_style=True)),
                ("per_period", _plain("true") if d.per_period else None),
            ])),
            ("exception", exception),
            ("demote", _mapping([
                ("to", _scalar(d.demote_to)),
                ("by", yaml.SequenceNode(_SEQ_TAG, [_scalar(f"{k.name} {k.direction}") for k in d.order],
                                         flow_style=True)),
            ])),
        ])
