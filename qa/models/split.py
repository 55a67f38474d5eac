"""Deterministic, group-aware train/dev/test split of ``corpora/turns``.

A turn's split depends only on its ``group`` (a family of paraphrases of one
thing said), through a SHA-256 hash, so paraphrases of one utterance never sit
on both sides of a split, the split of a group never changes when more data is
added, and no random state is involved. Shares: 70 / 15 / 15 of groups.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

SPLITS = ("train", "dev", "test")
#: Upper bounds of the hash buckets for train and dev; the rest is test.
BOUNDS = (0.70, 0.85)
#: The domains of corpora/turns (one file each).
DOMAINS = ("ecommerce", "logistics", "telecom", "banking", "utilities", "travel", "repair", "food_delivery")


def split_of(group: str) -> str:
    """``"train"``, ``"dev"`` or ``"test"`` for a group id (stable across runs and machines)."""
    h = int.from_bytes(hashlib.sha256(group.encode("utf-8")).digest()[:8], "big") / 2**64
    if h < BOUNDS[0]:
        return "train"
    if h < BOUNDS[1]:
        return "dev"
    return "test"


def read_turns(turns_dir: str | Path) -> list[dict]:
    """All labelled turns of ``turns_dir/*.jsonl``, in file then line order.

    Raises ValueError naming file and line for a line that is not a valid record.
    """
    rows: list[dict] = []
    files = sorted(Path(turns_dir).glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"no *.jsonl files in {turns_dir}")
    for f in files:
        with open(f, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                    for k in ("id", "group", "speaker", "text", "tags", "sentiment"):
                        d[k]
                except (json.JSONDecodeError, KeyError) as e:
                    raise ValueError(f"{f}:{n}: bad turn record ({e})") from None
                rows.append(d)
    return rows


def split_turns(rows: Iterable[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for r in rows:
        out[split_of(r["group"])].append(r)
    return out


def materialise(turns_dir: str | Path, out_dir: str | Path) -> dict[str, int]:
    """Write ``out_dir/{train,dev,test}.jsonl``; returns the line count of each."""
    parts = split_turns(read_turns(turns_dir))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in parts.items():
        with open(out / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return {k: len(v) for k, v in parts.items()}


def iter_split(turns_dir: str | Path, split: str) -> Iterator[dict]:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; known: {list(SPLITS)}")
    for r in read_turns(turns_dir):
        if split_of(r["group"]) == split:
            yield r
