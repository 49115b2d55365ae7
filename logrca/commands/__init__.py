"""Command modules of the ``logrca`` CLI; each defines ``register(app, eval_app)``; and what they share."""

from __future__ import annotations

import typer

from logrca.parsers.validation import check_index_prefix


def checked_index_prefix(value: str | None) -> str | None:
    """Callback of the ``--index-prefix`` options: a prefix Elasticsearch takes, else a usage error."""
    if value is None:
        return value
    try:
        return check_index_prefix(value)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def guarded(call):
    """``call()``, its known failures one line on stderr and an exit code: a conflicting change (2), a
    refused incident change or any Elasticsearch failure (1: no server, not Elasticsearch, bad
    credentials, a refused request); never a stack trace.

    First checks (once per process) that the server is Elasticsearch and takes the credentials: a
    web server answering 404 would otherwise read as "no incidents".
    """
    from elasticsearch import ApiError, TransportError

    from logrca.es_client import check_es, es_url
    from logrca.incidents.record import IncidentConflict, IncidentError
    from logrca.rca.es_errors import es_trouble

    try:
        check_es()
        return call()
    except (IncidentConflict, IncidentError) as error:
        said, code = str(error), 2 if isinstance(error, IncidentConflict) else 1
    except (ApiError, TransportError) as error:
        said, code = es_trouble(es_url(), error), 1
    typer.echo(f"error: {said}", err=True)
    raise typer.Exit(code)
