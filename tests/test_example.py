"""The bundled example is reproducible and holds what the README promises."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime

import polars as pl
import pytest
from signal_support import Source

from logrca import PROJECT_ROOT
from logrca.assets.config import load_config
from logrca.parsers.ingest.metric_formats import read_prometheus_text
from logrca.parsers.ingest.readers import read_source
from logrca.parsers.ingest.span_formats import read_otlp_json

GENERATE = PROJECT_ROOT / "examples" / "shop" / "generate.py"
INCIDENT = (datetime(2026, 3, 10, 2, 18, tzinfo=UTC), datetime(2026, 3, 10, 2, 50, tzinfo=UTC))


def run(out):
    subprocess.run([sys.executable, str(GENERATE), str(out)], check=True, capture_output=True)
    return {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("shop-example") / "logs"  # where the example's config looks
    return out, run(out)


def test_generator_is_seeded_and_writes_rotated_logs_spans_and_metrics(generated, tmp_path):
    out, first = generated
    assert run(tmp_path / "again") == first
    names = {str(p) for p in first}
    assert {"gateway/gateway.log", "gateway/gateway.log.1", "gateway/gateway.log.2.gz"} <= names
    assert {p.parts[0] for p in first} == {
        "gateway",
        "checkout",
        "payments",
        "inventory",
        "db",
        "spans",
        "metrics",
    }
    assert {
        "spans/traces.jsonl",
        "spans/traces-2026-03-10T02-00-00.000.jsonl.gz",
        "metrics/federate-20260310T0000Z.prom.gz",
        "metrics/federate-20260310T0200Z.prom",
    } <= names
    checkout = first[next(p for p in first if str(p) == "checkout/checkout.log")]
    assert b"\tat com.shop.checkout.OrderService" in checkout  # a multi-line stack trace
    assert first[next(p for p in first if str(p) == "inventory/inventory.log")].startswith(b"<1")  # syslog


def spans_of(out) -> pl.DataFrame:
    reads = [read_otlp_json(path, Source("shop-spans")) for path in sorted((out / "spans").iterdir())]
    assert sum(r.stats["rows_quarantined"] for r in reads) == 1  # the line cut off mid-write
    return pl.concat([r.frame for r in reads])


def metrics_of(out) -> pl.DataFrame:
    reads = [
        read_prometheus_text(path, Source("shop-metrics")) for path in sorted((out / "metrics").iterdir())
    ]
    assert sum(r.stats["rows_quarantined"] for r in reads) == 1  # the sample with a broken label
    return pl.concat([r.frame for r in reads])


def during(frame: pl.DataFrame, column: str) -> pl.Expr:
    return pl.col(column).is_between(*INCIDENT, closed="left")


def test_the_incident_shows_in_payments_spans_and_cpu(generated):
    out, _ = generated
    spans = spans_of(out)
    charges = spans.filter((pl.col("service") == "payments") & (pl.col("operation") == "POST /charge"))
    slow = charges.filter(during(charges, "start"))["duration_us"].median()
    usual = charges.filter(pl.col("start") < INCIDENT[0])["duration_us"].median()
    assert slow > 5 * usual  # payments' own time: its server spans have no children
    calls = spans.filter(pl.col("operation") == "POST payments/charge")
    assert calls.filter(during(calls, "start"))["error"].sum() > 100  # checkout's calls time out
    assert calls.filter(~during(calls, "start"))["error"].sum() == 0
    checkout = (out / "checkout" / "checkout.log").read_text(encoding="utf-8", errors="replace")
    logged = set(re.findall(r"trace_id=([0-9a-f]{32})", checkout))
    assert logged and logged <= set(spans["trace_id"])  # log lines and spans share trace ids

    cpu = metrics_of(out).filter(
        (pl.col("metric") == "process_cpu_usage") & (pl.col("service") == "payments")
    )
    assert cpu.filter(during(cpu, "time"))["value"].min() > 0.9
    assert cpu.filter(~during(cpu, "time"))["value"].max() < 0.3


def test_payments_logs_no_error_while_its_callers_do(generated):
    out, _ = generated
    config = load_config(PROJECT_ROOT / "examples" / "shop" / "logrca.yaml")
    payments = next(source for source in config.sources if source.service == "payments")
    events = read_source(payments, base_dir=out.parent).events
    assert events.filter(pl.col("level").is_in(["ERROR", "FATAL"])).is_empty()
    shape = pl.col("message").str.replace_all(r"\d+(\.\d+)?", "N")
    before = set(events.filter(pl.col("timestamp") < INCIDENT[0]).select(shape)["message"])
    assert set(events.filter(during(events, "timestamp")).select(shape)["message"]) <= before  # nothing new
    checkout = (out / "checkout" / "checkout.log").read_text(encoding="utf-8", errors="replace")
    assert checkout.count("ERROR") > 100 and "SocketTimeoutException" in checkout


def test_generator_prints_its_counts(tmp_path):
    done = subprocess.run(
        [sys.executable, str(GENERATE), str(tmp_path), "--hours", "1"],
        check=True,
        capture_output=True,
        text=True,
    )
    counts = json.loads(done.stdout)["counts"]
    assert counts["spans"] > 10_000 and counts["metric_samples"] == 60 * 5 * 2 + 60 * 4
