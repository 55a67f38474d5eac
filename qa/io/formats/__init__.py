"""One reader per input format, all yielding ``Call | RecordError`` for an :class:`InputFile`.

The table :data:`READERS` maps a format name (recorded as
``InputFile.format`` in the manifest) to its reader.
"""

from __future__ import annotations

from typing import Callable, Iterator

from qa.config import Config
from qa.io.formats.base import InputFile
from qa.io.formats.dialog import read_dialog
from qa.io.formats.jsonl import read_jsonl
from qa.io.formats.table import read_table
from qa.types import Call, RecordError

Reader = Callable[[InputFile, Config], Iterator[Call | RecordError]]

READERS: dict[str, Reader] = {
    "jsonl": read_jsonl,
    "csv": read_table,
    "tsv": read_table,
    "parquet": read_table,
    "dialog": read_dialog,
}
