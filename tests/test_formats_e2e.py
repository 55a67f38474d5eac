"""Issue 5 end to end: the bundled sample exported to every input format and
encoding scores to the same tables as the JSONL original; a file with broken
records among good ones scores every good call and lists every broken line."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from qa.pipeline import EXIT_INPUT_ERRORS, score

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "corpora" / "sample"
KEYS = {"turns": ["call_id", "turn"], "findings": ["call_id", "turn", "check", "start"], "calls": ["call_id"]}


def _export_module():
    spec = importlib.util.spec_from_file_location("export_sample", ROOT / "scripts" / "export_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXPORT = _export_module()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "out"
    score([SAMPLE], out, report=False)
    return out


def _tables(out: Path) -> dict[str, pl.DataFrame]:
    tables = {name: pl.read_parquet(out / f"{name}.parquet").sort(keys) for name, keys in KEYS.items()}
    tables["scorecards"] = pl.read_parquet(out / "scorecards.parquet")
    return tables


@pytest.mark.parametrize("variant", EXPORT.VARIANTS)
def test_every_export_scores_like_the_original(reference, tmp_path, variant):
    folder = EXPORT.export([SAMPLE], tmp_path / "exports", (variant,))[0]
    result = score([folder], tmp_path / "out", report=False)
    assert result.errors == 0, (tmp_path / "out" / "errors.jsonl").read_text(encoding="utf-8")
    got, want = _tables(tmp_path / "out"), _tables(reference)
    for name in want:
        assert_frame_equal(got[name], want[name], check_column_order=True)
    formats = {i["format"] for i in result.manifest["inputs"]}
    encodings = {i["encoding"] for i in result.manifest["inputs"]}
    assert formats and encodings  # recorded per input file
    if "gb18030" in variant:
        assert encodings == {"gb18030"}


def test_gbk_file_scores_the_same_as_its_utf8_twin(tmp_path):
    text = (SAMPLE / "calls-2026-11-02.jsonl").read_text(encoding="utf-8")
    (tmp_path / "gbk.jsonl").write_bytes(text.encode("gbk"))
    a = score([SAMPLE / "calls-2026-11-02.jsonl"], tmp_path / "a", report=False)
    b = score([tmp_path / "gbk.jsonl"], tmp_path / "b", report=False)
    assert b.manifest["inputs"][0]["encoding"] == "gb18030"
    for name in ("turns", "findings", "calls"):
        assert_frame_equal(pl.read_parquet(tmp_path / "a" / f"{name}.parquet"), pl.read_parquet(tmp_path / "b" / f"{name}.parquet"))
    assert a.calls == b.calls > 0


def test_broken_records_among_good_ones(tmp_path):
    good = [line for line in (SAMPLE / "calls-2026-11-02.jsonl").read_text(encoding="utf-8").splitlines() if line]
    broken = {
        2: good[0][: len(good[0]) // 2],  # truncated JSON
        4: '{"call_id": "X1", "agent_id": "A01", "turns": []}',  # no turns
        6: '{"call_id": "X2", "turns": [{"speaker": "agent", "text": "你好"}]}',  # no agent_id
        8: '{"call_id": "X3", "agent_id": "A01", "turns": [{"speaker": "坐席", "text": 5}]}',  # text not a string
    }
    lines, n_good = [], 0
    for lineno in range(1, len(good) + len(broken) + 1):
        if lineno in broken:
            lines.append(broken[lineno])
        else:
            lines.append(good[n_good])
            n_good += 1
    src = tmp_path / "mixed.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = score([src], tmp_path / "out", report=False)
    assert result.exit_code == EXIT_INPUT_ERRORS  # 4 of 10 records is over the default 1%
    calls = pl.read_parquet(tmp_path / "out" / "calls.parquet")
    assert sorted(calls["call_id"]) == sorted(json.loads(g)["call_id"] for g in good)
    errors = [json.loads(x) for x in (tmp_path / "out" / "errors.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [e["line"] for e in errors] == sorted(broken)
    assert all(e["source"] == str(src) and e["reason"] for e in errors)
