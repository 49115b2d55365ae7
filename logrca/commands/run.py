"""``logrca run``: materialize the main job's partitions with the real Dagster instance (runs show in the UI)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from logrca import PROJECT_ROOT


def use_instance_home() -> Path:
    """Point DAGSTER_HOME at the project's ``dagster_home/`` unless it is set; returns it."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / "dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    return home


def _materialized(result) -> dict[str, dict]:
    out = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        out[materialization.asset_key.to_user_string()] = {
            k: getattr(v, "value", v) for k, v in materialization.metadata.items()
        }
    return out


def run_command(
    config: Path = typer.Option(
        None, "--config", "-c", help="logrca YAML config (default: $LOGRCA_CONFIG or the bundled example)."
    ),
    partition: list[str] = typer.Option(
        None, "--partition", "-p", help="Partition key(s) to run, e.g. 2026-03-10-02:00. Repeatable."
    ),
    last: int = typer.Option(0, "--last", help="Run only the newest N partitions."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Dagster's step-by-step log (DEBUG)."),
) -> None:
    """Run the main job (ingest -> templates -> detection -> ranking -> report -> index) partition by partition.

    Without --partition it runs every partition of the config (oldest first) when the config sets
    `end`, else the newest complete partition. Each run is recorded in the Dagster instance at
    $DAGSTER_HOME (default: dagster_home/), so `dagster dev` shows the materializations and reports.
    """
    import dataclasses

    from logrca.pipelines.environment import deployment_from_env

    deployment = deployment_from_env()
    if config is not None:
        if not config.is_file():
            typer.echo(f"error: config file not found: {config}", err=True)
            raise typer.Exit(2)
        deployment = dataclasses.replace(deployment, config_path=config.resolve())
    home = use_instance_home()
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from logrca.assets.config import ConfigError, load_config

    console = Console(stderr=True)
    try:
        from dagster import DagsterInstance

        from logrca.pipelines.definitions import MAIN_JOB, build_definitions

        defs = build_definitions(load_config(deployment.config_path), deployment)
    except ConfigError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    job = defs.resolve_job_def(MAIN_JOB)
    partitions = job.partitions_def
    keys = partitions.get_partition_keys()
    if partition:
        unknown = [p for p in partition if p not in keys]
        if unknown:
            typer.echo(
                f"error: unknown partition(s) {unknown}; first/last known: {keys[:1]} … {keys[-1:]}", err=True
            )
            raise typer.Exit(2)
        keys = [k for k in keys if k in partition]
    elif last:
        keys = keys[-last:]
    elif partitions.end is None:
        keys = keys[-1:]
    instance = DagsterInstance.get()
    console.print(f"Dagster instance: {home} · {len(keys)} partition(s) · job logrca_main")
    failed = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("partitions", total=len(keys))
        for key in keys:
            progress.update(task, description=f"partition {key}")
            log_level = "DEBUG" if verbose else "WARNING"
            result = job.execute_in_process(
                partition_key=key,
                instance=instance,
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
            )
            meta = _materialized(result)
            raw = meta.get("raw_logs", {})
            report = meta.get("rca_report", {})
            line = f"{key}: {'ok' if result.success else 'FAILED'} · {raw.get('dagster/row_count', '?')} events · {meta.get('quarantined_lines', {}).get('dagster/row_count', 0)} quarantined"
            if report.get("incident"):
                line += f" · INCIDENT root cause [bold]{report.get('root_cause')}[/bold] ({report.get('incident_window')}) → {report.get('report_file')}"
            elif report:
                line += " · no incident"
            progress.console.print(line, soft_wrap=True)
            if not result.success:
                failed.append(key)
                for event in result.all_events:
                    if event.is_failure and event.event_specific_data is not None:
                        error = getattr(event.event_specific_data, "error", None)
                        progress.console.print(
                            f"  [red]{event.step_key}: {error.message.strip() if error else event.message}[/red]"
                        )
            progress.advance(task)
    if failed:
        typer.echo(f"{len(failed)} partition(s) failed: {', '.join(failed)}", err=True)
        raise typer.Exit(1)


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    app.command("run")(run_command)
