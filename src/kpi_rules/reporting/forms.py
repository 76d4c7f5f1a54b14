"""The Mẫu 02 annual quality rating sheet (Phụ lục II, Decree 335/2025/NĐ-CP) of one person.

Built from the year's explanation (``explain_subject(outcome, id, "2026")``): section I lists the
periods used and left out, how they were combined and the score for the year; section II is
the person's self-assessment and self-rating (tick boxes, filled in by hand unless the remarks
give them); section III gives the level computed from the scores as the proposal, the quota
decision if one was applied (kept or demoted, rank, rate and clause), and ruled space for the
direct manager's comments and the competent authority's decision; section IV is the proposed
handling. The official field list of Mẫu 02 is not published in the sources we hold; the
sections follow the reproduction in ``docs/reports.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kpi_rules.models import Explanation
from kpi_rules.records import Remarks
from kpi_rules.reporting.render import SheetInfo, _context, _env, _squeeze

__all__ = ["annual_sheet_html", "annual_sheet_markdown"]


def _annual_context(expl: Explanation, info: SheetInfo | None, levels: Sequence[str],
                    period_links: Mapping[str, str] | None, remarks: Remarks | None) -> dict[str, object]:
    year = expl.subject.period or ""
    return _context(expl, info=info or SheetInfo(), levels=tuple(levels), year=year,
                    links=dict(period_links or {}), remarks=remarks or Remarks())


def annual_sheet_html(expl: Explanation, info: SheetInfo | None = None, levels: Sequence[str] = (),
                      period_links: Mapping[str, str] | None = None, remarks: Remarks | None = None) -> str:
    """The Mẫu 02 sheet as an HTML document (A4 print CSS).

    Args:
        expl: the explanation of the person's year (or half-year) result.
        levels: the labels of the rule set's levels, highest first (the tick boxes).
        period_links: period → the file of its Mẫu 01 sheet, linked from section I.
        remarks: strengths and shortcomings for section II, if known.
    """
    ctx = _annual_context(expl, info, levels, period_links, remarks)
    return _squeeze(_env("html").get_template("annual.html.j2").render(ctx))


def annual_sheet_markdown(expl: Explanation, info: SheetInfo | None = None, levels: Sequence[str] = (),
                          period_links: Mapping[str, str] | None = None, remarks: Remarks | None = None) -> str:
    """The same sheet as Markdown (blank fields as ruled lines of underscores)."""
    ctx = _annual_context(expl, info, levels, period_links, remarks)
    return _squeeze(_env("md").get_template("annual.md.j2").render(ctx))
