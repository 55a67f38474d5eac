"""The whole run as library calls: read -> normalize -> tokenize -> recognize ->
check -> aggregate -> write.

``score(...)`` is what ``qa score`` runs; a notebook or a scheduler can call
it directly. :class:`Engine` holds the loaded recognizers and turns calls
into :class:`~qa.types.CallAnalysis` objects and findings; it is the unit a
worker loads once.
"""

from __future__ import annotations

import json
import os
import platform
import queue
import re
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import polars as pl

from qa import __version__
from qa.checks import run_checks
from qa.config import Config, load_config
from qa.distributed import score_shards, write_shard
from qa.io.read import InputFile, count_records, expand_inputs, read_calls
from qa.io.workdir import WorkDir
from qa.io.write import OutputExistsError, write_csv, write_errors, write_json, write_parquet
from qa.pii import mask_pii
from qa.recognizers import registry
from qa.recognizers.base import PreparedTurn, Recognizer, SentimentRecognizer
from qa.report import write_report
from qa.scorecard import call_date, call_row, calls_frame, scorecards
from qa.tables import FINDINGS_SCHEMA, TURNS_SCHEMA, finding_rows, frame, turn_rows
from qa.text.normalize import NormText, normalize
from qa.types import CHECKS, TAG_SPEAKER, Call, CallAnalysis, Finding, Hit, RecordError, Sentiment, Speaker

#: Exit codes of a run (also ``qa score``'s exit status).
EXIT_OK = 0
EXIT_USAGE = 1
EXIT_INPUT_ERRORS = 2
EXIT_INTERNAL = 3

STAGES = ("read", "prepare", "recognize", "sentiment", "checks", "ray", "workers", "aggregate", "write")
ENGINES = ("local", "ray")


@dataclass
class Progress:
    """What a progress callback receives after each chunk."""

    calls: int
    turns: int
    errors: int
    records_total: int | None


class Timer:
    """Seconds spent per stage, summed over chunks."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {s: 0.0 for s in STAGES}
        self._t = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] += now - self._t
        self._t = now


class TurnCache:
    """What the recognizers said about a (speaker, text): its hits (sorted, with the
    turn index of the turn that first had them) and its sentiment, for the most
    recently used ``size`` distinct turns.

    A turn's hits and sentiment depend only on its speaker and original text
    (every recognizer reads one turn at a time, and the classifier batches
    inputs of one token length, so a turn's scores do not depend on its
    batch), so repeated turns (好的, 嗯嗯, scripted greetings and closings) are
    recognized once per run, not once per occurrence.
    """

    def __init__(self, size: int = 100_000):
        self.size = size
        self._d: OrderedDict[tuple[Speaker, str], tuple[tuple[Hit, ...], Sentiment]] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: tuple[Speaker, str]) -> tuple[tuple[Hit, ...], Sentiment] | None:
        got = self._d.get(key)
        if got is not None:
            self._d.move_to_end(key)
        return got

    def put(self, key: tuple[Speaker, str], value: tuple[tuple[Hit, ...], Sentiment]) -> None:
        if self.size <= 0:
            return
        self._d[key] = value
        if len(self._d) > self.size:
            self._d.popitem(last=False)

    def __len__(self) -> int:
        return len(self._d)


class Engine:
    """Loaded recognizers and config: calls in, analyses and findings out."""

    def __init__(
        self,
        config: Config,
        recognizers: list[Recognizer] | None = None,
        sentiment: SentimentRecognizer | None = None,
        cache_size: int = 100_000,
    ):
        """Recognizers as the config names them, unless given explicitly
        (the evaluation runs rules, model and fusion through one engine).
        ``cache_size``: distinct (speaker, text) pairs whose results are kept
        for reuse (:class:`TurnCache`); 0 recognizes every turn afresh."""
        self.config = config
        if recognizers is None or sentiment is None:
            recognizers, sentiment = registry.build(config)
        self.recognizers, self.sentiment = recognizers, sentiment
        self.cache = TurnCache(cache_size)
        self._norms: dict[str, NormText] = {}  # text -> its normalization, for prepare()

    def prepare(self, calls: Sequence[Call]) -> list[PreparedTurn]:
        """Every turn of ``calls``, normalized, in order (jieba runs later, only
        if a rule asks for tokens). A text seen recently reuses its normalization."""
        norms = self._norms
        out: list[PreparedTurn] = []
        for c in calls:
            for t in c.turns:
                norm = norms.get(t.text)
                if norm is None:
                    norm = normalize(t.text)
                    if len(norms) >= self.cache.size:
                        norms.clear()
                    norms[t.text] = norm
                out.append(PreparedTurn(c.call_id, t.index, t.speaker, norm))
        return out

    def analyse(
        self, calls: Sequence[Call], timer: Timer | None = None, prepared: list[PreparedTurn] | None = None
    ) -> list[CallAnalysis]:
        """Run every recognizer over all turns of ``calls`` in batches
        (``prepared``: the turns already prepared by :meth:`prepare`).

        Each distinct (speaker, text) is recognized once: turns seen earlier in
        the run come from :attr:`cache`, repeats within the batch share the
        first occurrence's result.
        """
        timer = timer or Timer()
        if prepared is None:
            prepared = self.prepare(calls)
            timer.lap("prepare")
        # One value per distinct (speaker, text); where[i] points turn i at its value.
        keys = [(p.speaker, p.norm.original) for p in prepared]
        slot: dict[tuple[Speaker, str], int] = {}
        values: list[tuple[tuple[Hit, ...], Sentiment] | None] = []
        where: list[int] = []
        todo: list[int] = []  # the turns to recognize: first sight of a key not in the cache
        for i, key in enumerate(keys):
            j = slot.get(key)
            if j is None:
                j = slot[key] = len(values)
                values.append(self.cache.get(key))
                if values[j] is None:
                    todo.append(i)
            where.append(j)
        self.cache.hits += len(prepared) - len(todo)
        self.cache.misses += len(todo)
        fresh = [prepared[i] for i in todo]
        per_turn: list[list[Hit]] = [[] for _ in fresh]
        thresholds = self.config.tag_thresholds
        for rec in self.recognizers:
            for k, hits in enumerate(rec.recognize(fresh)):
                for h in hits:
                    if TAG_SPEAKER[h.tag] is fresh[k].speaker and h.score >= thresholds.get(h.tag, 0.5):
                        per_turn[k].append(h)
        timer.lap("recognize")
        sentiments = self.sentiment.score(fresh)
        for k, i in enumerate(todo):
            value = (tuple(sorted(per_turn[k], key=lambda h: (h.start, h.end, h.tag))), sentiments[k])
            values[where[i]] = value
            self.cache.put(keys[i], value)
        timer.lap("sentiment")
        out: list[CallAnalysis] = []
        k = 0
        for c in calls:
            hits: list[tuple[Hit, ...]] = []
            sents: list[Sentiment] = []
            for t in c.turns:
                hs, sent = values[where[k]]  # type: ignore[misc]
                if hs and hs[0].turn != t.index:
                    hs = tuple(replace(h, turn=t.index) for h in hs)
                hits.append(hs)
                sents.append(sent)
                k += 1
            out.append(CallAnalysis(call=c, hits=tuple(hits), sentiments=tuple(sents)))
        return out

    def findings(self, analysis: CallAnalysis) -> list[Finding]:
        return run_checks(analysis, self.config.checks)


@dataclass
class RunResult:
    out_dir: Path
    exit_code: int
    calls: int
    turns: int
    records: int
    errors: int
    error_rate: float
    findings: dict[str, int]
    error_reasons: dict[str, int]
    timings: dict[str, float]
    resumed_chunks: int = 0
    skipped_other_partitions: int = 0
    manifest: dict = field(repr=False, default_factory=dict)

    @classmethod
    def from_manifest(cls, out_dir: Path, m: dict) -> "RunResult":
        c = m["counts"]
        return cls(
            out_dir=out_dir,
            exit_code=m["exit_code"],
            calls=c["calls"],
            turns=c["turns"],
            records=c["records"],
            errors=c["errors"],
            error_rate=c["error_rate"],
            findings=c["findings"],
            error_reasons=m["error_reasons"],
            timings=m["timings_s"],
            resumed_chunks=m.get("resumed_chunks", 0),
            skipped_other_partitions=c.get("skipped_other_partitions", 0),
            manifest=m,
        )


def _versions() -> dict[str, str]:
    out = {"qa": __version__, "python": platform.python_version()}
    for pkg in ("polars", "jieba", "opencc", "pydantic", "torch", "transformers"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def _reason_kind(reason: str) -> str:
    """A short grouping key for an error reason, for the summary: the reason
    without its turn number and details (``turn 3: unknown speaker label 'X'
    (add ...)`` -> ``unknown speaker label 'X'``)."""
    r = re.sub(r"^turn \d+: ", "", reason)
    return re.split(r"[:,(]| at ", r, maxsplit=1)[0].strip()


def _fingerprint(
    files: list[InputFile],
    cfg: Config,
    recognizers: list[dict],
    chunk_records: int,
    partition: str | None,
    mask: bool,
) -> dict:
    """What must be equal for finished chunks to be reused by ``--resume``:
    the inputs, the config, the rule files and model weights (and the number
    format the model runs in here), the chunking."""
    return {
        "inputs": [
            {"path": str(f.path.resolve()), "bytes": f.bytes, "mtime_ns": f.path.stat().st_mtime_ns} for f in files
        ],
        "config_sha256": cfg.digest(),
        "recognizers": {r["name"]: r["sha256"] for r in recognizers},
        "precision": {r["name"]: r["precision"] for r in recognizers if "precision" in r},
        "chunk_records": chunk_records,
        "partition": partition,
        "mask_pii": mask,
        "qa": __version__,
    }


def _in_partition(call: Call, partition: str | None) -> bool:
    if partition is None:
        return True
    day = call_date(call.started_at)
    return day is not None and day.isoformat() == partition


def mask_call(call: Call) -> Call:
    """The call with PII masked in every turn (same lengths, so spans stay valid)."""
    return replace(call, turns=tuple(replace(t, text=mask_pii(t.text)) for t in call.turns))


def write_report_for(
    final: Path, out_dir: Path, calls: pl.DataFrame, cards: pl.DataFrame, manifest: dict, min_calls: int
) -> None:
    """Write report.html into ``final`` (the staging folder that becomes
    ``out_dir``), reading only the flagged calls' turns."""
    findings = pl.read_parquet(final / "findings.parquet")
    flagged = findings["call_id"].unique().to_list()
    turns = pl.scan_parquet(final / "turns.parquet").filter(pl.col("call_id").is_in(flagged)).collect()
    write_report(out_dir, turns, findings, calls, cards, manifest, final / "report.html", min_calls=min_calls)


def score(
    inputs: Iterable[str | Path],
    out: str | Path,
    *,
    config: Config | None = None,
    config_path: str | Path | None = None,
    force: bool = False,
    resume: bool = False,
    partition: str | None = None,
    mask_pii: bool = False,
    report: bool = True,
    max_error_rate: float = 0.01,
    chunk_records: int = 1000,
    engine: str = "local",
    ray_address: str | None = None,
    ray_actors: int | None = None,
    prefetch: bool | None = None,
    workers: int | str = 1,
    on_progress: Callable[[Progress], None] | None = None,
) -> RunResult:
    """Score every call in ``inputs`` and write the output folder ``out``.

    Records are read and scored in chunks of ``chunk_records``; each finished
    chunk is kept in a working folder beside ``out``, so memory stays flat as
    the input grows and, with ``resume``, a run that was killed continues from
    its last finished chunk and ends with the same tables as an uninterrupted
    run. Outputs appear in ``out`` in one rename at the end.

    With ``partition`` (a date, ``YYYY-MM-DD``) the output goes to
    ``out/<partition>`` and only calls started on that date (in the call's own
    UTC offset) are scored; the others are counted as skipped, not as errors.
    ``mask_pii`` masks phone, ID-card and bank-card numbers and e-mail
    addresses in every output (lengths kept, so spans stay valid).
    ``engine="ray"`` runs the per-call work on Ray Data actors (see
    :mod:`qa.distributed`); the tables are the same as a local run's.
    ``prefetch`` reads and prepares the next chunks in a background thread
    while the current one is recognized; ``None`` turns it on when the
    classifier runs on CUDA (on CPU the threads would only contend for the
    GIL). The tables are the same either way.
    ``workers`` > 1 (local engine) scores chunks in that many worker processes
    on this machine, each with its own loaded recognizers and an equal share
    of the CPU threads, while this process reads and writes; the tables are
    the same as with one. ``"auto"``: see :func:`resolve_workers`.

    Raises :class:`~qa.io.read.InputError` for an input path that does not
    exist, :class:`~qa.io.write.OutputExistsError` when ``out`` exists and
    neither ``force`` nor ``resume`` is given (or ``resume`` finds it complete
    from other inputs), :class:`~qa.io.workdir.OutputLockedError` when another
    run writes ``out``, :class:`~qa.config.ConfigError` for a bad config.
    Bad records never raise: they go to ``errors.jsonl``, and the returned
    ``exit_code`` is :data:`EXIT_INPUT_ERRORS` when their share of all
    records exceeds ``max_error_rate``.
    """
    if workers != "auto" and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be 'auto' or at least 1, got {workers!r}")
    started = datetime.now(timezone.utc)
    cfg = config if config is not None else load_config(config_path)
    out_dir = Path(out) / partition if partition else Path(out)
    files = expand_inputs(inputs, cfg)
    recognizers = registry.describe(cfg)  # rule file and model hashes, hashed once per run
    fingerprint = _fingerprint(files, cfg, recognizers, chunk_records, partition, mask_pii)
    work = WorkDir(out_dir)
    work.lock()
    try:
        if out_dir.exists():
            done = out_dir / "manifest.json"
            if resume and done.exists():
                manifest = json.loads(done.read_text(encoding="utf-8"))
                if manifest.get("fingerprint") == fingerprint:
                    return RunResult.from_manifest(out_dir, manifest)
                raise OutputExistsError(
                    f"{out_dir}: a finished run from other inputs or config is there; pass --force to replace it"
                )
            if not force and not resume:
                raise OutputExistsError(f"{out_dir}: output folder exists; pass --force to replace it")
        reusable = work.start(fingerprint, resume)
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        run = _Run(
            files, work, cfg, partition, mask_pii, chunk_records, on_progress,
            engine_kind=engine, ray_options={"address": ray_address, "actors": ray_actors},
            prefetch=_uses_gpu(cfg) if prefetch is None else prefetch, workers=workers,
        )
        run.read_and_score(reusable)
        result = run.assemble(started, config_path, fingerprint, recognizers, max_error_rate, report)
        work.commit()
    finally:
        work.unlock()
    result.out_dir = out_dir
    return result


@dataclass
class ChunkTables:
    """The turn, finding and call rows of one scored chunk."""

    turns: pl.DataFrame
    findings: pl.DataFrame
    calls: pl.DataFrame
    skipped: int  # calls outside the partition


@dataclass
class PreparedChunk:
    """The calls of a chunk that will be scored, with their turns prepared."""

    calls: list[Call]  # inside the partition, PII masked when asked
    skipped: int  # calls outside the partition
    turns: list[PreparedTurn]


def prepare_chunk(engine: Engine, calls: list[Call], partition: str | None, mask: bool) -> PreparedChunk:
    """Select, mask and prepare a chunk's calls: the CPU work before recognition."""
    kept = [c for c in calls if _in_partition(c, partition)]
    if mask:
        kept = [mask_call(c) for c in kept]
    return PreparedChunk(kept, len(calls) - len(kept), engine.prepare(kept))


def score_prepared(engine: Engine, chunk: PreparedChunk, timer: Timer | None = None) -> ChunkTables:
    """Recognize, check and tabulate a prepared chunk."""
    timer = timer or Timer()
    t_rows: list[dict] = []
    f_rows: list[dict] = []
    c_rows: list[dict] = []
    if chunk.calls:
        for a in engine.analyse(chunk.calls, timer, chunk.turns):
            fs = engine.findings(a)
            t_rows.extend(turn_rows(a))
            f_rows.extend(finding_rows(fs))
            c_rows.append(call_row(a, fs, engine.config))
    timer.lap("checks")
    return ChunkTables(
        frame(t_rows, TURNS_SCHEMA), frame(f_rows, FINDINGS_SCHEMA), calls_frame(c_rows), chunk.skipped
    )


def score_calls(
    engine: Engine, calls: list[Call], partition: str | None, mask: bool, timer: Timer | None = None
) -> ChunkTables:
    """Score ``calls`` into table rows: the per-call work of a run, the same on
    every engine (local or Ray)."""
    timer = timer or Timer()
    chunk = prepare_chunk(engine, calls, partition, mask)
    timer.lap("prepare")
    return score_prepared(engine, chunk, timer)


_DONE = object()


def _ahead(items: Iterator, work: Callable, depth: int) -> Iterator:
    """``(x, work(x))`` for each ``x`` of ``items``, computed by a background
    thread up to ``depth`` items ahead of the consumer; an exception in the
    thread is raised in the consumer."""
    q: queue.Queue = queue.Queue(maxsize=depth)

    def produce() -> None:
        try:
            for x in items:
                q.put((x, work(x)))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            q.put(e)
            return
        q.put(_DONE)

    threading.Thread(target=produce, name="qa-prefetch", daemon=True).start()
    while True:
        got = q.get()
        if got is _DONE:
            return
        if isinstance(got, BaseException):
            raise got
        yield got


#: Stages a worker process times; the reading process adds them to its own timer
#: (so with several workers they are summed over the workers, not wall time).
WORKER_STAGES = ("prepare", "recognize", "sentiment", "checks")
_WORKER: dict = {}


def _cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


#: ``workers="auto"`` uses at most this many processes: each holds its own model and caches.
AUTO_WORKERS_MAX = 4


def resolve_workers(workers: int | str, cfg: Config, engine: str, records: int | None, chunk_records: int) -> int:
    """How many worker processes a run uses.

    An int is taken as given (1 on the Ray engine, whose actors do this job).
    ``"auto"``: 1 when the classifier runs on CUDA (one process feeds the
    GPU, with prefetching) or the input fits one chunk; else one per CPU, at
    most :data:`AUTO_WORKERS_MAX` and at most one per chunk.
    """
    if engine != "local":
        return 1
    if workers != "auto":
        return int(workers)
    if _uses_gpu(cfg):
        return 1
    chunks = -(-records // chunk_records) if records is not None else AUTO_WORKERS_MAX
    return max(1, min(_cpus(), AUTO_WORKERS_MAX, chunks))


def _watch_parent(parent: int) -> None:
    """In a worker process: exit when the process that started it is gone
    (killed with SIGKILL, say), instead of lingering with a loaded model."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


def _worker_init(config: dict, partition: str | None, mask: bool, threads: int) -> None:
    """In a worker process: a watch on its parent, its share of the CPU threads,
    and the engine, loaded once."""
    import torch

    threading.Thread(target=_watch_parent, args=(os.getppid(),), name="qa-parent-watch", daemon=True).start()
    torch.set_num_threads(threads)
    _WORKER.update(engine=Engine(Config.model_validate(config)), partition=partition, mask=mask)


def _worker_score(calls: list[Call]) -> tuple[ChunkTables, dict[str, float]]:
    """In a worker process: one chunk's tables and the seconds per stage."""
    timer = Timer()
    tables = score_calls(_WORKER["engine"], calls, _WORKER["partition"], _WORKER["mask"], timer)
    return tables, timer.seconds


def _calls(items: Sequence[Call | RecordError]) -> list[Call]:
    """The calls of a chunk read from the inputs (its records that parsed)."""
    return [x for x in items if isinstance(x, Call)]


def _errors(items: Sequence[Call | RecordError]) -> list[RecordError]:
    """The malformed records of a chunk read from the inputs."""
    return [x for x in items if isinstance(x, RecordError)]


def _uses_gpu(cfg: Config) -> bool:
    """Whether the configured classifier will run on CUDA."""
    if registry.MODEL not in cfg.recognizers and cfg.sentiment != registry.MODEL:
        return False
    if cfg.model.device == "cuda":
        return True
    if cfg.model.device == "cpu":
        return False
    import torch

    return torch.cuda.is_available()


class _Run:
    """One run's state between reading chunks and assembling the outputs."""

    def __init__(
        self,
        files: list[InputFile],
        work: WorkDir,
        cfg: Config,
        partition: str | None,
        mask: bool,
        chunk_records: int,
        on_progress: Callable[[Progress], None] | None,
        engine_kind: str = "local",
        ray_options: dict | None = None,
        prefetch: bool = False,
        workers: int | str = 1,
    ):
        self.prefetch = prefetch
        self.engine_kind = engine_kind
        self.ray_options = ray_options or {}
        self.files = files
        self.work = work
        self.cfg = cfg
        self.partition = partition
        self.mask = mask
        self.chunk_records = chunk_records
        self.on_progress = on_progress
        self.timer = Timer()
        self._engine: Engine | None = None
        self.resumed = 0
        self.total = count_records(files, cfg)
        self.workers = resolve_workers(workers, cfg, engine_kind, self.total, chunk_records)
        self.timer.lap("read")

    @property
    def engine(self) -> Engine:
        """Recognizers load on first use, so a fully resumed run loads none."""
        if self._engine is None:
            self._engine = Engine(self.cfg)
        return self._engine

    def _chunks(self) -> Iterator[tuple[int, list[Call | RecordError]]]:
        chunk: list[Call | RecordError] = []
        number = 0
        for item in read_calls(self.files, self.cfg):
            chunk.append(item)
            if len(chunk) >= self.chunk_records:
                number += 1
                yield number, chunk
                chunk = []
        if chunk:
            yield number + 1, chunk

    def read_and_score(self, reusable: int) -> None:
        done = self.work.finished() if reusable else {}
        self.seen = {"calls": 0, "turns": 0, "errors": 0}
        self.pending: dict[int, tuple[list[RecordError], int]] = {}
        if self.workers > 1:
            self._score_in_workers(done)
        elif self.prefetch and self.engine_kind == "local":
            # Read and prepare the next chunks in a thread while this one is
            # on the GPU (torch releases the GIL there), so the GPU is not idle.
            ahead = Timer()
            engine = self.engine

            def work(job: tuple[int, list]) -> PreparedChunk | None:
                number, items = job
                if number in done:
                    return None
                calls = _calls(items)
                ready = prepare_chunk(engine, calls, self.partition, self.mask)
                ahead.lap("prepare")
                return ready

            for (number, items), ready in _ahead(self._chunks(), work, depth=2):
                self._chunk(number, items, done, ready)
            self.timer.seconds["prepare"] += ahead.seconds["prepare"]
        else:
            for number, items in self._chunks():
                self._chunk(number, items, done)
        self.timer.lap("read")
        if self.pending:
            self._score_on_ray()

    def _chunk(self, number: int, items: list, done: dict, ready: PreparedChunk | None = None) -> None:
        self.timer.lap("read")
        if number in done:
            self.resumed += 1
            self._advance(done[number])
        elif self.engine_kind == "ray":
            errors = _errors(items)
            write_shard(_calls(items), self.work.part("input", number, ".jsonl"))
            self.pending[number] = (errors, len(items))
            self.timer.lap("read")
        else:
            self._advance(self._score_chunk(number, items, ready))

    def _score_in_workers(self, done: dict) -> None:
        """Score chunks in ``self.workers`` processes, at most two chunks each in
        flight; this process reads, writes each chunk as it finishes, in order."""
        import multiprocessing
        from collections import deque
        from concurrent.futures import ProcessPoolExecutor

        threads = max(1, _cpus() // self.workers)
        init = (self.cfg.model_dump(mode="json"), self.partition, self.mask, threads)
        inflight: deque = deque()

        def drain(limit: int) -> None:
            while len(inflight) > limit:
                number, items, future = inflight.popleft()
                self.timer.lap("read")
                tables, seconds = future.result()
                self.timer.lap("workers")
                for stage, t in seconds.items():
                    if stage in WORKER_STAGES:
                        self.timer.seconds[stage] += t
                errors = _errors(items)
                self._advance(self.write_chunk(number, tables, errors, len(items)))
                self.timer.lap("write")

        # spawn, not fork: a forked child would inherit torch's thread pools mid-state.
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_worker_init, initargs=init) as pool:
            try:
                for number, items in self._chunks():
                    if number in done:
                        self._chunk(number, items, done)
                        continue
                    calls = _calls(items)
                    inflight.append((number, items, pool.submit(_worker_score, calls)))
                    drain(2 * self.workers)
                drain(0)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise

    def _advance(self, marker: dict) -> None:
        for k in ("calls", "turns", "errors"):
            self.seen[k] += marker[k]
        if self.on_progress is not None:
            self.on_progress(Progress(self.seen["calls"], self.seen["turns"], self.seen["errors"], self.total))

    def _score_on_ray(self) -> None:
        """Score the chunks written as shards on Ray; write each as it arrives."""

        def on_result(shard: Path, tables: ChunkTables, seconds: dict[str, float]) -> None:
            number = int(shard.stem.split("-")[1])
            errors, records = self.pending[number]
            self.timer.lap("ray")
            self._advance(self.write_chunk(number, tables, errors, records))
            self.timer.lap("write")

        shards = [self.work.part("input", n, ".jsonl") for n in sorted(self.pending)]
        score_shards(shards, self.cfg, self.partition, self.mask, on_result, **self.ray_options)

    def _score_chunk(self, number: int, items: list[Call | RecordError], ready: PreparedChunk | None = None) -> dict:
        errors = _errors(items)
        if ready is None:
            calls = _calls(items)
            tables = score_calls(self.engine, calls, self.partition, self.mask, self.timer)
        else:
            tables = score_prepared(self.engine, ready, self.timer)
        marker = self.write_chunk(number, tables, errors, len(items))
        self.timer.lap("write")
        return marker

    def write_chunk(self, number: int, tables: "ChunkTables", errors: list[RecordError], records: int) -> dict:
        """Write one scored chunk's parts and mark it finished; returns its marker."""
        w = self.work
        written = [
            w.tmp_part("turns", number),
            w.tmp_part("findings", number),
            w.tmp_part("calls", number),
            w.tmp_part("errors", number, ".jsonl"),
        ]
        write_parquet(tables.turns, written[0])
        write_parquet(tables.findings, written[1])
        write_parquet(tables.calls, written[2])
        write_errors(errors, written[3])
        marker = {
            "records": records,
            "calls": tables.calls.height,
            "turns": tables.turns.height,
            "errors": len(errors),
            "skipped_other_partitions": tables.skipped,
        }
        w.finish_chunk(number, written, marker)
        return marker

    def assemble(
        self,
        started: datetime,
        config_path: str | Path | None,
        fingerprint: dict,
        recognizers: list[dict],
        max_error_rate: float,
        report: bool,
    ) -> RunResult:
        """Join the chunk parts into the output tables, scorecards and manifest."""
        w = self.work
        final = w.new_final()
        markers = w.finished()
        for kind, schema in (("turns", TURNS_SCHEMA), ("findings", FINDINGS_SCHEMA)):
            parts = w.part_paths(kind)
            if parts:
                pl.scan_parquet(parts).sink_parquet(final / f"{kind}.parquet", compression="zstd")
            else:
                write_parquet(frame([], schema), final / f"{kind}.parquet")
        parts = w.part_paths("calls")
        calls = pl.concat([pl.read_parquet(p) for p in parts]) if parts else calls_frame([])
        calls = calls.sort("call_id")
        cards = scorecards(calls, self.cfg.scorecard, by=("all", "week"))
        self.timer.lap("aggregate")
        write_parquet(calls, final / "calls.parquet")
        write_parquet(cards, final / "scorecards.parquet")
        write_csv(cards, final / "scorecards.csv")
        with open(final / "errors.jsonl", "w", encoding="utf-8") as out:
            for p in w.part_paths("errors", ".jsonl"):
                out.write(p.read_text(encoding="utf-8"))
        errors = [json.loads(line) for line in open(final / "errors.jsonl", encoding="utf-8")]
        findings = pl.read_parquet(final / "findings.parquet", columns=["check"])
        by_check = Counter(findings["check"].to_list())
        records = sum(m["records"] for m in markers.values())
        n_calls = sum(m["calls"] for m in markers.values())
        n_turns = sum(m["turns"] for m in markers.values())
        skipped = sum(m["skipped_other_partitions"] for m in markers.values())
        error_rate = len(errors) / records if records else 0.0
        exit_code = EXIT_INPUT_ERRORS if error_rate > max_error_rate else EXIT_OK
        reasons = dict(Counter(_reason_kind(e["reason"]) for e in errors).most_common())
        manifest = {
            "tool": "qa",
            "status": "ok" if exit_code == EXIT_OK else "input_errors_over_threshold",
            "exit_code": exit_code,
            "started_at": started.isoformat(timespec="seconds"),
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "partition": self.partition,
            "mask_pii": self.mask,
            "inputs": [f.as_dict() for f in self.files],
            "config": {"path": str(config_path) if config_path else None, "sha256": self.cfg.digest()},
            "recognizers": recognizers,
            "versions": _versions(),
            "counts": {
                "records": records,
                "calls": n_calls,
                "turns": n_turns,
                "errors": len(errors),
                "error_rate": round(error_rate, 6),
                "max_error_rate": max_error_rate,
                "skipped_other_partitions": skipped,
                "findings": {c: by_check.get(c, 0) for c in CHECKS},
                "agents": calls["agent_id"].n_unique(),
            },
            "error_reasons": reasons,
            "resumed_chunks": self.resumed,
            "chunks": len(markers),
            "engine": self.engine_kind,
            "prefetch": self.prefetch,
            "workers": self.workers,
            "timings_s": {},
            "outputs": [],
            "fingerprint": fingerprint,
        }
        if report:
            write_report_for(final, w.out, calls, cards, manifest, self.cfg.scorecard.min_calls)
        self.timer.lap("write")
        manifest["timings_s"] = {k: round(v, 3) for k, v in self.timer.seconds.items()}
        manifest["outputs"] = sorted(p.name for p in final.iterdir()) + ["manifest.json"]
        write_json(manifest, final / "manifest.json")
        return RunResult.from_manifest(final, manifest)
