"""Reports of finished runs: tables and plots, as Markdown and HTML."""

from fedrobust.report.build import build_report

__all__ = ["build_report"]
