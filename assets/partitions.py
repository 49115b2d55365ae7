"""The time partitions of the pipeline, built from the config when the Definitions are built."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from dagster import (
    AssetIn,
    BetaWarning,
    DailyPartitionsDefinition,
    HourlyPartitionsDefinition,
    TimeWindowPartitionMapping,
    TimeWindowPartitionsDefinition,
)

from logrca.assets.config import LogrcaConfig

__all__ = ["PartitionPlan", "partitions_for", "plan_for"]


def partitions_for(config: LogrcaConfig) -> TimeWindowPartitionsDefinition:
    """Hourly or daily partitions from ``config.start`` (UTC)."""
    if config.partitions == "daily":
        fmt = "%Y-%m-%d"
        end = config.end.strftime(fmt) if config.end else None
        return DailyPartitionsDefinition(start_date=config.start.strftime(fmt), end_date=end, timezone="UTC")
    fmt = "%Y-%m-%d-%H:%M"
    end = config.end.strftime(fmt) if config.end else None
    return HourlyPartitionsDefinition(start_date=config.start.strftime(fmt), end_date=end, timezone="UTC")


@dataclass(frozen=True)
class PartitionPlan:
    """The partitions every partitioned asset shares, and how analysis reads its baseline."""

    partitions: TimeWindowPartitionsDefinition
    #: ``log_templates`` of the partition itself plus the ``baseline_partitions`` before it
    #: (missing ones are skipped).
    window_and_baseline: AssetIn
    #: The same partitions of ``raw_logs``: the lines ``log_templates`` gives a template, row for row.
    lines_and_baseline: AssetIn
    #: The same partitions of ``raw_spans`` (the baseline's spans when the baseline is earlier partitions).
    spans_and_baseline: AssetIn
    #: The same partitions of ``raw_metrics``: a pod's earlier minutes are its metrics' baseline.
    metrics_and_baseline: AssetIn
    #: The same partitions of ``log_changes``: the change events of the window and its baseline.
    changes_and_baseline: AssetIn


def plan_for(config: LogrcaConfig) -> PartitionPlan:
    """The :class:`PartitionPlan` of ``config``."""
    with warnings.catch_warnings():  # a beta parameter, pinned by uv.lock: not news on every load
        warnings.simplefilter("ignore", BetaWarning)
        mapping = TimeWindowPartitionMapping(
            start_offset=-config.baseline_partitions, end_offset=0, allow_nonexistent_upstream_partitions=True
        )
    missing_ok = {"allow_missing_partitions": True}
    return PartitionPlan(
        partitions=partitions_for(config),
        window_and_baseline=AssetIn("log_templates", partition_mapping=mapping, metadata=missing_ok),
        lines_and_baseline=AssetIn("raw_logs", partition_mapping=mapping, metadata=missing_ok),
        spans_and_baseline=AssetIn("raw_spans", partition_mapping=mapping, metadata=missing_ok),
        metrics_and_baseline=AssetIn("raw_metrics", partition_mapping=mapping, metadata=missing_ok),
        changes_and_baseline=AssetIn("log_changes", partition_mapping=mapping, metadata=missing_ok),
    )
