"""``logrca es start|stop|status|prune-lines``: the local Elasticsearch, and clean-up of indexed lines."""

from __future__ import annotations

import json

import typer

from logrca.commands import checked_index_prefix, guarded
from logrca.es_client import es_url_option
from logrca.es_server import DEFAULT_PORT, ElasticsearchServerError, LocalServer, start, status, stop

es_app = typer.Typer(
    help=(
        "Run a local single-node Elasticsearch on 127.0.0.1 (fetched from Maven Central into .cache/). "
        "With your own cluster, set LOGRCA_ES_URL and LOGRCA_ES_API_KEY instead."
    ),
    no_args_is_help=True,
)

PortOption = typer.Option(DEFAULT_PORT, "--port", help="HTTP port on 127.0.0.1 (transport uses port+100).")


@es_app.command("start")
def start_command(
    port: int = PortOption, heap: str = typer.Option("512m", help="JVM heap, e.g. 512m or 1g.")
) -> None:
    """Fetch (first time only) and start Elasticsearch; wait until it is healthy."""
    try:
        url = start(LocalServer(port=port), heap=heap, log=lambda m: typer.echo(m, err=True))
    except ElasticsearchServerError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(url)


@es_app.command("stop")
def stop_command(port: int = PortOption) -> None:
    """Stop the Elasticsearch that 'logrca es start' started on this port."""
    stop(LocalServer(port=port), log=lambda m: typer.echo(m, err=True))


@es_app.command("status")
def status_command(port: int = PortOption) -> None:
    """Print the cluster health as JSON; exit 1 when nothing answers."""
    health = status(LocalServer(port=port))
    if health is None:
        typer.echo(f"no Elasticsearch answers on 127.0.0.1:{port}", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(health, indent=2))


@es_app.command("prune-lines")
def prune_lines_command(
    older_than_days: int = typer.Option(
        ..., "--older-than-days", min=1, help="Delete lines older than this."
    ),
    yes: bool = typer.Option(
        False, "--yes", help="Really delete them (default: dry run, say how many would go)."
    ),
    index_prefix: str = typer.Option(
        None,
        "--index-prefix",
        callback=checked_index_prefix,
        help="Index prefix (default $LOGRCA_INDEX_PREFIX or 'logrca').",
    ),
    es_url: str = es_url_option(),
) -> None:
    """Delete indexed log lines older than N days, on clusters without ILM; without --yes, only say how
    many it would delete.

    With ILM, the 'indexing.retention_days' policy does this by itself.
    """
    from datetime import UTC, datetime, timedelta

    from logrca.es_client import es_client
    from logrca.pipelines.environment import deployment_from_env
    from logrca.rca.log_lines import count_lines_before, prune_lines
    from logrca.rca.markdown import counted

    prefix = index_prefix or deployment_from_env().index_prefix
    cutoff = datetime.now(UTC) - timedelta(days=older_than_days)
    before = f"older than {cutoff:%Y-%m-%d %H:%M}Z (data streams {prefix}-logs-*)"
    if not yes:
        doomed = guarded(lambda: count_lines_before(es_client(), prefix=prefix, before=cutoff))
        typer.echo(f"dry run: would delete {counted(doomed, 'line')} {before}. Add --yes to delete them.")
        return
    deleted = guarded(lambda: prune_lines(es_client(), prefix=prefix, before=cutoff))
    typer.echo(f"deleted {counted(deleted, 'line')} {before}")


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    app.add_typer(es_app, name="es")
