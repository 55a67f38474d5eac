"""Scorecard arithmetic on hand-computed examples."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import pytest

from qa.checks import run_checks
from qa.config import ScorecardConfig, load_config
from qa.scorecard import CALLS_SCHEMA, SCORECARD_SCHEMA, call_row, calls_frame, scorecards, wilson
from qa.types import CHECKS, Call, CallAnalysis, Finding, Hit, Sentiment, Speaker, Turn

CFG = load_config()


# ---------------------------------------------------------------- wilson


@pytest.mark.parametrize(
    "k, n, lo, hi",
    [
        (2, 5, 0.1176, 0.7693),
        (2, 4, 0.1500, 0.8500),
        (1, 3, 0.0615, 0.7923),
        (0, 5, 0.0, 0.4345),
        (5, 5, 0.5655, 1.0),
        (0, 0, 0.0, 1.0),  # no trials: no information
    ],
)
def test_wilson(k: int, n: int, lo: float, hi: float) -> None:
    assert wilson(k, n) == pytest.approx((lo, hi), abs=5e-5)


@pytest.mark.parametrize("k, n", [(3, 2), (-1, 2), (0, -1)])
def test_wilson_rejects_impossible_counts(k: int, n: int) -> None:
    with pytest.raises(ValueError):
        wilson(k, n)


# ---------------------------------------------------------------- call_row


def analysis(rows: list[tuple[str, str, list[str], float]], started_at: str | None) -> CallAnalysis:
    """(speaker, text, tags, sentiment score) rows; every tag one whole-turn hit."""
    turns = tuple(Turn(i, Speaker(sp), text) for i, (sp, text, _, _) in enumerate(rows))
    hits = tuple(
        tuple(Hit(t, i, 0, len(text), 0.9, "test:v1", text) for t in tags)
        for i, (_, text, tags, _) in enumerate(rows)
    )
    label = {-1: "negative", 0: "neutral", 1: "positive"}
    sents = tuple(Sentiment(label[(s > 0) - (s < 0)], s, "test:sent.v1") for *_, s in rows)
    call = Call("C9", "A9", turns, started_at=started_at, queue="returns")
    return CallAnalysis(call, hits, sents)


DIALOG = [
    ("customer", "东西坏了", ["complaint"], -0.8),
    ("agent", "是您自己没看清楚", ["blame"], 0.0),
    ("customer", "你什么态度", ["complaint"], -0.6),
    ("agent", "非常抱歉，给您补发", ["apology", "solution"], 0.2),
    ("customer", "好吧", [], 0.1),
    ("customer", "谢谢", [], 0.5),
]


def test_call_row_end_to_end() -> None:
    an = analysis(DIALOG, "2026-11-08T23:30:00-05:00")
    findings = run_checks(an, CFG.checks)
    # blame at 1; the apology at 3 answers complaint 0, so complaint 2 is left unanswered.
    assert [(f.turn, f.check) for f in findings] == [(1, "blame_language"), (2, "missing_apology")]
    row = call_row(an, findings, CFG)
    assert set(row) == set(CALLS_SCHEMA)
    assert row["date"] == date(2026, 11, 8)  # in the timestamp's own offset, not UTC (11-09)
    assert (row["week"], row["month"]) == ("2026-W45", "2026-11")
    assert (row["started_at"], row["queue"], row["turns"]) == ("2026-11-08T23:30:00-05:00", "returns", 6)
    assert row["qa_score"] == 100 - 15 - 10
    assert row["findings"] == 2
    assert {c: row[f"n_{c}"] for c in CHECKS} == {
        c: int(c in ("blame_language", "missing_apology")) for c in CHECKS
    }
    assert (row["complaints"], row["complaints_apologised"]) == (2, 1)
    # customer scores -0.8, -0.6, 0.1, 0.5: middle position (4 - 1) // 2 = 1
    assert (row["cust_sentiment_start"], row["cust_sentiment_mid"], row["cust_sentiment_end"]) == (-0.8, -0.6, 0.5)
    assert row["sentiment_shift"] == pytest.approx(1.3)


def test_call_row_floors_score_at_zero() -> None:
    an = analysis(DIALOG, None)
    blame = [Finding("C9", "A9", "blame_language", 1, 0, 8, "是您自己没看清楚", 0.9, "test:v1")] * 7
    assert call_row(an, blame, CFG)["qa_score"] == 0.0


@pytest.mark.parametrize(
    "started_at, day, week, month",
    [
        (None, None, None, None),
        ("", None, None, None),
        ("yesterday", None, None, None),
        ("2027-01-01T08:00:00+08:00", date(2027, 1, 1), "2026-W53", "2027-01"),  # ISO year of the week
        ("2026-11-09 09:00:00", date(2026, 11, 9), "2026-W46", "2026-11"),
        ("2026-11-02", date(2026, 11, 2), "2026-W45", "2026-11"),
    ],
)
def test_call_row_periods(started_at: str | None, day: date | None, week: str | None, month: str | None) -> None:
    row = call_row(analysis(DIALOG, started_at), [], CFG)
    assert (row["date"], row["week"], row["month"]) == (day, week, month)


def test_call_row_without_customer_turns() -> None:
    row = call_row(analysis([("agent", "您好", [], 0.0)], None), [], CFG)
    assert row["cust_sentiment_start"] is row["cust_sentiment_mid"] is row["cust_sentiment_end"] is None
    assert row["sentiment_shift"] is None
    assert row["qa_score"] == 100.0


def test_call_row_rejects_findings_of_another_call() -> None:
    other = Finding("C1", "A9", "blame_language", 1, 0, 2, "xx", 0.9, "test:v1")
    with pytest.raises(ValueError, match="C1"):
        call_row(analysis(DIALOG, None), [other], CFG)


# ---------------------------------------------------------------- calls_frame


def calls_row(call_id: str, agent: str, day: str | None, qa: float, **extra: Any) -> dict[str, Any]:
    """A calls row with zero counts, for the fields a test does not care about."""
    d = date.fromisoformat(day) if day else None
    iso = d.isocalendar() if d else None
    row: dict[str, Any] = {
        "call_id": call_id, "agent_id": agent, "started_at": day, "date": d,
        "week": f"{iso.year}-W{iso.week:02d}" if iso else None,
        "month": day[:7] if day else None, "queue": None, "turns": 6, "qa_score": qa, "findings": 0,
        **{f"n_{c}": 0 for c in CHECKS},
        "complaints": 0, "complaints_apologised": 0,
        "cust_sentiment_start": None, "cust_sentiment_mid": None, "cust_sentiment_end": None,
        "sentiment_shift": None,
    }
    for k, v in extra.items():
        assert k in row, k
        row[k] = v
    return row


def test_calls_frame_schema_and_order() -> None:
    frame = calls_frame([calls_row("C2", "A1", "2026-11-02", 90.0), calls_row("C1", "A1", None, 80.0)])
    assert frame.schema == pl.Schema(CALLS_SCHEMA)
    assert frame["call_id"].to_list() == ["C1", "C2"]
    assert frame["date"].to_list() == [None, date(2026, 11, 2)]


def test_calls_frame_empty_has_the_schema() -> None:
    assert calls_frame([]).schema == pl.Schema(CALLS_SCHEMA)
    assert calls_frame([]).height == 0


def test_calls_frame_rejects_wrong_columns() -> None:
    row = calls_row("C1", "A1", None, 80.0)
    del row["queue"]
    with pytest.raises(ValueError, match="queue"):
        calls_frame([row])


# ---------------------------------------------------------------- scorecards


SC = ScorecardConfig(deductions={}, min_calls=3)

ROWS = [
    # A0: 3 calls in 2026-W46 and one without a date.
    calls_row("c01", "A0", "2026-11-09", 50.0),
    calls_row("c02", "A0", "2026-11-10", 60.0),
    calls_row("c03", "A0", "2026-11-11", 70.0),
    calls_row("c04", "A0", None, 60.0),
    # A1: 3 calls in W45, 2 in W46.
    calls_row("c11", "A1", "2026-11-02", 100.0, complaints=1, complaints_apologised=1, sentiment_shift=1.0),
    calls_row("c12", "A1", "2026-11-03", 90.0, n_blame_language=1, complaints=2, complaints_apologised=1),
    calls_row("c13", "A1", "2026-11-08", 80.0, sentiment_shift=-0.5),
    calls_row("c14", "A1", "2026-11-09", 100.0, sentiment_shift=0.5),
    calls_row("c15", "A1", "2026-11-15", 85.0, n_blame_language=2, complaints=1),
    # A2: 3 calls in W45, same score as A1 overall but fewer core findings.
    calls_row("c21", "A2", "2026-11-04", 91.0, n_stalling_script=1),
    calls_row("c22", "A2", "2026-11-05", 91.0),
    calls_row("c23", "A2", "2026-11-06", 91.0),
    # A3: the best scores, but only 2 calls (< min_calls 3).
    calls_row("c31", "A3", "2026-11-12", 100.0),
    calls_row("c32", "A3", "2026-11-13", 100.0),
]


def test_scorecards_hand_computed() -> None:
    sc = scorecards(calls_frame(ROWS), SC)
    assert sc.schema == pl.Schema(SCORECARD_SCHEMA)
    got = sc.select("period_type", "period", "agent_id", "calls", "qa_score", "qa_score_lo", "qa_score_hi",
                    "ranked", "rank").rows()
    assert got == [
        # A2 and A1 both average 91.00; A2's core rates sum to 0.3333 (stalling 1/3), A1's to 0.4 (blame 2/5).
        ("all", "all", "A2", 3, 91.0, 91.0, 91.0, True, 1),
        # A1: scores 100 90 80 100 85, s = sqrt(320/4) = 8.944, 1.96 * s / sqrt(5) = 7.84
        ("all", "all", "A1", 5, 91.0, 83.16, 98.84, True, 2),
        # A0: 50 60 70 60, s = sqrt(200/3) = 8.165, 1.96 * s / 2 = 8.00
        ("all", "all", "A0", 4, 60.0, 52.0, 68.0, True, 3),
        ("all", "all", "A3", 2, 100.0, 100.0, 100.0, False, None),
        ("week", "2026-W45", "A2", 3, 91.0, 91.0, 91.0, True, 1),
        # 100 90 80: s = 10, 1.96 * 10 / sqrt(3) = 11.32; the upper end is clipped at 100
        ("week", "2026-W45", "A1", 3, 90.0, 78.68, 100.0, True, 2),
        ("week", "2026-W46", "A0", 3, 60.0, 48.68, 71.32, True, 1),
        # 100 85: s = 10.61, 1.96 * 10.61 / sqrt(2) = 14.7
        ("week", "2026-W46", "A1", 2, 92.5, 77.8, 100.0, False, None),
        ("week", "2026-W46", "A3", 2, 100.0, 100.0, 100.0, False, None),
    ]

    a1 = sc.filter(period_type="all", agent_id="A1").row(0, named=True)
    assert (a1["rate_blame_language"], a1["rate_blame_language_lo"], a1["rate_blame_language_hi"]) == (
        0.4, 0.1176, 0.7693)
    assert a1["findings_blame_language"] == 3
    assert (a1["rate_stalling_script"], a1["rate_stalling_script_lo"], a1["rate_stalling_script_hi"]) == (
        0.0, 0.0, 0.4345)
    assert (a1["complaints"], a1["complaints_apologised"]) == (4, 2)
    assert (a1["apology_compliance"], a1["apology_compliance_lo"], a1["apology_compliance_hi"]) == (
        0.5, 0.15, 0.85)
    assert a1["sentiment_shift"] == 0.3333  # mean of 1.0, -0.5, 0.5; calls without a shift are skipped

    a2 = sc.filter(period_type="all", agent_id="A2").row(0, named=True)
    assert (a2["rate_stalling_script"], a2["rate_stalling_script_lo"], a2["rate_stalling_script_hi"]) == (
        0.3333, 0.0615, 0.7923)
    assert a2["complaints"] == 0
    assert a2["apology_compliance"] is a2["apology_compliance_lo"] is a2["apology_compliance_hi"] is None
    assert a2["sentiment_shift"] is None


def test_scorecards_by_month_skips_undated_calls() -> None:
    sc = scorecards(calls_frame(ROWS), SC, by=("month",))
    assert sc.select("period", "agent_id", "calls", "qa_score", "rank").rows() == [
        ("2026-11", "A2", 3, 91.0, 1),
        ("2026-11", "A1", 5, 91.0, 2),
        ("2026-11", "A0", 3, 60.0, 3),
        ("2026-11", "A3", 2, 100.0, None),
    ]


def test_scorecards_full_tie_broken_by_agent_id() -> None:
    rows = [calls_row(f"{agent}-{k}", agent, "2026-11-02", 80.0) for agent in ("B2", "B1") for k in range(3)]
    sc = scorecards(calls_frame(rows), SC, by=("all",))
    assert sc.select("agent_id", "rank").rows() == [("B1", 1), ("B2", 2)]


def test_scorecards_roll_up_from_concatenated_calls_tables() -> None:
    days = [calls_frame(ROWS[::2]), calls_frame(ROWS[1::2])]
    by = ("all", "week", "month")
    assert scorecards(pl.concat(days), SC, by=by).equals(scorecards(calls_frame(ROWS), SC, by=by))


def test_scorecards_empty_input() -> None:
    sc = scorecards(calls_frame([]), SC, by=("all", "week", "month"))
    assert sc.schema == pl.Schema(SCORECARD_SCHEMA)
    assert sc.height == 0


@pytest.mark.parametrize("by", [("day",), ("week", "week")])
def test_scorecards_rejects_unknown_periods(by: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="period types"):
        scorecards(calls_frame(ROWS), SC, by=by)
