"""Reading and validating calls from every input format.

``expand_inputs(paths)`` turns files, folders (searched recursively) and glob
patterns into :class:`InputFile` records, each with the format that will read
it; ``read_calls(files, config)`` yields, in a stable order, either a
:class:`~qa.types.Call` or a :class:`~qa.types.RecordError` for every record:
a bad record is reported with its file and line (or row) and skipped, and
every other record of the same file is still read. Nothing is raised per
record; only an input path that cannot be used at all raises
:class:`InputError`, up front.

Formats (see :mod:`qa.io.formats`): ``jsonl`` (``.jsonl``, ``.ndjson``,
``.json`` holding JSON lines), ``csv``, ``tsv`` (``.tsv``, ``.tab``),
``parquet`` (``.parquet``, ``.pq``) and ``dialog`` (``.txt``), each also
gzip-compressed (``calls.jsonl.gz``). Encodings: see :mod:`qa.io.encoding`.

Choosing the reader:

* inside a folder or a glob's matches, a file is taken when its name ends in
  a known suffix; other files, and hidden files and folders (name starting
  with a dot), are skipped;
* a file named explicitly with an unknown suffix is sniffed: ``PAR1`` magic
  -> parquet, a first line holding a JSON object -> jsonl, a header naming
  the call_id and text columns -> csv/tsv, speaker lines with known labels
  -> dialog; otherwise :class:`InputError` names it. Gzip is recognised by
  its magic bytes too.
"""

from __future__ import annotations

import glob
import json
import zlib
from pathlib import Path
from typing import Iterable, Iterator

import polars as pl

from qa.config import Config, load_config
from qa.io.encoding import SNIFF_BYTES, decode_text
from qa.io.formats import READERS
from qa.io.formats.base import BadRecord, InputFile, call_from_dict, file_sha256, open_binary, open_gzip
from qa.io.formats.dialog import looks_like_dialog
from qa.io.formats.table import table_columns
from qa.types import Call, RecordError

__all__ = [
    "InputError",
    "InputFile",
    "call_from_dict",
    "count_records",
    "expand_inputs",
    "read_calls",
    "sniff_format",
]

#: File name suffix -> format, for files found in folders and by globs.
SUFFIX_FORMATS: dict[str, str] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "dialog",
}
#: Kept for callers of the first version of this module.
JSONL_SUFFIXES = tuple(s for s, f in SUFFIX_FORMATS.items() if f == "jsonl")

_BadRecord = BadRecord  # the name the first version of this module used


class InputError(ValueError):
    """An input path that cannot be used at all (missing, no input files in it, unknown format)."""


def format_from_name(name: str) -> tuple[str | None, str]:
    """(format, compression) from a file name's suffixes; format None when unknown."""
    lower = name.lower()
    compression = ""
    if lower.endswith(".gz"):
        compression, lower = "gzip", lower[:-3]
    for suffix, fmt in SUFFIX_FORMATS.items():
        if lower.endswith(suffix):
            return fmt, compression
    return None, compression


def sniff_format(path: Path, config: Config | None = None) -> tuple[str | None, str]:
    """(format, compression) of ``path`` from its first bytes; format None when nothing fits."""
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    compression = ""
    if head[:2] == b"\x1f\x8b":
        compression = "gzip"
        with open_gzip(path) as gz:
            head = gz.read(SNIFF_BYTES)
    if head.startswith(b"PAR1"):
        return "parquet", compression
    text, _ = decode_text(head)
    lines = [ln.strip().lstrip("\ufeff") for ln in text.split("\n")]
    if len(head) == SNIFF_BYTES:
        lines = lines[:-1]  # possibly cut short
    first = next((ln for ln in lines if ln), "")
    if first.startswith("{"):
        try:
            if isinstance(json.loads(first), dict):
                return "jsonl", compression
        except ValueError:
            pass
    if not first and text.lstrip("\ufeff \t\r\n").startswith('{"'):
        return "jsonl", compression  # one record longer than the sniffed prefix
    cfg = config or load_config()
    columns = table_columns(cfg)
    needed = {columns["call_id"].casefold(), columns["text"].casefold()}
    for fmt, sep in (("tsv", "\t"), ("csv", ",")):
        if needed <= {c.strip().strip('"').casefold() for c in first.split(sep)}:
            return fmt, compression
    if looks_like_dialog("\n".join(lines), cfg):
        return "dialog", compression
    return None, compression


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _folder_files(folder: Path) -> list[Path]:
    return sorted(
        f
        for f in folder.rglob("*")
        if f.is_file() and not _hidden(f, folder) and format_from_name(f.name)[0] is not None
    )


def expand_inputs(paths: Iterable[str | Path], config: Config | None = None) -> list[InputFile]:
    """Input files named by ``paths``: files as given, folders searched recursively, globs expanded.

    Files from folders and globs are sorted by path, so a run reads them in
    the same order every time; a file reached twice is read once. ``config``
    (its role map and table columns) is used to sniff explicitly named files
    of unknown suffix; the built-in default config when None.
    """
    found: list[tuple[Path, str, str]] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            inside = _folder_files(path)
            if not inside:
                raise InputError(f"{path}: folder holds no input files ({', '.join(SUFFIX_FORMATS)}, optionally .gz)")
            found.extend((f, *format_from_name(f.name)) for f in inside)  # type: ignore[misc]
        elif path.is_file():
            fmt, compression = format_from_name(path.name)
            if fmt is None:
                try:
                    fmt, compression = sniff_format(path, config)
                except OSError as e:
                    raise InputError(f"{path}: cannot read: {e}") from None
            if fmt is None:
                raise InputError(
                    f"{path}: unknown input format: not JSON lines, Parquet, a table with the configured "
                    f"columns, or a dialog with speaker lines; known suffixes: {', '.join(SUFFIX_FORMATS)}"
                )
            found.append((path, fmt, compression))
        elif any(c in str(p) for c in "*?["):
            matched: list[Path] = []
            for m in sorted(glob.glob(str(p), recursive=True)):
                mp = Path(m)
                if mp.is_dir():
                    matched.extend(_folder_files(mp))
                elif mp.is_file() and not mp.name.startswith(".") and format_from_name(mp.name)[0] is not None:
                    matched.append(mp)
            if not matched:
                raise InputError(f"{p}: pattern matches no input files")
            found.extend((f, *format_from_name(f.name)) for f in matched)  # type: ignore[misc]
        else:
            raise InputError(f"{path}: no such file or folder")
    seen: set[Path] = set()
    files = []
    for f, fmt, compression in found:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            files.append(InputFile(path=f, format=fmt, bytes=f.stat().st_size, compression=compression))
    return files


def _read_file(f: InputFile, config: Config) -> Iterator[Call | RecordError]:
    """The records of one file; a file that cannot be opened or read is one error, not an exception."""
    f.records = f.errors = 0
    try:
        yield from READERS[f.format](f, config)
    except (OSError, EOFError, zlib.error) as e:
        f.records += 1
        f.errors += 1
        yield RecordError(str(f.path), 0, f"cannot read the file: {type(e).__name__}: {e}")
    try:
        f.sha256 = file_sha256(f.path)
    except OSError:
        f.sha256 = ""


def read_calls(files: list[InputFile], config: Config) -> Iterator[Call | RecordError]:
    """Every record of ``files`` in order, as a Call or a RecordError.

    A call_id seen earlier in this run (in any file) is an error for the later
    record, which is skipped.
    """
    seen: dict[str, str] = {}
    for f in files:
        for item in _read_file(f, config):
            if isinstance(item, Call):
                where = f"{item.source}:{item.line}"
                first = seen.get(item.call_id)
                if first is not None:
                    f.errors += 1
                    yield RecordError(item.source, item.line, f"duplicate call_id, first seen at {first}", item.call_id)
                    continue
                seen[item.call_id] = where
            yield item


def count_records(files: list[InputFile], config: Config | None = None) -> int | None:
    """About how many records ``files`` hold, for a progress total; None when it cannot be told cheaply.

    JSON lines: non-blank lines; dialogs: one per file; tables: distinct
    call_ids in the call_id column.
    """
    total = 0
    columns = table_columns(config)
    try:
        for f in files:
            if f.format == "jsonl":
                with open_binary(f) as fh:
                    total += sum(1 for line in fh if line.strip())
            elif f.format == "dialog":
                total += 1
            else:
                total += _count_table_calls(f, columns["call_id"])
    except Exception:  # noqa: BLE001 - a progress total is a nicety; reading reports real problems
        return None
    return total


def _count_table_calls(f: InputFile, column: str) -> int:
    """Distinct call_ids of one table, read by polars from that one column."""
    frame: pl.LazyFrame
    if f.format == "parquet" and not f.compression:
        frame = pl.scan_parquet(f.path)
    elif f.format == "parquet":
        with open_binary(f) as fh:
            frame = pl.read_parquet(fh.read()).lazy()
    else:
        sep = "\t" if f.format == "tsv" else ","
        options: dict = {
            "separator": sep,
            "infer_schema": False,
            "encoding": "utf8-lossy",
            "truncate_ragged_lines": True,
        }
        if f.compression:
            with open_binary(f) as fh:
                frame = pl.read_csv(fh.read(), **options).lazy()
        else:
            frame = pl.scan_csv(f.path, **options)
    names = frame.collect_schema().names()
    name = next(c for c in names if c.strip().lstrip("\ufeff").casefold() == column.casefold())
    return int(frame.select(pl.col(name).drop_nulls().n_unique()).collect().item())
