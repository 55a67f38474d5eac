"""Writers for the output files, and the final rename of a finished folder.

A crash never leaves a half-written result that looks whole: outputs are
written into a staging folder (see :mod:`qa.io.workdir`) and renamed into
place at the end; an existing output folder is replaced only then.
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
