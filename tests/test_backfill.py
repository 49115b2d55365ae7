"""Safe backfills: re-running a partition, or re-running it after a killed run, gives the same Parquet,
template ids and Elasticsearch documents (no duplicates, no orphans). Real Dagster instance, real ES."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetKey, AssetRecordsFilter
from elasticsearch import helpers
from pipeline_support import materialize_partition, pipeline_definitions

from logrca import PROJECT_ROOT
from logrca.pipelines.case_run import CASE_ASSETS

pytestmark = pytest.mark.es

PARTITION = "2026-03-10-02:00"  # the incident hour; its baseline is the two hours before it
BASELINE = ["2026-03-10-00:00", "2026-03-10-01:00"]
CHAIN = [*CASE_ASSETS, "search_index"]  # ingest to report, then the index
DETECTED_AT = re.compile(r"\*\*Detected at:\*\*[^\n]*")
PARQUET_ASSETS = ["raw_logs", "quarantined_lines", "log_templates", "anomalies", "root_causes"]


def run_chain(instance, data_dir: Path, es_url: str, prefix: str, partition: str = PARTITION) -> None:
    defs = pipeline_definitions(data_dir=data_dir, es_url=es_url, index_prefix=prefix)
    materialize_partition(defs, CHAIN, partition, instance)


def snapshot(data_dir: Path, es_client, prefix: str, partition: str = PARTITION) -> dict:
    """The partition's Parquet frames and its Elasticsearch documents (id -> source, wall-clock fields dropped)."""
    frames = {
        name: pl.read_parquet(data_dir / "parquet" / name / f"{partition}.parquet") for name in PARQUET_ASSETS
    }
    docs = {}
    for kind in ("findings", "reports"):
        index = f"{prefix}-{kind}"
        if es_client.indices.exists(index=index):
            es_client.indices.refresh(index=index)
            for hit in helpers.scan(
                es_client, index=index, query={"query": {"term": {"partition": partition}}}
            ):
                source = {k: v for k, v in hit["_source"].items() if k != "detected_at"}
                if "report" in source:  # the report names when it was detected: wall-clock time, not data
                    source["report"] = DETECTED_AT.sub("", source["report"])
                docs[(kind, hit["_id"])] = source
    return {"frames": frames, "docs": docs}


def assert_same(first: dict, second: dict) -> None:
    for name, frame in first["frames"].items():
        assert frame.equals(second["frames"][name]), f"{name} differs between runs"
    assert first["docs"].keys() == second["docs"].keys()
    for key, source in first["docs"].items():
        changed = {
            field: (value, second["docs"][key].get(field))
            for field, value in source.items()
            if second["docs"][key].get(field) != value
        }
        assert not changed, f"{key} differs: {changed}"


def test_rerunning_a_partition_gives_the_same_parquet_template_ids_and_documents(
    tmp_path, instance, es_url, es_client, index_prefix
):
    data_dir = tmp_path / "data"
    for key in BASELINE:
        run_chain(instance, data_dir, es_url, index_prefix, key)
    run_chain(instance, data_dir, es_url, index_prefix)
    first = snapshot(data_dir, es_client, index_prefix)
    assert (
        first["frames"]["raw_logs"].height > 0
        and first["frames"]["log_templates"]["template_id"].null_count() == 0
    )
    assert any(kind == "findings" for kind, _ in first["docs"]), (
        "the partition should produce findings to compare"
    )

    # A document the earlier run left behind that this run no longer produces must go.
    es_client.index(
        index=f"{index_prefix}-findings",
        id="orphan-from-an-earlier-run",
        document={"system": "shop", "partition": PARTITION, "service": {"name": "ghost"}},
        refresh=True,
    )
    run_chain(instance, data_dir, es_url, index_prefix)
    second = snapshot(data_dir, es_client, index_prefix)
    assert_same(first, second)
    assert ("findings", "orphan-from-an-earlier-run") not in second["docs"]
    total = es_client.count(index=f"{index_prefix}-findings", query={"term": {"partition": PARTITION}})[
        "count"
    ]
    assert total == sum(kind == "findings" for kind, _ in first["docs"])  # no duplicates


def _materializations(instance, asset: str, partition: str) -> int:
    return len(
        instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[partition]), limit=1000
        ).records
    )


def _logrca_run(env: dict, *partitions: str) -> subprocess.Popen:
    """``logrca run -p KEY ...`` as a user runs it, in its own process group (so it can be killed)."""
    arguments = [argument for key in partitions for argument in ("-p", key)]
    return subprocess.Popen(
        [sys.executable, "-m", "logrca.cli", "run", *arguments],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_a_killed_run_rerun_matches_a_clean_run(tmp_path, instance, es_url, es_client, index_prefix):
    def env_for(data_dir: Path, prefix: str) -> dict:
        return os.environ | {
            "LOGRCA_DATA_DIR": str(data_dir),
            "LOGRCA_ES_URL": es_url,
            "LOGRCA_INDEX_PREFIX": prefix,
            "LOGRCA_EXECUTOR": "in_process",
        }

    # Reference: a clean `logrca run` of the baseline and the partition in its own folder and indices.
    reference_dir, reference_prefix = tmp_path / "reference", f"{index_prefix}-ref"
    clean = _logrca_run(env_for(reference_dir, reference_prefix), *BASELINE, PARTITION)
    output = clean.communicate(timeout=300)[0].decode()
    assert clean.returncode == 0, output
    reference = snapshot(reference_dir, es_client, reference_prefix)

    data_dir, prefix = tmp_path / "data", f"{index_prefix}-run"
    env = env_for(data_dir, prefix)
    baseline = _logrca_run(env, *BASELINE)
    output = baseline.communicate(timeout=300)[0].decode()
    assert baseline.returncode == 0, output
    ingested, indexed = (
        _materializations(instance, asset, PARTITION) for asset in ("raw_logs", "search_index")
    )
    victim = _logrca_run(env, PARTITION)
    deadline = time.monotonic() + 120
    while (
        _materializations(instance, "raw_logs", PARTITION) == ingested
        and victim.poll() is None
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    os.killpg(victim.pid, signal.SIGKILL)  # halfway: ingest done, later steps not
    victim.wait()
    assert victim.returncode == -signal.SIGKILL, victim.stdout.read().decode()
    assert _materializations(instance, "raw_logs", PARTITION) == ingested + 1
    assert _materializations(instance, "search_index", PARTITION) == indexed  # killed before indexing

    rerun = _logrca_run(env, PARTITION)
    output = rerun.communicate(timeout=300)[0].decode()
    assert rerun.returncode == 0, output
    assert_same(reference, snapshot(data_dir, es_client, prefix))


def test_indices_are_created_behind_an_alias_with_the_configured_shards(es_client, index_prefix):
    from logrca.pipelines.definitions import build_resources
    from logrca.pipelines.environment import deployment_from_env
    from logrca.rca.search_index import FINDINGS_MAPPING, ensure_index

    deployment = deployment_from_env({"LOGRCA_ES_SHARDS": "2", "LOGRCA_ES_REPLICAS": "0"})
    settings = build_resources(deployment)["elasticsearch"].index_settings  # what the assets pass on
    assert settings == {"number_of_shards": 2, "number_of_replicas": 0}
    name = f"{index_prefix}-findings"
    ensure_index(es_client, name, FINDINGS_MAPPING, settings=settings)
    ensure_index(es_client, name, FINDINGS_MAPPING, settings=settings)  # another worker: changes nothing
    aliases = es_client.indices.get_alias(name=name)
    assert list(aliases) == [f"{name}-000001"]
    assert aliases[f"{name}-000001"]["aliases"][name]["is_write_index"] is True
    settings = es_client.indices.get_settings(index=name)[f"{name}-000001"]["settings"]["index"]
    assert settings["number_of_shards"] == "2"
    with pytest.raises(ValueError, match="LOGRCA_ES_SHARDS='zero'"):  # refused when the deployment loads
        deployment_from_env({"LOGRCA_ES_SHARDS": "zero"})
