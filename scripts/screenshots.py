"""Screenshots of the report and the review app for the README.

    python scripts/screenshots.py OUT [--docs docs]      # an output folder of `qa score`
    python scripts/screenshots.py --demo OUT [--docs docs]  # first write a small demo run to OUT

Writes DOCS/report.png (OUT/report.html from file://, filtered to the agent
with the lowest QA score) and DOCS/review.png (the review app on that
agent's worst call, after confirming its first finding in a throw-away
verdict store). Uses Debian's Chromium (/usr/bin/chromium; install it with
scripts/ci_browser.sh) through Playwright; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import polars as pl

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# ---------------------------------------------------------------- demo run

# Dialogues: [(speaker, text)], [(check, turn, evidence, source, rule, score)]
FLAGGED = [
    (
        [("customer", "我上周买的洗衣机到现在还没送到，你们到底怎么回事"),
         ("agent", "这个是您自己填错地址了，不是我们的问题"),
         ("customer", "我地址明明写得清清楚楚"),
         ("agent", "我帮您反馈一下，24小时内会有专人联系您"),
         ("customer", "又是等通知，我要打12315投诉你们")],
        [("missing_apology", 0, "到现在还没送到", "lexicon:complaint.v1", "还没送到", 1.0),
         ("blame_language", 1, "是您自己填错地址了", "lexicon:blame.v1", "是您自己", 1.0),
         ("stalling_script", 3, "帮您反馈一下，24小时内", "pattern:stalling.v1", "反馈+时限", 1.0),
         ("escalation_risk", 4, "打12315投诉", "lexicon:escalation.v1", "12315", 1.0),
         ("negative_ending", 4, "又是等通知，我要打12315投诉你们", "model:sentiment@1", "", 0.86)],
    ),
    (
        [("customer", "话费怎么又多扣了三十块"),
         ("agent", "我已经说过很多遍了，这是套餐外流量"),
         ("customer", "可我根本没用那么多流量"),
         ("agent", "您可以考虑升级我们的无限流量套餐，每月只要多二十元")],
        [("missing_apology", 0, "又多扣了三十块", "model:tags@1", "", 0.81),
         ("blame_language", 1, "我已经说过很多遍了", "lexicon:blame.v1", "说过很多遍", 1.0),
         ("upsell_during_complaint", 3, "考虑升级我们的无限流量套餐", "model:tags@1", "", 0.77)],
    ),
    (
        [("customer", "维修师傅约好今天上午来，到现在人都没来"),
         ("agent", "非常抱歉让您久等了"),
         ("agent", "这个我们尽快给您安排，请您耐心等通知"),
         ("customer", "那到底什么时候来")],
        [("stalling_script", 2, "尽快给您安排，请您耐心等通知", "pattern:stalling.v1", "尽快+等通知", 1.0),
         ("missing_solution", 0, "到现在人都没来", "lexicon:complaint.v1", "都没来", 1.0)],
    ),
    (
        [("customer", "退款申请提交十天了还没到账"),
         ("agent", "不好意思，请问您的订单号是多少"),
         ("customer", "订单号是 1234，你们再拖我就找你们领导"),
         ("agent", "这个不归我们管，您得去找银行")],
        [("missing_apology", 0, "十天了还没到账", "lexicon:complaint.v1", "还没到账", 1.0),
         ("escalation_risk", 2, "找你们领导", "lexicon:escalation.v1", "找领导", 1.0),
         ("blame_language", 3, "这个不归我们管，您得去找银行", "model:tags@1", "", 0.72)],
    ),
    (
        [("customer", "快递把箱子压坏了"),
         ("agent", "真的很抱歉，我马上为您补发一件新的"),
         ("customer", "好吧，谢谢"),
         ("agent", "我们会在3到7个工作日内给您回复补偿方案")],
        [("stalling_script", 3, "3到7个工作日内给您回复", "pattern:stalling.v1", "工作日窗口", 1.0)],
    ),
]
CLEAN = [
    [("customer", "我想问一下退货流程"), ("agent", "好的，我来为您说明：在订单页点申请退货，我现在也可以帮您直接办理"),
     ("customer", "那麻烦你帮我办一下"), ("agent", "已经为您提交了，快递员明天上午上门取件，感谢您的耐心")],
    [("customer", "帮我查一下这个月的话费"), ("agent", "已经帮您查好了，本月话费五十八元"),
     ("customer", "好的谢谢"), ("agent", "不客气，感谢您的来电，祝您生活愉快")],
    [("customer", "网络从早上开始就断了"), ("agent", "非常抱歉给您添麻烦了，我理解您的心情"),
     ("agent", "我现在帮您重置线路，您重启一下路由器试试"), ("customer", "好了，能上网了，谢谢你")],
]
AGENTS = {"A07": (14, 0.7), "A12": (12, 0.45), "A03": (12, 0.3), "A21": (11, 0.2), "A15": (12, 0.1), "A09": (3, 0.5)}
SENTIMENT = {True: ((-0.6, -0.8, -0.7), (-0.5, -0.5, -0.1)), False: ((0.0, 0.1, 0.5), (-0.3, 0.0, 0.6))}


def write_demo(out: Path, seed: int = 7) -> None:
    """A small, realistic-looking run (six agents, three weeks) written like `qa score` writes one."""
    from qa.config import load_config
    from qa.report import write_report
    from qa.scorecard import CALLS_SCHEMA, scorecards
    from qa.tables import FINDINGS_SCHEMA, TURNS_SCHEMA
    from qa.types import CHECKS, TAGS

    rng = random.Random(seed)
    cfg = load_config()
    turns, findings, calls = [], [], []
    day0 = date(2026, 11, 2)
    for agent, (n_calls, bad) in AGENTS.items():
        for k in range(n_calls):
            call_id = f"{agent}-{k + 1:03d}"
            flagged = rng.random() < bad
            said, found = rng.choice(FLAGGED) if flagged else (rng.choice(CLEAN), [])
            if flagged and rng.random() < 0.5:
                found = found[: max(1, len(found) - 2)]
            day = day0 + timedelta(days=rng.randrange(19))
            for i, (speaker, text) in enumerate(said):
                row = {"call_id": call_id, "turn": i, "agent_id": agent, "speaker": speaker, "text": text,
                       "start_ms": i * 4000, "end_ms": i * 4000 + 3500, "sentiment": "neutral",
                       "sentiment_score": 0.0, "tags": [], "sources": []}
                turns.append(row | {f"score_{t}": 0.0 for t in TAGS})
            for check, turn, evidence, source, rule, score in found:
                start = said[turn][1].index(evidence)
                findings.append({"call_id": call_id, "agent_id": agent, "check": check, "turn": turn, "start": start,
                                 "end": start + len(evidence), "evidence": evidence, "score": score,
                                 "source": source, "rule": rule})
            s = rng.choice(SENTIMENT[flagged])
            iso = day.isocalendar()
            complaints = sum(1 for f in found if f[0] == "missing_apology") + (1 if flagged else 0)
            calls.append({
                "call_id": call_id, "agent_id": agent, "started_at": f"{day.isoformat()}T{9 + k % 8:02d}:15:00+08:00",
                "date": day, "week": f"{iso.year}-W{iso.week:02d}", "month": f"{day.year}-{day.month:02d}",
                "queue": rng.choice(["returns", "billing", "repair"]), "turns": len(said),
                "qa_score": max(0.0, 100.0 - sum(cfg.scorecard.deductions[f[0]] for f in found)),
                "findings": len(found), **{f"n_{c}": sum(f[0] == c for f in found) for c in CHECKS},
                "complaints": complaints,
                "complaints_apologised": complaints - sum(1 for f in found if f[0] == "missing_apology"),
                "cust_sentiment_start": s[0], "cust_sentiment_mid": s[1], "cust_sentiment_end": s[2],
                "sentiment_shift": round(s[2] - s[0], 4),
            })
    t = pl.DataFrame(turns, schema=TURNS_SCHEMA)
    f = pl.DataFrame(findings, schema=FINDINGS_SCHEMA).sort("call_id", "turn", "check", "start")
    c = pl.DataFrame(calls, schema=CALLS_SCHEMA).sort("call_id")
    cards = scorecards(c, cfg.scorecard, by=("all", "week"))
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("turns", t), ("findings", f), ("calls", c), ("scorecards", cards)):
        frame.write_parquet(out / f"{name}.parquet")
    manifest = {"tool": "qa", "status": "ok", "started_at": "2026-11-20T18:00:00+00:00",
                "inputs": [{"path": "demo.jsonl"}], "versions": {"qa": "0.1.0"},
                "counts": {"calls": c.height, "turns": t.height, "errors": 0},
                "scorecard": {"min_calls": cfg.scorecard.min_calls}}
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    write_report(out, t, f, c, cards, manifest, out / "report.html")


# ---------------------------------------------------------------- screenshots


def worst_agent_and_call(out: Path) -> tuple[str, str]:
    from qa.review.data import ReviewData

    data = ReviewData(out)
    agents = data.agents()
    if not agents:
        raise SystemExit(f"{out}: no findings, nothing to show")
    agent = agents[0]["agent_id"]
    return agent, data.agent_calls(agent)[0]["call_id"]


def shoot(out: Path, docs: Path, max_height: int = 2600) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from qa.review.app import create_app, make_server

    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} not found: run scripts/ci_browser.sh first")
    report = out / "report.html"
    if not report.is_file():
        raise SystemExit(f"{report} not found")
    docs.mkdir(parents=True, exist_ok=True)
    agent, call = worst_agent_and_call(out)
    written = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
        page.goto(report.resolve().as_uri() + "#f?agent=" + quote(agent, safe=""))
        page.wait_for_selector("html[data-ready='1']")
        height = min(max_height, page.evaluate("document.documentElement.scrollHeight"))
        page.set_viewport_size({"width": 1280, "height": height})
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(docs / "report.png"))
        written.append(docs / "report.png")

        server = make_server(create_app(out, Path(tmp) / "reviews.db", reviewer="coach"), "127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
            page.goto(f"http://127.0.0.1:{server.server_port}/call?id={quote(call, safe='')}")
            first = page.locator("li.finding").first
            first.locator("textarea").fill("确实在推卸责任，和客户沟通时要先致歉")
            first.locator("button.confirm").click()
            page.wait_for_selector("#saved")
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(docs / "review.png"), full_page=True)
            written.append(docs / "review.png")
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)
            browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="output folder of `qa score` (with report.html)")
    ap.add_argument("--docs", type=Path, default=Path("docs"), help="where to write report.png and review.png")
    ap.add_argument("--demo", action="store_true", help="first write a small demo run into OUT (must not exist)")
    args = ap.parse_args(argv)
    if args.demo:
        if args.out.exists():
            print(f"{args.out} exists; --demo writes a new folder", file=sys.stderr)
            return 1
        write_demo(args.out)
    for path in shoot(args.out, args.docs):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
