"""Scale-out on Ray Data: the per-call work of a run on a pool of Ray actors.

A run is a map over independent calls followed by a small aggregation, so
``qa score --engine ray`` keeps everything else of a local run and only moves
the map:

1. the driver reads and validates the inputs as usual (bad records are
   reported with file and line exactly as in a local run) and writes each
   chunk of valid calls as one canonical JSONL shard into the run's working
   folder;
2. Ray Data reads the shards (``read_binary_files``) and maps them through
   :class:`ChunkScorer` actors, each of which builds the recognizers and
   models once and scores whole shards with the same :func:`score_calls` a
   local run uses;
3. the driver receives each shard's tables and writes them as that chunk's
   parts, so ``--resume``, the output lock, the assembly and the outputs are
   those of a local run and the tables are identical.

On a cluster the output folder (and so the shards) must be on storage every
node can read, and ``qa`` must be installed on every node.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Callable

import polars as pl

from qa.config import Config
from qa.types import Call


class RayUnavailableError(RuntimeError):
    """Ray is not installed (``pip install 'qa[ray]'``) or cannot start."""


def call_to_dict(call: Call) -> dict[str, Any]:
    """A call in the canonical JSONL shape of DESIGN.md."""
    return {
        "call_id": call.call_id,
        "agent_id": call.agent_id,
        "started_at": call.started_at,
        "queue": call.queue,
        "turns": [
            {"speaker": t.speaker.value, "text": t.text, "start_ms": t.start_ms, "end_ms": t.end_ms}
            for t in call.turns
        ],
    }


def write_shard(calls: list[Call], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for c in calls:
            fh.write(json.dumps(call_to_dict(c), ensure_ascii=False) + "\n")


def _ipc(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_ipc(buf)
    return buf.getvalue()


def _from_ipc(data: bytes) -> pl.DataFrame:
    return pl.read_ipc(io.BytesIO(data))


class ChunkScorer:
    """A Ray Data actor: loads the engine once, scores one shard per row."""

    def __init__(self, config: dict[str, Any], partition: str | None, mask: bool):
        from qa.pipeline import Engine

        self.config = Config.model_validate(config)
        self.engine = Engine(self.config)
        self.partition = partition
        self.mask = mask

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        from qa.io.read import call_from_dict
        from qa.pipeline import Timer, score_calls

        out: dict[str, list] = {"path": [], "turns": [], "findings": [], "calls": [], "skipped": [], "timings": []}
        for path, data in zip(batch["path"], batch["bytes"]):
            lines = bytes(data).decode("utf-8").splitlines()
            calls = [call_from_dict(json.loads(line), self.config) for line in lines if line]
            timer = Timer()
            tables = score_calls(self.engine, calls, self.partition, self.mask, timer)
            out["path"].append(str(path))
            out["turns"].append(_ipc(tables.turns))
            out["findings"].append(_ipc(tables.findings))
            out["calls"].append(_ipc(tables.calls))
            out["skipped"].append(tables.skipped)
            out["timings"].append(json.dumps(timer.seconds))
        return out


def score_shards(
    shards: list[Path],
    config: Config,
    partition: str | None,
    mask: bool,
    on_result: Callable[[Path, Any, dict[str, float]], None],
    *,
    address: str | None = None,
    actors: int | None = None,
    gpus_per_actor: float = 0.0,
) -> None:
    """Score every shard on Ray; ``on_result(shard, tables, timings)`` runs on
    the driver for each shard as its result arrives."""
    try:
        import ray
        import ray.data
    except ImportError as e:  # pragma: no cover - depends on the install
        raise RayUnavailableError("the Ray engine needs Ray: pip install 'qa[ray]'") from e
    from qa.pipeline import ChunkTables

    if not shards:
        return
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.execution_options.preserve_order = True
    if actors is None:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        actors = max(1, int(ray.cluster_resources().get("GPU", 0))) if gpus_per_actor else max(1, cpus)
    # Reading a shard is tiny next to scoring it: the read tasks take no CPU
    # slot, so they never wait behind actors that hold every slot.
    ds = ray.data.read_binary_files(
        [str(p) for p in shards],
        include_paths=True,
        override_num_blocks=len(shards),
        num_cpus=0,
    )
    ds = ds.map_batches(
        ChunkScorer,
        fn_constructor_args=(config.model_dump(mode="json"), partition, mask),
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=1,
        num_gpus=gpus_per_actor,
    )
    for row in ds.iter_rows():
        tables = ChunkTables(
            _from_ipc(row["turns"]), _from_ipc(row["findings"]), _from_ipc(row["calls"]), int(row["skipped"])
        )
        on_result(Path(row["path"]), tables, json.loads(row["timings"]))
