"""The one batched interface that rules and models share.

A recognizer takes a batch of prepared turns (normalized text, tokens,
speaker) and returns the hits for each turn, in order. It never writes
anything; the pipeline decides what to do with the hits. Models load lazily,
once per process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

from qa.text.normalize import NormText
from qa.types import Hit, Sentiment, Speaker


@dataclass(frozen=True, slots=True)
class Token:
    """A jieba token; ``start``/``end`` index the NORMALIZED text."""

    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class PreparedTurn:
    call_id: str
    turn: int
    speaker: Speaker
    norm: NormText
    tokens: tuple[Token, ...]


class Recognizer(Protocol):
    #: Versioned registry name, used as ``Hit.source`` (e.g. ``"lexicon:apology.v1"``).
    name: str
    #: Tags this recognizer can emit.
    tags: tuple[str, ...]

    def recognize(self, batch: Sequence[PreparedTurn]) -> list[list[Hit]]:
        """Hits for each turn of ``batch``, spans in ORIGINAL text coordinates."""
        ...


class SentimentRecognizer(Protocol):
    name: str

    def score(self, batch: Sequence[PreparedTurn]) -> list[Sentiment]:
        """One sentiment per turn of ``batch``."""
        ...
