"""Text normalization that never loses track of the original characters.

``normalize(text)`` folds traditional characters to simplified (OpenCC t2s),
full-width ASCII and the ideographic space to half-width, ASCII letters to
lower case, and runs of whitespace to one space (trimmed at both ends). It
returns a :class:`NormText` that maps every normalized character back to the
original characters that produced it, so a span found in normalized text
converts to a span of the original with :meth:`NormText.to_original`, and
slicing the original text with that span gives the evidence exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import opencc


@dataclass(frozen=True, slots=True)
class NormText:
    original: str
    text: str
    # For normalized char i, the original span [starts[i], ends[i]) it came from.
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a normalized span [start, end) to the original text's span."""
        if not 0 <= start < end <= len(self.text):
            raise ValueError(f"span [{start}, {end}) outside normalized text of length {len(self.text)}")
        return self.starts[start], self.ends[end - 1]

    def evidence(self, start: int, end: int) -> tuple[int, int, str]:
        """Original span and the original text it covers, for a normalized span."""
        s, e = self.to_original(start, end)
        return s, e, self.original[s:e]


@lru_cache(maxsize=1)
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def _half_width(ch: str) -> str:
    code = ord(ch)
    if 0xFF01 <= code <= 0xFF5E:
        ch = chr(code - 0xFEE0)
    elif code == 0x3000:
        return " "
    if "A" <= ch <= "Z":
        return ch.lower()
    return ch


def _simplify(text: str) -> list[str]:
    """Per original character, the simplified string it becomes (usually one char)."""
    conv = _converter()
    whole = conv.convert(text)
    if len(whole) == len(text):
        return list(whole)
    # A phrase rule changed the length: fall back to converting char by char,
    # which keeps the alignment exact.
    return [conv.convert(ch) for ch in text]


def normalize(text: str) -> NormText:
    """Normalize ``text`` for matching, keeping an exact map to the original."""
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pending_space: int | None = None  # original start of a whitespace run
    pieces = _simplify(text)
    for i, piece in enumerate(pieces):
        for ch in piece:
            ch = _half_width(ch)
            if ch.isspace():
                if pending_space is None:
                    pending_space = i
                continue
            if pending_space is not None:
                if out:  # drop leading whitespace entirely
                    out.append(" ")
                    starts.append(pending_space)
                    ends.append(i)
                pending_space = None
            out.append(ch)
            starts.append(i)
            ends.append(i + 1)
    return NormText(text, "".join(out), tuple(starts), tuple(ends))
