"""The one Dagster ``Definitions`` of logrca: assets, checks, the main job, schedules, sensors, resources.

Environment (see README, "Configuration"): ``LOGRCA_CONFIG`` (YAML config), ``LOGRCA_DATA_DIR``
(Parquet partitions, miner state, reports), ``LOGRCA_ES_URL`` / ``LOGRCA_ES_API_KEY``,
``LOGRCA_INDEX_PREFIX``, ``LOGRCA_EXECUTOR`` (see ``pipelines/executors.py``).
"""

from __future__ import annotations

import importlib
import pkgutil

from dagster import (
    Definitions,
    FilesystemIOManager,
    define_asset_job,
    load_asset_checks_from_modules,
    load_assets_from_modules,
)
from dagster_polars import PolarsParquetIOManager

import logrca.assets as assets_package
import logrca.pipelines as pipelines_package
from logrca.assets.partitions import PARTITIONS
from logrca.assets.resources import default_resources
from logrca.pipelines.executors import executor_from_env
from logrca.settings import data_dir


def _modules(package, *, skip: tuple[str, ...] = ()) -> list:
    return [
        importlib.import_module(f"{package.__name__}.{m.name}")
        for m in pkgutil.iter_modules(package.__path__)
        if m.name not in skip
    ]


ASSET_MODULES = _modules(assets_package)
ALL_ASSETS = load_assets_from_modules(ASSET_MODULES)
ALL_CHECKS = load_asset_checks_from_modules(ASSET_MODULES)

#: Every partitioned asset: ingest -> templates -> anomalies -> graph -> root causes -> report -> index (-> incidents).
PARTITIONED_KEYS = [
    key for a in ALL_ASSETS if getattr(a, "partitions_def", None) == PARTITIONS for key in a.keys
]
main_job = define_asset_job(
    "logrca_main",
    selection=PARTITIONED_KEYS,
    description="Ingest, mine, detect, rank, report and index one time partition.",
)


def _ops(name: str) -> list:
    """Schedules or sensors that modules of ``pipelines`` export as lists named ``name``."""
    found = []
    for module in _modules(pipelines_package, skip=("definitions", "__main__")):
        found.extend(getattr(module, name, []))
    return found


def build_resources(base: str | None = None) -> dict:
    """IO managers and resources for a deployment rooted at ``base`` (default: LOGRCA_DATA_DIR)."""
    root = str(base or data_dir())
    return {
        "parquet_io": PolarsParquetIOManager(base_dir=f"{root}/parquet"),
        "io_manager": FilesystemIOManager(base_dir=f"{root}/objects"),
        **default_resources(root),
    }


defs = Definitions(
    assets=ALL_ASSETS,
    asset_checks=ALL_CHECKS,
    jobs=[main_job],
    schedules=_ops("schedules"),
    sensors=_ops("sensors"),
    resources=build_resources(),
    executor=executor_from_env(),  # LOGRCA_EXECUTOR=multiprocess|in_process|celery|k8s (docs/scaling.md)
)
