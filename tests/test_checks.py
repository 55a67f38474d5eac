"""Dialogue checks on small hand-written dialogues, one table per check."""

from __future__ import annotations

import pytest

from qa.checks import CHECK_FUNCS, apology_compliance, run_checks
from qa.config import ChecksConfig
from qa.types import CHECKS, Call, CallAnalysis, Hit, Sentiment, Speaker, Turn

SENT_SCORE = {"negative": -0.8, "neutral": 0.0, "positive": 0.7}

#: (speaker, text, tags, sentiment label)
Row = tuple[str, str, list[str], str]


def make(rows: list[Row], call_id: str = "C1", agent_id: str = "A1") -> CallAnalysis:
    """A CallAnalysis whose every tag is one hit spanning the whole turn, source "test:v1"."""
    turns = tuple(Turn(index=i, speaker=Speaker(sp), text=text) for i, (sp, text, _, _) in enumerate(rows))
    hits = tuple(
        tuple(Hit(tag=t, turn=i, start=0, end=len(text), score=0.9, source="test:v1", evidence=text) for t in tags)
        for i, (_, text, tags, _) in enumerate(rows)
    )
    sentiments = tuple(Sentiment(label, SENT_SCORE[label], "test:sent.v1") for _, _, _, label in rows)
    return CallAnalysis(Call(call_id=call_id, agent_id=agent_id, turns=turns), hits, sentiments)


def c(text: str, *tags: str, s: str = "neutral") -> Row:
    """A customer turn."""
    return ("customer", text, list(tags), s)


def a(text: str, *tags: str, s: str = "neutral") -> Row:
    """An agent turn."""
    return ("agent", text, list(tags), s)


def fired(check: str, rows: list[Row], **cfg: object) -> list[int]:
    """Turns on which ``check`` fires."""
    return [f.turn for f in CHECK_FUNCS[check](make(rows), ChecksConfig(**cfg))]


# Reusable turns.
COMPLAINT = c("东西坏了，你们怎么回事", "complaint", s="negative")
APOLOGY = a("非常抱歉给您添麻烦了", "apology")
NOTHING = a("请问您的订单号是多少")
ANSWER = c("订单号是12345")
SOLUTION = a("我马上给您补发一件", "solution")
ADMISSION = a("是我们这边发错货了", "admission")
ADMIT_AND_SORRY = a("对不起，是我们这边发错货了", "admission", "apology")
UPSELL = a("另外推荐您办理我们的会员服务", "upsell")


# ---------------------------------------------------------------- tagged checks


@pytest.mark.parametrize(
    "check, rows, turns",
    [
        ("blame_language", [COMPLAINT, a("是您自己没看清楚", "blame"), ANSWER], [1]),
        ("blame_language", [COMPLAINT, a("这不是您的问题"), ANSWER, a("谁让您不早说", "blame")], [3]),
        ("blame_language", [COMPLAINT, APOLOGY, ANSWER, SOLUTION], []),
        ("blame_language", [c("是你们自己没看清楚", "blame"), NOTHING, ANSWER], []),  # a customer turn never counts
        ("stalling_script", [COMPLAINT, a("帮您反馈一下，24小时内回电", "stalling"), ANSWER,
                             a("请您耐心等通知", "stalling")], [1, 3]),
        ("stalling_script", [COMPLAINT, a("已经给您退款了，两小时内到账", "solution"), ANSWER], []),
        ("stalling_script", [c("你们就会说反馈反馈", "stalling", "complaint"), APOLOGY, ANSWER], []),
        ("escalation_risk", [COMPLAINT, NOTHING, c("我要打12315投诉你们", "escalation", "complaint"),
                             APOLOGY], [2]),
        ("escalation_risk", [c("上次投诉过一次，这次是问别的"), NOTHING, ANSWER], []),
        ("escalation_risk", [c("叫你们主管来", "escalation"), NOTHING, c("不然我就退订", "escalation")], [0, 2]),
    ],
)
def test_tagged_checks(check: str, rows: list[Row], turns: list[int]) -> None:
    assert fired(check, rows) == turns


@pytest.mark.parametrize(
    "hits, expected",
    [
        pytest.param(
            [("lexicon:blame.v1", 0, 7, 0.6), ("lexicon:blame.v1", 8, 16, 0.95)],
            (8, 16, "是您自己没看清楚", 0.95, "lexicon:blame.v1"),
            id="strongest rule hit",
        ),
        pytest.param(
            [("lexicon:blame.v1", 0, 7, 0.6), ("model:clf.v2", 0, 16, 0.99)],
            (0, 7, "这么简单都不会", 0.6, "lexicon:blame.v1"),
            id="a rule's span beats a stronger whole-turn model hit",
        ),
        pytest.param(
            [("model:clf.v2", 0, 16, 0.7)],
            (0, 16, "这么简单都不会，是您自己没看清楚", 0.7, "model:clf.v2"),
            id="model alone: the whole turn",
        ),
    ],
)
def test_tagged_evidence_prefers_rule_spans_then_score(hits, expected) -> None:
    text = "这么简单都不会，是您自己没看清楚"
    objs = tuple(Hit("blame", 1, s, e, score, src, text[s:e], rule="r") for src, s, e, score in hits)
    base = make([COMPLAINT, a(text), ANSWER])
    analysis = CallAnalysis(base.call, (base.hits[0], objs, base.hits[2]), base.sentiments)
    [f] = CHECK_FUNCS["blame_language"](analysis, ChecksConfig())
    assert (f.check, f.call_id, f.agent_id, f.turn, f.rule) == ("blame_language", "C1", "A1", 1, "r")
    assert (f.start, f.end, f.evidence, f.score, f.source) == expected
    assert text[f.start:f.end] == f.evidence


# ---------------------------------------------------------------- missing_apology


@pytest.mark.parametrize(
    "rows, window, turns",
    [
        pytest.param([COMPLAINT, APOLOGY, ANSWER], 3, [], id="apology right away"),
        pytest.param([COMPLAINT, NOTHING, ANSWER, SOLUTION], 3, [0], id="no apology at all"),
        pytest.param([COMPLAINT, NOTHING, ANSWER, NOTHING, ANSWER, NOTHING, APOLOGY], 3, [0],
                     id="apology as 4th agent turn, window 3"),
        pytest.param([COMPLAINT, NOTHING, ANSWER, NOTHING, ANSWER, NOTHING, APOLOGY], 4, [],
                     id="apology as 4th agent turn, window 4"),
        pytest.param([COMPLAINT, NOTHING, ANSWER, NOTHING, ANSWER, APOLOGY], 3, [],
                     id="apology as 3rd agent turn, window 3"),
        pytest.param([COMPLAINT, APOLOGY, c("还有，包装也是破的", "complaint"), SOLUTION], 3, [2],
                     id="apology answered complaint 1, not complaint 2"),
        pytest.param([COMPLAINT, NOTHING, c("还有，包装也是破的", "complaint"), APOLOGY, SOLUTION], 3, [2],
                     id="one apology for two open complaints answers the earlier"),
        pytest.param([COMPLAINT, NOTHING, c("还有，包装也是破的", "complaint"), APOLOGY, APOLOGY], 3, [],
                     id="two apologies for two complaints"),
        pytest.param([COMPLAINT, c("都一个星期了", "complaint"), APOLOGY, SOLUTION], 3, [],
                     id="consecutive complaint turns are one obligation"),
        pytest.param([COMPLAINT, c("喂？"), c("都一个星期了", "complaint"), APOLOGY], 3, [],
                     id="complaint turns with no agent turn between are one obligation"),
        pytest.param([a("不好意思让您久等了", "apology"), COMPLAINT, NOTHING, ANSWER], 3, [1],
                     id="an apology before the complaint answers nothing"),
        pytest.param([NOTHING, ANSWER, COMPLAINT], 3, [2], id="complaint in the last turn"),
        pytest.param([c("这个怎么用"), ADMISSION, ANSWER, NOTHING], 3, [1], id="admission without apology"),
        pytest.param([c("这个怎么用"), ADMIT_AND_SORRY, ANSWER, NOTHING], 3, [], id="admission with apology same turn"),
        pytest.param([c("这个怎么用"), ADMISSION, ANSWER, APOLOGY], 3, [], id="admission, apology next agent turn"),
        pytest.param([c("这个怎么用"), ADMISSION, NOTHING, NOTHING, NOTHING, APOLOGY], 3, [1],
                     id="admission, apology after the window"),
        pytest.param([COMPLAINT, ADMIT_AND_SORRY, SOLUTION], 3, [],
                     id="apologising admission also answers the complaint"),
        pytest.param([COMPLAINT, APOLOGY, ADMISSION, NOTHING], 3, [2],
                     id="apology answered the complaint, not the later admission"),
        pytest.param([COMPLAINT, ADMISSION, APOLOGY, ANSWER], 3, [1],
                     id="one apology, complaint and admission open: the complaint is answered"),
        pytest.param([c("这个怎么用"), a("您点这里就可以了"), c("好的谢谢")], 3, [], id="no complaint"),
    ],
)
def test_missing_apology(rows: list[Row], window: int, turns: list[int]) -> None:
    assert fired("missing_apology", rows, apology_window=window) == turns


def test_missing_apology_evidence_is_the_complaint_hit() -> None:
    text = "喂你好，我的快递丢了"
    complaint = Hit("complaint", 0, 4, 10, 0.8, "lexicon:complaint.v1", text[4:10])
    base = make([c(text), NOTHING, ANSWER])
    analysis = CallAnalysis(base.call, ((complaint,), *base.hits[1:]), base.sentiments)
    [f] = CHECK_FUNCS["missing_apology"](analysis, ChecksConfig())
    assert (f.check, f.turn, f.start, f.end, f.evidence, f.score, f.source) == (
        "missing_apology", 0, 4, 10, "我的快递丢了", 0.8, "lexicon:complaint.v1")


@pytest.mark.parametrize(
    "rows, expected",
    [
        ([c("这个怎么用"), ADMISSION, ANSWER], (0, 0)),
        ([COMPLAINT, APOLOGY, ANSWER], (1, 1)),
        ([COMPLAINT, APOLOGY, c("还有，包装也是破的", "complaint"), SOLUTION], (2, 1)),
        ([COMPLAINT, c("都一个星期了", "complaint"), APOLOGY], (1, 1)),
        ([COMPLAINT, ADMISSION, APOLOGY, c("太慢了", "complaint"), NOTHING], (2, 1)),
    ],
)
def test_apology_compliance(rows: list[Row], expected: tuple[int, int]) -> None:
    assert apology_compliance(make(rows), ChecksConfig()) == expected


# ---------------------------------------------------------------- missing_solution


@pytest.mark.parametrize(
    "rows, turns",
    [
        ([COMPLAINT, APOLOGY, SOLUTION], []),
        ([COMPLAINT, APOLOGY, ANSWER, a("帮您反馈一下", "stalling")], [0]),
        ([c("我想换个地址"), SOLUTION, COMPLAINT, APOLOGY], [2]),  # solution only BEFORE the complaint
        ([COMPLAINT, SOLUTION, c("还有，包装也是破的", "complaint"), APOLOGY], [2]),
        ([COMPLAINT, c("都一个星期了", "complaint"), APOLOGY], [0, 1]),  # one finding per complaint turn
        ([COMPLAINT, NOTHING, c("还有，包装也是破的", "complaint"), SOLUTION], []),
        ([c("这个怎么用"), a("您点这里就可以了")], []),
    ],
)
def test_missing_solution(rows: list[Row], turns: list[int]) -> None:
    assert fired("missing_solution", rows) == turns


# ---------------------------------------------------------------- upsell_during_complaint


@pytest.mark.parametrize(
    "rows, turns",
    [
        ([c("我想问下套餐"), UPSELL, COMPLAINT, APOLOGY, SOLUTION], []),  # upsell before any complaint
        ([COMPLAINT, APOLOGY, UPSELL], [2]),
        ([COMPLAINT, SOLUTION, ANSWER, UPSELL], []),  # complaint solved first
        ([COMPLAINT, SOLUTION, c("还有，包装也是破的", "complaint"), UPSELL], [3]),
        ([COMPLAINT, a("给您补发一件，另外推荐您办个会员", "solution", "upsell")], []),  # remedy in the same turn
        ([COMPLAINT, UPSELL, ANSWER, UPSELL, SOLUTION, UPSELL], [1, 3]),
        ([c("你们推荐的套餐不好", "complaint"), NOTHING, ANSWER], []),
    ],
)
def test_upsell_during_complaint(rows: list[Row], turns: list[int]) -> None:
    assert fired("upsell_during_complaint", rows) == turns


# ---------------------------------------------------------------- negative_ending


@pytest.mark.parametrize(
    "labels, below, fires, score",
    [
        (["negative"], 0.0, True, 1.0),  # only one customer turn
        (["neutral"], 0.0, False, None),
        (["positive", "negative", "positive"], 0.0, False, None),  # mean(-1, +1) = 0 is not below 0
        (["positive", "negative", "neutral"], 0.0, True, 0.5),
        (["negative", "negative"], 0.0, True, 1.0),
        (["negative", "negative", "positive", "positive"], 0.0, False, None),  # only the last two count
        (["negative", "neutral"], -0.5, False, None),  # -0.5 is not below -0.5
        (["neutral", "neutral"], 0.5, True, 0.0),
    ],
)
def test_negative_ending(labels: list[str], below: float, fires: bool, score: float | None) -> None:
    rows: list[Row] = []
    for k, label in enumerate(labels):
        rows += [c(f"客户第{k}句", s=label), a(f"客服第{k}句", s="positive")]
    findings = CHECK_FUNCS["negative_ending"](make(rows), ChecksConfig(negative_ending_below=below))
    if not fires:
        assert findings == []
        return
    [f] = findings
    last = 2 * (len(labels) - 1)
    text = rows[last][1]
    assert (f.turn, f.start, f.end, f.evidence, f.score, f.source) == (
        last, 0, len(text), text, score, "test:sent.v1")


def test_negative_ending_needs_a_customer_turn() -> None:
    assert CHECK_FUNCS["negative_ending"](make([a("您好", s="negative")]), ChecksConfig()) == []


def test_negative_ending_rejects_unknown_label() -> None:
    base = make([c("好吧")])
    bad = CallAnalysis(base.call, base.hits, (Sentiment("angry", -0.9, "x"),))
    with pytest.raises(ValueError, match="angry"):
        CHECK_FUNCS["negative_ending"](bad, ChecksConfig())


# ---------------------------------------------------------------- run_checks


def test_check_funcs_cover_checks_in_order() -> None:
    assert tuple(CHECK_FUNCS) == CHECKS


def test_run_checks_sorted_by_turn_then_check_order() -> None:
    rows = [
        c("东西坏了", "complaint", "escalation", s="negative"),
        a("是您自己没看清楚", "blame", "upsell"),
        c("你什么态度", "complaint", s="negative"),
        a("帮您反馈一下，等通知吧", "stalling"),
        c("算了", s="negative"),
    ]
    got = [(f.turn, f.check) for f in run_checks(make(rows), ChecksConfig())]
    assert got == [
        (0, "missing_apology"),
        (0, "missing_solution"),
        (0, "escalation_risk"),
        (1, "blame_language"),
        (1, "upsell_during_complaint"),
        (2, "missing_apology"),
        (2, "missing_solution"),
        (3, "stalling_script"),
        (4, "negative_ending"),
    ]
