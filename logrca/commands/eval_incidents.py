"""``logrca eval incidents``: how well the stored rankings named the root causes operators confirmed."""

from __future__ import annotations

import json

import typer

from logrca.commands import checked_index_prefix, guarded
from logrca.es_client import es_url_option


def eval_incidents(
    es_url: str = es_url_option(),
    index_prefix: str = typer.Option(
        "logrca",
        "--index-prefix",
        envvar="LOGRCA_INDEX_PREFIX",
        callback=checked_index_prefix,
        help="Index prefix: incidents are read from <prefix>-incidents.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the scores as one JSON object."),
) -> None:
    """AC@1..5 and Avg@5 of the stored rankings against confirmed root causes ('logrca incident confirm')."""
    from logrca.es_client import es_client
    from logrca.incidents.review import evaluate_confirmed
    from logrca.incidents.store import IncidentStore

    confirmed = {"exists": {"field": "confirmed_cause.service"}}
    found = guarded(lambda: IncidentStore(es_client(), index_prefix).search(query=confirmed, size=None))
    result = evaluate_confirmed(found)
    if as_json:
        typer.echo(json.dumps(result))
        return
    from logrca.incident_view import eval_lines

    typer.echo("\n".join(eval_lines(result)))


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    eval_app.command("incidents")(eval_incidents)
