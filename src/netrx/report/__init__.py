"""The self-contained HTML reports (plotly, readable offline): of a run, of a study
(``netrx report TUNE_DIR``) and of runs side by side (``netrx compare``)."""

from netrx.report.compare import build_compare
from netrx.report.html import build_report
from netrx.report.study import build_study_report

__all__ = ["build_compare", "build_report", "build_study_report"]
