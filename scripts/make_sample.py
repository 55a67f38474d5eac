"""Write the unlabelled sample input files from the labelled gold master copy.

Reads corpora/gold/sample.jsonl (calls with turn tags, sentiment, findings and
domain) and writes corpora/sample/calls-YYYY-MM-DD.jsonl, one file per call
date (taken from `started_at`), in the canonical input shape of DESIGN.md:
call_id, agent_id, started_at, queue, and turns with speaker, text, start_ms,
end_ms. All labels (`tags`, `sentiment`, `admits_error`, `findings`) and
`domain` are dropped. Calls are sorted by (started_at, call_id); existing
calls-*.jsonl files are removed first, so the output is deterministic.

Usage: python scripts/make_sample.py [GOLD] [OUT_DIR]
"""
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CALL_KEYS = ("call_id", "agent_id", "started_at", "queue")
TURN_KEYS = ("speaker", "text", "start_ms", "end_ms")


def main(argv):
    gold = Path(argv[0]) if argv else ROOT / "corpora" / "gold" / "sample.jsonl"
    out_dir = Path(argv[1]) if len(argv) > 1 else ROOT / "corpora" / "sample"
    calls = [json.loads(line) for line in gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_day = defaultdict(list)
    for call in sorted(calls, key=lambda c: (c["started_at"], c["call_id"])):
        record = {k: call[k] for k in CALL_KEYS if k in call}
        record["turns"] = [{k: t[k] for k in TURN_KEYS if k in t} for t in call["turns"]]
        by_day[call["started_at"][:10]].append(record)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("calls-*.jsonl"):
        old.unlink()
    for day, records in sorted(by_day.items()):
        path = out_dir / f"calls-{day}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {len(records)} calls")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
