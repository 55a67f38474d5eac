"""Writing a run's output folder so that a crash never leaves a half-written
result that looks whole.

Everything is written into a hidden staging folder beside the target and
renamed into place at the end. With ``force`` an existing output folder is
replaced only once the new one is complete.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable

import polars as pl

from qa.types import RecordError


class OutputExistsError(FileExistsError):
    """The output folder exists and ``force`` was not given."""


def staging_dir(out: Path, force: bool) -> Path:
    """A fresh, empty staging folder for a run writing to ``out``."""
    if out.exists() and not force:
        raise OutputExistsError(f"{out}: output folder exists; pass --force to replace it")
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out}: exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    return tmp


def commit_dir(tmp: Path, out: Path) -> None:
    """Move the finished staging folder to ``out``, replacing an old one last."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_parquet(df: pl.DataFrame, path: Path) -> None:
    df.write_parquet(path, compression="zstd", statistics=True)


def write_csv(df: pl.DataFrame, path: Path) -> None:
    """CSV with a UTF-8 BOM so spreadsheet programs open Chinese text correctly."""
    # List columns cannot go into CSV; join them with '|'.
    flat = df.with_columns(
        pl.col(c).list.join("|") for c, t in df.schema.items() if isinstance(t, pl.List)
    )
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        fh.write(flat.write_csv())


def error_dict(e: RecordError) -> dict[str, Any]:
    d: dict[str, Any] = {"source": e.source, "line": e.line, "call_id": e.call_id, "reason": e.reason}
    d.update(e.extra)
    return d


def write_errors(errors: Iterable[RecordError], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for e in errors:
            fh.write(json.dumps(error_dict(e), ensure_ascii=False) + "\n")


def write_json(obj: Any, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=2, sort_keys=False)
        fh.write("\n")
