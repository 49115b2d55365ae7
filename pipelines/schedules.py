"""Hourly schedule: materialize the newest complete partition of the main job.

At each tick (``cron``: ``LOGRCA_SCHEDULE_CRON``, default ``15 * * * *``: a quarter past the hour, so the
last lines of the closed hour have landed) the schedule requests the newest partition whose window
has ended. It skips a partition that a run started after the window's end has already indexed (the
new-file sensor got there first), and its run key is the partition key, so a daily partition is
requested once although the schedule ticks hourly.
"""

from __future__ import annotations

from datetime import UTC, datetime

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    TimeWindowPartitionsDefinition,
    partition_loading_context,
    schedule,
)

#: The partition's last asset: its lines follow the report into Elasticsearch (off: materialized as "off").
LAST_ASSET = AssetKey("indexed_lines")


def newest_complete_partition(partitions: TimeWindowPartitionsDefinition, now: datetime) -> str | None:
    """Key of the newest partition whose window ended at or before ``now`` (None before the first)."""
    with partition_loading_context(effective_dt=now):
        return partitions.get_last_partition_key()


def indexed_after_close(instance, partitions: TimeWindowPartitionsDefinition, partition: str) -> bool:
    """Whether the last asset (``indexed_lines``) of ``partition`` was materialized after its window ended."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=LAST_ASSET, asset_partitions=[partition]), limit=1
    ).records
    if not records:
        return False
    window_end = partitions.time_window_for_partition_key(partition).end
    return records[0].timestamp >= window_end.timestamp()


def build_schedules(partitions: TimeWindowPartitionsDefinition, *, cron: str = "15 * * * *") -> list:
    """The hourly schedule of the main job on ``partitions``, ticking at ``cron`` (UTC)."""

    @schedule(
        job_name="logrca_main",
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.RUNNING,
        description="Every hour: ingest, mine, detect, rank, report and index the newest complete partition.",
    )
    def hourly_newest_partition(context: ScheduleEvaluationContext):
        """Request a run of the newest complete partition unless it is already indexed."""
        now = context.scheduled_execution_time or datetime.now(UTC)
        partition = newest_complete_partition(partitions, now)
        if partition is None:
            return SkipReason(
                f"no complete partition yet at {now.isoformat()} (first starts {partitions.start.isoformat()})"
            )
        if indexed_after_close(context.instance, partitions, partition):
            return SkipReason(f"partition {partition} already indexed by a run after its window closed")
        return RunRequest(run_key=partition, partition_key=partition, tags={"logrca/trigger": "schedule"})

    return [hourly_newest_partition]
