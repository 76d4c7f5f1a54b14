"""Every number shown in the Markdown, HTML and plain-text explanation equals the evaluated value.

The numbers are parsed back out of each rendered form, by criterion number and label, value
label or criterion id, and compared with the :class:`~kpi_rules.results.Result` (never with the
``Explanation`` the forms were made from): exactly where the form shows the exact value (the
``= value`` after a formula, maxima), and after the rule set's declared display rounding where
it shows a rounded one (points, totals, values, ``≈``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from fractions import Fraction
from html.parser import HTMLParser
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpi_rules import nodes
from kpi_rules.change import Previous
from kpi_rules.evaluator import evaluate_record
from kpi_rules.explainer import explain
from kpi_rules.i18n import message
from kpi_rules.models import Explanation
from kpi_rules.records import coerce_record
from kpi_rules.render import explanation_text
from kpi_rules.reporting.render import explanation_html, explanation_markdown, md_escape
from kpi_rules.results import CriterionResult, Result
from kpi_rules.testing import records
from kpi_rules.trace import FullTracer
from kpi_rules.values import round_fraction

from plan_helpers import individual_plan

PLAN = individual_plan()
RULESET = PLAN.checked.ruleset
DECIMALS, MODE = RULESET.display.decimals, RULESET.display.mode
LEVELS = {lv.name: lv for lv in RULESET.rating.levels}  # type: ignore[union-attr]
LETS = {let.name: let for let in RULESET.lets}


def _number(text: str) -> Fraction:
    return Fraction(text.strip().replace("−", "-").lstrip("+≈"))


def _shown(text: str, value: Fraction) -> None:
    """A rounded number: the display rounding of the evaluated value."""
    assert _number(text) == round_fraction(value, DECIMALS, MODE), (text, value)


def _after_formula(text: str, value: Fraction) -> None:
    """The value after a formula: exact after ``=``, rounded after ``≈``."""
    for sep in (" ≈ ", " = "):
        left, found, right = text.rpartition(sep)
        if found:
            shown = right.split(" ")[0]
            if sep == " ≈ ":
                _shown(shown, value)
            else:
                assert _number(shown) == value, (text, value)
            return
    raise AssertionError(f"no value after the formula: {text}")


# --------------------------------------------------------------------------- expected, from the Result


@dataclasses.dataclass(frozen=True)
class Row:
    number: str
    id: str
    label: str
    result: CriterionResult


def _decls() -> dict[str, nodes.CriteriaTree | nodes.CriteriaItem]:
    out: dict[str, nodes.CriteriaTree | nodes.CriteriaItem] = {}

    def walk(node: nodes.CriteriaTree | nodes.CriteriaItem) -> None:
        out[node.name] = node
        if not isinstance(node, nodes.Criterion):
            for child in node.children:
                walk(child)

    assert RULESET.criteria is not None
    walk(RULESET.criteria)
    return out


DECLS = _decls()


def _rows(result: Result, lang: str) -> list[Row]:
    """The criteria tree of the result in the order of the tables: depth first, numbered, the total last."""
    assert result.criteria is not None
    out: list[Row] = []

    def walk(node: CriterionResult, number: str) -> None:
        out.append(Row(number, node.name, DECLS[node.name].label.get(lang), node))
        for i, child in enumerate(node.children, 1):
            walk(child, f"{number}.{i}")

    for i, child in enumerate(result.criteria.children, 1):
        walk(child, str(i))
    out.append(Row("", result.criteria.name, DECLS[result.criteria.name].label.get(lang), result.criteria))
    return out


def _numeric_values(result: Result, lang: str) -> list[tuple[str, str, Fraction]]:
    """(id, label, value) of every numeric let, in the explanation's order (evaluation order)."""
    order = [s.name for s in PLAN.steps if s.kind == "let"]
    out = []
    for name in order:
        value = result.values.get(name)
        if isinstance(value, Fraction) and not isinstance(value, bool):
            let = LETS[name]
            out.append((name, let.label.get(lang) if let.label else name, value))
    return out


# --------------------------------------------------------------------------- Markdown


def _md_cells(line: str) -> list[str]:
    """Cells of a Markdown table row (a ``|`` escaped as ``\\|`` stays in its cell)."""
    inner = line.strip()[1:-1]
    return [c.strip() for c in re.split(r"(?<!\\) \| ", " " + inner + " ")]


def _md_section(text: str, heading: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("## " + md_escape(heading)))
    out = []
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        out.append(line)
    return out


def _md_table(text: str, heading: str) -> list[list[str]]:
    rows = [line for line in _md_section(text, heading) if line.startswith("|")]
    return [_md_cells(r) for r in rows[2:]]  # header and alignment rows


def _check_markdown(text: str, result: Result, lang: str) -> None:
    assert result.total is not None
    total = re.search(r"\*\*" + re.escape(md_escape(message("heading.total", lang))) + r":\*\* ([0-9.]+)/([0-9.]+)", text)
    assert total is not None
    _shown(total.group(1), result.total)
    assert _number(total.group(2)) == RULESET.criteria.max  # type: ignore[union-attr]
    table = _md_table(text, message("heading.criteria", lang))
    expected = _rows(result, lang)
    assert len(table) == len(expected)
    for cells, row in zip(table, expected):
        number, label, maximum, points, formula = cells[:5]
        assert number == row.number
        assert label.replace("**", "").split(" (")[0] == md_escape(row.label).split(" (")[0]
        assert _number(maximum) == row.result.max
        _shown(points, row.result.points)
        _after_formula(formula, row.result.raw)
    values = _md_table(text, message("heading.values", lang))
    wanted = _numeric_values(result, lang)
    assert len(values) == len(wanted)
    for cells, (_, label, value) in zip(values, wanted):
        assert cells[0] == md_escape(label)
        _shown(cells[1], value)
        _after_formula(cells[2], value)


# --------------------------------------------------------------------------- HTML


class _Tables(HTMLParser):
    """Every table row's cells (the text before the first ``<br>`` of a cell, and all of it)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None
        self.row: list[str] | None = None
        self.broken = False
        self.paragraphs: list[str] = []
        self.para: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.row = []
        elif tag == "td" or tag == "th":
            self.cell, self.broken = [], False
        elif tag == "br" and self.cell is not None:
            self.broken = True
        elif tag == "p":
            self.para = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            if self.row and self.tables:
                self.tables[-1].append(self.row)
            self.row = None
        elif tag == "p" and self.para is not None:
            self.paragraphs.append("".join(self.para))
            self.para = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None and not self.broken:
            self.cell.append(data)
        if self.para is not None:
            self.para.append(data)


def _check_html(text: str, result: Result, lang: str) -> None:
    parser = _Tables()
    parser.feed(text)
    assert result.total is not None
    head = message("heading.total", lang) + ": "
    summary = next(p for p in parser.paragraphs if p.startswith(head))
    found = re.match(re.escape(head) + r"([0-9.]+)/([0-9.]+)", summary)
    assert found is not None
    _shown(found.group(1), result.total)
    criteria_table = next(t for t in parser.tables if t and t[0][0] == message("report.no", lang))
    expected = _rows(result, lang)
    body = criteria_table[1:]
    assert len(body) == len(expected)
    for cells, row in zip(body, expected):
        number, label, maximum, points, formula = cells[:5]
        assert number == row.number and label == row.label
        assert _number(maximum) == row.result.max
        _shown(points, row.result.points)
        _after_formula(formula, row.result.raw)
    values_table = next(t for t in parser.tables if t and t[0][0] == message("report.item", lang))
    wanted = _numeric_values(result, lang)
    assert len(values_table) - 1 == len(wanted)
    for cells, (_, label, value) in zip(values_table[1:], wanted):
        assert cells[0] == label
        _shown(cells[1], value)
        _after_formula(cells[2], value)


# --------------------------------------------------------------------------- plain text (rich tree)


def _check_text(text: str, result: Result, lang: str) -> None:
    assert result.total is not None
    lines = text.splitlines()
    head = re.search(re.escape(message("heading.total", lang)) + r": ([0-9.]+)/([0-9.]+)", text)
    assert head is not None
    _shown(head.group(1), result.total)
    by_id = {row.id: row for row in _rows(result, lang)}
    seen = set()
    for i, line in enumerate(lines):
        found = re.search(r"\[([a-z0-9_]+)\]: ([0-9.]+)/([0-9.]+)", line)
        if found is None or found.group(1) not in by_id:
            continue
        row = by_id[found.group(1)]
        seen.add(row.id)
        _shown(found.group(2), row.result.points)
        assert _number(found.group(3)) == row.result.max
        assert row.label in line
        # The next line is the formula: `name = value` in one line, or formula then values.
        formula = message("heading.formula", lang) + ": "
        with_values = message("heading.with_values", lang) + ": "
        nxt = lines[i + 1].split(formula, 1)[1]
        after = lines[i + 2] if with_values in lines[i + 2] else None
        _after_formula(after.split(with_values, 1)[1] if after is not None else nxt, row.result.raw)
    assert seen == set(by_id)
    for name, label, value in _numeric_values(result, lang):
        found = re.search(re.escape(f"{label} [{name}] = ") + r"([0-9.]+)", text)
        assert found is not None, name
        _shown(found.group(1), value)


# --------------------------------------------------------------------------- next level and change


def _check_next_level(text: str, result: Result, lang: str) -> None:
    """The points missing are the band's lower bound minus the total, rounded up (never fewer)."""
    if result.level is None or result.level == "excellent":
        return
    order = list(LEVELS)
    target = LEVELS[order[order.index(result.level) - 1]]
    assert target.lower is not None and result.total is not None
    missing = max(Fraction(0), target.lower - result.total)
    if missing == 0:
        return
    template = re.escape(message("advice.missing", lang, points="QPOINTSQ", lower="QLOWERQ", level="QLEVELQ"))
    pattern = (template.replace("QPOINTSQ", "(?P<p>[0-9.]+)").replace("QLOWERQ", "(?P<l>[0-9.]+)")
               .replace("QLEVELQ", ".+?"))
    found = re.search(pattern, text)
    assert found is not None
    assert _number(found.group("p")) == round_fraction(missing, DECIMALS, "up")
    assert _number(found.group("l")) == target.lower


def _points_of(result: Result) -> dict[str, Fraction]:
    out: dict[str, Fraction] = {}

    def walk(node: CriterionResult, sign: int) -> None:
        here = -sign if node.kind == "penalty" else sign
        if not node.children and node.kind == "criterion":
            out[node.name] = here * node.points
        for child in node.children:
            walk(child, here)

    if result.criteria is not None:
        walk(result.criteria, 1)
    return out


def _check_change(text: str, old: Result, new: Result) -> None:
    """``label [id]: before → after (delta)`` of every criterion whose points changed."""
    before, after = _points_of(old), _points_of(new)
    changed = {name for name in after if after[name] != before.get(name, Fraction(0))}
    seen = set()
    for found in re.finditer(r"\[([a-z0-9_]+)\]: ([0-9.]+) → ([0-9.]+) \(([+−]?[0-9.]+)\)", text):
        name = found.group(1)
        if name not in after:
            continue  # an input or an intermediate value
        seen.add(name)
        _shown(found.group(2), before[name])
        _shown(found.group(3), after[name])
        _shown(found.group(4), after[name] - before[name])
    assert seen == changed
    assert old.total is not None and new.total is not None
    total = re.search(r": ([0-9.]+) → ([0-9.]+) \(([+−]?[0-9.]+)\)\.", text)
    assert total is not None
    _shown(total.group(1), old.total)
    _shown(total.group(2), new.total)
    _shown(total.group(3), new.total - old.total)


# --------------------------------------------------------------------------- the property


def _forms(e: Explanation) -> Iterator[tuple[str, str]]:
    yield "md", explanation_markdown(e)
    yield "html", explanation_html(e)
    yield "text", explanation_text(e, width=2000)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records(PLAN), records(PLAN), st.sampled_from(["vi", "en"]))
def test_every_number_in_every_form_equals_the_evaluated_value(
        raw: Mapping[str, Any], raw_before: Mapping[str, Any], lang: str) -> None:
    record = coerce_record(raw, PLAN.checked)
    before = dataclasses.replace(coerce_record(raw_before, PLAN.checked), id=record.id, period="2025-Q4")
    result = evaluate_record(PLAN, record, FullTracer())
    old = evaluate_record(PLAN, before)
    e = explain(result, PLAN, lang, record=record, previous=Previous(old, PLAN, before))
    for kind, text in _forms(e):
        if result.status != "rated":
            assert message("status.insufficient_data", lang) in text
            continue
        {"md": _check_markdown, "html": _check_html, "text": _check_text}[kind](text, result, lang)
        _check_next_level(text if kind != "md" else text.replace("\\", ""), result, lang)
        if old.status == "rated":
            _check_change(text if kind != "md" else text.replace("\\", ""), old, result)


def test_the_parsers_see_a_wrong_number() -> None:
    """The checks fail when a shown number differs from the evaluated one."""
    from plan_helpers import individual_record

    record = individual_record("cc-001")
    result = evaluate_record(PLAN, record, FullTracer())
    e = explain(result, PLAN, "vi", record=record)
    md = explanation_markdown(e)
    _check_markdown(md, result, "vi")
    for wrong in (md.replace("| 47.58 |", "| 47.59 |", 1), md.replace("= 47.578125", "= 47.578126", 1),
                  md.replace("| 67.97 |", "| 67.96 |", 1)):
        assert wrong != md
        try:
            _check_markdown(wrong, result, "vi")
        except AssertionError:
            continue
        raise AssertionError("a wrong number went unnoticed")
    html = explanation_html(e)
    _check_html(html, result, "vi")
    try:
        _check_html(html.replace(">47.58<", ">47.57<", 1), result, "vi")
    except AssertionError:
        pass
    else:
        raise AssertionError("a wrong number went unnoticed in HTML")
    text = explanation_text(e, width=2000)
    _check_text(text, result, "vi")
    try:
        _check_text(text.replace("[tasks_points]: 47.58", "[tasks_points]: 47.60", 1), result, "vi")
    except AssertionError:
        pass
    else:
        raise AssertionError("a wrong number went unnoticed in the text")
