"""Rendering for people: :class:`~kpi_rules.models.Explanation` → a rich tree or plain text;
:class:`~kpi_rules.models.ResultSummary` rows → a rich table.

Everything is built from ``rich.text.Text`` objects, never markup strings, so a label with
``[brackets]`` prints as written. No colour is added here; the CLI's console decides. Fixed
phrases come from :mod:`kpi_rules.i18n` in the explanation's language.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from kpi_rules.i18n import message
from kpi_rules.models import CriterionNode, Decision, Explanation, LevelChangeOut, NextLevelOut, ResultSummary

__all__ = ["explanation_text", "explanation_tree", "results_table", "results_text"]

_SEP = " · "


def _t(text: str) -> Text:
    # Explicit wrapping: a soft-wrapping console (the CLI's) would otherwise crop tree lines.
    return Text(text, no_wrap=False, overflow="fold")


def _with_cite(text: str, cite: str | None) -> Text:
    return _t(text + (_SEP + cite if cite else ""))


def _formula(tree: Tree, lang: str, formula: str | None, with_values: str | None) -> None:
    """``Công thức: x = 4.5`` when the formula is one name, else formula and values on two lines."""
    if formula is None:
        return
    heading = message("heading.formula", lang)
    if with_values is None:
        tree.add(_t(f"{heading}: {formula}"))
        return
    for sep in (" = ", " ≈ "):
        left, found, right = with_values.rpartition(sep)
        if found and left in (right, formula):
            tree.add(_t(f"{heading}: {formula}{sep}{right}"))
            return
    tree.add(_t(f"{heading}: {formula}"))
    tree.add(_t(f"{message('heading.with_values', lang)}: {with_values}"))


def _points(node: CriterionNode, lang: str) -> str:
    return message("points.of_max", lang, points=node.points.display, max=node.max.exact)


def _criterion(parent: Tree, node: CriterionNode, lang: str) -> None:
    branch = parent.add(_with_cite(f"{node.label} [{node.id}]: {_points(node, lang)}", node.cite))
    _criterion_body(branch, node, lang)


def _criterion_body(branch: Tree, node: CriterionNode, lang: str) -> None:
    _formula(branch, lang, node.formula, node.formula_with_values)
    if node.note:
        branch.add(_t(f"! {node.note}"))
    for child in node.children:
        _criterion(branch, child, lang)


def _decision(parent: Tree, decision: Decision, lang: str) -> None:
    head = f"{message('heading.decision', lang)}: {decision.level.label}"
    branch = parent.add(_with_cite(head, decision.cite))
    branch.add(_t(decision.reason_text))
    band = decision.band
    branch.add(_with_cite(f"{message('heading.band', lang)}: {band.level.label} ({band.phrase})", band.cite))
    if decision.conditions:
        conds = branch.add(_t(message("heading.conditions", lang)))
        for cond in decision.conditions:
            mark = "✓" if cond.met else "✗"
            status = message("condition.met" if cond.met else "condition.not_met", lang)
            of_level = message("condition.of_level", lang, level=cond.level.label)
            line = conds.add(_with_cite(f"{mark} {cond.label} ({of_level}): {status}", cond.cite))
            _formula(line, lang, cond.formula, cond.formula_with_values)
    if decision.passed_over:
        names = message("format.list_separator", lang).join(ref.label for ref in decision.passed_over)
        branch.add(_t(f"{message('heading.passed_over', lang)}: {names}"))
    if decision.disqualifiers:
        dqs = branch.add(_t(message("heading.disqualifiers", lang)))
        for dq in decision.disqualifiers:
            if dq.fired:
                status = message("disqualifier.fired", lang) + ", " + message(
                    "disqualifier.forces", lang, level=dq.target.label)
            else:
                status = message("disqualifier.not_fired", lang)
            line = dqs.add(_with_cite(f"{'✗' if dq.fired else '✓'} {dq.label}: {status}", dq.cite))
            _formula(line, lang, dq.formula, dq.formula_with_values)
    if decision.cohort is not None and decision.reason != "quota":  # a demotion is the reason itself
        c = decision.cohort
        branch.add(_with_cite(f"{message('cohort.heading', lang)} ({c.rule.label}): {c.text}", c.cite))
    if decision.override is not None:
        o = decision.override
        ob = branch.add(_t(message("heading.override", lang)))
        day = o.decided_on
        decided_on = message("format.date", lang, day=f"{day.day:02d}", month=f"{day.month:02d}",
                             year=f"{day.year:04d}")
        for key, value in (("override.level", o.level.label), ("override.decided_by", o.decided_by),
                           ("override.decided_on", decided_on), ("override.clause", o.clause),
                           ("override.reason", o.reason)):
            ob.add(_t(f"{message(key, lang)}: {value}"))


def _periods(root: Tree, expl: Explanation, lang: str) -> None:
    """The periods of a half-year or year: each used or left out (and why), then the mean."""
    periods = expl.periods
    assert periods is not None
    head = f"{message('periods.heading', lang, span=expl.subject.period or '')}: {periods.method_text}"
    branch = root.add(_with_cite(head, periods.cite))
    for p in periods.periods:
        shown = ""
        if p.total is not None and expl.max is not None:
            shown = " " + message("points.of_max", lang, points=p.total.display, max=expl.max.exact)
        elif p.total is not None:
            shown = " " + p.total.display
        if p.level is not None:
            shown += f" ({p.level.label})"
        branch.add(_t(f"{'✓' if p.used else '–'} {p.period}:{shown} {p.note}".replace("  ", " ")))
    if periods.formula_with_values:
        branch.add(_t(f"{message('heading.formula', lang)}: {periods.formula_with_values}"))
    if periods.counts:
        sep = message("format.list_separator", lang)
        branch.add(_t(sep.join(message("periods.count", lang, level=ref.label, count=n) for ref, n in periods.counts)))


def _next_level(root: Tree, advice: NextLevelOut, lang: str) -> None:
    """How far the next level up is, and the single-input changes that reach it."""
    branch = root.add(_t(message("advice.heading", lang, level=advice.level.label)))
    branch.add(_t(advice.text))
    if advice.suggestions:
        ways = branch.add(_t(message("advice.suggestions", lang)))
        for s in advice.suggestions:
            ways.add(_t(f"→ {s.text}"))
    else:
        branch.add(_t(message("advice.no_suggestion", lang)))
    if advice.combined:
        pairs = branch.add(_t(message("advice.combined", lang)))
        for c in advice.combined:
            pairs.add(_t(f"→ {c.text}"))


def _change(root: Tree, change: LevelChangeOut, lang: str) -> None:
    """What changed since the previous period: the causes, then criteria, inputs and values."""
    branch = root.add(_t(message("change.heading", lang, previous=change.previous_period or "—")))
    branch.add(_t(change.text))
    for key, items in (("change.causes", change.causes), ("change.criteria", change.criteria),
                       ("change.inputs", change.inputs), ("change.values", change.values)):
        if items:
            part = branch.add(_t(message(key, lang)))
            for item in items:
                part.add(_with_cite(f"{'→ ' if key == 'change.causes' else ''}{item.text}", getattr(item, "cite", None)))


def explanation_tree(expl: Explanation) -> Tree:
    """A readable tree: total and level at the root, then criteria, values, decision."""
    lang = expl.lang
    who = expl.subject.name or expl.subject.id
    head = f"{who} ({expl.subject.id})" if expl.subject.name else who
    if expl.subject.period:
        head += _SEP + expl.subject.period
    lines = [head]
    if expl.total is not None and expl.max is not None:
        summary = f"{message('heading.total', lang)}: " + message(
            "points.of_max", lang, points=expl.total.display, max=expl.max.exact)
        if expl.level is not None:
            summary += f"{_SEP}{message('heading.level', lang)}: {expl.level.label}"
        lines.append(summary)
    else:
        lines.append(f"{message('heading.status', lang)}: {expl.status_text}")
    root = Tree(_t("\n".join(lines)), guide_style="none")
    if expl.insufficient is not None:
        ins = expl.insufficient
        branch = root.add(_t(ins.message))
        _formula(branch, lang, ins.formula, ins.formula_with_values)
        if ins.where:
            branch.add(_t(message("insufficient.where", lang, where=ins.where)))
    if expl.periods is not None:
        _periods(root, expl, lang)
    if expl.criteria is not None:
        crit = expl.criteria
        branch = root.add(_with_cite(f"{message('heading.criteria', lang)}: {crit.label} [{crit.id}]: "
                                     f"{_points(crit, lang)}", crit.cite))
        _criterion_body(branch, crit, lang)
    if expl.values:
        values = root.add(_t(message("heading.values", lang)))
        for v in expl.values:
            line = values.add(_with_cite(f"{v.label} [{v.id}] = {v.display}", v.cite))
            _formula(line, lang, v.formula, v.formula_with_values)
    if expl.related:
        related = root.add(_t(message("related.heading", lang)))
        for group in expl.related:
            branch = related.add(_t(f"{group.label} [{group.relation}]"))
            for s in group.subjects:
                who = f"{s.name} ({s.id})" if s.name else s.id
                if s.rated and s.total is not None:
                    shown = f"{who}: {s.total.display}" + (f"{_SEP}{s.level.label}" if s.level else "")
                else:
                    shown = f"{who}: {s.note or ''}"
                branch.add(_t(shown))
    if expl.decision is not None:
        _decision(root, expl.decision, lang)
    if expl.change is not None:
        _change(root, expl.change, lang)
    if expl.next_level is not None:
        _next_level(root, expl.next_level, lang)
    p = expl.provenance
    parts = [f"{p.ruleset_id} {p.version}", p.basis, p.content_hash]
    root.add(_t(f"{message('heading.provenance', lang)}: " + _SEP.join(x for x in parts if x)))
    return root


def _plain(renderable: Tree | Table, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False,
                      record=True, highlight=False, emoji=False, markup=False, legacy_windows=False)
    console.print(renderable)
    text = console.export_text(styles=False)
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def explanation_text(expl: Explanation, width: int = 100) -> str:
    """The explanation tree as plain text (no colour, no trailing spaces), for goldens and pipes."""
    return _plain(explanation_tree(expl), width)


def results_table(rows: Sequence[ResultSummary], lang: str = "vi") -> Table:
    """One row per result: id, name, period, status, total, level, disqualifiers that fired."""
    table = Table(title=message("summary.results_title", lang), show_lines=False)
    table.add_column(message("heading.id", lang), no_wrap=True)
    table.add_column(message("heading.name", lang))
    table.add_column(message("heading.period", lang), no_wrap=True)
    table.add_column(message("heading.status", lang))
    table.add_column(message("heading.total", lang), justify="right", no_wrap=True)
    table.add_column(message("heading.level", lang))
    table.add_column(message("heading.disqualifiers_fired", lang))
    sep = message("format.list_separator", lang)
    for row in rows:
        table.add_row(
            _t(row.id),
            _t(row.name or ""),
            _t(row.period or ""),
            _t(row.status_text),
            _t(row.total.display if row.total else "—"),
            _t(row.level.label if row.level else "—"),
            _t(sep.join(d.label for d in row.disqualifiers)),
        )
    if not rows:
        table.caption = message("summary.no_results", lang)
    return table


def results_text(rows: Sequence[ResultSummary], lang: str = "vi", width: int = 100) -> str:
    """The results table as plain text."""
    return _plain(results_table(rows, lang), width)


def print_explanation(explanation: Explanation, form: str, out: Console) -> None:
    """Write one explanation in the form ``explain --format`` asks for: ``json`` and ``md``/``html``
    to standard output as text, ``tree`` as a rich tree on ``out``."""
    import sys

    from kpi_rules.reporting.render import render_explanation

    if form == "json":
        sys.stdout.write(explanation.model_dump_json(indent=2) + "\n")
    elif form in ("md", "html"):
        sys.stdout.write(render_explanation(explanation, form))
    else:
        out.print(explanation_tree(explanation))
