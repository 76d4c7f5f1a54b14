"""Explanations of columnar rows, filled column by column straight from a :class:`ColumnarRun`.

:func:`column_lines` writes, for many rows of one columnar evaluation at once, the JSON lines
:func:`kpi_rules.explain_plan.explanation_json` writes one ``Result`` at a time (without the
next-level advice): the same bytes, without building ``Result`` objects or per-row traces.

Every piece of the explanation skeleton that depends on the row is produced for all rows at
once as a *column of texts*: the exact values of a slot (int64 numerators and denominators)
are reduced to their distinct values (:mod:`kpi_rules.explain_slots`; a column that a sample
shows to be mostly distinct is not reduced: its texts are made row by row), the distinct
numbers are formatted together with integer numpy arithmetic
(:class:`~kpi_rules.explain_numbers.NumberTexts`; other values through the skeleton's caches)
and the texts are spread back to the rows by indexing. A value in a formula with texts made
row by row is two slots: the mark (``≈`` where rounded) and the exact or display text objects
its Number is made from (no text is made per row for it).
Choices (the level, the reason sentence, what fired, the levels passed over) are texts of small
tables indexed by a per-row key. Slots with few distinct texts are merged with their neighbours
before a row's line is made by one join (of texts, or of UTF-8 bytes for a file) over the static
fragments and its slot texts. Texts are JSON-escaped once per distinct value: the static parts
of a formula are escaped when compiled, so a formula "with values" is never escaped per row.

Rows with something this module does not fill (a value the rule set does not declare, a
condition without a formula) are reported by :class:`NotColumnar`; the caller then explains
them one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from json.encoder import encode_basestring
from typing import Any

import numpy as np

from kpi_rules import nodes
from kpi_rules.colresults import REASONS, ColumnarRun
from kpi_rules.exactcols import I64, BoolArr, Cat, CValue, Num
from kpi_rules.explain_formulas import MISSING, Hole, Template
from kpi_rules.explain_numbers import NumberTexts
from kpi_rules.explain_parts import _js
from kpi_rules.explain_plan import ExplanationSkeleton, _bool, _NodeSkel, _value_texts
from kpi_rules.explain_slots import (Col, _flatten, _Lines, _merge, _packed, _rows, _spread, _Spread,
                                     _surely_dense, _unique)
from kpi_rules.i18n import message
from kpi_rules.results import DisqualifierResult, LevelDecision, Value
from kpi_rules.values import format_exact

__all__ = ["NotColumnar", "column_lines", "column_lines_bytes"]

_WORD = 1 << 32
_HALF = 1 << 31
#: A number column with more distinct values than 1/_DENSE of its rows has its texts made row by
#: row (in row order, as they are joined) instead of per distinct value and then spread.
_DENSE = 2


class NotColumnar(Exception):
    """These rows hold something only the record-by-record explanation writes."""


def _esc(text: str) -> str:
    """``text`` escaped as inside a JSON string (the quotes left out)."""
    return encode_basestring(text)[1:-1]


class _Filler:
    """The selected rows of one columnar run, and their slot texts."""

    def __init__(self, skel: ExplanationSkeleton, run: ColumnarRun, scalars: dict[str, CValue],
                 binary: bool = False) -> None:
        self.skel = skel
        self.binary = binary
        self._identity: dict[int, I64] = {}
        self.run = run
        self.scalars = scalars
        self.formats = skel.formats
        self.day = skel.ruleset.in_force.start
        self._keyed: dict[tuple[int, int], tuple[Any, I64, list[Any] | NumberTexts, I64 | None]] = {}
        self._texts: dict[tuple[int, int, str, bool], Col] = {}
        self._splits: dict[tuple[int, int, str, bool], list[Col]] = {}
        self._numbers: dict[tuple[bytes, bytes], NumberTexts] = {}
        #: The kind of each criteria node, as its CriterionResult has it.
        self.kinds: dict[str, str] = {}
        if skel.ruleset.criteria is not None:
            stack: list[nodes.CriteriaTree | nodes.CriteriaItem] = [skel.ruleset.criteria]
            while stack:
                node = stack.pop()
                if isinstance(node, nodes.Criterion):
                    self.kinds[node.name] = "criterion"
                    continue
                self.kinds[node.name] = "total" if isinstance(node, nodes.CriteriaTree) else node.kind
                stack.extend(node.children)

    # ------------------------------------------------------------------ values → texts

    def keyed(self, value: CValue | Value, rows: I64) -> tuple[list[Any] | NumberTexts, I64 | None]:
        """The distinct values of the rows (numbers as :class:`NumberTexts`) and, for each row,
        the index of its value (None: one value for all rows). Cached per column and rows."""
        key = (id(value), id(rows))
        hit = self._keyed.get(key)
        if hit is None:
            hit = self._keyed[key] = (value, rows, *self._keyed_new(value, rows))
        return hit[2], hit[3]

    def numbers(self, n: I64, d: I64) -> NumberTexts:
        """The texts of these distinct values, shared by every column that holds the same ones
        (a let, the traced name that reads it, the points of the criterion it makes)."""
        key = (n.tobytes(), d.tobytes())
        hit = self._numbers.get(key)
        if hit is None:
            hit = self._numbers[key] = NumberTexts(n, d, self.formats)
        return hit

    def identity(self, size: int) -> I64:
        """The index of a column whose texts are made row by row (one object per size, so
        :meth:`texts` knows it)."""
        hit = self._identity.get(size)
        if hit is None:
            hit = self._identity[size] = np.arange(size, dtype=np.intp)
        return hit

    def _keyed_new(self, value: CValue | Value, rows: I64) -> tuple[list[Any] | NumberTexts, I64 | None]:
        if isinstance(value, Num):
            n, d = value.n, value.d
            if isinstance(d, int):
                if isinstance(n, int):
                    return NumberTexts(np.array([n], dtype=np.int64), np.array([d], dtype=np.int64),
                                       self.formats), None
                ns = n[rows]
                if _surely_dense(ns):
                    return self.numbers(ns, np.full(len(ns), d, dtype=np.int64)), self.identity(len(rows))
                uniq, inverse = _unique(ns)
                if len(uniq) * _DENSE > len(rows):
                    return self.numbers(ns, np.full(len(ns), d, dtype=np.int64)), self.identity(len(rows))
                return self.numbers(uniq, np.full(len(uniq), d, dtype=np.int64)), inverse
            ns = np.full(len(rows), n, dtype=np.int64) if isinstance(n, int) else n[rows]
            ds = d[rows]
            if len(ns) and np.abs(ns).max() < _HALF and ds.max() < _WORD:
                # One int64 key per pair, n·2³² + d (d < 2³²): n is the key shifted back.
                keys = ns * _WORD + ds
                if _surely_dense(keys):
                    return self.numbers(ns, ds), self.identity(len(rows))
                packed = _packed(ns, ds)
                if packed is not None:  # few numerators and denominators: no sort
                    (uniq_n, uniq_d), inverse = packed
                    if len(uniq_n) * _DENSE > len(rows):
                        return self.numbers(ns, ds), self.identity(len(rows))
                    return self.numbers(uniq_n, uniq_d), inverse
                uniq, inverse = np.unique(keys, return_inverse=True)
                if len(uniq) * _DENSE > len(rows):
                    return self.numbers(ns, ds), self.identity(len(rows))
                return self.numbers(uniq >> 32, uniq & (_WORD - 1)), inverse
            pairs = np.ascontiguousarray(np.stack([ns, ds], axis=1))
            voids = pairs.view(np.dtype((np.void, 16))).ravel()
            _, first, inverse = np.unique(voids, return_index=True, return_inverse=True)
            if len(first) * _DENSE > len(rows):
                return self.numbers(ns, ds), self.identity(len(rows))
            picked = pairs[first]
            return self.numbers(picked[:, 0].copy(), picked[:, 1].copy()), inverse
        if isinstance(value, Cat):
            uniq, inverse = _unique(value.codes[rows].astype(np.int64))
            return [value.labels[c] for c in uniq.tolist()], inverse
        if isinstance(value, np.ndarray):
            if value.ndim == 0:
                return [bool(value)], None
            return [False, True], value[rows].astype(np.intp)
        return [value], None

    def texts(self, value: CValue | Value, rows: I64, kind: str, wrap: bool = False) -> Col:
        """The text of kind ``kind`` of the value of each row (made once per distinct value):
        ``number``, ``number_value``, ``hole`` (escaped, parenthesised if ``wrap``), ``term``,
        ``equals``, ``total``, ``bool``."""
        key = (id(value), id(rows), kind, wrap)
        hit = self._texts.get(key)
        if hit is not None:
            return hit
        distinct, inverse = self.keyed(value, rows)
        if isinstance(distinct, NumberTexts):
            if kind == "bool":
                raise NotColumnar("a number where a flag is expected")
            texts = distinct.texts(kind, wrap, self.binary)
        else:
            fn = self._fn(kind, wrap)
            texts = [fn(v) for v in distinct]
            if self.binary:
                texts = [t.encode() for t in texts]
        if inverse is None or all(t == texts[0] for t in texts):
            col: Col = texts[0]
        elif inverse is self._identity.get(len(rows)):
            col = texts  # one text per row, in row order: nothing to spread
        else:
            col = _spread(texts, inverse)
        self._texts[key] = col
        return col

    def number(self, value: CValue | Value, rows: I64, kind: str = "number") -> list[Col]:
        """A Number's JSON (``number``) or the fields of a number value (``number_value``) of
        each row. A value with texts made row by row gives, for ``number_value`` (a value of the
        rule set, shown once), its exact and display texts as two slots between static texts
        (joined with the line: cheaper than one text per row); a Number (points, raw points,
        the total) is one text per row, shared by the slots that show the same values (the
        points and raw points of a criterion, and of the total, are the same values)."""
        distinct, inverse = self.keyed(value, rows)
        if (kind == "number_value" and isinstance(distinct, NumberTexts)
                and inverse is self._identity.get(len(rows))):
            exact, display = distinct.base(self.binary)
            return ['"type":"number","exact":"', exact, '","display":"', display, '"']
        return [self.texts(value, rows, kind)]

    def _fn(self, kind: str, wrap: bool) -> Callable[[Any], str]:
        formats, lang = self.formats, self.skel.lang

        def hole(value: Any) -> str:
            plain = formats.plain(value)
            if plain is None:
                raise NotColumnar("a value that is not shown in a formula")
            return _esc(plain[0] if plain[2] or not wrap else "(" + plain[0] + ")")

        def term(value: Any) -> str:
            plain = formats.plain(value)
            if plain is None:
                raise NotColumnar("a value that is not shown in a formula")
            return _esc(plain[0])

        def number_value(value: Any) -> str:
            if isinstance(value, Fraction):
                return formats.number_value(value)
            return _value_texts(value, lang)

        fns: dict[str, Callable[[Any], str]] = {
            "hole": hole, "term": term, "number_value": number_value, "bool": _bool,
            "number": formats.number, "equals": lambda v: _esc(formats.equals(v)),
            "total": lambda v: _esc(formats.total_text(v)),
        }
        return fns[kind]

    def layered(self, layers: list[tuple[Any, BoolArr | None]], rows: I64, wrap: bool,
                otherwise: Callable[[I64], Col]) -> list[Col]:
        """Texts from the first layer whose mask holds for the row, else ``otherwise``."""
        if not layers:
            return [otherwise(rows)]
        value, mask = layers[0]
        if value is MISSING:
            return self.layered(layers[1:], rows, wrap, otherwise)
        if mask is None:
            return self.split(value, rows, "hole", wrap)
        m = mask[rows]
        if m.all():
            return self.split(value, rows, "hole", wrap)
        if not m.any():
            return self.layered(layers[1:], rows, wrap, otherwise)
        rest = rows[~m]
        return [_merge(m, self.texts(value, rows[m], "hole", wrap),
                       _flatten(self.layered(layers[1:], rest, wrap, otherwise), len(rest), self.binary))]

    def split(self, value: CValue | Value, rows: I64, kind: str, wrap: bool = False) -> list[Col]:
        """A ``hole``, ``term`` or ``equals`` text of each row as slots. A column with texts made row by
        row gives its prefix (``≈`` where rounded) and the row's exact or display text (the
        objects the value's other slots hold, so a line's join finds them in the cache) as two
        slots: no text is made per row."""
        key = (id(value), id(rows), kind, wrap)
        hit = self._splits.get(key)
        if hit is not None:
            return hit
        distinct, inverse = self.keyed(value, rows)
        parts = None
        if isinstance(distinct, NumberTexts) and inverse is self._identity.get(len(rows)):
            parts = distinct.split(kind, wrap, self.binary)
        if parts is None:
            out: list[Col] = [self.texts(value, rows, kind, wrap)]
        else:
            prefix, index, texts = parts
            head: Col = prefix if index is None else _Spread(list(prefix), index)
            out = [head, texts] if head else [texts]
        self._splits[key] = out
        return out

    def sources(self, hole: Hole) -> list[tuple[Any, BoolArr | None]]:
        """Where a hole's value comes from, in the order :meth:`_Fill.value` looks."""
        run, kind = self.run, hole.kind
        if kind == "let":
            return [(run.lets.get(hole.name, MISSING), None)]
        if kind == "criterion":
            entry = run.crit.get(hole.name)
            return [(entry[0] if entry is not None else MISSING, None)]
        traced = run.traced(hole.node_id)
        layers: list[tuple[Any, BoolArr | None]] = [traced] if traced is not None else []
        if kind == "traced":
            return layers
        if kind == "input":
            layers.append((self.scalars.get(hole.name, MISSING), None))
        else:
            layers.append((self.skel.param(hole.name, self.day), None))
        return layers

    # ------------------------------------------------------------------ formulas

    def template(self, template: Template, rows: I64) -> list[Col]:
        """A formula with the rows' values put in, as escaped pieces."""
        if template.static is not None:
            return [_esc(template.static)]
        out: list[Col] = []
        for part in template.parts:
            if isinstance(part, str):
                out.append(_esc(part))
                continue
            fallback = part.fallback

            def otherwise(sub: I64, fb: Template = fallback) -> Col:
                return _flatten(self.template(fb, sub), len(sub), self.binary)

            out.extend(self.layered(self.sources(part), rows, part.wrap, otherwise))
        return out

    def equals(self, value: CValue, rows: I64) -> list[Col]:
        """`` = value`` of each row (:meth:`split`)."""
        return self.split(value, rows, "equals")

    # ------------------------------------------------------------------ parts of the line

    def node(self, skel: _NodeSkel, rows: I64, out: _Lines) -> None:
        run, formats = self.run, self.formats
        points, raw = run.crit[skel.name]
        out.add('{"id":' + skel.id + ',"kind":"' + self.kinds[skel.name] + '"' + skel.label)
        out.extend(self.number(points, rows))
        out.add(',"raw":')
        out.extend(self.number(raw, rows))
        out.add(',"max":' + skel.max_json + skel.formula)
        if skel.template is not None:
            out.add('"')
            out.extend(self.template(skel.template, rows))
            out.extend(self.equals(raw, rows))
            out.add('"')
        elif skel.terms:
            out.add('"')
            for op, name in skel.terms:
                out.add(_esc(op))
                out.extend(self.split(run.crit[name][0], rows, "term"))
            out.extend(self.equals(raw, rows))
            out.add('"')
        else:
            out.add("null")
        out.add(skel.cite)
        out.add(self._capped(points, raw, rows, skel))
        for i, child in enumerate(skel.children):
            if i:
                out.add(",")
            self.node(child, rows, out)
        out.add("]}")

    def _capped(self, points: Num, raw: Num, rows: I64, skel: _NodeSkel) -> Col:
        """``"capped":`` onwards: false where the raw points are the points, else the note."""
        lang, display = self.skel.lang, self.formats.display
        plain = 'false,"note":null,"children":['
        pts, ip = self.keyed(points, rows)
        raws, ir = self.keyed(raw, rows)
        if not isinstance(pts, NumberTexts) or not isinstance(raws, NumberTexts):
            raise NotColumnar("points that are not numbers")
        size = len(rows)
        ipa = ip if ip is not None else np.zeros(size, dtype=np.intp)
        ira = ir if ir is not None else np.zeros(size, dtype=np.intp)
        # Both reduced: equal values have equal numerators and denominators.
        capped = (pts.n[ipa] != raws.n[ira]) | (pts.d[ipa] != raws.d[ira])
        if not capped.any():
            return plain
        maximum = format_exact(skel.max)
        which = ira[capped]
        table = np.empty(len(raws.n), dtype=object)
        for k in np.unique(which).tolist():
            r = raws.fraction(k)
            shown = display(r)
            text = (message("points.floored", lang, raw=shown) if r < 0
                    else message("points.capped", lang, max=maximum, raw=shown))
            table[k] = 'true,"note":' + _js(text) + ',"children":['
        out = np.full(size, plain, dtype=object)
        out[capped] = table[which]
        texts: list[str] = out.tolist()
        return texts

    def values(self, rows: I64, out: _Lines) -> None:
        skel, formats, lang, run = self.skel, self.formats, self.skel.lang, self.run
        out.add("[")
        first = True

        if any(name not in skel.lets for name in run.lets):
            raise NotColumnar("a value the rule set does not declare")
        for name in skel.let_order:
            value = run.lets.get(name)
            if value is None:
                continue
            if not first:
                out.add(",")
            first = False
            let = skel.lets[name]
            out.add(let.head)
            out.extend(self.number(value, rows, "number_value"))
            out.add(let.tail + '"')
            out.extend(self.template(let.template, rows))
            out.extend(self.equals(value, rows))
            out.add('"' + let.cite)
        out.add("]")


def column_lines(skel: ExplanationSkeleton, run: ColumnarRun, scalars: dict[str, CValue], ids: Sequence[str],
                 names: Sequence[str | None], periods: Sequence[str | None], rows: I64) -> Iterator[str]:
    """The explanation lines (each ending with ``\\n``) of ``rows`` of ``run``, without the
    next-level advice: the bytes of ``explanation_json(result, plan, lang, record=record,
    advice=False) + "\\n"`` for each row's ``Result`` and record. The slots are filled at
    once (raising :class:`NotColumnar` here); each line is joined when it is asked for."""
    return _line_slots(skel, run, scalars, ids, names, periods, rows, False).iter_join(len(rows))


def column_lines_bytes(skel: ExplanationSkeleton, run: ColumnarRun, scalars: dict[str, CValue],
                       ids: Sequence[str], names: Sequence[str | None], periods: Sequence[str | None],
                       rows: I64) -> Iterator[bytes]:
    """:func:`column_lines` UTF-8 encoded (what a file of JSON lines holds)."""
    return _line_slots(skel, run, scalars, ids, names, periods, rows, True).iter_join(len(rows))


def _subjects(ids: Sequence[str], names: Sequence[str | None], periods: Sequence[str | None],
              rowlist: list[int], binary: bool) -> list[Col]:
    """The ``subject`` object of each row: its id (ids are text, batch.py), then its name and
    period (a text per distinct pair)."""
    if not rowlist:
        return []
    first, size = rowlist[0], len(rowlist)
    if rowlist == list(range(first, first + size)):  # consecutive rows: slices
        ids_, names_, periods_ = list(ids[first:first + size]), names[first:first + size], periods[first:first + size]
    else:
        ids_, names_, periods_ = [ids[r] for r in rowlist], [names[r] for r in rowlist], [periods[r] for r in rowlist]
    text = "".join(ids_)
    if encode_basestring(text) == '"' + text + '"':  # nothing to escape (so no line break): one split
        head: list[Col] = ['{"id":"', "\n".join(ids_).encode().split(b"\n") if binary else ids_, '"']
    else:
        head = ['{"id":', [encode_basestring(i) for i in ids_]]
    if names_.count(names_[0]) == size and periods_.count(periods_[0]) == size:  # one name and period
        return [*head, ',"name":' + _js(names_[0]) + ',"period":' + _js(periods_[0]) + "}"]
    pairs = list(zip(names_, periods_))
    tails = {key: ',"name":' + _js(key[0]) + ',"period":' + _js(key[1]) + "}" for key in dict.fromkeys(pairs)}
    if len(tails) == 1:
        return [*head, next(iter(tails.values()))]
    if binary:
        encoded = {key: tail.encode() for key, tail in tails.items()}
        return [*head, list(map(encoded.__getitem__, pairs))]
    return [*head, list(map(tails.__getitem__, pairs))]


def _line_slots(skel: ExplanationSkeleton, run: ColumnarRun, scalars: dict[str, CValue], ids: Sequence[str],
                names: Sequence[str | None], periods: Sequence[str | None], rows: I64, binary: bool) -> _Lines:
    f = _Filler(skel, run, scalars, binary)
    ruleset = skel.ruleset
    size = len(rows)
    rowlist: list[int] = rows.tolist()
    out = _Lines(size, binary)
    decision = _DecisionCols(f, rows) if run.rating is not None and ruleset.rating is not None else None
    for i, name in enumerate(skel.fields):
        out.add(('{"' if i == 0 else ',"') + name + '":')
        if name == "subject":
            out.extend(_subjects(ids, names, periods, rowlist, binary))
        elif name == "lang":
            out.add(skel.lang_json)
        elif name == "status":
            out.add('"rated"')
        elif name == "status_text":
            out.add(skel.status_text["rated"])
        elif name == "total":
            if skel.criteria is None:
                raise NotColumnar("no criteria")
            out.extend(f.number(run.crit[skel.criteria.name][0], rows))
        elif name == "max":
            out.add(skel.max_json)
        elif name == "level":
            out.add(decision.level_ref() if decision is not None else "null")
        elif name == "criteria":
            if skel.criteria is None:
                raise NotColumnar("no criteria")
            f.node(skel.criteria, rows, out)
        elif name == "values":
            f.values(rows, out)
        elif name == "decision":
            if decision is None:
                out.add("null")
            else:
                decision.write(out)
        elif name in ("insufficient", "periods", "next_level", "change"):
            out.add("null")
        elif name == "provenance":
            out.add(skel.provenance_json(run.prog.plan.provenance))
        elif name == "related":
            out.add("[]")
        else:
            out.add(skel.defaults[name])
    out.add("}\n")
    return out


class _DecisionCols:
    """The level decision of each row: a small table of choices indexed by a per-row key."""

    def __init__(self, f: _Filler, rows: I64) -> None:
        self.f, self.rows = f, rows
        r = f.run.rating
        rating = f.skel.ruleset.rating
        assert r is not None and rating is not None
        self.r, self.rating = r, rating
        names = r.names
        count = len(names)
        key = (r.band[rows] * count + r.level[rows]) * len(REASONS) + r.reason[rows]
        for fired in r.fired:
            key = key * 2 + fired[rows].astype(np.int64)
        uniq, first, self.inverse = np.unique(key, return_index=True, return_inverse=True)
        self.decisions: list[LevelDecision] = []
        for j in first.tolist():
            row = int(rows[j])
            band, level, reason = int(r.band[row]), int(r.level[row]), REASONS[int(r.reason[row])]
            dqs = tuple(DisqualifierResult(d.name, bool(r.fired[k][row]), d.target or names[-1])
                        for k, d in enumerate(rating.disqualifiers))
            passed = tuple(names[band:level]) if reason == "fallthrough" else ()
            self.decisions.append(LevelDecision(band_level=names[band], level=names[level], reason=reason,
                                                conditions=(), disqualifiers=dqs, passed_over=passed))

    def table(self, texts: list[str]) -> Col:
        return _spread(texts, self.inverse)

    def level_ref(self) -> Col:
        return self.table([self.f.skel.ref(d.level) for d in self.decisions])

    def write(self, out: _Lines) -> None:
        f, skel, rows, r = self.f, self.f.skel, self.rows, self.r
        decisions = self.decisions
        out.add(self.table(['{"band":' + skel.band(d.band_level) + ',"level":' + skel.ref(d.level)
                            + ',"reason":"' + d.reason + '","reason_text":"' for d in decisions]))
        frags: list[list[Any]] = []
        for d in decisions:
            reason = skel.reason(d)
            if reason is None:
                raise NotColumnar("a reason the skeleton does not split")
            frags.append([_esc(p).encode() if f.binary else _esc(p) for p in reason])
        if skel.criteria is None:
            raise NotColumnar("no criteria")
        total = f.texts(f.run.crit[skel.criteria.name][0], rows, "total")
        if all(len(parts) == 2 for parts in frags):  # the total once in each sentence: three slots
            out.add(self.table([parts[0] for parts in frags]))
            out.add(total)
            out.add(self.table([parts[1] for parts in frags]))
        else:
            totals = _rows(total, len(rows))
            out.add([t.join(frags[k]) for t, k in zip(totals, self.inverse.tolist())])
        out.add(self.table(['","cite":' + skel.level_cite(d.level) + ',"conditions":[' for d in decisions]))
        self._conditions(out)
        out.add('],"disqualifiers":[')
        for k, decl in enumerate(self.rating.disqualifiers):
            if k:
                out.add(",")
            dq = skel.disqualifiers.get(decl.name)
            if dq is None or dq.template is None:
                raise NotColumnar("a disqualifier without a formula")
            fired = r.fired[k]
            out.add(dq.head)
            out.add(f.texts(fired, rows, "bool"))
            out.add(',"target":' + skel.ref(decl.target or r.names[-1]) + dq.tail + '"')
            out.extend(f.template(dq.template, rows))
            out.extend(f.equals(fired, rows))
            out.add('"' + dq.cite)
        out.add(self.table(['],"passed_over":[' + ",".join(skel.ref(n) for n in d.passed_over)
                            + '],"override":null,"cohort":null}' for d in decisions]))

    def _conditions(self, out: _Lines) -> None:
        f, skel, rows, r = self.f, self.f.skel, self.rows, self.r
        entries: list[tuple[BoolArr, Col]] = []
        for j, lv in enumerate(self.rating.levels):
            if not lv.conditions:
                continue
            evaluated = r.evaluated[j][rows]
            if not evaluated.any():
                continue
            for k, c in enumerate(lv.conditions):
                cond = skel.conditions.get((lv.name, c.name))
                if cond is None or cond.template is None:
                    raise NotColumnar("a condition without a formula")
                met = r.conditions[j][k]
                entry = _Lines(len(rows), f.binary)
                entry.add('{"level":' + skel.ref(lv.name) + cond.head)
                entry.add(f.texts(met, rows, "bool"))
                entry.add(cond.tail + '"')
                entry.extend(f.template(cond.template, rows))
                entry.extend(f.equals(met, rows))
                entry.add('"' + cond.cite)
                entries.append((evaluated, _flatten(entry.cols, len(rows), f.binary)))
        if not entries:
            return
        size = len(rows)
        per_row: list[list[Any]] = [[] for _ in range(size)]
        for evaluated, col in entries:
            texts = _rows(col, size)
            for i in np.flatnonzero(evaluated).tolist():
                per_row[i].append(texts[i])
        comma = b"," if f.binary else ","
        out.add([comma.join(parts) for parts in per_row])
