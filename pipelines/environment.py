"""The deployment's environment variables, read in one place (README, "Configuration").

Only the Definitions (:mod:`logrca.pipelines.definitions`) and the CLI call this; every stage below
gets plain values. It imports nothing heavy, so the CLI's quick commands (``search``, ``incident``)
start without loading Dagster.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from logrca import PROJECT_ROOT
from logrca.parsers.validation import check_index_prefix

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_ES_URL",
    "Deployment",
    "DeploymentError",
    "deployment_from_env",
    "index_settings",
]

DEFAULT_CONFIG = PROJECT_ROOT / "examples" / "shop" / "logrca.yaml"
#: The local server that ``logrca es start`` runs (its default port).
DEFAULT_ES_URL = "http://127.0.0.1:9200"


class DeploymentError(ValueError):
    """A deployment variable with a value logrca cannot use; the message names the variable."""


@dataclass(frozen=True)
class Deployment:
    """Where this deployment's config, data and cluster are, and how it runs unattended."""

    config_path: Path
    data_dir: Path
    es_url: str
    es_api_key_var: str | None
    index_prefix: str
    schedule_cron: str
    sensor_settle_seconds: float
    sensor_interval_seconds: int
    environ: Mapping[str, str]
    #: Settings of new Elasticsearch indices (``number_of_shards``, ``number_of_replicas``, ``refresh_interval``).
    index_settings: dict = field(default_factory=dict)
    #: A PEM bundle of the CA certificates that signed the cluster's (a private CA's); None: the system's.
    es_ca_certs: str | None = None

    @property
    def es_api_key(self) -> str | None:
        """The API key's value (kept out of the dataclass's repr and of Dagster's config)."""
        return self.environ.get(self.es_api_key_var) if self.es_api_key_var else None


def _number(environ: Mapping[str, str], name: str, default: str, kind: type):
    raw = environ.get(name, default)
    try:
        value = kind(raw)
    except ValueError:
        raise DeploymentError(f"{name}={raw!r}: expected a {'whole ' if kind is int else ''}number") from None
    if value < 0:
        raise DeploymentError(f"{name}={raw!r}: expected a number >= 0")
    return value


def _index_prefix(environ: Mapping[str, str]) -> str:
    raw = environ.get("LOGRCA_INDEX_PREFIX") or "logrca"
    try:
        return check_index_prefix(raw)
    except ValueError as error:
        raise DeploymentError(f"LOGRCA_INDEX_PREFIX={error}") from None


def _ca_certs(environ: Mapping[str, str]) -> str | None:
    """``LOGRCA_ES_CA_CERTS``: a readable file of PEM certificates, checked now rather than at the
    first request (where the client would fail with a traceback)."""
    raw = environ.get("LOGRCA_ES_CA_CERTS")
    if not raw:
        return None
    try:
        text = Path(raw).read_bytes()
    except OSError as error:
        raise DeploymentError(
            f"LOGRCA_ES_CA_CERTS={raw!r}: cannot read it ({error.strerror or error}); "
            "expected a PEM file of CA certificates"
        ) from None
    if b"-----BEGIN CERTIFICATE-----" not in text:
        raise DeploymentError(
            f"LOGRCA_ES_CA_CERTS={raw!r}: no PEM certificate in it (-----BEGIN CERTIFICATE-----)"
        )
    return raw


def index_settings(environ: Mapping[str, str]) -> dict:
    """Settings for new indices: ``LOGRCA_ES_SHARDS`` (default 1), ``LOGRCA_ES_REPLICAS`` (default 0),
    ``LOGRCA_ES_REFRESH_INTERVAL`` (default: the cluster's).

    Replicas can be raised later on a live index; the shard count is fixed when an index is created,
    which is why logrca writes through an alias (``rca.search_index.ensure_index``) so an index can be
    reindexed into one with more shards and the alias moved, without logrca noticing.
    """
    settings = {}
    for key, name, least in (
        ("number_of_shards", "LOGRCA_ES_SHARDS", 1),
        ("number_of_replicas", "LOGRCA_ES_REPLICAS", 0),
    ):
        raw = environ.get(name, "1" if least else "0")
        if not raw.isdigit() or int(raw) < least:
            raise DeploymentError(f"{name}={raw!r}: expected a whole number{' >= 1' if least else ''}")
        settings[key] = int(raw)
    if environ.get("LOGRCA_ES_REFRESH_INTERVAL"):
        settings["refresh_interval"] = environ["LOGRCA_ES_REFRESH_INTERVAL"]
    return settings


def deployment_from_env(environ: Mapping[str, str] | None = None) -> Deployment:
    """The deployment described by ``environ`` (default: this process's environment).

    ``LOGRCA_CONFIG`` (default: the bundled example), ``LOGRCA_DATA_DIR`` (default ``./data_out`` of
    the checkout), ``LOGRCA_ES_URL``, ``LOGRCA_ES_API_KEY``, ``LOGRCA_INDEX_PREFIX`` (default
    ``logrca``), ``LOGRCA_SCHEDULE_CRON`` (default ``15 * * * *``), ``LOGRCA_SENSOR_SETTLE_SECONDS``
    (30), ``LOGRCA_SENSOR_INTERVAL_SECONDS`` (30), ``LOGRCA_ES_SHARDS`` / ``LOGRCA_ES_REPLICAS`` /
    ``LOGRCA_ES_REFRESH_INTERVAL`` (:func:`index_settings`), ``LOGRCA_ES_CA_CERTS`` (a PEM file of
    the CA certificates that signed the cluster's HTTPS certificate; default: the system's CAs).

    Raises
    ------
    DeploymentError
        Naming the variable whose value is not a number where one is expected, not a usable
        index prefix, or (``LOGRCA_ES_CA_CERTS``) not a readable file of PEM certificates.
    """
    env = os.environ if environ is None else environ
    return Deployment(
        config_path=Path(env.get("LOGRCA_CONFIG") or DEFAULT_CONFIG),
        data_dir=Path(env.get("LOGRCA_DATA_DIR") or PROJECT_ROOT / "data_out"),
        es_url=env.get("LOGRCA_ES_URL") or DEFAULT_ES_URL,
        es_api_key_var="LOGRCA_ES_API_KEY" if env.get("LOGRCA_ES_API_KEY") else None,
        index_prefix=_index_prefix(env),
        schedule_cron=env.get("LOGRCA_SCHEDULE_CRON") or "15 * * * *",
        sensor_settle_seconds=_number(env, "LOGRCA_SENSOR_SETTLE_SECONDS", "30", float),
        sensor_interval_seconds=_number(env, "LOGRCA_SENSOR_INTERVAL_SECONDS", "30", int),
        environ=env,
        index_settings=index_settings(env),
        es_ca_certs=_ca_certs(env),
    )
