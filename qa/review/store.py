"""The verdict store: one SQLite file, one row per verdict a coach gives.

The schema is versioned with ``PRAGMA user_version``: :data:`MIGRATIONS`
lists the SQL that takes a database from version ``k`` to ``k + 1``, and
:func:`migrate` applies the missing ones, each in its own transaction
together with the version bump, when a store opens. A database written by a
newer qa (a higher version than this code knows) is refused, not touched.

Every verdict is a new row (a coach who changes their mind adds a row; the
history stays). The row copies what calibration and training need from the
finding and its turn (check, source, rule, evidence, span, score, agent,
call, turn, speaker, text), so the database alone is enough for
``qa calibrate``, even after the output folder is gone. The current verdict
on a finding is its latest row (by time, then id).
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

VERDICTS: tuple[str, ...] = ("confirmed", "dismissed")

#: SQL for version k -> k + 1, in order. Append, never edit a released entry.
MIGRATIONS: tuple[str, ...] = (
    # 1: the verdicts table.
    """
    CREATE TABLE verdicts (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        finding_key TEXT    NOT NULL,
        verdict     TEXT    NOT NULL CHECK (verdict IN ('confirmed', 'dismissed')),
        comment     TEXT    NOT NULL DEFAULT '',
        reviewer    TEXT    NOT NULL,
        created_at  TEXT    NOT NULL,
        call_id     TEXT    NOT NULL,
        agent_id    TEXT    NOT NULL,
        turn        INTEGER NOT NULL,
        check_name  TEXT    NOT NULL,
        source      TEXT    NOT NULL,
        rule        TEXT    NOT NULL DEFAULT '',
        evidence    TEXT    NOT NULL DEFAULT '',
        span_start  INTEGER,
        span_end    INTEGER,
        score       REAL,
        speaker     TEXT    NOT NULL DEFAULT '',
        text        TEXT    NOT NULL DEFAULT '',
        run         TEXT    NOT NULL DEFAULT ''
    );
    CREATE INDEX verdicts_by_key ON verdicts (finding_key, created_at, id);
    CREATE INDEX verdicts_by_call ON verdicts (call_id);
    """,
)

#: The schema version this code writes.
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(Exception):
    """The database cannot be used: newer schema, not a qa verdict store, unreadable."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """One row of the verdicts table. ``check`` is stored as ``check_name``."""

    id: int
    finding_key: str
    verdict: str
    comment: str
    reviewer: str
    created_at: str
    call_id: str
    agent_id: str
    turn: int
    check: str
    source: str
    rule: str
    evidence: str
    span_start: int | None
    span_end: int | None
    score: float | None
    speaker: str
    text: str
    run: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class FindingRecord:
    """What a verdict copies from the finding and its turn."""

    finding_key: str
    call_id: str
    agent_id: str
    turn: int
    check: str
    source: str
    rule: str = ""
    evidence: str = ""
    start: int | None = None
    end: int | None = None
    score: float | None = None
    speaker: str = ""
    text: str = ""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring ``conn``'s database to :data:`SCHEMA_VERSION`; return the version it had.

    Each step runs in one transaction with its ``user_version`` bump, so a
    failed step leaves the database at the previous version.
    """
    before = schema_version(conn)
    if before > SCHEMA_VERSION:
        raise StoreError(
            f"verdict store has schema version {before}, newer than this qa knows ({SCHEMA_VERSION}); upgrade qa"
        )
    for version in range(before, SCHEMA_VERSION):
        try:
            conn.executescript(f"BEGIN;\n{MIGRATIONS[version]}\nPRAGMA user_version = {version + 1};\nCOMMIT;")
        except sqlite3.Error as e:
            if conn.in_transaction:
                conn.rollback()
            raise StoreError(f"migrating the verdict store to version {version + 1} failed: {e}") from e
    return before


_COLUMNS = (
    "id, finding_key, verdict, comment, reviewer, created_at, call_id, agent_id, turn, check_name, source, "
    "rule, evidence, span_start, span_end, score, speaker, text, run"
)


class VerdictStore:
    """Verdicts in the SQLite file ``path`` (created and migrated on open).

    Opens a short-lived connection per operation, so one store can serve a
    threaded web server.
    """

    def __init__(self, path: str | Path, *, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.exists():
            raise StoreError(f"no verdict store at {self.path}")
        try:
            with self._connection() as conn:
                if not create:
                    self._check_is_store(conn)
                migrate(conn)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path}: not a usable SQLite database: {e}") from e

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 10000")
            yield conn
        finally:
            conn.close()

    def _check_is_store(self, conn: sqlite3.Connection) -> None:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if schema_version(conn) == 0 and tables:
            raise StoreError(f"{self.path} is a SQLite database but not a qa verdict store (tables: {sorted(tables)})")

    def version(self) -> int:
        with self._connection() as conn:
            return schema_version(conn)

    def record(
        self,
        finding: FindingRecord,
        verdict: str,
        *,
        reviewer: str,
        comment: str = "",
        run: str = "",
        at: str | None = None,
    ) -> Verdict:
        """Add one verdict row and return it. ``verdict`` is ``confirmed`` or ``dismissed``."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {list(VERDICTS)}, got {verdict!r}")
        if not reviewer.strip():
            raise ValueError("reviewer must not be empty")
        at = at or utc_now()
        values = (
            finding.finding_key, verdict, comment, reviewer, at, finding.call_id, finding.agent_id, int(finding.turn),
            finding.check, finding.source, finding.rule or "", finding.evidence or "", finding.start, finding.end,
            finding.score, finding.speaker or "", finding.text or "", run,
        )
        with self._connection() as conn:
            cur = conn.execute(
                f"INSERT INTO verdicts ({_COLUMNS.split(', ', 1)[1]}) VALUES ({', '.join('?' * len(values))})", values
            )
            row = conn.execute(f"SELECT {_COLUMNS} FROM verdicts WHERE id = ?", (cur.lastrowid,)).fetchone()
        return Verdict(*row)

    def history(self) -> list[Verdict]:
        """Every verdict row, oldest first."""
        with self._connection() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM verdicts ORDER BY created_at, id").fetchall()
        return [Verdict(*r) for r in rows]

    def latest(self, keys: Iterable[str] | None = None) -> dict[str, Verdict]:
        """The current verdict per finding key (of all keys, or only of ``keys``)."""
        newest = (
            f"SELECT {_COLUMNS} FROM verdicts v WHERE v.id = (SELECT w.id FROM verdicts w "
            "WHERE w.finding_key = v.finding_key ORDER BY w.created_at DESC, w.id DESC LIMIT 1)"
        )
        rows: list[tuple] = []
        with self._connection() as conn:
            if keys is None:
                rows = conn.execute(newest).fetchall()
            else:
                wanted = sorted(set(keys))
                for k in range(0, len(wanted), 500):
                    chunk = wanted[k : k + 500]
                    sql = f"{newest} AND v.finding_key IN ({', '.join('?' * len(chunk))})"
                    rows.extend(conn.execute(sql, chunk).fetchall())
        return {r[1]: Verdict(*r) for r in rows}

    def current(self) -> list[Verdict]:
        """The current verdict of every reviewed finding, oldest first."""
        return sorted(self.latest().values(), key=lambda v: (v.created_at, v.id))
