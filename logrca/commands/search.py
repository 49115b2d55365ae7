"""``logrca search``: full-text search over findings, reports, incidents and runbooks in Elasticsearch."""

from __future__ import annotations

import json

import typer

KINDS = ("findings", "reports", "incidents", "knowledge")


def search_command(
    query: str = typer.Argument(
        "", help='Words to look for (simple query syntax: "exact phrase", -exclude, a | b). Empty: newest.'
    ),
    kind: list[str] = typer.Option(
        None, "--kind", "-k", help=f"Restrict to: {', '.join(KINDS)}. Repeatable."
    ),
    service: str = typer.Option(None, "--service", "-s", help="Only hits about this service."),
    size: int = typer.Option(10, "--size", "-n", min=1, max=500, help="How many hits."),
    prefix: str = typer.Option(
        None, "--prefix", help="Index prefix (default $LOGRCA_INDEX_PREFIX or 'logrca')."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print hits as JSON lines."),
) -> None:
    """Search what logrca indexed: anomalies (findings), RCA reports, incidents and runbooks.

    Connects to $LOGRCA_ES_URL (default http://127.0.0.1:9200, the server of 'logrca es start').
    """
    from elasticsearch import TransportError
    from rich.console import Console
    from rich.table import Table

    from logrca.es_client import es_client
    from logrca.pipelines.environment import deployment_from_env
    from logrca.rca.search_index import search_all

    kinds = tuple(kind or KINDS)
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        typer.echo(f"error: --kind {bad[0]!r} is not one of {', '.join(KINDS)}", err=True)
        raise typer.Exit(2)
    deployment = deployment_from_env()
    client = es_client()
    try:
        hits = search_all(
            client,
            prefix=prefix or deployment.index_prefix,
            query=query,
            kinds=kinds,
            service=service,
            size=size,
        )
    except TransportError as error:
        typer.echo(
            f"error: Elasticsearch at {deployment.es_url} is not reachable ({error}); start it with 'logrca es start' or set LOGRCA_ES_URL",
            err=True,
        )
        raise typer.Exit(1) from error
    if as_json:
        for hit in hits:
            typer.echo(json.dumps(hit, default=str))
        return
    if not hits:
        typer.echo("no hits")
        return
    table = Table("kind", "score", "service", "when", "what", show_lines=False)
    for hit in hits:
        src = hit["source"]
        service_name = (
            src.get("service")
            or src.get("root_cause")
            or ", ".join(src.get("services", []) or src.get("affected_services", []) or [])
        )
        when = src.get("first_seen") or src.get("window_start") or src.get("detected_at") or ""
        what = src.get("template") or src.get("summary") or src.get("title") or src.get("detail") or ""
        table.add_row(hit["kind"], f"{hit['score'] or 0:.2f}", service_name, str(when)[:19], str(what)[:100])
    Console().print(table)


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    app.command("search")(search_command)
