"""The review side without a browser: finding keys, the verdict store, the web app
through Flask's test client, calibration, the labelled export and the commands."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from pathlib import Path

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from browser_util import PAYLOADS, write_sample_out
from qa.review.app import create_app
from qa.review.calibrate import calibrate, export_jsonl, implied_labels, labelled_turns, write_calibration
from qa.review.commands import calibrate as calibrate_command
from qa.review.commands import review as review_command
from qa.review.data import ReviewData, ReviewDataError
from qa.review.keys import finding_key
from qa.review.store import SCHEMA_VERSION, FindingRecord, StoreError, Verdict, VerdictStore


# ---------------------------------------------------------------- keys


def test_finding_key_is_sha1_of_the_json_array():
    expected = hashlib.sha1('["C0001","blame_language",3,"lexicon:blame.v1"]'.encode()).hexdigest()
    assert finding_key("C0001", "blame_language", 3, "lexicon:blame.v1") == expected


@pytest.mark.parametrize(
    "other",
    [("C0002", "blame_language", 3, "lexicon:blame.v1"), ("C0001", "stalling_script", 3, "lexicon:blame.v1"),
     ("C0001", "blame_language", 4, "lexicon:blame.v1"), ("C0001", "blame_language", 3, "lexicon:blame.v2")],
)
def test_finding_key_changes_with_each_part(other):
    assert finding_key(*other) != finding_key("C0001", "blame_language", 3, "lexicon:blame.v1")


def test_finding_key_is_unambiguous_about_separators():
    assert finding_key("a,b", "c", 1, "d") != finding_key("a", "b,c", 1, "d")


# ---------------------------------------------------------------- store


def _record(key="k1", call_id="C1", check="blame_language", source="lexicon:blame.v1", rule="是您自己", turn=1,
            speaker="agent", text="是您自己没看清楚", score=1.0) -> FindingRecord:
    return FindingRecord(finding_key=key, call_id=call_id, agent_id="A1", turn=turn, check=check, source=source,
                         rule=rule, evidence=text[:4], start=0, end=4, score=score, speaker=speaker, text=text)


def test_store_creates_and_migrates_to_current_version(tmp_path):
    store = VerdictStore(tmp_path / "r.db")
    assert store.version() == SCHEMA_VERSION == 1
    VerdictStore(tmp_path / "r.db")  # reopening migrates nothing and keeps rows
    with sqlite3.connect(tmp_path / "r.db") as conn:
        cols = [r[1] for r in conn.execute("PRAGMA table_info(verdicts)")]
    for col in ("finding_key", "verdict", "comment", "reviewer", "created_at", "check_name", "source", "rule",
                "evidence", "agent_id", "call_id", "turn"):
        assert col in cols


def test_store_refuses_a_newer_schema(tmp_path):
    with sqlite3.connect(tmp_path / "r.db") as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer"):
        VerdictStore(tmp_path / "r.db")


def test_store_refuses_a_foreign_database_when_not_creating(tmp_path):
    with sqlite3.connect(tmp_path / "other.db") as conn:
        conn.execute("CREATE TABLE stuff (x)")
    with pytest.raises(StoreError, match="not a qa verdict store"):
        VerdictStore(tmp_path / "other.db", create=False)
    with pytest.raises(StoreError, match="no verdict store"):
        VerdictStore(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()


def test_store_keeps_history_and_the_latest_verdict_wins(tmp_path):
    store = VerdictStore(tmp_path / "r.db")
    store.record(_record(), "confirmed", reviewer="lin", at="2026-11-12T08:00:00+00:00")
    store.record(_record(), "dismissed", reviewer="wang", comment="客户确实没看清", at="2026-11-12T09:00:00+00:00")
    store.record(_record(key="k2"), "confirmed", reviewer="lin")
    assert [v.verdict for v in store.history()] == ["confirmed", "dismissed", "confirmed"]
    latest = store.latest()
    assert latest["k1"].verdict == "dismissed" and latest["k1"].reviewer == "wang"
    assert set(store.latest(["k2", "nope"])) == {"k2"}
    assert [v.finding_key for v in store.current()] == ["k1", "k2"]


@pytest.mark.parametrize("verdict, reviewer", [("maybe", "lin"), ("confirmed", "  ")])
def test_store_rejects_bad_verdicts(tmp_path, verdict, reviewer):
    with pytest.raises(ValueError):
        VerdictStore(tmp_path / "r.db").record(_record(), verdict, reviewer=reviewer)


# ---------------------------------------------------------------- review data and app


@pytest.fixture
def out(tmp_path) -> Path:
    return write_sample_out(tmp_path / "out", report=False)


@pytest.fixture
def client(out, tmp_path):
    app = create_app(out, tmp_path / "reviews.db", reviewer="lin")
    app.config["TESTING"] = True
    return app.test_client()


def _form(html: str, number: int) -> dict:
    """The hidden fields of finding ``number``'s verdict form."""
    forms = re.findall(r'<form class="verdict".*?</form>', html, re.S)
    form = forms[number - 1]
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))


def test_review_data_orders_agents_and_calls_worst_first(out):
    data = ReviewData(out)
    assert [a["agent_id"] for a in data.agents()] == ["A01", "A03", "A02"]
    assert [c["call_id"] for c in data.agent_calls("A01")] == ["C004", "C001", "C002"]
    assert data.agent_calls("nobody") is None
    page = data.call("C001")
    assert (page.prev_id, page.next_id, page.position, page.total) == ("C004", "C002", 1, 3)


def test_review_data_needs_an_output_folder(tmp_path):
    with pytest.raises(ReviewDataError, match="qa score"):
        ReviewData(tmp_path)


def test_index_lists_agents_with_progress(client):
    html = client.get("/").get_data(as_text=True)
    assert html.index(">A01<") < html.index(">A03<") < html.index(">A02<")
    assert "0 of 9 findings reviewed" in html


def test_call_page_marks_evidence_and_escapes_hostile_text(client):
    resp = client.get("/call?id=C002")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    for payload in PAYLOADS:
        assert payload not in html
    assert "&lt;/textarea&gt;&lt;b id=pwned&gt;" in html
    assert '<mark class="c-stalling_script"' in html and ">帮您反馈一下，24小时内</mark>" in html
    assert "script-src" not in resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]


def test_confirm_and_dismiss_store_verdicts_with_copied_fields(client, tmp_path, out):
    html = client.get("/call?id=C001").get_data(as_text=True)
    first, second = _form(html, 1), _form(html, 2)
    resp = client.post("/verdict", data={**first, "verdict": "confirmed", "comment": "</textarea>确实是推诿"})
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/call?id=C001")
    resp = client.post("/verdict", data={**second, "verdict": "dismissed"})
    assert resp.status_code == 303

    rows = VerdictStore(tmp_path / "reviews.db").history()
    assert [(r.check, r.verdict) for r in rows] == [("missing_apology", "confirmed"), ("blame_language", "dismissed")]
    blame = rows[1]
    assert blame.finding_key == finding_key("C001", "blame_language", 1, "lexicon:blame.v1")
    assert (blame.call_id, blame.agent_id, blame.turn, blame.source, blame.rule, blame.evidence) == (
        "C001", "A01", 1, "lexicon:blame.v1", "是您自己", "是您自己没看清楚")
    assert (blame.speaker, blame.text, blame.reviewer) == ("agent", "这是您自己没看清楚地址，不是我们的问题", "lin")
    assert blame.created_at.endswith("+00:00")
    assert rows[0].comment == "</textarea>确实是推诿"

    html = client.get("/call?id=C001").get_data(as_text=True)
    assert 'data-verdict="confirmed"' in html and 'data-verdict="dismissed"' in html
    assert "</textarea>确实是推诿" not in html and "&lt;/textarea&gt;确实是推诿" in html


def test_verdicts_stay_attached_when_the_calls_are_rescored(client, out, tmp_path):
    html = client.get("/call?id=C002").get_data(as_text=True)
    client.post("/verdict", data={**_form(html, 2), "verdict": "confirmed"})
    # re-score: same calls, new scores and spans -> same keys
    findings = pl.read_parquet(out / "findings.parquet").with_columns(pl.col("score") * 0.5)
    findings.write_parquet(out / "findings.parquet")
    app = create_app(out, tmp_path / "reviews.db", reviewer="lin")
    html = app.test_client().get("/call?id=C002").get_data(as_text=True)
    assert html.count('data-verdict="confirmed"') == 1


def test_call_page_links_the_next_call_with_open_findings(client):
    html = client.get("/call?id=C004").get_data(as_text=True)
    assert 'id="next-open" href="/call?id=C001"' in html
    for number in (1, 2, 3):
        client.post("/verdict", data={**_form(html, number), "verdict": "confirmed"})
    html = client.get("/call?id=C001").get_data(as_text=True)
    for number in (1, 2):
        client.post("/verdict", data={**_form(html, number), "verdict": "dismissed"})
    html = client.get("/call?id=C004").get_data(as_text=True)
    assert 'id="next-open" href="/call?id=C002"' in html  # C001 is done now
    agent = client.get("/agent?id=A01").get_data(as_text=True)
    assert 'id="start" href="/call?id=C002"' in agent


@pytest.mark.parametrize(
    "change, status",
    [
        ({"csrf": "forged"}, 403),
        ({"csrf": ""}, 403),
        ({"verdict": "maybe"}, 400),
        ({"key": "0" * 40}, 400),
        ({"comment": "x" * 2001}, 400),
    ],
)
def test_bad_posts_are_refused_and_store_nothing(client, tmp_path, change, status):
    fields = {**_form(client.get("/call?id=C001").get_data(as_text=True), 1), "verdict": "confirmed", **change}
    assert client.post("/verdict", data=fields).status_code == status
    assert VerdictStore(tmp_path / "reviews.db").history() == []


def test_cross_origin_post_and_foreign_host_are_refused(client, tmp_path):
    fields = {**_form(client.get("/call?id=C001").get_data(as_text=True), 1), "verdict": "confirmed"}
    assert client.post("/verdict", data=fields, headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.post("/verdict", data=fields, headers={"Origin": "null"}).status_code == 403
    assert client.get("/", headers={"Host": "evil.example:8765"}).status_code == 400
    assert VerdictStore(tmp_path / "reviews.db").history() == []
    assert client.post("/verdict", data=fields, headers={"Origin": "http://localhost"}).status_code == 303


@pytest.mark.parametrize("url", ["/call?id=NOPE", "/agent?id=NOPE"])
def test_unknown_ids_are_404(client, url):
    assert client.get(url).status_code == 404


def test_calibration_page_shows_precision(client):
    html = client.get("/call?id=C001").get_data(as_text=True)
    client.post("/verdict", data={**_form(html, 1), "verdict": "confirmed"})
    page = client.get("/calibration").get_data(as_text=True)
    assert "1 reviewed findings: 1 confirmed, 0 dismissed" in page and "missing_apology" in page


# ---------------------------------------------------------------- calibration


def _verdict(i, check, verdict, *, source="lexicon:x.v1", rule="r", score=1.0, call_id="C1", turn=0,
             speaker="agent", text="某句话", at=None, comment="") -> Verdict:
    return Verdict(id=i, finding_key=f"k{i}", verdict=verdict, comment=comment, reviewer="lin",
                   created_at=at or f"2026-11-12T08:00:{i:02d}+00:00", call_id=call_id, agent_id="A1", turn=turn,
                   check=check, source=source, rule=rule, evidence=text[:2], span_start=0, span_end=2, score=score,
                   speaker=speaker, text=text, run="")


def test_precision_per_check_and_source_with_wilson_intervals():
    vs = [_verdict(1, "blame_language", "confirmed"), _verdict(2, "blame_language", "confirmed"),
          _verdict(3, "blame_language", "dismissed", rule="你应该"), _verdict(4, "stalling_script", "dismissed", source="model:m@1")]
    cal = calibrate(vs)
    blame = next(r for r in cal.by_check if r.group == "blame_language")
    assert (blame.confirmed, blame.dismissed, blame.precision) == (2, 1, 0.6667)
    assert blame.lo == pytest.approx(0.2077, abs=1e-4) and blame.hi == pytest.approx(0.9385, abs=1e-4)
    assert [r.group for r in cal.by_check] == ["blame_language", "stalling_script"]  # CHECKS order
    assert [r.group for r in cal.by_source] == ["model:m@1", "lexicon:x.v1"]  # lowest precision first
    assert (cal.reviewed, cal.confirmed, cal.dismissed) == (4, 2, 2)


def test_most_dismissed_rules_come_first_with_examples_and_comments():
    vs = [_verdict(i, "blame_language", "dismissed", rule="你应该", text=f"你应该{i}", comment="不是指责") for i in range(1, 4)]
    vs += [_verdict(9, "blame_language", "dismissed", rule="是您", text="是您")]
    vs += [_verdict(10, "blame_language", "confirmed", rule="是您", text="是您的错")]
    cal = calibrate(vs, top=1)
    assert len(cal.dismissed_rules) == 1
    top = cal.dismissed_rules[0]
    assert (top.rule, top.dismissed, top.confirmed, top.precision) == ("你应该", 3, 0, 0.0)
    assert top.examples == ("你应",)  # distinct evidence of the dismissals
    assert top.comments == ("不是指责",)


def test_score_hint_finds_the_threshold_for_target_precision():
    scores = [(0.55, "dismissed"), (0.6, "dismissed"), (0.65, "confirmed"), (0.8, "confirmed"), (0.9, "confirmed"),
              (0.95, "confirmed")]
    vs = [_verdict(i, "stalling_script", v, source="model:m@1", score=s) for i, (s, v) in enumerate(scores, 1)]
    (hint,) = calibrate(vs).score_hints
    assert (hint.threshold, hint.precision_at_threshold, hint.would_drop_dismissed, hint.would_drop_confirmed) == (
        0.65, 1.0, 2, 0)
    assert calibrate([_verdict(1, "blame_language", "dismissed")]).score_hints == []  # rules: one score only


def test_calibrate_wants_one_verdict_per_finding():
    with pytest.raises(ValueError, match="current"):
        calibrate([_verdict(1, "blame_language", "confirmed"), _verdict(1, "blame_language", "dismissed")])


@pytest.mark.parametrize(
    "check, speaker, verdict, labels, sentiment",
    [
        ("blame_language", "agent", "confirmed", {"blame": 1}, None),
        ("blame_language", "agent", "dismissed", {"blame": 0}, None),
        ("stalling_script", "agent", "confirmed", {"stalling": 1}, None),
        ("stalling_script", "agent", "dismissed", {"stalling": 0}, None),
        ("escalation_risk", "customer", "confirmed", {"escalation": 1}, None),
        ("escalation_risk", "customer", "dismissed", {"escalation": 0}, None),
        ("missing_apology", "customer", "confirmed", {"complaint": 1}, None),
        ("missing_apology", "agent", "confirmed", {"admission": 1}, None),
        ("missing_apology", "customer", "dismissed", {}, None),
        ("missing_solution", "customer", "confirmed", {"complaint": 1}, None),
        ("missing_solution", "customer", "dismissed", {}, None),
        ("upsell_during_complaint", "agent", "confirmed", {"upsell": 1}, None),
        ("upsell_during_complaint", "agent", "dismissed", {}, None),
        ("negative_ending", "customer", "confirmed", {}, "negative"),
        ("negative_ending", "customer", "dismissed", {}, None),
    ],
)
def test_verdicts_imply_documented_labels(check, speaker, verdict, labels, sentiment):
    assert implied_labels(_verdict(1, check, verdict, speaker=speaker)) == (labels, sentiment)


def test_labelled_turns_merge_per_turn_and_later_verdicts_win():
    vs = [
        _verdict(1, "blame_language", "confirmed", turn=1, text="是您自己没看清", at="2026-11-12T08:00:00+00:00"),
        _verdict(2, "blame_language", "dismissed", source="model:m@1", turn=1, text="是您自己没看清",
                 at="2026-11-12T09:00:00+00:00"),
        _verdict(3, "stalling_script", "confirmed", turn=1, text="是您自己没看清"),
        _verdict(4, "missing_apology", "dismissed", turn=0, speaker="customer", text="还没到"),
    ]
    records, unlabelled = labelled_turns(vs)
    assert unlabelled == 1
    (rec,) = records
    assert (rec["call_id"], rec["turn"], rec["speaker"], rec["text"]) == ("C1", 1, "agent", "是您自己没看清")
    assert rec["labels"] == {"blame": 0, "stalling": 1} and rec["tags"] == ["stalling"]
    assert [v["finding_key"] for v in rec["verdicts"]] == ["k1", "k3", "k2"]  # in time order
    assert rec["source"] == "review"


def test_export_writes_jsonl_that_reads_back(tmp_path):
    vs = [_verdict(1, "blame_language", "confirmed", text="<script>是您</script>"),
          _verdict(2, "negative_ending", "confirmed", turn=5, speaker="customer", text="算了")]
    summary = export_jsonl(vs, tmp_path / "sub" / "verdicts.jsonl")
    lines = (tmp_path / "sub" / "verdicts.jsonl").read_text(encoding="utf-8").splitlines()
    recs = [json.loads(line) for line in lines]
    assert (summary.lines, summary.unlabelled, summary.positives) == (2, 0, {"blame": 1})
    assert recs[0]["text"] == "<script>是您</script>" and recs[1]["sentiment"] == "negative" and recs[1]["labels"] == {}


def test_write_calibration_to_a_json_file_or_a_folder(tmp_path):
    cal = calibrate([_verdict(1, "blame_language", "dismissed"), _verdict(2, "blame_language", "confirmed")])
    (one,) = write_calibration(cal, tmp_path / "cal.json")
    assert json.loads(one.read_text(encoding="utf-8"))["by_check"][0]["precision"] == 0.5
    files = write_calibration(cal, tmp_path / "calib")
    assert sorted(p.name for p in files) == ["calibration.json", "dismissed_rules.csv", "precision_by_check.csv",
                                             "precision_by_check_source.csv", "precision_by_source.csv"]
    assert (tmp_path / "calib" / "precision_by_check.csv").read_text(encoding="utf-8").startswith(
        "group,confirmed,dismissed,reviewed,precision,lo,hi\nblame_language,1,1,2,0.5,")


# ---------------------------------------------------------------- commands


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("review")(review_command)
    app.command("calibrate")(calibrate_command)
    return app


def test_calibrate_command_reports_and_exports(cli, client, tmp_path):
    html = client.get("/call?id=C001").get_data(as_text=True)
    client.post("/verdict", data={**_form(html, 1), "verdict": "confirmed"})
    client.post("/verdict", data={**_form(html, 2), "verdict": "dismissed"})
    html = client.get("/call?id=C101").get_data(as_text=True)
    client.post("/verdict", data={**_form(html, 1), "verdict": "confirmed"})
    db = tmp_path / "reviews.db"
    result = CliRunner().invoke(cli, ["calibrate", "--db", str(db), "--out", str(tmp_path / "cal"),
                                      "--export", str(tmp_path / "v.jsonl")])
    assert result.exit_code == 0, result.output
    assert "3 reviewed findings (2 confirmed, 1 dismissed)" in result.output
    assert "precision per check" in result.output and "most dismissed rule entries" in result.output
    recs = [json.loads(x) for x in (tmp_path / "v.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["call_id"], r["turn"], r["labels"]) for r in recs] == [
        ("C001", 0, {"complaint": 1}), ("C001", 1, {"blame": 0}), ("C101", 1, {"stalling": 1})]
    assert (tmp_path / "cal" / "calibration.json").is_file()


def test_calibrate_command_needs_an_existing_store(cli, tmp_path):
    result = CliRunner().invoke(cli, ["calibrate", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 1 and "no verdict store" in result.output
    assert not (tmp_path / "none.db").exists()


def test_review_command_refuses_a_folder_without_findings(cli, tmp_path):
    result = CliRunner().invoke(cli, ["review", str(tmp_path), "--db", str(tmp_path / "r.db")])
    assert result.exit_code == 1 and "qa score" in result.output
