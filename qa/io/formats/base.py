"""What every reader shares: the input-file record, record validation, opening files.

Validation lives here once, so a call read from JSONL, a table or a text
dialog is checked by the same rules and rejected with the same reasons:
required ids, at least one turn, a speaker label known to the role map, text
without NUL bytes or U+FFFD, no turn over ``input.max_turn_chars``.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from qa.config import Config
from qa.types import Call, Speaker, Turn


@dataclass
class InputFile:
    """One input file and what reading it found; recorded in the manifest.

    ``format`` is the reader used (``jsonl``, ``csv``, ``tsv``, ``parquet``,
    ``dialog``); ``compression`` is ``gzip`` or empty; ``encoding`` is what
    the text turned out to be in (see :mod:`qa.io.encoding`); ``records``
    counts records read (lines of JSONL, calls of a table, one per dialog
    file) and ``errors`` those rejected.
    """

    path: Path
    format: str
    bytes: int
    sha256: str = ""
    encoding: str = ""
    records: int = 0
    errors: int = 0
    compression: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "format": self.format,
            "compression": self.compression,
            "encoding": self.encoding,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "records": self.records,
            "errors": self.errors,
        }


class BadRecord(ValueError):
    """A record that fails validation; the message is the reason a person reads."""

    def __init__(self, reason: str, call_id: str | None = None):
        super().__init__(reason)
        self.call_id = call_id


class _GunzipRaw(io.RawIOBase):
    """A gzip file's decompressed bytes (every member), yielding every byte that precedes damage.

    ``gzip.GzipFile`` raises on a truncated or corrupt stream and throws away
    whatever the failing ``read`` had already decompressed; this hands all of
    it out, then ends the stream and records why in :attr:`error`.
    """

    def __init__(self, path: Path):
        self._fh = open(path, "rb")
        self._z = zlib.decompressobj(wbits=31)
        self._out = b""
        self._pos = 0
        self._done = False
        self.error: str | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while self._pos >= len(self._out):
            if self._done:
                return 0
            self._fill()
        n = min(len(b), len(self._out) - self._pos)
        b[:n] = self._out[self._pos : self._pos + n]
        self._pos += n
        return n

    def _fill(self) -> None:
        self._out, self._pos = b"", 0
        chunk = self._fh.read(1 << 16)
        if not chunk:
            self._done = True
            if not self._z.eof:
                self.error = "compressed data ends before its end-of-stream marker (truncated)"
            return
        try:
            if self._z.eof:
                if not chunk.strip(b"\x00"):
                    return  # zero padding after the last member
                self._z = zlib.decompressobj(wbits=31)
            self._out = self._z.decompress(chunk)
            while self._z.eof and self._z.unused_data.strip(b"\x00"):
                rest = self._z.unused_data
                self._z = zlib.decompressobj(wbits=31)
                self._out += self._z.decompress(rest)
        except zlib.error as e:
            self._done = True
            self.error = f"corrupt compressed data: {e}"

    def close(self) -> None:
        self._fh.close()
        super().close()


class GzipReader(io.BufferedReader):
    """Buffered reading of :class:`_GunzipRaw`; :attr:`stream_error` says why the stream ended early."""

    @property
    def stream_error(self) -> str | None:
        return self.raw.error  # type: ignore[attr-defined, no-any-return]


def open_gzip(path: Path) -> GzipReader:
    """A gzip file's decompressed bytes; check ``stream_error`` after reading to the end."""
    return GzipReader(_GunzipRaw(path), buffer_size=1 << 16)


def open_binary(f: InputFile) -> BinaryIO:
    """The file's bytes, decompressed when it is gzip (see :func:`open_gzip`)."""
    if f.compression == "gzip":
        return open_gzip(f.path)  # type: ignore[return-value]
    return open(f.path, "rb")


def stream_error(fh: Any) -> str | None:
    """Why a stream from :func:`open_binary` ended early (damaged gzip data), or None."""
    return getattr(fh, "stream_error", None)


def file_sha256(path: Path) -> str:
    """SHA-256 of the bytes on disk (compressed bytes for a .gz)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


_CALL_ID_IN_TEXT = re.compile(r'"call_id"\s*:\s*(?:"([^"\\\ufffd]{1,200})"|(\d{1,30})[,}\s])')


def guess_call_id(text: str) -> str | None:
    """The call_id of a record too broken to parse, when it can still be read off the text."""
    m = _CALL_ID_IN_TEXT.search(text)
    if not m:
        return None
    value = (m.group(1) or m.group(2) or "").strip()
    return value or None


_BAD_CHAR = re.compile("[\x00\ufffd\ud800-\udfff]")


def bad_char(text: str) -> str | None:
    """Why ``text`` cannot be content (a NUL, U+FFFD or a lone surrogate), or None."""
    m = _BAD_CHAR.search(text)
    if m is None:
        return None
    c = m.group()
    if c == "\x00":
        return "a NUL byte"
    if c == "\ufffd":
        return "U+FFFD (bytes that did not decode)"
    return f"a lone surrogate U+{ord(c):04X}"


def short(value: Any, limit: int = 40) -> str:
    """``repr(value)``, cut to about ``limit`` characters for an error message."""
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 4] + "...'"


def opt_int(value: Any, what: str, *, lenient: bool = False) -> int | None:
    """An optional whole number.

    Strict (JSON): None or a number. ``lenient`` (tables, where exports type
    columns loosely): also a string holding a number, and NaN or an empty
    string as missing.
    """
    kind = type(value)
    if kind is int or value is None:
        return value
    if lenient and kind is str:
        s = value.strip()
        if s.isascii() and s.isdigit():
            return int(s)
        if not s:
            return None
        try:
            value = float(s) if any(c in s for c in ".eE") else int(s)
        except ValueError:
            raise BadRecord(f"{what} must be a number, got {short(value)}") from None
    if lenient and isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and math.isnan(value)):
        raise BadRecord(f"{what} must be a number, got {type(value).__name__}")
    if isinstance(value, float) and not value.is_integer():
        raise BadRecord(f"{what} must be a whole number, got {short(value)}")
    return int(value)


def opt_str(value: Any, what: str) -> str | None:
    """An optional string field; None stays None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRecord(f"{what} must be a string, got {type(value).__name__}")
    why = bad_char(value)
    if why:
        raise BadRecord(f"{what} contains {why}")
    return value


def req_id(value: Any, key: str, call_id: str | None = None) -> str:
    """A required id (call_id, agent_id): a non-empty string or an integer, stripped."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise BadRecord(f"missing or empty '{key}'", call_id)
    why = bad_char(value)
    if why:
        raise BadRecord(f"'{key}' contains {why}", call_id)
    return value.strip()


def turn_fields(
    label: Any, text: Any, start_ms: Any, end_ms: Any, config: Config, *, lenient: bool = False
) -> tuple[Speaker, str, int | None, int | None]:
    """Validate one turn's fields; raises :class:`BadRecord` with the reason alone."""
    if label is None or (isinstance(label, str) and not label.strip()):
        raise BadRecord("missing 'speaker'")
    if not isinstance(label, str):
        raise BadRecord(f"'speaker' must be a string, got {type(label).__name__}")
    speaker = config.speaker(label)
    if speaker is None:
        raise BadRecord(f"unknown speaker label {short(label)} (add it to role_map in the config)")
    if not isinstance(text, str):
        raise BadRecord("'text' must be a string" if text is not None else "missing 'text'")
    why = bad_char(text)
    if why:
        raise BadRecord(f"text contains {why}")
    limit = config.input.max_turn_chars
    if len(text) > limit:
        raise BadRecord(f"text has {len(text)} characters, over max_turn_chars={limit}")
    return (
        speaker,
        text,
        opt_int(start_ms, "start_ms", lenient=lenient),
        opt_int(end_ms, "end_ms", lenient=lenient),
    )


def make_turn(
    index: int, label: Any, text: Any, start_ms: Any, end_ms: Any, config: Config, *, lenient: bool = False
) -> Turn:
    """Validate one turn's fields and build it; raises :class:`BadRecord` with the reason alone."""
    return Turn(index, *turn_fields(label, text, start_ms, end_ms, config, lenient=lenient))


def call_from_dict(obj: Any, config: Config, source: str = "", line: int = 0) -> Call:
    """Validate one canonical call record and build a :class:`Call`.

    Raises :class:`BadRecord` (a ``ValueError``) with a reason a person can act on.
    """
    if not isinstance(obj, dict):
        raise BadRecord(f"expected a JSON object, got {type(obj).__name__}")
    raw_id = obj.get("call_id")
    known = raw_id.strip() if isinstance(raw_id, str) and raw_id.strip() else None
    call_id = req_id(raw_id, "call_id", known)
    agent_id = req_id(obj.get("agent_id"), "agent_id", call_id)
    raw_turns = obj.get("turns")
    if not isinstance(raw_turns, list):
        raise BadRecord("missing 'turns' (a list of {speaker, text})", call_id)
    if not raw_turns:
        raise BadRecord("call has no turns", call_id)
    turns: list[Turn] = []
    for i, t in enumerate(raw_turns):
        try:
            if not isinstance(t, dict):
                raise BadRecord(f"expected an object, got {type(t).__name__}")
            turns.append(make_turn(i, t.get("speaker"), t.get("text"), t.get("start_ms"), t.get("end_ms"), config))
        except BadRecord as e:
            raise BadRecord(f"turn {i}: {e}", call_id) from None
    try:
        started_at = opt_str(obj.get("started_at"), "started_at")
        queue = opt_str(obj.get("queue"), "queue")
    except BadRecord as e:
        raise BadRecord(str(e), call_id) from None
    return Call(
        call_id=call_id,
        agent_id=agent_id,
        turns=tuple(turns),
        started_at=started_at,
        queue=queue,
        source=source,
        line=line,
    )


def call_to_dict(call: Call) -> dict[str, Any]:
    """The canonical JSON record of ``call`` (the inverse of :func:`call_from_dict`); None fields left out."""
    out: dict[str, Any] = {"call_id": call.call_id, "agent_id": call.agent_id}
    if call.started_at is not None:
        out["started_at"] = call.started_at
    if call.queue is not None:
        out["queue"] = call.queue
    turns = []
    for t in call.turns:
        d: dict[str, Any] = {"speaker": t.speaker.value, "text": t.text}
        if t.start_ms is not None:
            d["start_ms"] = t.start_ms
        if t.end_ms is not None:
            d["end_ms"] = t.end_ms
        turns.append(d)
    out["turns"] = turns
    return out
