"""Readers of trace spans and metric samples, registered by format name, and reading a source for a window.

A reader is ``read_<format>(path, source) -> (frame, quarantine, stats)``: the frame in
:data:`~logrca.parsers.ingest.schema.SPAN_SCHEMA` or :data:`~logrca.parsers.ingest.schema.METRIC_SCHEMA`,
bad rows in :data:`~logrca.parsers.ingest.schema.QUARANTINE_SCHEMA` with the reason, and counts with
``rows_read == rows_stored + rows_quarantined``. Register one with :func:`register_reader`; a source's
``format`` (:class:`~logrca.parsers.ingest.sources.SignalSourceConfig`) is checked against these names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from logrca.parsers.ingest.files import resolve_paths
from logrca.parsers.ingest.schema import METRIC_SCHEMA, SPAN_SCHEMA, empty_quarantine
from logrca.parsers.ingest.secrets import Redactor

__all__ = [
    "KINDS",
    "SignalRead",
    "read_signal_source",
    "read_signal_sources",
    "reader_names",
    "register_reader",
]

#: ``(path, source) -> (frame, quarantine, stats)``; ``source`` is a ``SignalSourceConfig`` (not imported
#: here: the source model checks its ``format`` against this registry).
SignalReader = Callable[[Path, Any], tuple[pl.DataFrame, pl.DataFrame, dict[str, int]]]

#: Per kind: the frame schema and the column that places a row in time.
KINDS: dict[str, tuple[dict, str]] = {"spans": (SPAN_SCHEMA, "start"), "metrics": (METRIC_SCHEMA, "time")}
#: Per kind: the text columns a redactor rewrites (``host`` a secret makes null, as in log events). Span
#: and trace ids are not among them: stored only as checked hex of at most 32 digits, no secret fits.
REDACTED_COLUMNS: dict[str, tuple[str, ...]] = {
    "spans": ("service", "host", "operation"),
    "metrics": ("service", "host", "metric"),
}

_READERS: dict[str, dict[str, SignalReader | str]] = {
    # built-in readers by dotted name, imported when first used (readers import the source model)
    "spans": {
        "case-csv": "logrca.parsers.ingest.case_csv:read_case_csv_spans",
        "otlp-json": "logrca.parsers.ingest.span_formats:read_otlp_json",
        "jaeger-json": "logrca.parsers.ingest.span_formats:read_jaeger_json",
        "zipkin-json": "logrca.parsers.ingest.span_formats:read_zipkin_json",
    },
    "metrics": {
        "case-csv": "logrca.parsers.ingest.case_csv:read_case_csv_metrics",
        "prometheus": "logrca.parsers.ingest.metric_formats:read_prometheus_text",  # and OpenMetrics
    },
}


def register_reader(kind: str, name: str, reader: SignalReader | str) -> None:
    """Make ``reader`` (a function or ``"module:function"``) the reader of format ``name`` of ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"register_reader: kind must be one of {sorted(KINDS)}, not {kind!r}")
    _READERS[kind][name] = reader


def reader_names(kind: str) -> list[str]:
    """The registered format names of ``kind`` (``spans`` or ``metrics``), sorted."""
    return sorted(_READERS.get(kind, {}))


def _reader(kind: str, name: str) -> SignalReader:
    reader = _READERS[kind][name]
    if isinstance(reader, str):
        import importlib

        module, function = reader.split(":")
        reader = _READERS[kind][name] = getattr(importlib.import_module(module), function)
    return reader


@dataclass
class SignalRead:
    """Rows of one kind read from sources: frame, quarantine and counts (summed over files and sources).

    Invariant: ``rows_read == rows_stored + rows_quarantined`` (rows of the files), and the frame holds
    the ``records_in_window`` records of the stored rows that fall in the window (the rest are counted in
    ``records_outside_window``).
    """

    frame: pl.DataFrame
    quarantine: pl.DataFrame = field(default_factory=empty_quarantine)
    stats: dict[str, int] = field(default_factory=dict)
    per_source: dict[str, dict[str, int]] = field(default_factory=dict)


def _add(total: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    for key, value in more.items():
        total[key] = total.get(key, 0) + value
    return total


def read_signal_source(
    source: Any,
    *,
    base_dir: Path,
    window: tuple[datetime, datetime] | None = None,
    redactor: Redactor | None = None,
) -> SignalRead:
    """Every file of ``source`` through its format's reader; with ``window``, only records inside it.

    ``redactor`` replaces secrets in the rows' names (:data:`REDACTED_COLUMNS`) and in the quarantine's
    text (the whole record: a span's attributes, a sample line) before anything is returned.
    """
    schema, time_column = KINDS[source.kind]
    reader = _reader(source.kind, source.format)
    frames, quarantines, stats = [], [], {"files": 0, "rows_read": 0, "rows_stored": 0, "rows_quarantined": 0}
    for path in resolve_paths(source.paths, base_dir):
        frame, quarantine, file_stats = reader(path, source)
        frames.append(frame.cast(schema))
        quarantines.append(quarantine)
        _add(stats, file_stats)
    frame = pl.concat(frames) if frames else pl.DataFrame(schema=schema)
    if window is not None:
        inside = frame.filter(pl.col(time_column).is_between(*window, closed="left"))
        stats["records_outside_window"] = frame.height - inside.height
        frame = inside
    stats["records_in_window"] = frame.height
    quarantine = pl.concat(quarantines) if quarantines else empty_quarantine()
    if redactor is not None:
        names = list(REDACTED_COLUMNS[source.kind])
        frame, stats = redactor.redact_columns(frame, names, stats, ids={"host"}, repeated=set(names))
        quarantine = redactor.redact_quarantine(quarantine)
    return SignalRead(frame=frame, quarantine=quarantine, stats=stats)


def read_signal_sources(
    sources: list[Any],
    *,
    kind: str,
    base_dir: Path,
    window: tuple[datetime, datetime] | None = None,
    redactor: Redactor | None = None,
) -> SignalRead:
    """:func:`read_signal_source` of each source (all of ``kind``), stacked and sorted by time."""
    schema, time_column = KINDS[kind]
    if not sources:
        return SignalRead(frame=pl.DataFrame(schema=schema))
    reads = [
        read_signal_source(source, base_dir=base_dir, window=window, redactor=redactor) for source in sources
    ]
    stats: dict[str, int] = {}
    for read in reads:
        _add(stats, read.stats)
    return SignalRead(
        frame=pl.concat([r.frame for r in reads]).sort(time_column, maintain_order=True),
        quarantine=pl.concat([r.quarantine for r in reads]),
        stats=stats,
        per_source={source.name: read.stats for source, read in zip(sources, reads)},
    )
