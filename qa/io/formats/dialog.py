"""Plain-text dialogs: one call per file, one speaker line per turn.

::

    # agent_id: A17
    # started_at: 2026-11-02T09:15:00+08:00
    客户：我买的东西到现在还没到
    [00:00:03.100-00:00:06.000] 客服：非常抱歉让您久等了，
    我马上帮您查

* A speaker line is ``LABEL：text`` or ``LABEL: text`` (full- or half-width
  colon), the label optionally in brackets (``[客服]：``, ``【客户】:``) and
  optionally followed by a parenthesised name (``客服(小王)：``), and
  optionally preceded by a time or time range ``[hh:mm:ss.mmm-hh:mm:ss.mmm]``
  that gives start_ms/end_ms. The label goes through the role map
  (case-insensitive: 客服/坐席/agent/A, 客户/用户/customer/Q, ...).
* A line without a speaker prefix continues the previous turn: it is joined
  to it with a newline, as it stands. Blank lines are skipped.
* A line that looks like a speaker line (a short label of letters or Chinese
  characters, no spaces, then a colon) but whose label the role map does not
  know is an error for the call, naming the label: an unknown speaker is
  never folded silently into someone else's turn.
* Before the first speaker line, ``# key: value`` lines set ``agent_id``,
  ``started_at``, ``queue`` and ``call_id``; other ``#`` lines are comments.
* call_id is the file name without its suffixes (``C0001.txt.gz`` ->
  ``C0001``) unless a ``# call_id:`` header says otherwise; agent_id is the
  ``# agent_id:`` header, else the name of the folder holding the file
  (exports laid out as ``<agent_id>/<call_id>.txt``).
* A problem is an error for the whole call, at the line where it is (the
  first such line); ``line`` is 0 for a problem of the whole file (no turns,
  no agent_id).
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from qa.config import Config
from qa.io.encoding import LineDecoder, iter_lines
from qa.io.formats.base import BadRecord, InputFile, make_turn, open_binary, opt_str, req_id, short
from qa.types import Call, RecordError, Speaker, Turn

_TIME = r"(?:\d{1,2}:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?"
_SPEAKER_LINE = re.compile(
    r"^[ \t\u3000]*"
    rf"(?:[\[【]?(?P<start>{_TIME})(?:[ ]?[-–~～][ ]?(?P<end>{_TIME}))?[\]】]?[ \t\u3000]*)?"
    r"[\[【]?(?P<label>[^\W\d_][^\s:：\[\]【】()（）,，.。!！?？\"'“”‘’、;；]{0,11}?)[\]】]?"
    r"(?:[(（][^()（）]{0,20}[)）])?"
    r"[ \t\u3000]*[:：](?!//)[ \t\u3000]*(?P<text>.*)$",
    re.DOTALL,
)
_HEADER = re.compile(r"^#[ \t]*(?P<key>[A-Za-z_]+)[ \t]*[:：][ \t]*(?P<value>.*?)[ \t]*$")
_HEADER_KEYS = ("call_id", "agent_id", "started_at", "queue")
_SUFFIXES = (".gz", ".txt", ".text", ".dialog")


def _ms(stamp: str | None) -> int | None:
    """``hh:mm:ss.mmm`` / ``mm:ss`` -> milliseconds."""
    if stamp is None:
        return None
    whole, _, frac = stamp.replace(",", ".").partition(".")
    seconds = 0
    for part in whole.split(":"):
        seconds = seconds * 60 + int(part)
    return seconds * 1000 + (int(frac.ljust(3, "0")) if frac else 0)


def call_id_from_name(path: Path) -> str:
    """The file name without its dialog suffixes."""
    name = path.name
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if name.lower().endswith(suffix) and len(name) > len(suffix):
                name, changed = name[: -len(suffix)], True
    return name if name != path.name else path.stem


def speaker_line(text: str, config: Config) -> tuple[Speaker | None, re.Match[str]] | None:
    """(speaker or None when the label is unknown, match) for a speaker-shaped line, else None."""
    m = _SPEAKER_LINE.match(text)
    if m is None:
        return None
    return config.speaker(m.group("label")), m


def looks_like_dialog(text: str, config: Config) -> bool:
    """Whether ``text`` (a file's first lines) has a speaker line with a known label."""
    lines = [ln for ln in text.split("\n") if ln.strip()][:50]
    return any((s := speaker_line(ln.rstrip("\r"), config)) is not None and s[0] is not None for ln in lines)


def read_dialog(f: InputFile, config: Config) -> Iterator[Call | RecordError]:
    """The one call of a text dialog file, as a Call or a RecordError."""
    source = str(f.path)
    f.records += 1
    header: dict[str, str] = {}
    turns: list[dict[str, Any]] = []
    problem: tuple[int, str] | None = None
    decoder = LineDecoder()
    with open_binary(f) as fh:
        for line in iter_lines(fh, decoder):
            if line.error is not None:
                problem = problem or (line.number, line.error)
                continue
            text = line.text
            if not text.strip():
                continue
            if not turns and text.lstrip().startswith("#"):
                h = _HEADER.match(text.strip())
                if h and h.group("key").lower() in _HEADER_KEYS:
                    header.setdefault(h.group("key").lower(), h.group("value"))
                continue
            found = speaker_line(text, config)
            if found is None:
                if not turns:
                    problem = problem or (
                        line.number,
                        "text before the first speaker line (expected 客服：... or 客户：...)",
                    )
                else:
                    turns[-1]["parts"].append(text)
                continue
            speaker, m = found
            if speaker is None:
                problem = problem or (
                    line.number,
                    f"unknown speaker label {short(m.group('label'))} (add it to role_map in the config)",
                )
                continue
            turns.append(
                {
                    "line": line.number,
                    "speaker": m.group("label"),
                    "parts": [m.group("text")],
                    "start_ms": _ms(m.group("start")),
                    "end_ms": _ms(m.group("end")),
                }
            )
    f.encoding = decoder.name
    call_id = header.get("call_id") or call_id_from_name(f.path)
    try:
        call_id = req_id(call_id, "call_id")
        if problem is not None:
            raise BadRecord(problem[1], call_id)
        agent_id = req_id(header.get("agent_id") or f.path.absolute().parent.name, "agent_id", call_id)
        started_at = opt_str(header.get("started_at") or None, "started_at")
        queue = opt_str(header.get("queue") or None, "queue")
        if not turns:
            raise BadRecord("call has no turns", call_id)
        built: list[Turn] = []
        for i, t in enumerate(turns):
            text = "\n".join(t["parts"])
            try:
                built.append(make_turn(i, t["speaker"], text, t["start_ms"], t["end_ms"], config))
            except BadRecord as e:
                problem = (t["line"], str(e))
                raise BadRecord(str(e), call_id) from None
    except BadRecord as e:
        f.errors += 1
        yield RecordError(source, problem[0] if problem else 0, str(e), e.call_id)
        return
    yield Call(
        call_id=call_id,
        agent_id=agent_id,
        turns=tuple(built),
        started_at=started_at,
        queue=queue,
        source=source,
        line=turns[0]["line"],
    )


# --- Writing ------------------------------------------------------------------

DEFAULT_LABELS: dict[Speaker, str] = {Speaker.AGENT: "客服", Speaker.CUSTOMER: "客户"}


def _stamp(ms: int) -> str:
    s, milli = divmod(ms, 1000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return f"{h:02d}:{m:02d}:{s:02d}.{milli:03d}"


def format_dialog(
    call: Call,
    *,
    labels: Mapping[Speaker, str] | None = None,
    colon: str = "：",
    header: Iterable[str] = ("agent_id", "started_at", "queue"),
    config: Config | None = None,
) -> str:
    """``call`` as a text dialog that :func:`read_dialog` reads back as the same call.

    With ``config`` given, raises ValueError when a turn's text could not come
    back unchanged (blank or speaker-shaped continuation lines, leading
    whitespace, negative times).
    """
    names = labels or DEFAULT_LABELS
    out = []
    for key in header:
        value = getattr(call, key)
        if value is not None:
            out.append(f"# {key}: {value}")
    for t in call.turns:
        stamp = ""
        if t.start_ms is not None:
            stamp = f"[{_stamp(t.start_ms)}" + (f"-{_stamp(t.end_ms)}" if t.end_ms is not None else "") + "] "
        elif t.end_ms is not None:
            raise ValueError(f"call {call.call_id} turn {t.index}: end_ms without start_ms cannot be written")
        first, *rest = t.text.split("\n")
        if config is not None:
            _check_exact(call, t, first, rest, config)
        out.append(f"{stamp}{names[t.speaker]}{colon}{first}")
        out.extend(rest)
    return "\n".join(out) + "\n"


def _check_exact(call: Call, t: Turn, first: str, rest: list[str], config: Config) -> None:
    where = f"call {call.call_id} turn {t.index}"
    if first[:1] in (" ", "\t", "\u3000") or first.endswith("\r"):
        raise ValueError(f"{where}: text starting with whitespace or ending in CR does not survive a dialog file")
    if (t.start_ms is not None and t.start_ms < 0) or (t.end_ms is not None and t.end_ms < 0):
        raise ValueError(f"{where}: negative times cannot be written")
    for line in rest:
        if not line.strip() or speaker_line(line, config) is not None or line.endswith("\r"):
            raise ValueError(f"{where}: continuation line {line!r} would not read back as text")


def write_dialogs(
    calls: Iterable[Call],
    folder: str | Path,
    *,
    encoding: str = "utf-8",
    line_ending: str = "\n",
    compress: bool = False,
    labels: Mapping[Speaker, str] | None = None,
    colon: str = "：",
    config: Config | None = None,
) -> list[Path]:
    """Write each call to ``folder/<agent_id>/<call_id>.txt`` (``.txt.gz`` when ``compress``); the paths written."""
    written = []
    for call in calls:
        text = format_dialog(call, labels=labels, colon=colon, config=config)
        data = text.replace("\n", line_ending).encode(encoding)
        path = Path(folder) / call.agent_id / f"{call.call_id}.txt"
        if compress:
            path = path.with_name(path.name + ".gz")
            data = gzip.compress(data, mtime=0)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    return written
