"""Where logrca finds its Elasticsearch cluster and its working folders (environment variables)."""

from __future__ import annotations

import os
from pathlib import Path

from logrca import PROJECT_ROOT
from logrca.es_server import DEFAULT_PORT


def es_url() -> str:
    """``LOGRCA_ES_URL``, or the local server that ``logrca es start`` runs."""
    return os.environ.get("LOGRCA_ES_URL", f"http://127.0.0.1:{DEFAULT_PORT}")


def es_api_key() -> str | None:
    """``LOGRCA_ES_API_KEY`` for clusters that need one (encoded id:key form)."""
    return os.environ.get("LOGRCA_ES_API_KEY") or None


def es_client(url: str | None = None, api_key: str | None = None):
    """The official Elasticsearch client for the configured cluster."""
    from elasticsearch import Elasticsearch

    return Elasticsearch(
        url or es_url(),
        api_key=api_key or es_api_key(),
        request_timeout=30,
        retry_on_timeout=True,
        max_retries=3,
    )


def data_dir() -> Path:
    """Where Parquet partitions, quarantine tables and miner state go: ``LOGRCA_DATA_DIR`` or ``./data_out``."""
    return Path(os.environ.get("LOGRCA_DATA_DIR", PROJECT_ROOT / "data_out"))
