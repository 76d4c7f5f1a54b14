"""Year explanation lines written in blocks from the year columns (:mod:`kpi_rules.year_columns`).

Input: the rows ``start:stop`` of a :class:`~kpi_rules.year_columns.YearResults` (a columnar
province run's years, after the quota), their plans and the language. Output: the bytes
:func:`~kpi_rules.explain_plan.explanation_json` gives for each row's ``Result`` (one JSON line
each), without building that ``Result``.

How: a year has no record, so a line is the same text for every row but for the subject, the
total, the decision and the combined periods. The decision (with the fields around it: the level,
criteria, values, the head of the periods) is made once per distinct decision by the explainer's
own ``_decision_json`` with *marker* values for what a row changes (the total; for a quota
decision the group, N, k and the rank) and cut at the markers. A line is then one ``%`` format per
*shape* (decision, span, and per period: not worked, nothing assigned, rated with a total whose
decimal form terminates or not), built from those pieces and the texts ``periods_json`` writes,
and filled with the row's values, made for a block of rows at once: the totals by
:class:`~kpi_rules.explain_numbers.NumberTexts` (a Number, the reason sentence's text, `` = …``),
the periods' totals displayed by it and written exactly as ``n/d`` by the format itself. A year
with no rated period reuses the line of the first year of its span and period statuses.

Rows the columns cannot carry go through ``explanation_json`` on the built ``Result``: a year
combined by ``combine_periods`` (``results[y]`` set), a total beyond int64, a decision with an
override or a reason sentence the skeleton does not split. The first row of every shape is also
written that way and compared: a shape that would differ is dropped and its rows take the slow
way (``tests/test_year_lines.py`` compares every line of generated provinces).
"""

from __future__ import annotations

import dataclasses
import operator
import re
from collections.abc import Mapping
from fractions import Fraction
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from kpi_rules.explain_formulas import MAX_FORMULA_DECIMALS, exact_text
from kpi_rules.explain_numbers import NumberTexts
from kpi_rules.explain_columns import _esc
from kpi_rules.explain_parts import _js
from kpi_rules.explain_parts import _texts as _period_texts
from kpi_rules.explain_plan import _decision_json, _Fill, explanation_json, skeleton_for
from kpi_rules.results import CohortDecision, LevelDecision

if TYPE_CHECKING:
    from kpi_rules.plan import Plan
    from kpi_rules.year_columns import YearResults, _RoleYears

__all__ = ["YearLineCache", "write_year_rows"]

_NO, _INSUFFICIENT, _RATED = 0, 1, 2
#: A rated period in a line's code: its total's decimal form does not terminate, or does.
_FRACTION, _DECIMAL = 2, 3
#: Rows formatted together.
BLOCK = 1024

#: Marker values of a decision template (big numbers and private-use characters no real value
#: writes; a template is checked against a real row before use).
_TOTAL_MARK = Fraction(9137000000000004)
_ELIGIBLE_MARK, _ALLOWED_MARK, _RANK_MARK = 9137000000000001, 9137000000000002, 9137000000000003
_GROUP_MARK = (("\ue000g", "g\ue001"),)
#: Holes of a template: what a row puts there.
_H_TOTAL, _H_GROUP, _H_ELIGIBLE, _H_ALLOWED, _H_RANK = range(5)
#: The cohort fields a quota template varies by (all but those a row fills, and the rate: a
#: ``Fraction``, slow to hash, coded apart by identity).
_COHORT_KEY = operator.attrgetter(*(f.name for f in dataclasses.fields(CohortDecision)
                                    if f.name not in ("group", "eligible", "allowed", "rank", "percent")))

#: Per process: the writers of each (table, language) and whether their layout holds.
YearLineCache = dict[tuple[int, str], "_TableLines"]


class _Template:
    """Static pieces (UTF-8) of a decision's text and the holes between them."""

    __slots__ = ("statics", "holes", "single")

    def __init__(self, statics: list[bytes], holes: list[int]) -> None:
        self.statics, self.holes = statics, holes
        #: One hole, the total (a row's values go in as they are).
        self.single = holes == [_H_TOTAL]


#: A shape whose first line differed from the slow way's.
_BAD = b""


class _TableLines:
    """Writes the lines of one role's years in one language."""

    def __init__(self, years: YearResults, table: _RoleYears, plan: Plan, lang: str) -> None:
        self.years, self.table, self.plan, self.lang = years, table, plan, lang
        skel = self.skel = skeleton_for(plan, lang)
        self.formats = skel.formats
        self.ok = table.plan is plan and skel.fields[:1] == ("subject",)
        self.templates: dict[object, _Template | None] = {}
        self.tails: dict[tuple[str, tuple[int, ...]], bytes | None] = {}
        #: The ``%`` format of a line per (decision template, span, period statuses), and those
        #: checked against the slow way (``_BAD``: it differed; its rows take the slow way).
        self.shapes: dict[tuple[object, str, int], bytes] = {}
        self.checked: set[tuple[object, str, int]] = set()
        self.probed: set[object] = set()
        #: A small code of each rate of the quota (by value), and of each rate object seen (by
        #: identity, kept alive here).
        self.rate_codes: dict[object, int] = {}
        self.rates: dict[int, tuple[object, int]] = {}
        self.spans: dict[str, Any] = {}
        self._groups: dict[tuple[tuple[str, str], ...], bytes] = {}
        self._counts: dict[tuple[tuple[str, int], ...], bytes] = {}
        #: Rows written from the columns, and years with no rated period written from a cached line.
        self.filled = self.empty_rows = 0
        # The line around its holes: subject, total, (level, decision: the template), periods.
        statics: list[str] = []
        holes: list[str] = []
        text: list[str] = ["{"]
        for i, name in enumerate(skel.fields):
            text.append(('"' if i == 0 else ',"') + name + '":')
            if name in ("subject", "total", "level", "decision", "periods"):
                statics.append("".join(text))
                holes.append(name)
                text = []
            elif name == "lang":
                text.append(skel.lang_json)
            elif name == "status":
                text.append('"rated"')
            elif name == "status_text":
                text.append(skel.status_text["rated"])
            elif name == "max":
                text.append(skel.max_json)
            elif name in ("criteria", "insufficient", "next_level", "change"):
                text.append("null")
            elif name in ("values", "related"):
                text.append("[]")
            elif name == "provenance":
                text.append(skel.provenance_json(plan.provenance))
            else:
                text.append(skel.defaults[name])
        text.append("}\n")
        statics.append("".join(text))
        self.ok = self.ok and holes == ["subject", "total", "level", "decision", "periods"]
        if not self.ok:
            return
        self.head = statics[0].encode()
        self.after_subject = statics[1].encode()
        #: Text from after the total to the level, between the level and the decision, and
        #: from after the decision to the periods: part of every decision template.
        self.before_level, self.before_decision, self.before_periods = statics[2], statics[3], statics[4]
        self.end = statics[5].encode()
        texts = _period_texts(skel)
        method = "rating_count" if table.method == "rating_count" else "mean"
        self.periods_head = '{"method":"' + method + '","method_text":' + texts[method] + ',"periods":['
        self.periods_end = ('],"cite":' + texts["cite"] + "}").encode() + self.end
        self.used_note = texts["used"]
        self.level_refs = [(',"level":' + skel.ref(name) + "}").encode() for name in table.levels]
        self.subject_head = b'{"id":'

    # ------------------------------------------------------------------ cached pieces

    def span(self, year: str) -> tuple[bytes, int, list[bytes], list[list[bytes]]]:
        """The span label (JSON), its number of periods, the text before a rated period's total
        and the whole text of a period not used, per slot and status."""
        found = self.spans.get(year)
        if found is None:
            label, labels = self.table._span(year)
            texts = _period_texts(self.skel)
            rated: list[bytes] = []
            others: list[list[bytes]] = []
            for j, use_label in enumerate(labels):
                start = ('{"period":' if j == 0 else ',{"period":') + encode_basestring(use_label)
                rated.append((start + ',"used":true,"status":"rated","note":' + self.used_note
                              + ',"total":').encode())
                row: list[bytes] = []
                for status in ("no_record", "insufficient_data"):
                    note = texts.get(status) or "null"
                    row.append((start + ',"used":false,"status":"' + status + '","note":' + note
                                + ',"total":null,"level":null}').encode())
                others.append(row)
            found = self.spans[year] = (_js(label).encode(), len(labels), rated, others)
        return found

    def rate(self, percent: object) -> int:
        found = self.rate_codes.get(percent)
        if found is None:
            found = self.rate_codes[percent] = len(self.rate_codes)
        return found

    def group(self, group: tuple[tuple[str, str], ...]) -> bytes:
        found = self._groups.get(group)
        if found is None:
            from kpi_rules.explain_parts import _group_text

            found = self._groups[group] = _esc(_group_text(group)).encode()
        return found

    def counts(self, counts: tuple[tuple[str, int], ...]) -> bytes:
        found = self._counts.get(counts)
        if found is None:
            ref = self.skel.ref
            found = self._counts[counts] = (',"counts":[' + ",".join("[" + ref(name) + "," + str(int(n)) + "]"
                                                                     for name, n in counts)).encode()
        return found

    def template(self, key: object, y: int, decision: LevelDecision) -> _Template | None:
        """The template of ``decision`` (with marker values), or None when it cannot be one."""
        if key in self.templates:
            return self.templates[key]
        skel = self.skel
        cohort = decision.cohort
        common = decision.override is None and (
            (decision.reason == "quota" and cohort is not None) or skel.reason(decision) is not None)
        template: _Template | None = None
        if common:
            marked = decision
            if cohort is not None:
                marked = dataclasses.replace(decision, cohort=dataclasses.replace(
                    cohort, group=_GROUP_MARK, eligible=_ELIGIBLE_MARK, allowed=_ALLOWED_MARK, rank=_RANK_MARK))
            out: list[str] = [self.before_level, skel.ref(decision.level), self.before_decision]
            _decision_json(_Fill(skel, self.table.result(y), None), marked, _TOTAL_MARK, out)
            out.append(self.before_periods)
            out.append(self.periods_head)
            template = _split("".join(out), skel.formats.total_text(_TOTAL_MARK))
        self.templates[key] = template
        return template

    def tail(self, i: int, y: int, year: str, statuses: tuple[int, ...], subject: bytes) -> bytes | None:
        """The line of a year with no rated period after its subject (the same for its span and
        statuses)."""
        key = (year, statuses)
        if key in self.tails:
            return self.tails[key]
        line = self.slow(i)
        start = self.head + subject
        found = self.tails[key] = line[len(start):] if line.startswith(start) else None
        return found

    # ------------------------------------------------------------------ writing

    def write(self, out: BinaryIO, first: int, a: int, b: int) -> int:
        """Rows ``a:b`` of the table (``first``: the table's first row in the years)."""
        for start in range(a, b, BLOCK):
            out.write(b"".join(self.block(first, start, min(b, start + BLOCK))))
        return b - a

    def slow(self, i: int) -> bytes:
        return (explanation_json(self.years.row(i), self.plan, self.lang, advice=False) + "\n").encode()

    def block(self, first: int, a: int, b: int) -> list[bytes]:
        """The lines of rows ``a:b`` of the table.

        A line is a ``%`` format per shape (decision template, span, period statuses) filled with
        the row's values: those before the decision (subject, name, total), the decision's holes,
        and those after it (each period's total and level, each term of the formula, `` = total``,
        the counts), the last as one list per row made by numpy for the whole block (a period
        not used gets empty values its shape writes with ``%.0s``)."""
        table, years = self.table, self.years
        if not self.ok:
            return [self.slow(first + y) for y in range(a, b)]
        ranked = years.ranked
        results, big, decisions = table.results, table.big, table.decision
        count = table.count[a:b].tolist()
        ys = range(a, b)
        fast = [results[y] is None and c > 0 and decisions[y] is not None and y not in big
                for y, c in zip(ys, count)]
        rows = np.array([y for y, f in zip(ys, fast) if f], np.int64)
        if not len(rows):
            return [self.other(first + y, y, count[y - a]) for y in ys]
        values, codes, decimals = self.columns(rows)
        year_of = table.years
        shapes, checked, templates, rates = self.shapes, self.checked, self.templates, self.rates
        lines: list[bytes] = []
        append = lines.append
        k = filled = 0
        for y, is_fast in zip(ys, fast):
            i = first + y
            if not is_fast:
                append(self.other(i, y, count[y - a]))
                continue
            decision = decisions[y]
            assert decision is not None
            got = ranked.get(i)
            if got is None:
                key: object = id(decision)
                template = templates[key] if key in templates else self.template(key, y, decision)
            else:
                level, reason, cohort = got
                percent = rates.get(id(cohort.percent))
                if percent is None or percent[0] is not cohort.percent:
                    percent = rates[id(cohort.percent)] = (cohort.percent, self.rate(cohort.percent))
                key = (id(decision), level, reason, percent[1], _COHORT_KEY(cohort))
                if key in templates:
                    template = templates[key]
                else:  # the decision as YearResults.row makes it
                    template = self.template(key, y, LevelDecision(
                        decision.band_level, level, reason, decision.conditions, decision.disqualifiers,
                        decision.passed_over, decision.override, cohort, decision.all_conditions))
            if template is None:
                append(self.slow(i))
                k += 1
                continue
            year = year_of[y]
            code, decimal = codes[k], decimals[k]
            where = (key, year, code)
            shape = shapes.get(where)
            if shape is None:
                shape = shapes[where] = self.shape(template, year, code)
            if not shape or not self.ok:
                append(self.slow(i))
                k += 1
                continue
            row = values[k]
            if got is None:
                line = shape % row if template.single else \
                    shape % (*row[:3], *([row[3]] * len(template.holes)), *row[4:])
            else:
                filling = (row[3], self.group(cohort.group), cohort.eligible, cohort.allowed, cohort.rank)
                line = shape % (*row[:3], *[filling[h] for h in template.holes], *row[4:])
            k += 1
            if where not in checked:  # a first row is also written the slow way (see check)
                checked.add(where)
                if not self.check(line, i, (key, year, code - decimal), (year, decimal)):
                    shapes[where] = _BAD
                    append(self.slow(i))
                    continue
            append(line)
            filled += 1
        self.filled += filled
        return lines

    def columns(self, rows: np.ndarray[Any, Any]) -> tuple[list[tuple[Any, ...]], list[int], list[int]]:
        """The values of each of ``rows``: its subject, name, total (a Number), the total of the
        reason sentence, then those after the decision (:meth:`periods`); and the codes of its
        periods."""
        table = self.table
        subjects = table.subjects
        totals = NumberTexts(table.num[rows], table.den[rows], self.formats)
        values, codes, decimals = self.periods(rows, 4)
        values[:, 0] = _objects([b"null" if x is None else encode_basestring(x).encode()
                                 for x in [subjects[y] for y in rows.tolist()]])
        values[:, 1] = _objects([b"null" if x is None else encode_basestring(x).encode() for x in self.names(rows)])
        values[:, 2] = _objects(totals.number(True))
        values[:, 3] = _objects(totals.total(True))
        values[:, -2] = _objects(totals.equals(True))
        combination = table.combination
        no_counts = self.counts(())
        values[:, -1] = _objects([self.counts(c) if c else no_counts
                                  for c in [combination[y][0] for y in rows.tolist()]])
        return list(map(tuple, values.tolist())), codes.tolist(), decimals.tolist()

    def periods(self, rows: np.ndarray[Any, Any], lead: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any],
                                                                      np.ndarray[Any, Any]]:
        """The values of the periods of ``rows`` after ``lead`` columns left empty: per slot four (a rated period's total as
        ``n``, ``d``, the displayed text, then its level's JSON), then per slot the formula's
        term, then two left for `` = total`` and the counts; and a code of each row's slots
        (per slot: not worked, nothing assigned, a total whose decimal form does not terminate,
        one that does: ``Σ state·4^slot``), and the part of the code the latter add.
        ``NumberTexts`` rounds; the exact text ``n/d`` is written by the format."""
        table = self.table
        status = table.status[rows]
        rated = status == _RATED
        size, width = status.shape
        n, d = table.n[rows][rated], table.d[rows][rated]
        g = np.gcd(n, d)
        g[g == 0] = 1
        n, d = n // g, d // g
        texts = NumberTexts(n, d, self.formats)
        display = _objects(_ascii(texts.display))
        places = texts.places
        fraction = places < 0
        numerators, denominators = n.astype(object), d.astype(object)
        terms = display.copy()
        if not fraction.all():  # exact decimals: their text, and shown as it is in a formula
            plain = np.flatnonzero(~fraction)  # (few: written one by one)
            exact = [exact_text(a, b).encode() for a, b in zip(n[plain].tolist(), d[plain].tolist())]
            numerators[plain] = _objects(exact)
            denominators[plain] = b""
            long = (places[plain] > MAX_FORMULA_DECIMALS).tolist()
            terms[plain] = _objects([_APPROX + shown if over else text
                                     for text, shown, over in zip(exact, display[plain].tolist(), long)])
        back = np.full((size, lead + 5 * width + 2), b"", object)
        slot = np.full((size, width), b"", object)
        for column, values in enumerate((numerators, denominators, display)):
            slot[rated] = values
            back[:, lead + column:lead + 4 * width:4] = slot
        back[:, lead + 3:lead + 4 * width:4] = _objects([*self.level_refs, b""])[np.where(rated, table.level[rows], -1)]
        slot[rated] = terms
        back[:, lead + 4 * width:lead + 5 * width] = slot
        state = status.copy()
        state[rated] = np.where(fraction, _FRACTION, _DECIMAL)
        powers = 4 ** np.arange(width, dtype=np.int64)
        return back, (state * powers).sum(axis=1), ((state == _DECIMAL) * powers).sum(axis=1)

    def check(self, line: bytes, i: int, statuses: object, decimals: tuple[str, int]) -> bool:
        """Whether ``line`` is the slow way's, for the first row of a decision, span and period
        statuses, and the first of a span with exact decimal totals in some places (every shape
        would be a slow line for each of a few hundred shapes). A difference (a bug) sends every
        later row of the table the slow way."""
        probed = self.probed
        if statuses in probed and (not decimals[1] or decimals in probed):
            return True
        probed.add(statuses)
        probed.add(decimals)
        if line == self.slow(i):
            return True
        self.ok = False
        return False

    def shape(self, template: _Template, year: str, code: int) -> bytes:
        """The line of rows of one decision template, span and code of their periods (see
        :meth:`periods`) as a ``%`` format (see :meth:`block` for the values it takes)."""
        label, size, rated_start, others = self.span(year)
        width = self.table.status.shape[1]
        out = [self.head + self.subject_head, b"%s", b',"name":', b"%s", b',"period":' + label + b"}",
               self.after_subject, b"%s", template.statics[0].replace(b"%", b"%%")]
        for hole, static in zip(template.holes, template.statics[1:]):
            out.append(b"%s" if hole in (_H_TOTAL, _H_GROUP) else b"%d")  # (N, k and the rank as int)
            out.append(static.replace(b"%", b"%%"))
        terms: list[bytes] = []
        used = 0
        for j in range(width):
            state = code // 4**j % 4
            if j >= size:
                out.append(b"%.0s%.0s%.0s%.0s")
                terms.append(b"%.0s")
            elif state in (_FRACTION, _DECIMAL):
                number = b'{"exact":"%d/%d","display":"%s"}' if state == _FRACTION \
                    else b'{"exact":"%s%.0s","display":"%s"}'
                out.append(rated_start[j].replace(b"%", b"%%") + number + b"%s")
                terms.append((b" + " if used else b"") + (_APPROX + b"%s" if state == _FRACTION else b"%s"))
                used += 1
            else:
                out.append(others[j][state].replace(b"%", b"%%") + b"%.0s%.0s%.0s%.0s")
                terms.append(b"%.0s")
        out.append(b'],"formula_with_values":"(' + b"".join(terms) + b") / " + str(used).encode()
                   + b'%s"%s' + self.periods_end.replace(b"%", b"%%"))
        return b"".join(out)

    def other(self, i: int, y: int, rated: int) -> bytes:
        """The line of a row that is not rated from the columns."""
        if self.table.results[y] is None and not rated:
            line = self.empty(i, y)
            if line is not None:
                self.empty_rows += 1
                return line
        return self.slow(i)

    def empty(self, i: int, y: int) -> bytes | None:
        """The line of a year with no rated period, from the line of its span and statuses."""
        table = self.table
        year = table.years[y]
        size = self.span(year)[1]
        statuses = tuple(table.status[y, :size].tolist())
        subject = self.subject(y)
        rest = self.tail(i, y, year, statuses, subject)
        return None if rest is None else self.head + subject + rest

    def subject(self, y: int) -> bytes:
        table = self.table
        return (self.subject_head + _js(table.subjects[y]).encode() + b',"name":'
                + _js(self.names(np.array([y]))[0]).encode()
                + b',"period":' + self.span(table.years[y])[0] + b"}")

    def names(self, rows: np.ndarray[Any, Any]) -> list[str | None]:
        """Each year's name: the first non-empty name of its periods (as ``YearResults`` does),
        read slot by slot for the rows still without one, a chunk's rows at a time."""
        table = self.table
        prow = table.prow[rows]
        here = prow >= 0
        safe = np.maximum(prow, 0)
        refs = np.where(here, table.ref_of[safe], -2)
        places = np.where(here, table.row_of[safe], -1)
        periods = table.rows
        out: list[str | None] = [None] * len(rows)
        pending = np.arange(len(rows))
        for j in range(prow.shape[1]):
            if not len(pending):
                break
            ref_j, place_j = refs[pending, j], places[pending, j]
            for ref in np.unique(ref_j).tolist():
                if ref == -2:
                    continue
                at = ref_j == ref
                where, which = pending[at].tolist(), place_j[at].tolist()
                if ref < 0:
                    got = [periods.name(ref, x) for x in which]
                else:
                    names = periods.names_of(ref)
                    got = [names[x] for x in which]
                for w, name in zip(where, got):
                    out[w] = name
            pending = np.array([w for w in pending.tolist() if not out[w]], np.int64)
        return [name or None for name in out]


_APPROX = "≈".encode()


def _objects(items: list[bytes]) -> np.ndarray[Any, Any]:
    """A list as a numpy object array (never made into a text array)."""
    out = np.empty(len(items), object)
    out[:] = items
    return out


def _ascii(texts: np.ndarray[Any, Any]) -> list[bytes]:
    """A numpy array of number texts as UTF-8 (they are ASCII: their code points narrowed to
    bytes in one step; numpy's own conversion to bytes costs several times more)."""
    texts = np.ascontiguousarray(texts)
    size = len(texts)
    if texts.dtype.kind == "S":
        out: list[bytes] = texts.tolist()
        return out
    width = texts.dtype.itemsize // 4
    if texts.dtype.kind == "U" and size and width:
        codes = texts.view(np.uint32)
        if int(codes.max()) < 128:
            out = codes.astype(np.uint8).view(f"S{width}").tolist()
            return out
    return [str(t).encode() for t in texts.tolist()]


def _split(text: str, total: str) -> _Template | None:
    """``text`` cut at the marker values (None: a marker is not where a template can use it)."""
    marks = {total: _H_TOTAL, "\ue000g = g\ue001": _H_GROUP, str(_ELIGIBLE_MARK): _H_ELIGIBLE,
             str(_ALLOWED_MARK): _H_ALLOWED, str(_RANK_MARK): _H_RANK}
    pattern = "|".join(re.escape(m) for m in sorted(marks, key=len, reverse=True))
    pieces = re.split("(" + pattern + ")", text)
    statics = [p.encode() for p in pieces[0::2]]
    holes = [marks[p] for p in pieces[1::2]]
    if any("\ue000" in p or "\ue001" in p or "9137000000000" in p for p in pieces[0::2]):
        return None
    return _Template(statics, holes)


def write_year_rows(out: BinaryIO, years: YearResults, plans: Mapping[str, Plan], lang: str, start: int,
                    stop: int, cache: YearLineCache | None = None) -> int:
    """The lines of year rows ``start:stop`` (in ``years``' order) as UTF-8 bytes; returns how many.
    ``cache``: the writers of the tables, kept across calls of one process."""
    if cache is None:
        cache = {}
    count = 0
    for table, (first, end, role) in zip(years.tables, years.spans):
        a, b = max(start, first), min(stop, end)
        if a >= b:
            continue
        key = (id(table), lang)
        writer = cache.get(key)
        if writer is None or writer.table is not table:
            writer = cache[key] = _TableLines(years, table, plans[role], lang)
        count += writer.write(out, first, a - first, b - first)
    return count

