"""Read one line-oriented log file (plain or gzip) into events and quarantined lines.

File-level reading: decode, join multi-line records, parse with the source's format, and place each
quarantined line in time by its neighbours in the file. :mod:`logrca.parsers.ingest.readers` assembles
the files of a source and restricts them to a partition's window.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from logrca.parsers.ingest.files import BATCH_BYTES, FILE_PROBLEM_KINDS, FileProblem, LineBatch
from logrca.parsers.ingest.line_formats import parse_jsonl, parse_loghub
from logrca.parsers.ingest.schema import EVENT_SCHEMA, ReadResult
from logrca.parsers.ingest.sources import SourceConfig
from logrca.parsers.ingest.syslog_lines import parse_syslog
from logrca.parsers.ingest.text_lines import decode_batch, decoded_batches

#: Quarantine reasons of rows that mark a file problem rather than hold a line (not counted as lines).
MARKER_PREFIXES = (f"{FILE_PROBLEM_KINDS[0]}: file ends", FILE_PROBLEM_KINDS[1])
#: How much of a line a quarantine ``reason`` may quote (the whole line stays in ``raw``).
REASON_QUOTE_CHARS = 120

#: Quarantine rows while a file is read: ``line_count`` is the lines a row holds (a record that failed
#: to parse holds its continuation lines too; a marker of a file problem holds none).
_LINES_SCHEMA = {
    "line_no": pl.Int64,
    "raw": pl.Utf8,
    "raw_hex": pl.Utf8,
    "reason": pl.Utf8,
    "line_count": pl.UInt32,
}


def _start_flags(lines: pl.DataFrame, source: SourceConfig) -> pl.Series:
    """Which good lines start a record (all of them without a multiline rule)."""
    if source.multiline is None:
        return pl.Series(
            "start", [True] * lines.height, dtype=pl.Boolean
        )  # typed: a batch may have no good line
    return lines["text"].str.contains(source.multiline.start_pattern)


def _group_records(lines: pl.DataFrame, source: SourceConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Join continuation lines into records: returns (records, orphan continuation lines)."""
    if source.multiline is None:  # every line is a record: no grouping to do
        records = lines.select(
            "line_no",
            pl.col("text").alias("head"),
            pl.lit(None, pl.Utf8).alias("rest"),
            pl.lit(1, pl.UInt32).alias("line_count"),
        )
        return records, lines.clear()
    max_lines = source.multiline.max_lines
    flagged = lines.with_columns(start=_start_flags(lines, source)).with_columns(
        record=pl.col("start").cum_sum()
    )
    orphans = flagged.filter(pl.col("record") == 0)
    flagged = flagged.filter(pl.col("record") > 0)
    if max_lines > 1:
        position = pl.int_range(pl.len()).over("record")
        flagged = flagged.with_columns(start=pl.col("start") | ((position % max_lines) == 0)).with_columns(
            record=pl.col("start").cum_sum()
        )
    records = (
        flagged.group_by("record", maintain_order=True)
        .agg(
            pl.col("line_no").first(),
            pl.col("text").first().alias("head"),
            pl.col("text").slice(1).str.join("\n").alias("rest"),
            pl.len().alias("line_count"),
        )
        .drop("record")
    )
    return records, orphans


def _parse(records: pl.DataFrame, source: SourceConfig, path: Path) -> pl.DataFrame:
    if source.format == "loghub":
        return parse_loghub(records, source)
    if source.format == "jsonl":
        return parse_jsonl(records, source)
    if source.format == "syslog":
        return parse_syslog(records, source, written=datetime.fromtimestamp(path.stat().st_mtime, tz=UTC))
    raise ValueError(f"source {source.name!r}: format {source.format!r} has no line parser")


def _batches_with_carry(
    path: Path, source: SourceConfig, batch_bytes: int
) -> Iterator[pl.DataFrame | FileProblem]:
    """Decoded batches; with a multiline rule, an unfinished last record moves to the next batch."""
    carry: pl.DataFrame | None = None
    for item in decoded_batches(path, source, batch_bytes):
        if isinstance(item, FileProblem):
            if carry is not None:
                yield carry
                carry = None
            yield item
            continue
        lines = item
        if carry is not None:
            lines = pl.concat([carry, lines])
            carry = None
        if source.multiline is not None:
            good = lines.filter(pl.col("problem").is_null())
            starts = good.filter(_start_flags(good, source))
            if starts.height > 1:
                last_start = starts["line_no"][-1]
                carry = lines.filter(pl.col("line_no") >= last_start)
                lines = lines.filter(pl.col("line_no") < last_start)
        yield lines
    if carry is not None:
        yield carry


def read_text_file(path: Path, source: SourceConfig, batch_bytes: int = BATCH_BYTES) -> ReadResult:
    """Read one file of ``source``: events (with ``line_count``) and quarantined lines (with ``placed_at``).

    ``stats``: lines_read, lines_in_events, lines_quarantined, events, out_of_order, files_truncated.
    ``files`` holds one record for the file (see :func:`file_record`).
    """
    events, quarantines, problems = [], [], []
    lines_read = 0
    for item in _batches_with_carry(path, source, batch_bytes):
        if isinstance(item, FileProblem):
            problems.append(item)
            lines_read += item.raw is not None
            continue
        lines_read += item.height
        batch_events, batch_quarantine = _parse_batch(item, source, path)
        events.append(batch_events)
        quarantines.append(batch_quarantine)
    quarantines.append(_problem_rows(problems, source))
    event_frame = (
        pl.concat(events) if events else pl.DataFrame(schema={**EVENT_SCHEMA, "line_count": pl.UInt32})
    )
    notes = [problem.reason for problem in problems]
    result = _finish(event_frame, pl.concat(quarantines), path, source, lines_read, len(problems))
    result.files[0]["notes"] = notes + result.files[0]["notes"]
    return result


def _parse_batch(lines: pl.DataFrame, source: SourceConfig, path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One decoded batch as (events, quarantined lines)."""
    bad = lines.filter(pl.col("problem").is_not_null())
    records, orphans = _group_records(lines.filter(pl.col("problem").is_null()), source)
    parsed = records.hstack(_parse(records, source, path))  # one parsed row per record
    ok = parsed.filter(pl.col("problem").is_null())
    failed = parsed.filter(pl.col("problem").is_not_null())
    orphans = orphans.with_columns(problem=pl.lit("continuation line before any record start"))
    line_rows = [
        pl.col("text").alias("raw"),
        "raw_hex",
        _bounded("problem").alias("reason"),
        pl.lit(1, pl.UInt32).alias("line_count"),
    ]
    quarantine = pl.concat(
        [
            bad.select("line_no", *line_rows),
            failed.select(
                "line_no",
                pl.when(pl.col("rest").is_null() | (pl.col("rest") == ""))
                .then(pl.col("head"))
                .otherwise(pl.col("head") + "\n" + pl.col("rest"))
                .alias("raw"),
                pl.lit(None, pl.Utf8).alias("raw_hex"),
                _bounded("problem").alias("reason"),
                pl.col("line_count").cast(pl.UInt32),
            ),
            orphans.select("line_no", *line_rows),
        ]
    )
    service = pl.lit(source.service)
    if "row_service" in ok.columns:
        own = pl.col("row_service")
        service = own if source.service is None else pl.coalesce(own, pl.lit(source.service))
    events = ok.select(
        "timestamp",
        pl.lit(source.name).alias("system"),
        service.cast(pl.Utf8).alias("service"),
        "host",
        "level",
        "message",
        "trace_id",
        pl.lit(str(path)).alias("source_file"),
        "line_no",
        "line_count",
    )
    return events, quarantine


def _bounded(column: str) -> pl.Expr:
    """A reason cut to :data:`REASON_QUOTE_CHARS` (it may quote a line; the line itself is in ``raw``)."""
    text = pl.col(column)
    return (
        pl.when(text.str.len_chars() > REASON_QUOTE_CHARS)
        .then(text.str.slice(0, REASON_QUOTE_CHARS) + pl.lit("…"))
        .otherwise(text)
    )


def _problem_rows(problems: list[FileProblem], source: SourceConfig) -> pl.DataFrame:
    """Quarantine rows for file problems: the cut-off line itself, or a marker row naming the problem
    (``line_count`` 0: it holds no line read)."""
    return pl.DataFrame(
        {
            "line_no": [p.line_no for p in problems],
            "raw": [(p.raw or b"").decode(source.encoding, errors="replace") for p in problems],
            "raw_hex": [p.raw.hex() if p.raw else None for p in problems],
            "reason": [p.reason for p in problems],
            "line_count": [int(p.raw is not None) for p in problems],  # as read_text_file counts them
        },
        schema=_LINES_SCHEMA,
    )


def is_line_row(reason: pl.Expr) -> pl.Expr:
    """Quarantine rows that hold a line read (not a marker of a file problem)."""
    return pl.any_horizontal([reason.str.starts_with(prefix) for prefix in MARKER_PREFIXES]).not_()


def place_in_time(events: pl.DataFrame, quarantine: pl.DataFrame) -> pl.DataFrame:
    """Give each quarantined row of one file the time of its place in the file (``placed_at``).

    A row takes the time of the last parsed line before it; rows before the first parsed line take
    the first one's. In a file where no line parses, ``placed_at`` stays null: the rows belong to the
    partition being run (never to the file's modification time, which is another partition).
    """
    timeline = events.select("line_no", pl.col("timestamp").alias("placed_at")).sort("line_no")
    return (
        quarantine.sort("line_no")
        .join_asof(timeline, on="line_no", strategy="backward")
        .join_asof(timeline.rename({"placed_at": "next_at"}), on="line_no", strategy="forward")
        .with_columns(placed_at=pl.coalesce("placed_at", "next_at").cast(pl.Datetime("us", "UTC")))
        .drop("next_at")
    )


def file_record(source: SourceConfig, path: Path, stats: dict[str, int], notes: list[str]) -> dict:
    """The per-file account shown in the run's summary: lines read = in events + quarantined (+ elsewhere)."""
    return {
        "source": source.name,
        "file": str(path),
        "lines_read": stats["lines_read"],
        "lines_in_events": stats["lines_in_events"],
        "lines_quarantined": stats["lines_quarantined"],
        "lines_outside_window": stats.get("lines_outside_window", 0),
        "events_in_file": stats["events"],
        "notes": list(notes),
    }


def _finish(
    events: pl.DataFrame,
    quarantine: pl.DataFrame,
    path: Path,
    source: SourceConfig,
    lines_read: int,
    truncated: int,
) -> ReadResult:
    """Sort events by time, place quarantined lines in time, and count."""
    out_of_order = int((events["timestamp"] < events["timestamp"].cum_max()).sum()) if events.height else 0
    quarantine = place_in_time(events, quarantine).select(
        pl.lit(source.name).alias("system"),
        pl.lit(str(path)).alias("source_file"),
        "line_no",
        "raw",
        "raw_hex",
        "reason",
        "line_count",
        "placed_at",
    )
    stats = {
        "lines_read": lines_read,
        "lines_in_events": int(events["line_count"].sum()) if events.height else 0,
        "lines_quarantined": int(quarantine["line_count"].sum()),
        "events": events.height,
        "out_of_order": out_of_order,
        "files_truncated": truncated,
    }
    notes = []
    if lines_read == 0 and not truncated:
        notes.append("empty file")
    elif events.is_empty() and lines_read:
        notes.append(f"no line parses (timestamp or format): {lines_read} lines quarantined here")
    return ReadResult(
        events=events.sort("timestamp", maintain_order=True) if out_of_order else events,
        quarantine=quarantine,
        stats=stats,
        files=[file_record(source, path, stats, notes)],
    )


def sample_timestamps(path: Path, source: SourceConfig, lines: list[bytes]) -> pl.Series:
    """Timestamps of the records in ``lines`` that parse (:func:`sample_record_times`)."""
    return sample_record_times(path, source, lines)["timestamp"]


def sample_record_times(path: Path, source: SourceConfig, lines: list[bytes]) -> pl.DataFrame:
    """``line_no`` (1-based in ``lines``) and ``timestamp`` of each record of ``lines`` that parses."""
    decoded = decode_batch(LineBatch(path, 1, lines), source)
    records, _ = _group_records(decoded.filter(pl.col("problem").is_null()), source)
    if records.is_empty():
        return pl.DataFrame(schema={"line_no": pl.Int64, "timestamp": pl.Datetime("us", "UTC")})
    parsed = records.select("line_no").hstack(_parse(records, source, path))
    return parsed.filter(pl.col("problem").is_null()).select(
        pl.col("line_no").cast(pl.Int64), pl.col("timestamp").cast(pl.Datetime("us", "UTC"))
    )
