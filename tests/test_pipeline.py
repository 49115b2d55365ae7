"""The whole pipeline on the bundled example: real Dagster, real drain3, real Elasticsearch."""

from __future__ import annotations

import shutil

import polars as pl
import pytest
import yaml
from dagster import DagsterInstance, materialize
from pipeline_support import copy_example, pipeline_definitions, run_config_partition

from logrca import PROJECT_ROOT
from logrca.pipelines.case_run import CASE_ASSETS

EXAMPLE = PROJECT_ROOT / "examples" / "shop"
PARTITIONS = ["2026-03-10-00:00", "2026-03-10-01:00", "2026-03-10-02:00"]


def test_definitions_load():
    from logrca.pipelines.definitions import defs as lazy_defs

    defs = lazy_defs()
    job = defs.resolve_job_def("logrca_main")
    assert job.partitions_def is not None
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {
        "raw_logs",
        "quarantined_lines",
        "log_templates",
        "anomalies",
        "service_graph",
        "root_causes",
        "rca_report",
        "search_index",
    } <= keys


@pytest.fixture(scope="module")
def example_copy(tmp_path_factory):
    """The example config, topology and knowledge base with freshly generated logs, in a temp folder."""
    return copy_example(tmp_path_factory.mktemp("shop"))


def template_rows(data_dir, key) -> int:
    """Rows of the partition's ``log_templates``."""
    return (
        pl.scan_parquet(data_dir / "parquet" / "log_templates" / f"{key}.parquet")
        .select(pl.len())
        .collect()
        .item()
    )


def run_partition(example_copy, data_dir, es_url, prefix, key, *, config="logrca.yaml", selection=None):
    """Materialize partition ``key`` of the main job (or of ``selection``) for the config in ``example_copy``."""
    return run_config_partition(
        example_copy / config, key, data_dir=data_dir, es_url=es_url, index_prefix=prefix, selection=selection
    )


def log_only_ranking(example_copy, data_dir) -> pl.DataFrame:
    """The incident hour analysed again by the pipeline from the same mined logs, with no spans or metrics.

    A copy of the data without ``raw_spans``/``raw_metrics`` and a config without span and metric sources:
    only the ``analyse`` step runs, on the log templates already mined.
    """
    logs_only = data_dir.parent / "logs-only-data"
    shutil.copytree(data_dir, logs_only, ignore=shutil.ignore_patterns("raw_spans", "raw_metrics"))
    settings = yaml.safe_load((example_copy / "logrca.yaml").read_text(encoding="utf-8"))
    settings.pop("spans"), settings.pop("metrics")
    (example_copy / "logrca-logs-only.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    outputs = ["analysis_window", "anomalies", "signal_deviations", "service_graph", "root_causes"]
    result = run_partition(
        example_copy,
        logs_only,
        "http://127.0.0.1:9",  # the analysis needs no search server
        "logs-only",
        PARTITIONS[2],
        config="logrca-logs-only.yaml",
        selection=outputs,
    )
    return result.output_for_node("analyse", "root_causes")


@pytest.mark.es
def test_example_incident_is_found_reported_indexed_and_rerun_safely(
    example_copy, tmp_path, es_url, es_client, index_prefix
):
    data_dir = tmp_path / "data"
    results = {key: run_partition(example_copy, data_dir, es_url, index_prefix, key) for key in PARTITIONS}

    # Quiet hours: no incident; the two damaged lines are quarantined, not lost.
    for key in PARTITIONS[:2]:
        assert results[key].output_for_node("rca_report") is None
        assert results[key].output_for_node("ingest_logs", "quarantined_lines").height == 1
    # The cut span line and the broken metric sample are quarantined with their reason, not lost.
    spans_out = results[PARTITIONS[1]].output_for_node("ingest_spans", "quarantined_spans")
    assert spans_out["reason"].str.contains("not JSON").any()
    metrics_out = results[PARTITIONS[0]].output_for_node("ingest_metrics", "quarantined_metrics")
    assert metrics_out["reason"].str.contains("not a sample").any()

    # Payments logs nothing wrong (logs alone blame checkout); its spans and CPU put it first.
    finding = results[PARTITIONS[2]].output_for_node("rca_report")
    assert finding["root_cause"] == "payments"
    assert finding["ranking"][0]["path"] == ["payments", "checkout", "gateway"]
    assert finding["ranking"][1]["service"] == "checkout"
    assert finding["window_start"] >= "2026-03-10T02:18" and finding["window_end"] < "2026-03-10T02:51"
    assert finding["knowledge"]["runbooks"][0]["id"] == "payments-cpu-starvation"
    assert finding["knowledge"]["similar_incidents"][0]["root_cause_service"] == "payments"
    assert "checkout" in finding["affected_services"]
    explanation = finding["ranking"][0]["explanation"]
    assert "span_self_time" in explanation and "process_cpu_usage" in explanation  # span and metric evidence
    assert not [e for e in finding["ranking"][0]["evidence"] if e["kind"] in ("new_template", "error_burst")]

    # Logs alone blame the caller: the same analysis on the same mined logs, without spans and metrics.
    assert log_only_ranking(example_copy, data_dir)["service"][:2].to_list() == ["checkout", "gateway"]

    # The report is Markdown on the materialization.
    report_meta = (
        [m for m in results[PARTITIONS[2]].asset_materializations_for_node("rca_report")][0]
        .metadata["report"]
        .value
    )
    for section in (
        "Incident window",
        "Ranked root-cause services",
        "Evidence",
        "Impact",
        "Reproduction hints",
        "Knowledge base",
        "Changes",
    ):
        assert section in report_meta
    # It names its incident, shows its pictures inline, and marks its hour with a WARN check.
    assert f"**Incident:** `{finding['incident_id']}`" in report_meta
    assert report_meta.count("](data:image/png;base64,") == 2
    stem = data_dir / "reports" / "shop" / "2026-03-10-02-00"
    for name in ("service-map", "template-rates"):
        png = stem.with_name(f"2026-03-10-02-00-{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and f"2026-03-10-02-00-{name}.png)" in finding["report"]
    checks = {c.check_name: c for c in results[PARTITIONS[2]].get_asset_check_evaluations()}
    assert not checks["no_incident"].passed and checks["no_incident"].severity.value == "WARN"
    quiet = {c.check_name: c for c in results[PARTITIONS[0]].get_asset_check_evaluations()}
    assert quiet["no_incident"].passed
    # A change event in the logs (the example's release) is on the finding's timeline.
    assert any(c["service"] == "inventory" for c in finding["changes"]), finding["changes"]

    # Searchable in Elasticsearch.
    from logrca.rca.search_index import search_all

    hits = search_all(es_client, prefix=index_prefix, query="payments cpu", kinds=("reports",))
    assert hits and hits[0]["source"]["root_cause"] == "payments"
    hits = search_all(es_client, prefix=index_prefix, query="payment call timed out", kinds=("findings",))
    assert (
        hits and hits[0]["source"]["service"]["name"] == "checkout"
    )  # ECS service.name  # the log evidence is the callers'
    reports = es_client.count(index=f"{index_prefix}-reports")["count"]
    findings = es_client.count(index=f"{index_prefix}-findings")["count"]
    assert (
        reports == 1 and findings >= 3
    )  # log evidence: checkout's new template and error burst, gateway's burst

    # The lines' parameters come after the report and its indexing (a lower priority), row for row.
    steps = [e.step_key for e in results[PARTITIONS[2]].all_events if e.is_step_start]
    assert steps.index("rca_report") < steps.index("search_index") < steps.index("log_parameters")
    assert steps[-1] == "indexed_lines"
    params = results[PARTITIONS[2]].asset_materializations_for_node("log_parameters")[0]
    assert params.metadata["dagster/row_count"].value == template_rows(data_dir, PARTITIONS[2])

    # Re-running the incident partition: same template ids, same documents, no duplicates.
    first_templates = pl.read_parquet(data_dir / "parquet" / "log_templates" / f"{PARTITIONS[2]}.parquet")
    run_partition(example_copy, data_dir, es_url, index_prefix, PARTITIONS[2])
    second_templates = pl.read_parquet(data_dir / "parquet" / "log_templates" / f"{PARTITIONS[2]}.parquet")
    assert first_templates["template_id"].to_list() == second_templates["template_id"].to_list()
    es_client.indices.refresh(index=f"{index_prefix}-*")
    assert es_client.count(index=f"{index_prefix}-reports")["count"] == reports
    assert es_client.count(index=f"{index_prefix}-findings")["count"] == findings


@pytest.mark.es
def test_search_server_down_fails_the_partition_with_a_readable_message(example_copy, tmp_path):
    data_dir = tmp_path / "data"
    defs = pipeline_definitions(
        example_copy / "logrca.yaml", data_dir=data_dir, es_url="http://127.0.0.1:9", index_prefix="down"
    )
    chain = [*CASE_ASSETS, "change_events", "search_index", "log_parameters", "indexed_lines"]
    result = materialize(
        defs.assets,
        selection=chain,
        partition_key=PARTITIONS[0],
        resources=defs.resources,
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    assert [e.step_key for e in failures] == ["search_index"]
    message = failures[0].step_failure_data.error.message
    assert "Elasticsearch at http://127.0.0.1:9" in message and "re-run" in message
    # Everything before indexing was stored, and the parameters, which do not wait for it.
    assert (data_dir / "parquet" / "log_templates" / f"{PARTITIONS[0]}.parquet").exists()
    assert (data_dir / "parquet" / "log_parameters" / f"{PARTITIONS[0]}.parquet").exists()
    assert "indexed_lines" not in {e.step_key for e in result.all_events if e.is_step_start}
