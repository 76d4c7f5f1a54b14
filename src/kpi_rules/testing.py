"""Hypothesis strategies for rule sets: valid records for any rule set, and random rule sets.

A loaded rule set declares everything a record may hold (types, ranges, one-of values, lists,
defaults, optional inputs), so valid records can be drawn for any rule set without writing a
generator by hand. Numbers favour the rule set's own thresholds (band edges, tier thresholds,
compared constants) and the values just around them; text fields used as table keys draw only
the table's keys, so a generated record never fails on a missing catalogue entry.

This module needs ``hypothesis`` (a development dependency); ``import kpi_rules`` does not
import it.

Example:
    >>> import kpi_rules
    >>> from hypothesis import given, settings
    >>> from kpi_rules.testing import records
    >>> rules = kpi_rules.load("criteria/nd335/individual.kpi")
    >>> @settings(max_examples=5, database=None, derandomize=True)
    ... @given(records(rules))
    ... def rated_or_insufficient(raw):
    ...     assert rules.evaluate(raw).status in ("rated", "insufficient_data")
    >>> rated_or_insufficient()
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from decimal import Decimal
from fractions import Fraction

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from kpi_rules import nodes
from kpi_rules.checked import CheckedRuleset
from kpi_rules.engine import RuleSet
from kpi_rules.plan import Plan

__all__ = [
    "json_value",
    "input_values",
    "records",
    "rulesets",
    "subject_records",
    "thresholds",
    "walk_exprs",
]

RulesLike = RuleSet | Plan | CheckedRuleset

#: The range drawn for numbers that declare no bound.
_FREE_RANGE = Fraction(1000)
_STEPS = (Fraction(1, 100), Fraction(1))


def _checked(rules: object) -> CheckedRuleset:
    if isinstance(rules, RuleSet):
        return rules.plan.checked
    if isinstance(rules, Plan):
        return rules.checked
    if isinstance(rules, CheckedRuleset):
        return rules
    raise TypeError(f"expected a RuleSet, Plan or CheckedRuleset, got {type(rules).__name__}")


# --------------------------------------------------------------------------- reading the rule set


def walk_exprs(ruleset: nodes.Ruleset) -> Iterator[nodes.Expr]:
    """Every expression node of a rule set (lets, criteria, conditions, disqualifiers), depth first."""
    roots: list[nodes.Expr] = [let.expr for let in ruleset.lets]

    def items(children: tuple[nodes.CriteriaItem, ...]) -> None:
        for child in children:
            if isinstance(child, nodes.Criterion):
                roots.append(child.expr)
            else:
                items(child.children)

    if ruleset.criteria is not None:
        items(ruleset.criteria.children)
    if ruleset.rating is not None:
        for level in ruleset.rating.levels:
            roots.extend(cond.expr for cond in level.conditions)
        roots.extend(dq.when for dq in ruleset.rating.disqualifiers)
    stack = list(reversed(roots))
    while stack:
        expr = stack.pop()
        yield expr
        stack.extend(reversed(nodes.sub_exprs(expr)))


def thresholds(rules: RulesLike | nodes.Ruleset) -> tuple[Fraction, ...]:
    """The numbers a rule set compares against: band edges, tier thresholds and numeric literals.

    >>> import kpi_rules
    >>> edges = thresholds(kpi_rules.load("criteria/nd335/individual.kpi"))
    >>> [str(x) for x in edges if x in (50, 70, 90)]
    ['50', '70', '90']
    """
    ruleset = rules if isinstance(rules, nodes.Ruleset) else _checked(rules).ruleset
    found: set[Fraction] = set()
    if ruleset.rating is not None:
        for level in ruleset.rating.levels:
            found.update(x for x in (level.lower, level.upper) if x is not None)
    for expr in walk_exprs(ruleset):
        if isinstance(expr, (nodes.NumberLit, nodes.PercentLit)):
            found.add(expr.value)
    for param in ruleset.params:
        if isinstance(param.value, (nodes.NumberLit, nodes.PercentLit)):
            found.add(param.value.value)
    return tuple(sorted(found))


def _table_keys(ruleset: nodes.Ruleset) -> dict[str, set[str]]:
    """Input or field name → the text keys of every table it is looked up in (intersected)."""
    rows: dict[str, set[str]] = {}
    for table in ruleset.tables:
        keys = {row.key.value for row in table.rows if isinstance(row.key, nodes.StringLit)}
        rows[table.name] = rows[table.name] & keys if table.name in rows else keys
    out: dict[str, set[str]] = {}
    for expr in walk_exprs(ruleset):
        if not (isinstance(expr, nodes.Index) and isinstance(expr.obj, nodes.Var) and expr.obj.name in rows):
            continue
        key = expr.key
        name = key.name if isinstance(key, (nodes.Var, nodes.Member)) else None
        if name is not None:
            keys = rows[expr.obj.name]
            out[name] = out[name] & keys if name in out else set(keys)
    return out


def _strings(ruleset: nodes.Ruleset) -> list[str]:
    return sorted({e.value for e in walk_exprs(ruleset) if isinstance(e, nodes.StringLit)})


# --------------------------------------------------------------------------- values


def json_value(value: object) -> object:
    """A raw record value as plain JSON data: exact numbers as JSON numbers when their decimal
    text round-trips, otherwise as text (``"74.578125"``, ``"1/3"``); dates as ``YYYY-MM-DD``."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, (Fraction, Decimal)):
        number = _raw_number(Fraction(value))
        if isinstance(number, int):
            return number
        text = str(number) if isinstance(number, Decimal) else f"{number.numerator}/{number.denominator}"
        return float(text) if isinstance(number, Decimal) and repr(float(text)) == text else text
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return str(value)


def _raw_number(x: Fraction) -> int | Decimal | Fraction:
    """The plainest exact form a record accepts: int, a terminating Decimal, else the Fraction."""
    if x.denominator == 1:
        return x.numerator
    den = x.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    if den != 1:
        return x
    digits = 0
    while (x * 10**digits).denominator != 1:
        digits += 1
    return Decimal(int(x * 10**digits)).scaleb(-digits)


def _bounds(decl: nodes.InputDecl) -> tuple[Fraction, Fraction]:
    kind = decl.type.name if isinstance(decl.type, nodes.ScalarType) else "number"
    lo = decl.min
    hi = decl.max
    if kind == "percent":
        lo = lo if lo is not None else Fraction(0)
        hi = hi if hi is not None else max(Fraction(100), lo)
    if lo is None:
        lo = (hi - _FREE_RANGE) if hi is not None else -_FREE_RANGE
    if hi is None:
        hi = lo + _FREE_RANGE
    return lo, hi


def _numbers(lo: Fraction, hi: Fraction, edges: tuple[Fraction, ...], *,
             above: Fraction | None = None) -> SearchStrategy[int | Decimal | Fraction]:
    """Numbers in ``[lo, hi]`` (strictly above ``above`` when given), favouring edges."""
    if above is not None:
        lo = max(lo, above)
    deltas = (Fraction(0), *_STEPS, *(-s for s in _STEPS))
    near = sorted({x + d for x in (lo, hi, *edges) for d in deltas})
    picks = [x for x in near if lo <= x <= hi and (above is None or x > above)]
    cents_lo = -((-lo * 100) // 1)  # the ceiling
    cents_hi = (hi * 100) // 1
    options: list[SearchStrategy[Fraction]] = []
    if picks:
        options.append(st.sampled_from(picks))
    if cents_lo <= cents_hi:
        cents = st.integers(int(cents_lo), int(cents_hi)).map(lambda c: Fraction(c, 100))
        options.append(cents if above is None else cents.filter(lambda x: x > above))
    if not options:
        return st.nothing()
    return st.one_of(*options).map(_raw_number)


def input_values(decl: nodes.InputDecl, rules: RulesLike, *, max_items: int = 4,
                 above: object = None) -> SearchStrategy[object]:
    """Raw values for one declared input (a list input gives a list of raw item mappings).

    ``above``: draw only values that rank above this one (a higher number, ``true`` above
    ``false``, a later one_of member); used to raise an input declared ``increasing``.
    """
    checked = _checked(rules)
    t = decl.type
    if isinstance(t, nodes.ListType):
        record = checked.records[t.item]
        return st.lists(_fields(record.inputs, rules, max_items=max_items, optional_missing=True),
                        max_size=max_items)
    if isinstance(t, nodes.OneOfType):
        members = t.members
        if above is not None:
            members = members[members.index(str(above)) + 1:] if above in members else ()
        return st.sampled_from(members) if members else st.nothing()
    name = t.name
    if name in ("number", "percent", "points"):
        lo, hi = _bounds(decl)
        limit = Fraction(above) if isinstance(above, (int, Decimal, Fraction)) else None
        return _numbers(lo, hi, thresholds(checked.ruleset), above=limit)
    if name == "bool":
        return st.just(True) if above is False else st.nothing() if above is True else st.booleans()
    if name == "text":
        keys = _table_keys(checked.ruleset).get(decl.name)
        if keys is not None:
            return st.sampled_from(sorted(keys)) if keys else st.nothing()
        known = _strings(checked.ruleset)
        free = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-ĐđÂâ", min_size=1, max_size=8)
        return st.sampled_from(known) | free if known else free
    start = checked.ruleset.in_force.start
    return st.dates(start - dt.timedelta(days=366), start + dt.timedelta(days=2 * 366)).map(dt.date.isoformat)


def _fields(decls: tuple[nodes.InputDecl, ...], rules: RulesLike, *, max_items: int,
            optional_missing: bool) -> SearchStrategy[dict[str, object]]:
    required: dict[str, SearchStrategy[object]] = {}
    optional: dict[str, SearchStrategy[object]] = {}
    for decl in decls:
        values = input_values(decl, rules, max_items=max_items)
        if decl.missing == "required" or not optional_missing:
            required[decl.name] = values
        else:
            optional[decl.name] = values
    return st.fixed_dictionaries(required, optional=optional)


def records(rules: RulesLike, *, ids: SearchStrategy[str] | None = None, max_items: int = 4,
            optional_missing: bool = True) -> SearchStrategy[dict[str, object]]:
    """Raw records (as read from JSON) that the rule set accepts.

    Args:
        rules: a loaded rule set (or its plan, or its checked rule set).
        ids: the record ids to draw; by default ``"r1"``.
        max_items: the most items drawn for a list input.
        optional_missing: also leave out optional inputs and inputs with a default.

    Every record drawn passes :func:`kpi_rules.records.coerce_record`; numbers are ``int`` or
    ``Decimal`` (exact), dates ``YYYY-MM-DD`` text.
    """
    checked = _checked(rules)
    if not isinstance(max_items, int) or max_items < 0:
        raise ValueError(f"max_items must be a whole number >= 0, got {max_items!r}")
    if ids is not None and not isinstance(ids, SearchStrategy):
        raise TypeError(f"ids must be a strategy of text, got {type(ids).__name__}")
    inputs = _fields(checked.subject.inputs, rules, max_items=max_items, optional_missing=optional_missing)
    fields: dict[str, SearchStrategy[object]] = {"id": ids if ids is not None else st.just("r1"), "inputs": inputs}
    if checked.subject.relations:
        fields["related"] = related_values(rules, max_items=max_items)
    return st.fixed_dictionaries(fields)


def related_values(rules: RulesLike, *, max_items: int = 4) -> SearchStrategy[dict[str, object]]:
    """Raw ``related`` values for the relations the rated subject declares (see records.py).

    Related totals favour the rule set's own thresholds; a related subject's level is the level
    whose band holds its total (the national rule sets share their levels), and some related
    subjects are not rated (no record, insufficient data).
    """
    checked = _checked(rules)
    rating = checked.ruleset.rating
    levels = rating.levels if rating is not None else ()
    edges = thresholds(rules)

    def level_of(total: Fraction) -> str | None:
        for level in levels:
            if (level.lower is None or total >= level.lower) and (level.upper is None or total < level.upper):
                return level.name
        return None

    def subject(target: str, ids: SearchStrategy[str]) -> SearchStrategy[dict[str, object]]:
        decl = checked.subjects.get(target)
        inputs = _fields(decl.inputs, rules, max_items=max_items, optional_missing=True) if decl else st.just({})
        totals = _numbers(Fraction(0), Fraction(100), edges)

        def build(parts: tuple[str, int | Decimal | Fraction, bool, dict[str, object]]) -> dict[str, object]:
            sid, total, rated, values = parts
            if not rated:
                return {"id": sid, "rated": False}
            return {"id": sid, "total": total, "level": level_of(Fraction(total)), "inputs": values}

        mostly_rated = st.integers(0, 3).map(lambda n: n > 0)
        return st.tuples(ids, totals, mostly_rated, inputs).map(build)

    relations: dict[str, SearchStrategy[object]] = {}
    for relation in checked.subject.relations:
        ids = st.sampled_from([f"{relation.name}-{i}" for i in range(1, max_items + 2)])
        one = subject(relation.target, ids)
        if relation.many:
            relations[relation.name] = st.lists(one, max_size=max_items, unique_by=lambda d: d["id"])
        else:
            relations[relation.name] = st.none() | one
    return st.fixed_dictionaries(relations)


def subject_records(rules: RulesLike, *, max_items: int = 4) -> SearchStrategy[object]:
    """Typed :class:`~kpi_rules.results.SubjectRecord` values (records drawn and coerced)."""
    from kpi_rules.records import coerce_record

    checked = _checked(rules)
    return records(rules, max_items=max_items).map(lambda raw: coerce_record(raw, checked))


# --------------------------------------------------------------------------- random rule sets

_LABEL = nodes.Text("Nhãn", "Label")
_INPUT_NAMES = ("x", "y", "flag", "kind", "note", "day")
_MEMBERS = ("low", "mid", "high")


def _fraction(lo: int, hi: int) -> SearchStrategy[Fraction]:
    return st.integers(lo * 4, hi * 4).map(lambda q: Fraction(q, 4))


@st.composite
def _input_decl(draw: st.DrawFn, name: str, noise: bool) -> nodes.InputDecl:
    kinds = ("number", "points", "percent", "bool", "one_of", "text", "date") + (("list",) if noise else ())
    kind = draw(st.sampled_from(kinds))
    t: nodes.TypeExpr
    default: nodes.Literal_ | None = None
    low = high = None
    if kind == "one_of":
        t = nodes.OneOfType(_MEMBERS)
        default = draw(st.none() | st.sampled_from(_MEMBERS).map(nodes.StringLit))
    elif kind == "list":
        t = nodes.ListType(draw(st.sampled_from(("item", "missing_record"))))
    else:
        t = nodes.ScalarType(kind)  # type: ignore[arg-type]
        if kind in ("number", "points", "percent"):
            low = draw(st.none() | _fraction(-5, 10)) if noise else Fraction(0)
            high = draw(st.none() | _fraction(0, 100)) if noise else draw(st.none() | _fraction(10, 100))
            default = draw(st.none() | _fraction(0, 10).map(nodes.NumberLit))
        elif kind == "bool":
            default = draw(st.none() | st.booleans().map(nodes.BoolLit))
    missing: nodes.Missing = "default" if default is not None else draw(st.sampled_from(("required", "optional")))
    choices: tuple[nodes.Monotone | None, ...] = (None, None, "increasing", "decreasing")
    monotone = draw(st.sampled_from(choices)) if noise or kind not in ("text", "date", "list") else None
    return nodes.InputDecl(name, t, _LABEL, missing, default, low, high, monotone=monotone)


def _read(decl: nodes.InputDecl) -> nodes.Expr:
    """How a well-formed rule set reads an input: optional ones through ``coalesce``."""
    var = nodes.Var(decl.name)
    if decl.missing != "optional":
        return var
    fallback: nodes.Expr = nodes.BoolLit(False) if _kind(decl) == "bool" else nodes.NumberLit(Fraction(0))
    return nodes.Call("coalesce", (var, fallback))


def _kind(decl: nodes.InputDecl) -> str:
    t = decl.type
    if isinstance(t, nodes.ScalarType):
        return "number" if t.name in ("number", "points", "percent") else t.name
    return "one_of" if isinstance(t, nodes.OneOfType) else "list"


def _exprs(numbers: tuple[nodes.Expr, ...], flags: tuple[nodes.Expr, ...], noise: bool,
           want: str = "number") -> SearchStrategy[nodes.Expr]:
    """Expressions over the given readings; well typed unless ``noise``."""
    num_leaves: list[SearchStrategy[nodes.Expr]] = [
        _fraction(0, 100).map(nodes.NumberLit),
        st.integers(0, 100).map(lambda n: nodes.PercentLit(Fraction(n))),
    ]
    if numbers:
        num_leaves.append(st.sampled_from(numbers))
    if noise:
        num_leaves += [st.sampled_from(("x", "missing_name", "flag")).map(nodes.Var),
                       st.sampled_from(_MEMBERS).map(nodes.StringLit), st.booleans().map(nodes.BoolLit),
                       st.just(nodes.InsufficientData()), st.just(nodes.Index(nodes.Var("coef"), nodes.Var("note")))]
    num: SearchStrategy[nodes.Expr] = st.one_of(*num_leaves)

    def grow(inner: SearchStrategy[nodes.Expr]) -> SearchStrategy[nodes.Expr]:
        cond = st.builds(nodes.Binary, st.sampled_from(("<", ">=", "==")), inner, inner)
        if flags:
            cond = cond | st.sampled_from(flags)
        return st.one_of(
            st.builds(nodes.Binary, st.sampled_from(("+", "-", "*")), inner, inner),
            st.builds(nodes.Binary, st.just("/"), inner, _fraction(1, 10).map(nodes.NumberLit)),
            st.builds(lambda a: nodes.Unary("-", a), inner),
            st.builds(nodes.IfElse, cond, inner, inner),
            st.builds(lambda f, a: nodes.Call(f, tuple(a)), st.sampled_from(("min", "max")),
                      st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda a, b, z: nodes.Call("percent", (a, b), (nodes.KeywordArg("if_zero", z),)),
                      inner, inner, st.just(nodes.InsufficientData()) | inner),
            st.builds(lambda body: nodes.Aggregate("sum", "t", nodes.Var("tasks"), None, body),
                      st.just(nodes.Member(nodes.Var("t"), "v"))),
            st.builds(lambda s, th, v, o: nodes.Tiers(s, (nodes.Tier(th, v),), o), inner,
                      _fraction(0, 100).map(nodes.NumberLit), inner, inner),
        )

    numeric = st.recursive(num, grow, max_leaves=5)
    if want == "number":
        return numeric
    boolean = st.builds(nodes.Binary, st.sampled_from(("<", ">=")), numeric, numeric)
    if flags:
        boolean = boolean | st.sampled_from(flags)
    return boolean


@st.composite
def _ruleset(draw: st.DrawFn, max_inputs: int) -> nodes.Ruleset:
    noise = draw(st.booleans())
    names = tuple(draw(st.lists(st.sampled_from(_INPUT_NAMES), min_size=1, max_size=max_inputs, unique=True)))
    inputs = [draw(_input_decl(n, noise)) for n in names]
    inputs.append(nodes.InputDecl("tasks", nodes.ListType("item"), _LABEL))
    item = nodes.RecordDecl("item", _LABEL, (
        nodes.InputDecl("v", nodes.ScalarType("number"), _LABEL, min=Fraction(0), monotone="increasing"),
        nodes.InputDecl("note", nodes.ScalarType("text"), _LABEL, "optional"),
    ))
    table = nodes.TableDecl("coef", nodes.ScalarType("text"), nodes.ScalarType("number"),
                            (nodes.TableRow(nodes.StringLit("a"), nodes.NumberLit(Fraction(2))),), _LABEL)
    numbers: tuple[nodes.Expr, ...] = tuple(_read(d) for d in inputs if _kind(d) == "number")
    flags: tuple[nodes.Expr, ...] = tuple(_read(d) for d in inputs if _kind(d) == "bool")
    flags += tuple(nodes.Binary(">=", nodes.Var(d.name), nodes.StringLit("mid")) for d in inputs
                   if _kind(d) == "one_of" and d.missing != "optional")
    lets: list[nodes.LetDecl] = []
    for i in range(draw(st.integers(0, 3))):
        lets.append(nodes.LetDecl(f"l{i}", draw(_exprs(numbers + tuple(nodes.Var(x.name) for x in lets), flags,
                                                       noise))))
    numbers += tuple(nodes.Var(x.name) for x in lets)
    maxima = draw(st.lists(_fraction(1, 60), min_size=1, max_size=3))
    top = sum(maxima, Fraction(0)) if not noise or draw(st.integers(0, 4)) else draw(_fraction(1, 100))
    children: tuple[nodes.CriteriaItem, ...] = tuple(
        nodes.Criterion(f"c{i}", _LABEL, m, draw(_exprs(numbers, flags, noise))) for i, m in enumerate(maxima))
    if draw(st.booleans()):
        children += (nodes.CriteriaGroup(draw(st.sampled_from(("bonus", "penalty"))), "extra", _LABEL,
                                         draw(_fraction(1, 10)), (nodes.Criterion("e1", _LABEL, Fraction(5),
                                                                                  draw(_exprs(numbers, flags, noise))),)),)
    tree = nodes.CriteriaTree("total", _LABEL, top, children)
    cut_range = _fraction(0, 110) if noise else st.integers(1, int(top * 4) - 1).map(lambda q: Fraction(q, 4)) \
        if top * 4 > 1 else st.just(top / 2)
    cuts = sorted(set(draw(st.lists(cut_range, min_size=1, max_size=3))), reverse=True)
    jitter = st.sampled_from((0, 0, 0, 1, -1)) if noise else st.just(0)
    levels = [nodes.Level("top", _LABEL, cuts[0], None)]
    for i, cut in enumerate(cuts[1:], start=1):
        levels.append(nodes.Level(f"l{i}", _LABEL, cut, cuts[i - 1] + draw(jitter)))
    levels.append(nodes.Level("bottom", _LABEL, None, cuts[-1]))
    if draw(st.booleans()):
        levels[0] = nodes.Level("top", _LABEL, cuts[0], None,
                                (nodes.Condition("c", _LABEL, draw(_exprs(numbers, flags, noise, "bool"))),))
    targets = ("top", "bottom", "nowhere") if noise else ("bottom",)
    disqualifiers = tuple(nodes.Disqualifier(f"d{i}", _LABEL, draw(_exprs(numbers, flags, noise, "bool")),
                                             draw(st.none() | st.sampled_from(targets)))
                          for i in range(draw(st.integers(0, 2))))
    rating = nodes.Rating(tuple(levels), disqualifiers, draw(st.sampled_from(("highest_met", "lowest"))),
                          draw(st.none() | st.just(nodes.OverridePolicy(_LABEL))))
    return nodes.Ruleset(
        id="fuzz.case", title=_LABEL, basis="test", version="1",
        in_force=nodes.Validity(dt.date(2026, 1, 1)), rates="person",
        records=(item,), subjects=(nodes.SubjectDecl("person", _LABEL, tuple(inputs)),),
        tables=(table,), lets=tuple(lets), criteria=tree, rating=rating,
    )


def rulesets(*, max_inputs: int = 4) -> SearchStrategy[nodes.Ruleset]:
    """Small random rule sets (syntax trees), often invalid, to fuzz the checker and compiler.

    They mix well-typed and ill-typed expressions, maxima that do or do not add up, bands with
    gaps and overlaps, unknown names and levels, so that every stage's error paths are reached.
    Checking and compiling one must either succeed or raise ``DiagnosticError``.
    """
    if not isinstance(max_inputs, int) or not 1 <= max_inputs <= len(_INPUT_NAMES):
        raise ValueError(f"max_inputs must be a whole number from 1 to {len(_INPUT_NAMES)}, got {max_inputs!r}")
    return _ruleset(max_inputs)
