"""kpi-rules: a rules engine with a declarative criteria language (Decree 335/2025/NĐ-CP)."""

from __future__ import annotations

__version__ = "0.1.0"
