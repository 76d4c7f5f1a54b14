"""Exact rationals in int64 columns: the values of the columnar program and their arithmetic.

A number column is a :class:`Num`: numerators and denominators as ``int64`` (either may be a
Python ``int`` shared by the whole column), the value of row ``i`` being ``n[i] / d[i]`` with
``d > 0``. Every stored magnitude stays at most ``LIMIT = 2**62``, so a sum of two stays in
int64. :class:`Arith` does the operations and proves, before each product or sum, that it
cannot leave ``LIMIT``: from intervals ``[lo, hi]`` it keeps for every array (exact Python
ints: from the declared ``min``/``max`` of inputs, constants, and the operations themselves;
from one ``min``/``max`` pass only when nothing is known). When the proof fails, the rows whose
float *estimate* nears the limit are marked *bad* (they are then evaluated record by record);
floats never decide a value.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, TypeAlias, Union

import numpy as np
import numpy.typing as npt

__all__ = [
    "COMPARE_OPS", "INT64_MAX", "LIMIT", "RISK", "Arith", "BoolArr", "CValue", "Cat", "Columns", "I64", "IntLike",
    "ItemTable", "Num", "Unsupported", "and_mask", "decide_range", "full_column",
]

I64 = npt.NDArray[np.int64]
BoolArr = npt.NDArray[np.bool_]
IntLike: TypeAlias = Union[int, I64]

#: Largest magnitude kept in an int64 column (sums of two such values still fit in int64).
LIMIT = 1 << 62
RISK = float(1 << 61)  # float estimates above this are treated as overflowing (margin 2x)
INT64_MAX = np.iinfo(np.int64).max


class Unsupported(Exception):
    """The plan (or this input) uses something the columnar program does not evaluate."""


@dataclass(slots=True)
class Num:
    """Exact rationals ``n / d`` (``d > 0``); ``n`` and ``d`` are int64 arrays or Python ints.

    ``lo``/``hi``, when given, bound every numerator of the column (``lo <= n <= hi``): input
    conversion sets them from the declared ``min``/``max``, so no pass over the data is needed
    to prove that a product or a sum stays within ``LIMIT``.
    """

    n: IntLike
    d: IntLike
    lo: int | None = None
    hi: int | None = None


@dataclass(slots=True)
class Cat:
    """Text or ``one_of`` values as codes into ``labels``."""

    codes: I64
    labels: tuple[str, ...]


CValue: TypeAlias = Union[Num, Cat, BoolArr, str]


@dataclass(slots=True)
class ItemTable:
    """Items of a list input: ``row[k]`` is the index of the row owning item ``k``.

    ``position`` is the index of the first item in the owner's list order (items of one row
    must appear in list order; rows may interleave). ``fields`` are columns of length ``size``.
    """

    row: I64
    fields: dict[str, CValue]
    size: int
    position: int = 0


@dataclass(slots=True)
class Columns:
    """The scalar inputs of ``size`` rows, typed, plus item tables of list inputs."""

    size: int
    scalars: dict[str, CValue]
    lists: dict[str, ItemTable] = field(default_factory=dict)


# --------------------------------------------------------------------------- int64 arithmetic


def full_column(size: int, x: IntLike) -> I64:
    if isinstance(x, int):
        return np.full(size, x, dtype=np.int64)
    return x


class Arith:
    """Overflow-checked int64 operations; rows at risk are marked in ``bad`` (under ``mask``).

    Every int64 array this object makes (or reads the bounds of) gets an interval
    ``[lo, hi]`` of its values in ``self._iv``: bounds are propagated through products and sums
    exactly (Python ints), so the check against ``LIMIT`` costs no pass over the data when the
    operands' bounds are known (inputs with a declared ``min``/``max``, constants).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.bad: BoolArr = np.zeros(size, dtype=np.bool_)
        #: id(array) -> (weak reference to the array, lo, hi).
        self._iv: dict[int, tuple[weakref.ReferenceType[I64], int, int]] = {}
        #: Arrays this object allocated (id -> weak reference), and those of them the current
        #: operation may overwrite (see :meth:`consume`).
        self._made: dict[int, weakref.ReferenceType[I64]] = {}
        self._spare: set[int] = set()
        self._consuming = False

    # ------------------------------------------------------------------ temporaries

    def consume(self, *values: Num) -> None:
        """Let the operations until :meth:`release` overwrite the numerators of ``values`` (and
        the arrays they make themselves) instead of allocating new ones.

        The ownership rule: the caller passes only values that nothing else holds or will read
        (the results of sub-expressions it evaluated for this operation alone, never a traced,
        stored or input value), and an array is overwritten only when this object allocated it;
        an input column, a value shared with a node or a table lookup is never written to.
        """
        for value in values:
            n = value.n
            if not isinstance(n, int) and self._is_made(n):
                self._spare.add(id(n))
        self._consuming = True

    def publish(self, *values: object) -> None:
        """Values kept by the evaluation (lets, criteria, aggregates): their arrays may be reached
        again through other nodes, so they are never overwritten from now on."""
        for value in values:
            if isinstance(value, Num):
                for x in (value.n, value.d):
                    if not isinstance(x, int):
                        self._made.pop(id(x), None)

    def release(self) -> None:
        self._spare.clear()
        self._consuming = False

    def _is_made(self, x: I64) -> bool:
        ref = self._made.get(id(x))
        return ref is not None and ref() is x

    def _new(self, x: I64) -> I64:
        """Record an array this object allocated (while consuming, the next operation may reuse it)."""
        self._made[id(x)] = weakref.ref(x)
        if self._consuming:
            self._spare.add(id(x))
        return x

    def _out(self, x: IntLike, y: IntLike) -> I64 | None:
        """An operand of ``x op y`` the result may be written to, or None (allocate). Its
        bounds are forgotten: they no longer hold once it is overwritten."""
        if not self._consuming:
            return None
        for z in (x, y):
            if not isinstance(z, int) and id(z) in self._spare and self._is_made(z) \
                    and z.shape == (self.size,) and z.dtype == np.int64:
                self._iv.pop(id(z), None)
                return z
        return None

    def mark(self, rows: BoolArr | bool, mask: BoolArr | None) -> None:
        if isinstance(rows, (bool, np.bool_)):
            if not rows:
                return
            rows = np.ones(self.size, dtype=np.bool_)
        self.bad |= rows if mask is None else (rows & mask)

    # ------------------------------------------------------------------ bounds

    def interval(self, x: IntLike) -> tuple[int, int]:
        """Bounds of the values of ``x`` (computed once per array, unless known)."""
        if isinstance(x, int):
            return x, x
        known = self._iv.get(id(x))
        if known is not None and known[0]() is x:
            return known[1], known[2]
        if x.size == 0:
            lo, hi = 0, 0
        else:
            lo, hi = int(x.min()), int(x.max())
        self.known(x, lo, hi)
        return lo, hi

    def known(self, x: IntLike, lo: int, hi: int) -> IntLike:
        """Record that every value of ``x`` lies in ``[lo, hi]``; returns ``x``."""
        if not isinstance(x, int):
            self._iv[id(x)] = (weakref.ref(x), lo, hi)
        return x

    def maxabs(self, x: IntLike) -> int:
        lo, hi = self.interval(x)
        return max(-lo, hi)

    def num(self, value: Num) -> Num:
        """Register the declared bounds a column carries."""
        if value.lo is not None and value.hi is not None and not isinstance(value.n, int):
            self.known(value.n, value.lo, value.hi)
        return value

    # ------------------------------------------------------------------ int64 operations

    def mul(self, x: IntLike, y: IntLike, mask: BoolArr | None) -> IntLike:
        if isinstance(y, int) and y == 1:
            return x
        if isinstance(x, int) and x == 1:
            return y
        (xl, xh), (yl, yh) = self.interval(x), self.interval(y)
        products = (xl * yl, xl * yh, xh * yl, xh * yh)
        lo, hi = min(products), max(products)
        if max(-lo, hi) <= LIMIT:
            if isinstance(x, int) and isinstance(y, int):
                return x * y
            return self.known(self._new(np.multiply(x, y, out=self._out(x, y), dtype=np.int64)), lo, hi)
        if isinstance(x, int) and isinstance(y, int):
            self.mark(True, mask)
            return 0
        est = np.abs(np.asarray(x, dtype=np.float64)) * np.abs(np.asarray(y, dtype=np.float64))
        risky = np.broadcast_to(est >= RISK, (self.size,))
        self.mark(risky, mask)
        xs = np.where(risky, 0, x).astype(np.int64)
        return np.multiply(xs, y, dtype=np.int64)

    def plus(self, x: IntLike, y: IntLike, sign: int, mask: BoolArr | None) -> IntLike:
        """``x + y`` (or ``x - y``) of bounded values, with rows beyond ``LIMIT`` marked."""
        (xl, xh), (yl, yh) = self.interval(x), self.interval(y)
        lo, hi = (xl + yl, xh + yh) if sign > 0 else (xl - yh, xh - yl)
        if isinstance(x, int) and isinstance(y, int):
            return self.bound(x + y if sign > 0 else x - y, mask)
        if isinstance(y, int) and y == 0:
            return x
        if isinstance(x, int) and x == 0 and sign > 0:
            return y
        into = self._out(x, y)
        out = self._new(np.add(x, y, out=into, dtype=np.int64) if sign > 0
                        else np.subtract(x, y, out=into, dtype=np.int64))
        if max(-lo, hi) <= LIMIT:
            return self.known(out, lo, hi)
        return self.bound(out, mask)

    def bound(self, n: IntLike, mask: BoolArr | None) -> IntLike:
        """``n`` with rows above ``LIMIT`` marked and zeroed (``n`` is a sum of bounded values)."""
        if self.maxabs(n) <= LIMIT:
            return n
        if isinstance(n, int):
            self.mark(True, mask)
            return 0
        risky = (n > LIMIT) | (n < -LIMIT)
        self.mark(risky, mask)
        return np.where(risky, 0, n)

    # ------------------------------------------------------------------ rationals

    def norm(self, x: Num) -> Num:
        n, d = x.n, x.d
        if isinstance(d, int):
            if d > (1 << 20) and not isinstance(n, int) and n.size:
                g = math.gcd(d, int(np.gcd.reduce(n)))
                if g > 1:
                    lo, hi = self.interval(n)
                    return Num(self.known(n // g, lo // g, -(-hi // g)), d // g)
            elif isinstance(n, int):
                g = math.gcd(n, d)
                return Num(n // g, d // g)
            return x
        common = np.gcd(n, d)
        return Num(n // common, d // common)

    def common(self, a: Num, b: Num, mask: BoolArr | None) -> tuple[IntLike, IntLike, IntLike] | None:
        """Numerators of ``a`` and ``b`` over one shared scalar denominator, if both have one."""
        if isinstance(a.d, int) and isinstance(b.d, int):
            lcm = math.lcm(a.d, b.d)
            if lcm <= LIMIT:
                return self.mul(a.n, lcm // a.d, mask), self.mul(b.n, lcm // b.d, mask), lcm
        return None

    def add(self, a: Num, b: Num, mask: BoolArr | None, sign: int = 1) -> Num:
        if isinstance(b.n, int) and b.n == 0:
            return a
        if isinstance(a.n, int) and a.n == 0 and sign > 0:
            return b
        shared = self.common(a, b, mask)
        if shared is not None:
            an, bn, lcm = shared
            return self.norm(Num(self.plus(an, bn, sign, mask), lcm))
        left = self.mul(a.n, b.d, mask)
        right = self.mul(b.n, a.d, mask)
        den = self.mul(a.d, b.d, mask)
        num = self.bound(left + right if sign > 0 else left - right, mask)
        return self.norm(Num(num, _nonzero(den)))

    def times(self, a: Num, b: Num, mask: BoolArr | None) -> Num:
        a, b = self.norm(a), self.norm(b)
        if isinstance(a.d, int) and isinstance(b.d, int):
            return self.norm(Num(self.mul(a.n, b.n, mask), self.scalar(a.d * b.d, mask)))
        num = self.mul(a.n, b.n, mask)
        return self.norm(Num(num, _nonzero(self.mul(a.d, b.d, mask))))

    def scalar(self, d: int, mask: BoolArr | None) -> int:
        if d > LIMIT:
            self.mark(True, mask)
            return 1
        return d

    def divide(self, a: Num, b: Num, mask: BoolArr | None) -> tuple[Num, BoolArr | bool]:
        """``a / b`` and where ``b`` is zero (those rows get an arbitrary value)."""
        a, b = self.norm(a), self.norm(b)
        if isinstance(b.n, int):
            if b.n == 0:
                return Num(0, 1), True
            sign = -1 if b.n < 0 else 1
            if isinstance(a.d, int) and isinstance(b.d, int):
                num = self.mul(a.n, sign * b.d, mask)
                return self.norm(Num(num, self.scalar(a.d * abs(b.n), mask))), False
            num = self.mul(a.n, sign * b.d if isinstance(b.d, int) else sign * b.d, mask)
            return self.norm(Num(num, _nonzero(self.mul(a.d, abs(b.n), mask)))), False
        zero = b.n == 0
        bn = np.where(zero, 1, b.n)
        neg = bn < 0
        num = self.mul(a.n, b.d, mask)
        den = self.mul(a.d, np.abs(bn), mask)
        num = np.where(neg, -np.asarray(num), num)
        return self.norm(Num(num, _nonzero(den))), zero

    def compare(self, op: str, a: Num, b: Num, mask: BoolArr | None) -> BoolArr:
        if isinstance(a.d, int) and isinstance(b.d, int) and isinstance(b.n, int) and not isinstance(a.n, int):
            return self._against(op, a.n, a.d, Fraction(b.n, b.d))
        if isinstance(a.d, int) and isinstance(b.d, int) and isinstance(a.n, int) and not isinstance(b.n, int):
            return self._against(_FLIPPED[op], b.n, b.d, Fraction(a.n, a.d))
        shared = self.common(a, b, mask)
        if shared is not None:
            left, right, _ = shared
        else:
            left, right = self.mul(a.n, b.d, mask), self.mul(b.n, a.d, mask)
        out = COMPARE_OPS[op](left, right)
        return np.broadcast_to(np.asarray(out, dtype=np.bool_), (self.size,))

    def _against(self, op: str, n: I64, d: int, c: Fraction) -> BoolArr:
        """``n / d  op  c`` for a column over one denominator and a constant: one integer
        comparison of ``n`` with ``c * d`` rounded (``n`` is an integer), none when the
        bounds of ``n`` already decide it."""
        x = c * d
        floor = x.numerator // x.denominator
        whole = x.denominator == 1
        ceil = floor if whole else floor + 1
        lo, hi = self.interval(n)
        if op == ">=":
            op, t = ">=", ceil
        elif op == "<":
            op, t = "<", ceil
        elif op == ">":
            op, t = ">", floor
        elif op == "<=":
            op, t = "<=", floor
        elif not whole:
            return np.full(self.size, op == "!=", dtype=np.bool_)
        else:
            t = floor
        decided = decide_range(op, lo, hi, t)
        if decided is not None:
            return np.full(self.size, decided, dtype=np.bool_)
        return np.asarray(COMPARE_OPS[op](n, t), dtype=np.bool_)

    def select(self, cond: BoolArr, a: Num, b: Num, mask: BoolArr | None) -> Num:
        shared = self.common(a, b, mask)
        if shared is not None:
            an, bn, lcm = shared
            (al, ah), (bl, bh) = self.interval(an), self.interval(bn)
            chosen = self.known(np.where(cond, an, bn), min(al, bl), max(ah, bh))
            return self.norm(Num(chosen, lcm))
        return Num(np.where(cond, a.n, b.n), np.where(cond, a.d, b.d))

    def clamp(self, x: Num, lo: Num, hi: Num) -> Num:
        """``x`` limited to ``[lo, hi]`` (constants); no pass when the bounds of ``x`` decide."""
        if isinstance(x.d, int) and isinstance(lo.n, int) and isinstance(hi.n, int) \
                and isinstance(lo.d, int) and isinstance(hi.d, int):
            xl, xh = self.interval(x.n)
            # xl / x.d >= lo and xh / x.d <= hi, multiplied out (denominators are positive)
            if xl * lo.d >= lo.n * x.d and xh * hi.d <= hi.n * x.d:
                return x
        x = self.select(self.compare("<", x, lo, None), lo, x, None)
        return self.select(self.compare(">", x, hi, None), hi, x, None)


def decide_range(op: str, lo: int, hi: int, t: int) -> bool | None:
    """Whether ``v op t`` holds for every (True) or no (False) ``v`` in ``[lo, hi]``."""
    if op == ">=":
        return True if lo >= t else False if hi < t else None
    if op == "<":
        return True if hi < t else False if lo >= t else None
    if op == ">":
        return True if lo > t else False if hi <= t else None
    if op == "<=":
        return True if hi <= t else False if lo > t else None
    if op == "==":
        return False if (t < lo or t > hi) else (True if lo == hi == t else None)
    return True if (t < lo or t > hi) else (False if lo == hi == t else None)


_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _nonzero(d: IntLike) -> IntLike:
    """Denominators zeroed by an overflow (their rows are bad) become 1."""
    if isinstance(d, int):
        return d or 1
    return np.where(d == 0, 1, d)


COMPARE_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


def and_mask(mask: BoolArr | None, rows: BoolArr) -> BoolArr:
    return rows if mask is None else (mask & rows)
