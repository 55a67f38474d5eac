"""The review web app: a coach picks an agent, walks the agent's flagged calls
and marks each finding confirmed or dismissed, with an optional comment.

Plain HTML forms (POST, then a 303 redirect back to the call), no
JavaScript. Bound to 127.0.0.1 by default and meant for one machine:

- every form carries a per-session token (kept in Flask's signed session
  cookie, SameSite=Strict) and a POST without the right token is refused;
  a POST whose ``Origin`` is not the app's own is refused too;
- the ``Host`` header must name a loopback host (or the host the app was
  bound to), which stops DNS-rebinding pages from talking to it;
- a Content-Security-Policy without any script source: even a transcript
  that slipped past escaping could not run code. All text is autoescaped.

``create_app`` builds the Flask app; ``make_server`` binds it (port 0 picks
a free port); ``qa review`` runs it until Ctrl-C.
"""

from __future__ import annotations

import getpass
import hmac
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, abort, redirect, render_template, request, session, url_for
from jinja2 import ChoiceLoader, PackageLoader, StrictUndefined
from markupsafe import Markup
from werkzeug.serving import BaseWSGIServer, make_server as _werkzeug_server

from qa.report.html import fmt_num, fmt_pct, fmt_signed, static_text
from qa.report.spans import CHECK_TITLES, SPEAKER_TITLES, check_class
from qa.review.calibrate import calibrate
from qa.review.data import ReviewData
from qa.review.store import VERDICTS, VerdictStore

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_COMMENT = 2000

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"


def default_reviewer() -> str:
    try:
        return getpass.getuser() or "coach"
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "coach"


def create_app(
    data: ReviewData | str | Path,
    store: VerdictStore | str | Path,
    *,
    reviewer: str | None = None,
    bind_host: str = "127.0.0.1",
) -> Flask:
    """The review app over an output folder (or loaded :class:`ReviewData`) and a verdict store."""
    data = data if isinstance(data, ReviewData) else ReviewData(data)
    store = store if isinstance(store, VerdictStore) else VerdictStore(store)
    reviewer = (reviewer or default_reviewer()).strip() or "coach"
    allowed_hosts = set(LOOPBACK_HOSTS) | {bind_host.strip("[]")}
    any_host = bind_host in ("0.0.0.0", "::", "")

    app = Flask("qa.review", root_path=str(Path(__file__).parent))
    app.jinja_options = {"undefined": StrictUndefined, "trim_blocks": True, "lstrip_blocks": True}
    app.jinja_loader = ChoiceLoader([PackageLoader("qa.review", "templates"), PackageLoader("qa.report", "templates")])
    app.secret_key = secrets.token_bytes(32)
    app.config.update(
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_NAME="qa_review",
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.jinja_env.filters.update(pct=fmt_pct, num=fmt_num, signed=fmt_signed)
    app.jinja_env.globals.update(
        CHECK_TITLES=CHECK_TITLES,
        SPEAKER_TITLES=SPEAKER_TITLES,
        check_class=check_class,
        css=Markup(static_text("report.css")),
        reviewer=reviewer,
        out_dir=str(data.out_dir),
        db_path=str(store.path),
    )
    app.extensions["qa_review"] = {"data": data, "store": store, "reviewer": reviewer}

    def csrf_token() -> str:
        token = session.get("csrf")
        if not token:
            token = session["csrf"] = secrets.token_urlsafe(32)
        return token

    app.jinja_env.globals["csrf_token"] = csrf_token

    @app.before_request
    def guard() -> None:
        host = (urlsplit("//" + (request.host or "")).hostname or "").strip("[]")
        if not any_host and host not in allowed_hosts:
            abort(400, description=f"unexpected Host header {request.host!r}")
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if origin is not None and origin.rstrip("/") != request.host_url.rstrip("/"):
                abort(403, description="cross-origin form post refused")
            sent = request.form.get("csrf", "")
            token = session.get("csrf", "")
            if not token or not hmac.compare_digest(sent.encode(), token.encode()):
                abort(403, description="the form has expired (the review app restarted?): reload the page and try again")

    @app.after_request
    def headers(resp):
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "same-origin"  # "no-referrer" would make browsers send Origin: null
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.errorhandler(400)
    @app.errorhandler(403)
    @app.errorhandler(404)
    @app.errorhandler(413)
    def error(e):
        return render_template("error.html", code=e.code, message=e.description), e.code

    def progress(keys: list[str], latest: dict) -> dict:
        done = [latest[k] for k in keys if k in latest]
        return {
            "total": len(keys),
            "reviewed": len(done),
            "confirmed": sum(v.verdict == "confirmed" for v in done),
            "dismissed": sum(v.verdict == "dismissed" for v in done),
        }

    @app.get("/")
    def index():
        latest = store.latest(data.keys())
        agents = data.agents()
        for a in agents:
            a["progress"] = progress(a["keys"], latest)
        return render_template("index.html", agents=agents, totals=progress(data.keys(), latest))

    @app.get("/agent")
    def agent():
        agent_id = request.args.get("id", "")
        calls = data.agent_calls(agent_id)
        if calls is None:
            abort(404, description="no flagged calls for this agent in this output folder")
        latest = store.latest(k for c in calls for k in c["keys"])
        for c in calls:
            c["progress"] = progress(c["keys"], latest)
        todo = next((c["call_id"] for c in calls if c["progress"]["reviewed"] < c["progress"]["total"]), None)
        return render_template("agent.html", agent_id=agent_id, calls=calls, todo=todo)

    @app.get("/call")
    def call():
        page = data.call(request.args.get("id", ""))
        if page is None:
            abort(404, description="no flagged call with this id in this output folder")
        calls = data.agent_calls(page.agent_id) or []
        latest = store.latest(k for c in calls for k in c["keys"])
        ids = [c["call_id"] for c in calls]
        keys_of = {c["call_id"]: c["keys"] for c in calls}
        later = ids[page.position + 1 :] + ids[: page.position]
        next_open = next((cid for cid in later if any(k not in latest for k in keys_of[cid])), None)
        saved = request.args.get("saved", "")
        return render_template("call.html", page=page, latest=latest, saved=saved, next_open=next_open)

    @app.post("/verdict")
    def verdict():
        key = request.form.get("key", "")
        value = request.form.get("verdict", "")
        comment = request.form.get("comment", "").strip()
        finding = data.finding(key)
        if finding is None:
            abort(400, description="unknown finding")
        if value not in VERDICTS:
            abort(400, description=f"verdict must be one of {', '.join(VERDICTS)}")
        if len(comment) > MAX_COMMENT:
            abort(400, description=f"comment longer than {MAX_COMMENT} characters")
        store.record(finding, value, reviewer=reviewer, comment=comment, run=str(data.out_dir))
        page = data.call(finding.call_id)
        number = next((f.number for f in page.view.findings if f.key == key), "") if page else ""
        target = url_for("call", id=finding.call_id, saved=number)
        return redirect(f"{target}#c-f{number}", code=303)

    @app.get("/calibration")
    def calibration():
        return render_template("calibration.html", cal=calibrate(store.current()))

    return app


def make_server(app: Flask, host: str = "127.0.0.1", port: int = 8765) -> BaseWSGIServer:
    """Bind ``app`` (threaded); ``port=0`` picks a free port (see ``server.server_port``)."""
    return _werkzeug_server(host, port, app, threaded=True)
