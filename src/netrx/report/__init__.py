"""The self-contained HTML report of a run (plotly, readable offline)."""

from netrx.report.html import build_report

__all__ = ["build_report"]
