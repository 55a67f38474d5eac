"""The one batched interface that rules and models share.

A recognizer takes a batch of prepared turns (normalized text, tokens,
speaker) and returns the hits for each turn, in order. It never writes
anything; the pipeline decides what to do with the hits. Models load lazily,
once per process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Sequence

from qa.text.normalize import NormText
from qa.types import Hit, Sentiment, Speaker

if TYPE_CHECKING:
    from qa.recognizers.rules import MatchView


@dataclass(frozen=True, slots=True)
class Token:
    """A jieba token; ``start``/``end`` index the NORMALIZED text."""

    text: str
    start: int
    end: int


class PreparedTurn:
    """One turn ready for the recognizers: normalized text (with its offset map),
    speaker, and jieba tokens of the normalized text.

    Tokens are computed on first access unless given: jieba costs more than
    normalization, and only rule entries with ``boundary: true`` read them, so a
    configuration whose rules never ask for token boundaries never runs jieba.
    """

    __slots__ = ("call_id", "turn", "speaker", "norm", "_tokens", "match_view")

    def __init__(self, call_id: str, turn: int, speaker: Speaker, norm: NormText,
                 tokens: tuple[Token, ...] | None = None):
        self.call_id = call_id
        self.turn = turn
        self.speaker = speaker
        self.norm = norm
        self._tokens = tokens
        #: The rule engine's matching view of ``norm.text``, built once for all rule files.
        self.match_view: MatchView | None = None

    @property
    def tokens(self) -> tuple[Token, ...]:
        """Jieba tokens of ``norm.text`` (offsets index the normalized text)."""
        if self._tokens is None:
            from qa.text.tokenize import tokenize

            self._tokens = tokenize(self.norm.text)
        return self._tokens

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PreparedTurn):
            return NotImplemented
        return (self.call_id, self.turn, self.speaker, self.norm) == (other.call_id, other.turn, other.speaker,
                                                                       other.norm)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PreparedTurn({self.call_id!r}, {self.turn}, {self.speaker.value}, {self.norm.text!r})"


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
