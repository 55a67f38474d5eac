"""Jieba tokenization with the call-center user dictionary (qa.text.tokenize)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.text.tokenize import get_tokenizer, prepare, prepare_many, read_userdict, tokenize
from qa.types import Speaker

REPO = Path(__file__).resolve().parent.parent

# Golden tokens: a change of jieba, of its dictionary or of userdict.txt shows
# up here as a diff. User-dictionary words (运单号, 工作日, 回电, 快递员, ...)
# stay whole.
GOLDEN = [
    ("我帮您反馈一下，二十四小时内回电", ["我", "帮", "您", "反馈", "一下", "，", "二十四", "小时", "内", "回电"]),
    ("请您提供一下运单号", ["请", "您", "提供", "一下", "运单号"]),
    ("退款三到五个工作日内原路退回", ["退款", "三到", "五个", "工作日", "内", "原路退回"]),
    ("快递员明天上门取件", ["快递员", "明天", "上门", "取件"]),
    ("我要打12315投诉你们", ["我要", "打", "12315", "投诉", "你们"]),
    ("已经给您补发了，请注意查收", ["已经", "给", "您", "补发", "了", "，", "请", "注意", "查收"]),
    ("您的信用卡账单多扣了一笔年费", ["您", "的", "信用卡", "账单", "多扣", "了", "一笔", "年费"]),
]


@pytest.mark.parametrize("text, words", GOLDEN)
def test_golden_tokens(text: str, words: list[str]) -> None:
    assert [t.text for t in tokenize(text)] == words


@pytest.mark.parametrize("text", [t for t, _ in GOLDEN] + ["嗯 那个 我的 订单号是 123", ""])
def test_token_offsets_index_the_given_string(text: str) -> None:
    tokens = tokenize(text)
    for tok in tokens:
        assert text[tok.start : tok.end] == tok.text
        assert not tok.text.isspace()
    assert [t.start for t in tokens] == sorted(t.start for t in tokens)


@pytest.mark.parametrize("word", ["运单号", "工作日", "回电", "快递员", "12315", "优惠券", "转接", "差评"])
def test_user_dictionary_words_stay_whole(word: str) -> None:
    assert word in [t.text for t in tokenize(f"关于{word}的事")]


def test_prepare_tokenizes_normalized_text() -> None:
    turn = prepare("C1", 3, Speaker.AGENT, "我幫您反饋一下，ＯＫ")
    assert turn.norm.text == "我帮您反馈一下,ok"
    assert (turn.call_id, turn.turn, turn.speaker) == ("C1", 3, Speaker.AGENT)
    assert [t.text for t in turn.tokens][:4] == ["我", "帮", "您", "反馈"]
    for tok in turn.tokens:
        assert turn.norm.text[tok.start : tok.end] == tok.text


def test_prepare_many_keeps_order() -> None:
    turns = prepare_many([("C1", 0, Speaker.CUSTOMER, "怎么还没到"), ("C1", 1, Speaker.AGENT, "非常抱歉")])
    assert [(t.turn, t.speaker, t.norm.text) for t in turns] == [
        (0, Speaker.CUSTOMER, "怎么还没到"),
        (1, Speaker.AGENT, "非常抱歉"),
    ]


def test_tokenizer_is_built_once() -> None:
    assert get_tokenizer() is get_tokenizer()


def test_jieba_cache_is_outside_the_repository() -> None:
    tmp_dir = Path(get_tokenizer().tmp_dir).resolve()
    assert REPO not in tmp_dir.parents and tmp_dir != REPO


def test_tokenizing_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    tokenize("我帮您反馈一下")
    out = capsys.readouterr()
    assert out.out == ""


def test_user_dictionary_has_call_center_entries() -> None:
    words = {w for w, _, _ in read_userdict()}
    assert 60 <= len(words) <= 150
    assert {"工作日", "回电", "退款", "补发", "运单号", "12315", "消协", "差评"} <= words
