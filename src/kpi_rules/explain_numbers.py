"""The texts explanations show for many exact numbers at once, with integer arithmetic in numpy.

:class:`NumberTexts` takes distinct rationals ``n / d`` as int64 arrays and gives, for all of
them at once, the ``exact`` text (an integer, a terminating decimal, or ``n/d``) and the
``display`` text (``decimals`` places under the rule set's rounding mode) that
:func:`kpi_rules.values.format_exact` and :func:`kpi_rules.values.format_number` give, and the
texts built from them (a Number's JSON, a value put into a formula, `` = value``, a total in a
sentence). The rounding is done on integers exactly as :func:`kpi_rules.values.round_fraction`
does it on fractions (quotient and remainder of ``|n| · 10^decimals`` by ``d``; the remainder
compared with what is left of ``d``, so nothing doubles past int64). Values whose products
would leave int64 are formatted one by one through :class:`~kpi_rules.explain_formulas.ValueFormats`.

Used by :mod:`kpi_rules.explain_columns`.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from kpi_rules.exactcols import I64, BoolArr
from kpi_rules.explain_formulas import MAX_FORMULA_DECIMALS, ValueFormats

__all__ = ["NumberTexts"]

_MAX = np.iinfo(np.int64).max
#: Up to 10**18 fits in int64.
_MAX_PLACES = 18

Strs = npt.NDArray[Any]


def _fixed(x: I64, width: int) -> Strs:
    """``0 ≤ x < 10**width`` as exactly ``width`` digits (leading zeros kept): the digits are
    computed by integer division and the code points viewed as text (numpy's own conversion
    of integers to text is several times slower)."""
    codes = np.empty((len(x), width), dtype=np.uint32)
    for j in range(width - 1, -1, -1):
        x, digit = np.divmod(x, 10)
        codes[:, j] = digit
    codes += 48  # "0"
    return codes.view(f"U{width}").ravel()


def _itoa(x: I64) -> Strs:
    """Integers ``x ≥ 0`` as text, as ``str`` writes them."""
    if len(x) == 0 or x.min() < 0:
        return x.astype(str)
    width = len(str(int(x.max())))
    digits = _fixed(x, width)
    if width == 1:
        return digits
    return np.where(x == 0, "0", np.strings.lstrip(digits, "0"))


def _decimal(q: I64, places: int, negative: BoolArr) -> Strs:
    """``±q / 10**places`` written with exactly ``places`` decimals (q ≥ 0)."""
    sign = np.where(negative & (q > 0), "-", "")
    if places == 0:
        return np.strings.add(sign, _itoa(q))
    p = np.int64(10**places)
    whole, frac = np.divmod(q, p)
    return _concat(sign, _itoa(whole), ".", _fixed(frac, places))


class NumberTexts:
    """Texts of distinct exact values ``n[i] / d[i]`` (``d > 0``), computed together."""

    def __init__(self, n: I64, d: I64, formats: ValueFormats) -> None:
        g = np.gcd(n, d)
        g[g == 0] = 1
        self.n, self.d = n // g, d // g
        self.formats = formats
        self._exact: Strs | None = None
        self._display: Strs | None = None
        self._text_lists: dict[bool, tuple[list[Any], list[Any], list[bool]]] = {}
        self._memo: dict[tuple[str, bool, bool], list[Any]] = {}
        self._places: I64 | None = None

    def texts(self, kind: str, wrap: bool = False, binary: bool = False) -> list[Any]:
        """The texts of one kind (``number``, ``number_value``, ``hole``, ``term``, ``equals``,
        ``total``), made once: columns holding the same values share this object. ``binary``:
        the texts UTF-8 encoded (made as bytes from the encoded base texts, not encoded one by one)."""
        key = (kind, wrap, binary)
        hit = self._memo.get(key)
        if hit is None:
            hit = self._memo[key] = self.hole(wrap, binary) if kind == "hole" else getattr(self, kind)(binary)
        return hit

    def fraction(self, i: int) -> Fraction:
        return Fraction(int(self.n[i]), int(self.d[i]))

    # ------------------------------------------------------------------ the two base texts

    @property
    def display(self) -> Strs:
        if self._display is None:
            self._display = self._round(self.formats.decimals, self.formats.mode)
        return self._display

    def _rounded(self, decimals: int, mode: str) -> tuple[I64, BoolArr]:
        """Each value rounded to ``decimals`` places as a signed count of ``10**-decimals``, and
        the rows where that was done in int64 (the others are left 0)."""
        n, d = self.n, self.d
        p = 10**decimals
        if decimals > _MAX_PLACES:
            return np.zeros(len(n), dtype=np.int64), np.zeros(len(n), dtype=bool)
        safe = (n > -(_MAX // p)) & (n < _MAX // p)
        ns, ds = np.where(safe, n, 0), np.where(safe, d, 1)
        whole, rest = np.divmod(np.abs(ns) * np.int64(p), ds)
        left = ds - rest  # rest ≥ left ⇔ 2·rest ≥ d, without doubling
        if mode == "down":
            q = whole
        elif mode == "up":
            q = whole + (rest > 0)
        elif mode == "half_up":
            q = whole + (rest >= left)
        elif mode == "half_even":
            q = whole + ((rest > left) | ((rest == left) & (whole % 2 == 1)))
        else:
            raise ValueError(f"unknown rounding mode {mode!r}")
        q = q.astype(np.int64)
        return np.where(ns < 0, -q, q), safe

    def _round(self, decimals: int, mode: str) -> Strs:
        q, safe = self._rounded(decimals, mode)
        if safe.all():
            return _decimal(np.abs(q), decimals, q < 0)
        out = np.empty(len(q), dtype=object)
        if safe.any():
            qs = q[safe]
            out[safe] = _decimal(np.abs(qs), decimals, qs < 0).astype(object)
        for i in np.flatnonzero(~safe).tolist():
            out[i] = self.formats.display(self.fraction(i))
        return out.astype(str)

    @property
    def places(self) -> I64:
        """Decimals that write each value exactly (-1: its decimal form does not terminate)."""
        if self._places is None:
            rest = self.d.copy()
            twos = np.zeros(len(rest), dtype=np.int64)
            fives = np.zeros(len(rest), dtype=np.int64)
            for prime, count in ((2, twos), (5, fives)):
                step = (rest % prime) == 0
                while step.any():
                    rest[step] //= prime
                    count += step
                    step = (rest % prime) == 0
            self._places = np.where(rest == 1, np.maximum(twos, fives), -1)
        return self._places

    @property
    def exact(self) -> Strs:
        if self._exact is None:
            n, d, places = self.n, self.d, self.places
            # (rows, texts) per kind of value, then written into one array of texts.
            pieces: list[tuple[Any, Strs]] = []
            fraction = places < 0
            if fraction.any():
                nf = n[fraction]
                pieces.append((fraction, _concat(np.where(nf < 0, "-", ""), _itoa(np.abs(nf)), "/",
                                                 _itoa(d[fraction]))))
            for k in np.unique(places[places >= 0]).tolist():
                at = np.flatnonzero(places == k)
                if k <= _MAX_PLACES:
                    scale = np.int64(10**k) // d[at]  # d divides 10**k
                    ns = n[at]
                    safe = np.abs(ns) <= _MAX // scale
                    if safe.any():
                        pieces.append((at[safe], _decimal(np.abs(ns[safe]) * scale[safe], k, ns[safe] < 0)))
                    at = at[~safe]
                if len(at):
                    pieces.append((at, np.array([_exact_one(self.fraction(i)) for i in at.tolist()])))
            if len(pieces) == 1 and len(pieces[0][1]) == len(n):
                out = pieces[0][1]
            else:
                width = max(texts.dtype.itemsize // 4 for _, texts in pieces)
                out = np.empty(len(n), dtype=f"U{width}")
                for at, texts in pieces:
                    out[at] = texts
            self._exact = out
        return self._exact

    # ------------------------------------------------------------------ texts built from them

    # Composed in Python over lists: numpy's fixed-width texts grow with every piece added, and
    # its text operations cost more per value than Python's (measured).

    def base(self, binary: bool = False) -> tuple[list[Any], list[Any]]:
        """The exact and display texts (UTF-8 encoded if ``binary``)."""
        exact, display, _ = self._lists(binary)
        return exact, display

    def unrounded(self, binary: bool = False) -> list[Any] | None:
        """The exact texts, if a formula shows every value exactly (none rounded), else None."""
        exact, _, rounded = self._lists(binary)
        return None if any(rounded) else exact

    def _lists(self, binary: bool = False) -> tuple[list[Any], list[Any], list[bool]]:
        """The exact and display texts (UTF-8 encoded if ``binary``) and whether a formula
        shows the value rounded (a decimal form longer than ``MAX_FORMULA_DECIMALS`` or not
        terminating: ``ValueFormats.plain``)."""
        hit = self._text_lists.get(binary)
        if hit is None:
            places = self.places
            rounded: list[bool] = ((places < 0) | (places > MAX_FORMULA_DECIMALS)).tolist()
            if binary:
                exact, display = _utf8(self.exact), _utf8(self.display)
            else:
                exact, display = self.exact.tolist(), self.display.tolist()
            hit = self._text_lists[binary] = (exact, display, rounded)
        return hit

    def number(self, binary: bool = False) -> list[Any]:
        """JSON of a Number (``ValueFormats.number``)."""
        exact, display, _ = self._lists(binary)
        fmt = _NUMBER[binary]
        return [fmt % pair for pair in zip(exact, display)]

    def number_value(self, binary: bool = False) -> list[Any]:
        """``ValueFormats.number_value``."""
        exact, display, _ = self._lists(binary)
        fmt = _NUMBER_VALUE[binary]
        return [fmt % pair for pair in zip(exact, display)]

    def hole(self, wrap: bool, binary: bool = False) -> list[Any]:
        """The text of a hole of a formula (parenthesised when ``wrap`` and not one operand:
        a negative value not rounded; ``≈-1.50`` does not start with a minus)."""
        exact, display, rounded = self._lists(binary)
        approx, open_, close, minus = _HOLE[binary]
        if not any(rounded) and (not wrap or not (self.n < 0).any()):  # n < 0: exact starts with -
            return exact  # every value shown as it is (shared: texts are never changed in place)
        if wrap:
            return [approx + s if r else (open_ + e + close if e[:1] == minus else e)
                    for e, s, r in zip(exact, display, rounded)]
        return [approx + s if r else e for e, s, r in zip(exact, display, rounded)]

    def term(self, binary: bool = False) -> list[Any]:
        """A child's points in a group's formula (never parenthesised)."""
        return self.texts("hole", False, binary)

    def equals(self, binary: bool = False) -> list[Any]:
        exact, display, rounded = self._lists(binary)
        about, equal = _EQUALS[binary]
        return [about + s if r else equal + e for e, s, r in zip(exact, display, rounded)]

    def total(self, binary: bool = False) -> list[Any]:
        """The total in a reason sentence (``ValueFormats.total_text``): the display text unless
        rounding crosses a band boundary (those values go through ``ValueFormats``)."""
        formats = self.formats
        display = self._lists(binary)[1]
        if not formats.bounds:
            return display
        q, safe = self._rounded(formats.decimals, formats.mode)
        p = 10**formats.decimals
        n, d = self.n, self.d
        for b in formats.bounds:
            bn, bd = b.numerator, b.denominator
            if abs(bn) * p > _MAX or bd > _MAX:
                safe[:] = False
                break
            limit = _MAX // max(abs(bn) * p, bd, 1)
            safe &= (np.abs(n) <= limit) & (d <= limit) & (np.abs(q) <= limit)
            nq, dq = np.where(safe, n, 0), np.where(safe, d, 1)
            qq = np.where(safe, q, 0)
            # Rounding must not move the total across the boundary: n/d < b ⇔ q/p < b.
            safe &= (nq * bd < bn * dq) == (qq * bd < bn * p)
        out = list(display)
        for i in np.flatnonzero(~safe).tolist():
            text = formats.total_text(self.fraction(i))
            out[i] = text.encode() if binary else text
        return out


#: Constants of the texts built from the base texts, as text (False) and as UTF-8 (True).
_NUMBER: dict[bool, Any] = {False: '{"exact":"%s","display":"%s"}', True: b'{"exact":"%s","display":"%s"}'}
_NUMBER_VALUE: dict[bool, Any] = {False: '"type":"number","exact":"%s","display":"%s"',
                                  True: b'"type":"number","exact":"%s","display":"%s"'}
_HOLE: dict[bool, tuple[Any, ...]] = {False: ("≈", "(", ")", "-"), True: ("≈".encode(), b"(", b")", b"-")}
_EQUALS: dict[bool, tuple[Any, ...]] = {False: (" ≈ ", " = "), True: (" ≈ ".encode(), b" = ")}


def _utf8(texts: Strs) -> list[bytes]:
    """Texts of a numpy text array UTF-8 encoded: ASCII texts (numbers are) by narrowing their
    code points to bytes in one step, the others one by one."""
    size = len(texts)
    width = texts.dtype.itemsize // 4
    if size == 0 or width == 0 or texts.dtype.kind != "U":
        return [str(t).encode() for t in texts.tolist()]
    codes = np.ascontiguousarray(texts).view(np.uint32)
    if int(codes.max()) >= 128:
        return [t.encode() for t in texts.tolist()]
    out: list[bytes] = codes.astype(np.uint8).view(f"S{width}").tolist()
    return out


def _concat(*parts: Any) -> Strs:
    out = parts[0]
    for part in parts[1:]:
        out = np.strings.add(out, part)
    return out  # type: ignore[no-any-return]


def _exact_one(x: Fraction) -> str:
    from kpi_rules.values import format_exact

    return format_exact(x)
