"""Canonical JSON Lines: one call object per line.

Blank lines are skipped; every other line is one record. A line that does not
decode, does not parse or does not validate becomes a RecordError naming the
line (and the call_id when it can still be read off the text); the next line
is read as usual. A file whose first record line is ``[`` or ``{`` alone holds
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


def read_jsonl(f: InputFile, config: Config) -> Iterator[Call | RecordError]:
    """Every record of one JSON Lines file, as a Call or a RecordError."""
    source = str(f.path)
    decoder = LineDecoder()
    first = True
    with open_binary(f) as fh:
        for line in iter_lines(fh, decoder):
            if not line.text.strip() and line.error is None:
                continue
            f.records += 1
            if line.error is not None:
                f.errors += 1
                yield RecordError(source, line.number, line.error, guess_call_id(line.text))
                continue
            stripped = line.text.strip()
            if first and (stripped.startswith("[") or stripped == "{"):
                f.errors += 1
                yield RecordError(
                    source,
                    line.number,
                    "file holds pretty-printed JSON, not JSON lines (one call object per line); "
                    "convert it with: jq -c '.[]'",
                )
                break
            first = False
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
    f.encoding = decoder.name


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
