"""The landing hour on Dagster's executors: in-process, multiprocess and Celery with two workers.

The data is ``bench_landing.py``'s (``landing_generator``: 12 services, JSON lines and Loghub
headers, one incident). The baseline hour lands and is processed once, in-process and untimed. The
data folder (Parquet partitions and the miner state) is then copied once per executor, so every
executor runs the same second hour from the same state. Each run is the pipeline's own main job,
``dagster job execute -m logrca.pipelines.definitions -j logrca_main`` for the landed partition, in
a subprocess whose environment differs only in ``LOGRCA_EXECUTOR`` (and its own data folder and
index prefix). For ``celery`` a real ``redis-server`` on 127.0.0.1 (``scripts/start-redis.sh``) and
two ``dagster-celery`` workers with one slot each run the steps; they are started before the clock
runs, as they are long-lived in a deployment.

Prints per executor the run's seconds (start to end, from the Dagster instance), the command's
seconds (including process start and loading the code location), the ratio to in-process, the
seconds per step and which worker ran which step.

Usage: ``.venv/bin/python bench/bench_landing_celery.py [--lines-per-hour 1000000] [--executors in_process,multiprocess] [--es-port 9250 | --es-url URL]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_landing import elasticsearch_url, land, prepare, run_partition, step_seconds  # noqa: E402

VENV_BIN = Path(sys.executable).parent
EXECUTORS = ("in_process", "multiprocess", "celery")
BASELINE_HOUR, LANDED_HOUR = "2026-03-10-00:00", "2026-03-10-01:00"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines-per-hour", type=int, default=1_000_000)
    parser.add_argument("--es-url", default=os.environ.get("LOGRCA_ES_URL"))
    parser.add_argument(
        "--es-port", type=int, default=9250, help="port of the local Elasticsearch (default 9250)"
    )
    parser.add_argument("--workers", type=int, default=2, help="dagster-celery workers (default 2)")
    parser.add_argument(
        "--executors",
        default=",".join(EXECUTORS),
        help=f"which executors to run, comma-separated (default {','.join(EXECUTORS)})",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis(folder: Path) -> str:
    """A throwaway broker on 127.0.0.1; returns its URL."""
    started = subprocess.run(
        [str(ROOT / "scripts" / "start-redis.sh"), str(free_port()), str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if started.returncode != 0:
        raise SystemExit(f"redis-server did not start: {started.stderr.strip()[-500:]}")
    return started.stdout.strip()


def start_workers(count: int, env: dict, tmp: Path) -> list[subprocess.Popen]:
    """``count`` dagster-celery workers with one slot each, started and ready."""
    worker_yaml = tmp / "celery.yaml"
    broker = env["LOGRCA_CELERY_BROKER"]
    worker_yaml.write_text(json.dumps({"execution": {"config": {"broker": broker, "backend": broker}}}))
    workers, logs = [], []
    for number in range(1, count + 1):
        name, log = f"w{number}", tmp / f"w{number}.log"
        command = [str(VENV_BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app"]
        command += ["-y", str(worker_yaml), "-n", name, "--", "--concurrency", "1"]
        workers.append(
            subprocess.Popen(
                command,
                env=env,
                cwd=ROOT,
                stdout=log.open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        logs.append((name, log))
    deadline = time.monotonic() + 180
    for name, log in logs:
        while f"{name}@" not in log.read_text(errors="replace") or " ready." not in log.read_text(
            errors="replace"
        ):
            if time.monotonic() > deadline:
                stop(workers)
                raise SystemExit(f"celery worker {name} not ready: {log.read_text(errors='replace')[-500:]}")
            time.sleep(0.5)
    return workers


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        process.wait(timeout=60)


def execute(executor: str, env: dict) -> tuple[str, float]:
    """The main job for the landed hour with ``executor``; returns (run id, command seconds)."""
    command = [str(VENV_BIN / "dagster"), "job", "execute", "-m", "logrca.pipelines.definitions"]
    tags = {"dagster/partition": LANDED_HOUR, "bench/executor": executor}
    command += ["-j", "logrca_main", "--tags", json.dumps(tags)]
    began = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{executor}: the run failed:\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
    from dagster import DagsterInstance, RunsFilter

    with DagsterInstance.get() as instance:
        (run,) = instance.get_runs(RunsFilter(tags={"bench/executor": executor}), limit=1)
        return run.run_id, seconds


def describe(run_id: str) -> dict:
    """Run seconds, step seconds, lines read and the Celery worker of each step, from the instance."""
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.get() as instance:
        stats = instance.get_run_stats(run_id)
        workers = defaultdict(list)
        for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
            metadata = entry.dagster_event.engine_event_data.metadata or {}
            if "Celery worker" in metadata and entry.step_key:
                workers[metadata["Celery worker"].value].append(entry.step_key)
        lines = 0
        for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
            materialization = entry.dagster_event.event_specific_data.materialization
            if materialization.asset_key.to_user_string() == "raw_logs":
                lines = materialization.metadata["lines_read"].value
        return {
            "run_s": stats.end_time - stats.start_time,
            "steps": step_seconds(instance, run_id),
            "lines": lines,
            "workers": {worker: sorted(set(steps)) for worker, steps in workers.items()},
        }


def run_executor(executor: str, tmp: Path, base_env: dict, workers: int) -> dict:
    data = tmp / f"data-{executor}"
    shutil.copytree(tmp / "data", data)
    env = base_env | {
        "LOGRCA_EXECUTOR": executor,
        "LOGRCA_DATA_DIR": str(data),
        "LOGRCA_INDEX_PREFIX": f"bench-executors-{executor.replace('_', '-')}-{os.getpid()}",
    }
    started: list[subprocess.Popen] = []
    redis_folder = tmp / "redis"
    try:
        if executor == "celery":
            env["LOGRCA_CELERY_BROKER"] = start_redis(redis_folder)
            started = start_workers(workers, env, tmp)
        run_id, command_s = execute(executor, env)
    finally:
        if started:
            stop(started)
        if (redis_folder / "redis.pid").exists():
            os.kill(int((redis_folder / "redis.pid").read_text()), signal.SIGTERM)
    return describe(run_id) | {"command_s": command_s}


def print_report(results: dict[str, dict]) -> None:
    base = results["in_process"]["run_s"]
    lines = results["in_process"]["lines"]
    print(f"\nthe landed hour ({lines:,} lines) on each executor:")
    print(f"  {'executor':<14}{'run s':>8}{'lines/s':>10}{'command s':>11}{'vs in_process':>15}")
    for executor, result in results.items():
        rate = lines / result["run_s"]
        print(
            f"  {executor:<14}{result['run_s']:>8.1f}{rate:>10,.0f}{result['command_s']:>11.1f}"
            f"{base / result['run_s']:>14.2f}x"
        )
    print("\nseconds per step:")
    steps = sorted({step for result in results.values() for step in result["steps"]})
    print(f"  {'step':<22}" + "".join(f"{executor:>14}" for executor in results))
    for step in steps:
        cells = "".join(f"{results[e]['steps'].get(step, float('nan')):>14.1f}" for e in results)
        print(f"  {step[:22]:<22}{cells}")
    for worker, ran in sorted(results.get("celery", {}).get("workers", {}).items()):
        print(f"celery worker {worker}: {', '.join(ran)}")


def main() -> None:
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="logrca-bench-executors-"))
    staging, landing, _ = prepare(tmp, args.lines_per_hour)
    args.es_url = elasticsearch_url(args)
    from dagster import DagsterInstance

    land(staging, landing, 0)
    with DagsterInstance.get() as instance:  # the baseline hour, once, untimed
        _, _, seconds, _ = run_partition(
            instance, BASELINE_HOUR, {}, args.es_url, "bench-executors", tmp / "data"
        )
    print(f"baseline hour {BASELINE_HOUR}: {seconds:.1f}s (not timed)", flush=True)
    land(staging, landing, 1)
    base_env = os.environ | {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "LOGRCA_ES_URL": args.es_url,
    }
    results = {}
    chosen = [name.strip() for name in args.executors.split(",") if name.strip()]
    if unknown := sorted(set(chosen) - set(EXECUTORS)):
        raise SystemExit(f"--executors: unknown {unknown}; choose from {', '.join(EXECUTORS)}")
    for executor in chosen:
        results[executor] = run_executor(executor, tmp, base_env, args.workers)
        print(f"{executor}: {results[executor]['run_s']:.1f}s", flush=True)
    print_report(results)
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
