"""Read CSV log exports whose message may be a JSON record (container runtime logs): format ``csv-json``."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl

from logrca.parsers.ingest.csv_rows import ROW_SCHEMA, message_of, plain_batch, well_formed
from logrca.parsers.ingest.files import BATCH_BYTES, FileProblem, iter_line_batches
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
    rf"\[?(?i:({_LEVEL_WORDS}))\]?\s*[:\-]?\s+"
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


class _Records:
    """CSV records out of raw lines, one line at a time: a quoted newline joins the lines of one record.

    :meth:`line` returns ``(line_no, raw_text, fields | None, problem | None)`` when a record is complete,
    else None (the line continues a quoted field); :meth:`end` the record left open at the end.
    """

    def __init__(self) -> None:
        self.pending: list[str] = []
        self.pending_line = 0

    def line(self, line_no: int, text: str):
        if not self.pending:
            self.pending_line = line_no
        self.pending.append(text)
        joined = "\n".join(self.pending)
        if joined.count('"') % 2 == 1 and len(self.pending) < _MAX_RECORD_LINES:
            return None
        self.pending = []
        try:
            return self.pending_line, joined, next(csv.reader([joined]), []), None
        except csv.Error as error:
            return self.pending_line, joined, None, f"not a CSV row: {error}"

    def end(self):
        if not self.pending:
            return None
        joined, self.pending = "\n".join(self.pending), []
        return self.pending_line, joined, None, "unterminated quoted field at end of file"


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
        line's head (:data:`APP_LINE_HEAD`) and the text after the head as ``message``; rows with a wrong
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


def _collect_rows(
    path: Path, source: SourceConfig, options: CsvOptions
) -> tuple[pl.DataFrame, list[dict], int]:
    """The file's data rows as text columns, the rows quarantined on the way, and the header rows seen.

    Runs of lines that are whole, well-formed records of the header's width (no quoted newline, no
    stray quote, no header row) are read by polars (:func:`_read_lines`); the other lines, and the
    header, go through the csv module a record at a time. Both give the same rows.
    """
    state = _RowState(source, options, path)
    records = _Records()
    for batch in iter_line_batches(path, batch_bytes=BATCH_BYTES):
        if isinstance(batch, FileProblem):
            state.record(records.end())
            raw = (batch.raw or b"").decode("utf-8", errors="replace")
            state.record((batch.line_no, raw, None, batch.reason))
            break
        lines = batch.data.decode("utf-8", errors="replace").split("\n")
        start = 0
        while state.header is None and start < len(lines):  # the header, read the careful way
            state.record(records.line(batch.first_line_no + start, lines[start].removesuffix("\r")))
            start += 1
        if start < len(lines):
            _read_lines(lines, start, batch.first_line_no, state, records)
    else:
        state.record(records.end())
    return state.rows(), state.quarantined, state.header_rows


def _read_lines(
    lines: list[str], start: int, first_line_no: int, state: _RowState, records: _Records
) -> None:
    """Lines ``start:`` of a batch: runs of well-formed records by polars, the other lines with the csv module.

    A run is read by polars only from where no quoted field is left open, so the csv module reads
    every line that it could read differently: one bad line no longer sends its whole batch that way.
    """
    text = pl.Series("line", lines[start:], pl.Utf8).str.strip_suffix("\r")
    bad = well_formed(text, len(state.header)).not_().arg_true().to_list()

    def careful(upto: int) -> int:  # lines at..upto-1 one at a time; returns upto
        for k in range(at, upto):
            state.record(records.line(first_line_no + k, lines[k].removesuffix("\r")))
        return upto

    at, end = start, len(lines)
    for stop in [*(start + i for i in bad), end]:  # lines at..stop-1 are well formed, line stop is not
        while at < stop and records.pending:  # a quoted field left open: line by line until it closes
            at = careful(at + 1)
        if at < stop:
            run = text.slice(at - start, stop - at)
            plain = plain_batch(run, first_line_no + at, state.header, state.index, state.options)
            if plain is not None:
                state.add_frame(*plain)
                at = stop
            else:
                at = careful(stop)
        if stop < end:
            at = careful(stop + 1)


class _RowState:
    """The rows read so far (chunks of polars frames and of Python lists, in file order), the header, the quarantine."""

    def __init__(self, source: SourceConfig, options: CsvOptions, path: Path) -> None:
        self.source, self.options, self.path = source, options, path
        self.header: list[str] | None = None
        self.index: dict[str, int] = {}
        self.header_rows = 0
        self.quarantined: list[dict] = []
        self.frames: list[pl.DataFrame] = []
        self.columns: dict[str, list] = {name: [] for name in ROW_SCHEMA}

    def record(self, record) -> None:
        """Take one record from :class:`_Records` (None: nothing complete yet)."""
        if record is None:
            return
        line_no, raw, fields, problem = record
        options = self.options
        if problem is None and (not fields or (len(fields) == 1 and not fields[0].strip())):
            problem = "empty line"
        if problem is None and (self.header is None or fields == self.header):
            if self.header is None:
                self.header, self.index = fields, _header_index(fields, options, self.path, line_no)
            self.header_rows += 1
            return
        if problem is None and len(fields) != len(self.header):
            problem = f"expected {len(self.header)} fields, found {len(fields)}"
        message = None if problem else message_of(fields[self.index[options.message_column]], options)
        if problem is None and message is None:
            problem = _no_message(options)
        if problem is not None:
            self.quarantined.append(_quarantine_row(self.source.name, self.path, line_no, raw, problem))
            return
        for name, value in (
            ("time", fields[self.index[options.timestamp_column]]),
            ("message", message.rstrip("\r\n")),
            ("host", _cell(fields, self.index, options.host_column)),
            ("service", _cell(fields, self.index, options.service_column)),
            ("trace_id", _cell(fields, self.index, options.trace_id_column)),
            ("line_no", line_no),
            ("raw", raw),
        ):
            self.columns[name].append(value)

    def add_frame(self, rows: pl.DataFrame, without_message: pl.DataFrame) -> None:
        """Take the rows of a batch read by polars, and quarantine its rows without a message."""
        self._flush()
        self.frames.append(rows)
        problem = _no_message(self.options)
        for line_no, raw in without_message.iter_rows():
            self.quarantined.append(_quarantine_row(self.source.name, self.path, line_no, raw, problem))

    def _flush(self) -> None:
        if self.columns["line_no"]:
            self.frames.append(pl.DataFrame(self.columns, schema=ROW_SCHEMA))
            self.columns = {name: [] for name in ROW_SCHEMA}

    def rows(self) -> pl.DataFrame:
        self._flush()
        return pl.concat(self.frames) if self.frames else pl.DataFrame(schema=ROW_SCHEMA)


def _no_message(options: CsvOptions) -> str:
    return f"column {options.message_column!r}: no JSON string field {options.message_json_key!r}"


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
    # The head alone: a capture of the rest (``(?s:.*)``) would copy every message through the regex
    # engine's slower capturing search (ten times the time); what follows the head is the message.
    return (
        good.select(
            "timestamp",
            pl.lit(source.name, pl.Utf8).alias("system"),
            "service",
            "host",
            normalise_level(pl.col("message").str.extract(APP_LINE_HEAD, 1)).alias("level"),
            pl.col("message").str.replace(APP_LINE_HEAD, "").alias("message"),
            "trace_id",
            pl.lit(str(path), pl.Utf8).alias("source_file"),
            "line_no",
            "line_count",
        )
        .cast(EVENT_SCHEMA)
        .sort("timestamp", "line_no")
    )
