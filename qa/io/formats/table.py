"""Long tables: CSV, TSV and Parquet with one row per turn.

Column names are mapped by ``input.columns`` in the config (canonical field
-> header in the file, matched case-insensitively); :data:`DEFAULT_COLUMNS`
applies where the config has no such key. ``call_id``, ``agent_id``,
``speaker`` and ``text`` are required columns; a file lacking one is a single
error for the whole file.

Grouping, in two passes with flat memory: the first pass reads only which
call each row belongs to and where each call's last row is; the second
reads the rows again and hands out each call as soon as its last row has
been read, holding only the rows of calls still open. So a call's rows need
not be contiguous (a shuffled export costs memory, not correctness), and
for the usual export, one call after the other, calls come out in file
order. Turns are ordered by the ``turn`` column when the table has one (a
missing or repeated index is an error), else by ``start_ms`` when every row
of the call has it (stable, so ties keep row order), else in row order.
``agent_id``, ``started_at`` and ``queue`` are taken from the rows that fill
them; two different values in one call are an error. Parquet files are
loaded as Arrow (compact); rows become Python objects one call at a time.

Where errors point: for CSV/TSV, a RecordError's ``line`` is the physical
line of the row in the file, counting the header as line 1 (so data row N is
line N+1 unless a quoted field spans lines); for Parquet it is the 1-based
data row. ``extra["row"]`` always holds the 1-based data row. A call with any
bad row is rejected as a whole, in one error naming its first bad row (and
listing the others). A row whose call_id cannot be read belongs to no call:
it is its own error, unless it sits between two rows of the same call, in
which case that call is rejected too (it probably lost a turn).
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import polars as pl

from qa.config import Config
from qa.io.encoding import UTF8_BOM, UTF16_BOMS, Line, LineDecoder, Undecodable, iter_lines
from qa.io.formats.base import (
    BadRecord,
    InputFile,
    open_binary,
    opt_int,
    opt_str,
    req_id,
    short,
    stream_error,
    turn_fields,
)
from qa.types import Call, RecordError, Speaker, Turn

#: Canonical fields of a long table, in the order writers emit them.
FIELDS: tuple[str, ...] = (
    "call_id",
    "agent_id",
    "started_at",
    "queue",
    "turn",
    "speaker",
    "text",
    "start_ms",
    "end_ms",
)
REQUIRED: tuple[str, ...] = ("call_id", "agent_id", "speaker", "text")

#: Column names used when the config has no ``input.columns``.
DEFAULT_COLUMNS: dict[str, str] = {f: f for f in FIELDS}

# Python's csv module refuses fields over 128 KiB by default; a long turn is
# rejected by max_turn_chars with a clear reason instead. The limit is global
# to the csv module; raising it only lets longer fields through.
_CSV_FIELD_LIMIT = 2**31 - 1
_MAX_LISTED = 10


def table_columns(config: Config | Mapping[str, str] | None) -> dict[str, str]:
    """Canonical field -> column name, from ``config.input.columns`` over the defaults."""
    cols: Any = config
    if config is not None and not isinstance(config, Mapping):
        cols = getattr(getattr(config, "input", None), "columns", None)
    if cols is not None and hasattr(cols, "model_dump"):
        cols = cols.model_dump()
    out = dict(DEFAULT_COLUMNS)
    if cols:
        unknown = sorted(set(cols) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown table field(s) {unknown}; known: {list(FIELDS)}")
        out.update({k: str(v) for k, v in cols.items() if v})
    return out


@dataclass(slots=True)
class _Row:
    line: int  # physical line (CSV/TSV) or data row (Parquet)
    row: int  # 1-based data row
    fields: Sequence[Any]  # as read; _Layout says which field is where
    error: str | None = None


@dataclass
class _Layout:
    """Where each canonical field sits in a row's ``fields``."""

    where: dict[str, int]

    def get(self, r: _Row, key: str) -> Any:
        i = self.where.get(key)
        return r.fields[i] if i is not None and i < len(r.fields) else None


def _locate(columns: dict[str, str], header: list[str]) -> tuple[dict[str, int], list[str]]:
    """Index of each mapped field in ``header``, and the required fields it lacks."""
    folded: dict[str, int] = {}
    for i, name in enumerate(header):
        folded.setdefault(name.strip().casefold(), i)
    where = {f: folded[c.strip().casefold()] for f, c in columns.items() if c.strip().casefold() in folded}
    missing = [f for f in REQUIRED if f not in where]
    return where, missing


def _missing_columns(missing: list[str], columns: dict[str, str], header: list[str]) -> str:
    names = ", ".join(f"'{columns[f]}'" + ("" if columns[f] == f else f" (for {f})") for f in missing)
    return (
        f"table lacks required column(s) {names}; its columns are {header[:30]}; "
        "map them with input.columns in the config"
    )


# --- CSV / TSV ----------------------------------------------------------------


class _Restart(Exception):
    """The fast path cannot read this file; read it line by line instead."""


class _Fatal(Exception):
    """The file cannot be read as a table at all (one error for the file)."""


class _LineFeed:
    """Feeds decoded lines to csv.reader, remembering the lines of the row being read."""

    def __init__(self, lines: Iterator[Line]):
        self._lines = lines
        self.current: list[Line] = []

    def __iter__(self) -> Iterator[str]:
        for line in self._lines:
            self.current.append(line)
            yield line.text + "\n"

    def take(self) -> list[Line]:
        out, self.current = self.current, []
        return out


def _header(fields: list[str], columns: dict[str, str]) -> tuple[_Layout, int]:
    header = [x.lstrip("\ufeff") for x in fields]
    where, missing = _locate(columns, header)
    if missing:
        raise _Fatal(_missing_columns(missing, columns, header))
    return _Layout(where), len(header)


def _ragged(n: int, width: int, start: int, end: int) -> str:
    error = f"has {n} fields, the header has {width}"
    if end > start:
        error += f" (the row spans lines {start}-{end}: an unbalanced quote?)"
    return error


class _CsvTable:
    """A CSV or TSV file whose rows can be read more than once.

    A file that is valid UTF-8 throughout and parses cleanly takes a fast,
    streaming path; anything else is read line by line, so that each
    undecodable or malformed row is found and named.
    """

    unit = "line"

    def __init__(self, f: InputFile, columns: dict[str, str]):
        if csv.field_size_limit() < _CSV_FIELD_LIMIT:
            csv.field_size_limit(_CSV_FIELD_LIMIT)
        self.f = f
        self.columns = columns
        self.delimiter = "\t" if f.format == "tsv" else ","
        self.layout = _Layout({})
        self.fast = True

    def rows(self) -> Iterator[_Row]:
        if self.fast:
            return self._fast_rows()
        return self._rows_by_line()

    def _fast_rows(self) -> Iterator[_Row]:
        with open_binary(self.f) as fh:
            head = fh.peek(3)[:3]  # type: ignore[attr-defined]
            if head[:2] in UTF16_BOMS:
                raise _Restart
            text = io.TextIOWrapper(fh, encoding="utf-8-sig", errors="strict", newline="\n")
            reader = csv.reader(text, delimiter=self.delimiter, strict=True)
            width = 0
            end = 0
            n = 0
            try:
                for fields in reader:
                    start, end = end + 1, reader.line_num
                    if not "".join(fields).strip():
                        continue
                    if not width:
                        self.layout, width = _header(fields, self.columns)
                        continue
                    n += 1
                    error = None if len(fields) == width else _ragged(len(fields), width, start, end)
                    yield _Row(start, n, fields, error)
            except (UnicodeDecodeError, csv.Error):
                raise _Restart from None
            if stream_error(fh):
                raise _Restart
        self.f.encoding = "utf-8-sig" if head == UTF8_BOM else "utf-8"

    def _rows_by_line(self) -> Iterator[_Row]:
        decoder = LineDecoder()
        width = 0
        n = 0
        with open_binary(self.f) as fh:
            feed = _LineFeed(iter_lines(fh, decoder))
            reader = csv.reader(feed, delimiter=self.delimiter, strict=True)
            while True:
                parse_error: str | None = None
                try:
                    fields = next(reader)
                except StopIteration:
                    break
                except csv.Error as e:
                    parse_error = f"malformed {self.f.format.upper()} row: {e}"
                    fields = []
                lines = feed.take()
                if not lines:
                    break
                if parse_error:
                    # Re-read leniently, only to find which call the row belongs to.
                    fields = next(csv.reader(["\n".join(ln.text for ln in lines)], delimiter=self.delimiter), [])
                elif not "".join(fields).strip():
                    continue
                if not width:
                    bad = next((ln for ln in lines if ln.error), None)
                    if bad is not None:
                        raise _Fatal(f"line {bad.number}: header: {bad.error}")
                    self.layout, width = _header(fields, self.columns)
                    continue
                n += 1
                error = next((_line_error(ln, lines[0]) for ln in lines if ln.error), None)
                if error is None and parse_error:
                    error = parse_error
                    if len(lines) > 1:
                        error += f" (the row spans lines {lines[0].number}-{lines[-1].number}: an unbalanced quote?)"
                elif error is None and len(fields) != width:
                    error = _ragged(len(fields), width, lines[0].number, lines[-1].number)
                yield _Row(lines[0].number, n, fields, error)
        self.f.encoding = decoder.name


def _line_error(line: Line, first: Line) -> str:
    return str(line.error) if line is first else f"line {line.number}: {line.error}"


# --- Parquet ------------------------------------------------------------------


def _plain(value: Any, decoder: LineDecoder) -> Any:
    """A Parquet cell as the reader wants it: timestamps as ISO 8601, bytes decoded."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return decoder.decode(bytes(value))
    return value


class _ParquetTable:
    """A Parquet file, held as Arrow; its rows become Python objects as they are read."""

    unit = "row"

    def __init__(self, f: InputFile, columns: dict[str, str]):
        f.encoding = "utf-8"
        try:
            with open_binary(f) as fh:
                data = fh.read()
                broken = stream_error(fh)
            if broken:
                raise _Fatal(f"cannot read Parquet: {broken}")
            df = pl.read_parquet(io.BytesIO(data))
        except _Fatal:
            raise
        except Exception as e:  # noqa: BLE001 - any failure to read the file is reported, not raised
            raise _Fatal(f"cannot read Parquet: {type(e).__name__}: {str(e)[:300]}") from None
        where, missing = _locate(columns, df.columns)
        if missing:
            raise _Fatal(_missing_columns(missing, columns, df.columns))
        self.names = list(where)
        self.columns = columns
        self.frame = df.select([pl.col(df.columns[where[k]]).alias(k) for k in self.names])
        self.layout = _Layout({k: i for i, k in enumerate(self.names)})
        simple = (pl.String, pl.Int64, pl.Int32, pl.Float64)
        self.convert = [i for i, t in enumerate(self.frame.schema.values()) if not isinstance(t, simple)]

    def rows(self) -> Iterator[_Row]:
        decoder = LineDecoder()
        for n, values in enumerate(self.frame.iter_rows(), start=1):
            error: str | None = None
            if self.convert:
                fixed = list(values)
                for i in self.convert:
                    try:
                        fixed[i] = _plain(fixed[i], decoder)
                    except Undecodable as e:
                        error = error or f"column '{self.columns[self.names[i]]}': {e}"
                values = tuple(fixed)
            yield _Row(n, n, values, error)


# --- Grouping rows into calls -------------------------------------------------


class _CallRejected(Exception):
    def __init__(self, bad: list[tuple[_Row, str]]):
        super().__init__(bad[0][1])
        self.bad = bad


def _shared_value(key: str, value: Any) -> str | None:
    """agent_id / started_at / queue of one row, None when empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if key == "agent_id":
        return req_id(value, key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return opt_str(value, key)


def _build_call(
    call_id: str,
    rows: list[_Row],
    layout: _Layout,
    config: Config,
    source: str,
    unit: str,
    bad: list[tuple[_Row, str]],
) -> Call:
    """One call from its rows; raises :class:`_CallRejected` listing every bad row (``bad`` included)."""
    bad = list(bad)
    keyed: list[tuple[int, tuple[Speaker, str, int | None, int | None], _Row]] = []
    shared: dict[str, tuple[str, _Row]] = {}
    last_raw: dict[str, Any] = {}
    # Rows without an error have every column (ragged rows are errors), so plain indexing is safe.
    at = {k: layout.where.get(k) for k in FIELDS}
    i_speaker, i_text, i_start, i_end, i_turn = (at[k] for k in ("speaker", "text", "start_ms", "end_ms", "turn"))
    for r in rows:
        if r.error is not None:
            bad.append((r, r.error))
            continue
        v = r.fields
        try:
            fields = turn_fields(
                v[i_speaker],  # type: ignore[index]
                v[i_text],  # type: ignore[index]
                None if i_start is None else v[i_start],
                None if i_end is None else v[i_end],
                config,
                lenient=True,
            )
            index = len(keyed) if i_turn is None else opt_int(v[i_turn], "turn", lenient=True)
            if index is None:
                raise BadRecord("missing turn index")
            for key in ("agent_id", "started_at", "queue"):
                i = at[key]
                raw = None if i is None else v[i]
                if key in last_raw and raw == last_raw[key]:
                    continue  # the common case: the same value as the row before
                value = _shared_value(key, raw)
                if value is None:
                    continue
                last_raw[key] = raw
                if key in shared and shared[key][0] != value:
                    first, at = shared[key]
                    raise BadRecord(
                        f"{key} {short(value)} differs from {short(first)} at {unit} {at.line} of the same call"
                    )
                shared.setdefault(key, (value, r))
        except BadRecord as e:
            bad.append((r, str(e)))
            continue
        keyed.append((index, fields, r))
    if not bad and "agent_id" not in shared:
        bad.append((rows[0], "missing or empty 'agent_id'"))
    if not bad:
        keyed, problem = _order(keyed, layout, unit)
        if problem:
            bad.append(problem)
    if bad:
        raise _CallRejected(sorted(bad, key=lambda b: b[0].line))
    return Call(
        call_id=call_id,
        agent_id=shared["agent_id"][0],
        turns=tuple(Turn(i, *fields) for i, (_, fields, _) in enumerate(keyed)),
        started_at=shared["started_at"][0] if "started_at" in shared else None,
        queue=shared["queue"][0] if "queue" in shared else None,
        source=source,
        line=rows[0].line,
    )


_Keyed = list[tuple[int, tuple[Speaker, str, int | None, int | None], _Row]]


def _order(keyed: _Keyed, layout: _Layout, unit: str) -> tuple[_Keyed, tuple[_Row, str] | None]:
    """Turns in call order: by turn index, else by start_ms, else as the rows come."""
    if "turn" in layout.where:
        seen: dict[int, _Row] = {}
        for index, _, r in keyed:
            if index in seen:
                return keyed, (r, f"turn index {index} repeats that of {unit} {seen[index].line}")
            seen[index] = r
        return sorted(keyed, key=lambda k: k[0]), None
    if "start_ms" in layout.where:
        missing = [r for _, t, r in keyed if t[2] is None]
        if missing and len(missing) < len(keyed):
            return keyed, (
                missing[0],
                "start_ms is empty here but set on other rows of the call: cannot order its turns",
            )
        if not missing:
            return sorted(keyed, key=lambda k: k[1][2] or 0), None
    return keyed, None


@dataclass
class _Plan:
    """What the first pass learns: each row's call, each call's last row, orphans to report or fold in."""

    owner: list[str | None]
    last_row: dict[str, int]
    orphans: dict[int, str]  # data row -> reason, for rows reported on their own
    adopted: dict[str, list[tuple[_Row, str]]]  # call_id -> orphan rows (between its rows) that reject it


def _plan(table: _CsvTable | _ParquetTable) -> _Plan:
    owner: list[str | None] = []
    last_row: dict[str, int] = {}
    lost: list[tuple[_Row, str]] = []
    ids: dict[Any, str] = {}
    for r in table.rows():
        raw = table.layout.get(r, "call_id")
        cid = ids.get(raw) if isinstance(raw, (str, int)) else None
        if cid is None:
            try:
                cid = req_id(raw, "call_id")
            except BadRecord as e:
                owner.append(None)
                lost.append((_Row(r.line, r.row, ()), r.error or str(e)))
                continue
            if isinstance(raw, (str, int)):
                ids[raw] = cid
        owner.append(cid)
        last_row[cid] = r.row
    # An orphan between two rows of one call probably belongs to it: that call is rejected too.
    before: list[str | None] = []
    last: str | None = None
    for o in owner:
        before.append(last)
        last = o if o is not None else last
    after: list[str | None] = [None] * len(owner)
    last = None
    for i in range(len(owner) - 1, -1, -1):
        after[i] = last
        last = owner[i] if owner[i] is not None else last
    orphans: dict[int, str] = {}
    adopted: dict[str, list[tuple[_Row, str]]] = {}
    for r, reason in lost:
        cid = before[r.row - 1]
        if cid is not None and cid == after[r.row - 1]:
            adopted.setdefault(cid, []).append((r, f"{reason}, on a row between rows of this call"))
        else:
            orphans[r.row] = reason
    return _Plan(owner, last_row, orphans, adopted)


def read_table(f: InputFile, config: Config) -> Iterator[Call | RecordError]:
    """Every call of one CSV, TSV or Parquet file, as a Call or a RecordError."""
    source = str(f.path)
    columns = table_columns(config)
    try:
        table: _CsvTable | _ParquetTable = _ParquetTable(f, columns) if f.format == "parquet" else _CsvTable(f, columns)
        try:
            plan = _plan(table)
        except _Restart:
            assert isinstance(table, _CsvTable)
            table.fast = False
            plan = _plan(table)
    except _Fatal as e:
        f.records += 1
        f.errors += 1
        yield RecordError(source, 0 if f.format == "parquet" else 1, str(e))
        return
    unit = table.unit
    open_calls: dict[str, list[_Row]] = {}
    seen = 0
    try:
        for r in table.rows():
            seen = r.row
            cid = plan.owner[r.row - 1] if r.row <= len(plan.owner) else None
            if cid is None:  # an orphan: reported now, or folded into the call it sits in
                if r.row in plan.orphans:
                    f.records += 1
                    f.errors += 1
                    yield RecordError(source, r.line, plan.orphans[r.row], None, {"row": r.row})
                continue
            open_calls.setdefault(cid, []).append(r)
            if plan.last_row[cid] != r.row:
                continue
            f.records += 1
            try:
                yield _build_call(
                    cid, open_calls.pop(cid), table.layout, config, source, unit, plan.adopted.get(cid, [])
                )
            except _CallRejected as e:
                f.errors += 1
                first, reason = e.bad[0]
                if len(e.bad) > 1:
                    more = ", ".join(str(b[0].line) for b in e.bad[1 : 1 + _MAX_LISTED])
                    reason += f"; {len(e.bad) - 1} more bad row(s) in this call, at {unit} {more}"
                yield RecordError(source, first.line, reason, cid, {"row": first.row})
    except (_Restart, _Fatal):
        seen = -1
    if seen != len(plan.owner) or open_calls:
        f.records += 1
        f.errors += 1
        yield RecordError(source, 0, "the file changed while it was being read; read it again", None)


# --- Writing ------------------------------------------------------------------


def table_rows(calls: Iterable[Call], speaker_labels: Mapping[Speaker, str] | None = None) -> list[dict[str, Any]]:
    """One dict per turn, with the canonical :data:`FIELDS` as keys."""
    labels = speaker_labels or {}
    return [
        {
            "call_id": c.call_id,
            "agent_id": c.agent_id,
            "started_at": c.started_at,
            "queue": c.queue,
            "turn": t.index,
            "speaker": labels.get(t.speaker, t.speaker.value),
            "text": t.text,
            "start_ms": t.start_ms,
            "end_ms": t.end_ms,
        }
        for c in calls
        for t in c.turns
    ]


_SCHEMA = {
    "call_id": pl.String(),
    "agent_id": pl.String(),
    "started_at": pl.String(),
    "queue": pl.String(),
    "turn": pl.Int32(),
    "speaker": pl.String(),
    "text": pl.String(),
    "start_ms": pl.Int64(),
    "end_ms": pl.Int64(),
}


def write_table(
    calls: Iterable[Call],
    path: str | Path,
    *,
    encoding: str = "utf-8",
    speaker_labels: Mapping[Speaker, str] | None = None,
    columns: Mapping[str, str] | None = None,
    line_ending: str = "\n",
) -> None:
    """Write ``calls`` as a long table; the format follows the suffix (.csv, .tsv, .parquet, each optionally .gz).

    ``columns`` renames the canonical fields (as ``input.columns`` would map
    them back); ``encoding`` applies to CSV/TSV.
    """
    path = Path(path)
    rows = table_rows(calls, speaker_labels)
    names = {f: (columns or {}).get(f, f) for f in FIELDS}
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".parquet"):
        df = pl.DataFrame(rows, schema=_SCHEMA, orient="row").rename(names)
        buf = io.BytesIO()
        df.write_parquet(buf)
        data = buf.getvalue()
    elif name.endswith((".csv", ".tsv")):
        out = io.StringIO()
        w = csv.writer(out, delimiter="\t" if name.endswith(".tsv") else ",", lineterminator=line_ending)
        w.writerow([names[f] for f in FIELDS])
        for r in rows:
            w.writerow(["" if r[f] is None else r[f] for f in FIELDS])
        data = out.getvalue().encode(encoding)
    else:
        raise ValueError(f"{path}: unknown table suffix (use .csv, .tsv or .parquet, optionally .gz)")
    if path.name.lower().endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
