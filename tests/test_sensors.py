"""The new-file sensor on a real Dagster instance (temporary DAGSTER_HOME): take each file once, wait for files being written."""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance, SensorResult, build_sensor_context
from pipeline_support import materialize_partition, pipeline_definitions

from logrca import PROJECT_ROOT
from logrca.assets.config import load_config
from logrca.assets.partitions import partitions_for
from logrca.assets.resources import LogrcaConfigResource
from logrca.pipelines.sensors import evaluate_new_files

EXAMPLE = PROJECT_ROOT / "examples" / "shop"
LONG_AGO = time.time() - 3600
#: Landing folders (source names) whose example files lie in another folder of the example's logs.
EXAMPLE_FOLDERS = {"shop-spans": "spans", "shop-metrics": "metrics"}


def landing_config(tmp_path: Path) -> Path:
    """The example config with every source reading from its empty folder under ``tmp_path/landing``."""
    raw = yaml.safe_load((EXAMPLE / "logrca.yaml").read_text())
    for key in ("topology", "knowledge_base", "catalogue"):
        raw[key] = str(EXAMPLE / raw[key])
    for source in raw["sources"]:
        source["paths"] = [str(tmp_path / "landing" / source["name"] / "*.log*")]
        (tmp_path / "landing" / source["name"]).mkdir(parents=True)  # a config names existing folders
    for signal in (*raw.get("spans", []), *raw.get("metrics", [])):  # traces*.jsonl*, federate-*.prom*
        signal["paths"] = [str(tmp_path / "landing" / signal["name"] / Path(signal["paths"][0]).name)]
        (tmp_path / "landing" / signal["name"]).mkdir(parents=True)
    path = tmp_path / "logrca.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def land(
    tmp_path: Path,
    source: str,
    name: str,
    *,
    example: str | None = None,
    body: bytes | None = None,
    mtime: float | None = LONG_AGO,
) -> Path:
    """Put a file into the landing folder (a copy of an example file or ``body``), with ``mtime``."""
    target = tmp_path / "landing" / source / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if example:
        shutil.copyfile(EXAMPLE / "logs" / EXAMPLE_FOLDERS.get(source, source) / example, target)
    else:
        target.write_bytes(body or b"")
    if mtime is not None:
        os.utime(target, (mtime, mtime))
    return target


def tick(instance, config_path: Path, cursor: str | None) -> SensorResult:
    resources = {
        "logrca": LogrcaConfigResource(
            config_path=str(config_path), data_dir=str(config_path.parent / "data")
        )
    }
    defs = pipeline_definitions(config_path)
    context = build_sensor_context(instance=instance, cursor=cursor, resources=resources, definitions=defs)
    return defs.get_sensor_def("new_log_files_sensor")(context)


def requested(result: SensorResult) -> dict[str, str]:
    return {request.partition_key: request.run_key for request in result.run_requests or []}


def test_sensor_and_schedule_are_registered():
    repository = pipeline_definitions().get_repository_def()
    assert "new_log_files_sensor" in [s.name for s in repository.sensor_defs]
    assert repository.get_sensor_def("new_log_files_sensor").job_name == "logrca_main"


def test_each_file_is_taken_once_and_requests_its_partitions(tmp_path, instance):
    config = landing_config(tmp_path)
    land(tmp_path, "gateway", "gateway.log.1", example="gateway.log.1")  # lines of 01:00-02:00
    land(
        tmp_path, "checkout", "checkout.log.2.gz", example="checkout.log.2.gz"
    )  # 00:00-01:00 (Berlin time in the file)
    first = tick(instance, config, None)
    assert set(requested(first)) == {"2026-03-10-00:00", "2026-03-10-01:00"}
    assert all(r.tags["logrca/trigger"] == "new-files" for r in first.run_requests)

    again = tick(instance, config, first.cursor)
    assert requested(again) == {}
    assert "no new settled files" in again.skip_reason.skip_message

    land(tmp_path, "db", "db.log", example="db.log")  # a new file, 02:00-03:00
    third = tick(instance, config, again.cursor)
    assert set(requested(third)) == {"2026-03-10-02:00"}


def test_a_file_being_written_waits_until_it_settles(tmp_path, instance):
    config = landing_config(tmp_path)
    growing = land(tmp_path, "gateway", "gateway.log", example="gateway.log", mtime=None)  # just written
    first = tick(instance, config, None)
    assert requested(first) == {}
    assert "1 waiting" in first.skip_reason.skip_message
    assert str(growing) not in json.loads(first.cursor)["taken"]

    os.utime(growing, (LONG_AGO, LONG_AGO))  # the writer stopped a while ago
    settled = tick(instance, config, first.cursor)
    assert set(requested(settled)) == {"2026-03-10-02:00"}


def test_a_grown_file_runs_again_and_a_renamed_file_does_not(tmp_path, instance):
    config = landing_config(tmp_path)
    log = land(tmp_path, "payments", "payments.log", example="payments.log.1")
    first = tick(instance, config, None)
    (run_key,) = requested(first).values()

    rotated = log.rename(log.with_name("payments.log.1"))  # rotation: same inode, size and mtime
    after_rename = tick(instance, config, first.cursor)
    assert requested(after_rename) == {}
    assert "1 renamed" in after_rename.skip_reason.skip_message

    with rotated.open("ab") as stream:  # late lines appended
        stream.write(
            (EXAMPLE / "logs" / "payments" / "payments.log.1").read_bytes().splitlines(keepends=True)[-1]
        )
    os.utime(rotated, (LONG_AGO + 60, LONG_AGO + 60))
    grown = tick(instance, config, after_rename.cursor)
    assert set(requested(grown)) == {"2026-03-10-01:00"}
    assert (
        requested(grown)["2026-03-10-01:00"] != run_key
    )  # a new run key: the new state reruns the partition


def test_span_and_metric_files_request_the_partitions_of_their_records(tmp_path, instance):
    config = landing_config(tmp_path)
    land(tmp_path, "shop-spans", "traces-h3.jsonl", example="traces.jsonl")  # spans of 02:00-03:00
    land(tmp_path, "shop-metrics", "federate-x.prom", example="federate-20260310T0100Z.prom")  # 01:00-02:00
    first = tick(instance, config, None)
    assert set(requested(first)) == {"2026-03-10-01:00", "2026-03-10-02:00"}
    assert requested(tick(instance, config, first.cursor)) == {}

    # a scrape without sample timestamps is timed by its name (as the reader times it), not its mtime
    scrape = b'# TYPE up gauge\nup{service="cart",pod="cart-1"} 1\n'
    land(tmp_path, "shop-metrics", "federate-20260310T0000Z.prom", body=scrape)
    assert set(requested(tick(instance, config, first.cursor))) == {"2026-03-10-00:00"}


def json_line(hour: int, minute: int, message: str = "ok") -> bytes:
    moment = f"2026-03-10T{hour:02}:{minute:02}:00Z"
    return json.dumps({"timestamp": moment, "level": "INFO", "message": message}).encode() + b"\n"


def grow(path: Path, *lines: bytes, at: float) -> None:
    with path.open("ab") as stream:
        stream.write(b"".join(lines))
    os.utime(path, (at, at))


def test_a_growing_live_file_requests_only_the_hours_from_its_old_end(tmp_path, instance):
    config = landing_config(tmp_path)
    live = land(tmp_path, "gateway", "gateway.log", body=json_line(0, 10) + json_line(1, 10))
    first = tick(instance, config, None)
    assert set(requested(first)) == {"2026-03-10-00:00", "2026-03-10-01:00"}

    grow(live, json_line(1, 50), at=LONG_AGO + 60)  # one more line in the hour it ended in
    grown = tick(instance, config, first.cursor)
    assert set(requested(grown)) == {"2026-03-10-01:00"}  # not 00:00 again

    grow(live, json_line(2, 10), at=LONG_AGO + 120)
    assert set(requested(tick(instance, config, grown.cursor))) == {"2026-03-10-01:00", "2026-03-10-02:00"}


def test_a_replaced_or_rewritten_file_requests_all_its_hours_again(tmp_path, instance):
    config = landing_config(tmp_path)
    live = land(tmp_path, "gateway", "gateway.log", body=json_line(0, 10) + json_line(1, 10))
    first = tick(instance, config, None)
    everything = {"2026-03-10-00:00", "2026-03-10-01:00", "2026-03-10-02:00"}

    replacement = live.with_name("gateway.log.new")  # a new file (new inode) moved over the old one
    replacement.write_bytes(live.read_bytes() + json_line(2, 10))
    os.utime(replacement, (LONG_AGO + 60, LONG_AGO + 60))
    replacement.replace(live)
    replaced = tick(instance, config, first.cursor)
    assert set(requested(replaced)) == everything

    # the same inode rewritten from its start (copytruncate, then longer lines): not a grown file
    with live.open("r+b") as stream:
        stream.write(json_line(0, 20, "rewritten") + json_line(1, 20) + json_line(2, 20) + json_line(2, 30))
    os.utime(live, (LONG_AGO + 120, LONG_AGO + 120))
    assert set(requested(tick(instance, config, replaced.cursor))) == everything

    with live.open("r+b") as stream:  # shrunk
        stream.truncate(len(json_line(0, 20, "rewritten")))
    os.utime(live, (LONG_AGO + 180, LONG_AGO + 180))
    assert set(requested(tick(instance, config, replaced.cursor))) == {"2026-03-10-00:00"}


def test_a_partition_already_materialized_from_the_same_files_is_not_run_again(tmp_path, instance):
    """'logrca run' then 'dagster dev': the sensor starts with no cursor, yet reruns nothing unchanged."""
    config = landing_config(tmp_path)
    log = land(tmp_path, "db", "db.log", example="db.log")  # 02:00-03:00
    land(tmp_path, "payments", "payments.log", example="payments.log.1")  # 01:00-02:00, never ingested
    defs = pipeline_definitions(config, data_dir=tmp_path / "data")
    materialize_partition(defs, ["raw_logs", "quarantined_lines"], "2026-03-10-02:00", instance)
    first = tick(instance, config, None)
    assert set(requested(first)) == {"2026-03-10-01:00"}

    with log.open("ab") as stream:  # the ingested file grows: its partition runs again
        stream.write(log.read_bytes().splitlines(keepends=True)[-1])
    os.utime(log, (LONG_AGO + 60, LONG_AGO + 60))
    grown = tick(instance, config, first.cursor)
    assert set(requested(grown)) == {"2026-03-10-02:00"}


def test_span_and_metric_files_already_read_by_the_partition_are_not_run_again(tmp_path, instance):
    """raw_logs records only log files: a span or metric file is judged by its own asset's run."""
    config = landing_config(tmp_path)
    land(tmp_path, "db", "db.log", example="db.log")  # 02:00-03:00
    spans = land(tmp_path, "shop-spans", "traces-h3.jsonl", example="traces.jsonl")  # 02:00-03:00
    land(tmp_path, "payments", "payments.log", example="payments.log.1")  # 01:00-02:00
    defs = pipeline_definitions(config, data_dir=tmp_path / "data")
    logs = ["raw_logs", "quarantined_lines"]
    for partition, selection in (
        ("2026-03-10-02:00", [*logs, "raw_spans", "quarantined_spans"]),
        ("2026-03-10-01:00", logs),
    ):
        materialize_partition(defs, selection, partition, instance)
    first = tick(instance, config, None)  # 'logrca run' then 'dagster dev': every file read already
    assert requested(first) == {}

    # metrics land for 01:00, whose logs ran but whose metrics never did
    land(tmp_path, "shop-metrics", "federate-x.prom", example="federate-20260310T0100Z.prom")
    metrics = tick(instance, config, first.cursor)
    assert set(requested(metrics)) == {"2026-03-10-01:00"}
    assert requested(tick(instance, config, metrics.cursor)) == {}

    grow(spans, spans.read_bytes().splitlines(keepends=True)[-1], at=LONG_AGO + 60)  # a late span
    grown = tick(instance, config, metrics.cursor)
    assert set(requested(grown)) == {"2026-03-10-02:00"}
    assert requested(tick(instance, config, grown.cursor)) == {}


def test_files_outside_the_partitions_and_unparseable_files(tmp_path, instance):
    config = landing_config(tmp_path)
    late = (
        json.dumps({"timestamp": "2027-01-01T00:00:00Z", "level": "INFO", "message": "later"}).encode()
        + b"\n"
    )
    land(tmp_path, "gateway", "gateway.log", body=late)  # after the config's end: no partition
    garbage_time = datetime(2026, 3, 10, 1, 30, tzinfo=UTC).timestamp()
    land(
        tmp_path, "db", "db.log", body=b"\xff\xfe not a log line\n", mtime=garbage_time
    )  # no timestamp: its mtime decides
    result = tick(instance, config, None)
    assert set(requested(result)) == {"2026-03-10-01:00"}
    assert len(json.loads(result.cursor)["taken"]) == 2


def test_a_config_broken_while_the_daemon_runs_skips_the_tick_with_its_message(tmp_path, instance):
    """The daemon keeps the definitions it loaded; the sensor reads the config file anew each tick."""
    config = landing_config(tmp_path)
    land(tmp_path, "gateway", "gateway.log.1", example="gateway.log.1")
    defs = pipeline_definitions(config)
    raw = yaml.safe_load(config.read_text())
    raw["sources"][1]["format"] = "no-such-format"
    config.write_text(yaml.safe_dump(raw))
    resources = {"logrca": LogrcaConfigResource(config_path=str(config), data_dir=str(tmp_path / "data"))}
    context = build_sensor_context(instance=instance, cursor=None, resources=resources, definitions=defs)
    result = defs.get_sensor_def("new_log_files_sensor")(context)
    assert requested(result) == {}
    message = result.skip_reason.skip_message
    assert str(config) in message and "sources.1.format" in message
    assert len(message.splitlines()) <= 5
    assert result.cursor is None  # nothing was taken: the files run once the config is fixed


def test_evaluate_new_files_reports_a_missing_folder_instead_of_failing(tmp_path):
    config = load_config(landing_config(tmp_path))
    config.sources[0].paths = [
        str(tmp_path / "nowhere" / "gateway.log")
    ]  # no glob: a named file that is missing
    tick_result = evaluate_new_files(
        config, {}, now=time.time(), settle_seconds=30, valid_keys=set(), partitions=partitions_for(config)
    )
    assert tick_result["runs"] == {}
    assert any("gateway" in message and "not found" in message for message in tick_result["problems"])


@pytest.mark.slow
@pytest.mark.es
@pytest.mark.timeout(400)
def test_the_daemon_runs_the_sensor_and_the_schedule(tmp_path, es_url, index_prefix):
    """``dagster-daemon run`` on a temporary DAGSTER_HOME: a landed file starts a run, and so does the schedule."""
    import signal
    import subprocess
    import sys

    from dagster._core.instance.ref import InstanceRef

    config = landing_config(tmp_path)
    land(tmp_path, "gateway", "gateway.log.1", example="gateway.log.1")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        instance.get_runs(limit=1)  # create the storage before the daemon's threads do
    env = os.environ | {
        "DAGSTER_HOME": str(home),
        "LOGRCA_CONFIG": str(config),
        "LOGRCA_DATA_DIR": str(tmp_path / "data"),
        "LOGRCA_ES_URL": es_url,
        "LOGRCA_INDEX_PREFIX": index_prefix,
        "LOGRCA_EXECUTOR": "in_process",
        "LOGRCA_SENSOR_INTERVAL_SECONDS": "5",
        "LOGRCA_SCHEDULE_CRON": "* * * * *",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log = (tmp_path / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-m", "logrca.pipelines.definitions"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    finished: dict[str, str] = {}
    try:
        deadline = time.monotonic() + 300
        with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
            while time.monotonic() < deadline and {"new-files", "schedule"} - {
                t for t, s in finished.items() if s == "SUCCESS"
            }:
                for run in instance.get_runs():
                    if run.status.value in ("SUCCESS", "FAILURE", "CANCELED"):
                        finished[run.tags.get("logrca/trigger", "?")] = run.status.value
                        finished[f"{run.tags.get('logrca/trigger')}:partition"] = run.tags.get(
                            "dagster/partition"
                        )
                time.sleep(2)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
    assert finished.get("new-files") == "SUCCESS", (finished, (tmp_path / "daemon.log").read_text()[-3000:])
    assert finished["new-files:partition"] == "2026-03-10-01:00"
    assert finished.get("schedule") == "SUCCESS", (finished, (tmp_path / "daemon.log").read_text()[-3000:])
    assert finished["schedule:partition"] == "2026-03-10-02:00"
