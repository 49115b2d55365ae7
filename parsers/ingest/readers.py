"""Read a source's files into the event frame, quarantining what does not parse (nothing is dropped).

Source-level assembly: find the files, skip those outside the window, read each (line formats with
:mod:`logrca.parsers.ingest.text_file`, whole-file formats with their reader), redact secrets, and
restrict each file to the window with a per-file account of its lines.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from logrca.parsers.ingest.file_times import file_reader, may_hold_windows
from logrca.parsers.ingest.files import (
    BATCH_BYTES,
    LINK_PROBLEMS,
    FileProblem,
    find_files,
)
from logrca.parsers.ingest.partition_span import NO_PARTITION, no_partition
from logrca.parsers.ingest.schema import EVENT_SCHEMA, QUARANTINE_SCHEMA, ReadResult, as_utc
from logrca.parsers.ingest.secrets import Redactor
from logrca.parsers.ingest.sources import SourceConfig
from logrca.parsers.ingest.text_file import (
    file_record,
    is_line_row,
    place_in_time,
    read_text_file,
)


def read_source(
    source: SourceConfig,
    *,
    base_dir: Path = Path("."),
    paths: list[Path] | None = None,
    window: tuple[datetime, datetime] | None = None,
    batch_bytes: int = BATCH_BYTES,
    prune_files: bool = True,
    redactor: Redactor | None = None,
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
        With a window, skip files that cannot hold a line of it
        (:func:`~logrca.parsers.ingest.file_times.may_hold_window`), so a partition's cost and memory
        do not grow with the history kept beside it. Files without a readable timestamp are always read.
    redactor : Redactor, optional
        Replaces secrets in every text column of events and quarantine before anything is returned.

    Returns
    -------
    ReadResult
        ``events`` sorted by time (EVENT_SCHEMA), ``quarantine`` (QUARANTINE_SCHEMA) and ``stats``:
        files, lines_read, lines_in_events, events, lines_quarantined, lines_outside_window,
        out_of_order, files_truncated, files_missing; and ``files``, one account per file
        (:func:`~logrca.parsers.ingest.text_file.file_record`) with notes: empty file, link target
        missing, symbolic link loop, truncated gzip, no parsable line.
    """
    files, problems = (paths, []) if paths is not None else find_files(source.paths, base_dir)
    options = _ReadOptions(window, batch_bytes, prune_files, redactor, None)
    held = _held(files, source, options)
    return _assemble(
        source, files, problems, [_read_or_skip(path, source, options, held[path]) for path in files]
    )


@dataclass(frozen=True)
class _ReadOptions:
    """How each file of a read is read (the keyword arguments of :func:`read_source`)."""

    window: tuple[datetime, datetime] | None
    batch_bytes: int
    prune_files: bool
    redactor: Redactor | None
    #: Start of the first partition, end of the last (None: open): lines outside are in no partition.
    span: tuple[datetime, datetime | None] | None


def _held(files: list[Path], source: SourceConfig, options: _ReadOptions) -> dict[Path, bool]:
    """Per file, whether it may hold a line of the window (all, without a window or pruning):
    :func:`~logrca.parsers.ingest.file_times.may_hold_windows`, the source's files at once."""
    if options.window is None or not options.prune_files:
        return dict.fromkeys(files, True)
    return dict(zip(files, may_hold_windows(files, source, options.window), strict=True))


def _read_or_skip(path: Path, source: SourceConfig, options: _ReadOptions, held: bool) -> ReadResult | None:
    """One file read (:func:`_read_file`), or None when the window's pruning skips it (``held`` False)."""
    if not held:
        return None
    return _read_file(path, source, options.batch_bytes, options.window, options.redactor, options.span)


def _assemble(
    source: SourceConfig, files: list[Path], problems: list[FileProblem], reads: list[ReadResult | None]
) -> ReadResult:
    """A source's result from its files' reads (None: skipped), in file order, then its problems."""
    results = [read for read in reads if read is not None]
    results += [_problem_result(source, problem) for problem in problems]
    merged = ReadResult.concat(results)
    skipped = sum(read is None for read in reads)
    merged.stats["files"] = len(files) - skipped
    merged.stats["files_skipped_outside_window"] = skipped
    for key in (*_COUNTS, *NO_PARTITION, "lines_outside_window", "files_missing"):
        merged.stats.setdefault(key, 0)
    return merged


_COUNTS = ("lines_read", "lines_in_events", "lines_quarantined", "events", "out_of_order", "files_truncated")


def _read_file(
    path: Path,
    source: SourceConfig,
    batch_bytes: int,
    window: tuple[datetime, datetime] | None,
    redactor: Redactor | None,
    span: tuple[datetime, datetime | None] | None = None,
) -> ReadResult:
    """One file, read, redacted and restricted to ``window`` (within ``span``), with its per-file account."""
    reader = file_reader(source.format)
    result = reader(path, source) if reader else read_text_file(path, source, batch_bytes)
    for key in _COUNTS:
        result.stats.setdefault(key, 0)
    if "line_count" not in result.events.columns:
        result.events = result.events.with_columns(line_count=pl.lit(1, pl.UInt32))
    if "line_count" not in result.quarantine.columns:  # whole-file readers: one line per row
        result.quarantine = result.quarantine.with_columns(
            line_count=is_line_row(pl.col("reason")).cast(pl.UInt32)
        )
    if "placed_at" not in result.quarantine.columns:
        result.quarantine = place_in_time(result.events, result.quarantine)
    if not result.files:
        notes = ["empty file"] if result.stats["lines_read"] == 0 else []
        result.files = [file_record(source, path, result.stats, notes)]
    if redactor is not None:
        result = redactor.redact_result(result)
    return _restrict(result, window, span) if window else result


def _problem_result(source: SourceConfig, problem: FileProblem) -> ReadResult:
    """A file that could not be opened (a link whose target is missing, a link loop), or a glob without a file."""
    stats = dict.fromkeys(_COUNTS, 0) | {"files_missing": int(problem.reason.startswith(LINK_PROBLEMS))}
    events = pl.DataFrame(schema={**EVENT_SCHEMA, "line_count": pl.UInt32})
    quarantine = pl.DataFrame(
        schema={**QUARANTINE_SCHEMA, "line_count": pl.UInt32, "placed_at": pl.Datetime("us", "UTC")}
    )
    record = file_record(source, problem.path, stats, [problem.reason])
    return ReadResult(events=events, quarantine=quarantine, stats=stats, files=[record])


def _restrict(
    result: ReadResult,
    window: tuple[datetime, datetime],
    span: tuple[datetime, datetime | None] | None = None,
) -> ReadResult:
    """One file's result within ``window``; its lines elsewhere are counted as outside the window,
    and those outside ``span`` (all partitions) also as before its start or after its end, with a note.

    Quarantined rows without a place in time (a file where no line parses) stay in every window run.
    """
    start, end = (as_utc(t) for t in window)
    in_window = pl.col("timestamp").is_between(start, end, closed="left")
    placed = pl.col("placed_at")
    here = placed.is_null() | placed.is_between(start, end, closed="left")
    events = result.events.filter(in_window)
    quarantine = result.quarantine.filter(here)
    elsewhere_events, elsewhere_rows = result.events.filter(~in_window), result.quarantine.filter(~here)
    outside_events = int(elsewhere_events["line_count"].sum())
    outside_lines = int(elsewhere_rows["line_count"].sum())
    nowhere, notes = no_partition(elsewhere_events, elsewhere_rows, span)
    stats = dict(result.stats)
    stats["lines_in_events"] = int(events["line_count"].sum())
    stats["lines_quarantined"] = int(quarantine["line_count"].sum())  # a record's lines, not its rows
    stats["lines_outside_window"] = outside_events + outside_lines
    stats["events"] = events.height
    stats.update(nowhere)
    counts = ("lines_in_events", "lines_quarantined", "lines_outside_window", *NO_PARTITION)
    files = [
        record | {key: stats[key] for key in counts} | {"notes": record.get("notes", []) + notes}
        for record in result.files
    ]
    return ReadResult(events=events, quarantine=quarantine, stats=stats, files=files)


def to_event_schema(events: pl.DataFrame) -> pl.DataFrame:
    """Drop helper columns and cast to :data:`EVENT_SCHEMA` (the Parquet layout)."""
    return events.select([pl.col(name).cast(dtype) for name, dtype in EVENT_SCHEMA.items()])


def to_quarantine_schema(quarantine: pl.DataFrame) -> pl.DataFrame:
    """Cast to :data:`QUARANTINE_SCHEMA` (drops the ``line_count`` and ``placed_at`` helper columns)."""
    return quarantine.select([pl.col(name).cast(dtype) for name, dtype in QUARANTINE_SCHEMA.items()])


def read_sources(
    sources: list[SourceConfig],
    *,
    base_dir: Path,
    window: tuple[datetime, datetime] | None = None,
    prune_files: bool = True,
    threads: int | None = None,
    redactor: Redactor | None = None,
    span: tuple[datetime, datetime | None] | None = None,
) -> tuple[ReadResult, dict[str, dict[str, int]]]:
    """Read several sources for one window; returns the stacked result and the counts per source.

    Events come back in :data:`EVENT_SCHEMA` sorted by time; quarantine in :data:`QUARANTINE_SCHEMA`.
    Files are read by ``threads`` threads (default ``LOGRCA_INGEST_THREADS`` or the CPU count), the
    largest first: polars parses outside the GIL, so one file's parsing overlaps with another's.
    Results keep the sources' and files' order, so the output does not depend on the thread count.
    ``redactor`` replaces secrets before anything is returned (:mod:`logrca.parsers.ingest.secrets`).
    ``span`` (the first partition's start, the last one's end or None) counts the lines of a window's
    files that lie in no partition (``lines_before_start``, ``lines_after_end``, with a file note).
    """
    threads = threads or int(os.environ.get("LOGRCA_INGEST_THREADS", "0")) or (os.cpu_count() or 1)
    found = [find_files(source.paths, base_dir) for source in sources]
    options = _ReadOptions(window, BATCH_BYTES, prune_files, redactor, span)
    tasks = [(i, path) for i, (files, _) in enumerate(found) for path in files]
    held = [_held(files, source, options) for source, (files, _) in zip(sources, found, strict=True)]
    if threads > 1 and len(tasks) > 1:
        # Files, not sources, are the unit of work, the largest first, so that a source with many
        # files, or one large file at the end, does not leave a core idle; results keep their order.
        with ThreadPoolExecutor(
            max_workers=min(threads, len(tasks)), thread_name_prefix="logrca-ingest"
        ) as pool:
            futures = {
                task: pool.submit(_read_or_skip, task[1], sources[task[0]], options, held[task[0]][task[1]])
                for task in sorted(tasks, key=lambda task: -_size(task[1]))
            }
            reads = [futures[task].result() for task in tasks]
    else:
        reads = [_read_or_skip(path, sources[i], options, held[i][path]) for i, path in tasks]
    read, at = [], 0
    for source, (files, problems) in zip(sources, found):
        read.append(_assemble(source, files, problems, reads[at : at + len(files)]))
        at += len(files)
    results, per_source = [], {}
    for source, result in zip(sources, read):
        per_source[source.name] = dict(result.stats)
        results.append(
            ReadResult(
                events=to_event_schema(result.events),
                quarantine=to_quarantine_schema(result.quarantine),
                stats=result.stats,
                files=result.files,
            )
        )
    merged = ReadResult.concat(results)
    # A stable sort of lines already in time order (one source, its files one after the other) would
    # give them back in the same order, after writing every column anew: one pass over the times says so.
    if not merged.events["timestamp"].is_sorted():
        merged.events = merged.events.sort("timestamp", maintain_order=True)
    return merged, per_source


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
