"""What span and metric readers return, and the helpers they share: quarantine rows, whole-file text, hex ids."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import NamedTuple, Protocol

import polars as pl

from logrca.parsers.ingest.files import FileProblem, iter_line_batches
from logrca.parsers.ingest.schema import QUARANTINE_SCHEMA

__all__ = ["FileRead", "NamedSource", "QuarantineRows", "file_text", "hex_id", "record_text"]

_HEX = re.compile(r"[0-9a-fA-F]+")


class NamedSource(Protocol):
    """The part of a source config every span/metric reader needs: the source's name (``system`` column)."""

    name: str


class FileRead(NamedTuple):
    """What a span or metric reader returns for one file.

    ``frame`` follows :data:`~logrca.parsers.ingest.schema.SPAN_SCHEMA` or
    :data:`~logrca.parsers.ingest.schema.METRIC_SCHEMA`; ``quarantine`` follows
    :data:`~logrca.parsers.ingest.schema.QUARANTINE_SCHEMA`, one row per record that could not be stored,
    with the reason. ``stats["rows_read"] == stats["rows_stored"] + stats["rows_quarantined"]``.
    """

    frame: pl.DataFrame
    quarantine: pl.DataFrame
    stats: dict[str, int]


class QuarantineRows:
    """Collects quarantined records of one file; ``line_no`` is null where the format has no line per record."""

    def __init__(self, source: NamedSource, path: Path) -> None:
        self.source, self.path, self.rows = source, path, []

    def add(self, line_no: int | None, raw: str, reason: str) -> None:
        raw_hex = raw.encode("utf-8", errors="surrogatepass").hex() if "\ufffd" in raw else None
        self.rows.append(
            {
                "system": self.source.name,
                "source_file": str(self.path),
                "line_no": line_no,
                "raw": raw,
                "raw_hex": raw_hex,
                "reason": reason,
            }
        )

    def __len__(self) -> int:
        return len(self.rows)

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.rows, schema=QUARANTINE_SCHEMA)


def file_text(path: Path) -> tuple[str, str | None]:
    """The whole text of a plain or gzip file, and the reason reading stopped early (a cut gzip stream) or None."""
    lines: list[bytes] = []
    problem = None
    for batch in iter_line_batches(path):
        if isinstance(batch, FileProblem):
            problem = f"line {batch.line_no}: {batch.reason}"
            break
        lines.extend(batch.lines)
    return b"\n".join(lines).decode("utf-8", errors="replace"), problem


def record_text(record: object) -> str:
    """A record as compact JSON, for the quarantine's ``raw`` column."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False, default=str)


def hex_id(value: object, *, lengths: tuple[int, ...]) -> str | None:
    """A lower-case hex id left-padded to the shortest of ``lengths`` (ascending) that holds it; None if it is not hex.

    Jaeger writes ids without their leading zeros (``%x``), Zipkin and OTLP in full; padding makes the same
    id compare equal across formats and with the ``trace_id`` of log lines. An all-zero id is invalid
    (W3C Trace Context) and gives None.

    >>> hex_id("9F1C0E22D4A3B5C", lengths=(16,)), hex_id("", lengths=(16,)), hex_id("0000", lengths=(16,))
    ('09f1c0e22d4a3b5c', None, None)
    """
    if not isinstance(value, str) or not 0 < len(value) <= lengths[-1] or not _HEX.fullmatch(value):
        return None
    text = value.lower()
    if not text.strip("0"):
        return None
    return text.zfill(next(n for n in lengths if n >= len(text)))
