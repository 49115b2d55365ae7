"""Ingestion: every source's files for one time partition, as events and quarantined lines."""

import re
import time
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

from logrca.assets.partitions import PartitionPlan
from logrca.assets.resources import PARQUET_WRITE, LogrcaConfigResource
from logrca.parsers.ingest.files import FILE_PROBLEM_REASON, source_file_states
from logrca.parsers.ingest.readers import read_sources
from logrca.parsers.ingest.secrets import Redactor
from logrca.rca.markdown import cell, frame_table

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
        live, base_dir=config.base_dir, window=(window.start, window.end), redactor=redactor
    )
    seconds = time.perf_counter() - started
    stats = result.stats
    lines_read = stats.get("lines_read", 0)
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


def _raw_logs_checks(result, lines_read: int, accounted: int):
    """The ERROR checks of ``raw_logs``: every line accounted for, every source gives events, every
    file read to its end."""
    yield AssetCheckResult(
        check_name="every_line_accounted_for",
        asset_key="raw_logs",
        passed=lines_read == accounted,
        severity=AssetCheckSeverity.ERROR,
        metadata={"lines_read": lines_read, "lines_in_events_quarantine_or_elsewhere": accounted},
    )
    silent = silent_sources(result.files)
    yield AssetCheckResult(
        check_name="every_source_gives_events",
        asset_key="raw_logs",
        passed=not silent,
        severity=AssetCheckSeverity.ERROR,
        description=(
            "; ".join(f"{name}: {lines} lines read, no event parsed" for name, lines in silent.items())
            or None
        ),
        metadata={"sources_without_events": MetadataValue.json(sorted(silent))},
    )
    yield file_end_check(cut_short_files(result.files), "raw_logs")


def file_end_check(cut_short: dict[str, str], asset_key: str) -> AssetCheckResult:
    """``every_file_read_to_its_end`` of ``asset_key``: fails, naming each file and why, when a file's
    end could not be read (``cut_short``: file -> reason); the lines after are lost in the file."""
    return AssetCheckResult(
        check_name="every_file_read_to_its_end",
        asset_key=asset_key,
        passed=not cut_short,
        severity=AssetCheckSeverity.ERROR,
        description="; ".join(f"{Path(file).name}: {why}" for file, why in cut_short.items()) or None,
        metadata={"files_cut_short": MetadataValue.json(sorted(cut_short))},
    )


def raw_logs_metadata(result, per_source: dict, seconds: float) -> dict:
    """The raw_logs materialization's metadata: counts, per source and per file (bounded)."""
    stats = result.stats
    lines_read = stats.get("lines_read", 0)
    return {
        "dagster/row_count": result.events.height,
        "lines_read": lines_read,
        "lines_per_second": round(lines_read / seconds) if seconds else 0,
        "lines_outside_window": stats.get("lines_outside_window", 0),
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


def silent_sources(files: list[dict]) -> dict[str, int]:
    """Sources whose files hold lines but gave no event at all (any partition): name -> lines read."""
    read: dict[str, int] = {}
    parsed: dict[str, int] = {}
    for record in files:
        read[record["source"]] = read.get(record["source"], 0) + record.get("lines_read", 0)
        parsed[record["source"]] = parsed.get(record["source"], 0) + record.get("events_in_file", 0)
    return {name: lines for name, lines in read.items() if lines and not parsed[name]}


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
                    description="lines read = lines in events + quarantined + outside the window",
                ),
                AssetCheckSpec(
                    "every_source_gives_events",
                    asset="raw_logs",
                    description="a source whose files hold lines gives at least one event",
                ),
                *(
                    AssetCheckSpec("every_file_read_to_its_end", asset=name, description=FILE_END_CHECK)
                    for name in ("raw_logs", "baseline_logs")
                ),
            ],
        )(ingest_logs),
    ]
