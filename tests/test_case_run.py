"""A case folder through the pipeline: sources of spans and metrics, accounting, config errors, the Dagster run."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import polars as pl
import pytest
import yaml
from dagster import AssetKey, DagsterInstance

from logrca.assets.config import ConfigError, load_config
from logrca.parsers.ingest.case_csv import read_case_csv_metrics
from logrca.parsers.ingest.signal_readers import read_signal_sources, reader_names, register_reader
from logrca.parsers.ingest.sources import MetricSourceConfig
from logrca.pipelines.case_run import run_case

MINI = Path(__file__).parent / "fixtures" / "rca" / "mini"


def test_config_errors_name_the_field(tmp_path):
    path = tmp_path / "logrca.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "start": "2024-01-01",
                "sources": [{"name": "app", "paths": ["*.log"], "format": "jsonl"}],
                "spans": [{"name": "t", "paths": ["t/*.json"], "format": "no-such-format"}],
                "metrics": [{"name": "app", "paths": ["m/*.csv"], "format": "case-csv", "colour": "red"}],
                "analysis": {"alert_time": "not a time"},
            }
        )
    )
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert "spans.0.format" in message and "unknown spans format 'no-such-format'" in message
    assert "metrics.0.colour" in message and "analysis.alert_time" in message


def test_a_reader_plugs_in_by_name(tmp_path):
    def read_nothing(path, source):
        return pl.DataFrame(), pl.DataFrame(), {"rows_read": 0, "rows_stored": 0, "rows_quarantined": 0}

    register_reader("metrics", "test-empty", read_nothing)
    assert "test-empty" in reader_names("metrics") and "case-csv" in reader_names("metrics")
    assert MetricSourceConfig(name="m", paths=["x"], format="test-empty").format == "test-empty"


def test_metric_csv_rows_are_stored_or_quarantined_and_counted(tmp_path):
    path = tmp_path / "api-5f9c7-x2x_metric.csv.gz"
    rows = ["Time,TimeStamp,PodName,CpuUsage(m),MemoryUsage(Mi)"]
    rows += ["t,1700000000,api-5f9c7-x2x,1.5,100", "t,1700000060,api-5f9c7-x2x,x,101"]
    rows += ["t,yesterday,api-5f9c7-x2x,1.0,99", "t,1700000120,,1.0,99"]
    path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    source = MetricSourceConfig(name="pods", paths=["*_metric.csv.gz"], format="case-csv")
    samples, quarantine, stats = read_case_csv_metrics(path, source)
    assert stats["rows_read"] == 4 == stats["rows_stored"] + stats["rows_quarantined"]
    assert quarantine["reason"].to_list() == ["TimeStamp is not Unix seconds", "no PodName"]
    assert samples.height == 4 and samples["service"].unique().to_list() == ["api"]
    assert stats["samples_without_value"] == 1
    from datetime import UTC, datetime

    window = (datetime(2023, 11, 14, 22, 14, tzinfo=UTC), datetime(2023, 11, 14, 22, 14, 30, tzinfo=UTC))
    read = read_signal_sources([source], kind="metrics", base_dir=tmp_path, window=window)
    assert read.stats["records_in_window"] == read.frame.height == 2
    assert read.stats["records_outside_window"] == 2


def test_a_broken_span_file_is_quarantined_with_the_reason_and_the_run_goes_on(tmp_path):
    shutil.copytree(MINI, tmp_path / "mini")
    case = tmp_path / "mini" / "cases" / "c1"
    (case / "traces" / "02_trace.csv").write_text("TraceID,SpanID\nx,y\n", encoding="utf-8")
    instance = DagsterInstance.ephemeral()
    run = run_case(case, instance=instance)
    assert run.quarantined["quarantined_spans"] == 1
    check = instance.get_latest_materialization_event(AssetKey("raw_spans"))
    assert check.asset_materialization.metadata["rows_quarantined"].value == 1


def test_a_case_folder_runs_through_the_pipeline_on_the_dagster_instance():
    instance = DagsterInstance.ephemeral()
    run = run_case(MINI / "cases" / "c1", instance=instance)
    assert run.ranking["service"][0] == "ts-a-service"
    assert run.window["baseline"] == "normal"
    assert instance.get_run_by_id(run.run_id).is_success
    for key in ("raw_spans", "raw_metrics", "baseline_templates", "signal_deviations", "root_causes"):
        assert instance.get_latest_materialization_event(AssetKey(key)) is not None, key
    spans = instance.get_latest_materialization_event(AssetKey("raw_spans")).asset_materialization
    assert spans.metadata["rows_read"].value == spans.metadata["rows_stored"].value > 0
    # without normal/ the case's own minutes before the alert are the baseline
    before = run_case(MINI / "cases" / "c1", normal_dirs=[], instance=instance)
    assert before.window["baseline"] == "before-alert"
