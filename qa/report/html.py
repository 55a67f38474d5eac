"""``report.html``: one self-contained page for coaches and QA leads.

The page opens from a file share or an e-mail attachment with no server and
no network: CSS, JavaScript and SVG charts are inline, and a
Content-Security-Policy in the page forbids every fetch and every script but
its own (by hash), so even a transcript that slipped past escaping could not
run code. It holds:

- a team overview: agents ranked by qa_score with its 95% interval, each
  check's rate, apology compliance and customer sentiment shift; agents
  under the minimum call count (``ranked`` false) in a table apart;
- charts: check rates per agent (a heat map), weekly qa_score per agent
  and customer sentiment at the start, middle and end of calls;
- one section per agent, worst qa_score first, with that agent's worst
  flagged calls as transcripts: every finding's evidence span is a
  ``<mark>`` cut from the turn's original text by ``[start, end)``, and the
  check, source, rule and score of each finding stand beside it;
- filters by agent, check and date range, in plain JavaScript.

Only flagged calls are embedded, at most ``max_calls_per_agent`` per agent
(worst qa_score first); the page says how many were left out and that
``qa review`` shows them all. Untrusted text (transcripts, ids, rule names)
reaches the page only through jinja2 autoescaping; the data block
(``<script type="application/json" id="qa-data">``) is JSON with ``<``, ``>``
and ``&`` written as ``\\u003c``, ``\\u003e``, ``\\u0026``, so ``</script>`` in
a transcript cannot close it. The page's script reads that block and
only toggles classes; it never writes text into the page but numbers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
from datetime import date, datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import polars as pl
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from qa.report.spans import CHECK_TITLES, SPEAKER_TITLES, TranscriptView, build_transcript, check_class
from qa.types import CHECKS

#: Default cap on the flagged calls embedded per agent (worst qa_score first).
DEFAULT_MAX_CALLS_PER_AGENT = 10

#: Default turns shown on each side of a flagged turn (None: whole transcripts).
#: With both defaults a 500-agent day (60 calls of 40 turns per agent) makes
#: a page of about 10 MB; whole transcripts of the 10 worst calls triple that.
DEFAULT_CONTEXT_TURNS: int | None = 3

#: Bumped when the shape of the embedded JSON data block changes.
DATA_SCHEMA = 1


# ---------------------------------------------------------------- templates


def environment() -> Environment:
    """The jinja2 environment of the report templates (autoescape on for every template)."""
    env = Environment(
        loader=PackageLoader("qa.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(pct=fmt_pct, num=fmt_num, signed=fmt_signed)
    env.globals.update(
        CHECK_TITLES=CHECK_TITLES,
        SPEAKER_TITLES=SPEAKER_TITLES,
        check_class=check_class,
    )
    return env


def static_text(name: str) -> str:
    """A file of ``qa/report/templates`` (the page's CSS or JS), as text."""
    return resources.files("qa.report").joinpath("templates", name).read_text(encoding="utf-8")


def json_for_script(data: Any) -> Markup:
    """JSON that is safe inside ``<script type="application/json">``.

    ``<``, ``>`` and ``&`` only occur inside JSON strings, where the
    ``\\uXXXX`` escapes mean the same characters to ``JSON.parse``; without
    them a ``</script>`` or ``<!--`` in the data would end or corrupt the block.
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_json_default)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)


def _json_default(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def script_hash(script: str) -> str:
    """The CSP source expression that allows exactly this inline script."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


# ---------------------------------------------------------------- formatting


def _finite(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def fmt_pct(v: Any, digits: int = 0) -> str:
    f = _finite(v)
    return "–" if f is None else f"{f * 100:.{digits}f}%"


def fmt_num(v: Any, digits: int = 1) -> str:
    f = _finite(v)
    return "–" if f is None else f"{f:.{digits}f}"


def fmt_signed(v: Any, digits: int = 2) -> str:
    f = _finite(v)
    return "–" if f is None else f"{f:+.{digits}f}"


# ---------------------------------------------------------------- data


def _col(df: pl.DataFrame, name: str) -> bool:
    return name in df.columns


def _all_checks(findings: pl.DataFrame) -> list[str]:
    """CHECKS, then any other check name the findings carry (sorted)."""
    seen = set(findings["check"].unique().to_list()) if findings.height else set()
    return list(CHECKS) + sorted(c for c in seen - set(CHECKS) if c is not None)


def _agent_rows(scorecards: pl.DataFrame, calls: pl.DataFrame, findings: pl.DataFrame) -> list[dict]:
    """One dict per agent: the ``all`` scorecard row, or what calls/findings say when it is missing.

    Ranked agents first by rank, then the rest by qa_score (best first), agent_id.
    """
    rows: dict[str, dict] = {}
    if scorecards.height and _col(scorecards, "period_type"):
        for r in scorecards.filter(pl.col("period_type") == "all").to_dicts():
            rows[str(r["agent_id"])] = r
    extra_agents: set[str] = set()
    for df in (calls, findings):
        if df.height and _col(df, "agent_id"):
            extra_agents |= {str(a) for a in df["agent_id"].unique().to_list() if a is not None}
    for a in sorted(extra_agents - set(rows)):
        n = calls.filter(pl.col("agent_id") == a) if calls.height and _col(calls, "agent_id") else calls.clear()
        rows[a] = {
            "agent_id": a,
            "calls": n.height,
            "qa_score": _finite(n["qa_score"].mean()) if n.height and _col(n, "qa_score") else None,
            "ranked": False,
            "rank": None,
        }
    out = list(rows.values())
    out.sort(
        key=lambda r: (
            not r.get("ranked"),
            r.get("rank") if r.get("rank") is not None else 0,
            -(_finite(r.get("qa_score")) if _finite(r.get("qa_score")) is not None else -1.0),
            str(r["agent_id"]),
        )
    )
    return out


def _overview_row(r: dict, checks: list[str], flagged: dict[str, tuple[int, int]]) -> dict:
    rates = []
    for c in checks:
        rates.append(
            {
                "check": c,
                "rate": _finite(r.get(f"rate_{c}")),
                "lo": _finite(r.get(f"rate_{c}_lo")),
                "hi": _finite(r.get(f"rate_{c}_hi")),
                "n": r.get(f"findings_{c}"),
            }
        )
    total, shown = flagged.get(str(r["agent_id"]), (0, 0))
    return {
        "agent_id": str(r["agent_id"]),
        "rank": r.get("rank"),
        "ranked": bool(r.get("ranked")),
        "calls": r.get("calls"),
        "qa_score": _finite(r.get("qa_score")),
        "qa_score_lo": _finite(r.get("qa_score_lo")),
        "qa_score_hi": _finite(r.get("qa_score_hi")),
        "rates": rates,
        "complaints": r.get("complaints"),
        "complaints_apologised": r.get("complaints_apologised"),
        "apology_compliance": _finite(r.get("apology_compliance")),
        "apology_compliance_lo": _finite(r.get("apology_compliance_lo")),
        "apology_compliance_hi": _finite(r.get("apology_compliance_hi")),
        "sentiment_shift": _finite(r.get("sentiment_shift")),
        "flagged_calls": total,
        "shown_calls": shown,
    }


def _flagged_calls(findings: pl.DataFrame, calls: pl.DataFrame, cap: int | None) -> pl.DataFrame:
    """One row per call with findings: agent_id, n, qa_score, started_at, date, queue, pos.

    Per agent worst first: qa_score ascending (nulls last), more findings
    first, call_id; ``pos`` is the 0-based position in that order and
    ``shown`` says whether it is within ``cap``.
    """
    if not findings.height:
        return pl.DataFrame(
            schema={"call_id": pl.String, "agent_id": pl.String, "n": pl.UInt32, "qa_score": pl.Float64,
                    "started_at": pl.String, "date": pl.String, "queue": pl.String, "pos": pl.Int64,
                    "shown": pl.Boolean}
        )
    fc = findings.group_by("call_id").agg(agent_id=pl.col("agent_id").first(), n=pl.len())
    meta_cols = [c for c in ("qa_score", "started_at", "date", "queue") if _col(calls, c)]
    if calls.height and _col(calls, "call_id") and meta_cols:
        meta = calls.select("call_id", *meta_cols).unique("call_id", keep="first")
        fc = fc.join(meta, on="call_id", how="left")
    for c, dtype in (("qa_score", pl.Float64), ("started_at", pl.String), ("date", pl.String), ("queue", pl.String)):
        if c not in fc.columns:
            fc = fc.with_columns(pl.lit(None, dtype).alias(c))
    fc = fc.with_columns(pl.col("date").cast(pl.String), pl.col("qa_score").cast(pl.Float64))
    fc = fc.sort(["agent_id", "qa_score", "n", "call_id"], descending=[False, False, True, False], nulls_last=True)
    fc = fc.with_columns(pos=pl.int_range(pl.len()).over("agent_id"))
    return fc.with_columns(shown=pl.lit(True) if cap is None else pl.col("pos") < cap)


# ---------------------------------------------------------------- charts (geometry for the SVG templates)


def _lerp_color(t: float) -> str:
    """White (t=0) to deep red (t=1)."""
    t = max(0.0, min(1.0, t))
    lo, hi = (255, 255, 255), (192, 57, 43)
    r, g, b = (round(a + (b - a) * t) for a, b in zip(lo, hi, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap_chart(agents: list[dict], checks: list[str]) -> dict | None:
    """Check rates per agent: one row per agent, one column per check."""
    if not agents:
        return None
    left, top, cw, ch = 150, 56, 80, 20
    rates = [r["rate"] for a in agents for r in a["rates"] if r["rate"] is not None]
    top_rate = max(rates, default=0.0) or 1.0
    columns = [
        {"x": left + k * cw + cw / 2, "check": c, "ci": k, "label": CHECK_TITLES.get(c, (c, ""))[0],
         "gloss": CHECK_TITLES.get(c, ("", ""))[1]}
        for k, c in enumerate(checks)
    ]
    rows = []
    for i, a in enumerate(agents):
        y = top + i * ch
        cells = []
        for k, r in enumerate(a["rates"]):
            t = (r["rate"] or 0.0) / top_rate
            interval = "" if r["lo"] is None else f" (95% interval {fmt_pct(r['lo'])}–{fmt_pct(r['hi'])})"
            cells.append(
                {
                    "x": left + k * cw,
                    "ci": k,
                    "fill": "#f4f4f4" if r["rate"] is None else _lerp_color(t),
                    "fg": "#fff" if t > 0.6 else "#222",
                    "text": fmt_pct(r["rate"]),
                    "title": f"{a['agent_id']} · {r['check']}: {fmt_pct(r['rate'], 1)} of {a['calls']} calls{interval}",
                }
            )
        rows.append({"y": y, "agent": a, "cells": cells})
    return {
        "width": left + cw * len(checks) + 8,
        "height": top + ch * len(agents) + 8,
        "left": left,
        "cw": cw,
        "ch": ch,
        "columns": columns,
        "rows": rows,
        "top_rate": top_rate,
    }


def _nice_floor(v: float, step: float) -> float:
    return math.floor(v / step) * step


def trend_chart(scorecards: pl.DataFrame, calls: pl.DataFrame, agent_index: dict[str, int]) -> dict | None:
    """Weekly qa_score per agent (one line each) and the team's weekly mean."""
    if not (scorecards.height and _col(scorecards, "period_type")):
        return None
    weekly = scorecards.filter(pl.col("period_type") == "week").filter(pl.col("qa_score").is_not_null())
    if not weekly.height:
        return None
    weeks = sorted(weekly["period"].unique().to_list())
    team: dict[str, float] = {}
    if calls.height and _col(calls, "week"):
        for r in calls.filter(pl.col("week").is_not_null()).group_by("week").agg(s=pl.col("qa_score").mean()).to_dicts():
            if _finite(r["s"]) is not None:
                team[r["week"]] = float(r["s"])
    values = weekly["qa_score"].to_list() + list(team.values())
    y_lo = max(0.0, min(90.0, _nice_floor(min(values), 10.0)))
    width, height, left, right, top, bottom = 680, 260, 44, 16, 14, 40
    pad = 36  # room for the first and last week labels
    pw, ph = width - left - right, height - top - bottom
    col = {w: k for k, w in enumerate(weeks)}

    def x(w: str) -> float:
        k = col[w]
        return left + (pw / 2 if len(weeks) == 1 else pad + (pw - 2 * pad) * k / (len(weeks) - 1))

    def y(v: float) -> float:
        return top + ph * (1 - (v - y_lo) / (100.0 - y_lo))

    series = []
    for agent, part in weekly.sort("period").group_by("agent_id", maintain_order=True):
        agent_id = str(agent[0])
        pts = [(x(r["period"]), y(float(r["qa_score"])), r["period"], float(r["qa_score"]), r.get("calls"))
               for r in part.sort("period").to_dicts()]
        series.append(
            {
                "agent_id": agent_id,
                "ai": agent_index.get(agent_id, -1),
                "points": " ".join(f"{px:.1f},{py:.1f}" for px, py, *_ in pts),
                "dots": [{"x": px, "y": py, "title": f"{agent_id} {w}: {v:.1f} ({n} calls)"} for px, py, w, v, n in pts],
            }
        )
    team_pts = [(x(w), y(team[w]), w, team[w]) for w in weeks if w in team]
    step = max(1, math.ceil(len(weeks) / 10))
    ticks = [{"x": x(w), "label": w} for k, w in enumerate(weeks) if k % step == 0]
    yticks = [{"y": y(v), "label": f"{v:.0f}"} for v in range(int(y_lo), 101, 10 if 100 - y_lo <= 50 else 20)]
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "top": top,
        "bottom": height - bottom,
        "series": series,
        "team": {
            "points": " ".join(f"{px:.1f},{py:.1f}" for px, py, *_ in team_pts),
            "dots": [{"x": px, "y": py, "title": f"team {w}: {v:.1f}"} for px, py, w, v in team_pts],
        },
        "xticks": ticks,
        "yticks": yticks,
        "weeks": weeks,
    }


SENTIMENT_STAGES = (("cust_sentiment_start", "start"), ("cust_sentiment_mid", "middle"), ("cust_sentiment_end", "end"))


def sentiment_chart(calls: pl.DataFrame, agent_index: dict[str, int]) -> dict | None:
    """Mean customer sentiment at the start, middle and end of calls: per agent and team."""
    cols = [c for c, _ in SENTIMENT_STAGES]
    if not calls.height or not all(_col(calls, c) for c in cols):
        return None
    per_agent = calls.group_by("agent_id").agg(*(pl.col(c).mean() for c in cols), n=pl.col(cols[0]).count())
    per_agent = per_agent.filter(pl.col("n") > 0).sort("agent_id")
    if not per_agent.height:
        return None
    team = calls.select(*(pl.col(c).mean() for c in cols)).row(0)
    width, height, left, right, top, bottom = 420, 260, 44, 60, 14, 40
    pad = 24
    pw, ph = width - left - right, height - top - bottom
    xs = [left + pad + (pw - 2 * pad) * k / 2 for k in range(3)]

    def y(v: float) -> float:
        return top + ph * (1 - (v + 1) / 2)

    def line(vals: Iterable[Any]) -> tuple[str, list[tuple[float, float, float]]]:
        pts = [(xs[k], y(float(v)), float(v)) for k, v in enumerate(vals) if _finite(v) is not None]
        return " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in pts), pts

    series = []
    for r in per_agent.to_dicts():
        agent_id = str(r["agent_id"])
        points, pts = line(r[c] for c in cols)
        series.append(
            {
                "agent_id": agent_id,
                "ai": agent_index.get(agent_id, -1),
                "points": points,
                "dots": [{"x": px, "y": py, "title": f"{agent_id} {SENTIMENT_STAGES[xs.index(px)][1]}: {v:+.2f} ({r['n']} calls)"}
                         for px, py, v in pts],
            }
        )
    team_points, team_pts = line(team)
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "top": top,
        "bottom": height - bottom,
        "zero": y(0.0),
        "series": series,
        "team": {
            "points": team_points,
            "dots": [{"x": px, "y": py, "title": f"team {SENTIMENT_STAGES[xs.index(px)][1]}: {v:+.2f}"} for px, py, v in team_pts],
        },
        "xticks": [{"x": xs[k], "label": label} for k, (_, label) in enumerate(SENTIMENT_STAGES)],
        "yticks": [{"y": y(v), "label": f"{v:+.1f}" if v else "0"} for v in (-1.0, -0.5, 0.0, 0.5, 1.0)],
    }


# ---------------------------------------------------------------- the page


def build_context(
    turns: pl.DataFrame,
    findings: pl.DataFrame,
    calls: pl.DataFrame,
    scorecards: pl.DataFrame,
    manifest: dict,
    *,
    out_dir: Path | None = None,
    max_calls_per_agent: int | None = DEFAULT_MAX_CALLS_PER_AGENT,
    context_turns: int | None = DEFAULT_CONTEXT_TURNS,
    min_calls: int | None = None,
) -> dict:
    """Everything the template needs, computed from the run's tables."""
    if max_calls_per_agent is not None and max_calls_per_agent < 0:
        raise ValueError(f"max_calls_per_agent must be >= 0 or None, got {max_calls_per_agent}")
    if context_turns is not None and context_turns < 0:
        raise ValueError(f"context_turns must be >= 0 or None, got {context_turns}")
    checks = _all_checks(findings)
    fc = _flagged_calls(findings, calls, max_calls_per_agent)
    flagged: dict[str, tuple[int, int]] = {}
    for r in fc.group_by("agent_id").agg(total=pl.len(), shown=pl.col("shown").sum()).to_dicts():
        flagged[str(r["agent_id"])] = (int(r["total"]), int(r["shown"]))

    agents = [_overview_row(r, checks, flagged) for r in _agent_rows(scorecards, calls, findings)]
    agent_index = {a["agent_id"]: k for k, a in enumerate(agents)}
    for k, a in enumerate(agents):
        a["ai"] = k

    # The embedded calls, their turns and findings.
    shown = fc.filter(pl.col("shown"))
    ids = shown.select("call_id")
    sel_turns = (
        turns.join(ids, on="call_id", how="semi").select("call_id", "turn", "speaker", "text").sort("call_id", "turn")
        if turns.height
        else turns
    )
    sel_findings = findings.join(ids, on="call_id", how="semi") if findings.height else findings
    turns_of: dict[str, list[dict]] = {}
    for t in sel_turns.iter_rows(named=True) if sel_turns.height else ():
        turns_of.setdefault(t["call_id"], []).append(t)
    findings_of: dict[str, list[dict]] = {}
    for f in sel_findings.iter_rows(named=True) if sel_findings.height else ():
        findings_of.setdefault(f["call_id"], []).append(f)

    call_views: dict[str, list[dict]] = {}
    data_calls: list[dict] = []
    for r in shown.sort("agent_id", "pos").iter_rows(named=True):
        view: TranscriptView = build_transcript(
            r["call_id"], turns_of.get(r["call_id"], []), findings_of.get(r["call_id"], []), context_turns=context_turns
        )
        idx = len(data_calls)
        data_calls.append(
            {
                "call_id": r["call_id"],
                "agent_id": r["agent_id"],
                "ai": agent_index.get(str(r["agent_id"]), -1),
                "date": r["date"],
                "qa_score": _finite(r["qa_score"]),
                "checks": view.checks,
                "findings": len(view.findings),
            }
        )
        call_views.setdefault(str(r["agent_id"]), []).append(
            {
                "idx": idx,
                "call_id": r["call_id"],
                "date": r["date"],
                "started_at": r["started_at"],
                "queue": r["queue"],
                "qa_score": _finite(r["qa_score"]),
                "view": view,
            }
        )

    # Agent sections: worst qa_score first; agents without flagged calls say so.
    sections = sorted(
        agents,
        key=lambda a: (a["qa_score"] is None, a["qa_score"] if a["qa_score"] is not None else 0.0, a["agent_id"]),
    )
    sections = [{"agent": a, "calls": call_views.get(a["agent_id"], [])} for a in sections]

    dates = [d for d in (calls["date"].cast(pl.String).to_list() if calls.height and _col(calls, "date") else []) if d]
    counts = manifest.get("counts") or {}
    total_flagged = fc.height
    total_shown = shown.height
    data = {
        "schema": DATA_SCHEMA,
        "checks": checks,
        "agents": [
            {k: a[k] for k in ("agent_id", "rank", "ranked", "calls", "qa_score", "qa_score_lo", "qa_score_hi",
                               "apology_compliance", "sentiment_shift", "flagged_calls", "shown_calls")}
            | {"rates": {r["check"]: r["rate"] for r in a["rates"]}}
            for a in agents
        ],
        "calls": data_calls,
        "cap": {
            "max_calls_per_agent": max_calls_per_agent,
            "context_turns": context_turns,
            "flagged_calls": total_flagged,
            "shown_calls": total_shown,
        },
    }
    return {
        "title": str(out_dir.name) if out_dir is not None else "qa run",
        "out_dir": str(out_dir) if out_dir is not None else None,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "manifest": {
            "started_at": manifest.get("started_at"),
            "status": manifest.get("status"),
            "inputs": [str(i.get("path", "")) if isinstance(i, dict) else str(i) for i in manifest.get("inputs") or []],
            "calls": counts.get("calls", calls.height),
            "turns": counts.get("turns", turns.height),
            "errors": counts.get("errors"),
            "version": (manifest.get("versions") or {}).get("qa"),
            "min_calls": min_calls if min_calls is not None else (manifest.get("scorecard") or {}).get("min_calls"),
        },
        "checks": checks,
        "ranked": [a for a in agents if a["ranked"]],
        "unranked": [a for a in agents if not a["ranked"]],
        "agents": agents,
        "sections": sections,
        "heatmap": heatmap_chart(agents, checks),
        "trend": trend_chart(scorecards, calls, agent_index),
        "sentiment": sentiment_chart(calls, agent_index),
        "date_min": min(dates) if dates else "",
        "date_max": max(dates) if dates else "",
        "cap": data["cap"],
        "data": data,
    }


def render_report(
    turns: pl.DataFrame,
    findings: pl.DataFrame,
    calls: pl.DataFrame,
    scorecards: pl.DataFrame,
    manifest: dict,
    *,
    out_dir: Path | None = None,
    max_calls_per_agent: int | None = DEFAULT_MAX_CALLS_PER_AGENT,
    context_turns: int | None = DEFAULT_CONTEXT_TURNS,
    min_calls: int | None = None,
) -> str:
    """The report page as a string (see the module docstring).

    ``max_calls_per_agent``: flagged calls embedded per agent, worst first
    (None: all). ``context_turns``: show only the turns within that many
    turns of a flagged turn (None: whole transcripts). ``min_calls``: the
    scorecards' minimum call count for ranking, named on the page (default:
    ``manifest["scorecard"]["min_calls"]`` when present).
    """
    ctx = build_context(
        turns,
        findings,
        calls,
        scorecards,
        manifest,
        out_dir=out_dir,
        max_calls_per_agent=max_calls_per_agent,
        context_turns=context_turns,
        min_calls=min_calls,
    )
    script = static_text("report.js")
    env = environment()
    return env.get_template("report.html").render(
        **ctx,
        css=Markup(static_text("report.css")),
        script=Markup(script),
        script_hash=script_hash(script),
        data_json=json_for_script(ctx["data"]),
    )


def write_report(
    out_dir: Path,
    turns: pl.DataFrame,
    findings: pl.DataFrame,
    calls: pl.DataFrame,
    scorecards: pl.DataFrame,
    manifest: dict,
    path: Path,
    *,
    max_calls_per_agent: int | None = DEFAULT_MAX_CALLS_PER_AGENT,
    context_turns: int | None = DEFAULT_CONTEXT_TURNS,
    min_calls: int | None = None,
) -> None:
    """Write ``report.html`` to ``path`` (utf-8, replaced atomically).

    ``out_dir`` is the output folder the report describes (its name titles
    the page; it may still be a staging folder's final name); ``path`` is
    where to write, e.g. ``staging / "report.html"``. Options as for
    :func:`render_report`.
    """
    html = render_report(
        turns,
        findings,
        calls,
        scorecards,
        manifest,
        out_dir=Path(out_dir),
        max_calls_per_agent=max_calls_per_agent,
        context_turns=context_turns,
        min_calls=min_calls,
    )
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)
