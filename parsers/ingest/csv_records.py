"""Read CSV log exports whose message may be a JSON record (container runtime logs): format ``csv-json``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import polars as pl

from logrca.parsers.ingest.files import FileProblem, iter_line_batches
from logrca.parsers.ingest.line_formats import parse_timestamps
from logrca.parsers.ingest.schema import (
    EVENT_SCHEMA,
    LEVEL_ALIASES,
    LEVELS,
    QUARANTINE_SCHEMA,
    ReadResult,
    normalise_level,
)
from logrca.parsers.ingest.sources import CsvOptions, SourceConfig

__all__ = ["APP_LINE_HEAD", "read_csv_json", "service_from_host"]

_LEVEL_WORDS = "|".join(sorted({*LEVELS, *LEVEL_ALIASES}, key=len, reverse=True))
#: An application line that starts with its own clock and a level: ``16:42:22.382 INFO  rest``,
#: ``2024-01-02 03:04:05,678 [main] WARN rest``. The level and the rest are taken; the clock is ignored
#: (the CSV time column is the event time). The rest may span lines (a joined stack trace).
APP_LINE_HEAD = (
    r"^\s*(?:\[?\d{4}-\d{2}-\d{2}[ T])?\[?\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\]?\s+(?:\[[^\]]*\]\s+)?"
    rf"\[?(?i:({_LEVEL_WORDS}))\]?\s*[:\-]?\s+((?s:.*))$"
)
_MAX_RECORD_LINES = 200


def service_from_host(host: pl.Expr, strip: int) -> pl.Expr:
    """Drop the last ``strip`` ``-`` parts of a host/pod name: ``api-5f9c7-x2x`` -> ``api`` for 2.

    A name with no more than ``strip`` parts is kept whole (it carries no generated suffix).
    """
    if strip == 0:
        return host
    parts = host.str.split("-")
    return (
        pl.when(parts.list.len() > strip)
        .then(parts.list.head(parts.list.len() - strip).list.join("-"))
        .otherwise(host)
    )


def _records(path: Path):
    """Yield ``(line_no, raw_text, fields | None, problem | None)`` per CSV record; quoted newlines are joined."""
    pending: list[str] = []
    pending_line = 0
    for batch in iter_line_batches(path):
        if isinstance(batch, FileProblem):
            if pending:
                yield pending_line, "\n".join(pending), None, "unterminated quoted field at end of file"
                pending = []
            yield batch.line_no, (batch.raw or b"").decode("utf-8", errors="replace"), None, batch.reason
            return
        for offset, raw_bytes in enumerate(batch.lines):
            text = raw_bytes.decode("utf-8", errors="replace")
            if not pending:
                pending_line = batch.first_line_no + offset
            pending.append(text)
            joined = "\n".join(pending)
            if joined.count('"') % 2 == 1 and len(pending) < _MAX_RECORD_LINES:
                continue
            pending = []
            try:
                fields = next(csv.reader([joined]), [])
                yield pending_line, joined, fields, None
            except csv.Error as error:
                yield pending_line, joined, None, f"not a CSV row: {error}"
    if pending:
        yield pending_line, "\n".join(pending), None, "unterminated quoted field at end of file"


def _join_continuations(rows: pl.DataFrame, source: SourceConfig) -> tuple[pl.DataFrame, int]:
    """Join rows that continue a record (a stack trace written one line per CSV row) into the record they continue.

    With a :class:`~logrca.parsers.ingest.sources.MultilineRule` on the source, a row whose message does not match its
    ``start_pattern`` continues the previous row of the same host (service when there is no host) in time
    order (CSV rows need not be in order; ties keep file order); its message is appended after a newline,
    and records are cut at ``max_lines`` like the line readers do. A continuation row with no record
    before it on its host stays an event of its own (nothing is lost). Returns the rows and how many were joined.
    """
    rule = source.multiline
    if rule is None or rows.is_empty():
        return rows, 0
    key = pl.coalesce("host", "service")
    flagged = rows.sort("timestamp", "line_no").with_columns(
        start=pl.col("message").str.contains(rule.start_pattern)
    )
    flagged = flagged.with_columns(record=pl.col("start").cum_sum().over(key))
    flagged = flagged.with_columns(start=pl.col("start") | (pl.col("record") == 0))  # orphans stand alone
    position = pl.int_range(pl.len()).over(key, "record")
    flagged = flagged.with_columns(start=pl.col("start") | ((position % rule.max_lines) == 0))
    flagged = flagged.with_columns(record=pl.col("start").cum_sum().over(key), group=key)
    joined = flagged.height - int(flagged["start"].sum())
    if joined == 0:
        return rows, 0
    merged = flagged.group_by("group", "record", maintain_order=True).agg(
        pl.exclude("message", "start", "raw", "line_count").first(),
        pl.col("message").str.join("\n"),
        pl.col("raw").str.join("\n"),
        pl.col("line_count").sum().cast(pl.UInt32),
    )
    return merged.select(rows.columns), joined


def _quarantine_row(system: str, path: Path, line_no: int, raw: str, reason: str) -> dict:
    raw_hex = raw.encode("utf-8", errors="surrogatepass").hex() if "\ufffd" in raw else None
    return {
        "system": system,
        "source_file": str(path),
        "line_no": line_no,
        "raw": raw,
        "raw_hex": raw_hex,
        "reason": reason,
    }


def read_csv_json(path: Path, source: SourceConfig) -> ReadResult:
    """Read one CSV log file (plain or gzip) into the event frame.

    Parameters
    ----------
    path : Path
        The file. Its first row is the header; a row equal to the header later on (files concatenated
        with their headers) is skipped and counted in ``stats["header_rows"]``.
    source : SourceConfig
        ``source.csv`` (:class:`~logrca.parsers.ingest.sources.CsvOptions`) names the time, message, host, service and
        trace-id columns; ``message_json_key`` takes the line out of a JSON record in the message column.

    Returns
    -------
    ReadResult
        Events sorted by time (rows in the file need not be), with ``level`` parsed from the application
        line's head (:data:`APP_LINE_HEAD`) and the line after the level as ``message``; rows with a wrong
        field count, bad JSON, no message or an unreadable time go to quarantine with a reason that names
        the column. ``lines_read == lines_in_events + lines_quarantined`` (header rows are not counted).
        With ``source.multiline``, rows that continue a record (stack-trace lines) are joined into it
        (:func:`_join_continuations`; ``stats["continuation_rows_joined"]``).
    """
    options = source.csv or CsvOptions()
    rows, quarantined, header_rows = _collect_rows(Path(path), source, options)
    frame = _with_time_and_service(rows, source, options)
    quarantined += _unusable_rows(frame, source, path, options)
    good = frame.filter(pl.col("timestamp").is_not_null() & pl.col("service").is_not_null())
    good, joined = _join_continuations(good.with_columns(line_count=pl.lit(1, pl.UInt32)), source)
    events = _events(good, source, path)
    quarantine = pl.DataFrame(quarantined, schema=QUARANTINE_SCHEMA).sort("line_no")
    stats = {
        "lines_read": events.height + joined + quarantine.height,
        "lines_in_events": events.height + joined,
        "lines_quarantined": quarantine.height,
        "events": events.height,
        "header_rows": header_rows,
        "continuation_rows_joined": joined,
    }
    return ReadResult(events=events, quarantine=quarantine, stats=stats)


_ROW_SCHEMA = {
    "time": pl.Utf8,
    "message": pl.Utf8,
    "host": pl.Utf8,
    "service": pl.Utf8,
    "trace_id": pl.Utf8,
    "line_no": pl.Int64,
    "raw": pl.Utf8,
}


def _collect_rows(
    path: Path, source: SourceConfig, options: CsvOptions
) -> tuple[pl.DataFrame, list[dict], int]:
    """The file's data rows as text columns, the rows quarantined on the way, and the header rows seen."""
    header: list[str] | None = None
    index: dict[str, int] = {}
    columns: dict[str, list] = {name: [] for name in _ROW_SCHEMA}
    quarantined: list[dict] = []
    header_rows = 0
    for line_no, raw, fields, problem in _records(path):
        if problem is None and (not fields or (len(fields) == 1 and not fields[0].strip())):
            problem = "empty line"
        if problem is None and (header is None or fields == header):
            if header is None:
                header, index = fields, _header_index(fields, options, path, line_no)
            header_rows += 1
            continue
        if problem is None and len(fields) != len(header):
            problem = f"expected {len(header)} fields, found {len(fields)}"
        message = None if problem else _message(fields[index[options.message_column]], options)
        if problem is None and message is None:
            problem = f"column {options.message_column!r}: no JSON string field {options.message_json_key!r}"
        if problem is not None:
            quarantined.append(_quarantine_row(source.name, path, line_no, raw, problem))
            continue
        for name, value in (
            ("time", fields[index[options.timestamp_column]]),
            ("message", message.rstrip("\r\n")),
            ("host", _cell(fields, index, options.host_column)),
            ("service", _cell(fields, index, options.service_column)),
            ("trace_id", _cell(fields, index, options.trace_id_column)),
            ("line_no", line_no),
            ("raw", raw),
        ):
            columns[name].append(value)
    return pl.DataFrame(columns, schema=_ROW_SCHEMA), quarantined, header_rows


def _cell(fields: list[str], index: dict[str, int], column: str | None) -> str | None:
    """The value of an optional column (None when the source names no such column or it is empty)."""
    return fields[index[column]] or None if column else None


def _header_index(header: list[str], options: CsvOptions, path: Path, line_no: int) -> dict[str, int]:
    wanted = [
        options.timestamp_column,
        options.message_column,
        options.host_column,
        options.service_column,
        options.trace_id_column,
    ]
    missing = [c for c in wanted if c is not None and c not in header]
    if missing:
        raise ValueError(
            f"{path}:{line_no}: CSV header {header} lacks column(s) {missing} named in csv options"
        )
    return {name: i for i, name in enumerate(header)}


def _message(value: str, options: CsvOptions) -> str | None:
    """The line in the message column (taken out of its JSON record when ``message_json_key`` is set)."""
    if options.message_json_key is None:
        return value
    try:
        record = json.loads(value)
        message = record[options.message_json_key] if isinstance(record, dict) else None
    except (json.JSONDecodeError, KeyError):
        return None
    return message if isinstance(message, str) else None


def _with_time_and_service(frame: pl.DataFrame, source: SourceConfig, options: CsvOptions) -> pl.DataFrame:
    frame = frame.with_columns(
        timestamp=parse_timestamps(
            frame["time"], timestamp_format=source.timestamp_format, timezone=source.timezone
        )
    )
    fallback = pl.lit(source.service, pl.Utf8)
    if options.service_column is None:
        derived = (
            service_from_host(pl.col("host"), options.service_from_host_strip)
            if options.host_column
            else fallback
        )
        return frame.with_columns(service=pl.coalesce(derived, fallback))
    return frame.with_columns(service=pl.coalesce(pl.col("service"), fallback))


def _unusable_rows(frame: pl.DataFrame, source: SourceConfig, path: Path, options: CsvOptions) -> list[dict]:
    """Quarantine rows for rows without a readable time or without a service."""
    rows = []
    for row in frame.filter(pl.col("timestamp").is_null()).iter_rows(named=True):
        reason = f"column {options.timestamp_column!r}: unreadable time {row['time']!r}"
        rows.append(_quarantine_row(source.name, path, row["line_no"], row["raw"], reason))
    no_service = frame.filter(pl.col("timestamp").is_not_null() & pl.col("service").is_null())
    for row in no_service.iter_rows(named=True):
        reason = "no service: empty host/service column and no 'service' in the source"
        rows.append(_quarantine_row(source.name, path, row["line_no"], row["raw"], reason))
    return rows


def _events(good: pl.DataFrame, source: SourceConfig, path: Path) -> pl.DataFrame:
    """Event rows (EVENT_SCHEMA plus ``line_count``), level and message split from the line's head."""
    head = pl.col("message").str.extract_groups(APP_LINE_HEAD)
    return (
        good.with_columns(head.alias("head"))
        .select(
            "timestamp",
            pl.lit(source.name, pl.Utf8).alias("system"),
            "service",
            "host",
            normalise_level(pl.col("head").struct.field("1")).alias("level"),
            pl.coalesce(pl.col("head").struct.field("2"), pl.col("message")).alias("message"),
            "trace_id",
            pl.lit(str(path), pl.Utf8).alias("source_file"),
            "line_no",
            "line_count",
        )
        .cast(EVENT_SCHEMA)
        .sort("timestamp", "line_no")
    )
