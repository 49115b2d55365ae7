"""An hour of logs, landing to report: time file landing -> sensor -> report materialized and indexed.

The system is ``bench/landing_generator.py`` (12 services, JSON lines and Loghub headers, one
incident). Two hours are generated into a staging folder; the first (the baseline) lands and is
processed untimed; then the second hour's files land (atomic renames into the watched folder, as a
log shipper does) and the clock runs: the real ``new_log_files_sensor`` is evaluated on a real
Dagster instance (temporary DAGSTER_HOME) each second until it requests the run, then the requested
partition runs the main chain in-process and the report is indexed into a real Elasticsearch;
then the partition's log lines are indexed (``indexed_lines``, which follows the report).

Then, in the same run, plain drain3 (``drain3.TemplateMiner.add_log_message`` per message, the
config's masks and Drain settings) mines the landed hour's messages, as read by the pipeline. Its
time covers mining only (no reading or parsing), so the comparison favours drain3.

Prints the seconds per stage and lines per second, the baseline hour (same code, same size, not
timed as landing) for comparison, the same ratio to the indexed lines, and as its last line
``landing/drain3 ratio: N.Nx``: landing -> report indexed lines/s over plain drain3's lines/s on
the same lines (goal: at least 4x).

Before that, logrca's own mining core mines the same hour in memory, after the hours before it as
the stage's miner had (``mine_in_batches``: no Parquet read, no part file written), and the line
``log_templates (N s) at P% of its core's speed`` compares the stage with it (issue 17.2).

Usage: ``.venv/bin/python bench/bench_landing.py [--lines-per-hour 3000000] [--es-port 9250 | --es-url URL]
[--no-lines] [--no-drain3] [--no-core] [--no-topology]``
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

from dagster import AssetSelection

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from landing_baselines import core_lines_per_second, drain3_lines_per_second  # noqa: E402

import logrca  # noqa: E402, F401 - before polars, as in logrca's own processes (its allocator setting)

#: Everything from the landed files to the indexed report, then the partition's lines (which follow the
#: report). The ratio is taken at the indexed report; the time to the indexed lines is printed beside it.
CHAIN = AssetSelection.assets("indexed_lines").upstream()
#: ``--no-lines``: up to the indexed report only (a quicker run when the lines' indexing is not the question).
REPORT_CHAIN = AssetSelection.assets("search_index").upstream()


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
    instance, partition: str, tags: dict, es_url: str, prefix: str, data_dir: Path, selection=CHAIN
) -> tuple[dict, dict, float]:
    from dagster import materialize

    defs = pipeline_definitions(
        {"LOGRCA_ES_URL": es_url, "LOGRCA_INDEX_PREFIX": prefix, "LOGRCA_DATA_DIR": str(data_dir)}
    )
    began = time.perf_counter()
    result = materialize(
        defs.assets,
        selection=selection,
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
    metadata = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        metadata[materialization.asset_key.to_user_string()] = {
            k: getattr(v, "value", v) for k, v in materialization.metadata.items()
        }
    return step_seconds(instance, result.run_id), metadata, total, result.run_id


def _step_times(instance, run_id: str) -> tuple[dict[str, float], dict[str, float]]:
    """(start, success) wall-clock timestamps of each step of the run, from the instance's event log."""
    from dagster import DagsterEventType

    records = instance.get_records_for_run(
        run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS}
    ).records
    starts, ends = {}, {}
    for record in records:
        entry = record.event_log_entry
        (starts if entry.dagster_event.event_type_value == "STEP_START" else ends)[entry.step_key] = (
            entry.timestamp
        )
    return starts, ends


def step_seconds(instance, run_id: str) -> dict[str, float]:
    """Seconds from start to success of each step of the run."""
    starts, ends = _step_times(instance, run_id)
    return {step: end - starts.get(step, end) for step, end in ends.items()}


def run_phases(instance, run_id: str, landed: float, last_step: str = "search_index") -> dict:
    """Where the time from landing (``time.time()``) to ``last_step``'s success went, from the event log.

    ``before run``: the sensor, building the Definitions and launching, up to the run's first event;
    ``planning``: the run's planned-materialization events up to its start; ``steps``: inside the
    steps (loading inputs, compute, storing outputs, their events); ``between steps``: the rest.
    ``events``: how many events the run wrote to the instance's event log by then (each one a
    write, on SQLite a transaction of its own).
    """
    from dagster import DagsterEventType

    entries = [r.event_log_entry for r in instance.get_records_for_run(run_id).records]
    done = next(
        e.timestamp
        for e in entries
        if e.step_key == last_step
        and e.dagster_event
        and e.dagster_event.event_type_value == DagsterEventType.STEP_SUCCESS.value
    )
    started = next(
        e.timestamp
        for e in entries
        if e.dagster_event and e.dagster_event.event_type_value == DagsterEventType.RUN_START.value
    )
    starts, ends = _step_times(instance, run_id)
    inside = sum(ends[k] - starts[k] for k in ends if ends[k] <= done)
    return {
        "before run": entries[0].timestamp - landed,
        "planning": started - entries[0].timestamp,
        "steps": inside,
        "between steps": done - started - inside,
        "landing -> report": done - landed,
        "events": sum(1 for e in entries if e.timestamp <= done),
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines-per-hour", type=int, default=3_000_000)
    parser.add_argument(
        "--es-url",
        default=os.environ.get("LOGRCA_ES_URL"),
        help="an Elasticsearch to index into (default: a local one on --es-port, started if needed)",
    )
    parser.add_argument(
        "--es-port", type=int, default=9250, help="port of the local Elasticsearch (default 9250)"
    )
    parser.add_argument("--no-drain3", action="store_true", help="skip the plain drain3 baseline")
    parser.add_argument(
        "--no-core",
        action="store_true",
        help="skip timing logrca's mining core on the same hour (log_templates against its core)",
    )
    parser.add_argument(
        "--no-lines",
        action="store_true",
        help="stop at the indexed report: skip indexed_lines (the ratio is taken at the report either way)",
    )
    parser.add_argument(
        "--no-topology",
        action="store_true",
        help="name no topology file: the service graph is inferred from the lines' trace ids",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args()


def prepare(tmp: Path, lines_per_hour: int, topology: bool = True) -> tuple[Path, Path, Path]:
    """Generate two hours into ``tmp/staging`` and the config watching ``tmp/landing``; returns (staging, landing, config)."""
    from landing_generator import START, generate, write_config

    staging, landing = tmp / "staging", tmp / "landing"
    began = time.perf_counter()
    counts = generate(staging, hours=2, lines_per_hour=lines_per_hour)
    config = write_config(tmp, landing, hours=2, topology=topology)
    for path in staging.rglob("*.log"):  # as on a live host: a file was last written when its hour ended
        closed = START.timestamp() + (int(path.stem.rsplit("-", 1)[1]) + 1) * 3600 - 0.5
        os.utime(path, (closed, closed))
    print(
        f"generated {sum(counts.values()):,} lines of {len(counts)} services for 2 hours "
        f"in {time.perf_counter() - began:.1f}s ({tmp})",
        flush=True,
    )
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
    return staging, landing, config


def land_and_run(tmp: Path, staging: Path, landing: Path, config: Path, es_url: str, selection=CHAIN) -> dict:
    """Process the baseline hour untimed, then time landing -> indexed for the second hour."""
    from dagster import DagsterInstance, build_sensor_context

    from logrca.assets.resources import LogrcaConfigResource

    sensor = pipeline_definitions({}).get_sensor_def("new_log_files_sensor")
    prefix = f"bench-landing-{os.getpid()}"
    resources = {"logrca": LogrcaConfigResource(config_path=str(config), data_dir=str(tmp / "data"))}
    cursor = None
    with DagsterInstance.get() as instance:

        def tick_until_requested(timeout: float = 120) -> tuple[list, float]:
            nonlocal cursor
            started = time.perf_counter()
            while time.perf_counter() - started < timeout:
                result = sensor(build_sensor_context(instance=instance, cursor=cursor, resources=resources))
                cursor = result.cursor
                if result.run_requests:
                    return result.run_requests, time.perf_counter() - started
                time.sleep(1)
            raise SystemExit("the sensor requested no run")

        def run(request) -> tuple[dict, dict, float, str]:
            return run_partition(
                instance, request.partition_key, request.tags, es_url, prefix, tmp / "data", selection
            )

        land(staging, landing, 0)
        requests, _ = tick_until_requested()
        baseline_steps, _, baseline_total, _ = run(requests[0])
        print(
            f"baseline hour {requests[0].partition_key}: {baseline_total:.1f}s (not timed as landing)",
            flush=True,
        )
        landed_at, landed_wall, landed_cpu = time.perf_counter(), time.time(), time.process_time()
        files = land(staging, landing, 1)
        requests, sensor_s = tick_until_requested()
        partitions = [r.partition_key for r in requests]
        assert partitions == ["2026-03-10-01:00"], partitions
        steps, meta, run_total, run_id = run(requests[0])
        phases = run_phases(instance, run_id, landed_wall)
        return {
            "files": files,
            "partition": partitions[0],
            "sensor_s": sensor_s,
            "steps": steps,
            "meta": meta,
            "run_total": run_total,
            "landing_to_report": phases.pop("landing -> report"),
            "phases": phases,
            "landing_to_indexed": time.perf_counter() - landed_at,
            "lines_indexed": selection is CHAIN,
            # every thread of this process (the run is in-process); not Elasticsearch's own CPU
            "cpu_to_indexed": time.process_time() - landed_cpu,
            "baseline_steps": baseline_steps,
        }


def print_report(timed: dict) -> None:
    """The stage table of the landed hour (80 columns)."""
    meta, steps = timed["meta"], timed["steps"]
    lines, events = meta["raw_logs"]["lines_read"], meta["raw_logs"]["dagster/row_count"]
    print(f"\none hour of {lines:,} lines ({timed['files']} files):")
    last = "lines indexed" if timed["lines_indexed"] else "end of run (--no-lines)"
    for label, key in (
        ("landing -> report indexed", "landing_to_report"),
        (f"landing -> {last}", "landing_to_indexed"),
    ):
        print(f"  {label}: {timed[key]:.1f}s, {lines / timed[key]:,.0f} lines/s")
    print(f"  CPU of this process, landing -> {last}: {timed['cpu_to_indexed']:.1f}s")
    print(f"  {'stage':<16}{'seconds':>9}{'lines/s':>12}")
    settle = os.environ["LOGRCA_SENSOR_SETTLE_SECONDS"]
    print(
        f"  {'sensor':<16}{timed['sensor_s']:>9.1f}{'':>12}   (includes the {settle}s settle time, 1s ticks)"
    )
    for step, seconds in sorted(steps.items(), key=lambda kv: -kv[1]):
        rate = f"{(lines if step == 'ingest_logs' else events) / seconds:,.0f}" if seconds > 0 else "-"
        print(f"  {step:<16}{seconds:>9.1f}{rate:>12}")
    print(f"  {'run overhead':<16}{timed['run_total'] - sum(steps.values()):>9.1f}")
    phases = {k: round(v, 2) for k, v in timed["phases"].items()}
    print(f"landing -> report indexed, by phase (s): {json.dumps(phases)}")
    report = meta.get("rca_report", {})
    print(
        f"incident: {report.get('incident')} root cause: {report.get('root_cause')} "
        f"window: {report.get('incident_window')}"
    )
    indexed = {k: meta["search_index"].get(k) for k in ("indexed", "deleted_stale", "reports")}
    print(f"indexed: {json.dumps(indexed)}")
    baseline = {k: round(v, 1) for k, v in timed["baseline_steps"].items()}
    print(f"baseline hour, same size, per step: {json.dumps(baseline)}")


def elasticsearch_url(args: argparse.Namespace) -> str:
    """``--es-url``, else a local server on ``--es-port`` (started if it is not running)."""
    if args.es_url:
        return args.es_url
    from logrca.es_server import LocalServer, start

    url = start(LocalServer(port=args.es_port), log=lambda message: None)
    print(
        f"Elasticsearch at {url}, left running for the next run"
        f" (stop it: .venv/bin/logrca es stop --port {args.es_port})",
        file=sys.stderr,
    )
    return url


def main() -> None:
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="logrca-bench-landing-"))
    staging, landing, config = prepare(tmp, args.lines_per_hour, topology=not args.no_topology)
    args.es_url = elasticsearch_url(args)
    selection = REPORT_CHAIN if args.no_lines else CHAIN
    timed = land_and_run(tmp, staging, landing, config, args.es_url, selection)
    print_report(timed)
    if not args.no_core:
        events, seconds = core_lines_per_second(tmp / "data", timed["partition"], config)
        stage = timed["steps"]["log_templates"]
        print(
            f"mining core on the same hour: {events:,} events in {seconds:.1f}s, {events / seconds:,.0f}"
            f" lines/s; log_templates ({stage:.1f}s) at {seconds / stage:.0%} of its core's speed"
        )
    if not args.no_drain3:
        lines = timed["meta"]["raw_logs"]["lines_read"]
        events, seconds = drain3_lines_per_second(tmp / "data", timed["partition"], config)
        drain3_rate = events / seconds
        print(
            f"plain drain3 on the same hour: {events:,} messages in {seconds:.1f}s, {drain3_rate:,.0f} lines/s"
        )
        if timed["lines_indexed"]:
            lines_rate = lines / timed["landing_to_indexed"]
            print(f"landing/drain3 ratio with every line indexed too: {lines_rate / drain3_rate:.1f}x")
        print(f"landing/drain3 ratio: {lines / timed['landing_to_report'] / drain3_rate:.1f}x")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
