"""Command modules of the ``logrca`` CLI; each defines ``register(app, eval_app)``; and what their options share."""

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
