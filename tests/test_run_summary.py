"""`logrca run` as a user sees it: per-file accounts, failed checks and step causes in a line or two,
stack traces in a log file, and a non-zero exit when an ERROR check or a step fails."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from logrca import PROJECT_ROOT

BIN = PROJECT_ROOT / ".venv" / "bin"
KEY = "2026-03-10-01:00"


@pytest.fixture()
def new_logs(tmp_path, shared_data):
    """A config with one source whose timestamps are not configured (HDFS) and one that parses."""
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(shared_data / "loghub" / "HDFS" / "HDFS_2k.log", logs / "hdfs.log")
    (logs / "app.log").write_text(
        "".join(f"2026-03-10 01:{n:02d}:00,000 INFO  [main] c.App: request {n} served\n" for n in range(60))
        + "a garbage line\n"
    )
    (logs / "gone.log").symlink_to(tmp_path / "rotated-away.log")
    rotated = "".join(f"2026-03-10 01:{n:02d}:30,000 INFO  [main] c.App: job {n} done\n" for n in range(60))
    packed = gzip.compress(rotated.encode())
    (logs / "app.log.1.gz").write_bytes(packed[: len(packed) // 2])  # cut short: its end is lost
    (logs / "quiet.log.gz").write_bytes(packed[: len(packed) // 3])  # a fault-free file cut short too
    config = tmp_path / "logrca.yaml"
    config.write_text(
        "system: trial\nstart: 2026-03-10T00:00:00Z\nend: 2026-03-10T03:00:00Z\nsources:\n"
        "  - {name: hdfs, service: hdfs, format: loghub, paths: [logs/hdfs.log],\n"
        "     header: '<Date> <Time> <Pid> <Level> <Component>: <Content>'}\n"
        "  - {name: app, service: app, format: loghub, paths: [logs/app.log, logs/gone.log, logs/app.log.1.gz],\n"
        "     header: '<Date> <Time> <Level> \\[<Thread>\\] <Component>: <Content>'}\n"
        "  - {name: quiet, service: app, role: baseline, format: loghub, paths: [logs/quiet.log.gz],\n"
        "     header: '<Date> <Time> <Level> \\[<Thread>\\] <Component>: <Content>'}\n"
    )
    return config


def run(config, tmp_path, es_url, index_prefix, *extra) -> subprocess.CompletedProcess:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = dict(
        os.environ,
        DAGSTER_HOME=str(home),
        LOGRCA_DATA_DIR=str(tmp_path / "data"),
        LOGRCA_ES_URL=es_url,
        LOGRCA_INDEX_PREFIX=index_prefix,
        COLUMNS="80",
    )
    return subprocess.run(
        [str(BIN / "logrca"), "run", "-c", str(config), "-p", KEY, *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


@pytest.mark.es
def test_run_names_files_checks_and_causes_and_exits_non_zero(new_logs, tmp_path, es_url, index_prefix):
    done = run(new_logs, tmp_path, es_url, index_prefix)
    out = done.stderr
    assert done.returncode == 1, out
    assert "hdfs logs/hdfs.log: 2000 read = 0 in events + 2000 quarantined" in out
    assert "no line parses" in out
    assert "app logs/app.log: 61 read = 60 in events + 1 quarantined" in out
    assert "link target missing" in out and "rotated-away.log" in out
    flat = " ".join(out.split())  # a check's description wraps at 80 columns
    assert "check every_file_gives_events failed (ERROR): hdfs.log: 2000 lines read, none parsed" in flat
    assert "check every_file_read_to_its_end failed (ERROR): app.log.1.gz: truncated gzip stream" in flat
    assert "check every_file_read_to_its_end failed (ERROR): quiet.log.gz: truncated gzip stream" in flat
    assert "Traceback" not in out

    state = tmp_path / "data" / "templates" / "trial.drain3.json"
    assert state.is_file()
    state.write_text("{ not json")  # a corrupt miner state: the cause, not Dagster's wrapper
    done = run(new_logs, tmp_path, es_url, index_prefix)
    out = done.stderr
    assert done.returncode == 1
    cause = next(line for line in out.splitlines() if line.strip().startswith("log_templates:"))
    assert cause.strip().startswith("log_templates: TemplateStateError:")
    assert "trial.drain3.json" in cause and "Error occurred while executing" not in cause
    assert "stack trace:" in out and "Traceback" not in out
    trace_file = out.split("stack trace: ", 1)[1].split(")", 1)[0]
    trace = Path(trace_file).read_text()
    assert "TemplateStateError" in trace and 'File "' in trace  # the whole stack, kept off the screen


def test_files_with_lines_of_other_partitions_only_are_counted_not_listed():
    """A rotated file of earlier hours, read and found to hold none of this hour's lines, is one count
    on one line; a file with lines here, or with a note, keeps its own line."""
    from logrca.run_summary import file_lines

    def record(name, here, elsewhere, notes=()):
        return {
            "source": "gateway",
            "file": f"/var/log/gateway/{name}",
            "lines_read": here + elsewhere,
            "lines_in_events": here,
            "lines_quarantined": 0,
            "lines_outside_window": elsewhere,
            "notes": list(notes),
        }

    lines = file_lines(
        [
            record("gateway.log.2.gz", 0, 7229),
            record("gateway.log.1", 0, 7205),
            record("gateway.log.3.gz", 0, 10, notes=["ends inside its gzip stream"]),
            record("gateway.log", 7276, 0),
        ]
    )
    assert lines[-1] == "  2 more files: all 14434 lines in other partitions"
    assert not any("gateway.log.2.gz" in line or "gateway.log.1" in line for line in lines)
    assert any("gateway.log.3.gz: 10 read = 0 in events" in line for line in lines)
    assert any("gateway/gateway.log: 7276 read = 7276 in events" in line for line in lines)


def test_the_incident_window_reads_as_clock_times():
    """The partition key starts the line, so the window is its clock times; over midnight, dates too."""
    from logrca.run_summary import _clock_window

    assert (
        _clock_window("2026-03-10T02:18:03.004000Z → 2026-03-10T02:50:01.879000Z")
        == "02:18:03 → 02:50:01 UTC"
    )
    assert _clock_window("2026-03-10T23:58:00+00:00 → 2026-03-11T00:05:00+00:00") == (
        "2026-03-10 23:58:00 → 2026-03-11 00:05:00 UTC"
    )


def test_an_incident_a_rerun_replaced_is_said():
    """A re-run whose analysis of the window changed files a new incident and supersedes the old one."""
    from logrca.run_summary import incident_lines

    assert incident_lines({"incident_id": "INC-1", "outcome": "unchanged"}) == []
    lines = incident_lines({"incident_id": "INC-new", "outcome": "replaced", "superseded": "INC-old"})
    flat = " ".join(line.replace("[yellow]", "").replace("[/yellow]", "").strip() for line in lines)
    assert flat.startswith("incident INC-new replaces INC-old: this re-run analysed the window again")
    assert "logrca incident show INC-old" in flat and len(lines) <= 3


def test_an_incident_a_rerun_withdrew_is_said():
    """A re-run that finds no incident in the window withdraws the one an earlier run filed for it."""
    from logrca.run_summary import incident_lines

    assert incident_lines({"incident_id": None, "outcome": None}) == []
    lines = incident_lines(
        {"incident_id": None, "outcome": None, "withdrawn": "INC-202603100218-0a1b2c3d4e5f"}
    )
    flat = " ".join(line.replace("[yellow]", "").replace("[/yellow]", "").strip() for line in lines)
    assert (
        flat == "incident INC-202603100218-0a1b2c3d4e5f withdrawn: a re-run of this window found no incident"
    )
    assert len(lines) <= 2 and all(
        len(line.replace("[yellow]", "").replace("[/yellow]", "")) <= 80 for line in lines
    )
    two = incident_lines({"withdrawn": "INC-a, INC-b", "narrowed": "INC-c"})
    flat = " ".join(line.replace("[yellow]", "").replace("[/yellow]", "").strip() for line in two)
    assert flat.startswith("incidents INC-a, INC-b withdrawn: a re-run of this window found no incident")
    assert "incident INC-c no longer covers this window" in flat


def test_what_a_rerun_changed_in_the_index_is_said():
    """A partition re-run after its files changed (lines gone, a late file): the lines and documents it
    no longer produces are deleted, the new ones indexed, and the summary says how many."""
    from logrca.run_summary import rerun_lines

    first_run = {"indexed_lines": {"lines_indexed": 23469, "lines_present": 0, "lines_deleted_stale": 0}}
    assert rerun_lines(first_run) == []
    same_again = {
        "indexed_lines": {"lines_indexed": 0, "lines_present": 23469, "lines_deleted_stale": 0},
        "search_index": {"indexed": 3, "deleted_stale": 0, "reports": 1},
    }
    assert rerun_lines(same_again) == []
    changed = {
        "indexed_lines": {"lines_indexed": 12, "lines_present": 23181, "lines_deleted_stale": 276},
        "search_index": {"indexed": 2, "deleted_stale": 1, "reports": 1},
    }
    flat = " ".join(re.sub(r"\[/?yellow\]", "", line).strip() for line in rerun_lines(changed))
    assert "re-run" in flat and "276 indexed lines no longer read deleted" in flat
    assert "12 lines new" in flat and "1 finding or report no longer found deleted" in flat
