"""The working folder of a run: a lock, finished chunks, and the final rename.

A run writing ``OUT`` works in the hidden sibling ``.OUT.partial/``:

- ``parts/`` holds one set of files per finished chunk of input records
  (``turns-000001.parquet``, ``findings-…``, ``calls-…``, ``errors-….jsonl``),
  each written under a temporary name and renamed, and last a marker
  ``chunk-000001.json`` with the chunk's counts. A chunk is finished exactly
  when its marker exists, so a run killed at any moment (even ``kill -9``)
  loses at most the chunk it was in.
- ``state.json`` fingerprints the inputs, config and chunk size; ``--resume``
  only reuses finished chunks when the fingerprint matches.
- ``final/`` receives the assembled outputs, and is renamed to ``OUT`` in one
  step at the end (an old ``OUT`` is replaced only then, with ``--force``).

``.OUT.lock`` is held with ``flock`` for the whole run, so two runs never
write one output folder at once; the OS releases it when the process dies.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import Any

from qa.io.write import commit_dir


class OutputLockedError(RuntimeError):
    """Another run holds the lock on this output folder."""


class ResumeMismatchError(RuntimeError):
    """Finished chunks exist, but from other inputs, config or chunk size."""


def _atomic_write(path: Path, data: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class WorkDir:
    """Lock, chunk bookkeeping and final commit for one output folder."""

    def __init__(self, out: Path):
        self.out = out
        self.root = out.parent / f".{out.name}.partial"
        self.parts = self.root / "parts"
        self.final = self.root / "final"
        self._lock_path = out.parent / f".{out.name}.lock"
        self._lock_fd: int | None = None

    # -- locking -----------------------------------------------------------
    def lock(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise OutputLockedError(
                f"{self.out}: another qa run (pid {holder}) is writing this output folder; "
                f"wait for it to finish (lock file {self._lock_path})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None
            # The lock file stays: unlinking it would let a waiting run lock a
            # file that a third run then recreates and locks too.

    # -- chunks ------------------------------------------------------------
    def start(self, fingerprint: dict[str, Any], resume: bool) -> int:
        """Prepare the folder; returns how many finished chunks are reusable."""
        state_path = self.root / "state.json"
        if self.root.exists() and resume and state_path.exists():
            old = json.loads(state_path.read_text(encoding="utf-8"))
            if old != fingerprint:
                raise ResumeMismatchError(
                    f"{self.root}: finished chunks come from other inputs, config or chunk size; "
                    "run without --resume to start over"
                )
            shutil.rmtree(self.final, ignore_errors=True)
            return len(self.finished())
        if self.root.exists():
            shutil.rmtree(self.root)
        self.parts.mkdir(parents=True)
        _atomic_write(state_path, json.dumps(fingerprint, sort_keys=True))
        return 0

    def finished(self) -> dict[int, dict[str, Any]]:
        """Markers of finished chunks, by chunk number."""
        out = {}
        for p in self.parts.glob("chunk-*.json"):
            out[int(p.stem.split("-")[1])] = json.loads(p.read_text(encoding="utf-8"))
        return out

    def part(self, kind: str, chunk: int, suffix: str = ".parquet") -> Path:
        return self.parts / f"{kind}-{chunk:06d}{suffix}"

    def part_paths(self, kind: str, suffix: str = ".parquet") -> list[Path]:
        return sorted(self.parts.glob(f"{kind}-*{suffix}"))

    def tmp_part(self, kind: str, chunk: int, suffix: str = ".parquet") -> Path:
        """Where to write a part before :meth:`finish_chunk` renames it."""
        return self.parts / f"{kind}-{chunk:06d}{suffix}.tmp"

    def finish_chunk(self, chunk: int, written: list[Path], marker: dict[str, Any]) -> None:
        """Rename the chunk's written temporary parts into place, then mark it done."""
        for tmp in written:
            os.replace(tmp, tmp.with_name(tmp.name.removesuffix(".tmp")))
        _atomic_write(self.parts / f"chunk-{chunk:06d}.json", json.dumps(marker, sort_keys=True))

    # -- commit --------------------------------------------------------------
    def new_final(self) -> Path:
        shutil.rmtree(self.final, ignore_errors=True)
        self.final.mkdir(parents=True)
        return self.final

    def commit(self) -> None:
        commit_dir(self.final, self.out)
        shutil.rmtree(self.root, ignore_errors=True)
