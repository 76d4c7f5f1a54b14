"""The slots of explanation lines filled column by column, and how a line is joined from them.

A *slot* (:data:`Col`) is one piece of every row's line: a static text, the texts of a few
distinct values spread to the rows by an index (:class:`_Spread`), or one text per row.
:class:`_Lines` collects the slots of a line, merging slots with few distinct texts into their
neighbours, and joins each row's line when it is asked for. Also here: the distinct values of a
column of int64 keys without sorting when their range is small (:func:`_unique`,
:func:`_packed`) and the guess, from a sample, that a column has mostly distinct values
(:func:`_surely_dense`). Used by :mod:`kpi_rules.explain_columns`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import repeat
from typing import Any, Union

import numpy as np

from kpi_rules.exactcols import I64, BoolArr

class _Spread:
    """Texts of a few distinct values and, per row, the index of its text (not yet spread).

    Slots merged into it are kept as ``parts`` (static texts, or lists of texts as long as
    ``texts``) and joined once, when the texts are first read: merging a chain of slots costs
    one join per distinct value, not one copy per slot merged."""

    __slots__ = ("_texts", "parts", "count", "inverse")

    def __init__(self, texts: list[Any] | None, inverse: Any, parts: list[Any] | None = None,
                 count: int = 0) -> None:
        self._texts, self.inverse = texts, inverse
        self.parts: list[Any] = [texts] if parts is None else parts
        self.count = len(texts) if texts is not None else count

    @staticmethod
    def merged(parts: list[Any], inverse: Any, count: int) -> _Spread:
        return _Spread(None, inverse, parts, count)

    @property
    def texts(self) -> list[Any]:
        if self._texts is None:
            parts, count = self.parts, self.count
            first = next((p if isinstance(p, (str, bytes)) else p[0] for p in parts if p), "")
            join = (b"" if isinstance(first, bytes) else "").join  # one kind of text in a line
            texts = list(map(join, zip(*(repeat(p, count) if isinstance(p, (str, bytes)) else p for p in parts))))
            self._texts, self.parts = texts, [texts]
        return self._texts

    def table(self, binary: bool = False) -> Any:
        """The distinct texts as an object array (UTF-8 encoded if ``binary``)."""
        table = np.empty(len(self.texts), dtype=object)
        table[:] = [t.encode() for t in self.texts] if binary else self.texts
        return table

    def rows(self, binary: bool = False) -> list[Any]:
        texts: list[Any] = self.table(binary)[self.inverse].tolist()
        return texts


#: One slot of a line: the same text for every row, texts of distinct values spread by an
#: index, or one text per row. The texts are ``str``, or ``bytes`` (UTF-8) for the lines of a
#: file: one kind throughout a line (:class:`_Lines` encodes what it is given).
Col = Union[str, bytes, _Spread, list[Any]]

#: Slots with few distinct texts (at most this share of the rows) are merged into their
#: neighbours (a static text joined to each distinct text, two slots into one over the pairs of
#: their texts), so a line is joined from fewer pieces: a join costs per piece and per row, a
#: merge per distinct text.
_SMALL = 0.02
#: (Merging slots with more distinct texts was measured slower: a line's join then reads many
#: distinct long texts, which miss the cache, where a static text beside a slot stays in it.)


def _rows(col: Col, size: int) -> list[Any]:
    """One text per row."""
    if isinstance(col, (str, bytes)):
        return [col] * size
    if isinstance(col, _Spread):
        return col.rows()
    return col


#: A column of at least _SAMPLE·4 rows whose _SAMPLE rows spread evenly over it hold more
#: than _SAMPLED_DENSE distinct values has (under uniform sampling) at least ~55% distinct
#: values: its texts are made row by row without sorting the whole column first. (Either way
#: gives the same texts; a wrong guess only costs time.)
_SAMPLE = 2048
_SAMPLED_DENSE = 0.9


def _surely_dense(keys: I64) -> bool:
    size = len(keys)
    if size < 4 * _SAMPLE:
        return False
    sample = keys[::size // _SAMPLE][:_SAMPLE]
    return len(np.unique(sample)) > _SAMPLED_DENSE * _SAMPLE


def _unique(keys: I64) -> tuple[I64, I64]:
    """``np.unique(keys, return_inverse=True)``; keys within a range of a few times their number
    by marking them in a table of the range (linear, where ``np.unique`` sorts)."""
    if len(keys):
        low = int(keys.min())
        span = int(keys.max()) - low + 1
        if span <= 4 * len(keys) + 64:
            at = keys - low
            present = np.zeros(span, dtype=bool)
            present[at] = True
            rank = np.cumsum(present) - 1
            return np.flatnonzero(present) + low, rank[at]
    uniq, inverse = np.unique(keys, return_inverse=True)
    return uniq, inverse


def _packed(ns: I64, ds: I64) -> tuple[tuple[I64, I64], I64] | None:
    """The distinct pairs (numerators, denominators) and each row's index among them, when the
    pairs fit a table a few times the number of rows (else None)."""
    if not len(ns):
        return None
    n0, d0 = int(ns.min()), int(ds.min())
    nspan, dspan = int(ns.max()) - n0 + 1, int(ds.max()) - d0 + 1
    if nspan * dspan > 4 * len(ns) + 64:
        return None
    uniq, inverse = _unique((ns - n0) * dspan + (ds - d0))
    return (uniq // dspan + n0, uniq % dspan + d0), inverse


class _Lines:
    """Slots of a line, consecutive static texts merged."""

    __slots__ = ("cols", "small", "binary")

    def __init__(self, size: int, binary: bool = False) -> None:
        self.cols: list[Col] = []
        self.small = max(1, int(size * _SMALL))
        self.binary = binary

    def add(self, col: Col) -> None:
        if self.binary:
            col = _encoded(col)
        cols = self.cols
        last = cols[-1] if cols else None
        if isinstance(col, (str, bytes)):
            if isinstance(last, (str, bytes)):
                cols[-1] = last + col  # type: ignore[operator]  # one kind of text in a line
            elif isinstance(last, _Spread) and last.count <= self.small:
                cols[-1] = _Spread.merged([*last.parts, col], last.inverse, last.count)
            else:
                cols.append(col)
            return
        if isinstance(col, _Spread) and col.count <= self.small:
            if isinstance(last, (str, bytes)):
                cols.pop()
                col = _Spread.merged([last, *col.parts], col.inverse, col.count)
                last = cols[-1] if cols else None
            if isinstance(last, _Spread):
                if last.inverse is col.inverse:
                    cols[-1] = _Spread.merged([*last.parts, *col.parts], col.inverse, col.count)
                    return
                count = col.count
                if last.count * count <= self.small:
                    cols[-1] = _Spread([a + b for a in last.texts for b in col.texts],
                                       last.inverse * count + col.inverse)
                    return
        cols.append(col)

    def extend(self, cols: Sequence[Col]) -> None:
        for col in cols:
            self.add(col)

    def join(self, size: int) -> list[Any]:
        return list(self.iter_join(size))

    def iter_join(self, size: int) -> Iterator[Any]:
        """The lines (UTF-8 if ``binary``: joining bytes copies them, where joining texts with
        letters beyond Latin-1 widens every ASCII piece first).

        Each line is joined when it is asked for: a writer that drops a line once written gets
        the next one in the same (cached) memory, where a window of lines made at once takes
        fresh pages (~40 MB for 4,096 lines of 9.8 kB), which cost as much again as the joins."""
        cols = self.cols
        joiner = (b"" if self.binary else "").join
        if all(isinstance(c, (str, bytes)) for c in cols):
            return repeat(joiner(cols), size)  # type: ignore[arg-type]
        return map(joiner, zip(*(repeat(c, size) if isinstance(c, (str, bytes)) else _rows(c, size) for c in cols)))


def _encoded(col: Col) -> Col:
    """``col`` with its texts UTF-8 encoded (texts made as bytes are left as they are)."""
    if isinstance(col, str):
        return col.encode()
    if isinstance(col, _Spread):
        if col.texts and isinstance(col.texts[0], str):
            return _Spread([t.encode() for t in col.texts], col.inverse)
        return col
    if isinstance(col, list) and col and isinstance(col[0], str):
        return [t.encode() for t in col]
    return col


def _flatten(cols: Sequence[Col], size: int, binary: bool = False) -> Col:
    out = _Lines(size, binary)
    out.extend(cols)
    if len(out.cols) == 1:
        return out.cols[0]
    return out.join(size)


def _spread(texts: list[Any], inverse: Any) -> Col:
    return _Spread(texts, inverse)


def _merge(mask: BoolArr, yes: Col, no: Col) -> Col:
    """Rows where ``mask``: ``yes`` (one text per such row); the others: ``no``."""
    size = len(mask)
    out = np.empty(size, dtype=object)
    out[mask] = yes if isinstance(yes, (str, bytes)) else np.array(_rows(yes, int(mask.sum())), dtype=object)
    out[~mask] = no if isinstance(no, (str, bytes)) else np.array(_rows(no, size - int(mask.sum())), dtype=object)
    texts: list[Any] = out.tolist()
    return texts
