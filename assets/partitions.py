"""The time partitions of the pipeline, declared once from the config (hourly or daily)."""

from __future__ import annotations

from dagster import (
    DailyPartitionsDefinition,
    HourlyPartitionsDefinition,
    TimeWindowPartitionMapping,
    TimeWindowPartitionsDefinition,
)

from logrca.assets.config import LogrcaConfig, load_config
from logrca.assets.resources import config_path_from_env


def partitions_for(config: LogrcaConfig) -> TimeWindowPartitionsDefinition:
    """Hourly or daily partitions from ``config.start`` (UTC)."""
    if config.partitions == "daily":
        fmt = "%Y-%m-%d"
        end = config.end.strftime(fmt) if config.end else None
        return DailyPartitionsDefinition(start_date=config.start.strftime(fmt), end_date=end, timezone="UTC")
    fmt = "%Y-%m-%d-%H:%M"
    end = config.end.strftime(fmt) if config.end else None
    return HourlyPartitionsDefinition(start_date=config.start.strftime(fmt), end_date=end, timezone="UTC")


PIPELINE_CONFIG = load_config(config_path_from_env())
PARTITIONS = partitions_for(PIPELINE_CONFIG)

#: The partition itself plus the ``baseline_partitions`` before it (missing ones are skipped).
WITH_BASELINE = TimeWindowPartitionMapping(
    start_offset=-PIPELINE_CONFIG.baseline_partitions,
    end_offset=0,
    allow_nonexistent_upstream_partitions=True,
)
