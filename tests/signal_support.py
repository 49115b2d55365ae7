"""Shared by the span and metric reader tests: a minimal source and the accounting every file read keeps."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from logrca.parsers.ingest.schema import QUARANTINE_SCHEMA


@dataclass
class Source:
    """What a reader needs of a source config: its name and, optionally, a service to fall back on."""

    name: str
    service: str | None = None


def assert_accounted(result, schema: dict) -> None:
    """Rows read = stored + quarantined, the counts match the frames, and both frames have their schema."""
    stats = result.stats
    assert stats["rows_read"] == stats["rows_stored"] + stats["rows_quarantined"]
    assert stats["rows_quarantined"] == result.quarantine.height
    assert stats["rows_stored"] == result.frame.height
    assert result.frame.schema == pl.Schema(schema)
    assert result.quarantine.schema == pl.Schema(QUARANTINE_SCHEMA)
