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
    refused incident change or Elasticsearch out of reach (1); never a stack trace."""
    from elasticsearch import ConnectionError as ESConnectionError

    from logrca.es_client import es_url
    from logrca.incidents.record import IncidentConflict, IncidentError
    from logrca.rca.search_index import unreachable

    try:
        return call()
    except (IncidentConflict, IncidentError) as error:
        said, code = str(error), 2 if isinstance(error, IncidentConflict) else 1
    except ESConnectionError as error:
        said, code = unreachable(es_url(), error), 1
    typer.echo(f"error: {said}", err=True)
    raise typer.Exit(code)
