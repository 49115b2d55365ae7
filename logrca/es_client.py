"""What several commands share: the deployment's Elasticsearch client, and its ``--es-url`` option."""

from __future__ import annotations

import os

import typer

#: URLs whose server answered as Elasticsearch in this process (checked once, not per request).
_CHECKED: set[str] = set()


def es_client(url: str | None = None):
    """A client for ``url`` or the deployment's cluster (``LOGRCA_ES_URL``, ``LOGRCA_ES_API_KEY``,
    ``LOGRCA_ES_CA_CERTS``)."""
    from logrca.pipelines.environment import deployment_from_env
    from logrca.rca.search_index import connect

    deployment = deployment_from_env()
    return connect(url or deployment.es_url, api_key=deployment.es_api_key, ca_certs=deployment.es_ca_certs)


def es_url(url: str | None = None) -> str:
    """``url``, or the deployment's cluster (``LOGRCA_ES_URL``, default the local server)."""
    from logrca.pipelines.environment import deployment_from_env

    return url or deployment_from_env().es_url


def check_es(url: str | None = None) -> None:
    """Raise the client's error unless ``url`` (default the deployment's) is Elasticsearch taking our
    credentials; once per URL and process (:func:`logrca.rca.es_errors.check_server`)."""
    from logrca.rca.es_errors import check_server

    url = es_url(url)
    if url not in _CHECKED:
        client = es_client(url)
        try:
            check_server(client)
        finally:
            client.close()
        _CHECKED.add(url)


def _es_url_option(ctx: typer.Context, param: typer.CallbackParam, value: str | None) -> str | None:
    """A URL the client takes, else a usage error naming the flag or the variable it came from; the
    flag then is the variable, so what reads ``LOGRCA_ES_URL`` (messages, the store) sees it."""
    from logrca.rca.urls import check_es_url

    if value is None:
        return value
    try:
        check_es_url(value)
    except ValueError as error:
        if (
            os.environ.get("LOGRCA_ES_URL") == value
        ):  # the variable, not the flag (as for LOGRCA_INDEX_PREFIX)
            typer.echo(f"error: LOGRCA_ES_URL={error}", err=True)
            raise typer.Exit(2) from None
        raise typer.BadParameter(str(error)) from None
    os.environ["LOGRCA_ES_URL"] = value
    return value


def es_url_option():
    """The ``--es-url`` option (variable ``LOGRCA_ES_URL``) of every command that talks to Elasticsearch."""
    return typer.Option(
        None,
        "--es-url",
        envvar="LOGRCA_ES_URL",
        callback=_es_url_option,
        help="Elasticsearch URL (default: http://127.0.0.1:9200, the server of 'logrca es start').",
    )


def with_es_url(command):
    """``command`` taking ``--es-url`` too, declared once for a group's commands: its callback sets
    ``LOGRCA_ES_URL``, which the command's client reads; the command itself never sees the value."""
    import functools
    import inspect

    signature = inspect.signature(command, eval_str=True)
    if "es_url" in signature.parameters:
        return command

    @functools.wraps(command)
    def wrapper(*args, es_url: str | None = None, **kwargs):
        return command(*args, **kwargs)

    option = inspect.Parameter(
        "es_url", inspect.Parameter.KEYWORD_ONLY, default=es_url_option(), annotation=str
    )
    wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), option])
    return wrapper
