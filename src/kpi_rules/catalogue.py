"""Product catalogues as data: a catalogue file (YAML) → :class:`Catalogue` → rows of a rule set's
``catalogue`` table.

Art. 13 of Decree 335 has each agency list its products and work items, group them into at most
five complexity groups per job position, choose a standard product unit and convert every item
to it. A catalogue file holds exactly that (``docs/catalogue.md``)::

    catalogue: gl.snv.sample
    title: {vi: "Danh mục sản phẩm/công việc quy đổi", en: "Converted product catalogue"}
    standard_unit: {label: "Văn bản hành chính thông thường", points: 100}
    valid: {from: 2026-01-01}
    positions:
      - id: chuyen_vien
        label: "Chuyên viên"
        groups:
          - {id: N1, label: "Đơn giản", points: 100}
    products:
      - {code: VB-HC, label: "Văn bản hành chính thông thường", position: chuyen_vien, group: N1}

A product's coefficient is its own ``coefficient`` if written, else its group's ``coefficient``,
else the group's points ÷ the standard unit's points. Numbers are exact (``Fraction`` from the
decimal text). The file is read with the same hardening as rule files in YAML (no aliases,
no duplicate keys, no implicit dates or booleans, limited size and depth), and every problem is
reported with ``path:line:col`` (KR801–KR813), all at once.

:func:`bind_catalogue` turns the catalogue into versions of the rule set's ``catalogue`` table,
one per stretch of dates in which the set of products and coefficients does not change, so the
evaluator picks the coefficients in force on the record's date (or, for a task item with an
``assigned_on`` date, on the day it was assigned: the coefficient is snapshotted at assignment).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Final

import yaml

from kpi_rules import nodes
from kpi_rules.diagnostics import Diagnostic, DiagnosticError, DiagnosticSink, Label
from kpi_rules.results import SubjectRecord
from kpi_rules.safe_yaml import SafeYamlError, load_safe_yaml
from kpi_rules.source import MAX_SOURCE_BYTES, SourceFile, Span
from kpi_rules.yaml_nodes import _join, node_span

__all__ = [
    "CATALOGUE_TABLE",
    "Catalogue",
    "ComplexityGroup",
    "MAX_GROUPS",
    "Position",
    "Product",
    "bind_catalogue",
    "check_products",
    "load_catalogue",
    "parse_catalogue",
]

#: The rule-set table a catalogue supplies (``table catalogue : text -> number``).
CATALOGUE_TABLE: Final = "catalogue"
#: Art. 13: at most five complexity groups per job position.
MAX_GROUPS: Final = 5
#: The item field whose date snapshots a coefficient (see the module docstring).
ASSIGNED_ON: Final = "assigned_on"

_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]*")
_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_NULL_TAG: Final = "tag:yaml.org,2002:null"


@dataclass(frozen=True, slots=True)
class ComplexityGroup:
    """One complexity group of a job position, worth ``points`` (or a fixed ``coefficient``)."""

    id: str
    label: nodes.Text | None
    points: Fraction | None
    coefficient: Fraction | None
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Position:
    """A job position (vị trí việc làm) with its complexity groups (at most five)."""

    id: str
    label: nodes.Text
    groups: tuple[ComplexityGroup, ...]
    span: Span | None = field(default=None, compare=False, repr=False)

    def group(self, group_id: str) -> ComplexityGroup | None:
        return next((g for g in self.groups if g.id == group_id), None)


@dataclass(frozen=True, slots=True)
class Product:
    """A product or work item: its code, position, group, coefficient and the dates it applies."""

    code: str
    label: nodes.Text
    position: str
    group: str
    coefficient: Fraction
    valid: nodes.Validity
    #: True when the coefficient is written on the product; False when derived from its group.
    explicit: bool = False
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Catalogue:
    """A checked catalogue (the converted catalogue of Art. 13)."""

    id: str
    title: nodes.Text
    basis: str | None
    standard_label: nodes.Text
    standard_points: Fraction | None
    valid: nodes.Validity
    positions: tuple[Position, ...]
    products: tuple[Product, ...]
    source: SourceFile = field(compare=False, repr=False)

    def in_force(self, day: dt.date) -> tuple[Product, ...]:
        """The products that apply on ``day``."""
        return tuple(p for p in self.products if p.valid.contains(day))

    def coefficient(self, code: str, day: dt.date) -> Fraction | None:
        """The coefficient of product ``code`` on ``day`` (None: no such product then)."""
        return next((p.coefficient for p in self.in_force(day) if p.code == code), None)

    def versions(self) -> tuple[tuple[nodes.Validity, tuple[Product, ...]], ...]:
        """Stretches of dates with an unchanging set of products, in date order."""
        cuts = {self.valid.start}
        for p in self.products:
            cuts.add(p.valid.start)
            if p.valid.end is not None:
                cuts.add(p.valid.end)
        if self.valid.end is not None:
            cuts.add(self.valid.end)
        days = sorted(d for d in cuts if self.valid.contains(d))
        out = []
        for index, start in enumerate(days):
            end = days[index + 1] if index + 1 < len(days) else self.valid.end
            out.append((nodes.Validity(start, end), self.in_force(start)))
        return tuple(out)


# --------------------------------------------------------------------------- reading


def load_catalogue(path: str | Path) -> Catalogue:
    """Read and check a catalogue file. Raises DiagnosticError (KR601, KR801–KR813)."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_SOURCE_BYTES:
            raise DiagnosticError([Diagnostic(
                "KR801", f"the catalogue file is larger than {MAX_SOURCE_BYTES} bytes", where=str(path))])
        source = SourceFile.read(p)
    except OSError as error:
        raise DiagnosticError([Diagnostic("KR601", f"cannot read the file: {error.strerror}", where=str(path))]) from None
    except UnicodeDecodeError:
        raise DiagnosticError([Diagnostic("KR801", "the catalogue file is not UTF-8 text", where=str(path),
                                          hint="save the file as UTF-8")]) from None
    return parse_catalogue(source)


def parse_catalogue(source: SourceFile) -> Catalogue:
    """Check a catalogue's text (YAML) and build the :class:`Catalogue`. Raises DiagnosticError."""
    try:
        load_safe_yaml(source.text)  # the hardening: aliases, duplicate keys, depth
        root = yaml.compose(source.text, Loader=yaml.SafeLoader)
    except (SafeYamlError, yaml.YAMLError) as error:
        raise DiagnosticError([Diagnostic("KR801", str(error), _mark_span(source, str(error)),
                                          where=None if _mark_span(source, str(error)) else source.path)]) from None
    reader = _Reader(source)
    catalogue = reader.catalogue(root)
    reader.sink.raise_if_errors()
    assert catalogue is not None
    return catalogue


def _mark_span(source: SourceFile, message: str) -> Span | None:
    match = re.search(r"line (\d+), column (\d+)", message)
    if not match:
        return None
    start = source.offset(int(match.group(1)), int(match.group(2)))
    return Span(source, start, min(len(source.text), start + 1))


class _Reader:
    """Walks the composed YAML nodes (which keep positions), collecting every problem."""

    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.sink = DiagnosticSink()

    # ----------------------------------------------------------------- helpers

    def span(self, node: yaml.Node) -> Span:
        return node_span(self.source, node)

    def error(self, code: str, message: str, node: yaml.Node | Span | None, **extra: object) -> None:
        span = node if isinstance(node, Span) or node is None else self.span(node)
        self.sink.add(Diagnostic(code, message, span, where=None if span else self.source.path, **extra))  # type: ignore[arg-type]

    def fields(self, node: yaml.Node, path: str, allowed: Sequence[str], required: Sequence[str]) -> dict[str, yaml.Node] | None:
        if not isinstance(node, yaml.MappingNode):
            self.error("KR804", f"`{path or 'the catalogue'}` must be a mapping of fields", node)
            return None
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            if key not in allowed:
                close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
                self.error("KR803", f"`{_join(path, key)}` is not a catalogue field", key_node,
                           hint=f"did you mean `{close[0]}`?" if close else "allowed here: " + ", ".join(allowed))
                continue
            if not _is_null(value_node):
                out[key] = value_node
        for key in required:
            if key not in out:
                self.error("KR802", f"`{_join(path, key)}` is missing", node,
                           hint=f"add `{key}:` to {('`' + path + '`') if path else 'the catalogue'}")
        return out

    def text(self, node: yaml.Node | None, path: str) -> str | None:
        if node is None:
            return None
        if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
            self.error("KR804", f"`{path}` must be text", node)
            return None
        return str(node.value)

    def label(self, node: yaml.Node | None, path: str) -> nodes.Text | None:
        if node is None:
            return None
        if isinstance(node, yaml.MappingNode):
            f = self.fields(node, path, ("vi", "en"), ("vi",))
            if f is None or "vi" not in f:
                return None
            vi = self.text(f["vi"], _join(path, "vi"))
            return None if vi is None else nodes.Text(vi, self.text(f.get("en"), _join(path, "en")))
        vi = self.text(node, path)
        return None if vi is None else nodes.Text(vi)

    def ident(self, node: yaml.Node | None, path: str, pattern: re.Pattern[str] = _ID) -> str | None:
        value = self.text(node, path)
        if value is not None and not pattern.fullmatch(value):
            self.error("KR804", f"`{path}` must be a code of letters, digits, `-`, `_` or `.`, found `{value}`", node)
            return None
        return value

    def number(self, node: yaml.Node | None, path: str) -> Fraction | None:
        if node is None:
            return None
        value = str(node.value) if isinstance(node, yaml.ScalarNode) else ""
        if not _NUMBER.fullmatch(value) or len(value) > 40:
            self.error("KR804", f"`{path}` must be a positive number written with digits, found {_describe(node)}", node)
            return None
        number = Fraction(value)
        if number == 0:
            self.error("KR804", f"`{path}` must be greater than 0", node,
                       hint="a product worth nothing does not belong in the catalogue")
            return None
        return number

    def date(self, node: yaml.Node | None, path: str) -> dt.date | None:
        if node is None:
            return None
        value = str(node.value) if isinstance(node, yaml.ScalarNode) else ""
        try:
            if not _DATE.fullmatch(value):
                raise ValueError
            return dt.date.fromisoformat(value)
        except ValueError:
            self.error("KR804", f"`{path}` must be a date written YYYY-MM-DD, found {_describe(node)}", node)
            return None

    def validity(self, node: yaml.Node | None, path: str, default: nodes.Validity | None) -> nodes.Validity | None:
        if node is None:
            return default
        f = self.fields(node, path, ("from", "until"), () if default else ("from",))
        if f is None:
            return default
        start = self.date(f.get("from"), _join(path, "from")) or (default.start if default else None)
        end = self.date(f.get("until"), _join(path, "until"))
        if start is None:
            return default
        if end is not None and end <= start:
            self.error("KR813", f"`{path}`: `until` {end.isoformat()} is not after `from` {start.isoformat()}",
                       node, hint="`until` is exclusive: the first day the entry no longer applies")
            return default
        return nodes.Validity(start, end)

    def items(self, node: yaml.Node | None, path: str) -> Iterator[tuple[yaml.Node, str]]:
        if node is None:
            return
        if not isinstance(node, yaml.SequenceNode):
            self.error("KR804", f"`{path}` must be a list (items starting with `- `)", node)
            return
        for index, item in enumerate(node.value):
            yield item, f"{path}[{index}]"

    # ----------------------------------------------------------------- the file

    def catalogue(self, root: yaml.Node | None) -> Catalogue | None:
        if root is None or not isinstance(root, yaml.MappingNode):
            self.sink.add(Diagnostic("KR801", "a catalogue file is a mapping that starts with `catalogue: <id>`",
                                     where=self.source.path))
            return None
        f = self.fields(root, "", ("catalogue", "title", "basis", "standard_unit", "valid", "positions", "products"),
                        ("catalogue", "title", "standard_unit", "valid", "positions", "products"))
        assert f is not None
        ident = self.ident(f.get("catalogue"), "catalogue") or ""
        title = self.label(f.get("title"), "title") or nodes.Text("")
        basis = self.text(f.get("basis"), "basis")
        standard_label, standard_points = nodes.Text(""), None
        if "standard_unit" in f:
            unit = self.fields(f["standard_unit"], "standard_unit", ("label", "points"), ("label",))
            if unit is not None:
                standard_label = self.label(unit.get("label"), "standard_unit.label") or standard_label
                standard_points = self.number(unit.get("points"), "standard_unit.points")
        valid = self.validity(f.get("valid"), "valid", None) or nodes.Validity(dt.date(1, 1, 1))
        positions = self.positions(f.get("positions"))
        products = self.products(f.get("products"), positions, standard_points, valid)
        return Catalogue(ident, title, basis, standard_label, standard_points, valid, positions, products, self.source)

    def positions(self, node: yaml.Node | None) -> tuple[Position, ...]:
        out: list[Position] = []
        seen: dict[str, Span] = {}
        for item, path in self.items(node, "positions"):
            f = self.fields(item, path, ("id", "label", "groups"), ("id", "label", "groups"))
            if f is None:
                continue
            ident = self.ident(f.get("id"), _join(path, "id"))
            label = self.label(f.get("label"), _join(path, "label"))
            if ident is None or label is None:
                continue
            if ident in seen:
                self.error("KR810", f"job position `{ident}` is listed twice", f["id"],
                           labels=(Label(seen[ident], "first listed here"),), hint="merge the two entries")
                continue
            seen[ident] = self.span(f["id"])
            out.append(Position(ident, label, self.groups(f.get("groups"), _join(path, "groups"), ident), self.span(item)))
        return tuple(out)

    def groups(self, node: yaml.Node | None, path: str, position: str) -> tuple[ComplexityGroup, ...]:
        out: list[ComplexityGroup] = []
        seen: dict[str, Span] = {}
        for item, item_path in self.items(node, path):
            if len(out) == MAX_GROUPS and isinstance(node, yaml.SequenceNode):
                self.error("KR807", f"job position `{position}` has {len(node.value)} complexity groups; "
                           f"at most {MAX_GROUPS} are allowed", item,
                           note="Art. 13 of Decree 335/2025/NĐ-CP groups the products of a position into at most five complexity groups",
                           hint="merge groups of similar complexity")
                break
            f = self.fields(item, item_path, ("id", "label", "points", "coefficient"), ("id",))
            if f is None:
                continue
            ident = self.ident(f.get("id"), _join(item_path, "id"))
            if ident is None:
                continue
            if ident in seen:
                self.error("KR810", f"complexity group `{ident}` of `{position}` is listed twice", f["id"],
                           labels=(Label(seen[ident], "first listed here"),), hint="give each group its own id")
                continue
            seen[ident] = self.span(f["id"])
            out.append(ComplexityGroup(
                ident, self.label(f.get("label"), _join(item_path, "label")),
                self.number(f.get("points"), _join(item_path, "points")),
                self.number(f.get("coefficient"), _join(item_path, "coefficient")),
                self.span(item),
            ))
        return tuple(out)

    def products(self, node: yaml.Node | None, positions: tuple[Position, ...], standard: Fraction | None,
                 valid: nodes.Validity) -> tuple[Product, ...]:
        by_id = {p.id: p for p in positions}
        out: list[Product] = []
        for item, path in self.items(node, "products"):
            f = self.fields(item, path, ("code", "label", "position", "group", "coefficient", "valid"),
                            ("code", "label", "position", "group"))
            if f is None:
                continue
            code = self.ident(f.get("code"), _join(path, "code"), _CODE)
            label = self.label(f.get("label"), _join(path, "label"))
            position_id = self.ident(f.get("position"), _join(path, "position"))
            group_id = self.ident(f.get("group"), _join(path, "group"))
            explicit = self.number(f.get("coefficient"), _join(path, "coefficient"))
            dates = self.validity(f.get("valid"), _join(path, "valid"), valid)
            if code is None or label is None or position_id is None or group_id is None or dates is None:
                continue
            position = by_id.get(position_id)
            if position is None:
                close = difflib.get_close_matches(position_id, list(by_id), n=1, cutoff=0.6)
                self.error("KR805", f"product `{code}` names job position `{position_id}`, which the catalogue does not list",
                           f["position"], hint=f"did you mean `{close[0]}`?" if close else
                           "list the position under `positions:` first")
                continue
            group = position.group(group_id)
            if group is None:
                ids = [g.id for g in position.groups]
                close = difflib.get_close_matches(group_id, ids, n=1, cutoff=0.6)
                self.error("KR806", f"product `{code}` names complexity group `{group_id}`, which position "
                           f"`{position.id}` does not have", f["group"],
                           hint=f"did you mean `{close[0]}`?" if close else f"`{position.id}` has: " + ", ".join(ids))
                continue
            coefficient = explicit or group.coefficient
            if coefficient is None and group.points is not None and standard is not None:
                coefficient = group.points / standard
            if coefficient is None:
                missing = "the standard unit has no `points`" if group.points is not None else f"group `{group.id}` has no `points`"
                self.error("KR808", f"product `{code}` has no coefficient: it writes none, its group gives none, and {missing}",
                           item, hint="write `coefficient:` on the product or its group, or give the group and "
                           "`standard_unit` their points (coefficient = group points ÷ standard points)")
                continue
            product = Product(code, label, position.id, group.id, coefficient, dates, explicit is not None, self.span(item))
            self.overlaps(product, out)
            out.append(product)
        return tuple(out)

    def overlaps(self, product: Product, earlier: list[Product]) -> None:
        for other in earlier:
            if other.code != product.code or not _overlap(other.valid, product.valid):
                continue
            assert product.span is not None and other.span is not None
            self.error("KR809", f"product `{product.code}` is listed twice for overlapping dates "
                       f"({_dates(other.valid)} and {_dates(product.valid)})", product.span,
                       labels=(Label(other.span, "the other entry"),),
                       hint="give the entries disjoint `valid:` dates (`until` is exclusive), or remove one")
            return


def _overlap(a: nodes.Validity, b: nodes.Validity) -> bool:
    return (a.end is None or b.start < a.end) and (b.end is None or a.start < b.end)


def _dates(v: nodes.Validity) -> str:
    return f"from {v.start.isoformat()}" + (f" until {v.end.isoformat()}" if v.end else "")


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"`{str(node.value)[:40]}`"


# --------------------------------------------------------------------------- binding


def bind_catalogue(ruleset: nodes.Ruleset, catalogue: Catalogue) -> nodes.Ruleset:
    """The rule set with its ``catalogue`` table's versions replaced by the catalogue's.

    Raises:
        DiagnosticError: KR812 when the rule set has no ``table catalogue : text -> number``.
    """
    declared = [t for t in ruleset.tables if t.name == CATALOGUE_TABLE]
    if not declared or not _text_to_number(declared[0]):
        found = f"its `{CATALOGUE_TABLE}` table maps {_type(declared[0].key_type)} to {_type(declared[0].value_type)}" \
            if declared else f"it declares no `{CATALOGUE_TABLE}` table"
        raise DiagnosticError([Diagnostic(
            "KR812", f"cannot bind catalogue `{catalogue.id}` to `{ruleset.id}`: {found}",
            declared[0].span if declared else ruleset.span,
            hint=f"declare `table {CATALOGUE_TABLE} : text -> number \"...\" {{ }}` and read it as `{CATALOGUE_TABLE}[t.product]`",
        )])
    first = declared[0]
    versions = tuple(
        dataclasses.replace(
            first,
            rows=tuple(nodes.TableRow(nodes.StringLit(p.code, p.span), nodes.NumberLit(p.coefficient, p.span), p.span)
                       for p in products),
            valid=validity,
        )
        for validity, products in catalogue.versions()
    )
    tables: list[nodes.TableDecl] = []
    for table in ruleset.tables:
        if table.name != CATALOGUE_TABLE:
            tables.append(table)
        elif table is first:
            tables.extend(versions)
    return dataclasses.replace(ruleset, tables=tuple(tables))


def _text_to_number(table: nodes.TableDecl) -> bool:
    key, value = table.key_type, table.value_type
    return (isinstance(key, nodes.ScalarType) and key.name == "text"
            and isinstance(value, nodes.ScalarType) and value.name in ("number", "points", "percent"))


def _type(t: nodes.TypeExpr) -> str:
    return t.name if isinstance(t, nodes.ScalarType) else type(t).__name__


# --------------------------------------------------------------------------- records


def catalogue_reads(ruleset: nodes.Ruleset) -> tuple[tuple[str, str], ...]:
    """The (list input, item field) pairs a rule set looks up in its catalogue table, e.g.
    ``(("tasks", "product"),)`` for ``sum(t in tasks: t.assigned * catalogue[t.product])``."""
    found: dict[tuple[str, str], None] = {}

    def walk(value: object, bound: Mapping[str, str]) -> None:
        if isinstance(value, nodes.Aggregate):
            walk(value.source, bound)
            inner = dict(bound)
            if isinstance(value.source, nodes.Var):
                inner[value.var] = value.source.name
            walk(value.where, inner)
            walk(value.body, inner)
            return
        if (isinstance(value, nodes.Index) and isinstance(value.obj, nodes.Var) and value.obj.name == CATALOGUE_TABLE
                and isinstance(value.key, nodes.Member) and isinstance(value.key.obj, nodes.Var)
                and value.key.obj.name in bound):
            found[(bound[value.key.obj.name], value.key.name)] = None
        if isinstance(value, tuple):
            for item in value:
                walk(item, bound)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                if f.name not in ("span", "comments"):
                    walk(getattr(value, f.name), bound)

    walk((ruleset.lets, ruleset.criteria, ruleset.rating), {})
    return tuple(found)


def check_products(
    record: SubjectRecord, catalogue: Catalogue, reads: Sequence[tuple[str, str]], default_day: dt.date
) -> list[Diagnostic]:
    """KR811 for every product code of a record that the catalogue does not list on its day."""
    problems: list[Diagnostic] = []
    day = record.on or default_day
    for list_name, field_name in reads:
        items = record.inputs.get(list_name)
        if not isinstance(items, tuple):
            continue
        for index, item in enumerate(items):
            code = item.get(field_name) if isinstance(item, Mapping) else None
            if not isinstance(code, str):
                continue
            assigned = item.get(ASSIGNED_ON)
            on = assigned if isinstance(assigned, dt.date) else day
            if catalogue.coefficient(code, on) is not None:
                continue
            codes = sorted({p.code for p in catalogue.in_force(on)})
            close = difflib.get_close_matches(code, codes, n=1, cutoff=0.5)
            elsewhere = sorted(_dates(p.valid) for p in catalogue.products if p.code == code)
            if close:
                hint = f"did you mean `{close[0]}`?"
            elif elsewhere:
                hint = f"`{code}` applies only {', '.join(elsewhere)}"
            else:
                hint = f"add `{code}` to catalogue `{catalogue.id}` (approved products only) or correct the record"
            problems.append(Diagnostic(
                "KR811", f"product code `{code}` is not in catalogue `{catalogue.id}` on {on.isoformat()}",
                hint=hint, where=f"record {record.id}, field inputs.{list_name}[{index}].{field_name}",
            ))
    return problems
