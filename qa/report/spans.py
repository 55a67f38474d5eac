"""Evidence highlighting shared by the HTML report and the review app.

A finding points at ``[start, end)`` in the ORIGINAL text of one turn
(LABELS.md, "Turn and span addressing"). Several findings can point into the
same turn and their spans can overlap (``negative_ending`` covers the whole
last customer turn, ``escalation_risk`` a few words inside it), so a turn is
cut at every span boundary into flat segments, each listing the findings
that cover it. Templates render a covered segment as one ``<mark>`` and never
nest marks. Text is never pre-escaped here: templates autoescape it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Sequence

from qa.types import CHECKS

#: Short English name and Chinese gloss of every check, for headings and chips.
CHECK_TITLES: dict[str, tuple[str, str]] = {
    "blame_language": ("blame", "指责/推诿用语"),
    "missing_apology": ("no apology", "未致歉"),
    "stalling_script": ("stalling", "拖延话术"),
    "missing_solution": ("no solution", "未给方案"),
    "negative_ending": ("neg. ending", "负面结束"),
    "escalation_risk": ("escalation", "升级风险"),
    "upsell_during_complaint": ("upsell", "投诉中推销"),
}
assert set(CHECK_TITLES) == set(CHECKS), "CHECK_TITLES must name every check"

SPEAKER_TITLES: dict[str, str] = {"agent": "客服", "customer": "客户"}


def check_class(check: str) -> str:
    """A CSS class for a check's colour; ``c-other`` for a name not in CHECKS
    (check names come from data files, so they never go into markup raw)."""
    return f"c-{check}" if check in CHECKS else "c-other"


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of a turn's text and the numbers of the findings covering it."""

    text: str
    marks: tuple[int, ...] = ()


def clamp_span(start: int | None, end: int | None, length: int) -> tuple[int, int]:
    """``[start, end)`` clipped to ``[0, length]``; ``(0, 0)`` when empty or inverted."""
    s = max(0, min(int(start or 0), length))
    e = max(0, min(int(end or 0), length))
    return (s, e) if s < e else (0, 0)


def segments(text: str, spans: Sequence[tuple[int | None, int | None, int]]) -> list[Segment]:
    """Cut ``text`` at the boundaries of ``spans`` = ``[(start, end, number), ...]``.

    Each segment lists, in ascending order, the numbers of the spans that
    cover it. Spans are clipped to the text; an empty span covers nothing
    (its finding is still listed beside the transcript). The segments' texts
    join back to ``text`` exactly.

    >>> segments("真的非常抱歉给您带来不便", [(4, 6, 1)])
    [Segment(text='真的非常', marks=()), Segment(text='抱歉', marks=(1,)), Segment(text='给您带来不便', marks=())]
    """
    n = len(text)
    clipped = [(s, e, num) for s, e, num in ((*clamp_span(s, e, n), num) for s, e, num in spans) if s < e]
    if not clipped:
        return [Segment(text)] if text else []
    cuts = sorted({0, n, *(s for s, _, _ in clipped), *(e for _, e, _ in clipped)})
    out: list[Segment] = []
    for a, b in pairwise(cuts):
        if a == b:
            continue
        marks = tuple(sorted(num for s, e, num in clipped if s <= a and b <= e))
        if out and out[-1].marks == marks:
            out[-1] = Segment(out[-1].text + text[a:b], marks)
        else:
            out.append(Segment(text[a:b], marks))
    return out


# ---------------------------------------------------------------- one call, ready to render


@dataclass(frozen=True, slots=True)
class FindingView:
    """One finding of a call, numbered in reading order (1-based)."""

    number: int
    check: str
    turn: int
    start: int
    end: int
    evidence: str
    score: float | None
    source: str
    rule: str
    span_text: str  # the turn's text[start:end] ("" when the turn text is missing)
    span_ok: bool  # span_text == evidence: the span indexes the text the finding saw
    key: str = ""  # the review store's finding key, where the caller sets one

    @property
    def css(self) -> str:
        return check_class(self.check)

    @property
    def short(self) -> str:
        return CHECK_TITLES.get(self.check, (self.check, ""))[0]

    @property
    def gloss(self) -> str:
        return CHECK_TITLES.get(self.check, ("", ""))[1]

    def describe(self) -> str:
        score = "" if self.score is None else f" · score {self.score:.2f}"
        rule = f" · rule {self.rule}" if self.rule else ""
        return f"[{self.number}] {self.check} · {self.source}{rule}{score}"


@dataclass(frozen=True, slots=True)
class Piece:
    """A segment of a turn as the template draws it: plain text, or one ``<mark>``."""

    text: str
    numbers: tuple[int, ...] = ()
    css: str = ""  # the first covering finding's check colour
    checks: str = ""  # space-separated checks of the covering findings (for filters)
    title: str = ""  # tooltip: number and check of each covering finding


@dataclass(frozen=True, slots=True)
class TurnView:
    turn: int
    speaker: str
    pieces: tuple[Piece, ...]
    numbers: tuple[int, ...]  # findings pointing at this turn
    missing: bool = False  # the turns table has no text for this turn


@dataclass(frozen=True, slots=True)
class GapView:
    """Turns left out between shown turns (``context_turns``)."""

    skipped: int


@dataclass(frozen=True, slots=True)
class TranscriptView:
    call_id: str
    findings: tuple[FindingView, ...]
    rows: tuple[TurnView | GapView, ...]

    @property
    def checks(self) -> list[str]:
        """Distinct checks of the call, in the order of CHECKS."""
        have = {f.check for f in self.findings}
        return [c for c in CHECKS if c in have] + sorted(have - set(CHECKS))


def build_transcript(
    call_id: str,
    turns: Sequence[dict],
    findings: Sequence[dict],
    *,
    context_turns: int | None = None,
    keys: Sequence[str] | None = None,
) -> TranscriptView:
    """A call's transcript with its findings' evidence cut into marked pieces.

    ``turns``: dicts with ``turn``, ``speaker``, ``text`` (any order);
    ``findings``: dicts with the findings table's columns. Findings are
    numbered by (turn, check order, start). ``context_turns``: show only the
    turns within that many turns of a flagged turn, with gaps between; None
    shows every turn. ``keys``: a finding key per finding, in the given order.
    """
    order = {c: k for k, c in enumerate(CHECKS)}
    by_turn = {int(t["turn"]): t for t in turns}
    indexed = list(enumerate(findings))
    indexed.sort(key=lambda kf: (int(kf[1]["turn"]), order.get(kf[1]["check"], len(order)), kf[1].get("start") or 0))
    views: list[FindingView] = []
    for number, (k, f) in enumerate(indexed, start=1):
        text = (by_turn.get(int(f["turn"])) or {}).get("text") or ""
        s, e = clamp_span(f.get("start"), f.get("end"), len(text))
        span_text = text[s:e]
        views.append(
            FindingView(
                number=number,
                check=str(f["check"]),
                turn=int(f["turn"]),
                start=int(f.get("start") or 0),
                end=int(f.get("end") or 0),
                evidence=f.get("evidence") or "",
                score=None if f.get("score") is None else float(f["score"]),
                source=f.get("source") or "",
                rule=f.get("rule") or "",
                span_text=span_text,
                span_ok=bool(span_text) and span_text == (f.get("evidence") or ""),
                key=keys[k] if keys is not None else "",
            )
        )
    by_number = {v.number: v for v in views}
    flagged = sorted({v.turn for v in views})
    numbers_of: dict[int, list[int]] = {}
    for v in views:
        numbers_of.setdefault(v.turn, []).append(v.number)

    all_turns = sorted(set(by_turn) | set(flagged))
    if context_turns is not None:
        keep = {i for t in flagged for i in range(t - context_turns, t + context_turns + 1)}
        shown = [i for i in all_turns if i in keep]
    else:
        shown = all_turns

    rows: list[TurnView | GapView] = []
    prev = -1
    for i in shown:
        skipped = sum(1 for j in all_turns if prev < j < i)
        if skipped:
            rows.append(GapView(skipped))
        prev = i
        t = by_turn.get(i)
        text = (t or {}).get("text") or ""
        nums = numbers_of.get(i, [])
        spans = [(by_number[n].start, by_number[n].end, n) for n in nums]
        pieces = []
        for seg in segments(text, spans):
            if not seg.marks:
                pieces.append(Piece(seg.text))
                continue
            covering = [by_number[n] for n in seg.marks]
            pieces.append(
                Piece(
                    text=seg.text,
                    numbers=seg.marks,
                    css=covering[0].css,
                    checks=" ".join(dict.fromkeys(f.check for f in covering)),
                    title=" ".join(f"[{f.number}] {f.check}" for f in covering),
                )
            )
        rows.append(
            TurnView(
                turn=i,
                speaker=str((t or {}).get("speaker") or ""),
                pieces=tuple(pieces),
                numbers=tuple(nums),
                missing=t is None,
            )
        )
    if shown and context_turns is not None:
        tail = sum(1 for j in all_turns if j > shown[-1])
        if tail:
            rows.append(GapView(tail))
    return TranscriptView(call_id=call_id, findings=tuple(views), rows=tuple(rows))
