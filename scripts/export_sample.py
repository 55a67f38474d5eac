"""Export calls (by default the bundled sample) to every input format and encoding.

    python scripts/export_sample.py OUT [INPUT ...]

Writes one folder per variant under OUT; each folder, scored on its own,
must give the same tables as the JSONL it came from (the end-to-end test
checks that). Table and JSONL variants keep one file per input file (one per
day); dialog variants write ``<agent_id>/<call_id>.txt``. Variants:

    jsonl            UTF-8 JSON lines
    jsonl-bom-crlf   UTF-8 with BOM, CRLF line endings
    jsonl-gb18030    GB18030
    jsonl-utf16      UTF-16 with BOM
    jsonl-gz         gzip-compressed (.jsonl.gz)
    csv              UTF-8 CSV, speakers as 坐席/客户
    csv-gb18030      GB18030 CSV with CRLF, rows shuffled (a call's rows not contiguous)
    csv-gz           gzip-compressed CSV
    tsv              UTF-8 TSV, speakers as agent/customer
    parquet          Parquet, speakers as A/Q
    dialog           UTF-8 text dialogs, 客服：/客户： with full-width colons
    dialog-gb18030   GB18030 text dialogs, 坐席:/用户: with half-width colons and CRLF
    dialog-gz        gzip-compressed text dialogs (.txt.gz)
    mixed            one folder mixing all of the above, call by call

Exits 1 when an input record is rejected (the export would then not be complete).
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.config import Config, load_config  # noqa: E402
from qa.io.formats.dialog import write_dialogs  # noqa: E402
from qa.io.formats.jsonl import write_jsonl  # noqa: E402
from qa.io.formats.table import write_table  # noqa: E402
from qa.io.read import expand_inputs, read_calls  # noqa: E402
from qa.types import Call, RecordError, Speaker  # noqa: E402

VARIANTS: tuple[str, ...] = (
    "jsonl",
    "jsonl-bom-crlf",
    "jsonl-gb18030",
    "jsonl-utf16",
    "jsonl-gz",
    "csv",
    "csv-gb18030",
    "csv-gz",
    "tsv",
    "parquet",
    "dialog",
    "dialog-gb18030",
    "dialog-gz",
    "mixed",
)
_ZUOXI = {Speaker.AGENT: "坐席", Speaker.CUSTOMER: "客户"}
_AQ = {Speaker.AGENT: "A", Speaker.CUSTOMER: "Q"}
_YONGHU = {Speaker.AGENT: "坐席", Speaker.CUSTOMER: "用户"}


def _shuffled_rows_csv(calls: list[Call], path: Path) -> None:
    """GB18030 CSV with the rows in a fixed random order; the turn column keeps the order."""
    one_per_turn = [(c, t) for c in calls for t in c.turns]
    random.Random(7).shuffle(one_per_turn)
    singles = [Call(c.call_id, c.agent_id, (t,), c.started_at, c.queue) for c, t in one_per_turn]
    write_table(singles, path, encoding="gb18030", speaker_labels=_ZUOXI, line_ending="\r\n")


def write_variant(name: str, by_file: dict[str, list[Call]], out: Path, config: Config) -> None:
    """Write every call of ``by_file`` (file stem -> calls) as variant ``name`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    calls = [c for cs in by_file.values() for c in cs]
    if name == "mixed":
        parts: dict[str, dict[str, list[Call]]] = defaultdict(lambda: defaultdict(list))
        plain = [v for v in VARIANTS if v != "mixed"]
        for i, c in enumerate(calls):
            parts[plain[i % len(plain)]]["part"].append(c)
        for variant, group in sorted(parts.items()):
            write_variant(variant, {f"{variant}-{k}": v for k, v in group.items()}, out / variant, config)
        return
    for stem, group in by_file.items():
        if name == "jsonl":
            write_jsonl(group, out / f"{stem}.jsonl")
        elif name == "jsonl-bom-crlf":
            write_jsonl(group, out / f"{stem}.jsonl", encoding="utf-8-sig", line_ending="\r\n")
        elif name == "jsonl-gb18030":
            write_jsonl(group, out / f"{stem}.jsonl", encoding="gb18030")
        elif name == "jsonl-utf16":
            write_jsonl(group, out / f"{stem}.jsonl", encoding="utf-16")
        elif name == "jsonl-gz":
            write_jsonl(group, out / f"{stem}.jsonl.gz")
        elif name == "csv":
            write_table(group, out / f"{stem}.csv", speaker_labels=_ZUOXI)
        elif name == "csv-gb18030":
            _shuffled_rows_csv(group, out / f"{stem}.csv")
        elif name == "csv-gz":
            write_table(group, out / f"{stem}.csv.gz")
        elif name == "tsv":
            write_table(group, out / f"{stem}.tsv")
        elif name == "parquet":
            write_table(group, out / f"{stem}.parquet", speaker_labels=_AQ)
        elif name == "dialog":
            write_dialogs(group, out, config=config)
        elif name == "dialog-gb18030":
            write_dialogs(group, out, encoding="gb18030", line_ending="\r\n", labels=_YONGHU, colon=":", config=config)
        elif name == "dialog-gz":
            write_dialogs(group, out, compress=True, config=config)
        else:
            raise ValueError(f"unknown variant {name!r}; known: {list(VARIANTS)}")


def export(inputs: list[str | Path], out: str | Path, variants: tuple[str, ...] = VARIANTS) -> list[Path]:
    """Export every call of ``inputs`` to each variant under ``out``; the folders written.

    Raises ValueError when an input record is rejected.
    """
    config = load_config()
    by_file: dict[str, list[Call]] = defaultdict(list)
    rejected: list[RecordError] = []
    for item in read_calls(expand_inputs(inputs), config):
        if isinstance(item, RecordError):
            rejected.append(item)
        else:
            name = Path(item.source).name
            by_file[name.split(".", 1)[0]].append(item)
    if rejected:
        first = rejected[0]
        raise ValueError(f"{len(rejected)} input record(s) rejected, first {first.source}:{first.line}: {first.reason}")
    folders = []
    for name in variants:
        write_variant(name, by_file, Path(out) / name, config)
        folders.append(Path(out) / name)
    return folders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write the variants into")
    parser.add_argument("inputs", nargs="*", default=[str(ROOT / "corpora" / "sample")], help="calls to export")
    parser.add_argument("--variant", action="append", choices=VARIANTS, help="only these variants (repeatable)")
    args = parser.parse_args(argv)
    try:
        folders = export(args.inputs, args.out, tuple(args.variant or VARIANTS))
    except ValueError as e:
        print(f"export_sample: {e}", file=sys.stderr)
        return 1
    for folder in folders:
        print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
