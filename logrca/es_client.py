"""What several commands share: the deployment's Elasticsearch client."""

from __future__ import annotations

from logrca.pipelines.environment import deployment_from_env
from logrca.rca.search_index import connect


def es_client(url: str | None = None):
    """A client for ``url`` or the deployment's cluster (``LOGRCA_ES_URL``, ``LOGRCA_ES_API_KEY``)."""
    return connect(es_url(url), api_key=deployment_from_env().es_api_key)


def es_url(url: str | None = None) -> str:
    """``url``, or the deployment's cluster (``LOGRCA_ES_URL``, default the local server)."""
    return url or deployment_from_env().es_url
