"""Row builders and fixed schemas for the turn and finding tables.

Schemas are explicit so an empty run writes the same columns as a full one,
and downstream readers (report, rollup, notebooks) can rely on them.
"""

from __future__ import annotations

import polars as pl

from qa.types import TAGS, CallAnalysis, Finding

TURNS_SCHEMA: dict[str, pl.DataType] = {
    "call_id": pl.String(),
    "turn": pl.Int32(),
    "agent_id": pl.String(),
    "speaker": pl.String(),
    "text": pl.String(),
    "start_ms": pl.Int64(),
    "end_ms": pl.Int64(),
    "sentiment": pl.String(),
    "sentiment_score": pl.Float64(),
    "tags": pl.List(pl.String()),
    "sources": pl.List(pl.String()),
    **{f"score_{t}": pl.Float64() for t in TAGS},
}

FINDINGS_SCHEMA: dict[str, pl.DataType] = {
    "call_id": pl.String(),
    "agent_id": pl.String(),
    "check": pl.String(),
    "turn": pl.Int32(),
    "start": pl.Int32(),
    "end": pl.Int32(),
    "evidence": pl.String(),
    "score": pl.Float64(),
    "source": pl.String(),
    "rule": pl.String(),
}


_SCORE_COLUMNS = tuple((t, f"score_{t}") for t in TAGS)


def turn_rows(analysis: CallAnalysis) -> list[dict]:
    """One row per turn: text, sentiment, the tags assigned and each tag's best score.

    ``tags`` lists the LABELS.md tags in their canonical order; ``sources``
    lists the distinct recognizer ids whose hits produced them;
    ``score_<tag>`` is the best hit score of that tag, 0.0 when absent.
    """
    call = analysis.call
    rows = []
    for turn, hits, senti in zip(call.turns, analysis.hits, analysis.sentiments):
        best: dict[str, float] = {}
        sources: list[str] = []
        for h in hits:
            if h.tag in TAGS:
                best[h.tag] = max(best.get(h.tag, 0.0), h.score)
                if h.source not in sources:
                    sources.append(h.source)
        row = {
            "call_id": call.call_id,
            "turn": turn.index,
            "agent_id": call.agent_id,
            "speaker": turn.speaker.value,
            "text": turn.text,
            "start_ms": turn.start_ms,
            "end_ms": turn.end_ms,
            "sentiment": senti.label,
            "sentiment_score": round(senti.score, 4),
            "tags": [t for t in TAGS if t in best],
            "sources": sorted(sources),
        }
        for t, column in _SCORE_COLUMNS:
            v = best.get(t)
            row[column] = round(v, 4) if v else 0.0
        rows.append(row)
    return rows


def finding_rows(findings: list[Finding]) -> list[dict]:
    return [
        {
            "call_id": f.call_id,
            "agent_id": f.agent_id,
            "check": f.check,
            "turn": f.turn,
            "start": f.start,
            "end": f.end,
            "evidence": f.evidence,
            "score": round(f.score, 4),
            "source": f.source,
            "rule": f.rule,
        }
        for f in findings
    ]


def frame(rows: list[dict], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """A frame with exactly ``schema``'s columns, also for no rows."""
    return pl.DataFrame(rows, schema=schema)
