"""A `logrca run` killed mid-way (SIGKILL, OOM, a closed terminal) leaves its Dagster run STARTED: no
launcher watches an in-process run. Left so, it held a slot of the run queue and the partition's
`dagster/partition` limit for ever, and its spill folder was never removed. The next `logrca run`
marks such runs failed and says so. Real Dagster instance."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from dagster import DagsterRun, DagsterRunStatus

from logrca.commands.run import CLI_HOST_TAG, CLI_PID_TAG, fail_dead_cli_runs, run_tags

KEY = "2026-03-10-02:00"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _started_run(instance, pid: int, host: str) -> DagsterRun:
    run = DagsterRun(
        job_name="logrca_main",
        status=DagsterRunStatus.STARTED,
        tags={"dagster/partition": KEY, CLI_PID_TAG: str(pid), CLI_HOST_TAG: host},
    )
    return instance.add_run(run)


def test_the_runs_of_a_killed_logrca_run_are_marked_failed_and_named(instance):
    assert run_tags()[CLI_PID_TAG] == str(os.getpid())  # what execute_in_process is given
    dead = _started_run(instance, _dead_pid(), socket.gethostname())
    alive = _started_run(instance, os.getpid(), socket.gethostname())  # another logrca run, still going
    elsewhere = _started_run(instance, _dead_pid(), "another-host")  # not ours to judge

    lines = fail_dead_cli_runs(instance)

    assert instance.get_run_by_id(dead.run_id).status == DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(alive.run_id).status == DagsterRunStatus.STARTED
    assert instance.get_run_by_id(elsewhere.run_id).status == DagsterRunStatus.STARTED
    flat = " ".join(lines)
    assert dead.run_id[:8] in flat and KEY in flat and "marked failed" in flat and len(lines) <= 2
    assert fail_dead_cli_runs(instance) == []  # once
