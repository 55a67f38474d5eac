"""Canonical JSON Lines: one call object per line.

Blank lines are skipped; every other line is one record. A line that does not
decode, does not parse or does not validate becomes a RecordError naming the
line (and the call_id when it can still be read off the text); the next line
is read as usual. A file whose first record line is ``[``, or ``{`` alone with
no call record on one line in the next :data:`LOOKAHEAD_LINES` lines, holds
pretty-printed JSON, not JSON lines: that is one error for the file.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from qa.config import Config
from qa.io.encoding import LineDecoder, iter_lines
from qa.io.formats.base import BadRecord, InputFile, call_from_dict, call_to_dict, guess_call_id, open_binary
from qa.types import Call, RecordError


#: How far past a first line of ``{`` alone to look for a call record on one line.
LOOKAHEAD_LINES = 1000


def _is_call_line(text: str) -> bool:
    """Whether a line is a whole call record (a JSON object with call_id or turns)."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(obj, dict) and ("call_id" in obj or "turns" in obj)


def read_jsonl(f: InputFile, config: Config) -> Iterator[Call | RecordError]:
    """Every record of one JSON Lines file, as a Call or a RecordError."""
    source = str(f.path)
    decoder = LineDecoder()
    with open_binary(f) as fh:
        lines = iter_lines(fh, decoder)
        for line in lines:
            if not line.text.strip() and line.error is None:
                continue
            stripped = line.text.strip()
            if line.error is None and (stripped.startswith("[") or stripped == "{"):
                # Pretty-printed JSON, unless a call record on one line follows soon
                # (then this is JSON lines whose first record is damaged).
                ahead = []
                for later in lines:
                    ahead.append(later)
                    if len(ahead) >= LOOKAHEAD_LINES or (later.error is None and _is_call_line(later.text)):
                        break
                if stripped.startswith("[") or not (ahead and _is_call_line(ahead[-1].text)):
                    f.records += 1
                    f.errors += 1
                    yield RecordError(
                        source,
                        line.number,
                        "file holds pretty-printed JSON, not JSON lines (one call object per line); "
                        "convert it with: jq -c '.[]'",
                    )
                    f.encoding = decoder.name
                    return
                yield from _records(f, [line, *ahead], source, config)
            else:
                yield from _records(f, [line], source, config)
            break
        yield from _records(f, lines, source, config)
    f.encoding = decoder.name


def _records(f: InputFile, lines: Iterable, source: str, config: Config) -> Iterator[Call | RecordError]:
    """Each non-blank line as a Call or a RecordError naming the line."""
    for line in lines:
        if not line.text.strip() and line.error is None:
            continue
        f.records += 1
        if line.error is not None:
            f.errors += 1
            yield RecordError(source, line.number, line.error, guess_call_id(line.text))
            continue
        try:
            obj: Any = json.loads(line.text)
        except json.JSONDecodeError as e:
            f.errors += 1
            yield RecordError(
                source, line.number, f"invalid JSON: {e.msg} at column {e.colno}", guess_call_id(line.text)
            )
            continue
        except (ValueError, RecursionError) as e:  # a number too long to convert, nesting too deep
            f.errors += 1
            reason = "nested too deeply" if isinstance(e, RecursionError) else str(e)
            yield RecordError(source, line.number, f"invalid JSON: {reason}", guess_call_id(line.text))
            continue
        try:
            yield call_from_dict(obj, config, source, line.number)
        except BadRecord as e:
            f.errors += 1
            yield RecordError(source, line.number, str(e), e.call_id)


def dumps_call(obj: dict[str, Any]) -> str:
    """One JSON line (no newline) for a canonical call dict."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def write_jsonl(calls: Iterable[Call], path: str | Path, *, encoding: str = "utf-8", line_ending: str = "\n") -> None:
    """Write ``calls`` as canonical JSON lines; gzip-compressed when ``path`` ends in ``.gz``."""
    path = Path(path)
    text = "".join(dumps_call(call_to_dict(c)) + line_ending for c in calls)
    data = text.encode(encoding)
    if path.name.lower().endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
