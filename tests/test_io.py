"""Readers: every format, encoding and kind of broken record.

The central table (``CASES``) writes a few files with good and broken
records into a temporary folder and asserts exactly which calls come out and
which errors (file, line, reason, call_id) are reported.
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.config import Config, load_config
from qa.io.encoding import LineDecoder, Undecodable
from qa.io.formats.dialog import format_dialog, write_dialogs
from qa.io.formats.jsonl import write_jsonl
from qa.io.formats.table import DEFAULT_COLUMNS, table_columns, write_table
from qa.io.read import InputError, InputFile, call_from_dict, count_records, expand_inputs, read_calls
from qa.types import Call, RecordError, Speaker, Turn

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "corpora" / "sample"
CFG = load_config()

A, C = Speaker.AGENT, Speaker.CUSTOMER


# --- builders -------------------------------------------------------------------


def turn(speaker: str, text: str, **more: Any) -> dict[str, Any]:
    return {"speaker": speaker, "text": text, **more}


def record(call_id: Any = "C1", agent_id: Any = "A1", turns: Any = None, **more: Any) -> dict[str, Any]:
    if turns is None:
        turns = [turn("客户", "东西坏了"), turn("客服", "非常抱歉，我马上帮您处理")]
    out = {"call_id": call_id, "agent_id": agent_id, "turns": turns}
    out.update(more)
    return out


def line(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def write(path: Path, data: str | bytes, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


def read(paths: list[Path | str], config: Any = CFG) -> tuple[list[Call], list[RecordError], list[InputFile]]:
    files = expand_inputs(paths)
    calls: list[Call] = []
    errors: list[RecordError] = []
    for item in read_calls(files, config):
        (errors if isinstance(item, RecordError) else calls).append(item)  # type: ignore[arg-type]
    return calls, errors, files


def bare(call: Call) -> Call:
    """A call without where it came from, for comparing across formats."""
    return dataclasses.replace(call, source="", line=0)


class WithInput:
    """The loaded config with ``input`` keys added or changed (works before ``input.columns`` exists)."""

    def __init__(self, base: Config, **changes: Any):
        self._base = base
        self.input = SimpleNamespace(**{**dict(base.input), **changes})
        self.role_map = base.role_map

    def speaker(self, label: str) -> Speaker | None:
        return self._base.speaker(label)


# --- the table of malformed inputs ----------------------------------------------

GOOD = [line(record("C1")), line(record("C2")), line(record("C3"))]


def _jsonl(
    lines: list[str], name: str = "a.jsonl", encoding: str = "utf-8", eol: str = "\n"
) -> Callable[[Path], list[Path]]:
    def build(tmp: Path) -> list[Path]:
        return [write(tmp / name, eol.join(lines) + eol, encoding)]

    return build


def _bytes(name: str, data: bytes) -> Callable[[Path], list[Path]]:
    def build(tmp: Path) -> list[Path]:
        return [write(tmp / name, data)]

    return build


def _mixed_folder(tmp: Path) -> list[Path]:
    folder = tmp / "day"
    write(folder / "a.jsonl", line(record("U1", turns=[turn("客户", "我的快递还没到")])) + "\n")
    write(folder / "b.jsonl", line(record("G1", turns=[turn("客户", "我的快递还没到")])) + "\r\n", "gbk")
    write(folder / "A7" / "D1.txt", "客户：我的快递还没到\n坐席：非常抱歉\n", "gbk")
    write(folder / "t.csv", "call_id,agent_id,speaker,text\nT1,A1,客户,还没到\nT1,A1,坐席,抱歉\n", "gb18030")
    write(folder / "notes.md", "客户：这不是输入\n")  # unknown suffix: skipped
    write(folder / ".hidden.jsonl", "not json\n")  # hidden: skipped
    return [folder]


def _duplicates(tmp: Path) -> list[Path]:
    write(tmp / "a.jsonl", line(record("C1")) + "\n" + line(record("C2")) + "\n")
    write(tmp / "b.jsonl", line(record("C3")) + "\n" + line(record("C1", agent_id="A9")) + "\n")
    return [tmp / "a.jsonl", tmp / "b.jsonl"]


def _one_mb_turn(tmp: Path) -> list[Path]:
    big = record("BIG", turns=[turn("客户", "长" * 1_000_000)])
    return [write(tmp / "a.jsonl", "\n".join([GOOD[0], line(big), GOOD[2]]) + "\n")]


def _csv_bad_rows(tmp: Path) -> list[Path]:
    text = (
        "call_id,agent_id,turn,speaker,text\n"
        "K1,A1,0,客户,东西坏了\n"
        "K2,A1,0,客户,东西坏了\n"
        "K1,A1,1,客服,抱歉\n"
        "K2,A1,1,经理,我来处理\n"  # unknown speaker: K2 is rejected, naming line 5
        "K3,A1,0,客户,喂\n"
        "K3,A1,x,客服,您好\n"  # bad turn index
        ",A1,0,客户,没有编号\n"  # no call_id, between calls K3 and K4: its own error
        "K4,A1,0,客户,你好\n"
    )
    return [write(tmp / "t.csv", text)]


def _parquet_bad_rows(tmp: Path) -> list[Path]:
    df = pl.DataFrame(
        {
            "call_id": ["P1", "P2", "P1", "P2", "P3"],
            "agent_id": ["A1", "A1", "A1", None, "A2"],
            "speaker": ["客户", "客户", "客服", "客服", "客户"],
            "text": ["坏了", "坏了", "抱歉", "好的", None],  # P3 lacks text
        }
    )
    df.write_parquet(tmp / "t.parquet")
    return [tmp / "t.parquet"]


def _gz_truncated(tmp: Path) -> list[Path]:
    data = gzip.compress("".join(line(record(f"Z{i:03d}")) + "\n" for i in range(600)).encode("utf-8"))
    return [write(tmp / "calls.jsonl.gz", data[: len(data) - 40])]


def _dialog_unknown_label(tmp: Path) -> list[Path]:
    write(tmp / "A1" / "D1.txt", "客户：喂\n经理：我是经理\n")
    write(tmp / "A1" / "D2.txt", "客户：喂\n客服：您好\n")
    return [tmp / "A1"]


CASES: list[tuple[str, Callable[[Path], list[Path]], list[str], list[tuple[str, int, str, str | None]]]] = [
    (
        "truncated JSON",
        _jsonl([GOOD[0], '{"call_id": "C2", "agent_id": "A1", "turns": [{"speaker": "客', GOOD[2]]),
        ["C1", "C3"],
        [("a.jsonl", 2, "invalid JSON", "C2")],
    ),
    (
        "wrong types",
        _jsonl(
            [
                line(record("W1", agent_id=["A1"])),
                line(record("W2", turns={"speaker": "客户"})),
                line(record("W3", turns=[turn("客户", 42)])),
                line(record("W4", turns=[turn("客户", "坏了", start_ms="0")])),
                line(record("W5", started_at=20261102)),
                line(["not", "an", "object"]),
                line(record(7, turns=[turn("客户", "整数编号可以")])),
            ]
        ),
        ["7"],
        [
            ("a.jsonl", 1, "missing or empty 'agent_id'", "W1"),
            ("a.jsonl", 2, "missing 'turns'", "W2"),
            ("a.jsonl", 3, "turn 0: 'text' must be a string", "W3"),
            ("a.jsonl", 4, "turn 0: start_ms must be a number", "W4"),
            ("a.jsonl", 5, "started_at must be a string", "W5"),
            ("a.jsonl", 6, "expected a JSON object, got list", None),
        ],
    ),
    (
        "missing fields",
        _jsonl(
            [
                line({"agent_id": "A1", "turns": [turn("客户", "喂")]}),
                line(record("M2", agent_id="  ")),
                line(record("M3", turns=[{"speaker": "客户"}])),
                line(record("M4", turns=[{"text": "喂"}])),
                GOOD[0],
            ]
        ),
        ["C1"],
        [
            ("a.jsonl", 1, "missing or empty 'call_id'", None),
            ("a.jsonl", 2, "missing or empty 'agent_id'", "M2"),
            ("a.jsonl", 3, "turn 0: missing 'text'", "M3"),
            ("a.jsonl", 4, "turn 0: missing 'speaker'", "M4"),
        ],
    ),
    ("BOM", _bytes("a.jsonl", b"\xef\xbb\xbf" + ("\n".join(GOOD) + "\n").encode()), ["C1", "C2", "C3"], []),
    ("CRLF", _jsonl(GOOD, eol="\r\n"), ["C1", "C2", "C3"], []),
    (
        "blank lines and no final newline",
        _bytes("a.jsonl", ("\n\n" + GOOD[0] + "\n   \n" + GOOD[1]).encode()),
        ["C1", "C2"],
        [],
    ),
    (
        "NUL bytes",
        _bytes(
            "a.jsonl",
            (GOOD[0] + "\n").encode()
            + line(record("N1", turns=[turn("客户", "坏\u0000了")])).encode()
            + b"\n"
            + line(record("N2")).encode().replace("坏了".encode(), "坏".encode() + b"\x00" + "了".encode())
            + b"\n"
            + (GOOD[2] + "\n").encode(),
        ),
        ["C1", "C3"],
        [
            ("a.jsonl", 2, "turn 0: text contains a NUL byte", "N1"),
            ("a.jsonl", 3, "invalid JSON: Invalid control character", "N2"),
        ],
    ),
    (
        "undecodable bytes",
        _bytes(
            "a.jsonl",
            (GOOD[0] + "\n").encode()
            + line(record("B1")).encode().replace("坏".encode(), b"\xff\xfe")
            + b"\n"
            + line(record("B2", turns=[turn("Q", "x")])).encode().replace(b'"x"', b'"\x80x"')
            + b"\n"
            + (GOOD[2] + "\n").encode(),
        ),
        ["C1", "C3"],
        [
            ("a.jsonl", 2, "not valid UTF-8 at byte", "B1"),
            ("a.jsonl", 3, "neither UTF-8 nor GB18030 at byte", "B2"),
        ],
    ),
    ("GBK JSON lines", _jsonl(GOOD, encoding="gbk"), ["C1", "C2", "C3"], []),
    (
        "UTF-16 BOM bytes in front of a UTF-8 file",
        _bytes("a.jsonl", b"\xff\xfe" + ("\n".join(GOOD) + "\n").encode()),
        ["C2", "C3"],
        [("a.jsonl", 1, "not valid UTF-8 at byte 0", "C1")],
    ),
    ("mixed encodings in one folder", _mixed_folder, ["D1", "U1", "G1", "T1"], []),
    (
        "call with 0 turns",
        _jsonl([GOOD[0], line(record("Z1", turns=[])), GOOD[2]]),
        ["C1", "C3"],
        [("a.jsonl", 2, "call has no turns", "Z1")],
    ),
    (
        "duplicate call_ids across inputs",
        _duplicates,
        ["C1", "C2", "C3"],
        [("b.jsonl", 2, "duplicate call_id, first seen at", "C1")],
    ),
    (
        "unknown speaker",
        _jsonl([GOOD[0], line(record("S1", turns=[turn("经理", "我来")])), GOOD[2]]),
        ["C1", "C3"],
        [("a.jsonl", 2, "turn 0: unknown speaker label '经理'", "S1")],
    ),
    (
        "1 MB single turn over max_turn_chars",
        _one_mb_turn,
        ["C1", "C3"],
        [("a.jsonl", 2, "text has 1000000 characters, over max_turn_chars=5000", "BIG")],
    ),
    (
        "pretty-printed JSON in a .json file",
        _bytes("a.json", json.dumps([record("C1")], indent=2).encode()),
        [],
        [("a.json", 1, "pretty-printed JSON, not JSON lines", None)],
    ),
    (
        "one pretty-printed call object",
        _bytes("a.jsonl", (json.dumps(record("C1"), indent=2, ensure_ascii=False) + "\n").encode()),
        [],
        [("a.jsonl", 1, "pretty-printed JSON, not JSON lines", None)],
    ),
    (
        "a line break after the first record's opening brace",
        _bytes("a.jsonl", ("{\n" + "\n".join([GOOD[0][1:], GOOD[1], GOOD[2]]) + "\n").encode()),
        ["C2", "C3"],
        [("a.jsonl", 1, "invalid JSON", None), ("a.jsonl", 2, "invalid JSON", "C1")],
    ),
    (
        "truncated gzip",
        _gz_truncated,
        None,  # checked below: every complete line before the cut
        [("calls.jsonl.gz", -1, "truncated or corrupt", None)],
    ),
    ("GBK text dialog", _bytes("A3/D9.txt", "客户：东西坏了\n客服：非常抱歉\n".encode("gbk")), ["D9"], []),
    (
        "dialog with an unknown speaker label",
        _dialog_unknown_label,
        ["D2"],
        [("D1.txt", 2, "unknown speaker label '经理'", "D1")],
    ),
    (
        "CSV with bad rows",
        _csv_bad_rows,
        ["K1", "K4"],
        [
            ("t.csv", 5, "unknown speaker label '经理'", "K2"),
            ("t.csv", 7, "turn must be a number, got 'x'", "K3"),
            ("t.csv", 8, "missing or empty 'call_id'", None),
        ],
    ),
    (
        "Parquet with bad rows",
        _parquet_bad_rows,
        ["P1", "P2"],
        [("t.parquet", 5, "missing 'text'", "P3")],
    ),
]


@pytest.mark.parametrize("build, good, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_inputs(tmp_path, build, good, expected):
    calls, errors, files = read(build(tmp_path))
    got = [(Path(e.source).name, e.line, e.reason, e.call_id) for e in errors]
    if good is not None:
        assert [c.call_id for c in calls] == good
    assert len(got) == len(expected), got
    for (name, lineno, reason, call_id), want in zip(got, expected):
        assert name == want[0]
        assert want[1] == -1 or lineno == want[1], (lineno, reason)
        assert want[2] in reason
        assert call_id == want[3]
    assert sum(f.records for f in files) == len(calls) + len(errors)
    assert sum(f.errors for f in files) == len(errors)


def test_parquet_rows_with_different_agent_ids_reject_the_call(tmp_path):
    _, errors, _ = read(_parquet_bad_rows(tmp_path))
    # P2's second row has no agent_id (fine: taken from the first); P3 lacks text.
    assert [e.call_id for e in errors] == ["P3"]
    assert errors[0].extra == {"row": 5}


def test_truncated_gzip_keeps_every_complete_record(tmp_path):
    calls, errors, files = read(_gz_truncated(tmp_path))
    assert 500 <= len(calls) < 600  # the records after the cut are lost with it
    assert [c.call_id for c in calls] == [f"Z{i:03d}" for i in range(len(calls))]
    assert len(errors) == 1 and "truncated or corrupt" in errors[0].reason
    assert errors[0].line == len(calls) + 1
    assert files[0].compression == "gzip"


def test_a_1mb_turn_is_scored_when_the_config_allows_it(tmp_path):
    calls, errors, _ = read(_one_mb_turn(tmp_path), WithInput(CFG, max_turn_chars=2_000_000))
    assert errors == []
    assert [c.call_id for c in calls] == ["C1", "BIG", "C3"]
    assert len(calls[1].turns[0].text) == 1_000_000


def test_mixed_folder_records_each_files_format_and_encoding(tmp_path):
    _, _, files = read(_mixed_folder(tmp_path))
    got = {f.path.name: (f.format, f.encoding) for f in files}
    assert got == {
        "a.jsonl": ("jsonl", "utf-8"),
        "b.jsonl": ("jsonl", "gb18030"),
        "D1.txt": ("dialog", "gb18030"),
        "t.csv": ("csv", "gb18030"),
    }
    assert all(len(f.sha256) == 64 for f in files)
    manifest = files[0].as_dict()
    assert {"path", "format", "compression", "encoding", "bytes", "sha256", "records", "errors"} <= set(manifest)


# --- encodings --------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, text, used",
    [
        ("客户：你好".encode(), "客户：你好", "utf-8"),
        ("客户：你好".encode("gbk"), "客户：你好", "gb18030"),
        ("坐席: 抱歉".encode("gbk"), "坐席: 抱歉", "gb18030"),  # short GBK lines are not "damaged UTF-8"
        ("€ 𠀀".encode("gb18030"), "€ 𠀀", "gb18030"),
        (b"plain ascii", "plain ascii", "utf-8"),
    ],
)
def test_line_decoder_takes_utf8_then_gb18030(raw, text, used):
    d = LineDecoder()
    d.prime(raw + b"\n")
    assert d.decode(raw) == text
    assert d.name == used


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("我的快递还没到".encode().replace(b"\xe5", b"\xff", 1), "the rest of the line is UTF-8"),
        (b"abc \x80 def", "neither UTF-8 nor GB18030 at byte 4"),
        (b'{"text": "\xfe"}', "neither UTF-8 nor GB18030 at byte 10"),
    ],
)
def test_line_decoder_refuses_undecodable_and_damaged_lines(raw, reason):
    with pytest.raises(Undecodable, match=reason):
        LineDecoder().decode(raw)


def test_gbk_file_scores_the_same_calls_as_its_utf8_twin(tmp_path):
    calls = [_call("G1", ("客户", "我的快递还没到，你们怎么回事"), ("客服", "非常抱歉让您久等了"))]
    write_jsonl(calls, tmp_path / "u" / "a.jsonl")
    write_jsonl(calls, tmp_path / "g" / "a.jsonl", encoding="gbk")
    u, _, uf = read([tmp_path / "u"])
    g, _, gf = read([tmp_path / "g"])
    assert [bare(c) for c in u] == [bare(c) for c in g] == calls
    assert (uf[0].encoding, gf[0].encoding) == ("utf-8", "gb18030")


def test_utf16_with_bom_is_read(tmp_path):
    write(tmp_path / "a.jsonl", "\r\n".join(GOOD) + "\r\n", "utf-16")
    calls, errors, files = read([tmp_path / "a.jsonl"])
    assert [c.call_id for c in calls] == ["C1", "C2", "C3"] and errors == []
    assert files[0].encoding == "utf-16"


def test_a_file_mixing_utf8_and_gbk_lines_keeps_both(tmp_path):
    data = (GOOD[0] + "\n").encode() + (GOOD[1] + "\n").encode("gbk") + (GOOD[2] + "\n").encode()
    calls, errors, files = read([write(tmp_path / "a.jsonl", data)])
    assert [c.call_id for c in calls] == ["C1", "C2", "C3"] and errors == []
    assert calls[1].turns[0].text == "东西坏了"
    assert files[0].encoding == "utf-8+gb18030"


def test_no_replacement_character_ever_reaches_a_call(tmp_path):
    data = (GOOD[0] + "\n").encode().replace("坏".encode(), b"\xed\xa0\x80")  # a UTF-8-encoded surrogate
    calls, errors, _ = read([write(tmp_path / "a.jsonl", data + (GOOD[1] + "\n").encode())])
    assert [c.call_id for c in calls] == ["C2"]
    assert errors[0].call_id == "C1"
    assert all("\ufffd" not in t.text for c in calls for t in c.turns)


def test_escaped_lone_surrogate_is_rejected(tmp_path):
    data = line(record("S1")).replace("坏", "\\ud800") + "\n"
    calls, errors, _ = read([write(tmp_path / "a.jsonl", data)])
    assert calls == [] and "lone surrogate" in errors[0].reason


# --- inputs: folders, globs, sniffing -----------------------------------------------


def test_folders_are_searched_recursively_skipping_hidden_and_unknown_files(tmp_path):
    write(tmp_path / "d" / "b.jsonl", GOOD[1] + "\n")
    write(tmp_path / "d" / "sub" / "a.jsonl", GOOD[0] + "\n")
    write(tmp_path / "d" / "sub" / "c.ndjson.gz", gzip.compress((GOOD[2] + "\n").encode()))
    write(tmp_path / "d" / "readme.md", "# notes")
    write(tmp_path / "d" / "data.bin", GOOD[0])
    write(tmp_path / "d" / ".cache" / "x.jsonl", "junk")
    write(tmp_path / "d" / ".x.jsonl", "junk")
    files = expand_inputs([tmp_path / "d"])
    assert [f.path.relative_to(tmp_path / "d").as_posix() for f in files] == [
        "b.jsonl",
        "sub/a.jsonl",
        "sub/c.ndjson.gz",
    ]
    assert [(f.format, f.compression) for f in files] == [("jsonl", ""), ("jsonl", ""), ("jsonl", "gzip")]


def test_glob_patterns_expand_in_sorted_order(tmp_path):
    for day in ("2026-11-02", "2026-11-03", "2026-11-10"):
        write(tmp_path / "data" / day / "calls.jsonl", GOOD[0] + "\n")
    write(tmp_path / "data" / "2026-11-02" / "notes.txt.bak", "x")
    files = expand_inputs([str(tmp_path / "data" / "2026-11-0*" / "*")])
    assert [f.path.parent.name for f in files] == ["2026-11-02", "2026-11-03"]
    with pytest.raises(InputError, match="matches no input files"):
        expand_inputs([str(tmp_path / "data" / "1999-*" / "*.jsonl")])


def test_a_file_given_twice_is_read_once(tmp_path):
    p = write(tmp_path / "a.jsonl", GOOD[0] + "\n")
    assert len(expand_inputs([p, tmp_path, str(tmp_path / "*.jsonl")])) == 1


@pytest.mark.parametrize(
    "name, data, fmt, compression",
    [
        ("calls.dat", (GOOD[0] + "\n").encode(), "jsonl", ""),
        ("calls.export", "call_id,agent_id,speaker,text\nX1,A1,客户,喂\n".encode("gbk"), "csv", ""),
        ("calls.out", b"call_id\tagent_id\tspeaker\ttext\nX1\tA1\tQ\thi\n", "tsv", ""),
        ("D1.log", "客户：喂\n坐席：您好\n".encode("gbk"), "dialog", ""),
        ("calls.gz", gzip.compress((GOOD[0] + "\n").encode()), "jsonl", "gzip"),
    ],
)
def test_explicit_files_of_unknown_suffix_are_sniffed(tmp_path, name, data, fmt, compression):
    files = expand_inputs([write(tmp_path / name, data)])
    assert (files[0].format, files[0].compression) == (fmt, compression)
    calls, errors, _ = read([tmp_path / name])
    assert len(calls) == 1 and errors == []


def test_parquet_is_sniffed_by_its_magic_bytes(tmp_path):
    write_table([_call("P1", ("客户", "喂"))], tmp_path / "t.parquet")
    (tmp_path / "t.parquet").rename(tmp_path / "t.bin")
    assert expand_inputs([tmp_path / "t.bin"])[0].format == "parquet"


@pytest.mark.parametrize("data", [b"hello world\n", b"\x00\x01\x02binary", b""])
def test_explicit_file_of_unknown_format_is_an_input_error_naming_it(tmp_path, data):
    p = write(tmp_path / "mystery.xyz", data)
    with pytest.raises(InputError, match="mystery.xyz"):
        expand_inputs([p])


def test_missing_path_and_empty_folder_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such file or folder"):
        expand_inputs([tmp_path / "nope.jsonl"])
    (tmp_path / "empty").mkdir()
    write(tmp_path / "empty" / "notes.md", "x")
    with pytest.raises(InputError, match="holds no input files"):
        expand_inputs([tmp_path / "empty"])


# --- long tables ---------------------------------------------------------------------


def test_table_rows_need_not_be_contiguous_and_order_by_turn_index(tmp_path):
    text = (
        "call_id,agent_id,turn,speaker,text\n"
        "K1,A1,2,客服,第三句\n"
        "K2,A2,0,客户,另一通\n"
        "K1,A1,0,客户,第一句\n"
        "K1,A1,1,坐席,第二句\n"
    )
    calls, errors, _ = read([write(tmp_path / "t.csv", text)])
    assert errors == []
    assert [c.call_id for c in calls] == ["K2", "K1"]  # a call comes out once its last row is read
    k1 = calls[1]
    assert [t.text for t in k1.turns] == ["第一句", "第二句", "第三句"]
    assert [t.index for t in k1.turns] == [0, 1, 2]
    assert k1.line == 2


def test_table_without_turn_column_orders_by_start_ms_then_row_order(tmp_path):
    text = (
        "call_id,agent_id,speaker,text,start_ms\n"
        "K1,A1,客服,后,500\n"
        "K1,A1,客户,先,0\n"
        "K1,A1,客户,同时一,900\n"
        "K1,A1,客服,同时二,900\n"
    )
    calls, _, _ = read([write(tmp_path / "t.csv", text)])
    assert [t.text for t in calls[0].turns] == ["先", "后", "同时一", "同时二"]
    text = "call_id,agent_id,speaker,text\nK1,A1,客服,一\nK1,A1,客户,二\n"
    calls, _, _ = read([write(tmp_path / "u.csv", text)])
    assert [t.text for t in calls[0].turns] == ["一", "二"]


@pytest.mark.parametrize(
    "rows, line, reason",
    [
        ("K1,A1,0,客户,一,0\nK1,A1,0,客服,二,5\n", 3, "turn index 0 repeats that of line 2"),
        ("K1,A1,0,客户,一,0\nK1,A2,1,客服,二,5\n", 3, "agent_id 'A2' differs from 'A1' at line 2"),
        ("K1,A1,0,客户,一,0\nK1,A1,1,客服\n", 3, "has 4 fields, the header has 6"),
        ("K1,,0,客户,一,0\nK1,,1,客服,二,5\n", 2, "missing or empty 'agent_id'"),
        ("K1,A1,0,客户,一,0\nK1,A1,1,客服,二,soon\n", 3, "start_ms must be a number, got 'soon'"),
        ('K1,A1,0,客户,"一"x,0\nK1,A1,1,客服,二,5\n', 2, "malformed CSV row"),
        ("K1,A1,0,客户,一,0\n,A1,1,客服,丢了编号,5\nK1,A1,2,客户,三,9\n", 3, "on a row between rows of this call"),
    ],
)
def test_a_bad_row_rejects_its_whole_call_naming_the_row(tmp_path, rows, line, reason):
    text = "call_id,agent_id,turn,speaker,text,start_ms\n" + rows + "K9,A1,0,客户,好的,0\n"
    calls, errors, files = read([write(tmp_path / "t.csv", text)])
    assert [c.call_id for c in calls] == ["K9"]
    assert [(e.line, e.call_id) for e in errors] == [(line, "K1")]
    assert reason in errors[0].reason
    assert files[0].records == 2 and files[0].errors == 1


def test_csv_quoted_fields_with_commas_newlines_and_quotes(tmp_path):
    text = 'call_id,agent_id,speaker,text\nK1,A1,客户,"第一行,带逗号\n第二行 ""引号"""\nK1,A1,客服,好\n'
    calls, errors, _ = read([write(tmp_path / "t.csv", text)])
    assert errors == []
    assert calls[0].turns[0].text == '第一行,带逗号\n第二行 "引号"'


def test_csv_undecodable_row_names_its_line(tmp_path):
    data = (
        "call_id,agent_id,speaker,text\nK1,A1,客户,坏了\nK2,A1,客户,".encode()
        + b"\xff\xfe\n"
        + "K3,A1,客户,好\n".encode()
    )
    calls, errors, _ = read([write(tmp_path / "t.csv", data)])
    assert [c.call_id for c in calls] == ["K1", "K3"]
    assert [(e.line, e.call_id) for e in errors] == [(3, "K2")]
    assert "not valid UTF-8 at byte 13 of the line" in errors[0].reason


def test_table_lacking_a_required_column_is_one_error_for_the_file(tmp_path):
    calls, errors, files = read([write(tmp_path / "t.csv", "call_id,speaker,text\nK1,客户,喂\n")])
    assert calls == []
    assert len(errors) == 1 and "lacks required column(s) 'agent_id'" in errors[0].reason
    assert files[0].records == 1


def test_unreadable_parquet_is_one_error_for_the_file(tmp_path):
    calls, errors, _ = read([write(tmp_path / "t.parquet", b"PAR1 this is not parquet")])
    assert calls == [] and len(errors) == 1 and "cannot read Parquet" in errors[0].reason


def test_column_names_are_mapped_by_the_config(tmp_path):
    columns = {"call_id": "通话ID", "agent_id": "坐席工号", "turn": "序号", "speaker": "角色", "text": "内容"}
    text = "通话ID,坐席工号,序号,角色,内容\nK1,A1,1,坐席,您好\nK1,A1,0,客户,喂\n"
    config = WithInput(CFG, columns=columns)
    calls, errors, _ = read([write(tmp_path / "t.csv", text)], config)
    assert errors == []
    assert [(t.speaker, t.text) for t in calls[0].turns] == [(C, "喂"), (A, "您好")]
    df = pl.DataFrame({"通话ID": ["P1"], "坐席工号": ["A1"], "角色": ["Q"], "内容": ["喂"], "序号": [0]})
    df.write_parquet(tmp_path / "t.parquet")
    calls, errors, _ = read([tmp_path / "t.parquet"], config)
    assert errors == [] and calls[0].call_id == "P1"


def test_table_columns_accept_a_pydantic_columns_model():
    from pydantic import BaseModel, ConfigDict

    class ColumnsConfig(BaseModel):  # the shape proposed for qa.config
        model_config = ConfigDict(extra="forbid", frozen=True)
        call_id: str = "call_id"
        agent_id: str = "agent_id"
        turn: str = "turn"
        speaker: str = "speaker"
        text: str = "text"
        start_ms: str = "start_ms"
        end_ms: str = "end_ms"
        started_at: str = "started_at"
        queue: str = "queue"

    config = WithInput(CFG, columns=ColumnsConfig(text="内容"))
    assert table_columns(config) == {**DEFAULT_COLUMNS, "text": "内容"}


def test_table_columns_fall_back_to_defaults_and_reject_unknown_fields():
    assert table_columns(CFG) == DEFAULT_COLUMNS or hasattr(CFG.input, "columns")
    assert table_columns({"text": "内容"})["text"] == "内容"
    assert table_columns({"text": "内容"})["call_id"] == "call_id"
    with pytest.raises(ValueError, match="unknown table field"):
        table_columns({"txet": "内容"})


def test_parquet_with_integer_ids_and_float_times(tmp_path):
    df = pl.DataFrame(
        {
            "call_id": [1001, 1001, 1002, 1002],
            "agent_id": [17, 17, 18, 18],
            "speaker": ["customer", "agent", "customer", "agent"],
            "text": ["喂", "您好", "在吗", "在"],
            "start_ms": [float("nan"), float("nan"), 2500.0, 0.0],
        }
    )
    df.write_parquet(tmp_path / "t.parquet")
    calls, errors, _ = read([tmp_path / "t.parquet"])
    assert errors == []
    assert [(c.call_id, c.agent_id) for c in calls] == [("1001", "17"), ("1002", "18")]
    assert [t.start_ms for t in calls[0].turns] == [None, None]  # NaN is missing: row order
    assert [t.text for t in calls[1].turns] == ["在", "在吗"]  # ordered by start_ms


# --- text dialogs ---------------------------------------------------------------------


def test_dialog_lines_labels_continuations_and_headers(tmp_path):
    text = (
        "# agent_id: A17\n"
        "# started_at: 2026-11-02T09:15:00+08:00\n"
        "# queue: returns\n"
        "# any other comment\n"
        "\n"
        "客户：我买的东西到现在还没到\n"
        "都一个星期了\n"
        "[00:00:03.100-00:00:06.000] 坐席: 非常抱歉\n"
        "【客服】：链接是 https://example.com/a 您看一下\n"
        "https://example.com/b\n"
        "A: ok\n"
        "Q：好的，请问：什么时候到\n"
        "客服(小王)：今天下午\n"
        "user: thanks\n"
    )
    calls, errors, files = read([write(tmp_path / "x" / "C0001.txt", text)])
    assert errors == [] and files[0].format == "dialog"
    call = calls[0]
    assert (call.call_id, call.agent_id, call.started_at, call.queue) == (
        "C0001",
        "A17",
        "2026-11-02T09:15:00+08:00",
        "returns",
    )
    assert [(t.speaker, t.text) for t in call.turns] == [
        (C, "我买的东西到现在还没到\n都一个星期了"),
        (A, "非常抱歉"),
        (A, "链接是 https://example.com/a 您看一下\nhttps://example.com/b"),
        (A, "ok"),
        (C, "好的，请问：什么时候到"),
        (A, "今天下午"),
        (C, "thanks"),
    ]
    assert (call.turns[1].start_ms, call.turns[1].end_ms) == (3100, 6000)
    assert call.line == 6


def test_dialog_agent_id_comes_from_the_folder_without_a_header(tmp_path):
    calls, _, _ = read([write(tmp_path / "A05" / "C7.txt.gz", gzip.compress("客户：喂\n".encode()))])
    assert (calls[0].call_id, calls[0].agent_id) == ("C7", "A05")


@pytest.mark.parametrize(
    "text, line, reason",
    [
        ("你好\n客户：喂\n", 1, "text before the first speaker line"),
        ("# agent_id: A1\n\n", 0, "call has no turns"),
        ("客户：喂\n订单号：123\n", 2, "unknown speaker label '订单号'"),
        ("客户：喂\n客服：" + "长" * 6000 + "\n", 2, "over max_turn_chars=5000"),
        ("客户：喂\x00\n", 1, "NUL byte"),
    ],
)
def test_dialog_errors_name_the_line(tmp_path, text, line, reason):
    calls, errors, _ = read([write(tmp_path / "A1" / "D1.txt", text)])
    assert calls == []
    assert [(e.line, e.call_id) for e in errors] == [(line, "D1")]
    assert reason in errors[0].reason


# --- round trips ------------------------------------------------------------------------


def _call(call_id: str, *turns: tuple[str, str], agent: str = "A1", times: bool = False, **more: Any) -> Call:
    built = []
    for i, (label, text) in enumerate(turns):
        speaker = CFG.speaker(label)
        assert speaker is not None
        start, end = (i * 1000, i * 1000 + 900) if times else (None, None)
        built.append(Turn(i, speaker, text, start, end))
    return Call(call_id, agent, tuple(built), **more)


ROUND_TRIP = [
    _call(
        "R1",
        ("客户", "我买的东西到现在还没到，都一个星期了！"),
        ("客服", "非常抱歉让您久等了，我马上帮您查"),
        ("客户", '好的, "快点" 吧\n还有一件事'),
        agent="A17",
        times=True,
        started_at="2026-11-02T09:15:00+08:00",
        queue="returns",
    ),
    _call("R2", ("客户", "喂 你好 那个 我的卡被吞了"), ("客服", "您好，请问您贵姓？"), agent="A02"),
    _call("R3", ("客服", "感谢来电\t再见"), ("客户", "😀 谢谢 €"), agent="A02", times=True, queue="card"),
]


def _writers(tmp: Path) -> dict[str, Callable[[], list[Path]]]:
    def one(fn: Callable[[Path], None], name: str) -> Callable[[], list[Path]]:
        def go() -> list[Path]:
            fn(tmp / name)
            return [tmp / name]

        return go

    def dialogs(**kw: Any) -> Callable[[], list[Path]]:
        def go() -> list[Path]:
            write_dialogs(ROUND_TRIP, tmp / "dialogs", config=CFG, **kw)
            return [tmp / "dialogs"]

        return go

    labels = {A: "坐席", C: "用户"}
    return {
        "jsonl": one(lambda p: write_jsonl(ROUND_TRIP, p), "a.jsonl"),
        "jsonl-gz": one(lambda p: write_jsonl(ROUND_TRIP, p), "a.jsonl.gz"),
        "jsonl-gb18030-crlf": one(
            lambda p: write_jsonl(ROUND_TRIP, p, encoding="gb18030", line_ending="\r\n"), "a.jsonl"
        ),
        "jsonl-bom": one(lambda p: write_jsonl(ROUND_TRIP, p, encoding="utf-8-sig"), "a.json"),
        "csv": one(lambda p: write_table(ROUND_TRIP, p, speaker_labels=labels), "a.csv"),
        "csv-gb18030": one(lambda p: write_table(ROUND_TRIP, p, encoding="gb18030", line_ending="\r\n"), "a.csv"),
        "csv-gz": one(lambda p: write_table(ROUND_TRIP, p), "a.csv.gz"),
        "tsv": one(lambda p: write_table(ROUND_TRIP, p), "a.tsv"),
        "parquet": one(lambda p: write_table(ROUND_TRIP, p, speaker_labels={A: "A", C: "Q"}), "a.parquet"),
        "dialog": dialogs(),
        "dialog-gb18030": dialogs(encoding="gb18030", line_ending="\r\n", labels=labels, colon=":"),
        "dialog-gz": dialogs(compress=True),
    }


@pytest.mark.parametrize("variant", list(_writers(Path("."))))
def test_every_format_round_trips_to_identical_calls(tmp_path, variant):
    paths = _writers(tmp_path)[variant]()
    calls, errors, _ = read(paths)
    assert errors == []
    assert sorted((bare(c) for c in calls), key=lambda c: c.call_id) == ROUND_TRIP


def test_dialog_writer_refuses_text_that_would_not_come_back(tmp_path):
    with pytest.raises(ValueError, match="would not read back"):
        format_dialog(_call("X", ("客户", "喂\n客服：我不是客服")), config=CFG)
    assert "客服：我不是客服" in format_dialog(_call("X", ("客户", "喂\n客服：我不是客服")))


def test_call_from_dict_is_the_inverse_of_the_jsonl_writer(tmp_path):
    write_jsonl(ROUND_TRIP, tmp_path / "a.jsonl")
    lines = (tmp_path / "a.jsonl").read_text(encoding="utf-8").splitlines()
    assert [call_from_dict(json.loads(x), CFG) for x in lines] == ROUND_TRIP


@pytest.mark.skipif(not SAMPLE.exists(), reason="bundled sample not present")
def test_sample_exports_read_back_identically_in_every_variant(tmp_path):
    spec = importlib.util.spec_from_file_location("export_sample", ROOT / "scripts" / "export_sample.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    export, VARIANTS = module.export, module.VARIANTS

    reference = sorted((bare(c) for c in read([SAMPLE])[0]), key=lambda c: c.call_id)
    assert len(reference) > 0
    for folder in export([SAMPLE], tmp_path, VARIANTS):
        calls, errors, _ = read([folder])
        assert errors == [], folder.name
        assert sorted((bare(c) for c in calls), key=lambda c: c.call_id) == reference, folder.name


# --- counting, property tests ----------------------------------------------------------------


def test_count_records_matches_what_reading_finds(tmp_path):
    write_jsonl(ROUND_TRIP, tmp_path / "a.jsonl")
    write_table(ROUND_TRIP[:2], tmp_path / "b.csv")
    write_table(ROUND_TRIP[:1], tmp_path / "c.parquet")
    write_dialogs(ROUND_TRIP, tmp_path / "d")
    files = expand_inputs([tmp_path])
    assert count_records(files) == 3 + 2 + 1 + 3
    _, _, files = read([tmp_path])
    assert sum(f.records for f in files) == 9


_LINES = [
    line(record(f"C{i}", turns=[turn("客户", f"第{i}个问题，东西坏了"), turn("客服", "非常抱歉")])) for i in range(5)
]
_GOOD_FILE = ("\n".join(_LINES) + "\n").encode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    victim=st.integers(min_value=0, max_value=len(_LINES) - 1),
    where=st.floats(min_value=0.0, max_value=1.0),
    junk=st.binary(min_size=1, max_size=40),
    encoding=st.sampled_from(["utf-8", "gb18030"]),
)
def test_arbitrary_bytes_inside_one_record_never_raise_or_lose_another(tmp_path, victim, where, junk, encoding):
    lines = [x.encode(encoding) for x in _LINES]
    target = lines[victim]
    cut = int(where * len(target))
    lines[victim] = target[:cut] + junk + target[cut:]
    path = write(tmp_path / f"p-{encoding}.jsonl", b"\n".join(lines) + b"\n")
    calls, errors, _ = read([path])
    others = {f"C{i}" for i in range(len(_LINES)) if i != victim}
    victim_lines = range(victim + 1, victim + 2 + junk.count(b"\n"))
    from_victim = {c.call_id for c in calls if c.line in victim_lines}
    # An id the damaged record still yields may make a later twin a duplicate; nothing else may go.
    clashing = {e.call_id for e in errors if "duplicate call_id" in e.reason} & from_victim
    by_id = {c.call_id: c for c in calls if c.line not in victim_lines}
    assert others - clashing <= set(by_id)
    reference = {c.call_id: c for c in (call_from_dict(json.loads(x), CFG) for x in _LINES)}
    for cid in others - clashing:
        assert bare(by_id[cid]) == reference[cid]
    assert set(by_id) <= others
    assert all("\ufffd" not in t.text for c in calls for t in c.turns)
