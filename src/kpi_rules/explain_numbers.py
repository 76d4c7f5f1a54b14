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


def _written(x: I64, places: int = 0, negative: BoolArr | None = None, tail: bytes = b"") -> Strs:
    """Each ``x ≥ 0`` in decimal (over ``10**places``: with exactly ``places`` decimals), a
    minus before it where ``negative``, ``tail`` after it, as ASCII bytes (a numpy bytes array).

    The digits are computed by integer division into the columns of a byte matrix, the point
    and the tail are columns of it too, leading zeros become spaces and one strip removes them:
    no text is concatenated (numpy's conversion of integers to text, and its concatenation of
    texts, cost several times more; bytes, one per character, because numbers are ASCII)."""
    size = len(x)
    if size == 0:
        return np.empty(0, dtype="S1")
    width = max(len(str(int(x.max()))), places + 1)
    point = 1 if places else 0
    sign = 1 if negative is not None and negative.any() else 0
    body = sign + width + point
    codes = np.empty((size, body + len(tail)), dtype=np.uint8)
    blanks = np.zeros(size, dtype=np.intp) if sign else None  # leading spaces of each row
    stripped = False
    for k in range(width):  # the k-th digit from the right
        col = body - 1 - k - (point if k >= places else 0)
        # A whole digit left of the units digit is a leading zero where nothing is left.
        zero = x == 0 if k > places else None
        x, digit = np.divmod(x, 10)
        codes[:, col] = digit + 48  # "0"
        if zero is not None and zero.any():
            np.copyto(codes[:, col], 32, where=zero)  # " ", stripped below
            stripped = True
            if blanks is not None:
                blanks += zero
    if point:
        codes[:, body - 1 - places] = 46  # "."
    if tail:
        codes[:, body:] = np.frombuffer(tail, dtype=np.uint8)
    if blanks is not None:
        assert negative is not None
        codes[:, 0] = 32
        at = np.flatnonzero(negative)
        codes[at, blanks[at]] = 45  # "-" just before the first digit
        stripped = True
    texts = codes.view(f"S{codes.shape[1]}").ravel()
    return np.strings.lstrip(texts, b" ") if stripped else texts


def _itoa(x: I64) -> Strs:
    """Integers ``x ≥ 0`` as ASCII bytes, as ``str`` writes them."""
    if len(x) == 0 or x.min() < 0:
        return x.astype("S")
    return _written(x)


def _decimal(q: I64, places: int, negative: BoolArr) -> Strs:
    """``±q / 10**places`` written with exactly ``places`` decimals (q ≥ 0), as ASCII bytes."""
    return _written(q, places, negative & (q > 0))


#: Groups of at most this many values are written one by one (the numpy steps cost ~50 µs).
_FEW = 8

#: d = 2^a·5^b divides 10**18 unless a or b > 18, so unless d ≥ 2**19.
_TEN18 = np.int64(10**18)
_TWO19 = 1 << 19


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
        self._shown: dict[bool, tuple[Any, list[Any]]] = {}

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
        """The display texts (a numpy text array)."""
        return _wide(self.display_bytes)

    @property
    def display_bytes(self) -> Strs:
        """The display texts as ASCII bytes (a numpy bytes array)."""
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
            out[i] = self.formats.display(self.fraction(i)).encode()
        return out.astype("S")

    @property
    def rounded(self) -> BoolArr:
        """Whether a formula shows each value rounded (a decimal form longer than
        ``MAX_FORMULA_DECIMALS`` or not terminating: ``ValueFormats.plain``)."""
        places = self.places
        flags: BoolArr = (places < 0) | (places > MAX_FORMULA_DECIMALS)
        return flags

    @property
    def places(self) -> I64:
        """Decimals that write each value exactly (-1: its decimal form does not terminate)."""
        if self._places is None:
            d = self.d
            places = np.full(len(d), -1, dtype=np.int64)
            # Terminating (d = 2^a·5^b) with a, b ≤ 18: d divides 10**18; the places are the
            # least k with d | 10**k.
            at = np.flatnonzero(_TEN18 % d == 0)
            if len(at):
                ds = d[at]
                for k in range(_MAX_PLACES + 1):
                    hit = np.int64(10**k) % ds == 0
                    places[at[hit]] = k
                    at, ds = at[~hit], ds[~hit]
                    if not len(at):
                        break
            # Larger powers of 2 or 5 (d ≥ 2**19): stripped one factor at a time.
            big = np.flatnonzero((places < 0) & (d >= _TWO19))
            if len(big):
                rest = d[big].copy()
                twos = np.zeros(len(rest), dtype=np.int64)
                fives = np.zeros(len(rest), dtype=np.int64)
                for prime, count in ((2, twos), (5, fives)):
                    step = (rest % prime) == 0
                    while step.any():
                        rest[step] //= prime
                        count += step
                        step = (rest % prime) == 0
                places[big] = np.where(rest == 1, np.maximum(twos, fives), -1)
            self._places = places
        return self._places

    @property
    def exact(self) -> Strs:
        """The exact texts (a numpy text array)."""
        return _wide(self.exact_bytes)

    @property
    def exact_bytes(self) -> Strs:
        """The exact texts as ASCII bytes (a numpy bytes array)."""
        if self._exact is None:
            n, d, places = self.n, self.d, self.places
            # (rows, texts) per kind of value, then written into one array of texts.
            pieces: list[tuple[Any, Strs]] = []
            fraction = places < 0
            if fraction.any():
                nf = n[fraction]
                an = np.abs(nf)
                head = _written(an, 0, nf < 0, b"/") if an.min() >= 0 else _concat(
                    np.where(nf < 0, b"-", b""), _itoa(an), b"/")  # |INT64_MIN| does not fit
                pieces.append((fraction, np.strings.add(head, _itoa(d[fraction]))))
            terminating = np.flatnonzero(places >= 0)
            counts = places[terminating]
            for k in np.unique(counts).tolist():
                at = terminating[counts == k]
                if len(at) <= _FEW:  # a few values: one by one costs less than the numpy steps
                    pieces.append((at, np.array([_exact_one(self.fraction(i)).encode() for i in at.tolist()])))
                    continue
                if k <= _MAX_PLACES:
                    scale = np.int64(10**k) // d[at]  # d divides 10**k
                    ns = n[at]
                    safe = np.abs(ns) <= _MAX // scale
                    if safe.any():
                        pieces.append((at[safe], _decimal(np.abs(ns[safe]) * scale[safe], k, ns[safe] < 0)))
                    at = at[~safe]
                if len(at):
                    pieces.append((at, np.array([_exact_one(self.fraction(i)).encode() for i in at.tolist()])))
            if len(pieces) == 1 and len(pieces[0][1]) == len(n):
                out = pieces[0][1]
            else:
                width = max(texts.dtype.itemsize for _, texts in pieces)
                out = np.empty(len(n), dtype=f"S{width}")
                for at, texts in pieces:
                    out[at] = texts
            self._exact = out
        return self._exact

    # ------------------------------------------------------------------ texts built from them

    # Composed in Python over lists where most pieces are shared objects (a hole, `` = value``),
    # with numpy bytes where every text is new (a Number's JSON: measured faster than `%`).

    def base(self, binary: bool = False) -> tuple[list[Any], list[Any]]:
        """The exact and display texts (UTF-8 encoded if ``binary``)."""
        exact, display, _ = self._lists(binary)
        return exact, display

    def _lists(self, binary: bool = False) -> tuple[list[Any], list[Any], list[bool]]:
        """The exact and display texts (UTF-8 encoded if ``binary``) and whether a formula
        shows the value rounded (a decimal form longer than ``MAX_FORMULA_DECIMALS`` or not
        terminating: ``ValueFormats.plain``)."""
        hit = self._text_lists.get(binary)
        if hit is None:
            rounded: list[bool] = self.rounded.tolist()
            # Bytes arrays give bytes objects (trailing NUL padding dropped).
            exact_b, display_b = self.exact_bytes, self.display_bytes
            if binary:
                exact, display = exact_b.tolist(), display_b.tolist()
            else:
                exact, display = _wide(exact_b).tolist(), _wide(display_b).tolist()
            hit = self._text_lists[binary] = (exact, display, rounded)
        return hit

    def split(self, kind: str, wrap: bool = False, binary: bool = False) -> tuple[Any, Any, list[Any]] | None:
        """A ``hole``, ``term`` or ``equals`` text of each value as two parts, each made without copying
        a text: its prefix (the first of the pair ``prefixes`` where the value is shown
        exactly, the second where rounded: ``≈``), which of the pair (``index``: an intp array,
        or None where all values take the same), and the exact or display text of the value
        (the objects :meth:`base` gives, which other slots of a line share). None for a hole
        with ``wrap`` and a negative value shown exactly (parenthesised)."""
        exact, display, rounded = self._lists(binary)
        flags = self.rounded
        if kind == "equals":
            prefixes = _EQUALS[binary][::-1]
        elif kind in ("hole", "term"):  # a term: a hole never parenthesised
            if kind == "hole" and wrap and (self.n < 0).any() and not flags.all():
                return None
            prefixes = (_HOLE[binary][0][:0], _HOLE[binary][0])
        else:
            raise ValueError(kind)
        if flags.all():
            return prefixes[1], None, display
        if not flags.any():
            return prefixes[0], None, exact
        hit = self._shown.get(binary)
        if hit is None:
            hit = self._shown[binary] = (flags.astype(np.intp),
                                         [s if r else e for e, s, r in zip(exact, display, rounded)])
        return prefixes, hit[0], hit[1]

    def number(self, binary: bool = False) -> list[Any]:
        """JSON of a Number (``ValueFormats.number``)."""
        return self._framed(b'{"exact":"', b'"}', binary)

    def number_value(self, binary: bool = False) -> list[Any]:
        """``ValueFormats.number_value``."""
        return self._framed(b'"type":"number","exact":"', b'"', binary)

    def _framed(self, head: bytes, tail: bytes, binary: bool) -> list[Any]:
        """``head`` exact ``","display":"`` display ``tail`` of each value, composed as numpy
        bytes (numbers are ASCII)."""
        add = np.strings.add
        texts = add(add(add(add(head, self.exact_bytes), b'","display":"'), self.display_bytes), tail)
        out: list[Any] = texts.tolist() if binary else _wide(texts).tolist()
        return out

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
_HOLE: dict[bool, tuple[Any, ...]] = {False: ("≈", "(", ")", "-"), True: ("≈".encode(), b"(", b")", b"-")}
_EQUALS: dict[bool, tuple[Any, ...]] = {False: (" ≈ ", " = "), True: (" ≈ ".encode(), b" = ")}


def _wide(texts: Strs) -> Strs:
    """ASCII bytes (numbers are written in ASCII) as a numpy text array: each byte widened to
    a code point (cheaper than numpy's cast, which decodes)."""
    width = texts.dtype.itemsize
    if len(texts) == 0 or width == 0:
        return texts.astype("U")
    codes = np.ascontiguousarray(texts).view(np.uint8).astype(np.uint32)
    return codes.view(f"U{width}")


def _concat(*parts: Any) -> Strs:
    out = parts[0]
    for part in parts[1:]:
        out = np.strings.add(out, part)
    return out  # type: ignore[no-any-return]


def _exact_one(x: Fraction) -> str:
    from kpi_rules.values import format_exact

    return format_exact(x)
