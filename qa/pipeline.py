"""The whole run as library calls: read -> normalize -> tokenize -> recognize ->
check -> aggregate -> write.

``score(...)`` is what ``qa score`` runs; a notebook or a scheduler can call
it directly. :class:`Engine` holds the loaded recognizers and turns calls
into :class:`~qa.types.CallAnalysis` objects and findings; it is the unit a
worker loads once.
"""

from __future__ import annotations

import platform
import re
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterable, Sequence

import polars as pl

from qa import __version__
from qa.checks import run_checks
from qa.config import Config, load_config
from qa.io.read import InputFile, expand_inputs, read_calls
from qa.io.write import commit_dir, staging_dir, write_csv, write_errors, write_json, write_parquet
from qa.recognizers import registry
from qa.scorecard import call_row, calls_frame, scorecards
from qa.tables import FINDINGS_SCHEMA, TURNS_SCHEMA, finding_rows, frame, turn_rows
from qa.text.tokenize import prepare
from qa.types import CHECKS, TAG_SPEAKER, Call, CallAnalysis, Finding, Hit, RecordError

#: Exit codes of a run (also ``qa score``'s exit status).
EXIT_OK = 0
EXIT_USAGE = 1
EXIT_INPUT_ERRORS = 2
EXIT_INTERNAL = 3

STAGES = ("read", "prepare", "recognize", "sentiment", "checks", "aggregate", "write")


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


class Engine:
    """Loaded recognizers and config: calls in, analyses and findings out."""

    def __init__(self, config: Config):
        self.config = config
        self.recognizers, self.sentiment = registry.build(config)

    def recognizer_ids(self) -> list[str]:
        return [r.name for r in self.recognizers] + [self.sentiment.name]

    def analyse(self, calls: Sequence[Call], timer: Timer | None = None) -> list[CallAnalysis]:
        """Run every recognizer over all turns of ``calls`` in batches."""
        timer = timer or Timer()
        prepared = [prepare(c.call_id, t.index, t.speaker, t.text) for c in calls for t in c.turns]
        timer.lap("prepare")
        per_turn: list[list[Hit]] = [[] for _ in prepared]
        thresholds = self.config.tag_thresholds
        for rec in self.recognizers:
            for i, hits in enumerate(rec.recognize(prepared)):
                for h in hits:
                    if TAG_SPEAKER[h.tag] is prepared[i].speaker and h.score >= thresholds.get(h.tag, 0.5):
                        per_turn[i].append(h)
        timer.lap("recognize")
        sentiments = self.sentiment.score(prepared)
        timer.lap("sentiment")
        out: list[CallAnalysis] = []
        k = 0
        for c in calls:
            n = len(c.turns)
            hits = tuple(tuple(sorted(hs, key=lambda h: (h.start, h.end, h.tag))) for hs in per_turn[k : k + n])
            out.append(CallAnalysis(call=c, hits=hits, sentiments=tuple(sentiments[k : k + n])))
            k += n
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
    manifest: dict = field(repr=False, default_factory=dict)


def _versions() -> dict[str, str]:
    out = {"qa": __version__, "python": platform.python_version()}
    for pkg in ("polars", "jieba", "opencc", "pydantic", "torch", "transformers"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def _count_records(files: list[InputFile]) -> int | None:
    """Non-empty lines over all JSONL inputs, for a progress total."""
    total = 0
    for f in files:
        with open(f.path, "rb") as fh:
            total += sum(1 for line in fh if line.strip())
    return total


def _reason_kind(reason: str) -> str:
    """A short grouping key for an error reason, for the summary: the reason
    without its turn number and details (``turn 3: unknown speaker label 'X'
    (add ...)`` -> ``unknown speaker label 'X'``)."""
    r = re.sub(r"^turn \d+: ", "", reason)
    return re.split(r"[:,(]| at ", r, maxsplit=1)[0].strip()


def score(
    inputs: Iterable[str | Path],
    out: str | Path,
    *,
    config: Config | None = None,
    config_path: str | Path | None = None,
    force: bool = False,
    max_error_rate: float = 0.01,
    chunk_calls: int = 512,
    on_progress: Callable[[Progress], None] | None = None,
) -> RunResult:
    """Score every call in ``inputs`` and write the output folder ``out``.

    Raises :class:`~qa.io.read.InputError` for an input path that does not
    exist, :class:`~qa.io.write.OutputExistsError` when ``out`` exists and
    ``force`` is false, :class:`~qa.config.ConfigError` for a bad config.
    Bad records never raise: they go to ``errors.jsonl`` and the returned
    ``exit_code`` is :data:`EXIT_INPUT_ERRORS` when their share of all records
    exceeds ``max_error_rate``.
    """
    started = datetime.now(timezone.utc)
    cfg = config if config is not None else load_config(config_path)
    out_dir = Path(out)
    files = expand_inputs(inputs)
    tmp = staging_dir(out_dir, force)
    try:
        result = _run(files, tmp, cfg, config_path, started, max_error_rate, chunk_calls, on_progress)
        commit_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result.out_dir = out_dir
    return result


def _run(
    files: list[InputFile],
    tmp: Path,
    cfg: Config,
    config_path: str | Path | None,
    started: datetime,
    max_error_rate: float,
    chunk_calls: int,
    on_progress: Callable[[Progress], None] | None,
) -> RunResult:
    timer = Timer()
    engine = Engine(cfg)
    total = _count_records(files)
    timer.lap("read")

    errors: list[RecordError] = []
    turn_parts: list[pl.DataFrame] = []
    finding_parts: list[pl.DataFrame] = []
    call_rows: list[dict] = []
    n_calls = n_turns = 0

    def flush(chunk: list[Call]) -> None:
        nonlocal n_calls, n_turns
        if not chunk:
            return
        analyses = engine.analyse(chunk, timer)
        t_rows: list[dict] = []
        f_rows: list[dict] = []
        for a in analyses:
            fs = engine.findings(a)
            t_rows.extend(turn_rows(a))
            f_rows.extend(finding_rows(fs))
            call_rows.append(call_row(a, fs, cfg))
        turn_parts.append(frame(t_rows, TURNS_SCHEMA))
        finding_parts.append(frame(f_rows, FINDINGS_SCHEMA))
        n_calls += len(chunk)
        n_turns += len(t_rows)
        timer.lap("checks")
        if on_progress is not None:
            on_progress(Progress(n_calls, n_turns, len(errors), total))

    chunk: list[Call] = []
    for item in read_calls(files, cfg):
        if isinstance(item, RecordError):
            errors.append(item)
            continue
        chunk.append(item)
        if len(chunk) >= chunk_calls:
            timer.lap("read")
            flush(chunk)
            chunk = []
    timer.lap("read")
    flush(chunk)

    turns = pl.concat(turn_parts) if turn_parts else frame([], TURNS_SCHEMA)
    findings = pl.concat(finding_parts) if finding_parts else frame([], FINDINGS_SCHEMA)
    turns = turns.sort("call_id", "turn")
    findings = findings.sort("call_id", "turn", "check", "start")
    calls = calls_frame(call_rows)
    cards = scorecards(calls, cfg.scorecard, by=("all", "week"))
    timer.lap("aggregate")

    write_parquet(turns, tmp / "turns.parquet")
    write_parquet(findings, tmp / "findings.parquet")
    write_parquet(calls, tmp / "calls.parquet")
    write_parquet(cards, tmp / "scorecards.parquet")
    write_csv(cards, tmp / "scorecards.csv")
    write_errors(errors, tmp / "errors.jsonl")

    records = sum(f.records for f in files)
    error_rate = len(errors) / records if records else 0.0
    exit_code = EXIT_INPUT_ERRORS if error_rate > max_error_rate else EXIT_OK
    by_check = Counter(findings["check"].to_list())
    reasons = Counter(_reason_kind(e.reason) for e in errors)
    timer.lap("write")
    manifest = {
        "tool": "qa",
        "status": "ok" if exit_code == EXIT_OK else "input_errors_over_threshold",
        "exit_code": exit_code,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "inputs": [f.as_dict() for f in files],
        "config": {"path": str(config_path) if config_path else None, "sha256": cfg.digest()},
        "recognizers": [registry.rule_info(name) for name in engine.recognizer_ids()],
        "versions": _versions(),
        "counts": {
            "records": records,
            "calls": n_calls,
            "turns": n_turns,
            "errors": len(errors),
            "error_rate": round(error_rate, 6),
            "max_error_rate": max_error_rate,
            "findings": {c: by_check.get(c, 0) for c in CHECKS},
            "agents": calls["agent_id"].n_unique(),
        },
        "error_reasons": dict(reasons.most_common()),
        "timings_s": {k: round(v, 3) for k, v in timer.seconds.items()},
        "outputs": sorted(p.name for p in tmp.iterdir()) + ["manifest.json"],
    }
    write_json(manifest, tmp / "manifest.json")
    return RunResult(
        out_dir=tmp,
        exit_code=exit_code,
        calls=n_calls,
        turns=n_turns,
        records=records,
        errors=len(errors),
        error_rate=error_rate,
        findings={c: by_check.get(c, 0) for c in CHECKS},
        error_reasons=dict(reasons.most_common()),
        timings=dict(timer.seconds),
        manifest=manifest,
    )
