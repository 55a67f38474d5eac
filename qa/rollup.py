"""Merge the outputs of several runs (e.g. nightly partitions) into scorecards
over a longer period.

Scorecards are computed from the calls tables alone, with the same interval
arithmetic as a single run, so a month rolled up from 30 daily folders equals
the month scored in one run. A call_id found in more than one input folder
(the same day scored twice) is counted once: the folder named last wins.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from qa import __version__
from qa.config import Config
from qa.io.workdir import WorkDir
from qa.io.write import OutputExistsError, write_csv, write_json, write_parquet
from qa.scorecard import PERIOD_TYPES, scorecards


class RollupInputError(ValueError):
    """An input folder that is not a finished ``qa score`` output."""


@dataclass
class RollupResult:
    out_dir: Path
    folders: int
    calls: int
    duplicate_calls: int
    agents: int


def rollup(outputs: list[Path], out: Path, cfg: Config, *, by: str = "week", force: bool = False) -> RollupResult:
    """Write ``calls.parquet``, ``scorecards.parquet``/``.csv`` and a manifest
    for all calls of ``outputs``, with scorecards for the whole span and per
    ``by`` period (``week`` or ``month``)."""
    if by not in PERIOD_TYPES or by == "all":
        raise ValueError(f"by must be 'week' or 'month', got {by!r}")
    sources = []
    frames = []
    for i, folder in enumerate(outputs):
        manifest_path = folder / "manifest.json"
        calls_path = folder / "calls.parquet"
        if not manifest_path.is_file() or not calls_path.is_file():
            raise RollupInputError(f"{folder}: not a finished qa score output (no manifest.json or calls.parquet)")
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        sources.append(
            {
                "path": str(folder),
                "partition": manifest.get("partition"),
                "status": manifest.get("status"),
                "calls": manifest.get("counts", {}).get("calls"),
                "config_sha256": manifest.get("config", {}).get("sha256"),
            }
        )
        frames.append(pl.read_parquet(calls_path).with_columns(pl.lit(i).alias("_order")))
    if not frames:
        raise RollupInputError("no input folders")
    allcalls = pl.concat(frames, how="vertical_relaxed")
    calls = (
        allcalls.sort("_order")
        .unique(subset="call_id", keep="last", maintain_order=True)
        .drop("_order")
        .sort("call_id")
    )
    duplicates = allcalls.height - calls.height
    cards = scorecards(calls, cfg.scorecard, by=("all", by))

    work = WorkDir(out)
    work.lock()
    try:
        if out.exists() and not force:
            raise OutputExistsError(f"{out}: output folder exists; pass --force to replace it")
        work.start({"rollup": [str(p) for p in outputs]}, resume=False)
        final = work.new_final()
        write_parquet(calls, final / "calls.parquet")
        write_parquet(cards, final / "scorecards.parquet")
        write_csv(cards, final / "scorecards.csv")
        write_json(
            {
                "tool": "qa rollup",
                "status": "ok",
                "exit_code": 0,
                "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "by": by,
                "inputs": sources,
                "config": {"sha256": cfg.digest()},
                "versions": {"qa": __version__},
                "counts": {"calls": calls.height, "duplicate_calls": duplicates, "agents": calls["agent_id"].n_unique()},
                "outputs": ["calls.parquet", "manifest.json", "scorecards.csv", "scorecards.parquet"],
            },
            final / "manifest.json",
        )
        work.commit()
    finally:
        work.unlock()
    return RollupResult(out, len(outputs), calls.height, duplicates, calls["agent_id"].n_unique())
