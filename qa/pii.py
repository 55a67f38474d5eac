"""Masking personal data in transcript text, keeping every offset valid.

``mask_pii(text)`` replaces each character of every span found by
``pii_spans(text)`` with ``*``, separators and a leading ``+`` included
(``+86 138-1234-5678`` -> 17 stars). The result has the same length as the
input, so a span (start, end) found in the original text still addresses the
same characters in the masked text. Masking is idempotent.

What is found (``kind``):

* ``mobile``: mainland mobile numbers, 11 digits starting 13-19, optionally
  grouped by spaces or dashes (``138 1234 5678``), optionally after
  ``86`` / ``+86`` / ``0086``;
* ``landline``: area code + local number, ``010-12345678``,
  ``0755 1234567``, ``(021)12345678``, ``02112345678``: 3-digit area codes
  are 010 and 02x, all others have 4 digits; the local number has 7 or 8
  digits and does not start with 0 or 1. Numbers without an area code are
  left alone (too easily confused with amounts and order numbers);
* ``id_card``: 18-character resident ID numbers with a valid birth date and
  a valid ISO 7064 check character (``X`` allowed), optionally grouped 6/8/4;
* ``bank_card``: 13-19 digits passing the Luhn check, optionally grouped;
  not right after an ASCII letter (``SF1402...``, ``JD0098...`` are order
  and tracking numbers), nor are landlines;
* ``email``: ASCII e-mail addresses (not right after a ``*``, so that text
  masked once comes out of a second masking unchanged).

Digits count only as whole runs: a number is never found inside a longer run
of digits (the matching uses digit boundaries, never ``\\b``, which Chinese
characters defeat), so ``我的手机号是13812345678谢谢`` is found and
``订单2138123456789`` is not. Full-width digits and punctuation (``１３８``,
``＋８６``, ``（０１０）``, ``＠``) are matched like their ASCII twins.
Numbers spoken as Chinese numerals (一三八...) are not found.
"""

from __future__ import annotations

import re
from datetime import date

#: Full-width ASCII (U+FF01-U+FF5E) and wide spaces -> ASCII, one character to one.
_HALF = str.maketrans({**{cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}, 0x3000: 0x20, 0xA0: 0x20})

MASK = "*"

_MAYBE = re.compile(r"[0-9０-９@＠]")
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+*-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}(?![A-Za-z-])"
)
_PAREN_LANDLINE = re.compile(r"(?<![0-9])\((0[0-9]{2,3})\) ?([0-9]{7,8})(?![0-9])")
# A run of digits with single separators (space, dash, or " - ") between them.
_BLOCK = re.compile(r"[0-9]+(?:(?: ?- ?| )[0-9]+)*")
_DIGITS = re.compile(r"[0-9]+")
_MOBILE = re.compile(r"(?:0086|86)?1[3-9][0-9]{9}")
_ID_BODY = re.compile(r"[1-9][0-9]{16}")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_MAX_DIGITS = 19  # the longest number looked for (a bank card)


def luhn_ok(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def id_card_ok(number: str) -> bool:
    """Whether an 18-character resident ID number has a plausible birth date and a valid check character."""
    if len(number) != 18 or not _ID_BODY.fullmatch(number, 0, 17):
        return False
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if not 1900 <= born.year <= 2099:
        return False
    total = sum(int(c) * w for c, w in zip(number[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == number[17].upper()


def _area_length(digits: str) -> int:
    """Length of the area code ``digits`` starts with: 3 for 010 and 02x, else 4; 0 when none."""
    if len(digits) < 3 or digits[0] != "0" or digits[1] == "0":
        return 0
    if digits[1] == "1":
        return 3 if digits.startswith("010") else 0
    return 3 if digits[1] == "2" else 4


def _landline_ok(groups: list[str]) -> bool:
    if len(groups) > 1:
        area, local = groups[0], "".join(groups[1:])
        if _area_length(area) != len(area):
            return False
    else:
        n = _area_length(groups[0])
        if not n:
            return False
        local = groups[0][n:]
    return 7 <= len(local) <= 8 and local[0] in "23456789"


def _classify(groups: list[str], x_after: bool, in_code: bool) -> tuple[str, bool] | None:
    """The kind of number ``groups`` (digit runs joined by separators) form, and whether a
    following ``X`` belongs to it; None when it is not PII.

    ``in_code``: the digits follow an ASCII letter (``JD0098 7713 2204``, an
    order or tracking number); only the strict patterns (ID number with its
    checksum, mobile number) are looked for there.
    """
    digits = "".join(groups)
    if x_after and len(digits) == 17 and id_card_ok(digits + "X"):
        return "id_card", True
    if len(digits) == 18 and id_card_ok(digits):
        return "id_card", False
    if _MOBILE.fullmatch(digits):
        return "mobile", False
    if in_code:
        return None
    if digits[0] == "0" and _landline_ok(groups):
        return "landline", False
    if 13 <= len(digits) <= 19 and digits[0] != "0" and luhn_ok(digits):
        return "bank_card", False
    return None


def _block_spans(work: str, block: re.Match[str], taken_until: int) -> list[tuple[int, int, str]]:
    """PII among the digit groups of one block: longest match first, left to right, whole groups only.

    ``taken_until``: end of the last span already found; a letter before it
    (the ``X`` of an ID number) belongs to that span, not to an order code.
    """
    groups = [(m.start(), m.end()) for m in _DIGITS.finditer(block.group())]
    base = block.start()
    end_of_block = block.end()
    x_after = work[end_of_block : end_of_block + 1] in ("X", "x") and not (
        work[end_of_block + 1 : end_of_block + 2].isascii() and work[end_of_block + 1 : end_of_block + 2].isalpha()
    )
    found: list[tuple[int, int, str]] = []
    i = 0
    while i < len(groups):
        j_max = i
        count = groups[i][1] - groups[i][0]
        while j_max + 1 < len(groups) and count + groups[j_max + 1][1] - groups[j_max + 1][0] <= _MAX_DIGITS + 4:
            j_max += 1
            count += groups[j_max][1] - groups[j_max][0]
        for j in range(j_max, i - 1, -1):
            texts = [block.group()[s:e] for s, e in groups[i : j + 1]]
            at = base + groups[i][0] - 1
            before = work[at] if at >= taken_until else ""
            kind = _classify(texts, x_after and j == len(groups) - 1, before.isascii() and before.isalpha())
            if kind is None:
                continue
            start, end = base + groups[i][0], base + groups[j][1] + (1 if kind[1] else 0)
            if kind[0] == "mobile" and start > 0 and work[start - 1] == "+" and texts[0].startswith(("86", "0086")):
                start -= 1
            found.append((start, end, kind[0]))
            i = j + 1
            break
        else:
            i += 1
    return found


def pii_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every piece of personal data in ``text``, sorted and non-overlapping."""
    if not _MAYBE.search(text):
        return []
    work = text.translate(_HALF)
    spans: list[tuple[int, int, str]] = []

    def blank(start: int, end: int) -> None:
        nonlocal work
        work = work[:start] + "\x00" * (end - start) + work[end:]

    for m in _EMAIL.finditer(work):
        spans.append((m.start(), m.end(), "email"))
    for s, e, _ in spans:
        blank(s, e)
    for m in _PAREN_LANDLINE.finditer(work):
        if _landline_ok([m.group(1), m.group(2)]):
            spans.append((m.start(), m.end(), "landline"))
            blank(m.start(), m.end())
    taken_until = 0
    for block in _BLOCK.finditer(work):
        if sum(len(d) for d in _DIGITS.findall(block.group())) >= 10:
            found = _block_spans(work, block, taken_until)
            if found:
                spans.extend(found)
                taken_until = found[-1][1]
    return sorted(spans)


def mask_pii(text: str) -> str:
    """``text`` with every character of every PII span replaced by ``*``; same length."""
    spans = pii_spans(text)
    if not spans:
        return text
    out = []
    pos = 0
    for start, end, _ in spans:
        out.append(text[pos:start])
        out.append(MASK * (end - start))
        pos = end
    out.append(text[pos:])
    return "".join(out)
