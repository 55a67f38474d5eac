"""Lexicon sentiment (qa.recognizers.sentiment_lexicon): lookups, degree, negation, punctuation."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.recognizers import registry
from qa.recognizers.rules import RuleFileError
from qa.recognizers.sentiment_lexicon import LexiconSentiment, load_sentiment_file
from qa.text.tokenize import prepare
from qa.types import SENTIMENTS, Sentiment, Speaker


def sentiment(text: str, speaker: Speaker = Speaker.CUSTOMER) -> Sentiment:
    rec = registry.get_sentiment("lexicon:sentiment.v1")
    return rec.score([prepare("C1", 0, speaker, text)])[0]


LABELS = [
    # the customer turns negative_ending looks at
    ("太慢了，我要投诉", "negative"),
    ("好的谢谢，麻烦你了", "positive"),
    ("嗯 我的订单号是123", "neutral"),
    ("行吧", "neutral"),
    ("算了不用了，以后再也不在你们家买了", "negative"),
    ("不满意", "negative"),
    ("不错", "positive"),
    ("没问题", "positive"),
    ("这个怎么用", "neutral"),
    ("我想问一下我的快递到哪了", "neutral"),
    ("你们这服务也太差了吧！！！", "negative"),
    ("怎么还没到？？", "negative"),
    ("好的", "neutral"),
    ("嗯嗯", "neutral"),
    ("喂你好", "neutral"),
    ("非常感谢你的帮助！", "positive"),
    ("我不是很满意", "negative"),
    ("你们怎么回事啊，到现在都没人管", "negative"),
    ("问题已经解决了，谢谢", "positive"),
    ("东西坏了", "negative"),
    ("快一个月了还没收到", "negative"),
    ("我想充值一百块", "neutral"),
    ("我用的是银行卡", "neutral"),
    ("好几天了", "neutral"),
    ("好贵啊", "negative"),
    ("不贵", "neutral"),
    ("那行吧，就这样吧", "neutral"),
    ("您好，请问您贵姓", "neutral"),
    ("你們的服務太差了", "negative"),
    ("謝謝你，很滿意", "positive"),
]


@pytest.mark.parametrize("text, label", LABELS)
def test_labels(text: str, label: str) -> None:
    got = sentiment(text)
    assert got.label == label, f"{text}: {got}"


@pytest.mark.parametrize("text, _label", LABELS)
def test_score_range_label_and_source(text: str, _label: str) -> None:
    got = sentiment(text)
    assert -1.0 <= got.score <= 1.0
    assert got.label in SENTIMENTS
    assert got.source == "lexicon:sentiment.v1"
    assert (got.score > 0) == (got.label == "positive") or got.label == "neutral"


@pytest.mark.parametrize(
    "plain, negated",
    [("满意", "不满意"), ("好", "不好"), ("方便", "不方便"), ("放心", "不放心"), ("贵", "不贵"), ("差", "不差")],
)
def test_negation_flips(plain: str, negated: str) -> None:
    a, b = sentiment(plain).score, sentiment(negated).score
    assert a * b < 0, (plain, a, negated, b)


@pytest.mark.parametrize("plain, strong", [("慢", "太慢"), ("满意", "非常满意"), ("差", "特别差"), ("好用", "很好用")])
def test_degree_adverbs_intensify(plain: str, strong: str) -> None:
    assert abs(sentiment(strong).score) > abs(sentiment(plain).score)


def test_weak_degree_softens() -> None:
    assert abs(sentiment("有点慢").score) < abs(sentiment("慢").score)


@pytest.mark.parametrize("plain, loud", [("太差了", "太差了！！"), ("谢谢", "谢谢！")])
def test_exclamations_intensify(plain: str, loud: str) -> None:
    assert abs(sentiment(loud).score) > abs(sentiment(plain).score)


def test_repeated_question_marks_read_as_indignation() -> None:
    assert sentiment("到底怎么回事？？？").score < sentiment("到底怎么回事").score


def test_negation_does_not_cross_a_clause() -> None:
    assert sentiment("没事，满意").label == "positive"


def test_batch_keeps_order() -> None:
    rec = registry.get_sentiment("lexicon:sentiment.v1")
    out = rec.score([prepare("C", i, Speaker.CUSTOMER, t) for i, t in enumerate(["太差了", "嗯", "谢谢"])])
    assert [s.label for s in out] == ["negative", "neutral", "positive"]


GOOD = """\
id: sentiment
version: 1
description: test
neutral_band: 0.2
negation: {cues: [不]}
degree: {words: {很: 1.3}}
positive: [{weight: 0.8, words: [好]}]
negative: [{weight: 0.8, words: [差]}]
"""


def test_minimal_lexicon_loads(tmp_path: Path) -> None:
    path = tmp_path / "sentiment.v1.yaml"
    path.write_text(GOOD, encoding="utf-8")
    rec = LexiconSentiment(load_sentiment_file(path))
    assert rec.score_text("很好").label == "positive"
    assert rec.score_text("不好").label == "negative"


@pytest.mark.parametrize(
    "body, fragment",
    [
        (GOOD + "colour: red\n", "unknown key"),
        (GOOD.replace("neutral_band: 0.2", "neutral_band: 2"), "neutral_band"),
        (GOOD.replace("words: [差]", "words: [好]"), "already listed"),
        (GOOD.replace("weight: 0.8, words: [差]", "weight: -1, words: [差]"), "negative.0.weight"),
    ],
)
def test_malformed_lexicon_fails_naming_the_file(tmp_path: Path, body: str, fragment: str) -> None:
    path = tmp_path / "sentiment.v1.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(RuleFileError) as err:
        load_sentiment_file(path)
    assert str(path) in str(err.value) and fragment in str(err.value)


# Customer problem reports and threats without an explicit feeling word
# (v1 data update), and look-alikes that stay neutral.
@pytest.mark.parametrize("text, label", [
    ("快递三天了一直不动", "negative"),
    ("我的包裹被拆过了", "negative"),
    ("少送了一杯奶茶", "negative"),
    ("冰箱噪音很大，晚上睡不着", "negative"),
    ("這個解釋我不接受", "negative"),
    ("叫你们主管来接电话", "negative"),
    ("我会找律师的", "negative"),
    ("好几天了", "neutral"),
    ("我想查一下物流", "neutral"),
    ("好的，谢谢，问题解决了", "positive"),
])
def test_problem_reports(text: str, label: str) -> None:
    got = sentiment(text)
    assert got.label == label, f"{text}: {got}"
