"""Reports people read and sign: explanations as Markdown and HTML, Mẫu 01 monitoring sheets,
Mẫu 02 annual rating sheets, unit and province summaries.

See :mod:`kpi_rules.reporting.render`, :mod:`~kpi_rules.reporting.forms` and
:mod:`~kpi_rules.reporting.summary`; ``kpi-rules report`` writes them
(:mod:`kpi_rules.reporting.writer`). docs/reports.md describes the pages.
"""

from kpi_rules.reporting.forms import annual_sheet_html, annual_sheet_markdown
from kpi_rules.reporting.render import (
    SheetInfo,
    explanation_html,
    explanation_markdown,
    md_escape,
    monitoring_sheet_html,
    render_explanation,
    sheet_index_html,
)
from kpi_rules.reporting.summary import (
    province_summary_html,
    province_summary_markdown,
    province_view,
    unit_summary_html,
    unit_summary_markdown,
)

__all__ = [
    "SheetInfo",
    "annual_sheet_html",
    "annual_sheet_markdown",
    "explanation_html",
    "explanation_markdown",
    "md_escape",
    "monitoring_sheet_html",
    "province_summary_html",
    "province_summary_markdown",
    "province_view",
    "render_explanation",
    "sheet_index_html",
    "unit_summary_html",
    "unit_summary_markdown",
]
