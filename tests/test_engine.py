"""The engine recognizes each distinct (speaker, text) once per run.

Uses the shipped rule files and the lexicon sentiment, so no model loads.
"""

from __future__ import annotations

from collections import Counter

import pytest

from qa.config import load_config
from qa.pipeline import Engine
from qa.recognizers import registry
from qa.types import Call, Speaker, Turn

A, C = Speaker.AGENT, Speaker.CUSTOMER


class Counting:
    """Wraps a recognizer and counts the turns it was asked about, by (speaker, text)."""

    def __init__(self, inner):
        self.inner, self.name, self.tags = inner, inner.name, inner.tags
        self.seen: Counter = Counter()

    def recognize(self, batch):
        self.seen.update((t.speaker, t.norm.original) for t in batch)
        return self.inner.recognize(batch)


def _call(cid: str, turns: list[tuple[Speaker, str]]) -> Call:
    return Call(call_id=cid, agent_id="A1", turns=tuple(Turn(i, s, t) for i, (s, t) in enumerate(turns)))


CALLS = [
    _call("C1", [(A, "您好，请问有什么可以帮您"), (C, "我的快递三天了还没到，太慢了"),
                 (A, "非常抱歉给您添麻烦了"), (C, "好的"), (A, "好的")]),
    _call("C2", [(C, "好的"), (A, "非常抱歉给您添麻烦了"), (C, "我的快递三天了还没到，太慢了"),
                 (A, "这是您自己填错了地址"), (A, "非常抱歉给您添麻烦了")]),
]


def _engine(cache_size: int) -> tuple[Engine, Counting]:
    cfg = load_config()
    names = [n for n in cfg.recognizers if n != registry.MODEL] + [registry.ADMISSION]
    apology = Counting(registry.get("lexicon:apology.v1"))
    recs = [apology if n == "lexicon:apology.v1" else registry.get(n) for n in names]
    return Engine(cfg, recs, registry.get_sentiment("lexicon:sentiment.v1"), cache_size=cache_size), apology


def test_repeated_turns_are_recognized_once_and_give_what_a_fresh_look_gives():
    cached, counted = _engine(100)
    fresh, _ = _engine(0)
    first = cached.analyse(CALLS[:1])
    second = cached.analyse(CALLS[1:])
    assert first + second == fresh.analyse(CALLS[:1]) + fresh.analyse(CALLS[1:])
    # Each distinct (speaker, text) once, across both batches; 好的 as agent and as customer apart.
    assert set(counted.seen.values()) == {1}
    assert len(counted.seen) == len({(t.speaker, t.text) for c in CALLS for t in c.turns})
    assert cached.cache.hits == 4 and cached.cache.misses == 6


def test_reused_hits_point_at_their_own_turn():
    engine, _ = _engine(100)
    (a,) = engine.analyse(CALLS[1:])
    apologies = [(i, h) for i, hs in enumerate(a.hits) for h in hs if h.tag == "apology"]
    assert sorted({i for i, _ in apologies}) == [1, 4]
    assert all(h.turn == i for i, h in apologies)
    assert all(CALLS[1].turns[i].text[h.start : h.end] == h.evidence for i, h in apologies)


def test_cache_keeps_the_most_recently_used_turns_only():
    engine, counted = _engine(2)
    engine.analyse(CALLS[:1])
    assert len(engine.cache) == 2
    engine.analyse(CALLS[:1])
    assert counted.seen[(A, "非常抱歉给您添麻烦了")] == 2  # evicted between the two looks


@pytest.mark.parametrize("size", [0, 3])
def test_results_do_not_depend_on_the_cache_size(size):
    small, _ = _engine(size)
    big, _ = _engine(1000)
    for calls in (CALLS, CALLS[::-1]):
        assert small.analyse(calls) == big.analyse(calls)
