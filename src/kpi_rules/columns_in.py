"""Raw values → exact typed columns (:class:`~kpi_rules.columnar.Num`, ``Cat``, booleans).

:class:`Converter` reads one column of a record table (a Python list from record dicts, or a
pyarrow array) as the columnar program needs it, and marks in ``slow`` every row whose value
the record checks of :mod:`kpi_rules.records` would not accept as it is (wrong type, out of
range, missing without a default, not exactly representable in int64): those rows go record
by record, where the same checks report them.

Exact inputs cost no trial: integer columns are numerators over 1, Arrow ``decimal128(p, s)``
columns are read straight from their buffer as numerators over ``10**s``. Floats become the
decimal of their shortest ``repr`` (what ``to_fraction`` reads) with a few trial scalings.
Declared ``min``/``max`` are checked with one integer comparison per bound and then travel
with the column (``Num.lo``/``Num.hi``) so the program needs no pass to bound products.
"""

from __future__ import annotations

import math
import sys
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from kpi_rules import nodes
from kpi_rules.columnar import LIMIT, Cat, CValue, Num, Unsupported, readable
from kpi_rules.results import Value
from kpi_rules.values import literal_value

__all__ = ["MISSING", "Converter", "is_arrow"]

#: Marks a value absent from a record dict.
MISSING = object()
_NOT_TEXT = object()
_INT64_MAX = int(np.iinfo(np.int64).max)
_INT64_MIN = int(np.iinfo(np.int64).min)


class Converter:
    """Converts raw columns of one table to typed columns; ``slow`` marks rows to do one by one."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.slow = np.zeros(size, dtype=np.bool_)

    def column(self, decl: nodes.InputDecl, values: Any) -> CValue:
        """``values``: a Python list (``MISSING``/None for absent), a pyarrow array, or a numpy
        array of numbers (none absent)."""
        t = decl.type
        kinds: set[type] | None = None
        if is_arrow(values):
            values, absent = _arrow_values(values, t)
        elif isinstance(values, np.ndarray):  # numbers already read (floats of record dicts)
            absent = np.zeros(self.size, dtype=np.bool_)
        else:
            kinds = set(map(type, values))
            if type(None) in kinds or object in kinds:  # None or MISSING somewhere
                absent = np.fromiter((v is MISSING or v is None for v in values), np.bool_, self.size)
            else:
                absent = np.zeros(self.size, dtype=np.bool_)
        if isinstance(values, list) and absent.any():
            holder = _placeholder(t)
            values = [holder if a else v for v, a in zip(values, absent.tolist())]
            kinds = None
        if not readable(decl):
            # Declared but never read by the program: a row giving a value goes one by one
            # (where the value is checked); the column itself is not used.
            self.slow |= ~absent
            return Num(0, 1)
        default: Value = None
        if absent.any():
            if decl.missing == "default" and decl.default is not None:
                default = literal_value(decl.default)
            else:
                self.slow |= absent
        if isinstance(t, nodes.OneOfType):
            cat = self.cat(values, t.members, absent)
            if default is not None:
                cat = Cat(np.where(absent, t.members.index(str(default)), cat.codes), cat.labels)
            return cat
        assert isinstance(t, nodes.ScalarType)
        if t.name in ("number", "percent", "points"):
            num = self.number(values, kinds)
            if isinstance(default, Fraction):
                num = _fill_num(num, absent, default)
            return self.ranged(num, decl)
        if t.name == "bool":
            flags = self.boolean(values, absent)
            if isinstance(default, bool):
                flags = np.where(absent, default, flags)
            return flags
        if t.name == "text":
            cat = self.cat(values, None, absent)
            if isinstance(default, str):
                labels = cat.labels if default in cat.labels else cat.labels + (default,)
                cat = Cat(np.where(absent, labels.index(default), cat.codes), labels)
            return cat
        raise Unsupported(f"input type {t.name}")

    def ranged(self, num: Num, decl: nodes.InputDecl) -> Num:
        """``num`` with rows outside the declared ``min``/``max`` marked slow.

        Over a shared denominator ``d`` the bounds become integer bounds on the numerators
        (``ceil(min * d)``, ``floor(max * d)``), checked with one comparison; the slow rows are
        then set inside the bounds, which the column carries from then on (``Num.lo/hi``).
        """
        n, d = num.n, num.d
        if isinstance(n, int) or not isinstance(d, int):
            if decl.min is not None:
                self.slow |= _cmp_lt(num, Num(decl.min.numerator, decl.min.denominator))
            if decl.max is not None:
                self.slow |= _cmp_lt(Num(decl.max.numerator, decl.max.denominator), num)
            return num
        lo = -((-decl.min.numerator * d) // decl.min.denominator) if decl.min is not None else None
        hi = (decl.max.numerator * d) // decl.max.denominator if decl.max is not None else None
        if lo is not None and hi is not None and hi < lo:
            self.slow[:] = True
            return Num(np.zeros(self.size, dtype=np.int64), 1)
        outside: np.ndarray[Any, np.dtype[np.bool_]] | None
        if n.size == 0 or _inside(n, lo, hi):
            outside = None
        elif lo is not None and hi is not None and abs(lo) <= LIMIT and abs(hi) <= LIMIT:
            # One unsigned comparison: (n - lo) mod 2**64 <= hi - lo exactly when lo <= n <= hi.
            # An int64 n below lo would need n <= hi - 2**64 < -2**63 to wrap into the range
            # (|lo|, |hi| <= 2**62), and n - lo < 2**64 never wraps from above.
            shifted = n if lo == 0 else np.subtract(n, lo, dtype=np.int64)
            outside = shifted.view(np.uint64) > np.uint64(hi - lo)
        else:
            outside = np.zeros(self.size, dtype=np.bool_)
            if lo is not None and lo > _INT64_MIN:
                outside |= n < lo if lo <= _INT64_MAX else True
            if hi is not None and hi < _INT64_MAX:
                outside |= n > hi if hi >= _INT64_MIN else True
        if outside is not None and outside.any():
            self.slow |= outside
            n = np.where(outside, lo if lo is not None else (hi if hi is not None else 0), n)
        if lo is not None and hi is not None and abs(lo) <= LIMIT and abs(hi) <= LIMIT:
            return Num(n, d, lo, hi)
        return Num(n, d)

    def number(self, values: Any, kinds: set[type] | None = None) -> Num:
        if isinstance(values, Num):
            return values
        if isinstance(values, np.ndarray):
            if values.dtype.kind in "iu":
                return Num(values.astype(np.int64), 1)
            if values.dtype.kind == "f":
                return self.floats(values)
            if values.dtype.kind == "b":
                self.slow |= True
                return Num(np.zeros(self.size, dtype=np.int64), 1)
            values = values.tolist()
        if kinds is None:
            kinds = set(map(type, values))
        # np.fromiter with a count: about twice as fast as np.array on a list (no shape discovery).
        if kinds <= {int}:
            try:
                return Num(np.fromiter(values, np.int64, self.size), 1)
            except OverflowError:
                pass
        if kinds <= {float}:
            return self.floats(np.fromiter(values, np.float64, self.size))
        if kinds <= {int, float} and all(abs(v) < 2**52 for v in values):
            return self.floats(np.fromiter(values, np.float64, self.size))
        ns = np.zeros(self.size, dtype=np.int64)
        ds = np.ones(self.size, dtype=np.int64)
        for i, v in enumerate(values):
            pair = _ratio(v)
            if pair is None or abs(pair[0]) > LIMIT or pair[1] > LIMIT:
                self.slow[i] = True
            else:
                ns[i], ds[i] = pair
        return _shared(Num(ns, ds), self.slow)

    def floats(self, f: np.ndarray[Any, Any]) -> Num:
        """Exact decimals of floats, as ``to_fraction`` reads them (through their shortest repr).

        For ``|f| * 10**k < 2**50`` the k-digit decimal that round-trips is unique and is the
        value of ``repr(f)`` (its spacing ``10**-k`` is wider than the floats rounding to ``f``):
        a float ``f`` with ``rint(f * 10**k) / 10**k == f`` is exactly that decimal. ``k`` is
        guessed from a sample of reprs and checked on the whole column in one pass; the rows it
        does not fit try ``k = 0..9`` one by one; the rest (NaN, infinities, more digits, or a
        numerator beyond ``LIMIT`` over the common denominator) go record by record.
        """
        size = len(f)
        guess = _places_of_sample(f)
        n, ok = _scaled(f, guess)
        if bool(ok.all()):
            return Num(n, 10**guess)
        rest = np.flatnonzero(~ok)
        sub = f[rest]
        sub_n = np.zeros(len(rest), dtype=np.int64)
        sub_k = np.full(len(rest), -1, dtype=np.int64)
        todo = np.ones(len(rest), dtype=np.bool_)
        for k in range(0, 10):
            if not todo.any():
                break
            m, hit = _scaled(sub, k)
            hit &= todo
            sub_n = np.where(hit, m, sub_n)
            sub_k = np.where(hit, k, sub_k)
            todo &= ~hit
        kmax = max(guess, int(sub_k.max()) if len(sub_k) else 0)
        n = n * 10 ** (kmax - guess)  # |n| < 2**50 and 10**(kmax - guess) <= 10**9: checked below
        big = np.abs(n[ok].astype(np.float64)) * float(10 ** (kmax - guess)) >= float(LIMIT) / 2
        factor = 10 ** (kmax - np.where(sub_k < 0, kmax, sub_k))
        sub_big = np.abs(sub_n.astype(np.float64)) * factor.astype(np.float64) >= float(LIMIT) / 2
        sub_n = np.where(sub_big | (sub_k < 0), 0, sub_n * factor)
        self.slow[rest] |= sub_big | (sub_k < 0)
        if big.any():
            ok_rows = np.flatnonzero(ok)
            self.slow[ok_rows[big]] = True
            n[ok_rows[big]] = 0
        n[rest] = sub_n
        return Num(n, 10**kmax)

    def boolean(self, values: Any, absent: np.ndarray[Any, np.dtype[np.bool_]]) -> np.ndarray[Any, np.dtype[np.bool_]]:
        if isinstance(values, np.ndarray) and values.dtype == np.bool_:
            return values
        ok = np.fromiter((type(v) is bool for v in values), np.bool_, self.size)
        self.slow |= ~ok & ~absent
        return np.fromiter((v is True for v in values), np.bool_, self.size)

    def cat(self, values: Any, members: tuple[str, ...] | None,
            absent: np.ndarray[Any, np.dtype[np.bool_]]) -> Cat:
        if isinstance(values, Cat):
            codes, labels = values.codes, values.labels
        else:
            index: dict[object, int] = {}
            # Anything but text (even unhashable values) is one label, marked below.
            codes = np.fromiter((index.setdefault(v if type(v) is str else _NOT_TEXT, len(index)) for v in values),
                                np.int64, self.size)
            labels_any = list(index)
            bad_label = np.array([not isinstance(x, str) for x in labels_any] + [True], dtype=np.bool_)
            self.slow |= bad_label[codes] & ~absent
            labels = tuple(x if isinstance(x, str) else "" for x in labels_any)
        if members is None:
            return Cat(codes, labels)
        lut = np.array([members.index(x) if x in members else -1 for x in labels] + [-1], dtype=np.int64)
        ranks = lut[codes]
        self.slow |= (ranks < 0) & ~absent
        return Cat(np.where(ranks < 0, 0, ranks), members)


def _places_of_sample(f: np.ndarray[Any, Any]) -> int:
    """Decimal places of the reprs of up to 32 values spread over ``f`` (at most 9)."""
    if len(f) == 0:
        return 0
    step = max(1, len(f) // 32)
    places = 0
    for x in f[::step][:32].tolist():
        text = repr(x)
        if "e" in text or "n" in text:  # exponent, nan, inf: the slow rows
            continue
        digits = text.split(".", 1)[1] if "." in text else ""
        places = max(places, 0 if digits == "0" else len(digits))
    return min(places, 9)


def _scaled(f: np.ndarray[Any, Any], k: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """``rint(f * 10**k)`` as int64, and where that over ``10**k`` is exactly ``f`` (0 elsewhere)."""
    scale = 10.0**k
    with np.errstate(over="ignore", invalid="ignore"):
        m = f * scale
        np.rint(m, out=m)
        spare = np.abs(m)  # one float temporary, reused (they are large for item columns)
        ok = spare < 2.0**50  # False for NaN and infinities
        ok &= np.divide(m, scale, out=spare) == f
    if not ok.all():
        m[~ok] = 0.0
    return m.astype(np.int64), ok


def _inside(n: np.ndarray[Any, Any], lo: int | None, hi: int | None) -> bool:
    """Whether every value of the int64 column ``n`` lies in ``[lo, hi]`` (None: no bound).

    With ``lo == 0`` (most declared ranges start at 0) one reduction decides: read as
    unsigned, a negative int64 is at least ``2**63``, so ``max(n as uint64) <= hi`` holds
    exactly when ``0 <= n <= hi``. Otherwise a min and a max.
    """
    if lo == 0 and hi is not None and 0 <= hi <= _INT64_MAX and n.dtype == np.int64:
        return int(n.view(np.uint64).max()) <= hi
    return (lo is None or int(n.min()) >= lo) and (hi is None or int(n.max()) <= hi)


def _cmp_lt(a: Num, b: Num) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Exact ``a < b`` with Python ints where int64 could overflow."""
    left_bound = _mag(a.n) * _mag(b.d)
    right_bound = _mag(b.n) * _mag(a.d)
    if max(left_bound, right_bound) < LIMIT:
        return np.asarray(np.multiply(a.n, b.d, dtype=np.int64) < np.multiply(b.n, a.d, dtype=np.int64))
    an = np.asarray(a.n, dtype=object)
    bd = np.asarray(b.d, dtype=object)
    bn = np.asarray(b.n, dtype=object)
    ad = np.asarray(a.d, dtype=object)
    return np.asarray(an * bd < bn * ad, dtype=np.bool_)


def _mag(x: Any) -> int:
    if isinstance(x, int):
        return abs(x)
    if x.size == 0:
        return 0
    return max(int(x.max()), -int(x.min()))


def _ratio(v: object) -> tuple[int, int] | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v, 1
    if isinstance(v, Fraction):
        return v.numerator, v.denominator
    if isinstance(v, Decimal):
        if not v.is_finite():
            return None
        return v.as_integer_ratio()
    if isinstance(v, float):
        if not math.isfinite(v):
            return None
        f = Fraction(repr(v))
        return f.numerator, f.denominator
    return None


def _shared(num: Num, slow: np.ndarray[Any, np.dtype[np.bool_]]) -> Num:
    """A denominator shared by the whole column when the lcm stays small."""
    d = num.d
    if isinstance(d, int):
        return num
    dens = np.unique(d[~slow]) if (~slow).any() else np.array([1])
    lcm = 1
    for x in dens.tolist():
        lcm = math.lcm(lcm, int(x))
        if lcm > 10**12:
            return num
    factor = lcm // d
    n = num.n
    assert not isinstance(n, int)
    risky = (np.abs(n.astype(np.float64)) * factor.astype(np.float64)) >= float(LIMIT) / 2
    slow |= risky
    return Num(np.where(risky, 0, n) * factor, lcm)


def _placeholder(t: nodes.TypeExpr) -> object:
    if isinstance(t, nodes.OneOfType):
        return t.members[0]
    if isinstance(t, nodes.ScalarType) and t.name == "bool":
        return False
    if isinstance(t, nodes.ScalarType) and t.name == "text":
        return ""
    return 0


def _fill_num(num: Num, absent: np.ndarray[Any, np.dtype[np.bool_]], value: Fraction) -> Num:
    """``num`` with the absent rows set to ``value`` (a declared default)."""
    d = num.d if isinstance(num.d, int) else None
    if d is None:
        n = np.where(absent, value.numerator, num.n)
        return Num(n, np.where(absent, value.denominator, num.d))
    lcm = math.lcm(d, value.denominator)
    scaled = np.multiply(num.n, lcm // d, dtype=np.int64)
    return Num(np.where(absent, value.numerator * (lcm // value.denominator), scaled), lcm)


# --------------------------------------------------------------------------- arrow


def is_arrow(values: object) -> bool:
    return type(values).__module__.startswith("pyarrow")


def _arrow_values(array: Any, t: nodes.TypeExpr) -> tuple[Any, np.ndarray[Any, np.dtype[np.bool_]]]:
    """Typed values of a pyarrow (chunked) array, and where it is null."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    if array.null_count:
        absent = np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=np.bool_)
    else:
        absent = np.zeros(len(array), dtype=np.bool_)
    typ = array.type
    numeric = isinstance(t, nodes.ScalarType) and t.name in ("number", "percent", "points")
    if pa.types.is_dictionary(typ):
        array = array.cast(typ.value_type)
        typ = array.type
    if numeric:
        if pa.types.is_integer(typ):
            return array.fill_null(0).to_numpy().astype(np.int64), absent
        if pa.types.is_struct(typ):  # exact numerator/denominator (exact_input.py); else read one by one
            from kpi_rules.exact_input import exact_num

            exact = exact_num(array, absent)
            if exact is not None:
                return exact, absent
        if pa.types.is_floating(typ):
            return array.fill_null(0.0).to_numpy().astype(np.float64), absent
        if pa.types.is_decimal128(typ):
            unscaled = _decimal128_numerators(array, absent)
            if unscaled is not None:
                return Num(unscaled, 10**typ.scale), absent
        if pa.types.is_decimal(typ):
            scale = typ.scale
            try:
                unscaled = pc.cast(pc.multiply(array.fill_null(0), pa.scalar(10**scale, typ)), pa.int64())
                return Num(unscaled.to_numpy().astype(np.int64), 10**scale), absent
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return array.to_pylist(), absent
        if pa.types.is_string(typ) or pa.types.is_large_string(typ):
            return _decimal_text(array, absent), absent
        return array.to_pylist(), absent
    if isinstance(t, nodes.ScalarType) and t.name == "bool":
        if pa.types.is_boolean(typ):
            return np.asarray(array.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.bool_), absent
        if pa.types.is_string(typ) or pa.types.is_large_string(typ):
            truth = pc.equal(array, "true").fill_null(False).to_numpy(zero_copy_only=False)
            falsity = pc.equal(array, "false").fill_null(False).to_numpy(zero_copy_only=False)
            values = [True if a else (False if b else "?") for a, b in zip(truth.tolist(), falsity.tolist())]
            return values, absent
        return array.to_pylist(), absent
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        encoded = pc.dictionary_encode(array.fill_null(""))
        codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        labels = tuple(str(x) for x in encoded.dictionary.to_pylist())
        return Cat(codes, labels), absent
    return array.to_pylist(), absent


def _decimal128_numerators(array: Any, absent: np.ndarray[Any, np.dtype[np.bool_]]) -> np.ndarray[Any, Any] | None:
    """The unscaled values of a ``decimal128(p, s)`` array as int64, read from its buffer.

    A decimal128 value is a little-endian 128-bit integer; with ``p <= 18`` it fits int64 by
    the type's own invariant (``Array.validate(full=True)`` rejects values beyond ``p``
    digits), so the low words are the values. Wider types are checked (the high word must be
    the sign of the low one); None when a value does not fit or the layout is not this one.
    """
    typ = array.type
    if sys.byteorder != "little" or not 0 <= typ.scale <= 18:
        return None
    data = array.buffers()[1]
    if data is None:
        return None
    words = np.frombuffer(data, dtype=np.int64, count=2 * (array.offset + len(array)))
    pairs = words.reshape(-1, 2)[array.offset:]
    low = pairs[:, 0]  # a strided view: measured faster than copying it first (fewer passes)
    if typ.precision > 18 and not bool(np.all(pairs[:, 1] == (low >> 63))):
        return None
    if absent.any():
        low = np.where(absent, 0, low)
    return low


def _decimal_text(array: Any, absent: np.ndarray[Any, np.dtype[np.bool_]]) -> Any:
    """Exact numbers from decimal text (``"12"``, ``"-2.375"``) with pyarrow compute."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.utf8_trim_whitespace(array.fill_null("0"))
    ok = pc.match_substring_regex(text, r"^[+-]?\d{1,15}(\.\d{0,6})?$").to_numpy(zero_copy_only=False)
    ok = np.asarray(ok, dtype=np.bool_)
    safe = pc.if_else(pa.array(ok), text, pa.scalar("0"))
    point = pc.find_substring(safe, ".").to_numpy(zero_copy_only=False).astype(np.int64)
    length = pc.utf8_length(safe).to_numpy(zero_copy_only=False).astype(np.int64)
    places = np.where(point >= 0, length - point - 1, 0)
    digits = pc.cast(pc.replace_substring(safe, ".", ""), pa.int64()).to_numpy(zero_copy_only=False)
    digits = np.where(ok, digits.astype(np.int64), 0)
    kmax = int(places.max()) if len(places) else 0
    n = digits * (10 ** (kmax - places))
    num = Num(n.astype(np.int64), 10**kmax)
    if ok.all():
        return num
    return _merge_bad_text(num, ~ok, array)


def _merge_bad_text(num: Num, bad: np.ndarray[Any, np.dtype[np.bool_]], array: Any) -> list[object]:
    """Rows whose text is not plain decimal keep their text (and are rejected as not a number)."""
    raw = array.to_pylist()
    assert not isinstance(num.n, int) and isinstance(num.d, int)
    ns = num.n.tolist()
    return [raw[i] if bad[i] else Fraction(ns[i], num.d) for i in range(len(raw))]
