"""``missing_apology``: a complaint or an admitted error left without an apology.

Obligations. Each of these owes the customer an apology:

- a *complaint*: a customer turn tagged ``complaint``. Complaint turns with no
  agent turn between them (the customer's complaint split over several turns)
  are ONE obligation, created by the first of them;
- an *admission*: an agent turn tagged ``admission`` (the agent admits a
  company error). An admission turn that is itself tagged ``apology`` is
  apologised for on the spot and creates no obligation.

Window. A complaint is answered by an agent ``apology`` turn among the next N
agent turns after it; an admission by one among the next N agent turns after
the admission turn (N = ``ChecksConfig.apology_window``).

Matching. Agent apology turns are taken in call order; each answers the
earliest still-open obligation whose window contains it, and at most one. So
an apology that answered an earlier complaint never covers a later one, and an
apology that comes when nothing is open answers nothing. (Windows all have the
same length and open in creation order, so "earliest open" is also "closes
first", and this greedy matching answers as many obligations as any matching
could.) The one apology of an admission turn that also apologises settles that
admission and is still free to answer one earlier obligation: 对不起，是我们发错了
after 你们发错货了 leaves nothing owed.

Each unanswered obligation is one finding, evidenced by the strongest
``complaint`` (or ``admission``) hit of the turn that created it.
"""

from __future__ import annotations

from dataclasses import dataclass

from qa.checks.tagged import finding_from_hit, strongest_hit
from qa.config import ChecksConfig
from qa.types import CallAnalysis, Finding, Hit, Speaker

CHECK = "missing_apology"


@dataclass(frozen=True, slots=True)
class Obligation:
    """An apology owed. Window: agent turns with ordinal in ``[opens, closes]``."""

    kind: str  # "complaint" | "admission"
    hit: Hit  # evidence: the hit of the turn that created it
    opens: int  # ordinal (0-based count among agent turns) of the first agent turn in the window
    closes: int  # ordinal of the last agent turn in the window, inclusive
    answered_by: int | None  # turn index of the apology that answered it


def obligations(analysis: CallAnalysis, cfg: ChecksConfig) -> list[Obligation]:
    """All apology obligations of the call, in creation order, with their matches."""
    n = cfg.apology_window
    tagged = {tag: set(analysis.tagged(tag)) for tag in ("complaint", "admission", "apology")}
    created: list[tuple[str, Hit, int, int]] = []
    answered: dict[int, int] = {}  # obligation position -> apology turn
    agent_seen = 0  # agent turns before the current turn
    for i, turn in enumerate(analysis.call.turns):
        if turn.speaker is Speaker.CUSTOMER:
            if i in tagged["complaint"]:
                last = created[-1] if created else None
                same_run = last is not None and last[0] == "complaint" and last[2] == agent_seen
                if not same_run:
                    hit = strongest_hit(analysis, i, "complaint")
                    created.append(("complaint", hit, agent_seen, agent_seen + n - 1))
            continue
        j = agent_seen
        agent_seen += 1
        apologises = i in tagged["apology"]
        if apologises:
            for pos, (_, _, opens, closes) in enumerate(created):
                if pos not in answered and opens <= j <= closes:
                    answered[pos] = i
                    break
        if i in tagged["admission"] and not apologises:
            created.append(("admission", strongest_hit(analysis, i, "admission"), j + 1, j + n))
    return [
        Obligation(kind, hit, opens, closes, answered.get(pos))
        for pos, (kind, hit, opens, closes) in enumerate(created)
    ]


def missing_apology(analysis: CallAnalysis, cfg: ChecksConfig) -> list[Finding]:
    """One finding per unanswered obligation (see the module docstring for the rule)."""
    return [
        finding_from_hit(analysis, CHECK, ob.hit)
        for ob in obligations(analysis, cfg)
        if ob.answered_by is None
    ]


def apology_compliance(analysis: CallAnalysis, cfg: ChecksConfig) -> tuple[int, int]:
    """``(complaints, answered)``: complaint obligations (a run of complaint turns with no
    agent turn between them counts once) and how many of them an apology answered,
    by the same matching as ``missing_apology``. Admissions are not counted."""
    complaints = [ob for ob in obligations(analysis, cfg) if ob.kind == "complaint"]
    return len(complaints), sum(ob.answered_by is not None for ob in complaints)
