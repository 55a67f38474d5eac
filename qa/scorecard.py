"""Per-call rows and per-agent scorecards, with polars.

``call_row`` turns one analysed call and its findings into one row of
``calls.parquet``; ``calls_frame`` makes the table; ``scorecards`` aggregates a
calls table per agent and period. Scorecards read nothing but the calls table,
so a longer period is scored from concatenated daily tables:
``scorecards(pl.concat([day1, day2, ...]), cfg, by=("month",))``.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

import polars as pl

from qa.checks.apology import apology_compliance
from qa.config import Config, ScorecardConfig
from qa.types import CHECKS, CallAnalysis, Finding, Speaker

#: z for a two-sided 95% interval.
Z95 = 1.959963984540054

#: The core checks (LABELS.md); ranking ties are broken on their rates.
CORE_CHECKS: tuple[str, ...] = ("blame_language", "missing_apology", "stalling_script")

#: Period types ``scorecards`` can group by, and the calls column each reads.
PERIOD_TYPES: tuple[str, ...] = ("all", "week", "month")

CALLS_SCHEMA: dict[str, pl.DataType] = {
    "call_id": pl.String(),
    "agent_id": pl.String(),
    "started_at": pl.String(),
    "date": pl.Date(),
    "week": pl.String(),
    "month": pl.String(),
    "queue": pl.String(),
    "turns": pl.Int64(),
    "qa_score": pl.Float64(),
    "findings": pl.Int64(),
    **{f"n_{c}": pl.Int64() for c in CHECKS},
    "complaints": pl.Int64(),
    "complaints_apologised": pl.Int64(),
    "cust_sentiment_start": pl.Float64(),
    "cust_sentiment_mid": pl.Float64(),
    "cust_sentiment_end": pl.Float64(),
    "sentiment_shift": pl.Float64(),
}

SCORECARD_SCHEMA: dict[str, pl.DataType] = {
    "period_type": pl.String(),
    "period": pl.String(),
    "agent_id": pl.String(),
    "calls": pl.Int64(),
    "qa_score": pl.Float64(),
    "qa_score_lo": pl.Float64(),
    "qa_score_hi": pl.Float64(),
    **{
        name: dtype
        for c in CHECKS
        for name, dtype in (
            (f"rate_{c}", pl.Float64()),
            (f"rate_{c}_lo", pl.Float64()),
            (f"rate_{c}_hi", pl.Float64()),
            (f"findings_{c}", pl.Int64()),
        )
    },
    "complaints": pl.Int64(),
    "complaints_apologised": pl.Int64(),
    "apology_compliance": pl.Float64(),
    "apology_compliance_lo": pl.Float64(),
    "apology_compliance_hi": pl.Float64(),
    "sentiment_shift": pl.Float64(),
    "ranked": pl.Boolean(),
    "rank": pl.Int64(),
}


# ---------------------------------------------------------------- calls


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes in ``n`` trials, clipped to [0, 1].

    ``n = 0`` carries no information and gives the whole range ``(0.0, 1.0)``.
    """
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, center - half), min(1.0, center + half)


def call_date(started_at: str | None) -> date | None:
    """The calendar date of an ISO 8601 timestamp in its OWN offset (no conversion).

    ``"2026-11-02T23:30:00-05:00"`` is 2026-11-02. None when absent or unparseable.
    """
    if not started_at:
        return None
    try:
        return datetime.fromisoformat(started_at.strip()).date()
    except ValueError:
        return None


def call_row(analysis: CallAnalysis, findings: list[Finding], cfg: Config) -> dict[str, Any]:
    """One row of calls.parquet (columns and types: ``CALLS_SCHEMA``).

    - ``date``: see ``call_date``; ``week`` the ISO week (``"2026-W45"``, ISO
      year), ``month`` ``"2026-11"``; all three None without a usable date.
    - ``qa_score``: 100 minus ``cfg.scorecard.deductions[check]`` for every
      finding, floored at 0.
    - ``findings`` and ``n_<check>``: finding counts, in total and per check.
    - ``complaints``, ``complaints_apologised``: ``apology_compliance``.
    - ``cust_sentiment_start`` / ``_mid`` / ``_end``: the sentiment score of
      the first, the middle (position ``(m - 1) // 2`` of ``m`` customer
      turns) and the last customer turn; ``sentiment_shift`` = end - start.
      All None when the call has no customer turn.
    """
    call = analysis.call
    stray = sorted({f.call_id for f in findings} - {call.call_id})
    if stray:
        raise ValueError(f"call {call.call_id}: got findings of other calls {stray}")
    unknown = sorted({f.check for f in findings} - set(CHECKS))
    if unknown:
        raise ValueError(f"call {call.call_id}: unknown check(s) {unknown}; known: {list(CHECKS)}")

    day = call_date(call.started_at)
    iso = day.isocalendar() if day else None
    deducted = sum(cfg.scorecard.deductions[f.check] for f in findings)
    complaints, apologised = apology_compliance(analysis, cfg.checks)
    scores = [analysis.sentiments[t.index].score for t in call.turns if t.speaker is Speaker.CUSTOMER]
    start, mid, end = (scores[0], scores[(len(scores) - 1) // 2], scores[-1]) if scores else (None, None, None)
    return {
        "call_id": call.call_id,
        "agent_id": call.agent_id,
        "started_at": call.started_at,
        "date": day,
        "week": f"{iso.year}-W{iso.week:02d}" if iso else None,
        "month": f"{day.year}-{day.month:02d}" if day else None,
        "queue": call.queue,
        "turns": len(call.turns),
        "qa_score": max(0.0, 100.0 - deducted),
        "findings": len(findings),
        **{f"n_{c}": sum(f.check == c for f in findings) for c in CHECKS},
        "complaints": complaints,
        "complaints_apologised": apologised,
        "cust_sentiment_start": start,
        "cust_sentiment_mid": mid,
        "cust_sentiment_end": end,
        "sentiment_shift": None if start is None or end is None else end - start,
    }


def calls_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """The calls table: ``CALLS_SCHEMA`` exactly (also for no rows), sorted by call_id."""
    for k, row in enumerate(rows):
        if set(row) != set(CALLS_SCHEMA):
            missing = sorted(set(CALLS_SCHEMA) - set(row))
            extra = sorted(set(row) - set(CALLS_SCHEMA))
            raise ValueError(f"calls row {k}: missing columns {missing}, unknown columns {extra}")
    frame = pl.from_dicts(rows, schema=CALLS_SCHEMA) if rows else pl.DataFrame(schema=CALLS_SCHEMA)
    return frame.sort("call_id", maintain_order=True)


# ---------------------------------------------------------------- scorecards


def _wilson_exprs(k: pl.Expr, n: pl.Expr, z: float = Z95) -> tuple[pl.Expr, pl.Expr]:
    """``wilson`` as polars expressions; null where ``n == 0``."""
    p = k / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * (p * (1 - p) / n + z * z / (4 * n * n)).sqrt() / denom
    lo = pl.when(n > 0).then((center - half).clip(0.0, 1.0))
    hi = pl.when(n > 0).then((center + half).clip(0.0, 1.0))
    return lo, hi


def _score_block(calls: pl.DataFrame, period_type: str, cfg: ScorecardConfig) -> pl.DataFrame:
    period = pl.lit("all") if period_type == "all" else pl.col(period_type)
    frame = calls.with_columns(period=period).filter(pl.col("period").is_not_null())
    agg = frame.group_by("period", "agent_id").agg(
        calls=pl.len().cast(pl.Int64),
        _mean=pl.col("qa_score").mean(),
        _sd=pl.col("qa_score").std(ddof=1),
        **{f"_k_{c}": (pl.col(f"n_{c}") > 0).sum() for c in CHECKS},
        **{f"findings_{c}": pl.col(f"n_{c}").sum() for c in CHECKS},
        complaints=pl.col("complaints").sum(),
        complaints_apologised=pl.col("complaints_apologised").sum(),
        sentiment_shift=pl.col("sentiment_shift").mean(),
    )
    n = pl.col("calls")
    half = pl.when(n > 1).then(Z95 * pl.col("_sd") / n.sqrt()).otherwise(0.0)
    cols: dict[str, pl.Expr] = {
        "period_type": pl.lit(period_type),
        "qa_score": pl.col("_mean").round(2),
        "qa_score_lo": (pl.col("_mean") - half).clip(0.0, 100.0).round(2),
        "qa_score_hi": (pl.col("_mean") + half).clip(0.0, 100.0).round(2),
    }
    for c in CHECKS:
        lo, hi = _wilson_exprs(pl.col(f"_k_{c}"), n)
        cols |= {
            f"rate_{c}": (pl.col(f"_k_{c}") / n).round(4),
            f"rate_{c}_lo": lo.round(4),
            f"rate_{c}_hi": hi.round(4),
        }
    asked, done = pl.col("complaints"), pl.col("complaints_apologised")
    lo, hi = _wilson_exprs(done, asked)
    cols |= {
        "apology_compliance": pl.when(asked > 0).then((done / asked).round(4)),
        "apology_compliance_lo": lo.round(4),
        "apology_compliance_hi": hi.round(4),
        "sentiment_shift": pl.col("sentiment_shift").round(4),
        "ranked": n >= cfg.min_calls,
    }
    scored = agg.with_columns(**cols).with_columns(
        _core=pl.sum_horizontal(f"rate_{c}" for c in CORE_CHECKS).round(4)
    )
    # Ranked agents first, best first; their position in the period is their rank.
    scored = scored.sort(
        ["period", "ranked", "qa_score", "_core", "agent_id"],
        descending=[False, True, True, False, False],
    ).with_columns(
        rank=pl.when(pl.col("ranked")).then(pl.int_range(1, pl.len() + 1).over("period"))
    )
    return scored.select(pl.col(name).cast(dtype) for name, dtype in SCORECARD_SCHEMA.items()).sort(
        ["period", "rank", "agent_id"], nulls_last=True
    )


def scorecards(
    calls: pl.DataFrame, cfg: ScorecardConfig, by: tuple[str, ...] = ("all", "week")
) -> pl.DataFrame:
    """One row per agent and period (columns and types: ``SCORECARD_SCHEMA``).

    ``by`` lists period types, each one block of rows: ``"all"`` (period
    ``"all"``), ``"week"`` (the calls' ``week``) and ``"month"`` (``month``).
    A call without a date counts in ``"all"`` only.

    Per agent and period:

    - ``calls``; ``qa_score`` = mean call score; ``qa_score_lo``/``_hi`` =
      mean -/+ 1.96 * s / sqrt(calls) (s = sample standard deviation; the mean
      itself when calls = 1), clipped to [0, 100]; all rounded to 2 decimals.
    - per check: ``rate_<check>`` = share of calls with at least one such
      finding, ``rate_<check>_lo``/``_hi`` its Wilson 95% interval,
      ``findings_<check>`` the total number of findings.
    - ``complaints``, ``complaints_apologised`` (sums); ``apology_compliance``
      = apologised / complaints with its Wilson interval, null when no
      complaints.
    - ``sentiment_shift``: mean over the calls that have one (null if none).
    - Rates, compliance and shift are rounded to 4 decimals.
    - ``ranked`` = calls >= ``cfg.min_calls``. ``rank`` (null when not ranked):
      1 = best within the period, ordered by qa_score (as shown, descending),
      then by the sum of the core-check rates (``CORE_CHECKS``, ascending),
      then by agent_id.

    Rows come in the order of ``by``, then by period, rank (nulls last), agent_id.
    """
    unknown = [p for p in by if p not in PERIOD_TYPES]
    if unknown or len(set(by)) != len(by):
        raise ValueError(f"by must list distinct period types of {list(PERIOD_TYPES)}, got {list(by)}")
    needed = ["agent_id", "qa_score", *(f"n_{c}" for c in CHECKS), "complaints", "complaints_apologised",
              "sentiment_shift", *(p for p in by if p != "all")]
    missing = [c for c in needed if c not in calls.columns]
    if missing:
        raise ValueError(f"calls table lacks column(s) {missing}")
    blocks = [_score_block(calls, p, cfg) for p in by]
    if not blocks:
        return pl.DataFrame(schema=SCORECARD_SCHEMA)
    return pl.concat(blocks)
