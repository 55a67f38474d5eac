"""Derive the call-level gold `findings` of a labelled corpus from its turn labels.

Gold-building helper, written independently of the product code in qa/: it
applies the LABELS.md check definitions to the hand-written turn labels
(`tags`, `sentiment`, and the optional boolean `admits_error` that marks an
agent turn admitting a company error), so that gold findings always agree
with gold tags.

Rules (N = 3 agent turns, turn indexes 0-based):
  blame_language / stalling_script   each agent turn tagged blame / stalling
  escalation_risk                    each customer turn tagged escalation
  missing_apology                    each customer `complaint` turn with no
      `apology` among the next N agent turns; and each agent turn with
      `admits_error` with no apology in that turn or the next N agent turns.
      Only apologies after the evidence turn count, so an apology that
      answered an earlier complaint never covers a later one.
  missing_solution                   each complaint turn with no later agent
      `solution` turn
  negative_ending                    mean sentiment (negative -1, neutral 0,
      positive 1) of the last two customer turns < 0; evidence = last one
  upsell_during_complaint            each agent `upsell` turn preceded by a
      complaint with no agent `solution` turn between the two

Usage:
  python scripts/derive_gold_findings.py [FILE ...] [--check]
FILE defaults to corpora/gold/sample.jsonl. Without --check each file is
rewritten in place with recomputed findings (sorted by turn, then check);
with --check nothing is written and the exit code is 1 if any stored
findings differ from the derived ones.
"""
import json
import sys
from pathlib import Path

N_AGENT_TURNS = 3
SENTIMENT = {"negative": -1, "neutral": 0, "positive": 1}
DEFAULT = Path(__file__).resolve().parent.parent / "corpora" / "gold" / "sample.jsonl"


def derive(turns):
    def has(i, tag):
        return tag in turns[i].get("tags", [])

    agent = [i for i, t in enumerate(turns) if t["speaker"] == "agent"]
    customer = [i for i, t in enumerate(turns) if t["speaker"] == "customer"]
    complaints = [i for i in customer if has(i, "complaint")]
    solutions = [i for i in agent if has(i, "solution")]
    out = []
    for i in agent:
        if has(i, "blame"):
            out.append(("blame_language", i))
        if has(i, "stalling"):
            out.append(("stalling_script", i))
        if has(i, "upsell") and any(
            not any(c < s < i for s in solutions) for c in complaints if c < i
        ):
            out.append(("upsell_during_complaint", i))
    for i in customer:
        if has(i, "escalation"):
            out.append(("escalation_risk", i))
    admits = [i for i in agent if turns[i].get("admits_error")]
    for i in sorted(complaints + admits):
        window = [j for j in agent if j > i][:N_AGENT_TURNS]
        if i in admits:
            window.insert(0, i)
        if not any(has(j, "apology") for j in window):
            out.append(("missing_apology", i))
    for c in complaints:
        if not any(s > c for s in solutions):
            out.append(("missing_solution", c))
    last_two = customer[-2:]
    if last_two and sum(SENTIMENT[turns[i]["sentiment"]] for i in last_two) / len(last_two) < 0:
        out.append(("negative_ending", last_two[-1]))
    return [{"check": c, "turn": t} for c, t in sorted(out, key=lambda f: (f[1], f[0]))]


def main(argv):
    check = "--check" in argv
    paths = [Path(a) for a in argv if a != "--check"] or [DEFAULT]
    total_stale = 0
    for path in paths:
        stale = 0
        calls = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        for call in calls:
            findings = derive(call["turns"])
            if call.get("findings") != findings:
                stale += 1
                if check:
                    print(f"{path}: {call['call_id']}: findings differ from tags", file=sys.stderr)
            call["findings"] = findings
        if not check:
            path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in calls), encoding="utf-8")
        print(f"{path}: {len(calls)} calls, {sum(len(c['findings']) for c in calls)} findings, "
              f"{stale} {'stale' if check else 'updated'}")
        total_stale += stale
    return 1 if check and total_stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
