"""What several commands share: the deployment's Elasticsearch client."""

from __future__ import annotations

from logrca.pipelines.environment import deployment_from_env
from logrca.rca.search_index import connect


def es_client(url: str | None = None):
    """A client for ``url`` or the deployment's cluster (``LOGRCA_ES_URL``, ``LOGRCA_ES_API_KEY``)."""
    deployment = deployment_from_env()
    return connect(url or deployment.es_url, api_key=deployment.es_api_key)
