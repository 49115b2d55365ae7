"""Ingestion of trace spans and metric samples for one time partition: rows, quarantine, fault-free baseline."""

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

from logrca.assets.ingest import FILE_END_CHECK, file_end_check
from logrca.assets.partitions import PartitionPlan
from logrca.assets.resources import PARQUET_WRITE, LogrcaConfigResource
from logrca.parsers.ingest.files import FILE_PROBLEM_REASON, source_file_states
from logrca.parsers.ingest.secrets import Redactor
from logrca.parsers.ingest.signal_readers import SignalRead, read_signal_sources
from logrca.rca.markdown import frame_table

#: Per kind: the config attribute listing its sources and the names of its outputs: rows, quarantine and
#: (spans only) the fault-free rows. Metrics have none: a pod's are compared with its own earlier minutes.
OUTPUTS = {
    "spans": ("raw_spans", "quarantined_spans", "baseline_spans"),
    "metrics": ("raw_metrics", "quarantined_metrics", None),
}


def cut_short_rows(quarantine: pl.DataFrame) -> dict[str, str]:
    """Files whose end could not be read, from their quarantine rows (file -> the first such reason;
    the span and metric readers put ``line N: `` before it)."""
    rows = quarantine.filter(pl.col("reason").str.contains(FILE_PROBLEM_REASON))
    rows = rows.unique("source_file", keep="first", maintain_order=True)
    return dict(rows.select("source_file", "reason").iter_rows())


def _accounting(read: SignalRead) -> dict[str, int]:
    keys = (
        "rows_read",
        "rows_stored",
        "rows_quarantined",
        "records_in_window",
        "records_outside_window",
        "ids_with_a_secret",
    )
    return {key: read.stats.get(key, 0) for key in keys}


def _rows(read: SignalRead, name: str, counts: dict) -> Output:
    metadata = {"dagster/row_count": read.frame.height, "per_source": MetadataValue.json(read.per_source)}
    return Output(read.frame, output_name=name, metadata={**counts, **metadata})


def _ingest(kind: str):
    raw_name, quarantine_name, baseline_name = OUTPUTS[kind]

    def ingest(context: AssetExecutionContext, logrca: LogrcaConfigResource):
        config = logrca.load()
        sources = getattr(config, kind)
        tw = context.partition_time_window
        # Taken before reading: the new-file sensor skips a partition already ingested from these very files.
        file_states = source_file_states([s.paths for s in sources], config.base_dir)
        live = [s for s in sources if s.role == "window"]
        fault_free = [s for s in sources if s.role == "baseline"]
        redactor = Redactor.from_config(config.secrets)
        read = read_signal_sources(
            live, kind=kind, base_dir=config.base_dir, window=(tw.start, tw.end), redactor=redactor
        )
        base = read_signal_sources(fault_free, kind=kind, base_dir=config.base_dir, redactor=redactor)
        selected = {key.to_user_string() for key in context.selected_asset_keys}
        counts = _accounting(read)
        if raw_name in selected:
            yield _rows(read, raw_name, {**counts, "source_files": MetadataValue.json(file_states)})
            stored = read.frame.height + counts["records_outside_window"]
            yield AssetCheckResult(
                check_name="every_row_accounted_for",
                asset_key=raw_name,
                passed=counts["rows_read"] == counts["rows_stored"] + counts["rows_quarantined"]
                and counts["records_in_window"] == read.frame.height,
                severity=AssetCheckSeverity.ERROR,
                metadata={**counts, "records_stored_or_outside_window": stored},
            )
            yield file_end_check(cut_short_rows(read.quarantine), raw_name)
        if baseline_name and baseline_name in selected:
            yield _rows(base, baseline_name, _accounting(base))
            yield file_end_check(cut_short_rows(base.quarantine), baseline_name)
        if quarantine_name in selected:
            quarantine = read.quarantine.vstack(base.quarantine)
            preview = frame_table(quarantine.select("system", "source_file", "line_no", "reason"), limit=10)
            yield Output(
                quarantine,
                output_name=quarantine_name,
                metadata={"dagster/row_count": quarantine.height, "preview": MetadataValue.md(preview)},
            )

    ingest.__name__ = f"ingest_{kind}"
    ingest.__doc__ = (
        f"Read the {kind} sources for the partition's time window (and the fault-free ones whole)."
    )
    return ingest


def _outs(kind: str) -> dict[str, AssetOut]:
    raw_name, quarantine_name, baseline_name = OUTPUTS[kind]
    described = {
        raw_name: f"{kind.capitalize()} of the partition's window, one Parquet file per partition.",
        quarantine_name: f"{kind.capitalize()} rows that did not parse, with the file, line and reason.",
        baseline_name: f"Fault-free {kind} (sources of role 'baseline'), read whole.",
    }
    return {
        name: AssetOut(
            io_manager_key="parquet_io", is_required=False, metadata=PARQUET_WRITE, description=text
        )
        for name, text in described.items()
        if name
    }


def signal_assets(plan: PartitionPlan) -> list:
    """``ingest_spans`` and ``ingest_metrics`` on the partitions of ``plan`` (built with the Definitions)."""
    return [
        multi_asset(
            outs=_outs(kind),
            partitions_def=plan.partitions,
            group_name="logrca",
            can_subset=True,
            name=f"ingest_{kind}",
            check_specs=[
                *(
                    AssetCheckSpec("every_file_read_to_its_end", asset=name, description=FILE_END_CHECK)
                    for name in (OUTPUTS[kind][0], OUTPUTS[kind][2])
                    if name
                ),
                AssetCheckSpec(
                    "every_row_accounted_for",
                    asset=OUTPUTS[kind][0],
                    description="rows read = rows stored + rows quarantined; records in window = rows of the asset",
                ),
            ],
        )(_ingest(kind))
        for kind in OUTPUTS
    ]
