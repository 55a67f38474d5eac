"""``qa review`` and ``qa calibrate``: thin typer commands over :mod:`qa.review`.

Registered in ``qa/cli.py`` with::

    from qa.review.commands import calibrate, review
    app.command("review")(review)
    app.command("calibrate")(calibrate)

Exit codes as for every qa command: 0 ok, 1 usage or setup error.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

EXIT_USAGE = 1

_out = Console()
_err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    _err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(EXIT_USAGE)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def review(
    out: Annotated[
        Path, typer.Argument(help="Output folder of a `qa score` run (reads findings, turns and calls parquet files).")
    ],
    db: Annotated[
        Path, typer.Option("--db", help="SQLite verdict store; created when missing. Keep it outside OUT.")
    ] = Path("reviews.db"),
    host: Annotated[
        str, typer.Option("--host", help="Address to bind. Anything but loopback exposes it unauthenticated.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free port).")] = 8765,
    reviewer: Annotated[
        Optional[str], typer.Option("--reviewer", help="Name recorded with each verdict (default: your login name).")
    ] = None,
) -> None:
    """Review flagged calls in a local web app: confirm or dismiss each finding, with a comment.

    Verdicts go to the SQLite file --db (one row per verdict). Open the
    printed address in a browser; stop with Ctrl-C.
    """
    from qa.review.app import create_app, make_server
    from qa.review.data import ReviewData, ReviewDataError
    from qa.review.store import StoreError, VerdictStore

    try:
        data = ReviewData(out)
        store = VerdictStore(db)
    except (ReviewDataError, StoreError) as e:
        raise _fail(str(e)) from None
    app = create_app(data, store, reviewer=reviewer, bind_host=host)
    try:
        server = make_server(app, host, port)
    except OSError as e:
        raise _fail(f"cannot listen on {host}:{port}: {e}") from None
    if not _is_loopback(host):
        _err.print(
            f"[yellow]warning:[/yellow] listening on {host}: anyone who can reach this machine can read the "
            "transcripts and record verdicts (there is no login)",
            highlight=False,
        )
    shown = f"[{host}]" if ":" in host else host
    n_agents = len(data.agents())
    _out.print(
        f"qa review: {data.findings.height} findings of {n_agents} agents in {data.out_dir}; "
        f"verdicts -> {store.path}; reviewer {app.extensions['qa_review']['reviewer']}",
        highlight=False,
    )
    _out.print(f"open http://{shown}:{server.server_port}/  (Ctrl-C to stop)", highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _precision_table(title: str, rows) -> Table:
    t = Table(title=title, show_header=True)
    for col, justify in (("group", "left"), ("reviewed", "right"), ("confirmed", "right"), ("dismissed", "right"),
                         ("precision", "right"), ("95% interval", "right")):
        t.add_column(col, justify=justify)
    for r in rows:
        p = "–" if r.precision is None else f"{r.precision:.1%}"
        t.add_row(r.group, str(r.reviewed), str(r.confirmed), str(r.dismissed), p, f"{r.lo:.1%}–{r.hi:.1%}")
    return t


def calibrate(
    db: Annotated[Path, typer.Option("--db", help="SQLite verdict store written by `qa review`.")] = Path("reviews.db"),
    out: Annotated[
        Optional[Path],
        typer.Option("--out", help="Write the calibration: a .json file, or a folder (calibration.json + CSV tables)."),
    ] = None,
    export: Annotated[
        Optional[Path],
        typer.Option("--export", help="Write verdicts as labelled JSONL for training (see qa.review.calibrate)."),
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="How many most-dismissed rule entries to list.")] = 10,
) -> None:
    """Precision per check and per source from coaches' verdicts, the most dismissed rule entries,
    score thresholds for model sources, and optionally an export of verdicts as labelled JSONL."""
    from qa.review.calibrate import calibrate as run_calibrate
    from qa.review.calibrate import export_jsonl, write_calibration
    from qa.review.store import StoreError, VerdictStore

    try:
        store = VerdictStore(db, create=False)
    except StoreError as e:
        raise _fail(str(e)) from None
    current = store.current()
    cal = run_calibrate(current, top=top)
    _out.print(
        f"{cal.reviewed} reviewed findings ({cal.confirmed} confirmed, {cal.dismissed} dismissed) "
        f"by {', '.join(cal.reviewers) or 'nobody'} in {db}",
        highlight=False,
    )
    if cal.reviewed:
        _out.print(_precision_table("precision per check", cal.by_check))
        _out.print(_precision_table("precision per source", cal.by_source))
        if cal.dismissed_rules:
            t = Table(title="most dismissed rule entries", show_header=True)
            for col in ("check", "source", "rule", "dismissed", "confirmed", "examples"):
                t.add_column(col)
            for r in cal.dismissed_rules:
                t.add_row(r.check, r.source, r.rule or "–", str(r.dismissed), str(r.confirmed), " | ".join(r.examples))
            _out.print(t)
        if cal.score_hints:
            t = Table(title=f"score thresholds for {cal.target_precision:.0%} precision", show_header=True)
            for col in ("check", "source", "reviewed", "mean confirmed", "mean dismissed", "threshold", "would drop"):
                t.add_column(col)
            for h in cal.score_hints:
                fmt = lambda v: "–" if v is None else f"{v:.2f}"  # noqa: E731
                drop = "–" if h.threshold is None else f"{h.would_drop_dismissed} dismissed, {h.would_drop_confirmed} confirmed"
                t.add_row(h.check, h.source, str(h.reviewed), fmt(h.mean_score_confirmed), fmt(h.mean_score_dismissed),
                          fmt(h.threshold), drop)
            _out.print(t)
    if out is not None:
        for path in write_calibration(cal, out):
            _out.print(f"wrote {path}", highlight=False)
    if export is not None:
        summary = export_jsonl(current, export)
        _out.print(
            f"wrote {summary.lines} labelled turns to {summary.path} "
            f"({summary.unlabelled} reviewed turns imply no label); "
            f"positive: {summary.positives or '{}'}; negative: {summary.negatives or '{}'}",
            highlight=False,
        )
