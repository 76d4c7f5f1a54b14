"""Exact numbers: input numbers → :class:`~fractions.Fraction`, exact rounding, display text.

Every number inside the engine is a ``Fraction``. Input numbers are converted through their
decimal text (``0.1`` becomes ``1/10``, never the binary float nearest to it), so no rating can
depend on floating-point noise. Rounding is exact and happens only where a rule set asks for it
(``round(...)``) or for display; thresholds are compared on unrounded values.

>>> to_fraction("2.3") == Fraction(23, 10)
True
>>> format_number(Fraction(2983125, 40000), 2, "half_up")
'74.58'
>>> format_exact(Fraction(1522500, 32000))
'47.578125'
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction

from kpi_rules import nodes
from kpi_rules.nodes import RoundingMode
from kpi_rules.results import Value

__all__ = [
    "ROUNDING_MODES",
    "format_exact",
    "decimal_places",
    "format_number",
    "literal_value",
    "round_fraction",
    "to_fraction",
]

ROUNDING_MODES: tuple[RoundingMode, ...] = ("half_up", "half_even", "down", "up")

# Plain decimal text: optional sign, digits with an optional fraction, optional exponent.
# Deliberately stricter than Fraction(str): no "1/3", no underscores, no "nan"/"inf".
_DECIMAL_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def to_fraction(x: object) -> Fraction:
    """Convert an input number to an exact fraction.

    Accepts ``int``, ``Fraction``, finite ``Decimal``, decimal text (``"2.3"``, ``"-1e-3"``) and
    finite ``float`` (through its shortest ``repr``, so ``0.1`` gives ``1/10``).

    Raises:
        TypeError: for ``bool`` and anything that is not a number or decimal text.
        ValueError: for NaN, infinities and text that is not a plain decimal number.

    >>> to_fraction(0.1)
    Fraction(1, 10)
    >>> to_fraction("47.578125")
    Fraction(3045, 64)
    """
    if isinstance(x, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(x, Fraction):
        return x
    if isinstance(x, int):
        return Fraction(x)
    if isinstance(x, float):
        if not math.isfinite(x):
            raise ValueError(f"{x!r} is not a finite number")
        return Fraction(repr(x))
    if isinstance(x, Decimal):
        if not x.is_finite():
            raise ValueError(f"{x} is not a finite number")
        return Fraction(x)
    if isinstance(x, str):
        text = x.strip()
        if not _DECIMAL_TEXT.fullmatch(text):
            raise ValueError(f"{x!r} is not a decimal number")
        return Fraction(text)
    raise TypeError(f"{type(x).__name__} is not a number")


def round_fraction(x: Fraction, decimals: int, mode: RoundingMode) -> Fraction:
    """Round ``x`` exactly to ``decimals`` decimal places.

    Modes: ``half_up`` (ties away from zero), ``half_even`` (ties to the even digit), ``down``
    (toward zero), ``up`` (away from zero). A negative ``decimals`` rounds to tens, hundreds...

    >>> round_fraction(Fraction("74.575"), 2, "half_up") == Fraction("74.58")
    True
    >>> round_fraction(Fraction("-2.5"), 0, "half_even")
    Fraction(-2, 1)
    """
    scale = Fraction(10) ** decimals
    scaled = x * scale
    negative = scaled < 0
    magnitude = -scaled if negative else scaled
    whole, rest = divmod(magnitude.numerator, magnitude.denominator)
    # rest / denominator is the part after the last kept digit, in [0, 1).
    twice = 2 * rest
    den = magnitude.denominator
    if mode == "down":
        n = whole
    elif mode == "up":
        n = whole + (1 if rest else 0)
    elif mode == "half_up":
        n = whole + (1 if twice >= den else 0)
    elif mode == "half_even":
        if twice > den or (twice == den and whole % 2 == 1):
            n = whole + 1
        else:
            n = whole
    else:
        raise ValueError(f"unknown rounding mode {mode!r}; use one of {', '.join(ROUNDING_MODES)}")
    return Fraction(-n if negative else n) / scale


def format_number(x: Fraction, decimals: int = 2, mode: RoundingMode = "half_up") -> str:
    """Display text with exactly ``decimals`` decimals (never used for rating).

    >>> format_number(Fraction(1, 3), 2, "half_up")
    '0.33'
    >>> format_number(Fraction(-1, 1000), 2, "half_up")
    '0.00'
    """
    if decimals < 0:
        raise ValueError("decimals must be 0 or more")
    rounded = round_fraction(x, decimals, mode)
    scaled = rounded * 10**decimals  # an integer after rounding
    n = scaled.numerator
    sign = "-" if n < 0 else ""
    whole, frac = divmod(abs(n), 10**decimals)
    if decimals == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:0{decimals}d}"


def decimal_places(x: Fraction) -> int | None:
    """How many decimals write ``x`` exactly, or None when its decimal form does not terminate.

    >>> decimal_places(Fraction(3045, 64)), decimal_places(Fraction(5)), decimal_places(Fraction(2, 3))
    (6, 0, None)
    """
    return denominator_places(x.denominator)


def denominator_places(den: int) -> int | None:
    """:func:`decimal_places` of any fraction in lowest terms whose denominator is ``den`` (> 0)."""
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    return max(twos, fives) if den == 1 else None


def format_exact(x: Fraction) -> str:
    """The exact value as text: an integer, a terminating decimal, or ``num/den``.

    >>> format_exact(Fraction(75))
    '75'
    >>> format_exact(Fraction(2983, 40))
    '74.575'
    >>> format_exact(Fraction(2, 3))
    '2/3'
    """
    digits = decimal_places(x)
    if digits is None:
        return f"{x.numerator}/{x.denominator}"
    if digits == 0:
        return str(x.numerator)
    return format_number(x, digits, "down")


def literal_value(lit: nodes.Literal_) -> Value:
    """The value of a literal node: ``25%`` is ``1/4``; other literals are their value."""
    if isinstance(lit, nodes.PercentLit):
        return lit.value / 100
    return lit.value
