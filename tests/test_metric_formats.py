"""Metric readers: Prometheus text exposition and OpenMetrics files, parsed by prometheus_client."""

from __future__ import annotations

import gzip
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from signal_support import Source, assert_accounted

from logrca.parsers.ingest.metric_formats import PrometheusOptions, file_time, read_prometheus_text
from logrca.parsers.ingest.schema import METRIC_SCHEMA

FIXTURES = Path(__file__).parent / "fixtures" / "metrics"
SCRAPE = FIXTURES / "shop-20260310T010200Z.prom"


def test_prometheus_text_takes_service_and_host_labels_and_keeps_other_labels_in_the_name():
    result = read_prometheus_text(SCRAPE, Source("shop-metrics"))
    assert_accounted(result, METRIC_SCHEMA)
    rows = {(r["service"], r["metric"]): r for r in result.frame.iter_rows(named=True)}
    cpu = rows[("payments", "process_cpu_usage")]
    assert (cpu["host"], cpu["value"]) == ("payments-7d9f-2", 0.97)
    memory = rows[("inventory", "process_resident_memory_bytes")]  # job / instance when no service / pod
    assert (memory["host"], memory["value"]) == ("10.1.4.21:9100", 231_831_040.0)
    assert rows[("payments", 'http_server_requests_seconds{quantile="0.99",uri="/charge"}')]["value"] == 2.81
    assert rows[("payments", 'http_server_requests_seconds{quantile="0.5",uri="/charge"}')]["value"] is None
    assert rows[("payments", 'http_server_requests_seconds_count{uri="/charge"}')]["value"] == 6021.0
    assert result.stats["samples_without_value"] == 1


def test_prometheus_text_without_timestamps_takes_the_time_in_the_file_name():
    result = read_prometheus_text(SCRAPE, Source("shop-metrics"))
    assert set(result.frame["time"]) == {datetime(2026, 3, 10, 1, 2, tzinfo=UTC)}
    assert result.stats["samples_timed_by_name"] == 7 and result.stats["samples_timed_by_mtime"] == 0


def test_prometheus_text_quarantines_bad_lines_with_the_parsers_reason():
    result = read_prometheus_text(SCRAPE, Source("shop-metrics"))
    assert result.quarantine.select("line_no", "reason").rows() == [
        (14, 'line 14: not a sample (Invalid labels: service="db",pod=db-0)'),
        (15, "line 15: no service label (service, job)"),
        (16, "line 16: not a sample (could not convert string to float: 'twelve')"),
    ]
    assert result.quarantine["raw"][1] == 'process_open_fds{pod="db-0"} 112'
    assert result.stats["rows_read"] == 10 and result.stats["rows_stored"] == 7


def test_a_file_without_a_time_in_its_name_takes_its_modification_time(tmp_path):
    copy = tmp_path / "payments.prom"
    shutil.copy(SCRAPE, copy)
    moment = datetime(2026, 3, 10, 2, 30, tzinfo=UTC).timestamp()
    os.utime(copy, (moment, moment))
    result = read_prometheus_text(copy, Source("shop-metrics"))
    assert set(result.frame["time"]) == {datetime(2026, 3, 10, 2, 30, tzinfo=UTC)}
    assert result.stats["samples_timed_by_mtime"] == 7
    assert file_time(copy) == (datetime(2026, 3, 10, 2, 30, tzinfo=UTC), "mtime")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("scrape-2026-03-10T01:02:03Z.prom", datetime(2026, 3, 10, 1, 2, 3, tzinfo=UTC)),
        ("scrape-2026-03-10T01-02.txt", datetime(2026, 3, 10, 1, 2, tzinfo=UTC)),
        ("node-1773104520.prom", datetime(2026, 3, 10, 1, 2, tzinfo=UTC)),
    ],
)
def test_file_time_reads_the_usual_ways_of_putting_a_time_in_a_name(tmp_path, name, expected):
    assert file_time(tmp_path / name) == (expected, "name")


def test_openmetrics_timestamps_are_seconds_exemplars_are_read_and_samples_after_eof_are_quarantined():
    result = read_prometheus_text(FIXTURES / "federate.om", Source("shop-metrics"))
    assert_accounted(result, METRIC_SCHEMA)
    cpu = result.frame.filter(pl.col("metric") == "process_cpu_usage")
    assert cpu["time"].to_list() == [
        datetime(2026, 3, 10, 1, 0, tzinfo=UTC),
        datetime(2026, 3, 10, 1, 1, tzinfo=UTC),
    ]
    assert cpu["value"].to_list() == [0.21, 0.98]
    timeouts = result.frame.filter(pl.col("metric") == 'http_client_requests_total{outcome="TIMEOUT"}')
    assert timeouts["value"].to_list() == [17.0]  # a counter line with an exemplar
    assert result.quarantine.select("line_no", "reason").rows() == [
        (8, "line 8: not a sample (Invalid line: 1773104520 1773104520)"),
        (10, "line 10: sample after '# EOF'"),
    ]


def test_label_names_are_configurable_and_gzip_is_read(tmp_path):
    packed = tmp_path / "scrape-20260310T0102Z.prom.gz"
    packed.write_bytes(gzip.compress(b'cpu_ratio{app="payments",node="n-3",cpu="0"} 0.5 1773104520000\n'))
    options = PrometheusOptions(service_labels=["app"], host_labels=["node"])
    result = read_prometheus_text(packed, Source("shop-metrics"), options)
    assert_accounted(result, METRIC_SCHEMA)
    assert result.frame.rows() == [
        (datetime(2026, 3, 10, 1, 2, tzinfo=UTC), "payments", "n-3", 'cpu_ratio{cpu="0"}', 0.5)
    ]


def test_unknown_option_fields_are_rejected_by_name():
    with pytest.raises(ValueError, match="service_label"):
        PrometheusOptions(service_label=["app"])


def test_a_source_service_names_samples_without_a_service_label():
    result = read_prometheus_text(SCRAPE, Source("db-metrics", service="db"))
    assert_accounted(result, METRIC_SCHEMA)
    assert result.frame.filter(pl.col("metric") == "process_open_fds").rows() == [
        (datetime(2026, 3, 10, 1, 2, tzinfo=UTC), "db", "db-0", "process_open_fds", 112.0)
    ]
