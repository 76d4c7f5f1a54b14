"""The Lark tree → nodes: :class:`NodeBuilder` turns the parse tree of a ``.kpi`` text into frozen
:mod:`kpi_rules.nodes` with spans into the source.

Only :mod:`kpi_rules.parser` uses it (the Lark tree never leaves the parser's stage). Errors that
the grammar cannot catch (an unknown type or rounding mode, a malformed number or date) are
raised here as KR101/KR104 diagnostics.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, NoReturn, cast, get_args

from lark import Token
from lark.tree import Meta
from lark.visitors import Transformer_NonRecursive, v_args

from kpi_rules import nodes as n
from kpi_rules.diagnostics import Diagnostic, DiagnosticError
from kpi_rules.source import SourceFile, Span
from kpi_rules.syntax_errors import join_or

__all__ = ["NodeBuilder"]

SCALAR_TYPES: tuple[str, ...] = get_args(n.ScalarName)
ROUNDING_MODES: tuple[str, ...] = get_args(n.RoundingMode)
FALLTHROUGHS: tuple[str, ...] = get_args(n.Fallthrough)


@dataclass(frozen=True, slots=True)
class _Cite:
    value: str


@dataclass(frozen=True, slots=True)
class _Tagged:
    """A clause of a declaration (``min``, ``basis``...) before it is placed into its node."""

    tag: str
    value: Any
    span: Span


@dataclass(frozen=True, slots=True)
class _Body:
    conditions: tuple[n.Condition, ...]


_ESCAPES = {"n": "\n", '"': '"', "\\": "\\"}
_ESCAPE_RE = re.compile(r"\\(.)")


def _unescape(raw: str) -> str:
    return _ESCAPE_RE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), raw[1:-1])


def _first_cite(children: list[Any]) -> str | None:
    return next((c.value for c in children if isinstance(c, _Cite)), None)


def _first_text(children: list[Any]) -> n.Text | None:
    return next((c for c in children if isinstance(c, n.Text)), None)


@v_args(meta=True)
class NodeBuilder(Transformer_NonRecursive[Token, Any]):
    """Builds nodes bottom-up (without recursion, so long chains cannot overflow the stack)."""

    def __init__(self, source: SourceFile, offset: int) -> None:
        super().__init__()
        self.source = source
        self.offset = offset
        #: start offsets of nodes that may carry comments, with the node's identity key
        self.decl_starts: list[tuple[int, int, int]] = []  # (start, end, id(node))

    # ----------------------------------------------------------------- helpers
    def _span(self, meta: Meta) -> Span:
        start = getattr(meta, "start_pos", 0)
        return Span(self.source, self.offset + start, self.offset + getattr(meta, "end_pos", start))

    def _tok(self, token: Token) -> Span:
        start = token.start_pos or 0
        return Span(self.source, self.offset + start, self.offset + (token.end_pos or start))

    def _fail(self, code: str, message: str, span: Span, hint: str | None = None) -> NoReturn:
        raise DiagnosticError([Diagnostic(code, message, span, hint=hint)])

    def _decl(self, node: Any, meta: Meta) -> Any:
        self.decl_starts.append((self.offset + meta.start_pos, self.offset + meta.end_pos, id(node)))
        return node

    def _fraction(self, token: Token) -> Fraction:
        text = str(token).rstrip("%")
        try:
            return Fraction(text)
        except (ValueError, ZeroDivisionError):
            self._fail("KR104", f"the number `{str(token)[:20]}...` is too long", self._tok(token),
                       hint="write at most a few thousand digits")

    def _date(self, token: Token) -> dt.date:
        try:
            return dt.date.fromisoformat(str(token))
        except ValueError:
            self._fail("KR104", f"`{token}` is not a valid date", self._tok(token),
                       hint="write dates as YYYY-MM-DD with a real month and day, e.g. 2026-02-28")

    def _choice(self, token: Token, choices: tuple[str, ...], what: str) -> str:
        word = str(token)
        if word in choices:
            return word
        close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
        hint = f"did you mean `{close[0]}`?" if close else f"write one of {join_or([f'`{c}`' for c in choices])}"
        self._fail("KR101", f"expected {what} ({join_or([f'`{c}`' for c in choices])}), found `{word}`", self._tok(token), hint)

    # ----------------------------------------------------------------- header
    # Rules whose result is one clause of a declaration (`basis "..."`, `min 0`, `optional`...)
    # or just their only child; the enclosing rule places them.
    _CLAUSES = {"basis", "version", "in_force", "extends", "rates", "dotted_name",
                "opt_min", "opt_max", "opt_default", "opt_optional", "opt_required",
                "opt_increasing", "opt_decreasing"}

    def __default__(self, data: Any, children: list[Any], meta: Meta) -> Any:
        if data not in self._CLAUSES:  # start, signed_number, arg: pass the only child through
            return children[0]
        tag = str(data).removeprefix("opt_")
        value: Any = None
        if data == "dotted_name":
            value = ".".join(str(t) for t in children)
        elif children:
            first = children[0]
            value = (_unescape(first) if first.type == "STRING" else str(first)) if isinstance(first, Token) else first
            value = value.value if isinstance(value, (n.NumberLit, _Tagged)) and tag != "default" else value
        return _Tagged(tag, value, self._span(meta))

    def display(self, meta: Meta, c: list[Token]) -> _Tagged:
        try:
            decimals = int(c[0])
        except ValueError:
            self._fail("KR104", f"the number `{str(c[0])[:20]}...` is too long", self._tok(c[0]))
        mode = self._choice(c[1], ROUNDING_MODES, "a rounding mode")
        return _Tagged("display", n.Display(decimals, cast(n.RoundingMode, mode)), self._span(meta))

    def validity(self, meta: Meta, c: list[Token]) -> n.Validity:
        return n.Validity(self._date(c[0]), self._date(c[1]) if len(c) > 1 else None)

    def ruleset(self, meta: Meta, c: list[Any]) -> n.Ruleset:
        head = {x.tag: x for x in c if isinstance(x, _Tagged)}
        groups: dict[type, list[Any]] = {}
        for item in c:
            groups.setdefault(type(item), []).append(item)
        for kind, keyword in ((n.CriteriaTree, "criteria"), (n.Rating, "rating"), (n.PeriodsDecl, "periods")):
            found = groups.get(kind, [])
            if len(found) > 1:
                self._fail("KR106", f"a rule set has one `{keyword}` block; this is a second one", found[1].span,
                           hint=f"merge the two `{keyword}` blocks into one")
        ident = c[0]
        ruleset = n.Ruleset(
            id=ident.value,
            title=c[1],
            basis=head["basis"].value,
            version=head["version"].value,
            in_force=head["in_force"].value,
            rates=head["rates"].value,
            extends=head["extends"].value if "extends" in head else None,
            display=head["display"].value if "display" in head else n.Display(),
            records=tuple(groups.get(n.RecordDecl, ())),
            subjects=tuple(groups.get(n.SubjectDecl, ())),
            params=tuple(groups.get(n.ParamDecl, ())),
            tables=tuple(groups.get(n.TableDecl, ())),
            lets=tuple(groups.get(n.LetDecl, ())),
            criteria=(groups.get(n.CriteriaTree) or [None])[0],
            rating=(groups.get(n.Rating) or [None])[0],
            removals=tuple(groups.get(n.Removal, ())),
            periods=(groups.get(n.PeriodsDecl) or [None])[0],
            cohorts=tuple(groups.get(n.CohortDecl, ())),
            span=ident.span,
        )
        return cast(n.Ruleset, self._decl(ruleset, meta))

    # ----------------------------------------------------------------- labels
    def text(self, meta: Meta, c: list[Token]) -> n.Text:
        return n.Text(_unescape(c[0]), _unescape(c[1]) if len(c) > 1 else None)

    def cite(self, meta: Meta, c: list[Token]) -> _Cite:
        return _Cite(_unescape(c[0]))

    # ----------------------------------------------------------------- types
    def scalar_type(self, meta: Meta, c: list[Token]) -> n.ScalarType:
        name = self._choice(c[0], SCALAR_TYPES, "a type")
        return n.ScalarType(cast(n.ScalarName, name), self._span(meta))

    def one_of_type(self, meta: Meta, c: list[Token]) -> n.OneOfType:
        return n.OneOfType(tuple(str(t) for t in c), self._span(meta))

    def list_type(self, meta: Meta, c: list[Token]) -> n.ListType:
        return n.ListType(str(c[0]), self._span(meta))

    # ----------------------------------------------------------------- records, subjects
    def record_decl(self, meta: Meta, c: list[Any]) -> n.RecordDecl:
        node = n.RecordDecl(str(c[0]), c[1], tuple(c[2:]), span=self._tok(c[0]))
        return cast(n.RecordDecl, self._decl(node, meta))

    def subject_decl(self, meta: Meta, c: list[Any]) -> n.SubjectDecl:
        inputs = tuple(x for x in c[2:] if isinstance(x, n.InputDecl))
        relations = tuple(x for x in c[2:] if isinstance(x, n.RelationDecl))
        node = n.SubjectDecl(str(c[0]), c[1], inputs, relations, span=self._tok(c[0]))
        return cast(n.SubjectDecl, self._decl(node, meta))

    def input_decl(self, meta: Meta, c: list[Any]) -> n.InputDecl:
        opts: dict[str, _Tagged] = {}
        missing: _Tagged | None = None
        for opt in (x for x in c if isinstance(x, _Tagged)):
            if opt.tag in opts:
                self._fail("KR106", f"`{opt.tag}` is given twice for input `{c[0]}`", opt.span, hint="keep only one")
            if opt.tag in ("default", "optional", "required"):
                if missing is not None:
                    self._fail("KR106", f"`{opt.tag}` conflicts with `{missing.tag}` given earlier for input `{c[0]}`", opt.span,
                               hint="an input is either `required` (the default), has a `default`, or is `optional`")
                missing = opt
            if opt.tag in ("increasing", "decreasing"):
                other = "decreasing" if opt.tag == "increasing" else "increasing"
                if other in opts:
                    self._fail("KR106", f"`{opt.tag}` conflicts with `{other}` given earlier for input `{c[0]}`",
                               opt.span, hint="an input is either `increasing` or `decreasing`, not both")
            opts[opt.tag] = opt
        monotone: n.Monotone | None = (
            "increasing" if "increasing" in opts else "decreasing" if "decreasing" in opts else None)
        node = n.InputDecl(
            name=str(c[0]),
            type=c[1],
            label=cast(n.Text, _first_text(c)),
            missing=cast(n.Missing, missing.tag if missing is not None else "required"),
            default=opts["default"].value if "default" in opts else None,
            min=opts["min"].value if "min" in opts else None,
            max=opts["max"].value if "max" in opts else None,
            cite=_first_cite(c),
            span=self._tok(c[0]),
            monotone=monotone,
        )
        return cast(n.InputDecl, self._decl(node, meta))

    def one_target(self, meta: Meta, c: list[Token]) -> tuple[str, bool]:
        return str(c[0]), False

    def many_target(self, meta: Meta, c: list[Token]) -> tuple[str, bool]:
        return str(c[0]), True

    def relation_decl(self, meta: Meta, c: list[Any]) -> n.RelationDecl:
        target, many = c[1]
        node = n.RelationDecl(str(c[0]), target, many, c[2], span=self._tok(c[0]))
        return cast(n.RelationDecl, self._decl(node, meta))

    # ----------------------------------------------------------------- params, tables, lets
    def param_decl(self, meta: Meta, c: list[Any]) -> n.ParamDecl:
        valid = next((x for x in c if isinstance(x, n.Validity)), None)
        node = n.ParamDecl(str(c[0]), c[1], c[2], c[3], valid, _first_cite(c), span=self._tok(c[0]))
        return cast(n.ParamDecl, self._decl(node, meta))

    def table_row(self, meta: Meta, c: list[Any]) -> n.TableRow:
        return cast(n.TableRow, self._decl(n.TableRow(c[0], c[1], span=self._span(meta)), meta))

    def table_decl(self, meta: Meta, c: list[Any]) -> n.TableDecl:
        valid = next((x for x in c if isinstance(x, n.Validity)), None)
        rows = tuple(x for x in c if isinstance(x, n.TableRow))
        node = n.TableDecl(str(c[0]), c[1], c[2], rows, c[3], valid, _first_cite(c), span=self._tok(c[0]))
        return cast(n.TableDecl, self._decl(node, meta))

    def let_decl(self, meta: Meta, c: list[Any]) -> n.LetDecl:
        node = n.LetDecl(str(c[0]), c[-1], _first_text(c[1:-1]), _first_cite(c[1:-1]), span=self._tok(c[0]))
        return cast(n.LetDecl, self._decl(node, meta))

    # ----------------------------------------------------------------- criteria
    def criteria_decl(self, meta: Meta, c: list[Any]) -> n.CriteriaTree:
        children = tuple(x for x in c[3:] if isinstance(x, (n.Criterion, n.CriteriaGroup)))
        node = n.CriteriaTree(str(c[0]), c[1], c[2].value, children, _first_cite(c), span=self._tok(c[0]))
        return cast(n.CriteriaTree, self._decl(node, meta))

    def group(self, meta: Meta, c: list[Any]) -> n.CriteriaGroup:
        children = tuple(x for x in c[4:] if isinstance(x, (n.Criterion, n.CriteriaGroup)))
        kind = cast(n.GroupKind, str(c[0]))
        node = n.CriteriaGroup(kind, str(c[1]), c[2], c[3].value, children, _first_cite(c), span=self._tok(c[1]))
        return cast(n.CriteriaGroup, self._decl(node, meta))

    def criterion(self, meta: Meta, c: list[Any]) -> n.Criterion:
        node = n.Criterion(str(c[0]), c[1], c[2].value, c[-1], _first_cite(c[3:-1]), span=self._tok(c[0]))
        return cast(n.Criterion, self._decl(node, meta))

    # ----------------------------------------------------------------- rating
    def band_between(self, meta: Meta, c: list[Any]) -> _Tagged:
        return _Tagged("band", (c[0].value, c[1].value), self._span(meta))

    def band_from(self, meta: Meta, c: list[Any]) -> _Tagged:
        return _Tagged("band", (c[0].value, None), self._span(meta))

    def band_below(self, meta: Meta, c: list[Any]) -> _Tagged:
        return _Tagged("band", (None, c[0].value), self._span(meta))

    def level_body(self, meta: Meta, c: list[Any]) -> _Body:
        return _Body(tuple(c))

    def level(self, meta: Meta, c: list[Any]) -> n.Level:
        lower, upper = c[2].value
        body = next((x for x in c if isinstance(x, _Body)), _Body(()))
        node = n.Level(str(c[0]), c[1], lower, upper, body.conditions, _first_cite(c), span=self._tok(c[0]))
        return cast(n.Level, self._decl(node, meta))

    def condition(self, meta: Meta, c: list[Any]) -> n.Condition:
        node = n.Condition(str(c[0]), c[1], c[-1], _first_cite(c[2:-1]), span=self._tok(c[0]))
        return cast(n.Condition, self._decl(node, meta))

    def disqualifier(self, meta: Meta, c: list[Any]) -> n.Disqualifier:
        target = str(c[-1]) if isinstance(c[-1], Token) else None
        body = c[:-1] if target is not None else c
        node = n.Disqualifier(str(c[0]), c[1], body[-1], target, _first_cite(body[2:-1]), span=self._tok(c[0]))
        return cast(n.Disqualifier, self._decl(node, meta))

    def remove_decl(self, meta: Meta, c: list[Any]) -> n.Removal:
        kind = cast(n.RemovalKind, self._choice(c[0], n.REMOVAL_KINDS, "what to remove"))
        node = n.Removal(kind, c[1].value, span=self._span(meta))
        return cast(n.Removal, self._decl(node, meta))

    def fallthrough(self, meta: Meta, c: list[Token]) -> _Tagged:
        return _Tagged("fallthrough", self._choice(c[0], FALLTHROUGHS, "a fall-through rule"), self._span(meta))

    def override_policy(self, meta: Meta, c: list[Any]) -> n.OverridePolicy:
        return n.OverridePolicy(c[0], _first_cite(c), span=self._span(meta))

    def rating_decl(self, meta: Meta, c: list[Any]) -> n.Rating:
        fallthrough = [x for x in c if isinstance(x, _Tagged)]
        overrides = [x for x in c if isinstance(x, n.OverridePolicy)]
        if len(fallthrough) > 1:
            self._fail("KR106", "`fallthrough` is given twice in this rating", fallthrough[1].span, hint="keep only one")
        if len(overrides) > 1:
            span = overrides[1].span or self._span(meta)
            self._fail("KR106", "`allow override` is given twice in this rating", span, hint="keep only one")
        start = getattr(meta, "start_pos", 0)
        node = n.Rating(
            levels=tuple(x for x in c if isinstance(x, n.Level)),
            disqualifiers=tuple(x for x in c if isinstance(x, n.Disqualifier)),
            fallthrough=cast(n.Fallthrough, fallthrough[0].value if fallthrough else "highest_met"),
            override=overrides[0] if overrides else None,
            cite=_first_cite(c),
            span=Span(self.source, self.offset + start, self.offset + start + len("rating")),
        )
        return cast(n.Rating, self._decl(node, meta))

    # ----------------------------------------------------------------- periods and cohorts
    def monitor(self, meta: Meta, c: list[Token]) -> _Tagged:
        return _Tagged("monitor", str(c[0]), self._tok(c[0]))

    def combine(self, meta: Meta, c: list[Any]) -> _Tagged:
        return _Tagged("combine", (str(c[0]), c[1] if len(c) > 1 else None), self._tok(c[0]))

    def count_rules(self, meta: Meta, c: list[Any]) -> tuple[tuple[n.CountRule, ...], str | None]:
        rules = tuple(x for x in c if isinstance(x, n.CountRule))
        otherwise = next((x.value for x in c if isinstance(x, _Tagged)), None)
        return rules, otherwise

    def count_rule(self, meta: Meta, c: list[Any]) -> n.CountRule:
        return cast(n.CountRule, self._decl(n.CountRule(str(c[0]), c[1], span=self._tok(c[0])), meta))

    def count_otherwise(self, meta: Meta, c: list[Token]) -> _Tagged:
        return _Tagged("otherwise", str(c[0]), self._tok(c[0]))

    def periods_decl(self, meta: Meta, c: list[Any]) -> n.PeriodsDecl:
        tags = {x.tag: x for x in c if isinstance(x, _Tagged)}
        method, body = tags["combine"].value
        rules, otherwise = body if body is not None else ((), None)
        start = getattr(meta, "start_pos", 0)
        node = n.PeriodsDecl(
            monitor=tags["monitor"].value, combine=method, rules=rules, otherwise=otherwise,
            cite=_first_cite(c),
            span=Span(self.source, self.offset + start, self.offset + start + len("periods")),
        )
        return cast(n.PeriodsDecl, self._decl(node, meta))

    def quota_limit(self, meta: Meta, c: list[Any]) -> _Tagged:
        names = [t for t in c if isinstance(t, Token) and t.type == "NAME"]
        per_period = any(isinstance(t, Token) and t.type == "PER_PERIOD" for t in c)
        percent = next(t for t in c if isinstance(t, Token) and t.type == "PERCENT")
        value = (str(names[0]), self._fraction(percent), str(names[1]), tuple(str(t) for t in names[2:]), per_period)
        return _Tagged("limit", value, self._span(meta))

    def quota_exception(self, meta: Meta, c: list[Token]) -> _Tagged:
        return _Tagged("exception", (self._fraction(c[0]), str(c[1])), self._span(meta))

    def sort_key(self, meta: Meta, c: list[Token]) -> n.SortKey:
        direction = self._choice(c[1], ("asc", "desc"), "a sort direction")
        return n.SortKey(str(c[0]), cast(n.SortDirection, direction), self._tok(c[0]))

    def quota_demote(self, meta: Meta, c: list[Any]) -> _Tagged:
        return _Tagged("demote", (str(c[0]), tuple(x for x in c[1:] if isinstance(x, n.SortKey))), self._span(meta))

    def cohort_decl(self, meta: Meta, c: list[Any]) -> n.CohortDecl:
        tags = {x.tag: x for x in c if isinstance(x, _Tagged)}
        level, percent, of, groups, per_period = tags["limit"].value
        exception = tags["exception"].value if "exception" in tags else (None, None)
        demote_to, order = tags["demote"].value
        node = n.CohortDecl(
            name=str(c[0]), label=c[1], level=level, percent=percent, of=of, groups=groups,
            demote_to=demote_to, order=order, exception_percent=exception[0], exception_flag=exception[1],
            per_period=per_period, cite=_first_cite(c), span=self._tok(c[0]),
        )
        return cast(n.CohortDecl, self._decl(node, meta))

    # ----------------------------------------------------------------- expressions
    def number(self, meta: Meta, c: list[Token]) -> n.NumberLit:
        return n.NumberLit(self._fraction(c[0]), self._span(meta))

    def negative_number(self, meta: Meta, c: list[Any]) -> n.NumberLit:
        return n.NumberLit(-c[1].value, self._span(meta))

    def percent_lit(self, meta: Meta, c: list[Token]) -> n.PercentLit:
        return n.PercentLit(self._fraction(c[0]), self._span(meta))

    def string_lit(self, meta: Meta, c: list[Token]) -> n.StringLit:
        return n.StringLit(_unescape(c[0]), self._span(meta))

    def date_lit(self, meta: Meta, c: list[Token]) -> n.DateLit:
        return n.DateLit(self._date(c[0]), self._span(meta))

    def true_lit(self, meta: Meta, c: list[Any]) -> n.BoolLit:
        return n.BoolLit(True, self._span(meta))

    def false_lit(self, meta: Meta, c: list[Any]) -> n.BoolLit:
        return n.BoolLit(False, self._span(meta))

    def insufficient(self, meta: Meta, c: list[Any]) -> n.InsufficientData:
        return n.InsufficientData(self._span(meta))

    def var(self, meta: Meta, c: list[Token]) -> n.Var:
        return n.Var(str(c[0]), self._span(meta))

    def member(self, meta: Meta, c: list[Any]) -> n.Member:
        return n.Member(c[0], str(c[1]), self._span(meta))

    def index(self, meta: Meta, c: list[Any]) -> n.Index:
        return n.Index(c[0], c[1], self._span(meta))

    def neg(self, meta: Meta, c: list[Any]) -> n.Unary:
        return n.Unary("-", c[1], self._span(meta))

    def not_op(self, meta: Meta, c: list[Any]) -> n.Unary:
        return n.Unary("not", c[0], self._span(meta))

    def arith(self, meta: Meta, c: list[Any]) -> n.Binary:
        return n.Binary(cast(n.BinaryOp, str(c[1])), c[0], c[2], self._span(meta))

    def compare(self, meta: Meta, c: list[Any]) -> n.Binary:
        return n.Binary(cast(n.BinaryOp, str(c[1])), c[0], c[2], self._span(meta))

    def and_op(self, meta: Meta, c: list[Any]) -> n.Binary:
        return n.Binary("and", c[0], c[1], self._span(meta))

    def or_op(self, meta: Meta, c: list[Any]) -> n.Binary:
        return n.Binary("or", c[0], c[1], self._span(meta))

    def if_else(self, meta: Meta, c: list[Any]) -> n.IfElse:
        return n.IfElse(c[0], c[1], c[2], self._span(meta))

    def kwarg(self, meta: Meta, c: list[Any]) -> n.KeywordArg:
        return n.KeywordArg(str(c[0]), c[1], self._span(meta))

    def call(self, meta: Meta, c: list[Any]) -> n.Call:
        args: list[n.Expr] = []
        kwargs: list[n.KeywordArg] = []
        for item in c[1:]:
            if item is None:
                continue
            if isinstance(item, n.KeywordArg):
                kwargs.append(item)
            elif kwargs:
                self._fail("KR101", "a positional argument cannot follow a keyword argument",
                           item.span or self._span(meta), hint="put positional arguments first, e.g. `percent(a, b, if_zero: 0)`")
            else:
                args.append(item)
        return n.Call(str(c[0]), tuple(args), tuple(kwargs), self._span(meta))

    def aggregate(self, meta: Meta, c: list[Any]) -> n.Aggregate:
        return n.Aggregate(str(c[0]), str(c[1]), c[2], c[3], c[4], self._span(meta))

    def tier(self, meta: Meta, c: list[Any]) -> n.Tier:
        return n.Tier(c[0], c[1], self._span(meta))

    def tiers(self, meta: Meta, c: list[Any]) -> n.Tiers:
        return n.Tiers(c[0], tuple(c[1:-1]), c[-1], self._span(meta))
