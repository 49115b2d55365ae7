"""Read a source's files into the event frame, quarantining what does not parse (nothing is dropped)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from logrca.parsers.ingest.files import FileProblem, LineBatch, iter_line_batches, resolve_paths
from logrca.parsers.ingest.line_formats import parse_jsonl, parse_loghub, parse_syslog
from logrca.parsers.ingest.schema import EVENT_SCHEMA, QUARANTINE_SCHEMA, ReadResult
from logrca.parsers.ingest.sources import SourceConfig

#: Formats whose files are not line-oriented text get a whole-file reader: ``(path, source) -> ReadResult``.
FILE_READERS: dict[str, Callable[[Path, SourceConfig], ReadResult]] = {}


def _file_reader(format_name: str) -> Callable[[Path, SourceConfig], ReadResult] | None:
    if format_name == "csv-json" and format_name not in FILE_READERS:
        from logrca.parsers.ingest.csv_records import read_csv_json

        FILE_READERS[format_name] = read_csv_json
    return FILE_READERS.get(format_name)


def read_source(
    source: SourceConfig,
    *,
    base_dir: Path = Path("."),
    paths: list[Path] | None = None,
    window: tuple[datetime, datetime] | None = None,
    batch_bytes: int = 32 << 20,
    prune_files: bool = True,
) -> ReadResult:
    """Read every file of ``source`` (or just ``paths``) into events and quarantined lines.

    Parameters
    ----------
    source : SourceConfig
        Format, service, globs and time zone of the source.
    base_dir : Path, default "."
        Folder that relative globs start from (the config file's folder).
    paths : list of Path, optional
        Read these files instead of expanding the source's globs.
    window : (start, end), optional
        Keep only events with ``start <= timestamp < end`` (UTC). Quarantined lines are placed in
        time by the nearest earlier parsed line of their file, so each lands in exactly one window.
    prune_files : bool, default True
        With a window, skip files whose first and last timestamps (:func:`file_time_range`, plus
        :data:`PRUNE_MARGIN`) lie wholly outside it, so a partition's cost and memory do not grow with
        the history kept beside it. Files without a readable timestamp are always read.

    Returns
    -------
    ReadResult
        ``events`` sorted by time (EVENT_SCHEMA), ``quarantine`` (QUARANTINE_SCHEMA) and ``stats``:
        files, lines_read, lines_in_events, events, lines_quarantined, lines_outside_window,
        out_of_order, files_truncated.
    """
    files = paths if paths is not None else resolve_paths(source.paths, base_dir)
    skipped = 0
    if window is not None and prune_files:
        kept = [path for path in files if _may_hold_window(path, source, window)]
        skipped, files = len(files) - len(kept), kept
    results = []
    for path in files:
        reader = _file_reader(source.format)
        result = reader(path, source) if reader else _read_text_file(path, source, batch_bytes)
        results.append(result)
    merged = ReadResult.concat(results)
    merged.stats["files"] = len(files)
    merged.stats["files_skipped_outside_window"] = skipped
    merged.stats.setdefault("lines_read", 0)
    for key in ("lines_in_events", "lines_quarantined", "out_of_order", "files_truncated", "events"):
        merged.stats.setdefault(key, 0)
    return _restrict(merged, window) if window else merged


#: Slack around a file's sampled first/last timestamps when deciding to skip it. Rotated files meet at
#: partition boundaries, so any slack makes every neighbour count; out-of-order lines inside the
#: samples are already covered (min/max of the sampled timestamps).
PRUNE_MARGIN = timedelta(0)


def _may_hold_window(path: Path, source: SourceConfig, window: tuple[datetime, datetime]) -> bool:
    """False only when the file surely holds no line of ``window``.

    Two cheap tests, no full read: the file's mtime is before the window (a line cannot be written
    after its file was last modified), or the first timestamp of its head is at or after the
    window's end. Files without a readable timestamp in the head are read.
    """
    if _file_reader(source.format) is not None:
        return True  # whole-file formats: sampling would read the file anyway
    start, end = (_utc(t) for t in window)
    try:
        if datetime.fromtimestamp(path.stat().st_mtime, tz=UTC) < start - PRUNE_MARGIN:
            return False
        head = next(
            (item for item in iter_line_batches(path, batch_bytes=64 << 10) if isinstance(item, LineBatch)),
            None,
        )
    except OSError:
        return True  # let the full read report the problem
    stamps = _sample_timestamps(path, source, head.lines).drop_nulls() if head and head.lines else None
    return stamps is None or stamps.len() == 0 or stamps.min() - PRUNE_MARGIN < end


def _restrict(result: ReadResult, window: tuple[datetime, datetime]) -> ReadResult:
    start, end = (_utc(t) for t in window)
    in_window = pl.col("timestamp").is_between(start, end, closed="left")
    events = result.events.filter(in_window)
    quarantine = result.quarantine
    if "placed_at" in quarantine.columns:
        quarantine = quarantine.filter(pl.col("placed_at").is_between(start, end, closed="left"))
    stats = dict(result.stats)
    outside = result.events.filter(~in_window)
    stats["lines_outside_window"] = (
        int(outside["line_count"].sum()) if "line_count" in outside.columns else outside.height
    )
    stats["lines_quarantined_outside_window"] = result.quarantine.height - quarantine.height
    stats["events"] = events.height
    return ReadResult(events=events, quarantine=quarantine, stats=stats)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _decode(batch: LineBatch, source: SourceConfig) -> pl.DataFrame:
    """Decode a batch; undecodable or over-long lines get a ``problem`` and keep their bytes in hex."""
    codec = source.encoding
    try:
        texts = b"\n".join(batch.lines).decode(codec).split("\n")
        if len(texts) != len(batch.lines):
            raise UnicodeDecodeError(codec, b"", 0, 1, "line count changed")
        problems = [None] * len(texts)
        hexes = [None] * len(texts)
    except UnicodeDecodeError:
        texts, problems, hexes = [], [], []
        for raw in batch.lines:
            try:
                texts.append(raw.decode(codec))
                problems.append(None)
                hexes.append(None)
            except UnicodeDecodeError as error:
                texts.append(raw.decode(codec, errors="replace"))
                problems.append(
                    f"invalid {codec} at byte {error.start}: {raw[error.start : error.start + 4]!r}"
                )
                hexes.append(raw.hex())
    limit = source.max_line_bytes
    for i, raw in enumerate(batch.lines):
        if len(raw) > limit and problems[i] is None:
            problems[i] = f"line of {len(raw)} bytes is longer than max_line_bytes={limit}"
    n = len(texts)
    return pl.DataFrame(
        {
            "line_no": pl.int_range(batch.first_line_no, batch.first_line_no + n, eager=True, dtype=pl.Int64),
            "text": pl.Series(texts, dtype=pl.Utf8),
            "problem": pl.Series(problems, dtype=pl.Utf8),
            "raw_hex": pl.Series(hexes, dtype=pl.Utf8),
        }
    )


def _start_flags(lines: pl.DataFrame, source: SourceConfig) -> pl.Series:
    """Which good lines start a record (all of them without a multiline rule)."""
    if source.multiline is None:
        return pl.Series(
            "start", [True] * lines.height, dtype=pl.Boolean
        )  # typed: a batch may have no good line
    return lines["text"].str.contains(source.multiline.start_pattern)


def _group_records(lines: pl.DataFrame, source: SourceConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Join continuation lines into records: returns (records, orphan continuation lines)."""
    max_lines = source.multiline.max_lines if source.multiline else 1
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
        year = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).year
        return parse_syslog(records, source, year=year)
    raise ValueError(f"source {source.name!r}: format {source.format!r} has no line parser")


def _batches_with_carry(
    path: Path, source: SourceConfig, batch_bytes: int
) -> Iterator[pl.DataFrame | FileProblem]:
    """Decoded batches; with a multiline rule, an unfinished last record moves to the next batch."""
    carry: pl.DataFrame | None = None
    for item in iter_line_batches(path, batch_bytes=batch_bytes):
        if isinstance(item, FileProblem):
            if carry is not None:
                yield carry
                carry = None
            yield item
            continue
        lines = _decode(item, source)
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


def _read_text_file(path: Path, source: SourceConfig, batch_bytes: int) -> ReadResult:
    events, quarantines, problems = [], [], []
    lines_read = 0
    for item in _batches_with_carry(path, source, batch_bytes):
        if isinstance(item, FileProblem):
            problems.append(item)
            continue
        lines_read += item.height
        bad = item.filter(pl.col("problem").is_not_null())
        records, orphans = _group_records(item.filter(pl.col("problem").is_null()), source)
        parsed = records.hstack(_parse(records, source, path))  # one parsed row per record
        ok = parsed.filter(pl.col("problem").is_null())
        failed = parsed.filter(pl.col("problem").is_not_null())
        orphans = orphans.with_columns(problem=pl.lit("continuation line before any record start"))
        quarantines.append(
            pl.concat(
                [
                    bad.select(
                        "line_no", pl.col("text").alias("raw"), "raw_hex", pl.col("problem").alias("reason")
                    ),
                    failed.select(
                        "line_no",
                        pl.concat_str(["head", "rest"], separator="\n", ignore_nulls=True).alias("raw"),
                        pl.lit(None, pl.Utf8).alias("raw_hex"),
                        pl.col("problem").alias("reason"),
                    ),
                    orphans.select(
                        "line_no", pl.col("text").alias("raw"), "raw_hex", pl.col("problem").alias("reason")
                    ),
                ]
            )
        )
        service = (
            pl.col("row_service")
            if "row_service" in ok.columns and source.service is None
            else pl.lit(source.service)
        )
        if "row_service" in ok.columns and source.service is not None:
            service = pl.coalesce(pl.col("row_service"), pl.lit(source.service))
        events.append(
            ok.select(
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
        )
    event_frame = (
        pl.concat(events) if events else pl.DataFrame(schema={**EVENT_SCHEMA, "line_count": pl.UInt32})
    )
    quarantine = (
        pl.concat(quarantines)
        if quarantines
        else pl.DataFrame(schema={"line_no": pl.Int64, "raw": pl.Utf8, "raw_hex": pl.Utf8, "reason": pl.Utf8})
    )
    quarantine = pl.concat(
        [
            quarantine,
            pl.DataFrame(
                {
                    "line_no": [p.line_no for p in problems],
                    "raw": [""] * len(problems),
                    "raw_hex": [None] * len(problems),
                    "reason": [p.reason for p in problems],
                },
                schema=quarantine.schema,
            ),
        ]
    )
    return _finish(event_frame, quarantine, path, source, lines_read, len(problems))


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
    timeline = events.select("line_no", pl.col("timestamp").alias("placed_at")).sort("line_no")
    fallback = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    quarantine = (
        quarantine.sort("line_no")
        .join_asof(timeline, on="line_no", strategy="backward")
        .join_asof(timeline.rename({"placed_at": "next_at"}), on="line_no", strategy="forward")
        .with_columns(
            placed_at=pl.coalesce("placed_at", "next_at", pl.lit(fallback).cast(pl.Datetime("us", "UTC")))
        )
        .select(
            pl.lit(source.name).alias("system"),
            pl.lit(str(path)).alias("source_file"),
            "line_no",
            "raw",
            "raw_hex",
            "reason",
            "placed_at",
        )
    )
    lines_in_events = int(events["line_count"].sum()) if events.height else 0
    stats = {
        "lines_read": lines_read,
        "lines_in_events": lines_in_events,
        "lines_quarantined": int(
            quarantine.filter(
                pl.col("reason").str.starts_with("truncated").not_()
                & pl.col("reason").str.starts_with("unreadable").not_()
            ).height
        ),
        "events": events.height,
        "out_of_order": out_of_order,
        "files_truncated": truncated,
    }
    return ReadResult(
        events=events.sort("timestamp", maintain_order=True), quarantine=quarantine, stats=stats
    )


def to_event_schema(events: pl.DataFrame) -> pl.DataFrame:
    """Drop helper columns and cast to :data:`EVENT_SCHEMA` (the Parquet layout)."""
    return events.select([pl.col(name).cast(dtype) for name, dtype in EVENT_SCHEMA.items()])


def to_quarantine_schema(quarantine: pl.DataFrame) -> pl.DataFrame:
    """Cast to :data:`QUARANTINE_SCHEMA` (drops the ``placed_at`` helper column)."""
    return quarantine.select([pl.col(name).cast(dtype) for name, dtype in QUARANTINE_SCHEMA.items()])


def read_sources(
    sources: list[SourceConfig],
    *,
    base_dir: Path,
    window: tuple[datetime, datetime] | None = None,
    prune_files: bool = True,
    threads: int | None = None,
) -> tuple[ReadResult, dict[str, dict[str, int]]]:
    """Read several sources for one window; returns the stacked result and the counts per source.

    Events come back in :data:`EVENT_SCHEMA` sorted by time; quarantine in :data:`QUARANTINE_SCHEMA`.
    Sources are read by ``threads`` threads (default ``LOGRCA_INGEST_THREADS`` or the CPU count): polars
    parses outside the GIL, so a regex-parsed source overlaps with a JSON one. Results keep the
    sources' order, so the output does not depend on the thread count.
    """
    threads = threads or int(os.environ.get("LOGRCA_INGEST_THREADS", "0")) or (os.cpu_count() or 1)

    def read_one(source: SourceConfig) -> ReadResult:
        return read_source(source, base_dir=base_dir, window=window, prune_files=prune_files)

    if threads > 1 and len(sources) > 1:
        with ThreadPoolExecutor(
            max_workers=min(threads, len(sources)), thread_name_prefix="logrca-ingest"
        ) as pool:
            read = list(pool.map(read_one, sources))
    else:
        read = [read_one(source) for source in sources]
    results, per_source = [], {}
    for source, result in zip(sources, read):
        per_source[source.name] = dict(result.stats)
        results.append(
            ReadResult(
                events=to_event_schema(result.events),
                quarantine=to_quarantine_schema(result.quarantine),
                stats=result.stats,
            )
        )
    merged = ReadResult.concat(results)
    merged.events = merged.events.sort("timestamp", maintain_order=True)
    return merged, per_source


def file_time_range(
    path: Path, source: SourceConfig, *, sample_bytes: int = 256 << 10
) -> tuple[datetime, datetime] | None:
    """First and last timestamp of a log file from a cheap look at its head and tail.

    Parameters
    ----------
    path : Path
        A file of ``source`` (plain or gzip).
    source : SourceConfig
        How to parse its lines.
    sample_bytes : int, default 256 KiB
        How much of the head and of the tail is parsed.

    Returns
    -------
    (first, last) or None
        UTC datetimes (``first <= last``), or None when no line of the samples parses.

    Notes
    -----
    Plain files are read at both ends with a seek; a gzip stream must be decompressed to reach its
    end, which streams the file once in ``sample_bytes`` blocks (memory stays bounded). Lines written
    out of order by more than the samples reach are not seen; the file's partitions are then read
    when the neighbouring partitions run (every run reads all files, filtered to its window).
    Whole-file formats (``csv-json``) are read completely.
    """
    reader = _file_reader(source.format)
    if reader is not None:
        stamps = reader(path, source).events["timestamp"].drop_nulls()
        return (stamps.min(), stamps.max()) if stamps.len() else None
    head, tail = _head_and_tail(path, sample_bytes)
    stamps = pl.concat([_sample_timestamps(path, source, lines) for lines in (head, tail) if lines])
    stamps = stamps.drop_nulls()
    return (stamps.min(), stamps.max()) if stamps.len() else None


def _head_and_tail(path: Path, sample_bytes: int) -> tuple[list[bytes], list[bytes]]:
    """Whole lines of the first and last ``sample_bytes`` of a file (gzip streamed through)."""
    head: list[bytes] = []
    last_two: list[bytes] = []
    for item in iter_line_batches(path, batch_bytes=sample_bytes):
        if isinstance(item, FileProblem):
            break
        if not head:
            head = item.lines
            if path.stat().st_size > 2 * sample_bytes and not _is_gzip(path):
                return head, _plain_tail(path, sample_bytes)
        last_two = (last_two + item.lines)[-max(len(item.lines), 1) * 2 :]
    return head, last_two


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as probe:
        return probe.read(2) == b"\x1f\x8b"


def _plain_tail(path: Path, sample_bytes: int) -> list[bytes]:
    with path.open("rb") as stream:
        stream.seek(-sample_bytes, 2)
        block = stream.read()
    return [line.removesuffix(b"\r") for line in block.split(b"\n")[1:] if line]


def _sample_timestamps(path: Path, source: SourceConfig, lines: list[bytes]) -> pl.Series:
    decoded = _decode(LineBatch(path, 1, lines), source)
    records, _ = _group_records(decoded.filter(pl.col("problem").is_null()), source)
    if records.is_empty():
        return pl.Series("timestamp", [], dtype=pl.Datetime("us", "UTC"))
    parsed = _parse(records, source, path)
    return parsed.filter(pl.col("problem").is_null())["timestamp"].cast(pl.Datetime("us", "UTC"))
