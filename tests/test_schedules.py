"""The hourly schedule evaluated for real on a Dagster instance in a temporary DAGSTER_HOME."""

from __future__ import annotations

from datetime import UTC, datetime

from dagster import AssetMaterialization, RunRequest, SkipReason, build_schedule_context
from pipeline_support import pipeline_definitions

from logrca.pipelines.schedules import newest_complete_partition

DEFS = pipeline_definitions()
PARTITIONS = DEFS.resolve_job_def("logrca_main").partitions_def
hourly_newest_partition = DEFS.get_schedule_def("hourly_newest_partition")


def at(hour: int, minute: int = 15, day: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def evaluate(instance, when: datetime):
    return hourly_newest_partition(build_schedule_context(instance=instance, scheduled_execution_time=when))


def test_schedule_is_registered_on_the_main_job_and_runs_hourly():
    schedule = DEFS.get_repository_def().get_schedule_def("hourly_newest_partition")
    assert schedule.job_name == "logrca_main"
    assert schedule.cron_schedule == "15 * * * *"
    assert schedule.execution_timezone == "UTC"


def test_requests_the_newest_complete_partition(instance):
    request = evaluate(instance, at(2))
    assert isinstance(request, RunRequest)
    assert request.partition_key == "2026-03-10-01:00"  # 02:00-03:00 is still open at 02:15
    assert request.run_key == "2026-03-10-01:00"
    assert request.tags["logrca/trigger"] == "schedule"


def test_before_the_first_partition_ends_it_skips(instance):
    result = evaluate(instance, at(0, 30))
    assert isinstance(result, SkipReason)
    assert "no complete partition" in result.skip_message


def test_after_the_configured_end_it_stays_on_the_last_partition(instance):
    assert PARTITIONS.end is not None  # the example config sets `end`
    assert evaluate(instance, at(5, day=20)).partition_key == PARTITIONS.get_partition_keys()[-1]
    assert (
        newest_complete_partition(PARTITIONS, at(3, 0)) == "2026-03-10-02:00"
    )  # the window ends exactly now: complete


def test_skips_a_partition_already_indexed_after_its_window_closed(instance):
    key = "2026-03-10-01:00"
    instance.report_runless_asset_event(
        AssetMaterialization(asset_key="indexed_lines", partition="2026-03-10-00:00")
    )
    assert (
        evaluate(instance, at(2)).partition_key == key
    )  # another partition's materialization does not count
    instance.report_runless_asset_event(AssetMaterialization(asset_key="search_index", partition=key))
    assert evaluate(instance, at(2)).partition_key == key  # the report indexed, its lines not yet: run again
    instance.report_runless_asset_event(AssetMaterialization(asset_key="indexed_lines", partition=key))
    skipped = evaluate(instance, at(2))
    assert isinstance(skipped, SkipReason)
    assert key in skipped.skip_message
