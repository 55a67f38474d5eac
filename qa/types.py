"""Plain records that flow through the pipeline.

Everything here is a frozen dataclass or an enum: stages take these in and
hand new ones out, never mutate them. Label names are the exact strings of
LABELS.md and appear as-is in output files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Speaker(str, Enum):
    AGENT = "agent"
    CUSTOMER = "customer"


#: Utterance tags (LABELS.md), in output column order.
TAGS: tuple[str, ...] = (
    "apology",
    "blame",
    "stalling",
    "thanks",
    "empathy",
    "solution",
    "upsell",
    "complaint",
    "escalation",
)

#: Which speaker each tag applies to. A tag is never assigned to the other speaker.
TAG_SPEAKER: dict[str, Speaker] = {
    "apology": Speaker.AGENT,
    "blame": Speaker.AGENT,
    "stalling": Speaker.AGENT,
    "thanks": Speaker.AGENT,
    "empathy": Speaker.AGENT,
    "solution": Speaker.AGENT,
    "upsell": Speaker.AGENT,
    "complaint": Speaker.CUSTOMER,
    "escalation": Speaker.CUSTOMER,
    "admission": Speaker.AGENT,
}

#: Auxiliary tags: recognized and used by the checks, but not written as turn
#: tags. ``admission``: the agent admits a company error (我们这边搞错了), which
#: owes an apology just like a customer complaint does (missing_apology).
AUX_TAGS: tuple[str, ...] = ("admission",)

#: Call-level checks (LABELS.md), in output column order.
CHECKS: tuple[str, ...] = (
    "blame_language",
    "missing_apology",
    "stalling_script",
    "missing_solution",
    "negative_ending",
    "escalation_risk",
    "upsell_during_complaint",
)

SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")


@dataclass(frozen=True, slots=True)
class Turn:
    """One utterance, addressed by its 0-based index in the call's input order."""

    index: int
    speaker: Speaker
    text: str
    start_ms: int | None = None
    end_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Call:
    call_id: str
    agent_id: str
    turns: tuple[Turn, ...]
    started_at: str | None = None  # ISO 8601 as given; parsed where needed
    queue: str | None = None
    source: str = ""  # file the call came from
    line: int = 0  # 1-based line (or row) in that file


@dataclass(frozen=True, slots=True)
class Hit:
    """A tag found in one turn, with the span of ORIGINAL text that triggered it.

    ``text[start:end] == evidence`` always holds for the turn's original text.
    ``source`` is the versioned id of the rule or model that fired, e.g.
    ``"lexicon:apology.v1"``; ``rule`` names the entry inside it that
    matched (a lexicon term or pattern id), so calibration can point at it.
    """

    tag: str
    turn: int
    start: int
    end: int
    score: float
    source: str
    evidence: str
    rule: str = ""


@dataclass(frozen=True, slots=True)
class Sentiment:
    label: str  # one of SENTIMENTS
    score: float  # in [-1, 1]
    source: str


@dataclass(frozen=True, slots=True)
class Finding:
    """A QA check that fired on a call, pointing at one turn and span as evidence."""

    call_id: str
    agent_id: str
    check: str
    turn: int
    start: int
    end: int
    evidence: str
    score: float
    source: str
    rule: str = ""  # the rule entry (or model label) behind the evidence hit


@dataclass(frozen=True, slots=True)
class CallAnalysis:
    """A call with everything the recognizers found in it, ready for the checks."""

    call: Call
    hits: tuple[tuple[Hit, ...], ...]  # per turn
    sentiments: tuple[Sentiment, ...]  # per turn
    _by_tag: dict[str, list[int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_tag: dict[str, list[int]] = {}
        for i, hs in enumerate(self.hits):
            for tag in {h.tag for h in hs}:
                by_tag.setdefault(tag, []).append(i)
        object.__setattr__(self, "_by_tag", by_tag)

    def tagged(self, tag: str) -> list[int]:
        """Indices of turns carrying ``tag``, in order."""
        return list(self._by_tag.get(tag, ()))

    def evidence_hit(self, turn: int, tag: str) -> Hit | None:
        """The hit of ``tag`` in ``turn`` to quote as evidence: a rule's hit
        when any rule fired (its span points at the words that triggered it),
        else a model's (which covers the whole turn); among those the
        strongest, then the first by position."""
        hits = [h for h in self.hits[turn] if h.tag == tag]
        if not hits:
            return None
        return min(hits, key=lambda h: (h.source.startswith("model:"), -h.score, h.start))


@dataclass(frozen=True, slots=True)
class RecordError:
    """A rejected input record: where it was and why. Goes to errors.jsonl."""

    source: str
    line: int
    reason: str
    call_id: str | None = None
    extra: dict = field(default_factory=dict)
