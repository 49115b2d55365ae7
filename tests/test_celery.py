"""Scale-out proof on one machine: a real Redis broker, two ``dagster-celery`` workers, and a backfill of
four partitions run with ``LOGRCA_EXECUTOR=celery`` whose steps are shared between both workers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from logrca import PROJECT_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.es, pytest.mark.timeout(600)]

EXAMPLE = PROJECT_ROOT / "examples" / "shop"
VENV_BIN = Path(sys.executable).parent
PARTITIONS = [f"2026-03-10-{hour:02d}:00" for hour in range(4)]


@pytest.fixture()
def broker(tmp_path, free_port):
    """A real redis-server on 127.0.0.1 (Debian's package, installed by the script if missing)."""
    port, folder = free_port(), tmp_path / "redis"
    started = subprocess.run(
        [str(PROJECT_ROOT / "scripts" / "start-redis.sh"), str(port), str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert started.returncode == 0, started.stderr
    yield started.stdout.strip()
    os.kill(int((folder / "redis.pid").read_text()), signal.SIGTERM)


def four_hour_config(tmp_path: Path) -> Path:
    """Four hours of the example shop (small rate) and a config with four hourly partitions."""
    logs = tmp_path / "logs"
    subprocess.run(
        [sys.executable, str(EXAMPLE / "generate.py"), str(logs), "--hours", "4", "--rate", "0.5"],
        check=True,
        capture_output=True,
    )
    raw = yaml.safe_load((EXAMPLE / "logrca.yaml").read_text())
    raw["end"] = "2026-03-10T04:00:00Z"
    for key in ("topology", "knowledge_base", "catalogue"):
        raw[key] = str(EXAMPLE / raw[key])
    for source in raw["sources"]:
        source["paths"] = [str(logs / Path(path).relative_to("logs")) for path in source["paths"]]
    path = tmp_path / "logrca.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def start_worker(name: str, env: dict, config_yaml: Path, log: Path) -> subprocess.Popen:
    command = [
        str(VENV_BIN / "dagster-celery"),
        "worker",
        "start",
        "-A",
        "dagster_celery.app",
        "-y",
        str(config_yaml),
        "-n",
        name,
        "--",
        "--concurrency",
        "1",
    ]
    return subprocess.Popen(
        command,
        env=env,
        cwd=PROJECT_ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_ready(log: Path, name: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if f"{name}@" in log.read_text(errors="replace") and " ready." in log.read_text(errors="replace"):
            return
        time.sleep(0.5)
    pytest.fail(
        f"celery worker {name} not ready after {timeout}s:\n{log.read_text(errors='replace')[-3000:]}"
    )


def create_storage(home: Path) -> None:
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        instance.get_runs(limit=1)


def steps_per_worker(home: Path) -> tuple[dict, dict]:
    """From the instance: {worker: {partition: steps}} and {partition: run status}."""
    from dagster import DagsterEventType, DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    work, statuses = defaultdict(lambda: defaultdict(int)), {}
    for run in instance.get_runs():
        partition = run.tags.get("dagster/partition")
        statuses[partition] = run.status.value
        for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT):
            metadata = entry.dagster_event.engine_event_data.metadata or {}
            if "Celery worker" in metadata:
                work[metadata["Celery worker"].value][partition] += 1
    return {worker: dict(parts) for worker, parts in work.items()}, statuses


def test_a_backfill_is_shared_between_two_celery_workers(tmp_path, broker, es_url, index_prefix):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    create_storage(home)  # once, before concurrent processes would race to create the SQLite schema
    env = os.environ | {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DAGSTER_HOME": str(home),
        "LOGRCA_CONFIG": str(four_hour_config(tmp_path)),
        "LOGRCA_DATA_DIR": str(tmp_path / "data"),
        "LOGRCA_ES_URL": es_url,
        "LOGRCA_INDEX_PREFIX": index_prefix,
        "LOGRCA_EXECUTOR": "celery",
        "LOGRCA_CELERY_BROKER": broker,
    }
    worker_yaml = tmp_path / "celery.yaml"
    worker_yaml.write_text(yaml.safe_dump({"execution": {"config": {"broker": broker, "backend": broker}}}))
    workers = {name: start_worker(name, env, worker_yaml, tmp_path / f"{name}.log") for name in ("w1", "w2")}
    try:
        for name in workers:
            wait_ready(tmp_path / f"{name}.log", name)
        # The backfill: four partition runs, two at a time (the run queue's limit on this machine).
        pending, running, failures = list(PARTITIONS), [], []
        while pending or running:
            while pending and len(running) < 2:
                key = pending.pop(0)
                command = [
                    str(VENV_BIN / "dagster"),
                    "job",
                    "execute",
                    "-m",
                    "logrca.pipelines.definitions",
                    "-j",
                    "logrca_main",
                    "--tags",
                    json.dumps({"dagster/partition": key}),
                ]
                running.append(
                    (
                        key,
                        subprocess.Popen(
                            command,
                            env=env,
                            cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT,
                        ),
                    )
                )
            key, process = running.pop(0)
            output = process.communicate(timeout=400)[0].decode(errors="replace")
            if process.returncode != 0:
                failures.append(f"{key}: {output[-2000:]}")
        assert not failures, failures
    finally:
        for process in workers.values():
            os.killpg(process.pid, signal.SIGTERM)
        for process in workers.values():
            process.wait(timeout=60)

    work, statuses = steps_per_worker(home)
    print("steps per celery worker and partition:", json.dumps(work, indent=1))
    assert statuses == {key: "SUCCESS" for key in PARTITIONS}
    assert len(work) == 2, f"expected steps on both workers, got {work}"
    assert all(sum(parts.values()) > 0 for parts in work.values())
    assert {partition for parts in work.values() for partition in parts} == set(PARTITIONS)
