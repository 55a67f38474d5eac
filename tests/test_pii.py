"""PII masking: what is found, what is left alone, and that offsets survive."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.pii import id_card_ok, luhn_ok, mask_pii, pii_spans

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(body17: str) -> str:
    """``body17`` completed with its ISO 7064 check character."""
    return body17 + "10X98765432"[sum(int(c) * w for c, w in zip(body17, _WEIGHTS)) % 11]


def luhn(body: str) -> str:
    """``body`` completed with its Luhn check digit."""
    return next(body + d for d in "0123456789" if luhn_ok(body + d))


ID_X = "11010519491231002X"  # the textbook example, check character X
ID_9 = id_number("44030619900307123")
CARD16 = luhn("622202123456789")
CARD19 = luhn("621700000000123456")


def wrong_last(number: str) -> str:
    return number[:-1] + ("0" if number[-1] != "0" else "1")


def test_builders_make_valid_numbers():
    assert id_card_ok(ID_X) and id_card_ok(ID_9) and id_card_ok(ID_X.lower())
    assert luhn_ok(CARD16) and luhn_ok(CARD19)
    assert not id_card_ok(wrong_last(ID_9)) and not luhn_ok(wrong_last(CARD16))


# (text, the substrings that must be masked, with their kind)
FOUND = [
    ("我的手机号是13812345678谢谢", [("13812345678", "mobile")]),
    ("电话138 1234 5678，打这个", [("138 1234 5678", "mobile")]),
    ("电话138-1234-5678", [("138-1234-5678", "mobile")]),
    ("号码是+86 138 1234 5678吗", [("+86 138 1234 5678", "mobile")]),
    ("号码是+8613812345678吗", [("+8613812345678", "mobile")]),
    ("号码是0086-19912345678吗", [("0086-19912345678", "mobile")]),
    ("手机１３８１２３４５６７８，谢谢", [("１３８１２３４５６７８", "mobile")]),
    ("打＋８６ １５９－１２３４－５６７８", [("＋８６ １５９－１２３４－５６７８", "mobile")]),
    ("座机010-62345678转人工", [("010-62345678", "landline")]),
    ("座机0755 2234567", [("0755 2234567", "landline")]),
    ("座机(021)62345678", [("(021)62345678", "landline")]),
    ("座机（０２１）６２３４５６７８", [("（０２１）６２３４５６７８", "landline")]),
    ("座机02162345678", [("02162345678", "landline")]),
    (f"身份证号{ID_X}，对", [(ID_X, "id_card")]),
    (f"身份证号{ID_X.lower()}", [(ID_X.lower(), "id_card")]),
    (f"身份证{ID_9}", [(ID_9, "id_card")]),
    (f"身份证{ID_9[:6]} {ID_9[6:14]} {ID_9[14:]}", [(f"{ID_9[:6]} {ID_9[6:14]} {ID_9[14:]}", "id_card")]),
    (f"卡号{CARD16}没错", [(CARD16, "bank_card")]),
    (f"卡号{CARD19}", [(CARD19, "bank_card")]),
    (
        f"卡号{' '.join(CARD16[i : i + 4] for i in range(0, 16, 4))}。",
        [(" ".join(CARD16[i : i + 4] for i in range(0, 16, 4)), "bank_card")],
    ),
    ("邮箱是zhang.san+qa@example.com.cn谢谢", [("zhang.san+qa@example.com.cn", "email")]),
    ("邮箱１２３４５６@qq.com", [("１２３４５６@qq.com", "email")]),
    ("邮箱abc＠qq．com，", [("abc＠qq．com", "email")]),
    ("a.b@qq.com13812345678", [("a.b@qq.com", "email"), ("13812345678", "mobile")]),
    (
        f"手机13812345678，卡{CARD16}，身份证{ID_X}",
        [("13812345678", "mobile"), (CARD16, "bank_card"), (ID_X, "id_card")],
    ),
    (f"{CARD16} 13912345678", [(CARD16, "bank_card"), ("13912345678", "mobile")]),
]


@pytest.mark.parametrize("text, expected", FOUND, ids=[t for t, _ in FOUND])
def test_pii_is_found_and_masked(text, expected):
    spans = pii_spans(text)
    assert [(text[s:e], kind) for s, e, kind in spans] == expected
    masked = mask_pii(text)
    assert len(masked) == len(text)
    for s, e, _ in spans:
        assert masked[s:e] == "*" * (e - s)
    keep = [i for i in range(len(text)) if not any(s <= i < e for s, e, _ in spans)]
    assert all(masked[i] == text[i] for i in keep)


LEFT_ALONE = [
    "我的订单号是2138123456789",  # a mobile number inside a longer run of digits
    "订单号138123456789",  # 12 digits: not a mobile
    "号码1381234567",  # 10 digits
    "号码12812345678",  # 12x is not a mobile prefix
    f"身份证{wrong_last(ID_9)}",  # bad check character
    "身份证110105194902301234",  # no 30 February
    f"卡号{wrong_last(CARD16)}",  # fails Luhn
    "金额是1,380.00元，2026-11-02到账",
    "时间20261102153000",  # 14 digits, fails Luhn
    "订单DD202610271204",
    "单号JD0098 7713 2204",  # a tracking number, not a landline
    f"单号SF{CARD16}",  # letters before the digits: an order number
    "座机62345678",  # no area code
    "座机010-12345678",  # local numbers do not start with 1
    "香港电话9123 4567",
    "请拨打400-800-8888",
    "我的邮箱是 at 符号",
    "纯中文没有数字",
    "",
]


@pytest.mark.parametrize("text", LEFT_ALONE)
def test_lookalikes_are_left_alone(text):
    assert pii_spans(text) == []
    assert mask_pii(text) == text


def test_ids_never_use_word_boundaries_so_chinese_neighbours_do_not_hide_numbers():
    text = "您好13812345678是吗" + "卡号" + CARD16 + "对吧"
    assert [k for _, _, k in pii_spans(text)] == ["mobile", "bank_card"]


@pytest.mark.parametrize("text", [t for t, _ in FOUND] + LEFT_ALONE)
def test_masking_is_idempotent(text):
    once = mask_pii(text)
    assert mask_pii(once) == once


_ALPHABET = st.sampled_from(list("0123456789０１３８ -+()@.xX客户手机号是abc\n"))


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.one_of(
            _ALPHABET,
            st.sampled_from(["13812345678", ID_X, CARD16, "010-62345678", "a.b@qq.com", "+86 "]),
        ),
        max_size=30,
    ).map("".join)
)
def test_masking_keeps_length_spans_and_is_idempotent(text):
    spans = pii_spans(text)
    masked = mask_pii(text)
    assert len(masked) == len(text)
    assert mask_pii(masked) == masked
    assert all(0 <= s < e <= len(text) for s, e, _ in spans)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # sorted, no overlap
    assert re.sub(r"\*", "", masked) == "".join(
        ch for i, ch in enumerate(text) if not any(s <= i < e for s, e, _ in spans)
    ).replace("*", "")


def test_digits_spoken_one_by_one_are_still_a_number():
    assert mask_pii("号码是 1 3 8 1 2 3 4 5 6 7 8 对") == "号码是 ********************* 对"


def test_long_texts_are_masked_in_one_pass():
    text = ("客户说他的手机13812345678打不通，订单12和34，" * 2000) + "7" * 100_000 + "8，" * 50_000
    masked = mask_pii(text)
    assert masked.count("*" * 11) == 2000
    assert masked.endswith("7" * 100_000 + "8，" * 50_000)
