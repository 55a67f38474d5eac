"""Checks about remedies: ``missing_solution`` and ``upsell_during_complaint``.

A complaint is a customer turn tagged ``complaint``; a solution is an agent
turn tagged ``solution``; an upsell is an agent turn tagged ``upsell``.
"""

from __future__ import annotations

from qa.checks.tagged import finding_from_hit, strongest_hit, tagged_turns
from qa.config import ChecksConfig
from qa.types import CallAnalysis, Finding, Speaker


def missing_solution(analysis: CallAnalysis, cfg: ChecksConfig) -> list[Finding]:
    """One finding per complaint turn that no later agent solution turn follows.

    A solution offered before the complaint does not count. Evidence: the
    complaint turn's strongest complaint hit.
    """
    solutions = tagged_turns(analysis, "solution", Speaker.AGENT)
    last_solution = solutions[-1] if solutions else -1
    return [
        finding_from_hit(analysis, "missing_solution", strongest_hit(analysis, c, "complaint"))
        for c in tagged_turns(analysis, "complaint", Speaker.CUSTOMER)
        if c > last_solution
    ]


def upsell_during_complaint(analysis: CallAnalysis, cfg: ChecksConfig) -> list[Finding]:
    """One finding per agent upsell turn that comes while a complaint is unresolved.

    A complaint is unresolved at the upsell turn ``u`` when it comes before
    ``u`` and no agent solution turn ``s`` with ``complaint < s <= u`` lies in
    between (a remedy offered in the upsell turn itself resolves it). Upsells
    before any complaint are fine. Evidence: the turn's strongest upsell hit.
    """
    complaints = set(tagged_turns(analysis, "complaint", Speaker.CUSTOMER))
    solutions = set(tagged_turns(analysis, "solution", Speaker.AGENT))
    upsells = set(tagged_turns(analysis, "upsell", Speaker.AGENT))
    findings: list[Finding] = []
    unresolved = False  # a complaint has come and no solution since
    for i in range(len(analysis.call.turns)):
        if i in solutions:
            unresolved = False
        if unresolved and i in upsells:
            hit = strongest_hit(analysis, i, "upsell")
            findings.append(finding_from_hit(analysis, "upsell_during_complaint", hit))
        if i in complaints:
            unresolved = True
    return findings
