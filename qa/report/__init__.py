"""The coach-facing HTML report (``report.html``) and the evidence highlighting
it shares with the review app (:mod:`qa.review`)."""

from qa.report.html import DEFAULT_CONTEXT_TURNS, DEFAULT_MAX_CALLS_PER_AGENT, render_report, write_report

__all__ = ["DEFAULT_CONTEXT_TURNS", "DEFAULT_MAX_CALLS_PER_AGENT", "render_report", "write_report"]
