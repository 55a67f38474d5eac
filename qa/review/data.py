"""A scored output folder, read for review: agents, their flagged calls, one call's transcript.

Reads ``OUT/findings.parquet`` and ``OUT/turns.parquet`` (required) and
``OUT/calls.parquet`` (optional: QA score, date and queue of each call).
Only the turns of flagged calls are kept in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from qa.report.spans import TranscriptView, build_transcript
from qa.review.keys import finding_key
from qa.review.store import FindingRecord


class ReviewDataError(Exception):
    """The output folder cannot be reviewed (missing or unreadable files)."""


@dataclass(frozen=True, slots=True)
class CallPage:
    call_id: str
    agent_id: str
    qa_score: float | None
    started_at: str | None
    queue: str | None
    view: TranscriptView
    position: int  # 0-based position in the agent's worst-first list
    total: int  # flagged calls of the agent
    prev_id: str | None
    next_id: str | None


class ReviewData:
    """The findings, their keys and the flagged calls' turns of one output folder."""

    def __init__(self, out_dir: str | Path):
        self.out_dir = Path(out_dir)
        needed = [self.out_dir / "findings.parquet", self.out_dir / "turns.parquet"]
        missing = [str(p) for p in needed if not p.is_file()]
        if missing:
            raise ReviewDataError(f"not a qa output folder (missing {', '.join(missing)}); run `qa score` first")
        try:
            findings = pl.read_parquet(self.out_dir / "findings.parquet")
            calls_path = self.out_dir / "calls.parquet"
            calls = pl.read_parquet(calls_path) if calls_path.is_file() else None
            flagged_ids = findings.select("call_id").unique()
            turns = (
                pl.scan_parquet(self.out_dir / "turns.parquet")
                .select("call_id", "turn", "speaker", "text")
                .join(flagged_ids.lazy(), on="call_id", how="semi")
                .sort("call_id", "turn")
                .collect()
            )
        except (pl.exceptions.PolarsError, OSError) as e:
            raise ReviewDataError(f"cannot read {self.out_dir}: {e}") from e

        keys = [
            finding_key(r["call_id"], r["check"], r["turn"], r["source"])
            for r in findings.select("call_id", "check", "turn", "source").iter_rows(named=True)
        ]
        self.findings = findings.with_columns(key=pl.Series("key", keys, dtype=pl.String))

        per_call = self.findings.group_by("call_id").agg(agent_id=pl.col("agent_id").first(), n=pl.len())
        meta = pl.DataFrame(
            schema={"call_id": pl.String, "qa_score": pl.Float64, "started_at": pl.String, "queue": pl.String}
        )
        if calls is not None and calls.height:
            cols = [c for c in ("qa_score", "started_at", "queue") if c in calls.columns]
            meta = calls.select("call_id", *cols).unique("call_id", keep="first")
            for c, dtype in (("qa_score", pl.Float64), ("started_at", pl.String), ("queue", pl.String)):
                meta = meta.with_columns(pl.col(c).cast(dtype) if c in meta.columns else pl.lit(None, dtype).alias(c))
        self.flagged = per_call.join(meta, on="call_id", how="left").sort(
            ["agent_id", "qa_score", "n", "call_id"], descending=[False, False, True, False], nulls_last=True
        )
        self.calls = calls
        self._turns = {cid: part.to_dicts() for (cid,), part in turns.group_by("call_id")} if turns.height else {}
        self._findings = {cid: part.to_dicts() for (cid,), part in self.findings.group_by("call_id")}
        self._by_key: dict[str, dict] = {}
        for f in self.findings.iter_rows(named=True):
            self._by_key.setdefault(f["key"], f)
        self._order: dict[str, list[str]] = {}
        for r in self.flagged.iter_rows(named=True):
            self._order.setdefault(r["agent_id"], []).append(r["call_id"])

    # ------------------------------------------------------------ lists

    def keys(self) -> list[str]:
        return list(self._by_key)

    def agents(self) -> list[dict]:
        """Agents with flagged calls, lowest mean QA score first.

        Each: agent_id, calls, qa_score, flagged_calls, findings, keys (of its findings).
        """
        flagged = self.flagged.group_by("agent_id").agg(flagged_calls=pl.len(), findings=pl.col("n").sum())
        if self.calls is not None and self.calls.height and "qa_score" in self.calls.columns:
            totals = self.calls.group_by("agent_id").agg(calls=pl.len(), qa_score=pl.col("qa_score").mean())
            flagged = flagged.join(totals, on="agent_id", how="left")
        else:
            flagged = flagged.with_columns(calls=pl.lit(None, pl.UInt32), qa_score=pl.lit(None, pl.Float64))
        rows = flagged.sort(["qa_score", "agent_id"], nulls_last=True).to_dicts()
        keys = self.findings.group_by("agent_id").agg(pl.col("key").unique())
        by_agent = {r["agent_id"]: r["key"] for r in keys.iter_rows(named=True)}
        for r in rows:
            r["keys"] = by_agent.get(r["agent_id"], [])
        return rows

    def agent_calls(self, agent_id: str) -> list[dict] | None:
        """The agent's flagged calls, worst first (None: no flagged call of that agent).

        Each: call_id, agent_id, n (findings), qa_score, started_at, queue, keys.
        """
        if agent_id not in self._order:
            return None
        rows = self.flagged.filter(pl.col("agent_id") == agent_id).to_dicts()
        for r in rows:
            r["keys"] = sorted({f["key"] for f in self._findings.get(r["call_id"], [])})
        return rows

    # ------------------------------------------------------------ one call

    def call(self, call_id: str) -> CallPage | None:
        """A flagged call ready to draw; None when the call has no findings here."""
        findings = self._findings.get(call_id)
        if not findings:
            return None
        agent_id = findings[0]["agent_id"]
        order = self._order.get(agent_id, [call_id])
        pos = order.index(call_id) if call_id in order else 0
        meta = self.flagged.filter(pl.col("call_id") == call_id).to_dicts()
        m = meta[0] if meta else {}
        view = build_transcript(call_id, self._turns.get(call_id, []), findings, keys=[f["key"] for f in findings])
        return CallPage(
            call_id=call_id,
            agent_id=agent_id,
            qa_score=m.get("qa_score"),
            started_at=m.get("started_at"),
            queue=m.get("queue"),
            view=view,
            position=pos,
            total=len(order),
            prev_id=order[pos - 1] if pos > 0 else None,
            next_id=order[pos + 1] if pos + 1 < len(order) else None,
        )

    def finding(self, key: str) -> FindingRecord | None:
        """What a verdict on ``key`` copies: the finding and its turn's speaker and text."""
        f = self._by_key.get(key)
        if f is None:
            return None
        turn = next((t for t in self._turns.get(f["call_id"], []) if t["turn"] == f["turn"]), {})
        return FindingRecord(
            finding_key=key,
            call_id=f["call_id"],
            agent_id=f["agent_id"],
            turn=int(f["turn"]),
            check=f["check"],
            source=f["source"] or "",
            rule=f.get("rule") or "",
            evidence=f.get("evidence") or "",
            start=f.get("start"),
            end=f.get("end"),
            score=f.get("score"),
            speaker=turn.get("speaker") or "",
            text=turn.get("text") or "",
        )
