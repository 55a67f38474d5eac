"""Dialogue checks: pure functions ``(CallAnalysis, ChecksConfig) -> list[Finding]``.

``CHECK_FUNCS`` maps every check name of ``qa.types.CHECKS`` to its function;
``run_checks`` runs them all. Each function's docstring states its rule.
"""

from __future__ import annotations

from typing import Callable

from qa.checks.apology import apology_compliance, missing_apology
from qa.checks.ending import negative_ending
from qa.checks.solution import missing_solution, upsell_during_complaint
from qa.checks.tagged import blame_language, escalation_risk, stalling_script
from qa.config import ChecksConfig
from qa.types import CHECKS, CallAnalysis, Finding

CheckFunc = Callable[[CallAnalysis, ChecksConfig], list[Finding]]

CHECK_FUNCS: dict[str, CheckFunc] = {
    "blame_language": blame_language,
    "missing_apology": missing_apology,
    "stalling_script": stalling_script,
    "missing_solution": missing_solution,
    "negative_ending": negative_ending,
    "escalation_risk": escalation_risk,
    "upsell_during_complaint": upsell_during_complaint,
}
if tuple(CHECK_FUNCS) != CHECKS:
    raise RuntimeError(f"CHECK_FUNCS {list(CHECK_FUNCS)} must list every check of CHECKS {list(CHECKS)}, in order")

_ORDER = {c: k for k, c in enumerate(CHECKS)}


def run_checks(analysis: CallAnalysis, cfg: ChecksConfig) -> list[Finding]:
    """All findings of the call, sorted by (turn, check in CHECKS order, start)."""
    findings = [f for check in CHECK_FUNCS.values() for f in check(analysis, cfg)]
    return sorted(findings, key=lambda f: (f.turn, _ORDER[f.check], f.start))


__all__ = ["CHECK_FUNCS", "apology_compliance", "run_checks"]
