"""``negative_ending``: the customer leaves the call unhappy.

Take the last two customer turns (the only one if there is one; no customer
turn: no finding) and map each turn's sentiment label to a value
(``negative`` = -1, ``neutral`` = 0, ``positive`` = +1, LABELS.md). The check
fires when the mean of those values is below
``ChecksConfig.negative_ending_below`` (default 0): e.g. negative + neutral
(-0.5) fires, negative + positive (0) does not.

The finding points at the last customer turn, whole text ``[0, len(text))``,
with ``score = clip(-mean, 0, 1)`` (1.0 when both turns are negative, 0.5 for
negative + neutral) and ``source`` = that turn's sentiment source.
"""

from __future__ import annotations

from qa.config import ChecksConfig
from qa.types import CallAnalysis, Finding, Speaker

LABEL_VALUE: dict[str, float] = {"negative": -1.0, "neutral": 0.0, "positive": 1.0}


def ending_value(analysis: CallAnalysis) -> float | None:
    """Mean label value of the last two customer turns; None without customer turns."""
    customer = [i for i, t in enumerate(analysis.call.turns) if t.speaker is Speaker.CUSTOMER]
    if not customer:
        return None
    values = []
    for i in customer[-2:]:
        label = analysis.sentiments[i].label
        if label not in LABEL_VALUE:
            raise ValueError(
                f"call {analysis.call.call_id} turn {i}: unknown sentiment label {label!r}; "
                f"known: {list(LABEL_VALUE)}"
            )
        values.append(LABEL_VALUE[label])
    return sum(values) / len(values)


def negative_ending(analysis: CallAnalysis, cfg: ChecksConfig) -> list[Finding]:
    """At most one finding, on the last customer turn (see the module docstring)."""
    mean = ending_value(analysis)
    if mean is None or not mean < cfg.negative_ending_below:
        return []
    last = max(i for i, t in enumerate(analysis.call.turns) if t.speaker is Speaker.CUSTOMER)
    text = analysis.call.turns[last].text
    return [
        Finding(
            call_id=analysis.call.call_id,
            agent_id=analysis.call.agent_id,
            check="negative_ending",
            turn=last,
            start=0,
            end=len(text),
            evidence=text,
            score=min(1.0, max(0.0, -mean)),
            source=analysis.sentiments[last].source,
            rule=analysis.sentiments[last].label,
        )
    ]
