"""Ingestion: every source's files for one time partition, as events and quarantined lines."""

import re
import time
from datetime import datetime
from pathlib import Path

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetOut,
    MetadataValue,
    Output,
    multi_asset,
)

from logrca.assets.materializations import latest_metadata
from logrca.assets.partitions import PartitionPlan
from logrca.assets.resources import PARQUET_WRITE, LogrcaConfigResource
from logrca.parsers.ingest.files import FILE_PROBLEM_KINDS, FILE_PROBLEM_REASON, source_file_states
from logrca.parsers.ingest.partition_span import NO_PARTITION
from logrca.parsers.ingest.readers import read_sources
from logrca.parsers.ingest.secrets import Redactor
from logrca.rca.markdown import cell, counted, frame_table

#: At most this many per-file records go into run metadata (the rest are counted).
MAX_FILE_RECORDS = 50
#: What ``every_file_read_to_its_end`` (:func:`file_end_check`) checks, on the window's and the fault-free rows.
FILE_END_CHECK = "no file ends inside its gzip stream or holds unreadable data (lines lost in it)"


def ingest_logs(context: AssetExecutionContext, logrca: LogrcaConfigResource):
    """Read all configured sources for the partition's time window."""
    config = logrca.load()
    window = context.partition_time_window
    # Taken before reading: the new-file sensor skips a partition already ingested from these very files.
    file_states = source_file_states([s.paths for s in config.sources], config.base_dir)
    started = time.perf_counter()
    live = [source for source in config.sources if source.role == "window"]
    redactor = Redactor.from_config(config.secrets)
    result, per_source = read_sources(
        live,
        base_dir=config.base_dir,
        window=(window.start, window.end),
        redactor=redactor,
        span=partitions_span(context.assets_def.partitions_def, config.end is not None),
    )
    seconds = time.perf_counter() - started
    stats = result.stats
    lines_read = stats.get("lines_read", 0)
    # lines outside the configured span count here (read, and counted apart: every_line_in_a_partition)
    accounted = sum(
        stats.get(key, 0) for key in ("lines_in_events", "lines_quarantined", "lines_outside_window")
    )
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    if "raw_logs" in selected:
        yield Output(
            result.events,
            output_name="raw_logs",
            metadata=raw_logs_metadata(result, per_source, seconds)
            | {"source_files": MetadataValue.json(file_states)},
        )
        yield from _raw_logs_checks(result, lines_read, accounted)
        yield silent_sources_check(context, per_source)
    baseline = [source for source in config.sources if source.role == "baseline"]
    fault_free, fault_free_per_source = read_sources(baseline, base_dir=config.base_dir, redactor=redactor)
    if "baseline_logs" in selected:
        yield Output(
            fault_free.events,
            output_name="baseline_logs",
            metadata={
                "dagster/row_count": fault_free.events.height,
                "per_source": MetadataValue.json(fault_free_per_source),
            },
        )
        yield file_end_check(cut_short_files(fault_free.files), "baseline_logs")
    if "quarantined_lines" in selected:
        quarantine = pl.concat([result.quarantine, fault_free.quarantine])
        preview = frame_table(quarantine.select("system", "source_file", "line_no", "reason"), limit=10)
        yield Output(
            quarantine,
            output_name="quarantined_lines",
            metadata={"dagster/row_count": quarantine.height, "preview": MetadataValue.md(preview)},
        )


ERROR, WARN = AssetCheckSeverity.ERROR, AssetCheckSeverity.WARN


def _raw_logs_checks(result, lines_read: int, accounted: int):
    """The ERROR checks of ``raw_logs``: every line accounted for, every file gives events and is read
    to its end."""
    unaccounted = unaccounted_files(result.files)
    yield AssetCheckResult(
        check_name="every_line_accounted_for",
        asset_key="raw_logs",
        passed=lines_read == accounted and not unaccounted,
        severity=AssetCheckSeverity.ERROR,
        description=_listed(unaccounted)
        or (None if lines_read == accounted else f"{lines_read} lines read, {accounted} accounted for"),
        metadata={"lines_read": lines_read, "lines_in_events_quarantine_or_elsewhere": accounted},
    )
    silent = silent_files(result.files)
    for name, severity, problems, key in (
        (
            "every_source_folder_exists",
            ERROR,
            missing_folder_patterns(result.files),
            "patterns_without_folder",
        ),
        (
            "every_line_in_a_partition",
            WARN,
            outside_span_files(result.files),
            "files_with_lines_outside_the_span",
        ),
        (
            "every_file_gives_events",
            ERROR,
            {f: f"{n} lines read, none parsed" for f, n in silent.items()},
            "files_without_events",
        ),
    ):
        yield AssetCheckResult(
            check_name=name,
            asset_key="raw_logs",
            passed=not problems,
            severity=severity,
            description=_listed(problems),
            metadata={key: MetadataValue.json(sorted(problems))},
        )
    yield file_end_check(cut_short_files(result.files), "raw_logs")


def silent_sources_check(context: AssetExecutionContext, per_source: dict[str, dict]) -> AssetCheckResult:
    """``every_source_gives_events`` (WARN): no source fell silent, and the partition is not empty.

    A source with events in the partition before (its ``raw_logs`` materialization's ``per_source``)
    and none in this one is named: a shipper stopped, a path or a rotation changed. With nothing
    before to compare with, a partition without any event from any source is said to be empty.
    Silence is what a stopped log pipeline looks like; it must not read as a healthy ``ok · 0 events``.
    A warning, not a failed run: a source may be quiet for an hour.
    """
    partitions, window = context.assets_def.partitions_def, context.partition_time_window
    before = partitions.get_prev_partition_window(window.start)
    earlier_key = partitions.get_partition_key_for_timestamp(before.start.timestamp()) if before else None
    earlier = latest_metadata(context.instance, "raw_logs", earlier_key, "per_source") if before else None
    had = {name: stats.get("events", 0) for name, stats in (earlier or {}).items()}
    silent = {
        name: f"{counted(had[name], 'event')} in {earlier_key}, none in this one"
        for name, stats in per_source.items()
        if not stats.get("events") and had.get(name)
    }
    said = "; ".join(f"{name}: {why}" for name, why in silent.items())
    if not silent and per_source and not any(stats.get("events") for stats in per_source.values()):
        said = f"no event from any of the {counted(len(per_source), 'source')} in this partition"
    return AssetCheckResult(
        check_name="every_source_gives_events",
        asset_key="raw_logs",
        passed=not said,
        severity=WARN,
        description=said or None,
        metadata={"silent_sources": MetadataValue.json(sorted(silent))},
    )


def file_end_check(cut_short: dict[str, str], asset_key: str) -> AssetCheckResult:
    """``every_file_read_to_its_end`` of ``asset_key``: fails, naming each file and why, when a file's
    end could not be read (``cut_short``: file -> reason); the lines after are lost in the file.

    The description names every file (up to :data:`MAX_FILES_NAMED`, then a count) with the kind of
    problem; the whole reason is the file's note in the run summary."""
    return AssetCheckResult(
        check_name="every_file_read_to_its_end",
        asset_key=asset_key,
        passed=not cut_short,
        severity=AssetCheckSeverity.ERROR,
        description=_listed({file: _problem_kind(why) for file, why in cut_short.items()}),
        metadata={"files_cut_short": MetadataValue.json(sorted(cut_short))},
    )


def _problem_kind(reason: str) -> str:
    """``truncated gzip stream`` of ``line 7: truncated gzip stream: the file ends ...``."""
    return next((kind for kind in FILE_PROBLEM_KINDS if kind in reason), reason)


def raw_logs_metadata(result, per_source: dict, seconds: float) -> dict:
    """The raw_logs materialization's metadata: counts, per source and per file (bounded)."""
    stats = result.stats
    lines_read = stats.get("lines_read", 0)
    return {
        "dagster/row_count": result.events.height,
        "lines_read": lines_read,
        "lines_per_second": round(lines_read / seconds) if seconds else 0,
        "lines_outside_window": stats.get("lines_outside_window", 0),
        **{key: stats.get(key, 0) for key in NO_PARTITION},
        "files_skipped_outside_window": stats.get("files_skipped_outside_window", 0),
        "out_of_order_lines": stats.get("out_of_order", 0),
        "ids_with_a_secret": stats.get("ids_with_a_secret", 0),
        "truncated_files": stats.get("files_truncated", 0),
        "files_missing": stats.get("files_missing", 0),
        "per_source": MetadataValue.json(per_source),
        "files": MetadataValue.json(file_accounts(result.files)),
        "services": MetadataValue.json(sorted(result.events["service"].unique().drop_nulls().to_list())),
    }


def file_accounts(files: list[dict]) -> list[dict]:
    """Per-file accounts for run metadata: bounded in number, notes cut to one table cell each."""
    shown = [
        record | {"notes": [cell(note, 200) for note in record["notes"]]}
        for record in files[:MAX_FILE_RECORDS]
    ]
    if len(files) > MAX_FILE_RECORDS:
        shown.append({"file": f"… {len(files) - MAX_FILE_RECORDS} more files", "notes": []})
    return shown


def cut_short_files(files: list[dict]) -> dict[str, str]:
    """Files whose end could not be read (a truncated gzip stream, unreadable data): file -> why."""
    return {
        record["file"]: note
        for record in files
        for note in record.get("notes", [])
        if re.match(FILE_PROBLEM_REASON, note)
    }


def partitions_span(partitions, ends: bool) -> tuple[datetime, datetime | None]:
    """The start of the first partition and, when the config sets ``end`` (``ends``), the end of the last:
    lines outside are in no partition."""
    last = partitions.get_last_partition_window() if ends else None
    return partitions.get_first_partition_window().start, last.end if last else None


def unaccounted_files(files: list[dict]) -> dict[str, str]:
    """Files with lines read that are in no event, quarantine row or partition: file -> how many."""
    out = {}
    for record in files:
        here = record.get("lines_in_events", 0) + record.get("lines_quarantined", 0)
        missing = record.get("lines_read", 0) - here - record.get("lines_outside_window", 0)
        if missing:
            out[record["file"]] = f"{missing} of {record['lines_read']} lines not in events or quarantine"
    return out


def missing_folder_patterns(files: list[dict]) -> dict[str, str]:
    """Path patterns whose folder does not exist: pattern -> the source and the folder.

    A misspelt or not yet created folder reads nothing; a run that says ``ok · 0 events`` over it
    would hide that a whole source is not read. (The config loads without the folders, so the
    incident and search commands work on a machine that holds no logs.)
    """
    return {
        record["file"]: f"source {record['source']}: {match.group(1)} does not exist"
        for record in files
        for note in record.get("notes", [])
        if (match := re.search(r"\(folder (.+) does not exist\)", note))
    }


def outside_span_files(files: list[dict]) -> dict[str, str]:
    """Files with lines before the configured start or after its end: file -> how many, where.

    They are read and counted but stored in no partition: the config's span leaves them out.
    """
    out = {}
    for record in files:
        parts = []
        if before := record.get("lines_before_start", 0):
            parts.append(f"{counted(before, 'line')} before the configured start")
        if after := record.get("lines_after_end", 0):
            parts.append(f"{counted(after, 'line')} after the configured end")
        if parts:
            out[record["file"]] = ", ".join(parts)
    return out


#: Files a check's description names; the rest are counted (all are in the check's metadata).
MAX_FILES_NAMED = 6


def _listed(problems: dict[str, str]) -> str | None:
    """``a.log: why; b.gz: why (+3 more files)``: the first few files by name, the rest counted."""
    named = [f"{Path(file).name}: {why}" for file, why in list(problems.items())[:MAX_FILES_NAMED]]
    more = len(problems) - len(named)
    return "; ".join(named) + (f" (+{counted(more, 'more file')})" if more else "") if named else None


def silent_files(files: list[dict]) -> dict[str, int]:
    """Files that hold lines but gave no event at all (in any partition): file -> lines read.

    Per file, not per source: a file no line of which parses (another encoding, binary data, the
    wrong format) is lost to analysis even when its neighbours parse. An empty file is only noted.
    """
    return {
        record["file"]: record["lines_read"]
        for record in files
        if record.get("lines_read") and not record.get("events_in_file")
    }


def ingest_assets(plan: PartitionPlan) -> list:
    """The assets of this module on the partitions of ``plan`` (built with the Definitions)."""
    return [
        multi_asset(
            outs={
                "raw_logs": AssetOut(
                    io_manager_key="parquet_io",
                    is_required=False,
                    metadata=PARQUET_WRITE,
                    description="Parsed log events of all sources (EVENT_SCHEMA), one Parquet file per partition.",
                ),
                "baseline_logs": AssetOut(
                    io_manager_key="parquet_io",
                    is_required=False,
                    metadata=PARQUET_WRITE,
                    description="Fault-free events of the sources of role 'baseline', read whole (EVENT_SCHEMA).",
                ),
                "quarantined_lines": AssetOut(
                    io_manager_key="parquet_io",
                    is_required=False,
                    metadata=PARQUET_WRITE,
                    description="Lines that did not parse, with the reason and their bytes.",
                ),
            },
            partitions_def=plan.partitions,
            group_name="logrca",
            can_subset=True,
            check_specs=[
                AssetCheckSpec(
                    "every_line_accounted_for",
                    asset="raw_logs",
                    description="lines read = lines in events + quarantined + in other partitions",
                ),
                AssetCheckSpec(
                    "every_source_folder_exists",
                    asset="raw_logs",
                    description="the folder of every source's path pattern exists (else the source reads nothing)",
                ),
                AssetCheckSpec(
                    "every_line_in_a_partition",
                    asset="raw_logs",
                    description="no line lies before the configured start or after its end (read, stored nowhere)",
                ),
                AssetCheckSpec(
                    "every_source_gives_events",
                    asset="raw_logs",
                    description="no source with events in the partition before is silent in this one (WARN)",
                ),
                AssetCheckSpec(
                    "every_file_gives_events",
                    asset="raw_logs",
                    description="a file that holds lines gives at least one event",
                ),
                *(
                    AssetCheckSpec("every_file_read_to_its_end", asset=name, description=FILE_END_CHECK)
                    for name in ("raw_logs", "baseline_logs")
                ),
            ],
        )(ingest_logs),
    ]
