"""The one Dagster ``Definitions`` of logrca: assets, checks, the main job, schedules, sensors, resources.

:func:`build_definitions` builds them from a validated config and a :class:`Deployment`;
``defs`` (what ``dagster dev`` and the daemon load, ``[tool.dagster]`` in pyproject.toml) reads the
deployment from the environment and the config file when the code location loads, not when this
module is imported. Environment: see :mod:`logrca.pipelines.environment` and ``LOGRCA_EXECUTOR``
(:mod:`logrca.pipelines.executors`).
"""

from __future__ import annotations

from dagster import (
    AssetsDefinition,
    Definitions,
    EnvVar,
    FilesystemIOManager,
    define_asset_job,
    definitions,
)

from logrca.assets.build import build_assets
from logrca.assets.config import LogrcaConfig, load_config
from logrca.assets.resources import BoundedParquetIOManager, ElasticsearchResource, LogrcaConfigResource
from logrca.pipelines import incident_ops
from logrca.pipelines.environment import Deployment, deployment_from_env
from logrca.pipelines.executors import executor_from_env
from logrca.pipelines.schedules import build_schedules
from logrca.pipelines.sensors import build_sensors
from logrca.rca.urls import shown_url

__all__ = ["MAIN_JOB", "build_definitions", "build_resources", "defs", "partitioned_keys"]

MAIN_JOB = "logrca_main"


def partitioned_keys(assets: list[AssetsDefinition], partitions) -> list:
    """Keys of every asset on ``partitions``: ingest -> templates -> ... -> index (-> incidents)."""
    return [key for a in assets if getattr(a, "partitions_def", None) == partitions for key in a.keys]


def build_resources(deployment: Deployment) -> dict:
    """IO managers and resources of ``deployment``; the API key goes to Dagster as an ``EnvVar``."""
    root = str(deployment.data_dir)
    api_key = EnvVar(deployment.es_api_key_var) if deployment.es_api_key_var else None
    # a URL shown otherwise than it is holds a password: it goes to Dagster as the variable's name
    # (it came from LOGRCA_ES_URL), as the API key does
    secret_url = shown_url(deployment.es_url) != deployment.es_url
    return {
        "parquet_io": BoundedParquetIOManager(base_dir=f"{root}/parquet"),
        "io_manager": FilesystemIOManager(base_dir=f"{root}/objects"),
        "logrca": LogrcaConfigResource(config_path=str(deployment.config_path), data_dir=root),
        "elasticsearch": ElasticsearchResource(
            url=EnvVar("LOGRCA_ES_URL") if secret_url else deployment.es_url,
            api_key=api_key,
            index_prefix=deployment.index_prefix,
            index_settings=deployment.index_settings,
            ca_certs=deployment.es_ca_certs,
        ),
    }


def build_definitions(config: LogrcaConfig, deployment: Deployment) -> Definitions:
    """Everything Dagster runs for ``config`` in ``deployment``."""
    assets, plan = build_assets(config)
    main_job = define_asset_job(
        MAIN_JOB,
        selection=partitioned_keys(assets, plan.partitions),
        description="Ingest, mine, detect, rank, report and index one time partition.",
    )
    return Definitions(
        assets=assets,
        jobs=[main_job, incident_ops.incident_escalation_job, incident_ops.incident_review_job],
        schedules=[*build_schedules(plan.partitions, cron=deployment.schedule_cron), *incident_ops.schedules],
        sensors=[
            *build_sensors(
                plan.partitions,
                settle_seconds=deployment.sensor_settle_seconds,
                interval_seconds=deployment.sensor_interval_seconds,
            ),
            *incident_ops.sensors,
        ],
        resources=build_resources(deployment),
        # LOGRCA_EXECUTOR=multiprocess|in_process|celery|k8s (docs/scaling.md)
        executor=executor_from_env(deployment.environ),
    )


@definitions
def defs() -> Definitions:
    """The Definitions of the deployment that the environment describes (read when the code location loads)."""
    deployment = deployment_from_env()
    return build_definitions(load_config(deployment.config_path), deployment)
