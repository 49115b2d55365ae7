"""ECS index templates and the log-lines data stream on the real Elasticsearch: mappings, idempotence, drill-down."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from logrca.rca.log_lines import ensure_templates, index_lines, lines_stream, prune_lines, search_lines
from logrca.rca.search_index import index_partition, search_all

pytestmark = pytest.mark.es

T0 = datetime(2026, 3, 10, 2, tzinfo=UTC)


def events(n: int) -> pl.DataFrame:
    rows = [
        {
            "timestamp": T0 + timedelta(seconds=10 * i),
            "service": "inventory" if i % 2 else "checkout",
            "host": "pod-1",
            "level": "ERROR" if i % 5 == 0 else "INFO",
            "message": f"Reserved {i} units" if i % 2 else f"Checkout {i} done",
            "trace_id": f"t{i}",
            "source_file": "/logs/x.log",
            "line_no": i + 1,
            "template_id": 7 if i % 2 else 3,
        }
        for i in range(n)
    ]
    return pl.DataFrame(rows)


def test_templates_give_new_indices_ecs_mappings(es_client, index_prefix):
    ensure_templates(es_client, prefix=index_prefix, retention_days=30)
    templates = es_client.indices.get_index_template(name=f"{index_prefix}-*")["index_templates"]
    names = {t["name"] for t in templates}
    assert {f"{index_prefix}-{k}" for k in ("findings", "reports", "knowledge", "logs")} <= names
    assert es_client.cluster.get_component_template(name=f"{index_prefix}-ecs")["component_templates"]
    window = ("2026-03-10T02:00:00Z", "2026-03-10T03:00:00Z")
    anomaly = {
        "service": "db", "kind": "new_template", "template_id": 1, "template": "lock timeout",
        "count_baseline": 0.0, "count_window": 5, "score": 4.0, "first_seen": "2026-03-10T02:20:00Z",
        "sample": "lock timeout on orders", "detail": "",
    }  # fmt: skip
    index_partition(
        es_client, prefix=index_prefix, system="shop", partition="p", window=window, anomalies=[anomaly],
        finding=None, report="",
    )  # fmt: skip
    mapping = next(iter(es_client.indices.get_mapping(index=f"{index_prefix}-findings").values()))["mappings"]
    assert mapping["properties"]["@timestamp"]["type"] == "date"
    assert mapping["properties"]["service"]["properties"]["name"]["type"] == "keyword"
    hit = search_all(es_client, prefix=index_prefix, query="lock", kinds=("findings",), service="db")[0]
    assert hit["source"]["@timestamp"] == "2026-03-10T02:20:00Z"
    assert hit["source"]["event"]["kind"] == "signal" and hit["source"]["labels"]["template_id"] == "1"


def test_lines_are_indexed_once_per_partition_and_drill_down_by_template(es_client, index_prefix):
    # a data stream outlives the fixture's index clean-up where the server has no data-stream API: a fresh one
    index_prefix = f"{index_prefix}-{uuid.uuid4().hex[:8]}"
    ensure_templates(es_client, prefix=index_prefix, retention_days=None)
    first = index_lines(es_client, prefix=index_prefix, system="Shop", partition="p1", events=events(20))
    assert first == {"lines_indexed": 20, "lines_present": 0, "lines_deleted_stale": 0}
    again = index_lines(es_client, prefix=index_prefix, system="Shop", partition="p1", events=events(20))
    assert again == {"lines_indexed": 0, "lines_present": 20, "lines_deleted_stale": 0}
    # a secret rule added since masks one line: the re-run writes it anew and deletes the old text
    said = pl.when(pl.col("line_no") == 4).then(pl.lit("Reserved [REDACTED] units")).otherwise("message")
    masked = index_lines(
        es_client,
        prefix=index_prefix,
        system="Shop",
        partition="p1",
        events=events(20).with_columns(message=said),
    )
    assert masked == {"lines_indexed": 1, "lines_present": 19, "lines_deleted_stale": 1}
    es_client.indices.refresh(index=lines_stream(index_prefix, "Shop"))
    texts = [line["message"] for line in search_lines(es_client, prefix=index_prefix, template_id=7, size=50)]
    assert "Reserved [REDACTED] units" in texts and "Reserved 3 units" not in texts and len(texts) == 10
    back = index_lines(es_client, prefix=index_prefix, system="Shop", partition="p1", events=events(20))
    assert back == {"lines_indexed": 1, "lines_present": 19, "lines_deleted_stale": 1}
    fewer = index_lines(es_client, prefix=index_prefix, system="Shop", partition="p1", events=events(12))
    assert fewer["lines_deleted_stale"] == 8
    stream = lines_stream(index_prefix, "Shop")
    es_client.indices.refresh(index=stream)
    assert es_client.count(index=stream)["count"] == 12
    lines = search_lines(es_client, prefix=index_prefix, service="inventory", template_id=7, size=50)
    assert [line["message"] for line in lines] == [f"Reserved {i} units" for i in range(1, 12, 2)]
    first_line = lines[0]
    assert first_line["@timestamp"].startswith("2026-03-10T02:00:10")
    assert first_line["trace"]["id"] == "t1" and first_line["host"]["name"] == "pod-1"
    assert first_line["log"] == {"level": "INFO", "file": {"path": "/logs/x.log"}}
    errors = search_lines(es_client, prefix=index_prefix, query="Checkout", since=T0 + timedelta(seconds=45))
    assert [e["message"] for e in errors] == ["Checkout 6 done", "Checkout 8 done", "Checkout 10 done"]
    assert lines_stream("logrca", "My System!") == "logrca-logs-my-system"
    # Retention without ILM: 'logrca es prune-lines' deletes by the lines' own time.
    assert prune_lines(es_client, prefix=index_prefix, before=T0 + timedelta(seconds=55)) == 6
    es_client.indices.refresh(index=stream)
    assert es_client.count(index=stream)["count"] == 6


def test_a_parquet_scan_is_indexed_a_batch_at_a_time_as_the_frame_is(
    es_client, index_prefix, tmp_path, monkeypatch
):
    # the asset hands index_lines the partition's scan: read in batches (several here), only the
    # columns the documents use; the same ids as from the whole frame, so a re-run finds them all
    import logrca.rca.log_lines as log_lines

    monkeypatch.setattr(log_lines, "_READ_ROWS", 8)
    monkeypatch.setattr(log_lines, "_BODY_ROWS", 3)
    index_prefix = f"{index_prefix}-{uuid.uuid4().hex[:8]}"
    ensure_templates(es_client, prefix=index_prefix, retention_days=None)
    frame = events(30).with_columns(pl.lit("x <*>").alias("template"), pl.lit(["a"]).alias("params"))
    frame.write_parquet(tmp_path / "p.parquet")
    scanned = index_lines(
        es_client,
        prefix=index_prefix,
        system="Shop",
        partition="p1",
        events=pl.scan_parquet(tmp_path / "p.parquet"),
    )
    assert scanned == {"lines_indexed": 30, "lines_present": 0, "lines_deleted_stale": 0}
    whole = index_lines(es_client, prefix=index_prefix, system="Shop", partition="p1", events=frame)
    assert whole == {"lines_indexed": 0, "lines_present": 30, "lines_deleted_stale": 0}
    lines = search_lines(es_client, prefix=index_prefix, service="inventory", template_id=7, size=50)
    assert [line["message"] for line in lines] == [f"Reserved {i} units" for i in range(1, 30, 2)]
