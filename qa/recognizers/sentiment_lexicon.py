"""Lexicon sentiment for turns: ``lexicon:sentiment.v1``.

The data file (``qa/rules/sentiment.v1.yaml``) lists weighted positive and
negative words, neutral phrases, degree adverbs, negation cues and
punctuation intensifiers. A turn's normalized text is scanned left to right
taking the LONGEST entry at each position (so 不满意 is one negative word, not
不 + 满意, and 好几天 is neutral). Each sentiment word is scaled by the degree
adverbs and flipped by the negation cues that stand at most ``window``
characters before it in the same clause; the sum is intensified by "!",
pushed down by "??" and trailing dots, and squashed with ``tanh``. The label
comes from the score with a neutral band.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qa.recognizers.base import PreparedTurn
from qa.recognizers.rules import CLAUSE_BREAKS, RuleFileError
from qa.text.normalize import normalize
from qa.types import Sentiment


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Negation(_Strict):
    cues: list[str] = Field(min_length=1)
    window: int = Field(2, ge=0, le=10)
    flip_positive: float = Field(0.8, gt=0.0, le=1.0)
    flip_negative: float = Field(0.4, gt=0.0, le=1.0)


class _Degree(_Strict):
    window: int = Field(2, ge=0, le=10)
    words: dict[str, float]
    before_sentiment: dict[str, float] = {}


class _Punctuation(_Strict):
    exclaim_step: float = Field(0.15, ge=0.0, le=1.0)
    exclaim_max: float = Field(0.45, ge=0.0, le=2.0)
    repeated_question: float = Field(0.3, ge=0.0, le=1.0)
    ellipsis: float = Field(0.1, ge=0.0, le=1.0)


class _WordGroup(_Strict):
    weight: float = Field(gt=0.0, le=2.0)
    words: list[str] = Field(min_length=1)


class SentimentFile(_Strict):
    id: str = Field(pattern=r"^[a-z_]+$")
    version: int = Field(ge=1)
    description: str
    neutral_band: float = Field(gt=0.0, lt=1.0)
    scale: float = Field(1.0, gt=0.0)
    negation: _Negation
    degree: _Degree
    punctuation: _Punctuation = _Punctuation()
    neutral: list[str] = []
    positive: list[_WordGroup]
    negative: list[_WordGroup]

    @property
    def name(self) -> str:
        return f"lexicon:{self.id}.v{self.version}"


# Entry kinds in the scan dictionary.
_POLAR, _NEUTRAL, _NEGATION, _DEGREE = "polar", "neutral", "negation", "degree"


@dataclass(frozen=True, slots=True)
class _Item:
    kind: str
    start: int
    end: int
    value: float  # polarity weight (signed) or degree factor
    word: str


@dataclass(frozen=True, slots=True)
class CompiledSentiment:
    spec: SentimentFile
    path: Path
    sha256: str
    entries: dict[str, tuple[str, float]]
    max_len: int


def _norm(word: str) -> str:
    return normalize(word).text.replace(" ", "")


def load_sentiment_file(path: str | Path) -> CompiledSentiment:
    """Read and validate a sentiment lexicon; :class:`RuleFileError` names the file and word."""
    path = Path(path)
    try:
        blob = path.read_bytes()
        raw = yaml.safe_load(blob.decode("utf-8"))
    except FileNotFoundError:
        raise RuleFileError(f"{path}: file not found") from None
    except (UnicodeDecodeError, yaml.YAMLError) as e:
        raise RuleFileError(f"{path}: not valid utf-8 YAML: {e}") from None
    try:
        spec = SentimentFile.model_validate(raw)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            lines.append(f"{path}: {where}: {msg}")
        raise RuleFileError("\n".join(lines)) from None
    expected = f"{spec.id}.v{spec.version}.yaml"
    if path.name != expected:
        raise RuleFileError(f"{path}: id and version say the file should be named {expected}")

    entries: dict[str, tuple[str, float]] = {}
    owner: dict[str, str] = {}

    def add(word: str, kind: str, value: float, where: str) -> None:
        key = _norm(word)
        if not key:
            raise RuleFileError(f"{path}: {where}: empty word")
        if key in entries and entries[key] != (kind, value):
            raise RuleFileError(f"{path}: {where}: {word!r} already listed under {owner[key]}")
        entries[key] = (kind, value)
        owner[key] = where

    for w in spec.neutral:
        add(w, _NEUTRAL, 0.0, "neutral")
    for i, g in enumerate(spec.positive):
        for w in g.words:
            add(w, _POLAR, g.weight, f"positive[{i}]")
    for i, g in enumerate(spec.negative):
        for w in g.words:
            add(w, _POLAR, -g.weight, f"negative[{i}]")
    for w in spec.negation.cues:
        add(w, _NEGATION, 0.0, "negation.cues")
    for w, f in spec.degree.words.items():
        add(w, _DEGREE, f, "degree.words")
    for w in spec.degree.before_sentiment:
        if _norm(w) not in entries or entries[_norm(w)][0] != _POLAR:
            raise RuleFileError(f"{path}: degree.before_sentiment: {w!r} must also be a positive or negative word")
    return CompiledSentiment(spec, path, hashlib.sha256(blob).hexdigest(), entries, max(map(len, entries)))


_REPEATED_Q = re.compile(r"\?{2,}")
_ELLIPSIS = re.compile(r"\.{2,}|…+|。{2,}")


class LexiconSentiment:
    """Sentiment from a weighted lexicon; implements ``SentimentRecognizer``."""

    def __init__(self, lexicon: CompiledSentiment) -> None:
        self.lexicon = lexicon
        self.name: str = lexicon.spec.name

    def score(self, batch: Sequence[PreparedTurn]) -> list[Sentiment]:
        """One sentiment per turn of ``batch``."""
        return [self.score_text(t.norm.text) for t in batch]

    def score_text(self, text: str) -> Sentiment:
        """Sentiment of one NORMALIZED text."""
        spec = self.lexicon.spec
        raw = self.raw_sum(text)
        if raw != 0.0:
            raw *= 1.0 + min(spec.punctuation.exclaim_step * text.count("!"), spec.punctuation.exclaim_max)
        if _REPEATED_Q.search(text):
            raw -= spec.punctuation.repeated_question
        if _ELLIPSIS.search(text):
            raw -= spec.punctuation.ellipsis
        score = round(math.tanh(raw / spec.scale), 4)
        band = spec.neutral_band
        label = "positive" if score > band else "negative" if score < -band else "neutral"
        return Sentiment(label=label, score=score, source=self.name)

    def raw_sum(self, text: str) -> float:
        """Sum of the scaled, negation-adjusted weights of the sentiment words in ``text``."""
        spec = self.lexicon.spec
        items = self._scan(text)
        total = 0.0
        pending: list[_Item] = []  # negation and degree items since the last sentiment word
        for i, item in enumerate(items):
            if item.kind in (_NEGATION, _DEGREE):
                pending.append(item)
                continue
            if item.kind == _NEUTRAL:
                continue
            ambiguous = spec.degree.before_sentiment.get(item.word)
            nxt = items[i + 1] if i + 1 < len(items) else None
            if ambiguous and nxt is not None and nxt.kind == _POLAR and nxt.start == item.end:
                pending.append(_Item(_DEGREE, item.start, item.end, ambiguous, item.word))
                continue
            weight = item.value
            negations = 0
            for mod in pending:
                gap = item.start - mod.end
                if _has_break(text, mod.end, item.start):
                    continue
                if mod.kind == _NEGATION and gap <= spec.negation.window:
                    negations += 1
                elif mod.kind == _DEGREE and gap <= spec.degree.window:
                    weight *= mod.value
            if negations % 2 == 1:
                weight = -weight * (spec.negation.flip_positive if weight > 0 else spec.negation.flip_negative)
            total += weight
            pending = []
        return total

    def _scan(self, text: str) -> list[_Item]:
        entries, max_len = self.lexicon.entries, self.lexicon.max_len
        items: list[_Item] = []
        i = 0
        while i < len(text):
            for n in range(min(max_len, len(text) - i), 0, -1):
                hit = entries.get(text[i : i + n])
                if hit is not None:
                    items.append(_Item(hit[0], i, i + n, hit[1], text[i : i + n]))
                    i += n
                    break
            else:
                i += 1
        return items


def _has_break(text: str, a: int, b: int) -> bool:
    return any(ch in CLAUSE_BREAKS for ch in text[a:b])
