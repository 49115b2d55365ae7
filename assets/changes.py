"""Change events of each partition's lines (deploys, restarts, versions, reloads), found once per line.

``log_changes`` runs the change rules (:func:`logrca.rca.changes.detect_changes`) over one partition's
``raw_logs``; the analysis of a partition then reads the ``log_changes`` of the partition and of its
baseline partitions instead of scanning every earlier line again (and of reading the earlier partitions'
messages at all). The rules are those of the config when the partition ran: after a change of the
``changes:`` section, earlier partitions keep what the old rules found until they are run again.
"""

import polars as pl
from dagster import AssetIn, MetadataValue, Output, asset

from logrca.assets.partitions import PartitionPlan
from logrca.assets.resources import PARQUET_WRITE, LogrcaConfigResource
from logrca.rca.changes import CHANGE_SCHEMA, ChangesConfig, detect_changes
from logrca.rca.markdown import frame_table
from logrca.rca.windows import WindowFrames, split_window

__all__ = ["change_assets", "change_table", "partition_changes"]

#: The columns of ``raw_logs`` the change rules read.
CHANGE_INPUTS = ["timestamp", "service", "message"]


def log_changes(logrca: LogrcaConfigResource, raw_logs: pl.DataFrame) -> Output:
    """The change events among the partition's lines, oldest first."""
    changes = detect_changes(raw_logs, logrca.load().changes)
    return Output(
        changes,
        metadata={"dagster/row_count": changes.height, "changes": MetadataValue.md(change_table(changes))},
    )


def change_table(changes: pl.DataFrame) -> str:
    """The change events as a Markdown table (the run's metadata)."""
    return frame_table(changes.select("timestamp", "service", "kind", "version", "message"))


def partition_changes(
    frames: WindowFrames,
    log_changes: dict[str, pl.DataFrame] | pl.DataFrame | None,
    partition_key: str,
    config: ChangesConfig,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(change events of the partition and the partitions before it, the changes the ranking weighs).

    ``log_changes`` holds each partition's change events, keyed by partition (one frame: the partition
    alone). The stored ``change_events`` are those of the partition and its earlier partitions; the
    ranking weighs those of the window and its baseline: the fault-free lines (matched here, the one
    scan left), the earlier partitions, or the window's own lines before the alert, already among the
    partition's.
    """
    if log_changes is None:
        log_changes = {}
    window, earlier, _ = split_window(log_changes, partition_key)
    empty = pl.DataFrame(schema=CHANGE_SCHEMA)
    in_window = window if window is not None else empty
    stored = pl.concat([earlier if earlier is not None else empty, in_window])
    stored = stored.sort("timestamp", maintain_order=True)
    if frames.baseline == "normal":
        weighed = pl.concat([detect_changes(frames.baseline_events, config), in_window])
        return stored, weighed.sort("timestamp", maintain_order=True)
    return stored, stored if frames.baseline == "partitions" else in_window


def change_assets(plan: PartitionPlan) -> list:
    """The ``log_changes`` asset on the partitions of ``plan`` (built with the Definitions)."""
    return [
        asset(
            name="log_changes",
            partitions_def=plan.partitions,
            group_name="logrca",
            io_manager_key="parquet_io",
            metadata=PARQUET_WRITE,
            description="Deploys, restarts, version changes and config reloads among the partition's lines.",
            ins={"raw_logs": AssetIn("raw_logs", metadata={"columns": CHANGE_INPUTS})},
        )(log_changes),
    ]
