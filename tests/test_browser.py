"""In a real browser: headless Chromium from Debian's ``chromium`` package, driven by
Playwright (never its own browser download). The report opens from file://
and filters; the review app runs on 127.0.0.1 and records verdicts.

Without /usr/bin/chromium these tests skip locally and FAIL under CI=true.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from browser_util import XSS_IMG, XSS_SCRIPT, launch, require_chromium, write_sample_out
from qa.review.keys import finding_key
from qa.review.store import VerdictStore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        try:
            yield b
        finally:
            b.close()


class Watched:
    """A page plus what it did that it must not: dialogs, script errors, requests off the page's own origin."""

    def __init__(self, page, allowed_prefix: str):
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: None if r.url.startswith(allowed_prefix) else self.requests.append(r.url))

    def assert_clean(self) -> None:
        assert self.dialogs == [], "a script in the data ran"
        assert self.errors == []
        assert self.requests == []
        assert self.page.locator("img").count() == 0
        assert self.page.locator("#pwned").count() == 0


@pytest.fixture(scope="module")
def report_url(tmp_path_factory) -> str:
    out = write_sample_out(tmp_path_factory.mktemp("report") / "out")
    return (out / "report.html").as_uri()


@pytest.fixture
def report(browser, report_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watched = Watched(page, "file://")
    page.goto(report_url)
    page.wait_for_selector("html[data-ready='1']")
    yield watched
    context.close()


def visible_calls(page) -> list[str]:
    return [h.text_content() for h in page.locator("article.call:visible h4").all()]


def test_report_filter_by_agent_shows_that_agents_marked_evidence(report):
    page = report.page
    assert sorted(visible_calls(page)) == ["C001", "C002", "C004", "C101", "C201"]
    page.select_option("#f-agent", label="A02")
    assert visible_calls(page) == ["C101"]
    assert page.locator("section.agent:visible h3").all_inner_texts()[0].startswith("A02")
    mark = page.locator("article.call:visible mark")
    assert mark.count() == 1 and mark.is_visible()
    assert mark.inner_text() == "请等通知"
    assert mark.get_attribute("title") == "[1] stalling_script"
    beside = page.locator("article.call:visible li.finding").inner_text()
    assert "stalling_script" in beside and "lexicon:stalling.v1" in beside and "等通知" in beside and "1.00" in beside
    assert page.locator("#f-count").inner_text() == "1 of 5 flagged calls shown"
    assert page.locator("table.overview tr.sel td.agent").inner_text() == "A02"
    assert page.locator("svg.chart .series.sel").count() == 2  # its weekly line and its sentiment line
    assert "#f?agent=A02" in page.url
    report.assert_clean()


def test_report_filter_by_check_and_date(report):
    page = report.page
    page.select_option("#f-check", "stalling_script")
    assert sorted(visible_calls(page)) == ["C002", "C101"]
    other = page.locator("article.call:visible mark.other")
    assert other.all_inner_texts() == [f"我要投诉 {XSS_SCRIPT}"]  # C002's escalation mark is toned down
    page.select_option("#f-check", "")
    page.fill("#f-from", "2026-11-10")
    assert visible_calls(page) == ["C004"]
    page.fill("#f-to", "2026-11-05")  # a range given backwards is read forwards
    assert sorted(visible_calls(page)) == ["C004", "C201"]  # 2026-11-05 .. 2026-11-10
    page.click("#f-reset")
    assert len(visible_calls(page)) == 5
    report.assert_clean()


def test_report_filter_state_loads_from_the_url(browser, report_url):
    context = browser.new_context()
    page = context.new_page()
    watched = Watched(page, "file://")
    page.goto(report_url + "#f?agent=A01&check=escalation_risk")
    page.wait_for_selector("html[data-ready='1']")
    assert sorted(visible_calls(page)) == ["C002", "C004"]
    watched.assert_clean()
    context.close()


def test_report_shows_hostile_text_as_text(report):
    page = report.page
    turn = page.locator("ol.transcript > li", has_text="又是等通知")
    assert turn.locator(":scope > span").inner_text() == "</textarea><b id=pwned>bold</b> 又是等通知"
    said = page.locator("ol.transcript > li", has_text="24小时内").locator(":scope > span").inner_text()
    assert said.endswith(XSS_IMG)
    assert page.locator("mark", has_text="alert(1)").inner_text() == f"我要投诉 {XSS_SCRIPT}"
    report.assert_clean()


# ---------------------------------------------------------------- the review app


@pytest.fixture
def review_app(tmp_path):
    from qa.review.app import create_app, make_server

    out = write_sample_out(tmp_path / "out", report=False)
    db = tmp_path / "reviews.db"
    server = make_server(create_app(out, db, reviewer="coach-test"), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", db
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_review_confirm_one_finding_and_dismiss_another(browser, review_app):
    base, db = review_app
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watched = Watched(page, base)
    page.goto(base + "/")
    page.click("table.agents a:text-is('A01')")
    page.click("#start")  # the worst call with open findings
    assert page.locator("h1").inner_text().startswith("C004")
    assert page.locator("mark", has_text="打12315投诉").first.is_visible()

    first = page.locator("li.finding").nth(0)
    first.locator("textarea").fill("客户明确说要打12315 </textarea><script>alert(5)</script>")
    first.locator("button.confirm").click()
    page.wait_for_selector("#saved")
    page.locator("li.finding").nth(1).locator("button.dismiss").click()
    page.wait_for_selector("#saved:has-text('finding 2')")
    states = page.locator("li.finding .state").evaluate_all("els => els.map(e => e.dataset.verdict)")
    assert states == ["confirmed", "dismissed", ""]

    rows = VerdictStore(db).history()
    assert [(r.call_id, r.check, r.turn, r.verdict, r.reviewer) for r in rows] == [
        ("C004", "escalation_risk", 0, "confirmed", "coach-test"),
        ("C004", "negative_ending", 2, "dismissed", "coach-test"),
    ]
    assert rows[0].finding_key == finding_key("C004", "escalation_risk", 0, "lexicon:escalation.v1")
    assert rows[0].comment == "客户明确说要打12315 </textarea><script>alert(5)</script>"
    assert rows[1].source == "model:sentiment@1" and rows[1].text == "算了，太失望了，我要找你们领导"
    # the stored comment comes back as text inside the textarea
    assert page.locator("li.finding").nth(0).locator("textarea").input_value() == rows[0].comment
    watched.assert_clean()
    context.close()


def test_review_page_shows_hostile_text_as_text(browser, review_app):
    base, _ = review_app
    context = browser.new_context()
    page = context.new_page()
    watched = Watched(page, base)
    page.goto(base + "/call?id=C002")
    said = page.locator("ol.transcript > li > span").all_inner_texts()
    assert said[0] == f"我要投诉 {XSS_SCRIPT} 你们的服务"
    assert said[2] == "</textarea><b id=pwned>bold</b> 又是等通知"
    assert page.locator("textarea").count() == 2  # the </textarea> in the text closed nothing
    watched.assert_clean()
    context.close()


def test_chromium_is_debians(browser):
    assert Path("/usr/bin/chromium").exists()
    assert browser.version.split(".")[0].isdigit()


@pytest.mark.parametrize("ci, outcome", [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_missing_chromium_skips_locally_but_fails_on_ci(monkeypatch, ci, outcome):
    import browser_util

    monkeypatch.setattr(browser_util, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="/nonexistent/chromium not found"):
        browser_util.require_chromium()
