"""Evaluation against labelled gold, for rules alone, the model alone and both.

Two kinds of gold file, told apart by their records:

- **turn-level**: one turn per line, ``{"speaker", "text", "tags", "sentiment"}``
  (``corpora/turns/*.jsonl``; a folder of such files works too, and
  ``split="test"`` keeps only that split's groups);
- **call-level**: one call per line in the input shape of DESIGN.md, each turn
  with ``tags`` and ``sentiment`` and the call with ``findings``
  (``[{"check": ..., "turn": ...}]``), as in ``corpora/gold/sample.jsonl``.

For each *source* (``rules``: the configured lexicon recognizers and lexicon
sentiment; ``model``: the classifier folder; ``fusion``: rules and model
together, model sentiment) it reports per-tag precision / recall / F1 (a tag
is scored on its own speaker's turns only) with the tag confusions,
sentiment per class and macro-F1 (customer turns and all turns), and, for
call-level gold, per-check precision / recall / F1 over (call, check, turn)
findings. Turns run through the same prepare -> recognize -> threshold ->
checks path as ``qa score``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from qa.types import (
    CHECKS,
    SENTIMENTS,
    TAG_SPEAKER,
    TAGS,
    Call,
    CallAnalysis,
    Speaker,
    Turn,
)

SOURCES = ("rules", "model", "fusion")


def prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "tp": tp, "fp": fp, "fn": fn,
            "support": tp + fn}


def sentiment_report(gold: Sequence[str], pred: Sequence[str]) -> dict:
    """Per-class P/R/F1, macro-F1 (over classes present in gold), accuracy, confusions (gold->pred)."""
    per = {}
    for c in SENTIMENTS:
        tp = sum(1 for g, p in zip(gold, pred) if g == c and p == c)
        fp = sum(1 for g, p in zip(gold, pred) if g != c and p == c)
        fn = sum(1 for g, p in zip(gold, pred) if g == c and p != c)
        per[c] = prf(tp, fp, fn)
    present = [c for c in SENTIMENTS if per[c]["support"] > 0]
    macro = sum(per[c]["f1"] for c in present) / len(present) if present else 0.0
    acc = sum(1 for g, p in zip(gold, pred) if g == p) / len(gold) if gold else 0.0
    conf = Counter(f"{g}->{p}" for g, p in zip(gold, pred) if g != p)
    return {"per_class": per, "macro_f1": round(macro, 4), "accuracy": round(acc, 4), "n": len(gold),
            "confusions": dict(conf.most_common())}


# --------------------------------------------------------------------------- gold


def read_gold(path: str | Path, split: str | None = None) -> tuple[str, list[dict]]:
    """``("turns", rows)`` or ``("calls", calls)`` from a gold file or a folder of turn files."""
    from qa.models.split import read_turns, split_of

    p = Path(path)
    if p.is_dir():
        rows = read_turns(p)
    else:
        with open(p, encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
    if not rows:
        raise ValueError(f"{path}: no records")
    kind = "calls" if "turns" in rows[0] else "turns"
    if kind == "turns" and split is not None:
        rows = [r for r in rows if split_of(r["group"]) == split]
    for i, r in enumerate(rows, 1):
        need = ("turns", "findings") if kind == "calls" else ("speaker", "text", "tags", "sentiment")
        missing = [k for k in need if k not in r]
        if missing:
            raise ValueError(f"{path}: record {i} lacks {missing}")
    return kind, rows


def _calls_from_turns(rows: list[dict]) -> list[Call]:
    return [Call(call_id=str(r.get("id", i)), agent_id="-", turns=(Turn(0, Speaker(r["speaker"]), r["text"]),))
            for i, r in enumerate(rows)]


def _calls_from_gold(rows: list[dict]) -> list[Call]:
    return [Call(call_id=r["call_id"], agent_id=r.get("agent_id", "-"),
                 turns=tuple(Turn(i, Speaker(t["speaker"]), t["text"]) for i, t in enumerate(r["turns"])))
            for r in rows]


# --------------------------------------------------------------------------- running


def analyse(calls: Sequence[Call], recognizers, sentiment, config) -> list[CallAnalysis]:
    """Hits and sentiments per turn, through the same :class:`qa.pipeline.Engine` as ``qa score``."""
    from qa.pipeline import Engine

    return Engine(config, list(recognizers), sentiment).analyse(calls)


def build_sources(model: str | Path | None = None, device: str = "auto", config=None,
                  which: Sequence[str] = SOURCES) -> dict[str, tuple[list, object]]:
    """``{source: (recognizers, sentiment)}``; rules come from the configured lexicon recognizers."""
    from qa.config import load_config
    from qa.models.classifier import ModelRecognizer, ModelSentiment

    cfg = config or load_config()
    out: dict[str, tuple[list, object]] = {}
    rules = rule_sent = None
    if "rules" in which or "fusion" in which:
        from qa.recognizers import registry

        names = [n for n in cfg.recognizers if n != registry.MODEL]
        sent_name = cfg.sentiment if cfg.sentiment != registry.MODEL else "lexicon:sentiment.v1"
        rules, rule_sent = registry.build(cfg.model_copy(update={"recognizers": names, "sentiment": sent_name}))
    mrec = msent = None
    if "model" in which or "fusion" in which:
        folder = model if model is not None else cfg.model.path
        args = {"device": device, "quantize": cfg.model.quantize, "batch_size": cfg.model.batch_size,
                "precision": cfg.model.precision}
        mrec = ModelRecognizer(folder, **args)
        msent = ModelSentiment(folder, **args)
    if "rules" in which:
        out["rules"] = (list(rules), rule_sent)
    if "model" in which:
        out["model"] = ([mrec], msent)
    if "fusion" in which:
        out["fusion"] = (list(rules) + [mrec], msent)
    return out


# --------------------------------------------------------------------------- scoring


def score_turns(gold_turns: list[dict], analyses: list[CallAnalysis]) -> dict:
    """Per-tag P/R/F1, tag confusions and sentiment over all turns of ``analyses``."""
    flat = [(a, i) for a in analyses for i in range(len(a.call.turns))]
    if len(flat) != len(gold_turns):
        raise ValueError("gold turns and analysed turns differ in number")
    counts = {t: [0, 0, 0] for t in TAGS}
    confusion: Counter = Counter()
    errors: list[dict] = []
    sg, sp, cg, cp = [], [], [], []
    for g, (a, i) in zip(gold_turns, flat):
        spk = a.call.turns[i].speaker
        gold = {t for t in g["tags"] if t in TAGS}
        pred = {h.tag for h in a.hits[i] if h.tag in TAGS}
        own = {t for t in TAGS if TAG_SPEAKER[t] is spk}
        for t in own:
            c = counts[t]
            if t in gold and t in pred:
                c[0] += 1
            elif t in pred:
                c[1] += 1
                confusion[f"{'+'.join(sorted(gold)) or 'none'} -> {t}"] += 1
            elif t in gold:
                c[2] += 1
                confusion[f"{t} -> {'+'.join(sorted(pred)) or 'none'}"] += 1
        if (gold & own) != (pred & own) and len(errors) < 40:
            errors.append({"text": a.call.turns[i].text, "speaker": spk.value, "gold": sorted(gold),
                           "pred": sorted(pred), "sources": sorted({h.source for h in a.hits[i]})})
        s_pred = a.sentiments[i].label
        sg.append(g["sentiment"])
        sp.append(s_pred)
        if spk is Speaker.CUSTOMER:
            cg.append(g["sentiment"])
            cp.append(s_pred)
    tags = {t: prf(*counts[t]) for t in TAGS}
    return {
        "tags": tags,
        "tags_macro_f1": round(sum(v["f1"] for v in tags.values() if v["support"]) /
                               max(1, sum(1 for v in tags.values() if v["support"])), 4),
        "tag_confusions": dict(confusion.most_common(30)),
        "sentiment_customer": sentiment_report(cg, cp),
        "sentiment_all": sentiment_report(sg, sp),
        "errors": errors,
    }


def score_checks(gold_calls: list[dict], analyses: list[CallAnalysis], config) -> dict:
    """Per-check P/R/F1 over (call, check, turn) findings."""
    from qa.checks import run_checks

    gold = {(c["call_id"], f["check"], int(f["turn"])) for c in gold_calls for f in c["findings"]}
    pred = {(a.call.call_id, f.check, f.turn) for a in analyses for f in run_checks(a, config.checks)}
    out = {}
    for ch in CHECKS:
        g = {x for x in gold if x[1] == ch}
        p = {x for x in pred if x[1] == ch}
        out[ch] = prf(len(g & p), len(p - g), len(g - p))
    core = ("blame_language", "missing_apology", "stalling_script")
    out["_all"] = prf(len(gold & pred), len(pred - gold), len(gold - pred))
    out["_core"] = prf(sum(out[c]["tp"] for c in core), sum(out[c]["fp"] for c in core),
                       sum(out[c]["fn"] for c in core))
    return out


def evaluate(gold: str | Path, *, model: str | Path | None = None, device: str = "auto", config=None,
             split: str | None = None, sources: Sequence[str] = SOURCES) -> dict:
    """The evaluation report of ``gold`` for each source (see module docstring)."""
    from qa.config import load_config

    cfg = config or load_config()
    kind, rows = read_gold(gold, split)
    if kind == "turns":
        calls, gold_turns = _calls_from_turns(rows), rows
    else:
        calls, gold_turns = _calls_from_gold(rows), [t for r in rows for t in r["turns"]]
    report: dict = {"gold": str(gold), "kind": kind, "split": split, "calls": len(calls), "turns": len(gold_turns),
                    "sources": {}}
    for name, (recs, sent) in build_sources(model, device, cfg, sources).items():
        analyses = analyse(calls, recs, sent, cfg)
        part = score_turns(gold_turns, analyses)
        part["recognizers"] = [r.name for r in recs] + [sent.name]
        if kind == "calls":
            part["checks"] = score_checks(rows, analyses, cfg)
        report["sources"][name] = part
    return report


def format_report(report: dict) -> str:
    """The report as Markdown tables (sources side by side)."""
    srcs = list(report["sources"])
    head = f"Gold: {report['gold']} ({report['kind']}, {report['turns']} turns"
    head += f", {report['calls']} calls)" if report["kind"] == "calls" else ")"
    if report.get("split"):
        head += f", split {report['split']}"
    lines = [head, "", "| tag | support | " + " | ".join(f"{s} P / R / F1" for s in srcs) + " |",
             "|---|---|" + "---|" * len(srcs)]
    for t in TAGS:
        first = report["sources"][srcs[0]]["tags"][t]
        cells = [f"{report['sources'][s]['tags'][t]['precision']:.2f} / {report['sources'][s]['tags'][t]['recall']:.2f}"
                 f" / **{report['sources'][s]['tags'][t]['f1']:.2f}**" for s in srcs]
        lines.append(f"| {t} | {first['support']} | " + " | ".join(cells) + " |")
    for key, label in (("sentiment_customer", "sentiment macro-F1, customer turns"),
                       ("sentiment_all", "sentiment macro-F1, all turns")):
        lines.append(f"| {label} | {report['sources'][srcs[0]][key]['n']} | "
                     + " | ".join(f"**{report['sources'][s][key]['macro_f1']:.2f}**" for s in srcs) + " |")
    if report["kind"] == "calls":
        lines += ["", "| check | support | " + " | ".join(f"{s} P / R / F1" for s in srcs) + " |",
                  "|---|---|" + "---|" * len(srcs)]
        for ch in (*CHECKS, "_core", "_all"):
            first = report["sources"][srcs[0]]["checks"][ch]
            cells = [f"{report['sources'][s]['checks'][ch]['precision']:.2f} / "
                     f"{report['sources'][s]['checks'][ch]['recall']:.2f} / "
                     f"**{report['sources'][s]['checks'][ch]['f1']:.2f}**" for s in srcs]
            lines.append(f"| {ch} | {first['support']} | " + " | ".join(cells) + " |")
    for s in srcs:
        conf = report["sources"][s]["tag_confusions"]
        if conf:
            lines += ["", f"Tag confusions ({s}, gold -> predicted): "
                      + "; ".join(f"{k} x{v}" for k, v in list(conf.items())[:12])]
    return "\n".join(lines)
