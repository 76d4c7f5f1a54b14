"""Values in explanations: number texts and formulas with their values put in.

:class:`ValueFormats` turns exact values into the texts an explanation shows (``exact`` and
``display`` of a number, a value put into a formula, `` = value`` after it, a total in a
sentence), through caches keyed by the exact value. :func:`compile_template` prints a formula
once with markers where values may go and splits the text there, so that filling it for a
record is joining fragments; what it gives is what :func:`~kpi_rules.printer.format_expr` prints
with the explainer's substitution (names by their values, aggregates, lookups and field reads
by their traced values, a value that is not one operand in parentheses).

Used by :mod:`kpi_rules.explain_plan` (explanation skeletons).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from kpi_rules import nodes
from kpi_rules.printer import format_expr
from kpi_rules.results import Value
from kpi_rules.values import decimal_places, denominator_places

__all__ = [
    "CACHE_LIMIT", "MAX_FORMULA_DECIMALS", "MISSING", "Hole", "Template", "ValueFormats", "compile_template",
    "exact_text", "fixed_text",
]

#: A terminating decimal with more places than this is shown rounded (with ``≈``) in formulas.
MAX_FORMULA_DECIMALS = 10
#: Entries kept in each cache of formatted values before it is emptied (memory stays bounded).
CACHE_LIMIT = 100_000

#: No value known (a hole then prints its own text).
MISSING: Any = object()


# --------------------------------------------------------------------------- numbers


class ValueFormats:
    """Texts of values under one ``display`` setting, cached by exact value."""

    __slots__ = ("decimals", "mode", "bounds", "_number", "_plain", "_total", "_value")

    def __init__(self, display: nodes.Display, bounds: tuple[Fraction, ...]) -> None:
        self.decimals, self.mode = display.decimals, display.mode
        #: Band boundaries: a total in a sentence is never rounded across one.
        self.bounds = bounds
        self._number: dict[tuple[int, int], str] = {}
        self._plain: dict[object, tuple[str, str, bool] | None] = {}
        self._total: dict[tuple[int, int], str] = {}
        self._value: dict[tuple[int, int], str] = {}

    def display(self, x: Fraction) -> str:
        return fixed_text(x.numerator, x.denominator, self.decimals, self.mode)

    def number(self, x: Fraction) -> str:
        """JSON of a :class:`~kpi_rules.models.Number` (digits only: nothing to escape)."""
        key = (x.numerator, x.denominator)
        hit = self._number.get(key)
        if hit is None:
            if len(self._number) > CACHE_LIMIT:
                self._number.clear()
            n, d = key
            hit = self._number[key] = (f'{{"exact":"{exact_text(n, d)}","display":"'
                                       f'{fixed_text(n, d, self.decimals, self.mode)}"}}')
        return hit

    def number_value(self, x: Fraction) -> str:
        """``"type":"number","exact":…,"display":…`` of a let's value."""
        key = (x.numerator, x.denominator)
        hit = self._value.get(key)
        if hit is None:
            if len(self._value) > CACHE_LIMIT:
                self._value.clear()
            n, d = key
            hit = self._value[key] = (f'"type":"number","exact":"{exact_text(n, d)}","display":"'
                                      f'{fixed_text(n, d, self.decimals, self.mode)}"')
        return hit

    def plain(self, value: object) -> tuple[str, str, bool] | None:
        """A value put into a formula: (its text, `` = text`` or `` ≈ text``, atomic); None: not shown."""
        cls = value.__class__
        if cls is Fraction:
            key: object = (value.numerator, value.denominator)  # type: ignore[attr-defined]
        elif cls is bool or cls is str:
            key = (cls, value)
        elif isinstance(value, Fraction):
            key = (value.numerator, value.denominator)
        elif isinstance(value, (bool, str, dt.date)):
            key = (value.__class__, value)
        else:
            return None
        hit = self._plain.get(key, MISSING)
        if hit is MISSING:
            if len(self._plain) > CACHE_LIMIT:
                self._plain.clear()
            hit = self._plain[key] = self._plain_text(value)
        return hit  # type: ignore[no-any-return]

    def _plain_text(self, value: object) -> tuple[str, str, bool] | None:
        if value.__class__ is Fraction:
            # A number: no space in its text, so one operand unless it starts with a minus.
            n, d = value.numerator, value.denominator
            places = denominator_places(d)
            if places is not None and places <= MAX_FORMULA_DECIMALS:
                text = exact_text(n, d)
                return text, " = " + text, not text.startswith("-")
            text = fixed_text(n, d, self.decimals, self.mode)
            return "≈" + text, " ≈ " + text, True
        if isinstance(value, bool):
            text, rounded = ("true" if value else "false"), False
        elif isinstance(value, Fraction):
            places = decimal_places(value)
            if places is not None and places <= MAX_FORMULA_DECIMALS:
                text, rounded = exact_text(value.numerator, value.denominator), False
            else:
                text, rounded = self.display(value), True
        elif isinstance(value, str):
            text, rounded = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"', False
        elif isinstance(value, dt.date):
            text, rounded = value.isoformat(), False
        else:
            return None
        shown = ("≈" if rounded else "") + text
        # As the printer decides: a value with a space or a leading minus is not one operand.
        atomic = bool(shown) and not any(ch.isspace() for ch in shown) and not shown.startswith("-")
        return shown, (" ≈ " if rounded else " = ") + text, atomic

    def equals(self, value: Value) -> str:
        plain = self.plain(value)
        return "" if plain is None else plain[1]

    def total_text(self, total: Fraction) -> str:
        """The total for a sentence: displayed, with more decimals if rounding would cross a band
        boundary (89.996 must not read as 90.00 next to "below 90")."""
        key = (total.numerator, total.denominator)
        hit = self._total.get(key)
        if hit is None:
            if len(self._total) > CACHE_LIMIT:
                self._total.clear()
            hit = self._total[key] = self._total_text(total)
        return hit

    def _total_text(self, total: Fraction) -> str:
        n, d = total.numerator, total.denominator
        # (total < b) for each bound b = bn/bd, by cross-multiplying (denominators are positive).
        bounds = [(b.numerator, b.denominator) for b in self.bounds]
        below = [n * bd < bn * d for bn, bd in bounds]
        for decimals in range(self.decimals, self.decimals + 13):
            scaled = _rounded(n, d, decimals, self.mode)
            scale: int = 10**decimals
            if all((scaled * bd < bn * scale) == side for (bn, bd), side in zip(bounds, below)):
                return _digits(scaled, decimals)
        return exact_text(n, d)




def _rounded(n: int, d: int, decimals: int, mode: str) -> int:
    """``n/d`` times ``10**decimals`` rounded to an integer as :func:`~kpi_rules.values.round_fraction`
    rounds (``d > 0``), with integers only."""
    negative = n < 0
    scale: int = 10**decimals
    whole, rest = divmod((-n if negative else n) * scale, d)
    if mode == "half_up":
        whole += 2 * rest >= d
    elif mode == "down":
        pass
    elif mode == "up":
        whole += rest > 0
    elif mode == "half_even":
        twice = 2 * rest
        whole += twice > d or (twice == d and whole % 2 == 1)
    else:
        raise ValueError(f"unknown rounding mode {mode!r}")
    return -whole if negative else whole


def _digits(scaled: int, decimals: int) -> str:
    """``scaled / 10**decimals`` written with exactly ``decimals`` decimals (no ``-0``)."""
    sign = "-" if scaled < 0 else ""
    scale: int = 10**decimals
    whole, frac = divmod(-scaled if scaled < 0 else scaled, scale)
    if decimals == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:0{decimals}d}"


def fixed_text(n: int, d: int, decimals: int, mode: str) -> str:
    """:func:`~kpi_rules.values.format_number` of ``n/d`` (``d > 0``), with integers only."""
    return _digits(_rounded(n, d, decimals, mode), decimals)


def exact_text(n: int, d: int) -> str:
    """:func:`~kpi_rules.values.format_exact` of ``n/d`` (in lowest terms, ``d > 0``), with integers only."""
    if d == 1:
        return str(n)
    places = denominator_places(d)
    if places is None:
        return f"{n}/{d}"
    return _digits(n * 10**places // d if n >= 0 else -(-n * 10**places // d), places)


# --------------------------------------------------------------------------- formulas with values


@dataclass(frozen=True, slots=True)
class Hole:
    """A sub-expression a value may replace: a name (``let``, ``criterion``, ``input``,
    ``param``) or a traced node (aggregate, table lookup, field read)."""

    node_id: int
    kind: str
    name: str
    #: Parenthesise a value that is not one operand (``a - (-5)``).
    wrap: bool
    #: What is printed when no value is known (its own holes inside).
    fallback: Template


@dataclass(frozen=True, slots=True)
class Template:
    """A formula as text fragments and holes, printed as :func:`~kpi_rules.printer.format_expr`
    prints it with the explainer's substitution."""

    parts: tuple[str | Hole, ...]
    #: The text when there is no hole (nothing to fill).
    static: str | None = None


_MARK = re.compile("\x00(\\d+)\x01")


def compile_template(root: nodes.Expr, kinds: Mapping[str, str]) -> Template:
    """Print ``root`` once with markers where values may go, and split the text there.

    The printer is asked twice: with one-word markers (never parenthesised) and with markers
    holding a space (parenthesised where a non-atomic value would be); comparing the two gives
    each hole's ``wrap``. The root itself is never replaced (its value follows ``=``).
    """

    def is_hole(node: nodes.Expr) -> bool:
        if node is root:
            return False
        if isinstance(node, nodes.Var):
            return kinds.get(node.name) in ("let", "criterion", "input", "param")
        return isinstance(node, (nodes.Aggregate, nodes.Index, nodes.Member))

    found: list[nodes.Expr] = []

    def word(node: nodes.Expr) -> str | None:
        if not is_hole(node):
            return None
        found.append(node)
        return f"\x00{len(found) - 1}\x01"

    count = [0]

    def spaced(node: nodes.Expr) -> str | None:
        if not is_hole(node):
            return None
        count[0] += 1
        return f"\x00{count[0] - 1} \x01"

    plain = format_expr(root, word)
    wrapped = format_expr(root, spaced)
    pieces = _MARK.split(plain)
    parts: list[str | Hole] = []
    pos = 0
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            if piece:
                parts.append(piece)
            pos += len(piece)
            continue
        node = found[int(piece)]
        marker = f"\x00{piece} \x01"
        wrap = wrapped.startswith("(" + marker + ")", pos)
        pos += len(marker) + (2 if wrap else 0)
        if isinstance(node, nodes.Var):
            kind, name = kinds[node.name], node.name
        else:
            kind, name = "traced", ""
        parts.append(Hole(id(node), kind, name, wrap, compile_template(node, kinds)))
    texts = [p for p in parts if isinstance(p, str)]
    return Template(tuple(parts), "".join(texts) if len(texts) == len(parts) else None)
