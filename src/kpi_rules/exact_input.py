"""Exact fractions as an input column: an Arrow struct of int64 ``numerator`` and ``denominator``.

Arrow has no exact rational type, and a rated total (a mean of points, ``263/3``) is no decimal.
A ``number``/``percent``/``points`` input of a batch table may therefore be given as a struct
column ``{numerator: int64, denominator: int64}`` (:func:`exact_array`): the columnar program
reads it as its exact ``Num`` column (:func:`exact_num`, called by
:class:`kpi_rules.columns_in.Converter`), and a row that goes record by record reads the cell as
the ``Fraction`` it stands for (:func:`exact_value`). A cell that is not such a fraction (a
denominator of 0 or below, a value beyond the columns' range) sends its row record by record,
where the record checks report it. ``kpi_rules.province_batch`` gives the leaders' batches the
totals of their related subjects this way (``kpi_rules.related_view``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from kpi_rules.exactcols import Num

__all__ = ["EXACT_FIELDS", "exact_array", "exact_num", "exact_value", "fractions_array", "is_exact_type"]

#: The fields of an exact number column, in this order.
EXACT_FIELDS = ("numerator", "denominator")
_LIMIT = 1 << 62  # kpi_rules.columnar.LIMIT (not imported: columnar imports the input converter)
#: Largest shared denominator formed from the rows' own (as ``columns_in._shared`` does).
_SHARED_MAX = 10**12


def exact_array(numerators: Any, denominators: Any, absent: Any = None) -> Any:
    """A struct array of exact numbers ``numerators[i] / denominators[i]`` (int64 each; rows
    where ``absent`` is true are null)."""
    import pyarrow as pa

    n = pa.array(np.asarray(numerators, dtype=np.int64), pa.int64())
    d = pa.array(np.asarray(denominators, dtype=np.int64), pa.int64())
    mask = None if absent is None else pa.array(np.asarray(absent, dtype=np.bool_))
    return pa.StructArray.from_arrays([n, d], names=list(EXACT_FIELDS), mask=mask)


def fractions_array(values: Sequence[Fraction | int | None]) -> Any:
    """:func:`exact_array` of Python numbers (None: a null cell). Each value must fit int64."""
    absent = [v is None for v in values]
    ns = [0 if v is None else Fraction(v).numerator for v in values]
    ds = [1 if v is None else Fraction(v).denominator for v in values]
    return exact_array(ns, ds, absent if any(absent) else None)


def is_exact_type(typ: Any) -> bool:
    """Whether an Arrow type is the exact number struct."""
    import pyarrow as pa

    if not pa.types.is_struct(typ) or typ.num_fields != 2:
        return False
    return all(typ.field(k).name == name and pa.types.is_integer(typ.field(k).type)
               for k, name in enumerate(EXACT_FIELDS))


def exact_num(array: Any, absent: np.ndarray[Any, np.dtype[np.bool_]]) -> Num | None:
    """The ``Num`` column of an exact struct array (absent rows 0/1), or None when a present
    row is not a fraction the columns hold (denominator not positive, beyond ``LIMIT``): then
    the caller reads the cells one by one and those rows go record by record."""
    if not is_exact_type(array.type):
        return None
    n = _ints(array.field(0))
    d = _ints(array.field(1))
    if n is None or d is None:
        return None
    if absent.any():
        n = np.where(absent, 0, n)
        d = np.where(absent, 1, d)
    if len(d) and (int(d.min()) <= 0 or int(d.max()) > _LIMIT or int(np.abs(n).max()) > _LIMIT
                   or int(n.min()) < -_LIMIT):
        return None
    return _shared(n, d)


def _ints(child: Any) -> np.ndarray[Any, Any] | None:
    values = child.fill_null(0).to_numpy(zero_copy_only=False)
    if values.dtype.kind not in "iu" or (values.dtype.kind == "u" and len(values) and int(values.max()) > _LIMIT):
        return None
    return np.asarray(values, dtype=np.int64)


def _shared(n: np.ndarray[Any, Any], d: np.ndarray[Any, Any]) -> Num:
    """One denominator for the column when the lcm of the rows' stays small and no numerator
    then leaves ``LIMIT``; else a denominator per row."""
    dens = np.unique(d)
    lcm = 1
    for x in dens.tolist():
        lcm = math.lcm(lcm, int(x))
        if lcm > _SHARED_MAX:
            return Num(n, d)
    if len(dens) == 1:
        return Num(n, lcm)
    factor = lcm // d
    if len(n) and float(np.abs(n).max()) * float(factor.max()) >= float(_LIMIT) / 2:
        return Num(n, d)
    return Num(n * factor, lcm)


def exact_value(value: object) -> object:
    """A cell of an exact column as the record checks read it: the ``Fraction``, or the cell as
    it is when it is not one (then reported as not a number)."""
    if isinstance(value, Mapping) and set(value) == set(EXACT_FIELDS):
        n, d = value["numerator"], value["denominator"]
        if type(n) is int and type(d) is int and d > 0:
            return Fraction(n, d)
    return value
