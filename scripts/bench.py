"""Throughput benchmark: a generated day of calls through the whole ``qa score``.

    python scripts/bench.py --calls 1000                 # 40 k turns, CPU, rules + shipped model
    python scripts/bench.py --calls 30000 --ray          # a 1.2 M-turn day, local and Ray engines
    python scripts/bench.py --calls 30000 --workers 1    # the same day in one process
    python scripts/bench.py --calls 3000 --unique        # the worst case: no turn repeats
    python scripts/bench.py --calls 250 --no-model       # 10 k turns, rules only
    python scripts/bench.py --calls 5000 --device cuda   # on a GPU runner

1. Generates N calls (seeded; ~40 turns each by default, like a real day's
   calls: greetings, verification, complaints, apologies, remedies, stalling,
   upsell, closings, in clean and ASR-like wording, content turns with varied
   openers, closers and entities, backchannels such as 好的 repeated) as JSONL,
   streaming, and prints the share of distinct turns.
2. Runs ``qa score`` on it in a fresh process (as a scheduler would) and
   prints turns/s end to end, time and turns/s per stage (from the run's
   manifest) and the process's peak RSS; with ``--ray`` also the Ray engine
   on this machine, and the ratio.
3. Runs a sample of the same turns (``--baseline-turns``) through a plain
   per-turn ``transformers.pipeline("text-classification")`` loop with the
   same model folder, the baseline a user would write (and the same loop with
   the model in bf16), the same turns through the model batched, and prints
   the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GREET = ["您好，很高兴为您服务，请问有什么可以帮您？", "喂您好 这里是客服中心 请讲", "您好，我是客服小王，工号{n}，请问您遇到什么问题了？"]
VERIFY_A = ["请您提供一下订单号", "麻烦报一下您的手机号后四位", "请问您的账户是哪个手机号注册的？", "好的，我查一下，请稍等",
            "嗯 您稍等一下 我这边看一下系统", "请问是{name}先生吗？", "您的运单号是{n}对吧"]
VERIFY_C = ["订单号是DD2026{n}", "手机号后四位{n4}", "对的", "嗯 是我", "就是上周三买的那个", "好的你查吧"]
COMPLAINT = ["我买的东西到现在还没到，都一个星期了", "你们这个宽带三天两头断网，我都没法上班", "我的卡被扣了一笔钱，我根本没消费过",
             "那个我点的外卖送了两个小时 全凉了", "维修师傅约好了上午来，结果等了一天都没人", "电费怎么这个月突然翻倍了",
             "机票改签收我那么多手续费，太不合理了", "收到的衣服是破的，质量太差了", "你们每次都说反馈反馈，到现在都没人管",
             "我已经打了三次电话了，问题一直没解决"]
ESCALATE = ["你们再不处理我就去12315投诉", "叫你们主管来跟我说", "我要去消协投诉你们", "不行我就发微博曝光", "那我要退订，不用了"]
APOLOGY = ["非常抱歉，给您添麻烦了", "实在不好意思让您久等了", "真的很抱歉，是我们这边的失误", "对不起 是我们没做好",
           "抱歉给您带来不好的体验"]
EMPATHY = ["我理解您的心情，换作是我也会着急", "我能体会您现在的感受", "确实让您受委屈了"]
SOLUTION = ["我现在给您办理退款，两小时内到账", "我马上给您补发一件新的，明天就能到", "给您补偿一张二十元的优惠券",
            "我这边给您安排师傅明天上午上门维修", "已经帮您把地址改好了", "手续费我这边给您免掉了"]
STALL = ["我帮您反馈一下，二十四小时内会有专人回电", "这个我们会尽快处理，您等通知吧", "我给您登记一下，三到七个工作日会有结果",
         "这个得等上面批，您先等等吧", "我已经帮您上报了，后续有消息会通知您"]
BLAME = ["这是您自己没看清楚", "谁让您不早说呢", "这个不归我们管，您找快递去", "我已经说过很多遍了", "这么简单的操作都不会吗"]
UPSELL = ["您要不要顺便升级一下我们的尊享套餐，每月只多二十块", "现在办理年卡可以打八折，要不要考虑一下", "我们新出了一款延保服务，推荐您了解一下"]
THANKS = ["感谢您的耐心等待", "谢谢您的理解和支持", "感谢您的来电，祝您生活愉快", "谢谢您的反馈"]
NEUTRAL_A = ["好的", "嗯嗯", "明白了", "还有其他问题吗？", "您看这样可以吗？", "稍等一下哈", "我这边看到了"]
NEUTRAL_C = ["好吧", "嗯", "那行吧", "什么时候能到？", "这个怎么用？", "那要多久啊", "好的谢谢", "没有了"]
FILLERS = ["嗯", "啊", "那个", "就是"]
#: Openers and closers around content turns, so that (as in real calls) content turns
#: rarely repeat word for word while backchannels (好的, 嗯嗯) do.
OPENERS = ["好的，", "嗯，", "是这样的，", "{name}先生，", "{name}女士，", "您好，", "那个，", "您放心，", "哎，", "我跟您说，",
           "这边看到了，", "稍等，"]
CLOSERS = ["，您看可以吗？", "，请您放心。", "哈", "，您还有别的问题吗？", "，订单{n}", "，就是{item}那个单子", "，{day}的事",
           "，麻烦您了", "，好吧", "，对吧？", "，金额是{amount}元"]
ITEMS = ["手机", "冰箱", "羽绒服", "宽带", "信用卡", "机票", "外卖", "洗衣机", "快递", "空调", "电费", "会员"]
DAYS = ["昨天", "前天", "上周", "周一", "今天上午", "十号", "月初", "刚才"]


def _vary(t: str, rng: random.Random) -> str:
    if rng.random() < 0.7:
        t = rng.choice(OPENERS) + t
    if rng.random() < 0.6:
        t = t.rstrip("。？！") + rng.choice(CLOSERS)
    return t


def _hesitate(t: str, rng: random.Random) -> str:
    """Now and then a filler or a repeated character mid-sentence, as ASR writes hesitations."""
    if len(t) > 6 and rng.random() < 0.3:
        k = rng.randrange(1, len(t))
        t = t[:k] + rng.choice(["嗯", "啊", "那个", t[k - 1]]) + t[k:]
    return t


def _fill(t: str, rng: random.Random) -> str:
    t = t.format(n=rng.randint(1000, 99999), n4=rng.randint(1000, 9999), name=rng.choice("王李张刘陈杨赵黄周吴"),
                 item=rng.choice(ITEMS), day=rng.choice(DAYS), amount=rng.randint(5, 3000))
    if rng.random() < 0.3:  # ASR-like: no punctuation, fillers
        t = "".join(" " if ch in "，。？！" else ch for ch in t).strip()
        if rng.random() < 0.5:
            t = rng.choice(FILLERS) + " " + t
    return t


def make_call(i: int, turns: int, rng: random.Random) -> dict:
    out = [("agent", rng.choice(GREET))]
    while len(out) < turns - 2:
        r = rng.random()
        if r < 0.25:
            out += [("customer", rng.choice(VERIFY_C)), ("agent", rng.choice(VERIFY_A))]
        elif r < 0.5:
            out.append(("customer", rng.choice(COMPLAINT)))
            reply = rng.choice([APOLOGY, EMPATHY, SOLUTION, STALL, BLAME, NEUTRAL_A, SOLUTION])
            out.append(("agent", rng.choice(reply)))
            if rng.random() < 0.1:
                out.append(("customer", rng.choice(ESCALATE)))
        elif r < 0.6:
            out += [("agent", rng.choice(UPSELL)), ("customer", rng.choice(NEUTRAL_C))]
        else:
            out += [("customer", rng.choice(NEUTRAL_C)), ("agent", rng.choice(NEUTRAL_A + SOLUTION))]
    out += [("agent", rng.choice(THANKS)), ("customer", rng.choice(NEUTRAL_C))]
    return {"call_id": f"B{i:06d}", "agent_id": f"A{i % 500:03d}",
            "started_at": f"2026-11-02T{8 + i % 12:02d}:{i % 60:02d}:00+08:00",
            "turns": [{"speaker": s, "text": _hesitate(_fill(_vary(t, rng) if len(t) > 6 else t, rng), rng)} for s, t in out[:turns]]}


def _run_qa(args: argparse.Namespace, src: Path, out: Path, engine: str) -> dict:
    """One ``qa score`` in a fresh process; its manifest plus wall time and peak RSS."""
    cmd = [sys.executable, "-m", "qa", "score", str(src), "--out", str(out), "--force", "--quiet",
           "--no-report", "--device", args.device, "--engine", engine, "--chunk-records", str(args.chunk_records)]
    if engine == "local":
        cmd += ["--workers", str(args.workers)]
    if args.model:
        cmd += ["--model", str(args.model)]
    if args.no_model:
        cmd += ["--config", str(out.parent / "rules-only.yaml")]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"qa score failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    # ru_maxrss of children is the largest child so far: exact for the first run,
    # a lower bound (no larger than an earlier run) for later ones.
    return {"wall": wall, "rss_mib": max(after, before) / 1024, "rss_exact": after > before, "manifest": manifest}


def _report(label: str, r: dict) -> float:
    m = r["manifest"]
    turns = m["counts"]["turns"]
    tps = turns / r["wall"]
    rss = f"{r['rss_mib']:,.0f} MiB" + ("" if r["rss_exact"] else " (at most)")
    if m.get("workers", 1) > 1:
        rss += f" (the largest of its {m['workers'] + 1} processes)"
    print(f"\n{label}: {turns:,} turns in {r['wall']:.1f} s = {tps:,.0f} turns/s end to end "
          f"(process start and model load included; {m.get('workers', 1)} worker process(es)); peak RSS {rss}")
    print("  per stage (seconds, turns/s):")
    for k, v in m["timings_s"].items():
        if v > 0:
            print(f"    {k:10s} {v:8.2f} s  {turns / v:>12,.0f} turns/s")
    return tps


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=1000, help="calls in the generated day (30000 = a 1.2 M-turn day)")
    ap.add_argument("--turns-per-call", type=int, default=40)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped model)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", default="auto", help="qa score --workers: auto (the default) or a number")
    ap.add_argument("--chunk-records", type=int, default=1000)
    ap.add_argument("--baseline-turns", type=int, default=1000)
    ap.add_argument("--no-model", action="store_true", help="rules and lexicon sentiment only")
    ap.add_argument("--ray", action="store_true", help="also run the Ray engine on this machine and compare")
    ap.add_argument("--unique", action="store_true",
                    help="the worst case: no turn repeats (each turn gets a running number appended)")
    args = ap.parse_args()

    from qa.models.classifier import default_model_path, read_meta

    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("no CUDA device on this machine: the GPU benchmark is skipped")
            return 0
    model = args.model or default_model_path()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "day.jsonl"
        sample: list[tuple[str, str]] = []  # the first turns, for the baseline
        n_turns = 0
        distinct: set[tuple[str, str]] = set()
        with open(src, "w", encoding="utf-8") as fh:
            for i in range(args.calls):
                c = make_call(i, args.turns_per_call, rng)
                if args.unique:
                    for k, t in enumerate(c["turns"]):
                        t["text"] += f"，编号{i * args.turns_per_call + k}"
                n_turns += len(c["turns"])
                if len(distinct) < 2_000_000:
                    distinct.update((t["speaker"], t["text"]) for t in c["turns"])
                if len(sample) < args.baseline_turns:
                    sample += [(t["speaker"], t["text"]) for t in c["turns"]]
                fh.write(json.dumps(c, ensure_ascii=False) + "\n")
        (Path(tmp) / "rules-only.yaml").write_text(
            "recognizers: [" + ", ".join(
                f"lexicon:{t}.v1" for t in ("apology", "blame", "stalling", "thanks", "empathy", "solution",
                                             "upsell", "complaint", "escalation")) + "]\nsentiment: lexicon:sentiment.v1\n",
            encoding="utf-8",
        )
        print(f"generated {args.calls:,} calls, {n_turns:,} turns ({src.stat().st_size / 2**20:,.0f} MiB JSONL); "
              f"{'rules only' if args.no_model else f'rules + model {read_meta(model).source}'}, device {args.device}, "
              f"{args.threads} threads, --workers {args.workers}, chunks of {args.chunk_records} calls")
        if len(distinct) < 2_000_000:
            print(f"distinct turns (speaker, text): {len(distinct):,} = {len(distinct) / n_turns:.0%} of the day")
        local = _report("qa score (local engine)", _run_qa(args, src, Path(tmp) / "out", "local"))
        if args.ray:
            ray_tps = _report("qa score --engine ray (this machine)", _run_qa(args, src, Path(tmp) / "out-ray", "ray"))
            print(f"ray / local: {ray_tps / local:.2f}x")
    if args.no_model:
        return 0

    import torch
    from transformers import pipeline

    from qa.models.classifier import load, model_text, resolve_device
    from qa.models.e5 import load_char_map
    from qa.text.normalize import normalize

    torch.set_num_threads(args.threads)
    meta = read_meta(model)
    table = load_char_map(model)
    sample = sample[: args.baseline_turns]
    inputs = [model_text(normalize(t).text, s, meta, table) for s, t in sample]
    dev = resolve_device(args.device)
    clf = pipeline("text-classification", model=str(model), device=0 if dev == "cuda" else -1, top_k=None)
    clf(inputs[0])
    t0 = time.perf_counter()
    for x in inputs:
        clf(x)
    base = len(inputs) / (time.perf_counter() - t0)
    print(f"\nbaseline: per-turn transformers.pipeline('text-classification') loop, same model, "
          f"{len(inputs)} turns: {base:,.0f} turns/s (model only, no rules, checks or output)")
    clf16 = pipeline("text-classification", model=str(model), device=0 if dev == "cuda" else -1, top_k=None,
                     dtype=torch.bfloat16)
    clf16(inputs[0])
    t0 = time.perf_counter()
    for x in inputs:
        clf16(x)
    base16 = len(inputs) / (time.perf_counter() - t0)
    print(f"the same loop with the model in bf16 (dtype=torch.bfloat16): {base16:,.0f} turns/s")
    lm = load(model, device=args.device, quantize="none")  # as the default config runs it
    norm = [(s, normalize(t).text) for s, t in sample]
    t0 = time.perf_counter()
    lm.predict([t for _, t in norm], [s for s, _ in norm])
    batched = len(norm) / (time.perf_counter() - t0)
    print(f"model alone, batched by token length ({lm.device}, {lm.precision}), {len(norm)} turns: "
          f"{batched:,.0f} turns/s = {batched / base:.1f}x the baseline")
    print(f"ratio qa score end to end / baseline: {local / base:.1f}x (/ the bf16 loop: {local / base16:.1f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
