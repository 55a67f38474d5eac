"""Checks that fire on every turn carrying one tag (LABELS.md).

- ``blame_language``: one finding per agent turn tagged ``blame``.
- ``stalling_script``: one finding per agent turn tagged ``stalling``.
- ``escalation_risk``: one finding per customer turn tagged ``escalation``.

Evidence is the turn's evidence hit of that tag (:meth:`CallAnalysis.evidence_hit`:
a rule's span when a rule fired, else the model's whole-turn hit; the
strongest first): its span, text and score, and the id of the rule or model
that fired with the rule entry that matched.
"""

from __future__ import annotations

from qa.config import ChecksConfig
from qa.types import CallAnalysis, Finding, Hit, Speaker


def finding_from_hit(analysis: CallAnalysis, check: str, hit: Hit) -> Finding:
    """A finding of ``check`` whose evidence is exactly ``hit``."""
    return Finding(
        call_id=analysis.call.call_id,
        agent_id=analysis.call.agent_id,
        check=check,
        turn=hit.turn,
        start=hit.start,
        end=hit.end,
        evidence=hit.evidence,
        score=hit.score,
        source=hit.source,
        rule=hit.rule,
    )


def strongest_hit(analysis: CallAnalysis, turn: int, tag: str) -> Hit:
    """The evidence hit of ``tag`` in ``turn`` (see :meth:`CallAnalysis.evidence_hit`); the turn must carry the tag."""
    hit = analysis.evidence_hit(turn, tag)
    if hit is None:
        raise ValueError(f"call {analysis.call.call_id} turn {turn} has no {tag!r} hit")
    return hit


def tagged_turns(analysis: CallAnalysis, tag: str, speaker: Speaker) -> list[int]:
    """Indices of ``speaker``'s turns tagged ``tag``, in call order."""
    turns = analysis.call.turns
    return [i for i in analysis.tagged(tag) if turns[i].speaker is speaker]


def _each_tagged(analysis: CallAnalysis, check: str, tag: str, speaker: Speaker) -> list[Finding]:
    return [
        finding_from_hit(analysis, check, strongest_hit(analysis, i, tag))
        for i in tagged_turns(analysis, tag, speaker)
    ]


def blame_language(analysis: CallAnalysis, cfg: ChecksConfig) -> list[Finding]:
    """One finding per agent turn tagged ``blame``; evidence: its strongest blame hit."""
    return _each_tagged(analysis, "blame_language", "blame", Speaker.AGENT)


def stalling_script(analysis: CallAnalysis, cfg: ChecksConfig) -> list[Finding]:
    """One finding per agent turn tagged ``stalling``; evidence: its strongest stalling hit."""
    return _each_tagged(analysis, "stalling_script", "stalling", Speaker.AGENT)


def escalation_risk(analysis: CallAnalysis, cfg: ChecksConfig) -> list[Finding]:
    """One finding per customer turn tagged ``escalation``; evidence: its strongest escalation hit."""
    return _each_tagged(analysis, "escalation_risk", "escalation", Speaker.CUSTOMER)
