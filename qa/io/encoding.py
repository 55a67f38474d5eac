"""Decoding input bytes line by line: UTF-8 first, then GB18030, never a guess.

Exports arrive as UTF-8 (with or without a BOM), as GB18030/GBK from older
systems, now and then as UTF-16 with a BOM, and sometimes as a file that was
concatenated from parts in different encodings or damaged in transfer. So:

* A UTF-16 BOM followed by UTF-16-looking bytes (:func:`is_utf16`) makes
  the whole file UTF-16 (decoded at once; a line that holds bytes which are
  not UTF-16 is reported as undecodable).
* Otherwise each line is decoded on its own: strict UTF-8 first (a UTF-8
  BOM at the start of the file is dropped), then strict GB18030. Real
  GBK/GB18030 Chinese text is practically never valid UTF-8, so trying UTF-8
  first is safe, and a homogeneous file always comes out in one encoding.
* The first 64 KiB of the file decide what the file mostly is. In a file
  that is mostly UTF-8, a line that fails UTF-8 although most of its
  non-ASCII bytes form valid multi-byte UTF-8 sequences is *damaged UTF-8*,
  not GBK: decoding it as GB18030 would turn its Chinese into
  plausible-looking mojibake, so it is reported as undecodable instead.
* A line that decodes under neither is reported with the offset of its first
  bad byte; the caller turns that into an error for the record, and U+FFFD
  never reaches a record's text.

:class:`LineDecoder` records which encodings it used; its :attr:`name` goes
into the manifest: ``utf-8``, ``utf-8-sig``, ``gb18030``, ``utf-16``, or
``utf-8+gb18030`` for a file holding lines of both.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

#: Read-ahead used to sniff formats and the UTF-16 BOM.
SNIFF_BYTES = 64 * 1024

# Multi-byte UTF-8 sequences of 3 and 4 bytes (all of CJK). Two-byte sequences
# are left out: GBK text forms them by accident far too often.
_HIGH_BYTES = bytes(range(0x80, 0x100))
_UTF8_LONG_SEQ = re.compile(rb"[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


class Undecodable(ValueError):
    """A line that decodes neither as UTF-8 nor as GB18030."""

    def __init__(self, reason: str, offset: int):
        super().__init__(reason)
        self.offset = offset


def is_utf16(head: bytes) -> bool:
    """Whether a file starting with ``head`` is UTF-16: a UTF-16 BOM, and NUL bytes all over.

    UTF-16 text puts a NUL next to every ASCII character, newlines included,
    so split on ``\n`` nearly every piece holds one; a UTF-8 or GB18030 file
    that merely starts with the bytes of a BOM (damage) does not.
    """
    if not head.startswith(UTF16_BOMS):
        return False
    body = head[2:]
    with_nul = sum(len(piece) + 1 for piece in body.split(b"\n") if b"\x00" in piece)
    return 2 * with_nul >= len(body)


def looks_like_damaged_utf8(raw: bytes) -> bool:
    """True when at least half of the non-ASCII bytes of ``raw`` form 3- or 4-byte UTF-8 sequences."""
    non_ascii = len(raw) - len(raw.translate(None, _HIGH_BYTES))
    if not non_ascii:
        return False
    in_utf8 = sum(len(m) for m in _UTF8_LONG_SEQ.findall(raw))
    return 2 * in_utf8 >= non_ascii


@dataclass
class LineDecoder:
    """Decodes lines of one file and remembers which encodings it needed.

    ``mostly_gb18030`` is set by :meth:`prime` from the start of the file;
    it turns off the damaged-UTF-8 check, which only makes sense in a file
    that is otherwise UTF-8.
    """

    bom: bool = False
    mostly_gb18030: bool = False
    used: set[str] = field(default_factory=set)

    def prime(self, head: bytes) -> None:
        """Look at the first bytes of the file (BOM removed) to learn what it mostly is."""
        lines = head.split(b"\n")
        if len(lines) > 1:
            lines.pop()  # possibly cut short
        utf8 = gb = 0
        for raw in lines:
            if raw.isascii():
                continue
            try:
                raw.decode("utf-8")
                utf8 += 1
            except UnicodeDecodeError:
                try:
                    raw.decode("gb18030")
                    gb += 1
                except UnicodeDecodeError:
                    pass
        self.mostly_gb18030 = gb > utf8

    def decode(self, raw: bytes) -> str:
        """``raw`` (one line, without its line ending) as text; raises :class:`Undecodable`."""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            if not self.mostly_gb18030 and looks_like_damaged_utf8(raw):
                raise Undecodable(
                    f"not valid UTF-8 at byte {e.start} of the line (byte 0x{raw[e.start]:02X}); "
                    "the rest of the line is UTF-8, so it is damaged rather than GB18030",
                    e.start,
                ) from None
            try:
                text = raw.decode("gb18030")
            except UnicodeDecodeError:
                raise Undecodable(
                    f"neither UTF-8 nor GB18030 at byte {e.start} of the line (byte 0x{raw[e.start]:02X})",
                    e.start,
                ) from None
            self.used.add("gb18030")
            return text
        if not raw.isascii():
            self.used.add("utf-8")
        return text

    @property
    def name(self) -> str:
        """The encoding(s) this file turned out to be in, for the manifest."""
        if "utf-16" in self.used:
            return "utf-16"
        if "gb18030" in self.used:
            return "utf-8+gb18030" if "utf-8" in self.used else "gb18030"
        return "utf-8-sig" if self.bom else "utf-8"


@dataclass(frozen=True, slots=True)
class Line:
    """One physical line: its 1-based number, its text, and why it failed to decode (if it did).

    ``text`` has its line ending removed. When ``error`` is set, ``text`` is a
    lossy rendering (U+FFFD for bad bytes) that a reader may use to find the
    record's id or structure, never as record content.
    """

    number: int
    text: str
    error: str | None = None


def _strip_eol(raw: bytes) -> bytes:
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return raw


def iter_lines(fh: BinaryIO, decoder: LineDecoder) -> Iterator[Line]:
    """The lines of the binary stream ``fh``, decoded one by one.

    A compressed stream that turns out truncated or corrupt ends with one
    :class:`Line` carrying the error, instead of raising.
    """
    try:
        head = fh.read(SNIFF_BYTES)
    except (OSError, EOFError, zlib.error) as e:
        yield Line(1, "", f"cannot read the input: {e}")
        return
    if is_utf16(head):
        try:
            data = head + fh.read()
        except (OSError, EOFError, zlib.error) as e:
            yield Line(1, "", f"cannot read the input: {e}")
            return
        last = 0
        for line in _iter_utf16(data, decoder):
            last = line.number
            yield line
        broken = getattr(fh, "stream_error", None)
        if broken:
            yield Line(last + 1, "", f"input stream is truncated or corrupt here: {broken}")
        return
    if head.startswith(UTF8_BOM):
        decoder.bom = True
        head = head[len(UTF8_BOM) :]
    decoder.prime(head)
    number = 0
    parts: list[bytes] = []
    chunks = _chunks(fh, head)
    while True:
        try:
            chunk = next(chunks)
        except StopIteration:
            break
        except (OSError, EOFError, zlib.error) as e:
            yield Line(number + 1, "", f"input stream is truncated or corrupt after line {number}: {e}")
            return
        pieces = chunk.split(b"\n")
        if len(pieces) == 1:
            parts.append(chunk)
            continue
        parts.append(pieces[0])
        number += 1
        yield _decode_line(number, b"".join(parts), decoder)
        for raw in pieces[1:-1]:
            number += 1
            yield _decode_line(number, raw, decoder)
        parts = [pieces[-1]]
    rest = b"".join(parts)
    broken = getattr(fh, "stream_error", None)
    if broken:
        text = _strip_eol(rest).decode("utf-8", errors="replace")
        yield Line(number + 1, text, f"input stream is truncated or corrupt here: {broken}")
    elif rest:
        yield _decode_line(number + 1, rest, decoder)


def _chunks(fh: BinaryIO, head: bytes) -> Iterator[bytes]:
    if head:
        yield head
    while True:
        chunk = fh.read(1 << 20)
        if not chunk:
            return
        yield chunk


def _decode_line(number: int, raw: bytes, decoder: LineDecoder) -> Line:
    raw = _strip_eol(raw)
    try:
        return Line(number, decoder.decode(raw))
    except Undecodable as e:
        return Line(number, raw.decode("utf-8", errors="replace"), str(e))


def _iter_utf16(data: bytes, decoder: LineDecoder) -> Iterator[Line]:
    decoder.used.add("utf-16")
    text = data.decode("utf-16", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        line = line.removesuffix("\r")
        if "\ufffd" in line:
            yield Line(number, line, f"bytes that are not UTF-16 at character {line.index(chr(0xFFFD))} of the line")
        else:
            yield Line(number, line)


def decode_text(data: bytes) -> tuple[str, str]:
    """A whole small input (a sniffed prefix) as text, lossy, and the encoding name; for sniffing only."""
    if is_utf16(data):
        return data.decode("utf-16", errors="replace"), "utf-16"
    decoder = LineDecoder()
    data = data.removeprefix(UTF8_BOM)
    decoder.prime(data)
    lines = []
    for raw in data.split(b"\n"):
        try:
            lines.append(decoder.decode(_strip_eol(raw)))
        except Undecodable:
            lines.append(raw.decode("utf-8", errors="replace"))
    return "\n".join(lines), decoder.name
