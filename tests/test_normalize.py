"""Normalization keeps an exact map back to the original text."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.text.normalize import normalize


@pytest.mark.parametrize(
    "original, normalized",
    [
        ("給您添麻煩了", "给您添麻烦了"),
        ("我幫您反饋一下，二十四小時內回電", "我帮您反馈一下,二十四小时内回电"),
        ("ＡＢＣ１２３", "abc123"),
        ("  嗯   那个\t\n就是  ", "嗯 那个 就是"),
        ("好的　謝謝", "好的 谢谢"),
        ("", ""),
    ],
)
def test_normalize_table(original, normalized):
    assert normalize(original).text == normalized


def test_span_in_traditional_text_maps_to_original_characters():
    n = normalize("非常抱歉，給您添麻煩了")
    i = n.text.index("添麻烦")
    start, end, evidence = n.evidence(i, i + 3)
    assert (start, end, evidence) == (7, 10, "添麻煩")


def test_folded_whitespace_maps_to_the_whole_run():
    n = normalize("好的   谢谢")
    assert n.text == "好的 谢谢"
    assert n.evidence(1, 4) == (1, 6, "的   谢")


def test_out_of_range_span_is_an_error():
    with pytest.raises(ValueError):
        normalize("你好").to_original(1, 5)


_chars = st.sampled_from(
    list("抱歉對不起給您添麻煩了反饋二十四小時內回電好的謝謝嗯啊")
    + list("ＡＢＣａｂｃ１２３　！？，")
    + list("abcXYZ019 \t\n,.!?")
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_chars, max_size=40).map("".join), st.data())
def test_every_normalized_span_slices_the_original(text, data):
    """For any span of normalized text, the mapped original span is in bounds,
    non-empty, ordered, and normalizing that original slice gives back the
    normalized slice (up to the whitespace folded at its edges)."""
    n = normalize(text)
    assert len(n.starts) == len(n.ends) == len(n.text)
    if not n.text:
        return
    start = data.draw(st.integers(0, len(n.text) - 1))
    end = data.draw(st.integers(start + 1, len(n.text)))
    s, e, evidence = n.evidence(start, end)
    assert 0 <= s < e <= len(text)
    assert evidence == text[s:e]
    assert normalize(evidence).text == n.text[start:end].strip()
