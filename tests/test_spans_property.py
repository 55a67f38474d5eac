"""Span exactness through the whole recognizer stack: for any turn text built
from call-center phrases in simplified, traditional, full-width and ASR-like
form, every hit's and every finding's evidence is exactly ``text[start:end]``
of the ORIGINAL text."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.config import load_config
from qa.pipeline import Engine
from qa.types import Call, Speaker, Turn

PHRASES = [
    "非常抱歉", "給您添麻煩了", "这是您自己没看清楚", "這不是您的問題", "我帮您反馈一下", "二十四小時內回電",
    "3到7个工作日", "感谢您的耐心", "我理解您的心情", "马上给您退款", "要不要升级套餐", "东西到现在还没到",
    "我要去12315投诉", "你们每次都说反馈", "嗯", "那个", "就是", "ＯＫ", "１２３", "　", " ", "，", "。", "！", "?",
]

ENGINE = Engine(load_config())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["agent", "customer"]), st.lists(st.sampled_from(PHRASES), min_size=1, max_size=8).map("".join)), min_size=1, max_size=6))
def test_every_hit_and_finding_slices_the_original_text(turns):
    call = Call(
        call_id="P1",
        agent_id="A1",
        turns=tuple(Turn(i, Speaker(s), text) for i, (s, text) in enumerate(turns)),
    )
    (analysis,) = ENGINE.analyse([call])
    for turn, hits in zip(call.turns, analysis.hits):
        for h in hits:
            assert 0 <= h.start < h.end <= len(turn.text)
            assert turn.text[h.start : h.end] == h.evidence
    for f in ENGINE.findings(analysis):
        assert call.turns[f.turn].text[f.start : f.end] == f.evidence
