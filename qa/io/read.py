"""Reading and validating calls.

``read_calls(paths, config)`` expands files and folders into input files and
yields, in a stable order, either a :class:`~qa.types.Call` or a
:class:`~qa.types.RecordError` for every record: a bad record is reported with
its file and line and skipped, and every other record of the same file is
still read. Nothing is raised per record; only an input path that does not
exist raises :class:`InputError` up front.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from qa.config import Config
from qa.types import Call, RecordError, Turn

#: File name endings read as canonical JSON Lines.
JSONL_SUFFIXES = (".jsonl", ".ndjson")


class InputError(ValueError):
    """An input path that cannot be used at all (missing, or no input files in it)."""


@dataclass
class InputFile:
    """One input file and what reading it found; recorded in the manifest."""

    path: Path
    format: str
    bytes: int
    sha256: str = ""
    encoding: str = ""
    records: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "format": self.format,
            "encoding": self.encoding,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "records": self.records,
            "errors": self.errors,
        }


def expand_inputs(paths: Iterable[str | Path]) -> list[InputFile]:
    """Input files named by ``paths``: files as given, folders searched recursively.

    Files inside folders are taken when their name ends in a known suffix
    and does not start with a dot; they are sorted by path so a run reads
    them in the same order every time.
    """
    found: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            inside = sorted(
                f
                for f in path.rglob("*")
                if f.is_file() and f.name.endswith(JSONL_SUFFIXES) and not f.name.startswith(".")
            )
            if not inside:
                raise InputError(f"{path}: folder holds no input files ({', '.join(JSONL_SUFFIXES)})")
            found.extend(inside)
        elif path.is_file():
            found.append(path)
        else:
            raise InputError(f"{path}: no such file or folder")
    seen: set[Path] = set()
    files = []
    for f in found:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            files.append(InputFile(path=f, format="jsonl", bytes=f.stat().st_size))
    return files


class _BadRecord(ValueError):
    def __init__(self, reason: str, call_id: str | None = None):
        super().__init__(reason)
        self.call_id = call_id


def _opt_int(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise _BadRecord(f"{what} must be a number, got {type(value).__name__}")
    return int(value)


def _opt_str(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _BadRecord(f"{what} must be a string, got {type(value).__name__}")
    return value


def _req_id(obj: dict[str, Any], key: str, call_id: str | None) -> str:
    value = obj.get(key)
    if isinstance(value, (int,)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise _BadRecord(f"missing or empty '{key}'", call_id)
    return value.strip()


def call_from_dict(obj: Any, config: Config, source: str = "", line: int = 0) -> Call:
    """Validate one canonical call record and build a :class:`Call`.

    Raises ``_BadRecord`` (a ``ValueError``) with a reason a person can act on.
    """
    if not isinstance(obj, dict):
        raise _BadRecord(f"expected a JSON object, got {type(obj).__name__}")
    raw_id = obj.get("call_id")
    call_id = raw_id if isinstance(raw_id, str) else None
    call_id = _req_id(obj, "call_id", call_id)
    agent_id = _req_id(obj, "agent_id", call_id)
    raw_turns = obj.get("turns")
    if not isinstance(raw_turns, list):
        raise _BadRecord("missing 'turns' (a list of {speaker, text})", call_id)
    if not raw_turns:
        raise _BadRecord("call has no turns", call_id)
    turns: list[Turn] = []
    limit = config.input.max_turn_chars
    try:
        for i, t in enumerate(raw_turns):
            if not isinstance(t, dict):
                raise _BadRecord(f"turn {i}: expected an object, got {type(t).__name__}")
            label = t.get("speaker")
            if not isinstance(label, str):
                raise _BadRecord(f"turn {i}: missing 'speaker'")
            speaker = config.speaker(label)
            if speaker is None:
                raise _BadRecord(f"turn {i}: unknown speaker label {label!r} (add it to role_map in the config)")
            text = t.get("text")
            if not isinstance(text, str):
                raise _BadRecord(f"turn {i}: 'text' must be a string")
            if "\x00" in text:
                raise _BadRecord(f"turn {i}: text contains a NUL byte")
            if "\ufffd" in text:
                raise _BadRecord(f"turn {i}: text contains U+FFFD (bytes that did not decode)")
            if len(text) > limit:
                raise _BadRecord(f"turn {i}: text has {len(text)} characters, over max_turn_chars={limit}")
            turns.append(
                Turn(
                    index=i,
                    speaker=speaker,
                    text=text,
                    start_ms=_opt_int(t.get("start_ms"), f"turn {i}: start_ms"),
                    end_ms=_opt_int(t.get("end_ms"), f"turn {i}: end_ms"),
                )
            )
        started_at = _opt_str(obj.get("started_at"), "started_at")
        queue = _opt_str(obj.get("queue"), "queue")
    except _BadRecord as e:
        raise _BadRecord(str(e), call_id) from None
    return Call(
        call_id=call_id,
        agent_id=agent_id,
        turns=tuple(turns),
        started_at=started_at,
        queue=queue,
        source=source,
        line=line,
    )


def _read_jsonl(f: InputFile, config: Config) -> Iterator[Call | RecordError]:
    digest = hashlib.sha256()
    source = str(f.path)
    f.encoding = "utf-8"
    with open(f.path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            digest.update(raw)
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
                f.encoding = "utf-8-sig"
            if not raw.strip():
                continue
            f.records += 1
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                f.errors += 1
                yield RecordError(source, lineno, f"not valid UTF-8 at byte {e.start}")
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                f.errors += 1
                yield RecordError(source, lineno, f"invalid JSON: {e.msg} at column {e.colno}")
                continue
            try:
                yield call_from_dict(obj, config, source, lineno)
            except _BadRecord as e:
                f.errors += 1
                yield RecordError(source, lineno, str(e), e.call_id)
    f.sha256 = digest.hexdigest()


def read_calls(files: list[InputFile], config: Config) -> Iterator[Call | RecordError]:
    """Every record of ``files`` in order, as a Call or a RecordError.

    A call_id seen earlier in this run (in any file) is an error for the later
    record, which is skipped.
    """
    seen: dict[str, str] = {}
    for f in files:
        for item in _read_jsonl(f, config):
            if isinstance(item, Call):
                where = f"{item.source}:{item.line}"
                first = seen.get(item.call_id)
                if first is not None:
                    f.errors += 1
                    yield RecordError(item.source, item.line, f"duplicate call_id, first seen at {first}", item.call_id)
                    continue
                seen[item.call_id] = where
            yield item

