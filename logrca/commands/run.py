"""``logrca run``: materialize the main job's partitions with the real Dagster instance (runs show in the UI)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from logrca import PROJECT_ROOT
from logrca.rca.markdown import counted
from logrca.run_summary import summarize_run


def use_instance_home() -> Path:
    """Point DAGSTER_HOME at the project's ``dagster_home/`` unless it is set; returns it."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / "dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    return home


RUN_HELP = (
    "Run the main job (ingest -> templates -> detection -> ranking -> report -> index) partition by "
    "partition.\n\nWithout --partition it runs every partition of the config (oldest first) when the "
    "config sets `end`, else the newest complete partition. Each run is recorded in the Dagster "
    "instance at $DAGSTER_HOME (default: dagster_home/), so `dagster dev` shows the materializations "
    "and reports.\n\nAfter each partition it prints every file's lines (read = in events + "
    "quarantined), file problems, failed asset checks and the cause of a failed step; stack traces "
    "go to $DAGSTER_HOME/logs/ (or to the screen with -v). Exits 1 when a step or an ERROR check failed."
)


def run_command(
    config: Path = typer.Option(
        None, "--config", "-c", help="logrca YAML config (default: $LOGRCA_CONFIG or the bundled example)."
    ),
    partition: list[str] = typer.Option(
        None, "--partition", "-p", help="Partition key(s) to run, e.g. 2026-03-10-02:00. Repeatable."
    ),
    last: int | None = typer.Option(None, "--last", min=1, help="Run only the newest N partitions."),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Show Dagster's step-by-step log (DEBUG) and full stack traces."
    ),
) -> None:
    """See :data:`RUN_HELP`."""
    import logging

    from dagster import DagsterInstance
    from rich.console import Console

    job, home = _load_job(config)
    keys = _select_keys(job.partitions_def, partition, last)
    if not verbose:
        logging.getLogger("elastic_transport").setLevel(logging.ERROR)
    console = Console(stderr=True)
    console.print(f"Dagster instance: {home} · {counted(len(keys), 'partition')} · job logrca_main")
    instance = DagsterInstance.get()
    for line in fail_dead_cli_runs(instance):
        console.print(line, soft_wrap=True, highlight=False)
    failed = _run_partitions(job, keys, instance, console=console, verbose=verbose, log_dir=home / "logs")
    if failed:
        typer.echo(f"{counted(len(failed), 'partition')} failed: {', '.join(failed)}", err=True)
        raise typer.Exit(1)


def _load_job(config: Path | None):
    """The main job of the config (exit 2 with a one-line message when the config is bad)."""
    import dataclasses

    from logrca.assets.config import ConfigError, load_config
    from logrca.pipelines.definitions import MAIN_JOB, build_definitions
    from logrca.pipelines.environment import deployment_from_env

    deployment = deployment_from_env()
    if config is not None:
        if not config.is_file():
            typer.echo(f"error: config file not found: {config}", err=True)
            raise typer.Exit(2)
        deployment = dataclasses.replace(deployment, config_path=config.resolve())
    home = use_instance_home()
    try:
        defs = build_definitions(load_config(deployment.config_path), deployment)
    except ConfigError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    return defs.resolve_job_def(MAIN_JOB), home


def _select_keys(partitions, wanted: list[str] | None, last: int | None) -> list[str]:
    keys = partitions.get_partition_keys()
    if wanted:
        unknown = [p for p in wanted if p not in keys]
        if unknown:
            typer.echo(
                f"error: unknown partition(s) {unknown}; first/last known: {keys[:1]} … {keys[-1:]}", err=True
            )
            raise typer.Exit(2)
        return [k for k in keys if k in wanted]
    if last:
        return keys[-last:]
    return keys[-1:] if partitions.end is None else keys


def _run_partitions(job, keys: list[str], instance, *, console, verbose: bool, log_dir: Path) -> list[str]:
    """Run each partition with a progress bar; returns the keys that failed (a step or an ERROR check)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    failed, tags = [], run_tags()
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"))
    with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("partitions", total=len(keys))
        for key in keys:
            progress.update(task, description=f"partition {key}")
            result = job.execute_in_process(
                partition_key=key,
                instance=instance,
                raise_on_error=False,
                tags=tags,
                run_config={
                    "loggers": {"console": {"config": {"log_level": "DEBUG" if verbose else "CRITICAL"}}}
                },
            )
            lines, ok = summarize_run(result, key, verbose=verbose, log_dir=log_dir)
            for line in lines:
                progress.console.print(line, soft_wrap=True, highlight=False)
            if not ok:
                failed.append(key)
            progress.advance(task)
    return failed


#: Tags of the runs ``logrca run`` executes in its own process: which process on which host runs them.
CLI_PID_TAG, CLI_HOST_TAG = "logrca/cli_pid", "logrca/cli_host"


def run_tags() -> dict[str, str]:
    """The tags this process gives its in-process runs (:func:`fail_dead_cli_runs` reads them)."""
    import socket

    return {CLI_PID_TAG: str(os.getpid()), CLI_HOST_TAG: socket.gethostname()}


def fail_dead_cli_runs(instance) -> list[str]:
    """Mark failed the runs of ``logrca run`` processes on this host that died mid-way; a line for each.

    An in-process run has no launcher watching it: killed (SIGKILL, OOM, a closed terminal) it stays
    STARTED in the instance for ever, holding a slot of the run queue (``max_concurrent_runs``) and
    its partition's ``dagster/partition`` limit, so the daemon's schedule, sensor and backfill runs
    of that hour wait behind it, and its spill folder is never removed (``assets/mining.py``). A run
    whose process still lives, or that another host runs, is left alone.
    """
    import socket
    import textwrap

    from dagster import DagsterRunStatus, RunsFilter

    host, lines = socket.gethostname(), []
    statuses = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]
    for run in instance.get_runs(RunsFilter(statuses=statuses, tags={CLI_HOST_TAG: host})):
        pid = int(run.tags.get(CLI_PID_TAG, "0") or 0)
        if pid <= 0 or _alive(pid):
            continue
        partition = run.tags.get("dagster/partition", "?")
        instance.report_run_failed(run, f"logrca run (process {pid}) ended without finishing this run")
        text = (
            f"run {run.run_id[:8]} of partition {partition}: its logrca run (process {pid}) was killed "
            "mid-way; marked failed, run the partition again to complete it"
        )
        lines += [f"[yellow]{line}[/yellow]" for line in textwrap.wrap(text, 80, subsequent_indent="  ")]
    return lines


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    app.command("run", help=RUN_HELP)(run_command)
