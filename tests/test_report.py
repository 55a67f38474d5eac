"""report.html: evidence marks, escaping of hostile text, self-containedness, caps."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest

from browser_util import PAYLOADS, XSS_IMG, XSS_SCRIPT, sample_manifest, sample_tables
from qa.report import render_report, write_report
from qa.report.html import json_for_script
from qa.report.spans import build_transcript, segments


# ---------------------------------------------------------------- helpers


class _Page(HTMLParser):
    """Collects the text of every <mark>, every <script> body and the tags seen."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.marks: list[str] = []
        self.scripts: list[tuple[dict, str]] = []
        self.tags: list[tuple[str, dict]] = []
        self._mark: list[str] | None = None
        self._script: tuple[dict, list[str]] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "mark":
            self._mark = []
        elif tag == "script":
            self._script = (a, [])

    def handle_endtag(self, tag):
        if tag == "mark" and self._mark is not None:
            self.marks.append("".join(self._mark))
            self._mark = None
        elif tag == "script" and self._script is not None:
            self.scripts.append((self._script[0], "".join(self._script[1])))
            self._script = None

    def handle_data(self, data):
        if self._mark is not None:
            self._mark.append(data)
        if self._script is not None:
            self._script[1].append(data)


def parse(html: str) -> _Page:
    p = _Page()
    p.feed(html)
    p.close()
    return p


@pytest.fixture(scope="module")
def tables() -> dict[str, pl.DataFrame]:
    return sample_tables()


@pytest.fixture(scope="module")
def html(tables) -> str:
    return render_report(tables["turns"], tables["findings"], tables["calls"], tables["scorecards"],
                         sample_manifest(tables), out_dir=Path("out/day1"))


def data_block(html: str) -> dict:
    page = parse(html)
    blocks = [body for attrs, body in page.scripts if attrs.get("type") == "application/json"]
    assert len(blocks) == 1
    return json.loads(blocks[0])


# ---------------------------------------------------------------- spans


@pytest.mark.parametrize(
    "text, spans, expected",
    [
        ("真的非常抱歉给您带来不便", [(4, 6, 1)], [("真的非常", ()), ("抱歉", (1,)), ("给您带来不便", ())]),
        ("这不是我的问题", [], [("这不是我的问题", ())]),
        # overlapping: a whole-turn finding and a span inside it
        ("算了我要找你们领导", [(0, 9, 1), (2, 9, 2)], [("算了", (1,)), ("我要找你们领导", (1, 2))]),
        # nested in the middle
        ("abcdef", [(0, 6, 1), (2, 4, 2)], [("ab", (1,)), ("cd", (1, 2)), ("ef", (1,))]),
        # out of range is clipped, empty and inverted spans mark nothing
        ("abc", [(1, 99, 1), (2, 2, 2), (3, 1, 3)], [("a", ()), ("bc", (1,))]),
        ("abc", [(-5, 1, 1)], [("a", (1,)), ("bc", ())]),
        # two findings on exactly the same words make one mark
        ("请等通知", [(1, 4, 1), (1, 4, 2)], [("请", ()), ("等通知", (1, 2))]),
        ("", [(0, 3, 1)], []),
    ],
)
def test_segments_cut_text_at_span_boundaries(text, spans, expected):
    got = segments(text, spans)
    assert [(s.text, s.marks) for s in got] == expected
    assert "".join(s.text for s in got) == text


def test_transcript_numbers_findings_in_reading_order_and_checks_spans():
    turns = [{"turn": 0, "speaker": "customer", "text": "东西还没到"}, {"turn": 1, "speaker": "agent", "text": "请等通知"}]
    findings = [
        {"check": "stalling_script", "turn": 1, "start": 1, "end": 4, "evidence": "等通知", "score": 1.0, "source": "s", "rule": ""},
        {"check": "missing_apology", "turn": 0, "start": 3, "end": 5, "evidence": "WRONG", "score": 0.5, "source": "s", "rule": ""},
    ]
    view = build_transcript("C1", turns, findings)
    assert [(f.number, f.check, f.span_ok) for f in view.findings] == [
        (1, "missing_apology", False),  # span text 没到 is not the recorded evidence
        (2, "stalling_script", True),
    ]
    assert view.findings[0].span_text == "没到"
    assert view.rows[1].pieces[1] == type(view.rows[1].pieces[1])(
        "等通知", (2,), "c-stalling_script", "stalling_script", "[2] stalling_script"
    )


def test_transcript_context_turns_leaves_gaps():
    turns = [{"turn": i, "speaker": "agent", "text": f"t{i}"} for i in range(10)]
    findings = [{"check": "blame_language", "turn": 5, "start": 0, "end": 2, "evidence": "t5", "score": 1.0, "source": "s"}]
    rows = build_transcript("C1", turns, findings, context_turns=1).rows
    assert [getattr(r, "turn", None) for r in rows] == [None, 4, 5, 6, None]
    assert [getattr(r, "skipped", None) for r in rows] == [4, None, None, None, 3]


# ---------------------------------------------------------------- the page


def test_every_finding_is_a_mark_with_its_evidence(html, tables):
    marks = parse(html).marks
    # findings whose span no other finding overlaps: their mark text is exactly the evidence
    overlapping = {("C004", 2)}
    for f in tables["findings"].iter_rows(named=True):
        if (f["call_id"], f["turn"]) not in overlapping:
            assert f["evidence"] in marks, f
    # the overlapping pair in C004 is cut flat, never nested
    assert "算了，太失望了，" in marks and "我要找你们领导" in marks
    assert "<mark" not in "".join(marks)


def test_check_source_rule_and_score_stand_beside_the_evidence(html):
    section = html[html.index('id="call-'):]
    assert "lexicon:blame.v1" in section and "是您自己" in section and "1.00" in section
    assert "pattern:stalling.v1" in section and "model:tags@1" in section


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_transcript_text_is_escaped(html, payload):
    assert payload not in html
    assert payload.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in html


def test_hostile_rule_name_is_escaped_and_only_two_scripts(html):
    assert "</script><script>alert(2)" not in html
    page = parse(html)
    assert [a.get("type") for a, _ in page.scripts] == ["application/json", None]
    assert not [t for t, a in page.tags if t == "img"]
    assert not [a for _, a in page.tags if any(k.startswith("on") for k in a)]


def test_data_block_cannot_be_closed_by_text_and_round_trips(html):
    body = html[html.index('id="qa-data">'):]
    body = body[: body.index("</script>")]
    assert "<" not in body.split(">", 1)[1]
    data = data_block(html)
    assert {c["call_id"] for c in data["calls"]} == {"C001", "C002", "C004", "C101", "C201"}
    c002 = next(c for c in data["calls"] if c["call_id"] == "C002")
    assert c002 | {"ai": None} == {"call_id": "C002", "agent_id": "A01", "ai": None, "date": "2026-11-03",
                                   "qa_score": 80.0, "checks": ["stalling_script", "escalation_risk"], "findings": 2}
    assert data["checks"][:3] == ["blame_language", "missing_apology", "stalling_script"]


@pytest.mark.parametrize("value", ["</script><script>alert(1)</script>", "a&b<!--c", "\u2028x\u2029", "引号\"'"])
def test_json_for_script_escapes_markup_characters(value):
    text = str(json_for_script({"v": value, "k": [value]}))
    assert not re.search(r"[<>&\u2028\u2029]", text)
    assert json.loads(text) == {"v": value, "k": [value]}


def test_page_is_self_contained_and_its_script_is_pinned_by_csp(html):
    page = parse(html)
    for tag, attrs in page.tags:
        for name in ("src", "href", "action"):
            value = attrs.get(name) or ""
            assert not re.match(r"(?i)\s*(https?:|//|ftp:)", value), (tag, name, value)
        assert tag not in ("link", "iframe", "object", "embed", "img")
    assert "@import" not in html and "url(" not in html
    csp = next(a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp
    script = next(body for attrs, body in page.scripts if attrs.get("type") is None)
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    assert f"'sha256-{digest}'" in csp


def test_overview_ranks_agents_and_sets_unranked_apart(html):
    ranked = html[html.index("Ranked agents, best QA score first"):html.index('id="unranked"')]
    assert ranked.index(">A02<") < ranked.index(">A01<")
    assert ">A03<" not in ranked
    unranked = html[html.index('id="unranked"'):html.index('id="charts"')]
    assert "fewer than 5 calls" in unranked and ">A03<" in unranked


def test_agent_sections_come_worst_first_with_their_flagged_calls(html):
    agents = html[html.index('<section id="agents">'):]
    heads = re.findall(r'<section class="agent" id="agent-\d+" data-ai="\d+">\s*<h3>([^<]+)<', agents)
    assert [h.strip() for h in heads] == ["A01", "A03", "A02"]
    a01 = agents[: agents.index(">A03")]
    assert a01.index(">C004<") < a01.index(">C001<") < a01.index(">C002<")  # lowest QA score first


def test_charts_are_inline_svg(html):
    assert html.count("<svg") == 3
    assert "Check rates per agent" in html and "Weekly QA score" in html and "Customer sentiment" in html
    assert "2026-W45" in html and "2026-W46" in html


def test_cap_keeps_the_worst_calls_per_agent_and_says_so(tables):
    html = render_report(tables["turns"], tables["findings"], tables["calls"], tables["scorecards"],
                         sample_manifest(tables), max_calls_per_agent=1)
    data = data_block(html)
    assert sorted(c["call_id"] for c in data["calls"]) == ["C004", "C101", "C201"]
    assert data["cap"] == {"max_calls_per_agent": 1, "context_turns": 3, "flagged_calls": 5, "shown_calls": 3}
    note = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html[html.index('id="cap-note"'):html.index("</p>", html.index('id="cap-note"'))]))
    assert "shows 3 of 5 flagged calls: the 1 worst per agent" in note
    assert "qa review" in note


def test_hostile_ids_are_escaped_everywhere(tables):
    evil = "</script><script>alert(7)</script>"
    t = {k: (v.with_columns(pl.col("agent_id").replace("A03", evil)) if "agent_id" in v.columns else v)
         for k, v in tables.items()}
    t["findings"] = t["findings"].with_columns(pl.col("call_id").replace("C201", f"C201{XSS_IMG}"))
    t["turns"] = t["turns"].with_columns(pl.col("call_id").replace("C201", f"C201{XSS_IMG}"))
    html = render_report(t["turns"], t["findings"], t["calls"], t["scorecards"], sample_manifest(t))
    assert evil not in html and XSS_IMG not in html
    assert evil in json.dumps(data_block(html), ensure_ascii=False)
    assert parse(html).scripts[0][0].get("type") == "application/json"


def test_empty_run_renders(tables):
    empty = {k: v.clear() for k, v in tables.items()}
    html = render_report(empty["turns"], empty["findings"], empty["calls"], empty["scorecards"], {})
    assert "All <b>0</b> flagged calls are shown" in html
    assert data_block(html)["calls"] == []


def test_write_report_writes_utf8_file(tmp_path, tables):
    path = tmp_path / "report.html"
    write_report(tmp_path, tables["turns"], tables["findings"], tables["calls"], tables["scorecards"],
                 sample_manifest(tables), path, max_calls_per_agent=None)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and "是您自己没看清楚" in text
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("kwargs", [{"max_calls_per_agent": -1}, {"context_turns": -2}])
def test_bad_options_are_refused(tables, kwargs):
    with pytest.raises(ValueError):
        render_report(tables["turns"], tables["findings"], tables["calls"], tables["scorecards"], {}, **kwargs)


def test_min_calls_is_named_on_the_page(tables):
    html = render_report(tables["turns"], tables["findings"], tables["calls"], tables["scorecards"], {}, min_calls=7)
    assert "Not ranked: fewer than 7 calls" in html
    html = render_report(tables["turns"], tables["findings"], tables["calls"], tables["scorecards"], {})
    assert "Not ranked: fewer than the minimum number of calls" in html
