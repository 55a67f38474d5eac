"""Calibration from coaches' verdicts: how often each check and each source is right,
which rule entries and score ranges the coaches reject, and the verdicts as
labelled training data.

Precision
---------
For every reviewed finding its CURRENT verdict counts once (the latest row
per finding key; see :mod:`qa.review.store`). Precision = confirmed /
(confirmed + dismissed), with a Wilson 95% interval, per check (in the order
of CHECKS), per source and per (check, source) (lowest precision first). ``dismissed_rules`` lists the (check, source, rule)
entries with the most dismissals, e.g. a lexicon term that fires on look-alikes.
``score_hints`` says, per (check, source) whose scores vary (model sources),
the lowest score threshold at which the kept findings reach the target
precision, and what raising the threshold there would drop.

Labelled JSONL export (``qa calibrate --export verdicts.jsonl``)
----------------------------------------------------------------
One JSON object per line, one line per reviewed turn whose verdicts imply a
label, ordered by call_id and turn::

    {"call_id": "C0001", "turn": 3, "speaker": "agent", "text": "这是您自己没看清楚",
     "labels": {"blame": 1, "stalling": 0}, "tags": ["blame"],
     "source": "review",
     "verdicts": [{"finding_key": "…", "check": "blame_language", "verdict": "confirmed",
                   "source": "lexicon:blame.v1", "rule": "是您自己", "reviewer": "lin",
                   "at": "2026-11-12T08:00:00+00:00", "comment": ""}]}

- ``labels`` is PARTIAL: tag -> 1 (the turn is that tag) or 0 (it is not).
  A tag missing from ``labels`` is unknown, not negative: a trainer must mask
  it out of the loss, never treat it as 0. ``tags`` lists the tags labelled 1,
  in LABELS.md order (the turn-level gold shape of ``qa eval``).
- ``sentiment`` (only when known): ``"negative"`` for the last customer turn
  of a call whose ``negative_ending`` was confirmed.
- When two verdicts speak to the same tag of the same turn (a rule and a
  model both flagged it), the later verdict wins.

How each check's verdict maps to a label of the evidence turn:

==========================  ==================  ======================================
check                       confirmed           dismissed
==========================  ==================  ======================================
blame_language              blame = 1           blame = 0
stalling_script             stalling = 1        stalling = 0
escalation_risk             escalation = 1      escalation = 0
missing_apology             complaint = 1       no label (the turn may be a complaint
                            (customer turn);    that was answered by an apology the
                            admission = 1       recognizers missed: ambiguous)
                            (agent turn)
missing_solution            complaint = 1       no label (ambiguous, as above)
upsell_during_complaint     upsell = 1          no label (ambiguous: the upsell may be
                                                real and the complaint resolved)
negative_ending             sentiment negative  no label (the check reads two turns)
==========================  ==================  ======================================

Turns whose verdicts imply no label are not written; ``ExportSummary``
counts them.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from qa.review.store import Verdict
from qa.scorecard import wilson
from qa.types import AUX_TAGS, CHECKS, TAGS

#: check -> (tag of the evidence turn, whether a dismissal means "not that tag").
#: missing_apology's tag depends on the speaker (see :func:`implied_labels`).
CHECK_LABELS: dict[str, tuple[str, bool]] = {
    "blame_language": ("blame", True),
    "stalling_script": ("stalling", True),
    "escalation_risk": ("escalation", True),
    "missing_apology": ("complaint", False),
    "missing_solution": ("complaint", False),
    "upsell_during_complaint": ("upsell", False),
}

#: Precision a score threshold should reach to be suggested.
TARGET_PRECISION = 0.9


@dataclass(frozen=True, slots=True)
class Precision:
    group: str  # a check, a source, or "check · source"
    confirmed: int
    dismissed: int
    precision: float | None
    lo: float
    hi: float

    @property
    def reviewed(self) -> int:
        return self.confirmed + self.dismissed


@dataclass(frozen=True, slots=True)
class DismissedRule:
    check: str
    source: str
    rule: str
    dismissed: int
    confirmed: int
    precision: float | None
    examples: tuple[str, ...]  # evidence of dismissed findings, up to 3, distinct
    comments: tuple[str, ...]  # coaches' comments on dismissals, up to 3, distinct


@dataclass(frozen=True, slots=True)
class ScoreHint:
    check: str
    source: str
    reviewed: int
    mean_score_confirmed: float | None
    mean_score_dismissed: float | None
    threshold: float | None  # lowest score keeping precision >= target; None: no such threshold helps
    precision_at_threshold: float | None
    would_drop_dismissed: int
    would_drop_confirmed: int


@dataclass
class Calibration:
    reviewed: int
    confirmed: int
    dismissed: int
    reviewers: list[str]
    by_check: list[Precision]
    by_source: list[Precision]
    by_check_source: list[Precision]
    dismissed_rules: list[DismissedRule]
    score_hints: list[ScoreHint]
    target_precision: float = TARGET_PRECISION

    def to_dict(self) -> dict:
        def prec(rows: list[Precision]) -> list[dict]:
            return [asdict(r) | {"reviewed": r.reviewed} for r in rows]

        return {
            "reviewed": self.reviewed,
            "confirmed": self.confirmed,
            "dismissed": self.dismissed,
            "reviewers": self.reviewers,
            "by_check": prec(self.by_check),
            "by_source": prec(self.by_source),
            "by_check_source": prec(self.by_check_source),
            "dismissed_rules": [asdict(r) | {"examples": list(r.examples), "comments": list(r.comments)}
                                for r in self.dismissed_rules],
            "score_hints": [asdict(h) for h in self.score_hints],
            "target_precision": self.target_precision,
        }


def _precision(group: str, verdicts: Sequence[Verdict]) -> Precision:
    k = sum(v.verdict == "confirmed" for v in verdicts)
    n = len(verdicts)
    lo, hi = wilson(k, n)
    return Precision(group, k, n - k, round(k / n, 4) if n else None, round(lo, 4), round(hi, 4))


def _grouped(verdicts: Iterable[Verdict], key) -> dict:
    out: dict = {}
    for v in verdicts:
        out.setdefault(key(v), []).append(v)
    return out


def _distinct(values: Iterable[str], n: int = 3) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))[:n]


def _score_hint(check: str, source: str, vs: Sequence[Verdict], target: float) -> ScoreHint | None:
    scored = [v for v in vs if v.score is not None]
    if len({v.score for v in scored}) < 2 or not any(v.verdict == "dismissed" for v in scored):
        return None

    def mean(xs: list[float]) -> float | None:
        return round(sum(xs) / len(xs), 4) if xs else None

    conf = [v.score for v in scored if v.verdict == "confirmed"]
    dism = [v.score for v in scored if v.verdict == "dismissed"]
    threshold = prec_at = None
    drop_d = drop_c = 0
    base = len(conf) / len(scored)
    if base < target:
        for t in sorted({v.score for v in scored}):
            kept = [v for v in scored if v.score >= t]
            p = sum(v.verdict == "confirmed" for v in kept) / len(kept)
            if p >= target:
                threshold, prec_at = round(t, 4), round(p, 4)
                drop_d = sum(1 for s in dism if s < t)
                drop_c = sum(1 for s in conf if s < t)
                break
    return ScoreHint(check, source, len(scored), mean(conf), mean(dism), threshold, prec_at, drop_d, drop_c)


def calibrate(verdicts: Iterable[Verdict], *, top: int = 10, target: float = TARGET_PRECISION) -> Calibration:
    """Precision tables, most-dismissed rules and score hints from current verdicts (one per finding)."""
    vs = list(verdicts)
    keys = [v.finding_key for v in vs]
    if len(set(keys)) != len(keys):
        raise ValueError("calibrate takes one verdict per finding: pass VerdictStore.current()")

    def table(key) -> list[Precision]:
        """Lowest precision first, then most reviewed."""
        rows = [_precision(g, part) for g, part in _grouped(vs, key).items()]
        return sorted(rows, key=lambda r: (r.precision if r.precision is not None else 2.0, -r.reviewed, r.group))

    check_order = {c: k for k, c in enumerate(CHECKS)}

    rules = []
    for (check, source, rule), part in _grouped(vs, lambda v: (v.check, v.source, v.rule)).items():
        dismissed = [v for v in part if v.verdict == "dismissed"]
        if not dismissed:
            continue
        p = _precision("", part)
        rules.append(
            DismissedRule(
                check=check,
                source=source,
                rule=rule,
                dismissed=len(dismissed),
                confirmed=p.confirmed,
                precision=p.precision,
                examples=_distinct(v.evidence for v in dismissed),
                comments=_distinct(v.comment for v in dismissed),
            )
        )
    rules.sort(key=lambda r: (-r.dismissed, r.precision if r.precision is not None else 0.0, r.check, r.source, r.rule))

    hints = []
    for (check, source), part in sorted(_grouped(vs, lambda v: (v.check, v.source)).items()):
        hint = _score_hint(check, source, part, target)
        if hint is not None:
            hints.append(hint)

    confirmed = sum(v.verdict == "confirmed" for v in vs)
    return Calibration(
        reviewed=len(vs),
        confirmed=confirmed,
        dismissed=len(vs) - confirmed,
        reviewers=sorted({v.reviewer for v in vs}),
        by_check=sorted(table(lambda v: v.check), key=lambda r: (check_order.get(r.group, len(check_order)), r.group)),
        by_source=table(lambda v: v.source),
        by_check_source=table(lambda v: f"{v.check} · {v.source}"),
        dismissed_rules=rules[:top],
        score_hints=hints,
        target_precision=target,
    )


# ---------------------------------------------------------------- labelled export


def implied_labels(v: Verdict) -> tuple[dict[str, int], str | None]:
    """The labels one verdict implies for its evidence turn: ({tag: 0/1}, sentiment or None)."""
    confirmed = v.verdict == "confirmed"
    if v.check == "negative_ending":
        return {}, ("negative" if confirmed else None)
    if v.check not in CHECK_LABELS:
        return {}, None
    tag, dismissal_is_negative = CHECK_LABELS[v.check]
    if v.check == "missing_apology" and v.speaker == "agent":
        tag = "admission"  # an agent turn admitting a company error that owed an apology
    if confirmed:
        return {tag: 1}, None
    return ({tag: 0} if dismissal_is_negative else {}), None


_TAG_ORDER = {t: k for k, t in enumerate((*TAGS, *AUX_TAGS))}


def labelled_turns(verdicts: Iterable[Verdict]) -> tuple[list[dict], int]:
    """The export's records (see the module docstring) and how many reviewed turns had no label."""
    turns: dict[tuple[str, int], dict] = {}
    for v in sorted(verdicts, key=lambda v: (v.created_at, v.id)):  # later verdicts overwrite earlier ones
        rec = turns.setdefault(
            (v.call_id, v.turn),
            {"call_id": v.call_id, "turn": v.turn, "speaker": v.speaker, "text": v.text, "labels": {}, "verdicts": []},
        )
        labels, sentiment = implied_labels(v)
        rec["labels"].update(labels)
        if sentiment:
            rec["sentiment"] = sentiment
        if v.text:
            rec["text"], rec["speaker"] = v.text, v.speaker or rec["speaker"]
        rec["verdicts"].append(
            {"finding_key": v.finding_key, "check": v.check, "verdict": v.verdict, "source": v.source, "rule": v.rule,
             "reviewer": v.reviewer, "at": v.created_at, "comment": v.comment}
        )
    out, unlabelled = [], 0
    for (call_id, turn), rec in sorted(turns.items()):
        if not (rec["labels"] or rec.get("sentiment")) or not rec["text"]:
            unlabelled += 1
            continue
        labels = dict(sorted(rec["labels"].items(), key=lambda kv: _TAG_ORDER.get(kv[0], len(_TAG_ORDER))))
        line = {
            "call_id": call_id,
            "turn": turn,
            "speaker": rec["speaker"],
            "text": rec["text"],
            "labels": labels,
            "tags": [t for t, y in labels.items() if y],
        }
        if rec.get("sentiment"):
            line["sentiment"] = rec["sentiment"]
        line |= {"source": "review", "verdicts": rec["verdicts"]}
        out.append(line)
    return out, unlabelled


@dataclass(frozen=True, slots=True)
class ExportSummary:
    path: Path
    lines: int  # labelled turns written
    unlabelled: int  # reviewed turns whose verdicts imply no label
    positives: dict[str, int] = field(default_factory=dict)  # tag -> turns labelled 1
    negatives: dict[str, int] = field(default_factory=dict)  # tag -> turns labelled 0


def export_jsonl(verdicts: Iterable[Verdict], path: str | Path) -> ExportSummary:
    """Write the labelled JSONL (utf-8, one record per line), replacing ``path`` atomically."""
    records, unlabelled = labelled_turns(verdicts)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pos: dict[str, int] = {}
    neg: dict[str, int] = {}
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
            for tag, y in r["labels"].items():
                (pos if y else neg)[tag] = (pos if y else neg).get(tag, 0) + 1
    os.replace(tmp, path)
    return ExportSummary(path, len(records), unlabelled, pos, neg)


# ---------------------------------------------------------------- writing the calibration


def write_calibration(cal: Calibration, out: str | Path) -> list[Path]:
    """Write the calibration: to ``out`` itself when it ends in ``.json``, else into the folder ``out``
    as ``calibration.json`` plus ``precision_by_check.csv``, ``precision_by_source.csv``,
    ``precision_by_check_source.csv`` and ``dismissed_rules.csv``. Returns the files written."""
    out = Path(out)
    data = cal.to_dict()
    if out.suffix.lower() == ".json":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "calibration.json"]
    written[0].write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    for name, rows in (
        ("precision_by_check.csv", data["by_check"]),
        ("precision_by_source.csv", data["by_source"]),
        ("precision_by_check_source.csv", data["by_check_source"]),
    ):
        written.append(_write_csv(out / name, ["group", "confirmed", "dismissed", "reviewed", "precision", "lo", "hi"], rows))
    rule_rows = [r | {"examples": " | ".join(r["examples"]), "comments": " | ".join(r["comments"])}
                 for r in data["dismissed_rules"]]
    written.append(
        _write_csv(out / "dismissed_rules.csv",
                   ["check", "source", "rule", "dismissed", "confirmed", "precision", "examples", "comments"], rule_rows)
    )
    return written


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path
