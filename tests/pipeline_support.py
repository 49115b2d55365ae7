"""Definitions for tests: the pipeline of a config file, with its data folder and Elasticsearch chosen here."""

from __future__ import annotations

from pathlib import Path

from dagster import Definitions

from logrca import PROJECT_ROOT
from logrca.assets.config import load_config
from logrca.pipelines.definitions import MAIN_JOB, build_definitions
from logrca.pipelines.environment import deployment_from_env

EXAMPLE_CONFIG = PROJECT_ROOT / "examples" / "shop" / "logrca.yaml"


def pipeline_definitions(
    config_path: Path | str = EXAMPLE_CONFIG,
    *,
    data_dir: Path | str | None = None,
    es_url: str = "http://127.0.0.1:9",
    index_prefix: str = "logrca",
    environ: dict[str, str] | None = None,
) -> Definitions:
    """What ``dagster dev`` would load for these settings (built the same way, without the environment)."""
    env = {
        "LOGRCA_CONFIG": str(config_path),
        "LOGRCA_ES_URL": es_url,
        "LOGRCA_INDEX_PREFIX": index_prefix,
        "LOGRCA_EXECUTOR": "in_process",
        **({"LOGRCA_DATA_DIR": str(data_dir)} if data_dir else {}),
        **(environ or {}),
    }
    deployment = deployment_from_env(env)
    return build_definitions(load_config(deployment.config_path), deployment)


def copy_example(root: Path) -> Path:
    """The example config, topology and knowledge base with freshly generated logs, in ``root``."""
    import shutil
    import sys

    example = EXAMPLE_CONFIG.parent
    shutil.copytree(example, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("logs", "__pycache__"))
    sys.path.insert(0, str(example))
    try:
        from generate import generate
    finally:
        sys.path.remove(str(example))
    generate(root / "logs")
    return root


def run_config_partition(
    config_path: Path,
    key: str,
    *,
    data_dir: Path,
    es_url: str,
    index_prefix: str,
    instance=None,
    selection=None,
):
    """:func:`materialize_partition` of the main job's assets (or ``selection``) for a config file."""
    defs = pipeline_definitions(config_path, data_dir=data_dir, es_url=es_url, index_prefix=index_prefix)
    return materialize_partition(defs, selection or main_job_selection(defs), key, instance)


def main_job_selection(defs: Definitions) -> list:
    """The asset keys of the main job (every partitioned asset)."""
    return list(defs.resolve_job_def(MAIN_JOB).asset_layer.executable_asset_keys)


def materialize_partition(defs: Definitions, selection: list[str], partition: str, instance=None):
    """One real run of ``selection`` for ``partition``; fails the test with the step errors when it fails."""
    from dagster import materialize

    result = materialize(
        defs.assets,
        selection=selection,
        partition_key=partition,
        resources=defs.resources,
        instance=instance,
        raise_on_error=False,
    )
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return result
