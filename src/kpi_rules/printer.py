"""Canonical text: :class:`~kpi_rules.nodes.Ruleset` -> ``.kpi`` text, :data:`~kpi_rules.nodes.Expr` -> text.

Input: frozen nodes (from either form). Output: ``str``. The text re-parses to an equal
ruleset (``parse_ruleset(format_ruleset(r)) == r``) and printing is idempotent. Layout: two-space
indent, one declaration per line, declarations in the order records, subjects, params, tables,
lets, criteria, rating; comments are re-emitted as ``#`` lines before their node. Numbers are
printed as the shortest exact decimal; a number with no finite decimal form (``1/3``) cannot be
written in the language, so printing it raises ``ValueError``.

Example:
    >>> from fractions import Fraction
    >>> from kpi_rules import nodes as n
    >>> format_expr(n.Binary("-", n.Var("a"), n.Binary("-", n.Var("b"), n.NumberLit(Fraction(5, 2)))))
    'a - (b - 2.5)'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial
from fractions import Fraction

from kpi_rules import nodes as n
from kpi_rules.values import decimal_places, format_exact

__all__ = ["format_ruleset", "format_expr", "format_number", "format_string", "format_literal"]

INDENT = "  "

Substitute = Callable[[n.Expr], "str | None"]

# Binding strength of each construct, matching the grammar's layers (higher binds tighter).
_IF, _OR, _AND, _NOT, _COMPARE, _SUM, _PRODUCT, _UNARY, _POSTFIX, _ATOM = range(10)
_BINARY_PREC: dict[str, int] = {
    "or": _OR, "and": _AND,
    "<": _COMPARE, "<=": _COMPARE, ">": _COMPARE, ">=": _COMPARE, "==": _COMPARE, "!=": _COMPARE,
    "+": _SUM, "-": _SUM, "*": _PRODUCT, "/": _PRODUCT,
}


# --------------------------------------------------------------------------- atoms


def format_number(value: Fraction) -> str:
    """The shortest exact decimal text of ``value``.

    Raises:
        ValueError: when ``value`` has no finite decimal form.

    Example:
        >>> format_number(Fraction(5, 2)), format_number(Fraction(-1, 8)), format_number(Fraction(100))
        ('2.5', '-0.125', '100')
    """
    if decimal_places(value) is None:
        raise ValueError(f"{value} has no finite decimal form and cannot be written in a rule file")
    return format_exact(value)


def format_string(value: str) -> str:
    """A double-quoted string literal with ``\\``, ``"`` and new lines escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def format_literal(lit: n.Literal_) -> str:
    """A literal as written in a param value, table row or input default (``-3`` is one literal)."""
    if isinstance(lit, n.NumberLit):
        return format_number(lit.value)
    if isinstance(lit, n.PercentLit):
        return format_number(lit.value) + "%"
    if isinstance(lit, n.StringLit):
        return format_string(lit.value)
    if isinstance(lit, n.BoolLit):
        return "true" if lit.value else "false"
    return _format_date(lit.value)


def _format_date(value: dt.date) -> str:
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


# --------------------------------------------------------------------------- expressions


def format_expr(expr: n.Expr, substitute: Substitute | None = None) -> str:
    """Print an expression with the fewest parentheses that keep its tree.

    ``substitute`` is called on every sub-expression before it is printed; when it returns a
    string, that string is printed instead (for "the formula with the values put in").

    Example:
        >>> from kpi_rules.parser import parse_expression
        >>> from kpi_rules.source import SourceFile
        >>> e = parse_expression(SourceFile("<doc>", "(a+b) *  70%"))
        >>> format_expr(e)
        '(a + b) * 70%'
        >>> format_expr(e, lambda x: "12" if x == n.Var("a") else None)
        '(12 + b) * 70%'
    """
    return _Printer(substitute).expr(expr, _IF)


class _Printer:
    def __init__(self, substitute: Substitute | None) -> None:
        self.substitute = substitute

    def expr(self, e: n.Expr, min_prec: int) -> str:
        if self.substitute is not None:
            replaced = self.substitute(e)
            if replaced is not None:
                # A substituted value is shown as one operand; parenthesise anything that is not
                # obviously atomic so that "a - b" with b = -5 reads "a - (-5)".
                atomic = bool(replaced) and not any(ch.isspace() for ch in replaced) and not replaced.startswith("-")
                return replaced if atomic or min_prec == _IF else f"({replaced})"
        text, prec = self._expr(e)
        return f"({text})" if prec < min_prec else text

    def _expr(self, e: n.Expr) -> tuple[str, int]:
        if isinstance(e, n.NumberLit):
            return format_number(e.value), (_UNARY if e.value < 0 else _ATOM)
        if isinstance(e, n.PercentLit):
            return format_number(e.value) + "%", (_UNARY if e.value < 0 else _ATOM)
        if isinstance(e, (n.StringLit, n.BoolLit, n.DateLit)):
            return format_literal(e), _ATOM
        if isinstance(e, n.InsufficientData):
            return "insufficient_data", _ATOM
        if isinstance(e, n.Var):
            return e.name, _ATOM
        if isinstance(e, n.Member):
            return f"{self.expr(e.obj, _POSTFIX)}.{e.name}", _POSTFIX
        if isinstance(e, n.Index):
            return f"{self.expr(e.obj, _POSTFIX)}[{self.expr(e.key, _IF)}]", _POSTFIX
        if isinstance(e, n.Unary):
            if e.op == "not":
                return f"not {self.expr(e.operand, _NOT)}", _NOT
            return f"-{self.expr(e.operand, _UNARY)}", _UNARY
        if isinstance(e, n.Binary):
            prec = _BINARY_PREC[e.op]
            # Chains nest to the left, so the right operand must bind tighter; comparisons do
            # not chain at all, so both sides must.
            left_min = prec + 1 if prec == _COMPARE else prec
            return f"{self.expr(e.left, left_min)} {e.op} {self.expr(e.right, prec + 1)}", prec
        if isinstance(e, n.IfElse):
            return (f"if {self.expr(e.cond, _IF)} then {self.expr(e.then, _IF)} else {self.expr(e.otherwise, _IF)}", _IF)
        if isinstance(e, n.Call):
            args = [self.expr(a, _IF) for a in e.args]
            args += [f"{k.name}: {self.expr(k.value, _IF)}" for k in e.kwargs]
            return f"{e.func}({', '.join(args)})", _ATOM
        if isinstance(e, n.Aggregate):
            text = f"{e.func}({e.var} in {self.expr(e.source, _IF)}"
            if e.where is not None:
                text += f" where {self.expr(e.where, _IF)}"
            if e.body is not None:
                text += f": {self.expr(e.body, _IF)}"
            return text + ")", _ATOM
        if isinstance(e, n.Tiers):
            steps = "".join(f"from {self.expr(t.threshold, _IF)}: {self.expr(t.value, _IF)}  " for t in e.tiers)
            return f"tiers({self.expr(e.subject, _IF)}) {{ {steps}otherwise {self.expr(e.otherwise, _IF)} }}", _ATOM
        raise TypeError(f"not an expression node: {type(e).__name__}")


# --------------------------------------------------------------------------- declarations


def format_ruleset(ruleset: n.Ruleset) -> str:
    """The canonical ``.kpi`` text of a rule set, ending with a new line.

    Raises:
        ValueError: when a number has no finite decimal form.

    Example:
        >>> from kpi_rules.parser import parse_ruleset
        >>> from kpi_rules.source import SourceFile
        >>> text = 'ruleset a "A" {basis "b" version "1" in_force from 2026-01-01 rates p}'
        >>> print(format_ruleset(parse_ruleset(SourceFile("a.kpi", text))), end="")
        ruleset a "A" {
          basis "b"
          version "1"
          in_force from 2026-01-01
          rates p
          display 2 decimals half_up
        }
    """
    out = _Lines()
    out.comments(ruleset.comments, 0)
    out.add(0, f"ruleset {ruleset.id} {_text(ruleset.title)} {{")
    out.add(1, f"basis {format_string(ruleset.basis)}")
    out.add(1, f"version {format_string(ruleset.version)}")
    out.add(1, f"in_force {_validity(ruleset.in_force)}")
    if ruleset.extends is not None:
        out.add(1, f"extends {ruleset.extends}")
    out.add(1, f"rates {ruleset.rates}")
    out.add(1, f"display {ruleset.display.decimals} decimals {ruleset.display.mode}")
    for removal in ruleset.removals:
        out.comments(removal.comments, 1)
        out.add(1, f"remove {removal.kind} {removal.name}")
    for record in ruleset.records:
        out.blank()
        _block(out, 1, record.comments, f"record {record.name} {_text(record.label)}",
               [partial(_input, i) for i in record.inputs])
    for subject in ruleset.subjects:
        out.blank()
        parts: list[_Part] = [partial(_input, i) for i in subject.inputs]
        parts += [partial(_relation, r) for r in subject.relations]
        _block(out, 1, subject.comments, f"subject {subject.name} {_text(subject.label)}", parts)
    if ruleset.params:
        out.blank()
    for param in ruleset.params:
        out.comments(param.comments, 1)
        out.add(1, f"param {param.name} : {_type(param.type)} = {format_literal(param.value)} {_text(param.label)}"
                + (f" {_validity(param.valid)}" if param.valid else "") + _cite(param.cite))
    for table in ruleset.tables:
        out.blank()
        head = (f"table {table.name} : {_type(table.key_type)} -> {_type(table.value_type)} {_text(table.label)}"
                + (f" {_validity(table.valid)}" if table.valid else "") + _cite(table.cite))
        _block(out, 1, table.comments, head, [partial(_row, r) for r in table.rows])
    if ruleset.lets:
        out.blank()
    for let in ruleset.lets:
        out.comments(let.comments, 1)
        label = f" {_text(let.label)}" if let.label is not None else ""
        out.add(1, f"let {let.name}{label}{_cite(let.cite)} = {format_expr(let.expr)}")
    if ruleset.criteria is not None:
        out.blank()
        tree = ruleset.criteria
        _block(out, 1, tree.comments, f"criteria {tree.name} {_text(tree.label)} max {format_number(tree.max)}{_cite(tree.cite)}",
               [partial(_crit_item, c) for c in tree.children])
    if ruleset.rating is not None:
        out.blank()
        _rating(out, 1, ruleset.rating)
    if ruleset.periods is not None:
        out.blank()
        _periods(out, 1, ruleset.periods)
    for cohort in ruleset.cohorts:
        out.blank()
        _cohort(out, 1, cohort)
    out.add(0, "}")
    return out.text()


class _Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, depth: int, line: str) -> None:
        self.lines.append(INDENT * depth + line)

    def blank(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def comments(self, comments: tuple[str, ...], depth: int) -> None:
        for comment in comments:
            # A comment is one line; a new line inside one (possible from YAML) would end it early.
            for part in comment.split("\n"):
                self.add(depth, f"#{part}".rstrip())

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


_Part = Callable[[_Lines, int], None]


def _block(out: _Lines, depth: int, comments: tuple[str, ...], head: str, parts: list[_Part]) -> None:
    out.comments(comments, depth)
    if not parts:
        out.add(depth, head + " {}")
        return
    out.add(depth, head + " {")
    for part in parts:
        part(out, depth + 1)
    out.add(depth, "}")


def _line(line: str, out: _Lines, depth: int) -> None:
    out.add(depth, line)


def _text(text: n.Text) -> str:
    return format_string(text.vi) + (f" en {format_string(text.en)}" if text.en is not None else "")


def _cite(cite: str | None) -> str:
    return f" cite {format_string(cite)}" if cite is not None else ""


def _validity(valid: n.Validity) -> str:
    return f"from {_format_date(valid.start)}" + (f" until {_format_date(valid.end)}" if valid.end else "")


def _type(t: n.TypeExpr) -> str:
    if isinstance(t, n.ScalarType):
        return t.name
    if isinstance(t, n.OneOfType):
        return f"one_of({', '.join(t.members)})"
    return f"list of {t.item}"


def _input(decl: n.InputDecl, out: _Lines, depth: int) -> None:
    out.comments(decl.comments, depth)
    opts = ""
    if decl.min is not None:
        opts += f" min {format_number(decl.min)}"
    if decl.max is not None:
        opts += f" max {format_number(decl.max)}"
    if decl.missing == "default" and decl.default is not None:
        opts += f" default {format_literal(decl.default)}"
    elif decl.missing == "optional":
        opts += " optional"
    if decl.monotone is not None:
        opts += f" {decl.monotone}"
    out.add(depth, f"input {decl.name} : {_type(decl.type)}{opts} {_text(decl.label)}{_cite(decl.cite)}")


def _relation(decl: n.RelationDecl, out: _Lines, depth: int) -> None:
    out.comments(decl.comments, depth)
    target = f"list of {decl.target}" if decl.many else decl.target
    out.add(depth, f"relation {decl.name} : {target} {_text(decl.label)}")


def _row(row: n.TableRow, out: _Lines, depth: int) -> None:
    out.comments(row.comments, depth)
    out.add(depth, f"{format_literal(row.key)} = {format_literal(row.value)}")


def _crit_item(item: n.CriteriaItem, out: _Lines, depth: int) -> None:
    if isinstance(item, n.Criterion):
        out.comments(item.comments, depth)
        out.add(depth, f"criterion {item.name} {_text(item.label)} max {format_number(item.max)}{_cite(item.cite)}"
                f" = {format_expr(item.expr)}")
        return
    head = f"{item.kind} {item.name} {_text(item.label)} max {format_number(item.max)}{_cite(item.cite)}"
    _block(out, depth, item.comments, head, [partial(_crit_item, c) for c in item.children])


def _rating(out: _Lines, depth: int, rating: n.Rating) -> None:
    parts: list[_Part] = [partial(_level, lv) for lv in rating.levels]
    parts += [partial(_disqualifier, q) for q in rating.disqualifiers]
    parts.append(partial(_line, f"fallthrough {rating.fallthrough}"))
    if rating.override is not None:
        policy = rating.override
        parts.append(partial(_line, f"allow override {_text(policy.label)}{_cite(policy.cite)}"))
    head = "rating" + _cite(rating.cite)
    _block(out, depth, rating.comments, head, parts)


def _level(level: n.Level, out: _Lines, depth: int) -> None:
    if level.lower is not None and level.upper is not None:
        band = f"from {format_number(level.lower)} below {format_number(level.upper)}"
    elif level.lower is not None:
        band = f"from {format_number(level.lower)}"
    elif level.upper is not None:
        band = f"below {format_number(level.upper)}"
    else:
        # The language has no band for "every score"; `from 0` is the closest and the validator
        # checks bands anyway.
        band = "from 0"
    head = f"level {level.name} {_text(level.label)} {band}{_cite(level.cite)}"
    if not level.conditions:
        out.comments(level.comments, depth)
        out.add(depth, head)
        return
    _block(out, depth, level.comments, head, [partial(_condition, c) for c in level.conditions])


def _condition(cond: n.Condition, out: _Lines, depth: int) -> None:
    out.comments(cond.comments, depth)
    out.add(depth, f"require {cond.name} {_text(cond.label)}{_cite(cond.cite)} = {format_expr(cond.expr)}")


def _disqualifier(q: n.Disqualifier, out: _Lines, depth: int) -> None:
    out.comments(q.comments, depth)
    target = f" to {q.target}" if q.target is not None else ""
    out.add(depth, f"disqualify {q.name} {_text(q.label)}{_cite(q.cite)} when {format_expr(q.when)}{target}")


def _periods(out: _Lines, depth: int, decl: n.PeriodsDecl) -> None:
    parts: list[_Part] = [partial(_line, f"monitor {decl.monitor}")]
    if decl.combine == "rating_count" or decl.rules or decl.otherwise is not None:
        rules: list[_Part] = [partial(_count_rule, r) for r in decl.rules]
        if decl.otherwise is not None:
            rules.append(partial(_line, f"otherwise {decl.otherwise}"))
        parts.append(partial(_block, comments=(), head=f"combine {decl.combine}", parts=rules))
    else:
        parts.append(partial(_line, f"combine {decl.combine}"))
    _block(out, depth, decl.comments, "periods" + _cite(decl.cite), parts)


def _count_rule(rule: n.CountRule, out: _Lines, depth: int) -> None:
    out.comments(rule.comments, depth)
    out.add(depth, f"level {rule.level} when {format_expr(rule.when)}")


def _cohort(out: _Lines, depth: int, decl: n.CohortDecl) -> None:
    limit = (f"limit {decl.level} to {format_number(decl.percent)}% of {decl.of} per {', '.join(decl.groups)}"
             + (" per_period" if decl.per_period else ""))
    parts: list[_Part] = [partial(_line, limit)]
    if decl.exception_percent is not None and decl.exception_flag is not None:
        parts.append(partial(_line, f"exception {format_number(decl.exception_percent)}% when {decl.exception_flag}"))
    order = ", ".join(f"{k.name} {k.direction}" for k in decl.order)
    parts.append(partial(_line, f"demote to {decl.demote_to} by {order}"))
    _block(out, depth, decl.comments, f"cohort {decl.name} {_text(decl.label)}{_cite(decl.cite)}", parts)
