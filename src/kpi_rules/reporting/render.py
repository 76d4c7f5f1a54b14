"""Explanations and monitoring sheets as Markdown and HTML, from jinja2 templates.

HTML templates are autoescaped (a name with ``<script>`` prints as text); Markdown text goes
through the ``md`` filter, which escapes the characters that would start markup or break a
table (``*``, ``_``, ``|``, ``<``...). Every fixed phrase comes from :mod:`kpi_rules.i18n` in
the explanation's language; the HTML is a full UTF-8 document with print CSS for A4.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from kpi_rules.i18n import message
from kpi_rules.models import CriterionNode, Explanation, ValueEntry
from kpi_rules.records import Remarks
from kpi_rules.values import format_exact

__all__ = [
    "SheetInfo",
    "explanation_html",
    "explanation_markdown",
    "md_escape",
    "monitoring_sheet_html",
    "render_explanation",
    "sheet_index_html",
]

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
#: ``(a)`` ... ``(e)`` at the end of a value's label: the task components of Art. 14 and 15.
_COMPONENT = re.compile(r"\(([a-eđ])\)\s*$")


def md_escape(value: object) -> str:
    """Text safe inside Markdown (and inside a table cell): markup characters are escaped,
    ``<`` and ``&`` become entities, line breaks become spaces."""
    text = "" if value is None else str(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return " ".join(text.splitlines())


@dataclass(frozen=True)
class Row:
    """One row of a criteria table: the node, its number (``1.2``) and its depth."""

    number: str
    depth: int
    node: CriterionNode


@dataclass(frozen=True)
class SheetInfo:
    """Header fields of a Mẫu 01 sheet that the explanation does not hold."""

    agency: str | None = None
    unit: str | None = None
    position: str | None = None


def _rows(root: CriterionNode | None) -> list[Row]:
    """The tree below the total, depth first, numbered ``1``, ``1.1``...; the total last."""
    if root is None:
        return []
    out: list[Row] = []

    def walk(node: CriterionNode, number: str, depth: int) -> None:
        out.append(Row(number, depth, node))
        for i, child in enumerate(node.children, 1):
            walk(child, f"{number}.{i}", depth + 1)

    for i, child in enumerate(root.children, 1):
        walk(child, str(i), 0)
    out.append(Row("", 0, root))
    return out


def _components(values: tuple[ValueEntry, ...]) -> list[tuple[str, ValueEntry]]:
    """The values labelled ``(a)``, ``(b)``, ``(c)`` (and ``(d)``, ``(đ)``, ``(e)`` for leaders)."""
    out = []
    for v in values:
        found = _COMPONENT.search(v.label)
        if found:
            out.append((found.group(1), v))
    return out


@dataclass(frozen=True)
class NextLevelView:
    """What the templates show of ``next_level``: the level, the sentence, the suggestions."""

    level: str | None
    text: str
    suggestions: tuple[str, ...]


def _next_level(expl: Explanation) -> NextLevelView | None:
    """``next_level`` (see :mod:`kpi_rules.advice`), if the explanation has it and it is set."""
    value: Any = getattr(expl, "next_level", None)
    if value is None:
        return None
    text = getattr(value, "text", None)
    if not isinstance(text, str):
        return None
    label = getattr(getattr(value, "level", None), "label", None)
    suggestions = tuple(
        s.text for s in (*getattr(value, "suggestions", ()), *getattr(value, "combined", ()))
        if isinstance(getattr(s, "text", None), str)
    )
    return NextLevelView(label if isinstance(label, str) else None, text, suggestions)


def formula_text(formula: str | None, with_values: str | None) -> str:
    """``x = 4.5`` when the formula is one name (as the tree shows it), else ``formula → values``."""
    if formula is None:
        return ""
    if with_values is None:
        return formula
    for sep in (" = ", " ≈ "):
        left, found, right = with_values.rpartition(sep)
        if found and left in (right, formula):
            return f"{formula}{sep}{right}"
    return f"{formula} → {with_values}"


def _translator(lang: str) -> Callable[..., str]:
    def t(key: str, **params: object) -> str:
        return message(key, lang, **params)

    return t


def _context(expl: Explanation, **extra: object) -> dict[str, Any]:
    lang = expl.lang
    ctx: dict[str, Any] = {
        "e": expl,
        "lang": lang,
        "t": _translator(lang),
        "rows": _rows(expl.criteria),
        "components": _components(expl.values),
        "next_level": _next_level(expl),
        "fx": formula_text,
        "sep": message("format.list_separator", lang),
        "who": f"{expl.subject.name} ({expl.subject.id})" if expl.subject.name else expl.subject.id,
    }
    ctx.update(extra)
    return ctx


def _html_env() -> Environment:
    env = Environment(
        loader=PackageLoader("kpi_rules.reporting", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env


def _md_env() -> Environment:
    env = Environment(
        loader=PackageLoader("kpi_rules.reporting", "templates"),
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    return env


_ENVS: dict[str, Environment] = {}


def _env(kind: str) -> Environment:
    if kind not in _ENVS:
        _ENVS[kind] = _html_env() if kind == "html" else _md_env()
    return _ENVS[kind]


def _squeeze(text: str) -> str:
    """No trailing spaces and at most one blank line in a row (stable goldens)."""
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line == "" and (not out or out[-1] == ""):
            continue
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def explanation_markdown(expl: Explanation) -> str:
    """The explanation as Markdown: summary, criteria table, values, decision, provenance."""
    return _squeeze(_env("md").get_template("explanation.md.j2").render(_context(expl)))


def explanation_html(expl: Explanation) -> str:
    """The explanation as a full HTML document (UTF-8, ``lang``, print CSS for A4)."""
    return _squeeze(_env("html").get_template("explanation.html.j2").render(_context(expl)))


def render_explanation(expl: Explanation, fmt: str) -> str:
    """``md`` or ``html`` (``kpi-rules explain --format``)."""
    if fmt == "md":
        return explanation_markdown(expl)
    if fmt == "html":
        return explanation_html(expl)
    raise ValueError(f"unknown format {fmt!r} (md or html)")


def hand_score(scores: Mapping[str, Any], criterion_id: str) -> str:
    """A score given by hand (``self_scores``/``superior_scores``), exact, or empty for a blank cell."""
    value = scores.get(criterion_id)
    return format_exact(value) if value is not None else ""


def monitoring_sheet_html(expl: Explanation, info: SheetInfo | None = None, remarks: Remarks | None = None) -> str:
    """A Mẫu 01 monitoring sheet (Phụ lục II) for one rated record, as an HTML document.

    ``remarks`` (:func:`kpi_rules.records.read_remarks`) fills the self-assessed and superior's
    score columns and items 4-6 (strengths, shortcomings, comments); what is missing is printed
    as blank cells and ruled lines to fill in by hand.
    """
    ctx = _context(expl, info=info or SheetInfo(), remarks=remarks or Remarks(), hand=hand_score)
    return _squeeze(_env("html").get_template("sheet.html.j2").render(ctx))


def sheet_index_html(entries: Iterator[tuple[str, Explanation]] | list[tuple[str, Explanation]],
                     lang: str, title: str | None = None,
                     extra_links: Mapping[str, str] | None = None) -> str:
    """An index page: one link per sheet (file name, explanation), with total and level."""
    ctx = {
        "lang": lang,
        "t": _translator(lang),
        "entries": list(entries),
        "title": title or message("report.index_title", lang),
        "extra_links": dict(extra_links or {}),
    }
    return _squeeze(_env("html").get_template("index.html.j2").render(ctx))
