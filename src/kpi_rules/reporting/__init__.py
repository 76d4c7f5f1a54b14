"""Reports people read and sign: explanations as Markdown and HTML, Mẫu 01 monitoring sheets.

See :mod:`kpi_rules.reporting.render`; ``kpi-rules report`` writes them (:mod:`kpi_rules.reporting.writer`).
"""

from kpi_rules.reporting.render import (
    SheetInfo,
    explanation_html,
    explanation_markdown,
    md_escape,
    monitoring_sheet_html,
    render_explanation,
    sheet_index_html,
)

__all__ = [
    "SheetInfo",
    "explanation_html",
    "explanation_markdown",
    "md_escape",
    "monitoring_sheet_html",
    "render_explanation",
    "sheet_index_html",
]
