"""Jieba tokenization with the call-center user dictionary, loaded once.

One ``jieba.Tokenizer`` per process, built lazily behind a lock on first use,
with ``qa/text/userdict.txt`` added. Jieba's prefix-dictionary cache goes to a
user cache folder (``$QA_CACHE_DIR``, else ``$XDG_CACHE_HOME/qa``, else
``~/.cache/qa``; the system temp folder when none of those is writable), never
into the repository, and jieba's log output is kept quiet.

Tokens index the string they were computed from; a prepared turn tokenizes its
NORMALIZED text, so token offsets line up with ``PreparedTurn.norm.text``. It does
so on first access of ``PreparedTurn.tokens`` (rule entries with ``boundary:
true`` read them), so a configuration that never asks for token boundaries
never pays for jieba.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import jieba

from qa.recognizers.base import PreparedTurn, Token
from qa.text.normalize import normalize
from qa.types import Speaker

_LOCK = threading.Lock()
_TOKENIZER: jieba.Tokenizer | None = None


def _cache_dir() -> str:
    """A writable folder for jieba's cache, outside the repository."""
    candidates: list[Path] = []
    if os.environ.get("QA_CACHE_DIR"):
        candidates.append(Path(os.environ["QA_CACHE_DIR"]))
    xdg = os.environ.get("XDG_CACHE_HOME")
    candidates.append(Path(xdg) / "qa" if xdg else Path.home() / ".cache" / "qa")
    for folder in candidates:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return str(folder)
    return tempfile.gettempdir()


def read_userdict() -> list[tuple[str, int | None, str | None]]:
    """The user dictionary's entries as ``(word, freq, pos)``; blank and ``#`` lines skipped."""
    text = resources.files("qa.text").joinpath("userdict.txt").read_text(encoding="utf-8")
    entries: list[tuple[str, int | None, str | None]] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip().lstrip("\ufeff")
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) > 3:
            raise ValueError(f"qa/text/userdict.txt:{lineno}: expected 'word [freq] [pos]', got {raw!r}")
        freq = int(parts[1]) if len(parts) > 1 else None
        pos = parts[2] if len(parts) > 2 else None
        entries.append((parts[0], freq, pos))
    return entries


def get_tokenizer() -> jieba.Tokenizer:
    """The process-wide jieba tokenizer with the user dictionary loaded."""
    global _TOKENIZER
    if _TOKENIZER is not None:
        return _TOKENIZER
    with _LOCK:
        if _TOKENIZER is None:
            jieba.setLogLevel(logging.WARNING)
            tk = jieba.Tokenizer()
            tk.tmp_dir = _cache_dir()
            tk.initialize()
            for word, freq, pos in read_userdict():
                tk.add_word(word, freq, pos)
            _TOKENIZER = tk
    return _TOKENIZER


def tokenize(text: str) -> tuple[Token, ...]:
    """Jieba tokens of ``text`` with offsets into ``text``; whitespace-only tokens are dropped."""
    if not text:
        return ()
    tk = get_tokenizer()
    return tuple(Token(w, s, e) for w, s, e in tk.tokenize(text) if not w.isspace())


def prepare(call_id: str, turn: int, speaker: Speaker, text: str) -> PreparedTurn:
    """Normalize ``text``, ready for the recognizers; the turn's jieba tokens of the
    normalized text are computed when a recognizer first reads ``tokens``."""
    return PreparedTurn(call_id=call_id, turn=turn, speaker=speaker, norm=normalize(text))


def prepare_many(turns: Iterable[tuple[str, int, Speaker, str]]) -> list[PreparedTurn]:
    """:func:`prepare` over ``(call_id, turn, speaker, text)`` tuples, in order."""
    return [prepare(call_id, turn, speaker, text) for call_id, turn, speaker, text in turns]
