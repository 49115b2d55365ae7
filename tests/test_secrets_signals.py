"""Secrets never stored, for trace spans and metric samples: their stored columns and their quarantine.

Each format gets a file whose span names, pod names, label values and broken records carry a distinct
canary; what :func:`read_signal_sources` returns with the config's redactor must hold none of them,
and keep the words around them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl

from logrca.parsers.ingest.secrets import MASK, Redactor, SecretsConfig
from logrca.parsers.ingest.signal_readers import read_signal_sources
from logrca.parsers.ingest.sources import MetricSourceConfig, SpanSourceConfig

T0 = 1773108000000000000  # 2026-03-10T02:00Z in ns
TRACE = "0af7651916cd43dd8448eb211c80319c"


def _kv(key: str, value: str) -> dict:
    return {"key": key, "value": {"stringValue": value}}


def _otlp_span(span_id: str, name: str, attributes: list, end: int = T0 + 400_000_000) -> dict:
    return {
        "traceId": TRACE,
        "spanId": span_id,
        "name": name,
        "startTimeUnixNano": str(T0),
        "endTimeUnixNano": str(end),
        "attributes": attributes,
        "status": {"code": 2, "message": "login failed password=CANARY_STATUS"},
    }


def _write_signals(folder: Path) -> None:
    """One file per format, each with canaries in stored columns and in records that are quarantined."""
    resource = [_kv("service.name", "payments"), _kv("k8s.pod.name", "payments-1?token=CANARY_POD")]
    spans = [
        _otlp_span("b7ad6b7169203331", "GET /reset?access_token=CANARY_NAME", []),
        _otlp_span(
            "b7ad6b7169203332",
            "ends before it starts",
            [
                _kv("url.full", "postgres://u:CANARY_URL@h/db"),
                _kv("http.url", "/x?api_key=CANARY_QUERY"),
                _kv("http.request.header.authorization", "CANARY_AUTH_RAW"),
                {
                    "key": "http.request.header.cookie",
                    "value": {
                        "arrayValue": {"values": [{"stringValue": f"CANARY_COOKIE_{n}"} for n in "ABC"]}
                    },
                },
                _kv("db.statement", "ALTER USER bob IDENTIFIED BY CANARY_SQL"),
            ],
            end=T0 - 1,
        ),
    ]
    request = {"resourceSpans": [{"resource": {"attributes": resource}, "scopeSpans": [{"spans": spans}]}]}
    (folder / "traces.jsonl").write_text(
        json.dumps(request) + '\n{"resourceSpans": [ cut password=CANARY_BROKEN_JSON\n'
    )
    (folder / "spans.csv").write_text(
        "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,Duration\n"
        f"{TRACE},b7ad6b7169203334,root,cart-1-2,GET /x?token=CANARY_CSV_OP,{T0},100\n"
        f"{TRACE},b7ad6b7169203335,root,cart-1-2,POST password=CANARY_CSV_ROW,not-a-number,100\n"
    )
    (folder / "scrape-20260310T0200Z.prom").write_text(
        'http_requests_total{service="payments",pod="payments-1",url="/pay?token=CANARY_LABEL"} 3\n'
        'process_cpu_usage{service="payments",pod="payments-2?access_token=CANARY_PODLABEL"} 0.5\n'
        'process_cpu_usage{service="payments?token=CANARY_SERVICE",pod="payments-3"} 0.25\n'
        'broken{service="payments" password=CANARY_PROM_LINE 1\n'
    )
    (folder / "pods_metric.csv").write_text(
        "TimeStamp,PodName,cpu\n1773108000,cart-1-2?token=CANARY_CSV_POD,0.5\nxx,cart-1-2,password=CANARY_CSV_M\n"
    )


def _read(folder: Path, kind: str, redactor: Redactor | None):
    model, sources = (
        (SpanSourceConfig, [("otlp", "otlp-json", "*.jsonl"), ("csv", "case-csv", "spans.csv")])
        if kind == "spans"
        else (MetricSourceConfig, [("prom", "prometheus", "*.prom"), ("csv", "case-csv", "*_metric.csv")])
    )
    configs = [model(name=name, format=fmt, paths=[paths]) for name, fmt, paths in sources]
    return read_signal_sources(configs, kind=kind, base_dir=folder, redactor=redactor)


def _canaries(frame: pl.DataFrame) -> set[str]:
    return set(re.findall(r"CANARY_[A-Z_]+", str(frame.rows())))


def test_spans_and_metrics_keep_no_secret_in_their_columns_or_quarantine(tmp_path):
    _write_signals(tmp_path)
    redactor = Redactor.from_config(SecretsConfig())
    for kind in ("spans", "metrics"):
        plain = _read(tmp_path, kind, None)
        assert _canaries(plain.frame) and _canaries(plain.quarantine)  # the files do carry them
        read = _read(tmp_path, kind, redactor)
        assert not _canaries(read.frame), kind
        assert not _canaries(read.quarantine), kind
        # the same rows, the words around each secret kept
        assert read.frame.height == plain.frame.height and read.quarantine.height == plain.quarantine.height
        assert read.stats["rows_read"] == read.stats["rows_stored"] + read.stats["rows_quarantined"]
    spans = _read(tmp_path, "spans", redactor)
    assert f"GET /reset?access_token={MASK}" in spans.frame["operation"].to_list()
    assert None in spans.frame["host"].to_list() and "cart-1-2" in spans.frame["host"].to_list()
    assert spans.stats["ids_with_a_secret"] == 1  # the pod name holding a token: null, not one shared host
    metrics = _read(tmp_path, "metrics", redactor)
    assert f'http_requests_total{{url="/pay?token={MASK}"}}' in metrics.frame["metric"].to_list()
    assert f"payments?token={MASK}" in metrics.frame["service"].to_list()
    assert metrics.stats["ids_with_a_secret"] == 2


def test_a_column_of_repeated_names_is_redacted_by_its_distinct_values():
    names = pl.Series("operation", ["GET /a"] * 50 + ["GET /reset?token=abc", None])
    redacted = Redactor.from_config(SecretsConfig()).redact_distinct(names)
    assert redacted.to_list() == ["GET /a"] * 50 + [f"GET /reset?token={MASK}", None]
