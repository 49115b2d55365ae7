"""An hour of logs, landing to report: time file landing -> sensor -> report materialized and indexed.

The system is ``bench/landing_generator.py`` (12 services, JSON lines and Loghub headers, one
incident). Two hours are generated into a staging folder; the first (the baseline) lands and is
processed untimed; then the second hour's files land (atomic renames into the watched folder, as a
log shipper does) and the clock runs: the real ``new_log_files_sensor`` is evaluated on a real
Dagster instance (temporary DAGSTER_HOME) each second until it requests the run, then the requested
partition runs the main chain in-process and the report is indexed into a real Elasticsearch.

Prints the seconds per stage and lines per second, and the baseline hour (same code, same size,
not timed as landing) for comparison. Goal: landing -> indexed under 60 s on 2 cores.

Usage: ``.venv/bin/python bench/bench_landing.py [--lines-per-hour 3000000] [--es-url URL]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

CHAIN = [
    "raw_logs",
    "quarantined_lines",
    "log_templates",
    "anomalies",
    "service_graph",
    "root_causes",
    "rca_report",
    "search_index",
]


def land(staging: Path, landing: Path, hour: int) -> int:
    """Move one hour's files into the watched folder (renames); returns how many."""
    moved = 0
    for path in sorted(staging.rglob(f"*-{hour:02d}.log")):
        target = landing / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        moved += 1
    return moved


def pipeline_definitions(overrides: dict[str, str]):
    """The pipeline's own Definitions for this process's environment plus ``overrides``."""
    from logrca.assets.config import load_config
    from logrca.pipelines.definitions import build_definitions
    from logrca.pipelines.environment import deployment_from_env

    deployment = deployment_from_env({**os.environ, **overrides})
    return build_definitions(load_config(deployment.config_path), deployment)


def run_partition(
    instance, partition: str, tags: dict, es_url: str, prefix: str, data_dir: Path
) -> tuple[dict, dict, float]:
    from dagster import DagsterEventType, materialize

    defs = pipeline_definitions(
        {"LOGRCA_ES_URL": es_url, "LOGRCA_INDEX_PREFIX": prefix, "LOGRCA_DATA_DIR": str(data_dir)}
    )
    began = time.perf_counter()
    result = materialize(
        defs.assets,
        selection=CHAIN,
        partition_key=partition,
        resources=defs.resources,
        instance=instance,
        tags=tags,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    total = time.perf_counter() - began
    if not result.success:
        raise SystemExit(
            f"run of {partition} failed: {[e.message for e in result.all_events if e.is_failure]}"
        )
    records = instance.get_records_for_run(
        result.run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS}
    ).records
    starts, steps = {}, {}
    for record in records:
        entry = record.event_log_entry
        if entry.dagster_event.event_type_value == "STEP_START":
            starts[entry.step_key] = entry.timestamp
        else:
            steps[entry.step_key] = entry.timestamp - starts.get(entry.step_key, entry.timestamp)
    metadata = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        metadata[materialization.asset_key.to_user_string()] = {
            k: getattr(v, "value", v) for k, v in materialization.metadata.items()
        }
    return steps, metadata, total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines-per-hour", type=int, default=3_000_000)
    parser.add_argument(
        "--es-url",
        default=os.environ.get("LOGRCA_ES_URL"),
        help="default: the local test server on 127.0.0.1:9250 (started if needed)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="logrca-bench-landing-"))
    staging, landing = tmp / "staging", tmp / "landing"

    from landing_generator import START, generate, write_config

    began = time.perf_counter()
    counts = generate(staging, hours=2, lines_per_hour=args.lines_per_hour)
    config = write_config(tmp, landing, hours=2)
    for path in staging.rglob("*.log"):  # as on a live host: a file was last written when its hour ended
        closed = START.timestamp() + (int(path.stem.rsplit("-", 1)[1]) + 1) * 3600 - 0.5
        os.utime(path, (closed, closed))
    print(
        f"generated {sum(counts.values()):,} lines of {len(counts)} services for 2 hours in {time.perf_counter() - began:.1f}s ({tmp})",
        flush=True,
    )

    if not args.es_url:
        from logrca.es_server import LocalServer, start

        args.es_url = start(LocalServer(port=9250), log=lambda message: None)
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copyfile(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    os.environ.update(
        {
            "LOGRCA_CONFIG": str(config),
            "DAGSTER_HOME": str(home),
            "LOGRCA_DATA_DIR": str(tmp / "data"),
            "LOGRCA_EXECUTOR": "in_process",
            "LOGRCA_SENSOR_SETTLE_SECONDS": os.environ.get("LOGRCA_SENSOR_SETTLE_SECONDS", "2"),
        }
    )
    from dagster import DagsterInstance, build_sensor_context

    from logrca.assets.resources import LogrcaConfigResource

    new_log_files_sensor = pipeline_definitions({}).get_sensor_def("new_log_files_sensor")

    prefix = f"bench-landing-{os.getpid()}"
    resources = {"logrca": LogrcaConfigResource(config_path=str(config), data_dir=str(tmp / "data"))}
    cursor = None
    with DagsterInstance.get() as instance:

        def tick_until_requested(timeout: float = 120) -> tuple[list, float]:
            nonlocal cursor
            started = time.perf_counter()
            while time.perf_counter() - started < timeout:
                result = new_log_files_sensor(
                    build_sensor_context(instance=instance, cursor=cursor, resources=resources)
                )
                cursor = result.cursor
                if result.run_requests:
                    return result.run_requests, time.perf_counter() - started
                time.sleep(1)
            raise SystemExit("the sensor requested no run")

        land(staging, landing, 0)
        requests, _ = tick_until_requested()
        baseline_steps, baseline_meta, baseline_total = run_partition(
            instance, requests[0].partition_key, requests[0].tags, args.es_url, prefix, tmp / "data"
        )
        print(
            f"baseline hour {requests[0].partition_key}: {baseline_total:.1f}s (not timed as landing)",
            flush=True,
        )

        landed_at = time.perf_counter()
        files = land(staging, landing, 1)
        requests, sensor_s = tick_until_requested()
        assert [r.partition_key for r in requests] == ["2026-03-10-01:00"], [
            r.partition_key for r in requests
        ]
        steps, meta, run_total = run_partition(
            instance, requests[0].partition_key, requests[0].tags, args.es_url, prefix, tmp / "data"
        )
        landing_to_indexed = time.perf_counter() - landed_at

    lines = meta["raw_logs"]["lines_read"]
    events = meta["raw_logs"]["dagster/row_count"]
    print(
        f"\nlanding -> indexed for one hour of {lines:,} lines ({files} files): {landing_to_indexed:.1f}s (goal < 60s)"
    )
    print(f"  {'stage':<16}{'seconds':>9}{'lines/s':>12}")
    print(
        f"  {'sensor':<16}{sensor_s:>9.1f}{'':>12}   (includes the {os.environ['LOGRCA_SENSOR_SETTLE_SECONDS']}s settle time and 1s ticks)"
    )
    for step, seconds in sorted(steps.items(), key=lambda kv: -kv[1]):
        rate = f"{(lines if step == 'ingest_logs' else events) / seconds:,.0f}" if seconds > 0 else "-"
        print(f"  {step:<16}{seconds:>9.1f}{rate:>12}")
    print(f"  {'run overhead':<16}{run_total - sum(steps.values()):>9.1f}")
    report = meta.get("rca_report", {})
    print(
        f"incident: {report.get('incident')} root cause: {report.get('root_cause')} window: {report.get('incident_window')}"
    )
    print(
        f"indexed: {json.dumps({k: meta['search_index'].get(k) for k in ('indexed', 'deleted_stale', 'reports')})}"
    )
    print(
        f"baseline hour, same size, per step: {json.dumps({k: round(v, 1) for k, v in baseline_steps.items()})}"
    )
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
