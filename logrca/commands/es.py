"""``logrca es start|stop|status|prune-lines``: the local Elasticsearch, and clean-up of indexed lines."""

from __future__ import annotations

import json
import re

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

#: Heap sizes the JVM takes, in megabytes or gigabytes: 512m, 1g, 2G.
_HEAP = re.compile(r"[1-9][0-9]*[mMgG]")


def _heap(value: str) -> str:
    """Callback of ``--heap``: a JVM heap size of at least 128m, else a usage error naming the flag."""
    size = int(value[:-1]) * (1024 if value[-1] in "gG" else 1) if _HEAP.fullmatch(value) else 0
    if size < 128:
        raise typer.BadParameter(f"{value!r} is not a heap size of at least 128m, like 512m, 1g or 2G")
    return value


PortOption = typer.Option(
    DEFAULT_PORT, "--port", min=1, max=65535, help="HTTP port on 127.0.0.1 (transport uses port+100)."
)


def _start_port(value: int) -> int:
    """Callback of ``es start --port``: room for the transport port (port+100) too."""
    if not 1 <= value <= 65435:
        raise typer.BadParameter(f"{value} is not in 1-65435 (the transport port, port+100, must exist too)")
    return value


@es_app.command("start")
def start_command(
    port: int = typer.Option(
        DEFAULT_PORT,
        "--port",
        callback=_start_port,
        help="HTTP port on 127.0.0.1, 1-65435 (transport uses port+100).",
    ),
    heap: str = typer.Option("512m", "--heap", callback=_heap, help="JVM heap, e.g. 512m or 1g."),
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
def status_command(
    port: int = typer.Option(
        None,
        "--port",
        min=1,
        max=65535,
        help=f"Ask the local server on this port (default: --es-url, else port {DEFAULT_PORT}).",
    ),
    es_url: str = es_url_option(),
) -> None:
    """Print the cluster health as JSON; exit 1 when nothing answers."""
    if port is None and es_url:
        from logrca.es_client import es_client

        typer.echo(json.dumps(guarded(lambda: es_client().cluster.health().body), indent=2))
        return
    port = port or DEFAULT_PORT
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
    """Delete indexed log lines older than N days, on clusters without ILM.

    Without --yes it only says how many it would delete, and the cut-off time.

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
