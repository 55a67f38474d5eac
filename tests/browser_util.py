"""Shared by test_report, test_review and test_browser: a small hand-made run
(three agents, a few calls, findings with spans, hostile text) and the
headless Chromium launcher.

The tables are built here by hand, with the output files' column names, so
these tests do not depend on the scoring pipeline.
"""

from __future__ import annotations

import json
import math
import os
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from qa.tables import FINDINGS_SCHEMA, TURNS_SCHEMA
from qa.types import CHECKS, TAGS

# ---------------------------------------------------------------- hostile text

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_TEXTAREA = "</textarea><b id=pwned>bold</b>"
PAYLOADS = (XSS_SCRIPT, XSS_IMG, XSS_TEXTAREA)

# ---------------------------------------------------------------- the sample run

# (call_id, agent_id, started_at, queue, [(speaker, text)], [(check, turn, evidence, source, rule, score)],
#  customer sentiment (start, mid, end))
CALLS: list[tuple] = [
    (
        "C001", "A01", "2026-11-02T09:15:00+08:00", "returns",
        [
            ("customer", "我买的东西到现在还没到，你们怎么回事"),
            ("agent", "这是您自己没看清楚地址，不是我们的问题"),
            ("customer", "你这是什么态度"),
            ("agent", "系统显示地址是旧的，我现在帮您改"),
        ],
        [
            ("blame_language", 1, "是您自己没看清楚", "lexicon:blame.v1", "是您自己", 1.0),
            ("missing_apology", 0, "还没到", "lexicon:complaint.v1", "还没到", 0.9),
        ],
        (-0.6, -0.8, -0.2),
    ),
    (
        "C002", "A01", "2026-11-03T10:00:00+08:00", "billing",
        [
            ("customer", f"我要投诉 {XSS_SCRIPT} 你们的服务"),
            ("agent", f"我帮您反馈一下，24小时内会有人联系您 {XSS_IMG}"),
            ("customer", f"{XSS_TEXTAREA} 又是等通知"),
        ],
        [
            ("escalation_risk", 0, f"我要投诉 {XSS_SCRIPT}", "model:tags@1", "", 0.91),
            ("stalling_script", 1, "帮您反馈一下，24小时内", "pattern:stalling.v1", "</script><script>alert(2)</script>", 1.0),
        ],
        (-0.5, -0.5, -0.7),
    ),
    ("C003", "A01", "2026-11-10T11:00:00+08:00", "returns",
     [("customer", "我想问一下退货流程"), ("agent", "好的，我来为您说明")], [], (0.0, 0.0, 0.5)),
    (
        "C004", "A01", "2026-11-10T14:30:00+08:00", "returns",
        [
            ("customer", "你们再不处理我就打12315投诉"),
            ("agent", "好的，我这边记录一下"),
            ("customer", "算了，太失望了，我要找你们领导"),
        ],
        [
            ("escalation_risk", 0, "打12315投诉", "lexicon:escalation.v1", "12315", 1.0),
            ("negative_ending", 2, "算了，太失望了，我要找你们领导", "model:sentiment@1", "", 0.8),
            ("escalation_risk", 2, "我要找你们领导", "lexicon:escalation.v1", "找你们领导", 1.0),
        ],
        (-0.7, -0.7, -0.9),
    ),
    ("C005", "A01", "2026-11-11T09:00:00+08:00", "returns",
     [("customer", "谢谢你"), ("agent", "不客气，祝您生活愉快")], [], (0.5, 0.5, 0.6)),
    ("C006", "A01", "2026-11-11T09:30:00+08:00", "returns",
     [("customer", "好的"), ("agent", "感谢您的来电")], [], (0.0, 0.0, 0.2)),
    (
        "C101", "A02", "2026-11-02T09:00:00+08:00", "billing",
        [("customer", "我的账单好像多扣了钱"), ("agent", "我们会尽快给您答复，请等通知")],
        [("stalling_script", 1, "请等通知", "lexicon:stalling.v1", "等通知", 1.0)],
        (-0.4, -0.4, -0.4),
    ),
    ("C102", "A02", "2026-11-03T09:00:00+08:00", "billing",
     [("customer", "帮我查一下话费"), ("agent", "已经帮您查好了，本月话费58元")], [], (0.0, 0.0, 0.3)),
    ("C103", "A02", "2026-11-04T09:00:00+08:00", "billing",
     [("customer", "怎么改套餐"), ("agent", "我现在帮您办理")], [], (0.0, 0.0, 0.4)),
    ("C104", "A02", "2026-11-10T09:00:00+08:00", "billing",
     [("customer", "谢谢"), ("agent", "不客气")], [], (0.3, 0.3, 0.5)),
    ("C105", "A02", "2026-11-12T09:00:00+08:00", "billing",
     [("customer", "好的"), ("agent", "感谢来电")], [], (0.1, 0.1, 0.2)),
    (
        "C201", "A03", "2026-11-05T16:00:00+08:00", "repair",
        [("customer", "这个按钮在哪里"), ("agent", "这么简单都不会吗，就在右上角")],
        [("blame_language", 1, "这么简单都不会", "model:tags@1", "", 0.87)],
        (0.0, -0.2, -0.3),
    ),
    ("C202", "A03", "2026-11-06T16:00:00+08:00", "repair",
     [("customer", "好的谢谢"), ("agent", "不客气")], [], (0.2, 0.2, 0.3)),
]

DEDUCTION = 10.0
MIN_CALLS = 5


def _wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float | None, float | None]:
    if n == 0:
        return None, None
    p = k / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return round(max(0.0, center - half), 4), round(min(1.0, center + half), 4)


def sample_tables() -> dict[str, pl.DataFrame]:
    """turns, findings, calls, scorecards of the sample run, with the output files' columns."""
    turns, findings, calls = [], [], []
    for call_id, agent, started, queue, said, found, senti in CALLS:
        for i, (speaker, text) in enumerate(said):
            row = {"call_id": call_id, "turn": i, "agent_id": agent, "speaker": speaker, "text": text,
                   "start_ms": i * 3000, "end_ms": i * 3000 + 2500, "sentiment": "neutral",
                   "sentiment_score": 0.0, "tags": [], "sources": []}
            row |= {f"score_{t}": 0.0 for t in TAGS}
            turns.append(row)
        for check, turn, evidence, source, rule, score in found:
            text = said[turn][1]
            start = text.index(evidence)
            findings.append({"call_id": call_id, "agent_id": agent, "check": check, "turn": turn, "start": start,
                             "end": start + len(evidence), "evidence": evidence, "score": score,
                             "source": source, "rule": rule})
        day = date.fromisoformat(started[:10])
        iso = day.isocalendar()
        n = {c: sum(f[0] == c for f in found) for c in CHECKS}
        complaints = sum(1 for s, _ in said if s == "customer" and ("投诉" in _ or "没到" in _ or "多扣" in _))
        calls.append({
            "call_id": call_id, "agent_id": agent, "started_at": started, "date": day,
            "week": f"{iso.year}-W{iso.week:02d}", "month": f"{day.year}-{day.month:02d}", "queue": queue,
            "turns": len(said), "qa_score": max(0.0, 100.0 - DEDUCTION * len(found)), "findings": len(found),
            **{f"n_{c}": n[c] for c in CHECKS},
            "complaints": complaints, "complaints_apologised": 0,
            "cust_sentiment_start": senti[0], "cust_sentiment_mid": senti[1], "cust_sentiment_end": senti[2],
            "sentiment_shift": round(senti[2] - senti[0], 4),
        })
    calls_df = pl.DataFrame(calls).sort("call_id")
    return {
        "turns": pl.DataFrame(turns, schema=TURNS_SCHEMA),
        "findings": pl.DataFrame(findings, schema=FINDINGS_SCHEMA).sort("call_id", "turn", "check", "start"),
        "calls": calls_df,
        "scorecards": scorecards_of(calls_df),
    }


def scorecards_of(calls: pl.DataFrame) -> pl.DataFrame:
    """Per-agent rows for period "all" and each week, with the scorecards' columns (a plain re-implementation)."""
    rows = []
    for period_type, key in (("all", None), ("week", "week")):
        groups: dict[tuple[str, str], list[dict]] = {}
        for c in calls.to_dicts():
            groups.setdefault(("all" if key is None else c[key], c["agent_id"]), []).append(c)
        block = []
        for (period, agent), cs in groups.items():
            n = len(cs)
            scores = [c["qa_score"] for c in cs]
            mean = sum(scores) / n
            sd = math.sqrt(sum((s - mean) ** 2 for s in scores) / (n - 1)) if n > 1 else 0.0
            half = 1.96 * sd / math.sqrt(n)
            row = {"period_type": period_type, "period": period, "agent_id": agent, "calls": n,
                   "qa_score": round(mean, 2), "qa_score_lo": round(max(0.0, mean - half), 2),
                   "qa_score_hi": round(min(100.0, mean + half), 2)}
            for ch in CHECKS:
                k = sum(1 for c in cs if c[f"n_{ch}"] > 0)
                lo, hi = _wilson(k, n)
                row |= {f"rate_{ch}": round(k / n, 4), f"rate_{ch}_lo": lo, f"rate_{ch}_hi": hi,
                        f"findings_{ch}": sum(c[f"n_{ch}"] for c in cs)}
            asked = sum(c["complaints"] for c in cs)
            done = sum(c["complaints_apologised"] for c in cs)
            lo, hi = _wilson(done, asked)
            row |= {"complaints": asked, "complaints_apologised": done,
                    "apology_compliance": round(done / asked, 4) if asked else None,
                    "apology_compliance_lo": lo, "apology_compliance_hi": hi,
                    "sentiment_shift": round(sum(c["sentiment_shift"] for c in cs) / n, 4),
                    "ranked": n >= MIN_CALLS}
            block.append(row)
        block.sort(key=lambda r: (r["period"], not r["ranked"], -r["qa_score"], r["agent_id"]))
        rank: dict[str, int] = {}
        for r in block:
            if r["ranked"]:
                rank[r["period"]] = rank.get(r["period"], 0) + 1
                r["rank"] = rank[r["period"]]
            else:
                r["rank"] = None
        rows.extend(block)
    return pl.DataFrame(rows, infer_schema_length=None)


def sample_manifest(tables: dict[str, pl.DataFrame]) -> dict:
    return {
        "tool": "qa",
        "status": "ok",
        "started_at": "2026-11-12T18:00:00+00:00",
        "inputs": [{"path": "sample.jsonl"}],
        "versions": {"qa": "0.1.0"},
        "counts": {"calls": tables["calls"].height, "turns": tables["turns"].height, "errors": 0},
        "scorecard": {"min_calls": MIN_CALLS},
    }


def write_sample_out(folder: Path, *, report: bool = True) -> Path:
    """An output folder like ``qa score`` writes, from the sample tables."""
    from qa.report import write_report

    folder.mkdir(parents=True, exist_ok=True)
    t = sample_tables()
    for name in ("turns", "findings", "calls", "scorecards"):
        t[name].write_parquet(folder / f"{name}.parquet")
    manifest = sample_manifest(t)
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    if report:
        write_report(folder, t["turns"], t["findings"], t["calls"], t["scorecards"], manifest, folder / "report.html")
    return folder


# ---------------------------------------------------------------- the browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    """Skip when Debian's chromium or the playwright package is missing; under CI=true, fail instead.

    CI installs both (scripts/ci_browser.sh, the dev extra), so a missing
    browser there is a broken setup, not a reason to skip.
    """
    missing = []
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"{CHROMIUM} not found (install Debian's chromium: bash scripts/ci_browser.sh)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package is not installed (pip install -e '.[dev]')")
    if not missing:
        return
    reason = "browser tests need headless Chromium: " + "; ".join(missing)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + " -- CI=true, so this fails instead of skipping", pytrace=False)
    pytest.skip(reason)


def launch(playwright):
    """Debian's Chromium, headless, with the flags this machine needs (no network chatter, no sandbox as root)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
