"""The checker: ``nodes.Ruleset`` → :class:`~kpi_rules.checked.CheckedRuleset`.

Everything that can be known before a record is read is checked here: names and their
spelling, types (see :mod:`kpi_rules.typecheck`), duplicate ids, input declarations, param and
table versions and the dates they cover, tables keyed by a ``one_of`` that miss a value,
criteria maxima that do not add up, and rating bands with gaps or overlaps. All problems are
collected and raised together as one :class:`~kpi_rules.diagnostics.DiagnosticError`; cycles
between definitions are left to the compiler. The nodes are never changed: what is learned
goes into the side tables of the result (``symbols``, ``expr_types``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from fractions import Fraction

from kpi_rules import nodes
from kpi_rules.checked import CheckedRuleset, Symbol, SymbolKind
from kpi_rules.cohort import check_cohorts
from kpi_rules.diagnostics import Diagnostic, DiagnosticSink, Label, Severity
from kpi_rules.periods import check_periods
from kpi_rules.relations import RELATIONS, relation_spec
from kpi_rules.source import Span
from kpi_rules.typecheck import (
    SCALAR_TYPES,
    ExprChecker,
    Global,
    fmt_num,
    literal_number,
    suggest,
    type_of_decl,
    what,
)
from kpi_rules.valuetypes import NEVER, BoolType, EnumType, ListOf, NumberType, RecordType, TableType, ValueType

_KIND_WORDS: dict[str, str] = {
    "input": "input",
    "relation": "relation",
    "param": "param",
    "table": "table",
    "let": "let",
    "criterion": "criterion",
    "group": "group",
    "total": "criteria tree",
}


def check_ruleset(ruleset: nodes.Ruleset) -> CheckedRuleset:
    """Check a parsed rule set and resolve its names and types.

    Raises:
        DiagnosticError: with every problem found (codes KR3xx), sorted by position.

    Example:
        >>> from kpi_rules.parser import parse_ruleset
        >>> from kpi_rules.source import SourceFile
        >>> checked = check_ruleset(parse_ruleset(SourceFile.read("criteria/nd335/individual.kpi")))
        >>> checked.symbols["a"].kind
        'let'
    """
    return _Checker(ruleset).run()


def _start(node: object, index: int) -> tuple[int, int]:
    span = getattr(node, "span", None)
    return (span.start if isinstance(span, Span) else -1, index)


def _first_label(node: object, message: str = "first declared here") -> tuple[Label, ...]:
    span = getattr(node, "span", None)
    return (Label(span, message),) if isinstance(span, Span) else ()


def _dates(start: dt.date, end: dt.date | None) -> str:
    return f"from {start.isoformat()}" + (f" until {end.isoformat()}" if end else " on")


def _first_gap(whole: nodes.Validity, parts: Sequence[nodes.Validity | None]) -> tuple[dt.date, dt.date | None] | None:
    """The first stretch of ``whole`` that no part covers, or None when all of it is covered."""
    if any(p is None for p in parts):
        return None
    cursor = whole.start
    for p in sorted((p for p in parts if p is not None), key=lambda v: v.start):
        if whole.end is not None and cursor >= whole.end:
            return None
        if p.start > cursor:
            return cursor, p.start if whole.end is None else min(p.start, whole.end)
        if p.end is None:
            return None
        cursor = max(cursor, p.end)
    if whole.end is None or cursor < whole.end:
        return cursor, whole.end
    return None


def _overlap(a: nodes.Validity | None, b: nodes.Validity | None) -> bool:
    if a is None or b is None:
        return True
    if (a.end is not None and a.end <= a.start) or (b.end is not None and b.end <= b.start):
        return False  # an empty range (reported on its own) overlaps nothing
    a_end = a.end or dt.date.max
    b_end = b.end or dt.date.max
    return a.start < b_end and b.start < a_end


class _Checker:
    def __init__(self, ruleset: nodes.Ruleset) -> None:
        self.rs = ruleset
        self.sink = DiagnosticSink()
        self.types: dict[int, ValueType] = {}
        self.records: dict[str, nodes.RecordDecl] = {}
        self.subjects: dict[str, nodes.SubjectDecl] = {}
        self.globals: dict[str, Global] = {}
        self.lets: dict[str, nodes.LetDecl] = {}
        self.let_types: dict[str, ValueType] = {}
        self.let_busy: set[str] = set()
        self.expr = ExprChecker(self.sink, self.globals, self._let_type, self.records, self.subjects, self.types)

    def error(self, code: str, message: str, span: Span | None, hint: str | None = None,
              labels: tuple[Label, ...] = (), note: str | None = None) -> None:
        self.sink.add(Diagnostic(code, message, span, hint=hint, labels=labels, note=note))

    def run(self) -> CheckedRuleset:
        self._type_names()
        subject = self.subjects.get(self.rs.rates)
        if subject is None:
            hint = suggest(self.rs.rates, self.subjects) or "declare it with `subject NAME \"label\" { ... }`"
            self.error("KR316", f"`rates {self.rs.rates}` names no declared subject", self.rs.span, hint)
        if self.rs.in_force.end is not None and self.rs.in_force.end <= self.rs.in_force.start:
            self.error("KR308", "the rule set is never in force: its `until` date is not after its `from` date",
                       self.rs.span, "`until` is exclusive; give a later `until` date or leave it out")
        decls: list[nodes.RecordDecl | nodes.SubjectDecl] = [*self.rs.records, *self.rs.subjects]
        for decl in decls:
            self._declaration_inputs(decl)
        self._collect_globals(subject)
        self._versions("param", self.rs.params)
        self._versions("table", self.rs.tables)
        for let in self.rs.lets:
            if self.lets.get(let.name) is let:
                self._let_type(let.name)
            else:  # a duplicate (already reported): still check its expression
                self.expr.check(let.expr, {})
        if self.rs.criteria is not None:
            self._criteria(self.rs.criteria)
        if self.rs.rating is not None:
            self._rating(self.rs.rating)
        check_periods(self.rs, self.error)  # periods and cohort rules: KR320-KR328
        check_cohorts(self.rs, self.error)
        self.sink.raise_if_errors()
        assert subject is not None
        symbols = {
            name: Symbol(name, g.kind, g.type if g.type is not None else self._let_type(name), g.decl)
            for name, g in self.globals.items()
        }
        warnings = tuple(d for d in self.sink.items if d.severity is Severity.WARNING)
        return CheckedRuleset(self.rs, subject, symbols, dict(self.records), dict(self.subjects),
                              self.types, warnings)

    # ------------------------------------------------------------------ declarations

    def _type_names(self) -> None:
        decls: list[nodes.RecordDecl | nodes.SubjectDecl] = [*self.rs.records, *self.rs.subjects]
        for decl in sorted(decls, key=lambda d: _start(d, 0)):
            first = self.records.get(decl.name) or self.subjects.get(decl.name)
            if first is not None:
                self.error("KR302", f"the type name `{decl.name}` is declared twice", decl.span,
                           "give each record and subject its own name", _first_label(first))
            elif isinstance(decl, nodes.RecordDecl):
                self.records[decl.name] = decl
            else:
                self.subjects[decl.name] = decl

    def _declaration_inputs(self, decl: nodes.RecordDecl | nodes.SubjectDecl) -> None:
        seen: dict[str, object] = {}
        items: list[nodes.InputDecl | nodes.RelationDecl] = [*decl.inputs]
        if isinstance(decl, nodes.SubjectDecl):
            items.extend(decl.relations)
        for item in sorted(items, key=lambda d: _start(d, 0)):
            if item.name in seen:
                self.error("KR302", f"`{decl.name}` declares `{item.name}` twice", item.span,
                           "give each input and relation its own name", _first_label(seen[item.name]))
            else:
                seen[item.name] = item
            if isinstance(item, nodes.InputDecl):
                self._input(item)
                continue
            self._relation_name(item)
            if item.target not in self.subjects:
                hint = suggest(item.target, self.subjects) or "relations link to a declared `subject`"
                self.error("KR316", f"the relation `{item.name}` links to `{item.target}`, which is not a declared "
                           "subject", item.span, hint)

    def _relation_name(self, rel: nodes.RelationDecl) -> None:
        """Only the relations of the organisation model (kpi_rules.relations) have values."""
        spec = relation_spec(rel.name)
        if spec is None:
            hint = suggest(rel.name, RELATIONS) or "the relations are " + ", ".join(RELATIONS)
            self.error("KR360", f"`{rel.name}` is not a relation of the organisation model", rel.span, hint,
                       note="relation values come from the unit tree; see docs/decree-design.md, Relations")
        elif spec.many != rel.many:
            want = f"list of {rel.target}" if spec.many else rel.target
            self.error("KR360", f"the relation `{rel.name}` is {'a list' if spec.many else 'one subject'}: "
                       f"{spec.meaning}", rel.span, f"write `relation {rel.name} : {want}`")

    def _type_expr(self, t: nodes.TypeExpr, span: Span | None) -> bool:
        """Report a scalar type name that is not one of the language's types."""
        if isinstance(t, nodes.ScalarType) and t.name not in SCALAR_TYPES:
            hint = suggest(t.name, SCALAR_TYPES) or (
                f"the types are {', '.join(SCALAR_TYPES)}, one_of(...) and list of RECORD")
            self.error("KR316", f"`{t.name}` is not a type", t.span or span, hint)
            return False
        return True

    def _input(self, inp: nodes.InputDecl) -> None:
        t = inp.type
        if not self._type_expr(t, inp.span):
            return
        if isinstance(t, nodes.ListType) and t.item not in self.records:
            hint = suggest(t.item, self.records) or "declare it with `record NAME \"label\" { input ... }`"
            self.error("KR316", f"`list of {t.item}` names no declared record", t.span or inp.span, hint)
        vt = type_of_decl(t)
        is_number = isinstance(vt, NumberType)
        for word, bound in (("min", inp.min), ("max", inp.max)):
            if bound is not None and not is_number:
                self.error("KR312", f"`{word}` applies only to numbers, but the input `{inp.name}` is {what(vt)}",
                           inp.span, f"remove `{word} {fmt_num(bound)}`")
        if inp.monotone is not None and not isinstance(vt, (NumberType, BoolType, EnumType)):
            self.error("KR340", f"`{inp.monotone}` applies only to numbers, bool and one_of inputs, but the input "
                       f"`{inp.name}` is {what(vt)}", inp.span,
                       f"remove `{inp.monotone}`: only ordered values can be raised")
        if inp.min is not None and inp.max is not None and inp.min > inp.max:
            self.error("KR312", f"the input `{inp.name}` has `min {fmt_num(inp.min)}` above `max {fmt_num(inp.max)}`",
                       inp.span, "swap the two bounds, or correct one of them")
        if inp.missing == "default" and inp.default is None:
            self.error("KR312", f"the input `{inp.name}` says `default` but gives no value", inp.span,
                       "write `default VALUE`")
        if inp.default is None:
            return
        if inp.missing != "default":
            self.error("KR312", f"the input `{inp.name}` is `{inp.missing}` but also has a default", inp.span,
                       "keep either the default or the `required`/`optional` option")
        if isinstance(vt, ListOf):
            self.error("KR312", f"the list input `{inp.name}` cannot have a default", inp.default.span or inp.span,
                       "remove the default; a missing list is reported when a record is read")
            return
        if not self.expr.check_literal(inp.default, vt, f"the default of `{inp.name}`", code="KR312"):
            return
        value = literal_number(inp.default)
        if value is None:
            return
        if (inp.min is not None and value < inp.min) or (inp.max is not None and value > inp.max):
            low = fmt_num(inp.min) if inp.min is not None else "any"
            high = fmt_num(inp.max) if inp.max is not None else "any"
            self.error("KR312", f"the default {fmt_num(value)} of `{inp.name}` is outside its range "
                       f"{low} to {high}", inp.default.span or inp.span,
                       "give a default within `min` and `max`, or widen the range")

    # ------------------------------------------------------------------ global names

    def _collect_globals(self, subject: nodes.SubjectDecl | None) -> None:
        entries: list[tuple[str, SymbolKind, object, ValueType | None]] = []
        if subject is not None:
            own: set[str] = set()
            for inp in subject.inputs:
                if inp.name not in own:
                    entries.append((inp.name, "input", inp, type_of_decl(inp.type)))
                own.add(inp.name)
            for rel in subject.relations:
                if rel.name not in own:
                    item = RecordType(rel.target)
                    entries.append((rel.name, "relation", rel, ListOf(item) if rel.many else item))
                own.add(rel.name)
        for p in self.rs.params:
            entries.append((p.name, "param", p, type_of_decl(p.type)))
        for tb in self.rs.tables:
            entries.append((tb.name, "table", tb, TableType(type_of_decl(tb.key_type), type_of_decl(tb.value_type))))
        for let in self.rs.lets:
            entries.append((let.name, "let", let, None))
        if self.rs.criteria is not None:
            entries.append((self.rs.criteria.name, "total", self.rs.criteria, NumberType("points")))
            entries.extend(self._criteria_entries(self.rs.criteria.children))
        ordered = sorted(enumerate(entries), key=lambda ie: _start(ie[1][2], ie[0]))
        for _, (name, kind, decl, vt) in ordered:
            first = self.globals.get(name)
            if first is None:
                self.globals[name] = Global(kind, decl, vt)
                if kind == "let":
                    assert isinstance(decl, nodes.LetDecl)
                    self.lets[name] = decl
                continue
            if first.kind == kind and kind in ("param", "table"):
                continue  # versions: checked by _versions
            self.error("KR302", f"the name `{name}` is already used by the {_KIND_WORDS[first.kind]} `{name}`",
                       getattr(decl, "span", None),
                       "rename one of them: inputs, relations, params, tables, lets and criteria share one "
                       "namespace", _first_label(first.decl))

    def _criteria_entries(self, items: Iterable[nodes.CriteriaItem]) -> list[tuple[str, SymbolKind, object, ValueType]]:
        out: list[tuple[str, SymbolKind, object, ValueType]] = []
        for item in items:
            kind: SymbolKind = "criterion" if isinstance(item, nodes.Criterion) else "group"
            out.append((item.name, kind, item, NumberType("points")))
            if isinstance(item, nodes.CriteriaGroup):
                out.extend(self._criteria_entries(item.children))
        return out

    def _let_type(self, name: str) -> ValueType:
        if name in self.let_types:
            return self.let_types[name]
        if name in self.let_busy:
            return NEVER  # a cycle: the compiler reports it (KR401)
        self.let_busy.add(name)
        t = self.expr.check(self.lets[name].expr, {})
        self.let_busy.discard(name)
        self.let_types[name] = t
        return t

    # ------------------------------------------------------------------ params and tables

    def _versions(self, kind: str, decls: Sequence[nodes.ParamDecl] | Sequence[nodes.TableDecl]) -> None:
        by_name: dict[str, list[nodes.ParamDecl | nodes.TableDecl]] = {}
        for d in decls:
            by_name.setdefault(d.name, []).append(d)
        for name, versions in by_name.items():
            versions.sort(key=lambda d: _start(d, 0))
            for v in versions:
                if isinstance(v, nodes.ParamDecl):
                    self._param(v)
                else:
                    self._table(v)
                if v.valid is not None and v.valid.end is not None and v.valid.end <= v.valid.start:
                    self.error("KR308", f"this version of the {kind} `{name}` is never in force: its `until` date "
                               "is not after its `from` date", v.span, "`until` is exclusive; give a later date")
            first = versions[0]
            first_sig = _signature(first)
            for i, v in enumerate(versions[1:], start=1):
                if _signature(v) != first_sig:
                    self.error("KR303", f"this version of the {kind} `{name}` is declared as {_sig_text(v)}, "
                               f"but the first as {_sig_text(first)}", v.span,
                               "every version must have the same type", _first_label(first, "first version"))
                for other in versions[:i]:
                    if _overlap(v.valid, other.valid):
                        when = "on every date" if v.valid is None or other.valid is None else (
                            _dates(max(v.valid.start, other.valid.start), _min_end(v.valid.end, other.valid.end)))
                        self.error("KR302", f"the {kind} `{name}` is declared twice for the same dates: both are in "
                                   f"force {when}", v.span,
                                   "give each version its own `from ... until ...` dates, without overlap",
                                   _first_label(other, "the other version"))
                        break
            live = [v.valid for v in versions if v.valid is None or v.valid.end is None or v.valid.end > v.valid.start]
            gap = _first_gap(self.rs.in_force, live)
            if gap is not None:
                self.error("KR308", f"no version of the {kind} `{name}` is in force {_dates(*gap)}", first.span,
                           f"add a version for those dates, or widen an existing one; the rule set is in force "
                           f"{_dates(self.rs.in_force.start, self.rs.in_force.end)}")

    def _param(self, p: nodes.ParamDecl) -> None:
        if not self._type_expr(p.type, p.span):
            return
        vt = type_of_decl(p.type)
        if isinstance(vt, ListOf):
            self.error("KR303", f"the param `{p.name}` cannot be a list", p.type.span or p.span,
                       "a param is one number, bool, text, date or one_of value")
            return
        self.expr.check_literal(p.value, vt, f"the value of `{p.name}`")

    def _table(self, tb: nodes.TableDecl) -> None:
        if not (self._type_expr(tb.key_type, tb.span) & self._type_expr(tb.value_type, tb.span)):
            return
        key_t, value_t = type_of_decl(tb.key_type), type_of_decl(tb.value_type)
        for word, t, texpr in (("keys", key_t, tb.key_type), ("values", value_t, tb.value_type)):
            if isinstance(t, ListOf):
                self.error("KR303", f"the {word} of the table `{tb.name}` cannot be lists", texpr.span or tb.span,
                           "use a number, bool, text, date or one_of type")
        seen: dict[object, nodes.TableRow] = {}
        for row in tb.rows:
            if not isinstance(value_t, ListOf):
                self.expr.check_literal(row.value, value_t, f"a value of `{tb.name}`")
            if isinstance(key_t, ListOf) or not self.expr.check_literal(row.key, key_t, f"a key of `{tb.name}`"):
                continue
            key = _literal_key(row.key)
            if key in seen:
                self.error("KR302", f"the table `{tb.name}` lists the key {_key_text(row.key)} twice", row.span,
                           "keep one row per key", _first_label(seen[key]))
            else:
                seen[key] = row
        members: tuple[object, ...] = ()
        if isinstance(key_t, EnumType):
            members = key_t.members
        elif isinstance(key_t, BoolType):
            members = (True, False)
        missing = [m for m in members if m not in seen]
        if missing:
            shown = ", ".join(_key_text(nodes.StringLit(m) if isinstance(m, str) else nodes.BoolLit(bool(m)))
                              for m in missing)
            self.error("KR307", f"the table `{tb.name}` has no row for {shown}", tb.span,
                       "a table keyed by a one_of (or bool) type must list every value; add "
                       + ("a row" if len(missing) == 1 else "the rows"))

    # ------------------------------------------------------------------ criteria

    def _criteria(self, tree: nodes.CriteriaTree) -> None:
        self._positive_max("criteria tree", tree.name, tree.max, tree.span)
        self._sum_check(tree.name, tree.max, tree.children, tree.span)
        for child in tree.children:
            self._criteria_item(child)

    def _criteria_item(self, item: nodes.CriteriaItem) -> None:
        if isinstance(item, nodes.Criterion):
            self._positive_max("criterion", item.name, item.max, item.span)
            self.expr.expect(item.expr, "number", f"the points of the criterion `{item.name}`", {})
            return
        self._positive_max(item.kind, item.name, item.max, item.span)
        if item.kind == "group":
            self._sum_check(item.name, item.max, item.children, item.span)
        else:
            for child in item.children:
                if isinstance(child, nodes.CriteriaGroup):
                    self.error("KR319", f"the {item.kind} `{item.name}` contains the {child.kind} `{child.name}`; "
                               f"a {item.kind} may only contain criteria", child.span,
                               f"move `{child.name}` out of `{item.name}`, or turn its criteria into direct "
                               f"children of `{item.name}`")
        for child in item.children:
            self._criteria_item(child)

    def _positive_max(self, kind: str, name: str, value: Fraction, span: Span | None) -> None:
        if value <= 0:
            self.error("KR317", f"the {kind} `{name}` has max {fmt_num(value)}; a maximum must be above 0", span,
                       "give the maximum number of points, e.g. `max 10`")

    def _sum_check(self, name: str, total: Fraction, children: Sequence[nodes.CriteriaItem], span: Span | None) -> None:
        counted = [c for c in children if isinstance(c, nodes.Criterion) or c.kind == "group"]
        got = sum((c.max for c in counted), Fraction(0))
        if got == total:
            return
        parts = " + ".join(f"{c.name} {fmt_num(c.max)}" for c in counted) or "(no children)"
        self.error("KR304", f"the maxima of the children of `{name}` add up to {fmt_num(got)}, but `{name}` has max "
                   f"{fmt_num(total)}", span,
                   f"make the children's maxima add up to {fmt_num(total)}, or change the max of `{name}` to "
                   f"{fmt_num(got)}; bonus and penalty blocks are not counted",
                   note=f"{parts} = {fmt_num(got)}")

    # ------------------------------------------------------------------ rating

    def _rating(self, rating: nodes.Rating) -> None:
        top: Fraction | None = self.rs.criteria.max if self.rs.criteria is not None else None
        if self.rs.criteria is None:
            self.error("KR318", "the rule set has a rating but no criteria tree to score it", rating.span,
                       "add `criteria total \"label\" max 100 { ... }`")
        if not rating.levels:
            self.error("KR318", "the rating has no levels", rating.span,
                       "add levels, highest first, e.g. `level good \"Good\" from 70 below 90`")
        self._unique("level", rating.levels)
        self._unique("disqualifier", rating.disqualifiers)
        names = [lv.name for lv in rating.levels]
        for level in rating.levels:
            self._unique("condition", level.conditions, f" of the level `{level.name}`")
            for cond in level.conditions:
                self.expr.expect(cond.expr, "bool", f"the condition `{cond.name}`", {})
        for dq in rating.disqualifiers:
            self.expr.expect(dq.when, "bool", f"the `when` of the disqualifier `{dq.name}`", {})
            if dq.target is not None and dq.target not in names:
                hint = suggest(dq.target, names) or (f"the levels are {', '.join(names)}" if names else "declare the level")
                self.error("KR315", f"the disqualifier `{dq.name}` leads to `{dq.target}`, which is not a level",
                           dq.span, hint)
        self._bands(rating.levels, top)

    def _unique(self, what_: str, items: Sequence[nodes.Level] | Sequence[nodes.Disqualifier]
                | Sequence[nodes.Condition], where: str = "") -> None:
        seen: dict[str, object] = {}
        for item in items:
            if item.name in seen:
                self.error("KR302", f"the {what_} `{item.name}`{where} is declared twice", item.span,
                           "give each one its own name", _first_label(seen[item.name]))
            else:
                seen[item.name] = item

    def _bands(self, levels: Sequence[nodes.Level], top: Fraction | None) -> None:
        valid: list[nodes.Level] = []
        outside = False
        for lv in levels:
            bottom = lv.lower if lv.lower is not None else Fraction(0)
            bad = False
            if lv.upper is not None and bottom >= lv.upper:
                self.error("KR317", f"the band of `{lv.name}` is empty: from {fmt_num(bottom)} below "
                           f"{fmt_num(lv.upper)}", lv.span, "`from X below Y` needs X smaller than Y")
                bad = True
            if bottom < 0 or (top is not None and bottom > top) or (lv.upper is not None and lv.upper < 0):
                rng = f"0 to {fmt_num(top)}" if top is not None else "0 upwards"
                self.error("KR317", f"the band of `{lv.name}` lies outside the score range {rng}", lv.span,
                           "bands must stay within the criteria tree's range")
                bad = outside = True
            elif top is not None and lv.upper is not None and lv.upper > top:
                self.error("KR317", f"the band of `{lv.name}` goes up to below {fmt_num(lv.upper)}, above the maximum "
                           f"score {fmt_num(top)}", lv.span,
                           f"leave out `below` so that the top band includes {fmt_num(top)}")
                bad = outside = True
            if not bad:
                valid.append(lv)
        for before, after in zip(levels, levels[1:]):
            lo_b = before.lower if before.lower is not None else Fraction(0)
            lo_a = after.lower if after.lower is not None else Fraction(0)
            if lo_a > lo_b:
                self.error("KR317", f"levels are listed highest first, but `{after.name}` ({_band(after)}) comes "
                           f"after `{before.name}` ({_band(before)})", after.span,
                           "list the levels from the highest band to the lowest",
                           _first_label(before, f"`{before.name}` is listed before it"))
        if top is None or not valid or outside:
            return  # with a band outside the range, gaps and overlaps would only repeat the problem
        # Walk the bands from the bottom. A position is (value, 0) for "just at value" and (top, 1)
        # for "including the maximum", so that an open top band covers the maximum itself.
        order = sorted(valid, key=lambda lv: lv.lower if lv.lower is not None else Fraction(0))
        cursor: tuple[Fraction, int] = (Fraction(0), 0)
        owner: nodes.Level | None = None
        for lv in order:
            lower: tuple[Fraction, int] = (lv.lower if lv.lower is not None else Fraction(0), 0)
            upper: tuple[Fraction, int] = (lv.upper, 0) if lv.upper is not None else (top, 1)
            if lower > cursor:
                self.error("KR305", f"scores from {fmt_num(cursor[0])} up to below {fmt_num(lower[0])} have no level",
                           lv.span, f"extend a band so that it covers {fmt_num(cursor[0])} to below "
                           f"{fmt_num(lower[0])}", _first_label(owner, "the band below ends here") if owner else ())
            elif lower < cursor and owner is not None:
                end = min(cursor, upper)
                span_text = (f"from {fmt_num(lower[0])} up to below {fmt_num(end[0])}" if end[1] == 0
                             else f"from {fmt_num(lower[0])} up to {fmt_num(end[0])}")
                self.error("KR306", f"the bands of `{owner.name}` and `{lv.name}` overlap: scores {span_text} are in "
                           "both", lv.span, "make each band start where the one below it ends (`below X` … `from X`)",
                           _first_label(owner, f"`{owner.name}` is here"))
            if upper > cursor:
                cursor, owner = upper, lv
        if cursor < (top, 1):
            if cursor == (top, 0):
                self.error("KR305", f"a score of exactly {fmt_num(top)} (the maximum) has no level: the top band must "
                           "include the maximum", owner.span if owner else None,
                           f"leave out `below {fmt_num(top)}` in the highest level", )
            else:
                self.error("KR305", f"scores from {fmt_num(cursor[0])} up to {fmt_num(top)} have no level",
                           owner.span if owner else None, "the highest level should have no `below`: write "
                           f"`from {fmt_num(cursor[0])}`")


def _band(lv: nodes.Level) -> str:
    if lv.lower is not None and lv.upper is not None:
        return f"from {fmt_num(lv.lower)} below {fmt_num(lv.upper)}"
    if lv.lower is not None:
        return f"from {fmt_num(lv.lower)}"
    return f"below {fmt_num(lv.upper)}" if lv.upper is not None else "every score"


def _min_end(a: dt.date | None, b: dt.date | None) -> dt.date | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _signature(d: nodes.ParamDecl | nodes.TableDecl) -> ValueType:
    if isinstance(d, nodes.ParamDecl):
        return type_of_decl(d.type)
    return TableType(type_of_decl(d.key_type), type_of_decl(d.value_type))


def _sig_text(d: nodes.ParamDecl | nodes.TableDecl) -> str:
    sig = _signature(d)
    if isinstance(sig, TableType):
        return f"{what(sig.key)} -> {what(sig.value)}"
    return what(sig)


def _literal_key(lit: nodes.Expr) -> object:
    number = literal_number(lit)
    if number is not None:
        return number
    return getattr(lit, "value", None)


def _key_text(lit: nodes.Expr) -> str:
    number = literal_number(lit)
    if number is not None:
        return fmt_num(number)
    if isinstance(lit, nodes.StringLit):
        return f'"{lit.value}"'
    if isinstance(lit, nodes.BoolLit):
        return "true" if lit.value else "false"
    if isinstance(lit, nodes.DateLit):
        return lit.value.isoformat()
    return "this key"
