"""`qa score` end to end on the bundled sample: files, columns, spans,
determinism, bad records, resume, lock, partitions, rollup and the CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from qa.config import load_config
from qa.io.workdir import OutputLockedError, ResumeMismatchError, WorkDir
from qa.io.write import OutputExistsError
from qa.pipeline import EXIT_INPUT_ERRORS, EXIT_OK, score
from qa.rollup import rollup
from qa.types import CHECKS, TAGS

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "corpora" / "sample"
TABLES = ("turns", "findings", "calls", "scorecards")


@pytest.fixture(scope="module")
def sample_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "out"
    result = score([SAMPLE], out)
    assert result.exit_code == EXIT_OK
    return out


def read(out: Path, table: str) -> pl.DataFrame:
    return pl.read_parquet(out / f"{table}.parquet")


def test_writes_every_output_file(sample_out):
    names = {p.name for p in sample_out.iterdir()}
    assert {
        "turns.parquet",
        "findings.parquet",
        "calls.parquet",
        "scorecards.parquet",
        "scorecards.csv",
        "report.html",
        "errors.jsonl",
        "manifest.json",
    } <= names
    assert not [n for n in names if n.startswith(".")]


def test_tables_have_the_design_columns(sample_out):
    turns = read(sample_out, "turns")
    assert {"call_id", "turn", "agent_id", "speaker", "text", "sentiment", "sentiment_score", "tags"} <= set(
        turns.columns
    )
    assert {f"score_{t}" for t in TAGS} <= set(turns.columns)
    assert read(sample_out, "findings").columns[:9] == [
        "call_id", "agent_id", "check", "turn", "start", "end", "evidence", "score", "source"
    ]
    calls = read(sample_out, "calls")
    assert {"call_id", "agent_id", "started_at", "qa_score"} | {f"n_{c}" for c in CHECKS} <= set(calls.columns)
    cards = read(sample_out, "scorecards")
    assert {"agent_id", "calls", "qa_score", "apology_compliance", "sentiment_shift", "rank"} <= set(cards.columns)
    assert {f"rate_{c}_lo" for c in CHECKS} <= set(cards.columns)


def test_sample_counts_and_manifest(sample_out):
    manifest = json.loads((sample_out / "manifest.json").read_text(encoding="utf-8"))
    lines = sum(1 for f in SAMPLE.glob("*.jsonl") for line in f.open(encoding="utf-8") if line.strip())
    assert manifest["counts"]["calls"] == lines == read(sample_out, "calls").height
    assert manifest["counts"]["errors"] == 0
    assert manifest["status"] == "ok" and manifest["exit_code"] == 0
    assert all(len(i["sha256"]) == 64 for i in manifest["inputs"])
    per_check = dict(read(sample_out, "findings").group_by("check").len().iter_rows())
    assert manifest["counts"]["findings"] == {c: per_check.get(c, 0) for c in CHECKS}
    recognizers = {r["name"]: r for r in manifest["recognizers"]}
    assert {"lexicon:apology.v1", "lexicon:admission.v1", "model"} <= set(recognizers)
    assert len(recognizers["lexicon:apology.v1"]["sha256"]) == 64
    assert len(recognizers["model"]["sha256"]) == 64


def test_every_finding_span_slices_the_original_text(sample_out):
    findings = read(sample_out, "findings").join(
        read(sample_out, "turns").select("call_id", "turn", "text"), on=["call_id", "turn"], how="left"
    )
    assert findings.height > 0
    for row in findings.iter_rows(named=True):
        assert row["text"][row["start"] : row["end"]] == row["evidence"], row


def test_findings_name_the_rule_entry_and_prefer_rule_spans(sample_out):
    findings = read(sample_out, "findings")
    assert findings.filter(pl.col("rule") == "").height == 0
    lexicon = findings.filter(pl.col("source").str.starts_with("lexicon:"))
    assert lexicon.height > findings.height / 2  # precise spans where a rule fired
    turns = read(sample_out, "turns").select("call_id", "turn", "text")
    shorter = lexicon.join(turns, on=["call_id", "turn"]).filter(pl.col("end") - pl.col("start") < pl.col("text").str.len_chars())
    assert shorter.height > 0


def test_traditional_call_is_tagged_with_original_text_evidence(sample_out):
    findings = read(sample_out, "findings")
    traditional = findings.filter(pl.col("evidence").str.contains("[們這說給題讓處]"))
    assert traditional.height > 0


def test_running_twice_gives_equal_tables(sample_out, tmp_path):
    again = tmp_path / "again"
    score([SAMPLE], again)
    for table in TABLES:
        assert_frame_equal(read(sample_out, table), read(again, table))


def test_sample_ranking_follows_written_behaviour(sample_out):
    cards = read(sample_out, "scorecards").filter(pl.col("period_type") == "all")
    rank = dict(cards.select("agent_id", "rank").iter_rows())
    # corpora/sample/README.md: A01 best ... A06 worst; A07 has 2 calls (unranked).
    assert rank["A07"] is None
    order = sorted((a for a in rank if rank[a] is not None), key=lambda a: rank[a])
    assert order[:2] == ["A01", "A02"]
    assert set(order[2:4]) == {"A03", "A04"}
    assert order[4:] == ["A05", "A06"]


def test_refuses_to_overwrite_without_force(sample_out):
    with pytest.raises(OutputExistsError, match="--force"):
        score([SAMPLE], sample_out)


def _write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _call(call_id: str, agent: str = "A1", text: str = "东西坏了") -> str:
    return json.dumps(
        {
            "call_id": call_id,
            "agent_id": agent,
            "started_at": "2026-11-02T10:00:00+08:00",
            "turns": [{"speaker": "customer", "text": text}, {"speaker": "agent", "text": "非常抱歉，马上给您退款"}],
        },
        ensure_ascii=False,
    )


def test_bad_records_are_reported_with_line_and_the_rest_is_scored(tmp_path):
    src = _write_jsonl(
        tmp_path / "day.jsonl",
        [
            _call("G1"),
            '{"call_id": "B1", "agent_id": "A1", "turns": [',
            _call("G2"),
            json.dumps({"call_id": "B2", "agent_id": "A1", "turns": [{"speaker": "robot", "text": "hi"}]}),
            _call("G1"),
            _call("G3"),
        ],
    )
    result = score([src], tmp_path / "out", max_error_rate=0.5)
    assert result.exit_code == EXIT_OK
    assert sorted(read(tmp_path / "out", "calls")["call_id"]) == ["G1", "G2", "G3"]
    errors = [json.loads(x) for x in (tmp_path / "out" / "errors.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(e["line"], e["call_id"]) for e in errors] == [(2, "B1"), (4, "B2"), (5, "G1")]
    assert all(e["source"] == str(src) for e in errors)
    assert "invalid JSON" in errors[0]["reason"]
    assert "'robot'" in errors[1]["reason"]
    assert "duplicate call_id" in errors[2]["reason"]
    strict = score([src], tmp_path / "strict", max_error_rate=0.01)
    assert strict.exit_code == EXIT_INPUT_ERRORS


class _Crash(RuntimeError):
    pass


def test_resume_after_a_crash_gives_the_same_tables(sample_out, tmp_path):
    out = tmp_path / "resumed"
    seen = []

    def crash_after_three_chunks(progress):
        seen.append(progress.calls)
        if len(seen) == 3:
            raise _Crash()

    with pytest.raises(_Crash):
        score([SAMPLE], out, chunk_records=7, on_progress=crash_after_three_chunks)
    assert not out.exists()
    assert len(WorkDir(out).finished()) == 3
    result = score([SAMPLE], out, chunk_records=7, resume=True)
    assert result.resumed_chunks == 3
    for table in TABLES:
        assert_frame_equal(read(sample_out, table), read(out, table))
    again = score([SAMPLE], out, chunk_records=7, resume=True)  # finished: nothing to do
    assert again.calls == result.calls


def test_prefetching_the_next_chunks_gives_the_same_tables(sample_out, tmp_path):
    """The reader/prepare thread that keeps a GPU busy (on by default on CUDA)
    forced on here: same tables, also when resuming after a crash."""
    out = tmp_path / "prefetched"

    def crash_after_two_chunks(progress):
        if progress.calls >= 14:
            raise _Crash()

    with pytest.raises(_Crash):
        score([SAMPLE], out, chunk_records=7, prefetch=True, on_progress=crash_after_two_chunks)
    result = score([SAMPLE], out, chunk_records=7, prefetch=True, resume=True)
    assert result.manifest["prefetch"] is True and result.resumed_chunks == 2
    for table in TABLES:
        assert_frame_equal(read(sample_out, table), read(out, table))


def test_worker_processes_give_the_same_tables_and_resume(sample_out, tmp_path):
    """--workers 2: chunks scored in two spawned processes, written in order by
    this one; same tables, also when resuming after a crash."""
    out = tmp_path / "workers"

    def crash_after_two_chunks(progress):
        if progress.calls >= 14:
            raise _Crash()

    with pytest.raises(_Crash):
        score([SAMPLE], out, chunk_records=7, workers=2, on_progress=crash_after_two_chunks)
    result = score([SAMPLE], out, chunk_records=7, workers=2, resume=True)
    assert result.manifest["workers"] == 2 and result.resumed_chunks >= 2
    assert result.manifest["timings_s"]["recognize"] > 0  # the workers' stage times reach the manifest
    for table in TABLES:
        assert_frame_equal(read(sample_out, table), read(out, table))
    with pytest.raises(ValueError, match="workers"):
        score([SAMPLE], tmp_path / "none", workers=0)


def test_auto_workers_use_the_cpus_but_not_for_one_chunk_a_gpu_or_ray(monkeypatch):
    import qa.pipeline as pipeline

    cfg = load_config()
    monkeypatch.setattr(pipeline, "_cpus", lambda: 8)
    monkeypatch.setattr(pipeline, "_uses_gpu", lambda c: False)
    assert pipeline.resolve_workers("auto", cfg, "local", 100_000, 1000) == pipeline.AUTO_WORKERS_MAX
    assert pipeline.resolve_workers("auto", cfg, "local", 2_500, 1000) == 3  # one per chunk
    assert pipeline.resolve_workers("auto", cfg, "local", 54, 1000) == 1
    assert pipeline.resolve_workers(6, cfg, "local", 54, 1000) == 6  # as given
    assert pipeline.resolve_workers("auto", cfg, "ray", 100_000, 1000) == 1
    monkeypatch.setattr(pipeline, "_cpus", lambda: 2)
    assert pipeline.resolve_workers("auto", cfg, "local", 100_000, 1000) == 2
    monkeypatch.setattr(pipeline, "_uses_gpu", lambda c: True)
    assert pipeline.resolve_workers("auto", cfg, "local", 100_000, 1000) == 1


def _children(pid: int) -> set[int]:
    try:
        return {int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except OSError:
        return set()


@pytest.mark.skipif(not Path(f"/proc/self/task/{os.getpid()}/children").exists(),
                    reason="reads child processes from /proc/PID/task/PID/children")
def test_worker_processes_exit_when_the_run_is_killed(tmp_path):
    """kill -9 of `qa score --workers 2` leaves no worker behind holding a model."""
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "qa", "score", str(SAMPLE), "--out", str(out), "--chunk-records", "2",
           "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parts = WorkDir(out).parts
    deadline = time.monotonic() + 120
    while not list(parts.glob("chunk-*.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    workers = _children(proc.pid)  # the spawned workers (and the pool's resource tracker)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert workers, "no worker processes were running"
    deadline = time.monotonic() + 20
    alive = workers
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = {w for w in alive if Path(f"/proc/{w}").exists() and "zombie" not in _state(w)}
    assert not alive, f"worker processes {sorted(alive)} outlived the killed run"


def _state(pid: int) -> str:
    try:
        line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("State:"))
    except (OSError, StopIteration):
        return "zombie"
    return line.lower()


def test_an_error_while_prefetching_reaches_the_caller(tmp_path, monkeypatch):
    import qa.pipeline as pipeline

    def broken(*args, **kwargs):
        raise _Crash("prepare failed")

    monkeypatch.setattr(pipeline, "prepare_chunk", broken)
    with pytest.raises(_Crash, match="prepare failed"):
        score([SAMPLE], tmp_path / "o", prefetch=True)
    assert not (tmp_path / "o").exists()


def test_resume_refuses_chunks_from_other_settings(tmp_path):
    out = tmp_path / "o"

    def crash(progress):
        raise _Crash()

    with pytest.raises(_Crash):
        score([SAMPLE], out, chunk_records=7, on_progress=crash)
    with pytest.raises(ResumeMismatchError):
        score([SAMPLE], out, chunk_records=9, resume=True)


def test_two_runs_never_write_one_folder(tmp_path):
    out = tmp_path / "locked"
    holder = WorkDir(out)
    holder.lock()
    try:
        with pytest.raises(OutputLockedError, match="another qa run"):
            score([SAMPLE], out)
    finally:
        holder.unlock()


def test_partition_scores_one_day_into_its_own_folder(tmp_path):
    result = score([SAMPLE], tmp_path / "daily", partition="2026-11-02")
    day = tmp_path / "daily" / "2026-11-02"
    calls = read(day, "calls")
    assert result.out_dir == day
    assert set(calls["date"].cast(pl.String)) == {"2026-11-02"}
    expected = sum(1 for _ in (SAMPLE / "calls-2026-11-02.jsonl").open(encoding="utf-8"))
    assert calls.height == expected
    assert result.skipped_other_partitions == result.records - expected


def test_rollup_of_daily_runs_equals_one_run(sample_out, tmp_path):
    days = sorted(p.stem.removeprefix("calls-") for p in SAMPLE.glob("calls-*.jsonl"))
    for d in days:
        score([SAMPLE / f"calls-{d}.jsonl"], tmp_path / "daily", partition=d)
    # the first day scored twice: counted once
    result = rollup(
        [tmp_path / "daily" / days[0]] + [tmp_path / "daily" / d for d in days],
        tmp_path / "weekly",
        load_config(),
        by="week",
    )
    assert result.duplicate_calls == read(tmp_path / "daily" / days[0], "calls").height
    assert_frame_equal(read(sample_out, "scorecards"), read(tmp_path / "weekly", "scorecards"))


def _qa(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qa", *args], cwd=cwd, capture_output=True, text=True, encoding="utf-8", timeout=300
    )


def test_cli_scores_and_prints_a_summary(tmp_path):
    proc = _qa("score", str(SAMPLE), "--out", str(tmp_path / "cli"))
    assert proc.returncode == 0, proc.stderr
    assert "calls scored" in proc.stdout and "findings: blame_language" in proc.stdout
    assert "\x1b[" not in proc.stderr  # no progress bar when not on a terminal
    again = _qa("score", str(SAMPLE), "--out", str(tmp_path / "cli"))
    assert again.returncode == 1 and "--force" in again.stderr


def test_summary_total_is_wall_time_when_workers_ran(sample_out):
    from rich.console import Console

    from qa.cli import _summary
    from qa.pipeline import RunResult

    m = json.loads((sample_out / "manifest.json").read_text(encoding="utf-8"))
    m["workers"] = 2
    m["timings_s"] = {"read": 1.0, "prepare": 4.0, "recognize": 30.0, "sentiment": 1.0, "checks": 5.0, "ray": 0.0,
                      "workers": 19.0, "aggregate": 0.5, "write": 0.5}
    console = Console(width=120, record=True)
    console.print(_summary(RunResult.from_manifest(sample_out, m)))
    text = console.export_text()
    assert "recognize (summed over 2 workers)" in text
    assert "21.00 s" in text  # read + workers + aggregate + write, not 61 s


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["score", "nope.jsonl", "--out", "{tmp}/o"], 1, "no such file"),
        (["score", str(SAMPLE), "--out", "{tmp}/o", "--config", "{tmp}/typo.yaml"], 1, "apology_windw: unknown key"),
        (["score", str(SAMPLE), "--out", "{tmp}/o", "--partition", "yesterday"], 1, "YYYY-MM-DD"),
        (["score", str(SAMPLE)], 1, "--out"),
        (["score", str(SAMPLE), "--out", "{tmp}/o", "--engine", "ray", "--workers", "2"], 1, "--ray-actors"),
        (["rollup", "{tmp}", "--out", "{tmp}/r"], 1, "not a finished qa score output"),
    ],
)
def test_cli_usage_errors_exit_1_with_a_clear_message(tmp_path, args, code, message):
    (tmp_path / "typo.yaml").write_text("checks:\n  apology_windw: 2\n", encoding="utf-8")
    proc = _qa(*[a.format(tmp=tmp_path) for a in args])
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr + proc.stdout


@pytest.mark.slow
def test_kill_9_then_resume_gives_the_same_tables(sample_out, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "qa", "score", str(SAMPLE), "--out", str(out), "--chunk-records", "2", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parts = WorkDir(out).parts
    deadline = time.monotonic() + 120
    while len(list(parts.glob("chunk-*.json"))) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "the run finished before it could be killed; use smaller chunks"
    finished = len(list(parts.glob("chunk-*.json")))
    assert finished >= 3
    done = subprocess.run(cmd + ["--resume"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["resumed_chunks"] == finished
    for table in TABLES:
        assert_frame_equal(read(sample_out, table), read(out, table))
    shutil.rmtree(out)


@pytest.mark.slow
def test_ray_engine_gives_the_same_tables_as_the_local_engine(sample_out, tmp_path):
    pytest.importorskip("ray", reason="the Ray engine needs: pip install 'qa[ray]'")
    import ray

    try:
        result = score([SAMPLE], tmp_path / "ray", engine="ray", chunk_records=10, ray_actors=2)
    finally:
        ray.shutdown()
    assert result.manifest["engine"] == "ray"
    assert result.calls == read(sample_out, "calls").height
    for table in TABLES:
        assert_frame_equal(read(sample_out, table), read(tmp_path / "ray", table))
