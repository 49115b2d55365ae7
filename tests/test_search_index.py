"""Indexing into the real Elasticsearch: deterministic ids, stale documents removed, search."""

from __future__ import annotations

import pytest

from logrca.rca.search_index import index_partition, index_runbooks, search_all

pytestmark = pytest.mark.es


def row(service, kind, template_id, template):
    return {
        "service": service,
        "kind": kind,
        "template_id": template_id,
        "template": template,
        "count_baseline": 0.0,
        "count_window": 5,
        "score": 4.0,
        "first_seen": "2026-03-10T02:20:00Z",
        "sample": template,
        "detail": "",
    }


def report_finding(finding_id: str, affected: list[str]) -> dict:
    """The fields of a finding the report document reads (root cause ``db``)."""
    return {
        "finding_id": finding_id,
        "incident_id": "i1",
        "root_cause": "db",
        "affected_services": affected,
        "window_start": "2026-03-10T02:00:00Z",
        "window_end": "2026-03-10T02:30:00Z",
        "detected_at": "2026-03-10T02:31:00Z",
        "ranking": [{"explanation": "lock timeouts on orders"}],
        "knowledge": {"runbooks": []},
        "trace_ids": [],
    }


def test_reindexing_a_partition_replaces_its_documents(es_client, index_prefix):
    window = ("2026-03-10T02:00:00Z", "2026-03-10T03:00:00Z")
    first = [
        row("db", "new_template", 1, "lock timeout on table orders"),
        row("api", "error_burst", None, "errors"),
    ]
    counts = index_partition(
        es_client,
        prefix=index_prefix,
        system="shop",
        partition="p2",
        window=window,
        anomalies=first,
        finding=None,
        report="",
    )
    assert counts["indexed"] == 2
    index_partition(
        es_client,
        prefix=index_prefix,
        system="shop",
        partition="p3",
        window=window,
        anomalies=[row("db", "rate_spike", 2, "slow query")],
        finding=None,
        report="",
    )
    again = index_partition(
        es_client,
        prefix=index_prefix,
        system="shop",
        partition="p2",
        window=window,
        anomalies=first[:1],
        finding=None,
        report="",
    )
    assert again == {"indexed": 1, "deleted_stale": 1, "reports": 0}
    es_client.indices.refresh(index=f"{index_prefix}-findings")
    assert (
        es_client.count(index=f"{index_prefix}-findings")["count"] == 2
    )  # p2's one + p3's one, no duplicates
    hits = search_all(es_client, prefix=index_prefix, query="lock timeout", kinds=("findings",))
    assert [h["source"]["partition"] for h in hits] == ["p2"]
    assert search_all(es_client, prefix=index_prefix, query="", kinds=("findings",), service="db", size=10)


def test_runbooks_are_searchable(es_client, index_prefix):
    runbook = {
        "id": "rb1",
        "title": "Restart the cache",
        "services": ["cache"],
        "keywords": ["evictions"],
        "category": None,
        "body": "Flush then restart.",
        "path": "x.md",
    }
    assert index_runbooks(es_client, prefix=index_prefix, runbooks=[runbook, runbook]) == 2
    hits = search_all(es_client, prefix=index_prefix, query="restart", kinds=("knowledge",))
    assert [h["id"] for h in hits] == ["rb1"]


def test_the_report_is_searchable_when_indexing_returns(es_client, index_prefix):
    """No waiting for a scheduled refresh, and no search before the report is there (no refresh here)."""
    finding = report_finding("f1", ["db", "api"])
    counts = index_partition(
        es_client,
        prefix=index_prefix,
        system="shop",
        partition="p2",
        window=("2026-03-10T02:00:00Z", "2026-03-10T03:00:00Z"),
        anomalies=[row("db", "new_template", 1, "lock timeout on table orders")],
        finding=finding,
        report="# RCA report\nlock timeouts on orders",
    )
    assert counts["reports"] == 1
    hits = search_all(es_client, prefix=index_prefix, query="lock timeouts", kinds=("reports",))
    assert [h["source"]["finding_id"] for h in hits] == ["f1"]


def test_reindexing_replaces_the_report_and_each_index_keeps_only_its_own_ids(es_client, index_prefix):
    """A report of another window left by an earlier run goes; the findings' ids never keep a report."""
    from logrca.rca.search_index import anomaly_doc_id

    kept = row("db", "new_template", 1, "lock timeout on table orders")
    # the first run's report has the id the second run's finding document gets
    twin = anomaly_doc_id("shop", "p2", kept)

    def run(finding):
        return index_partition(
            es_client,
            prefix=index_prefix,
            system="shop",
            partition="p2",
            window=("2026-03-10T02:00:00Z", "2026-03-10T03:00:00Z"),
            anomalies=[kept],
            finding=finding,
            report="# RCA report",
        )

    assert run(report_finding(twin, ["db"])) == {"indexed": 1, "deleted_stale": 0, "reports": 1}
    assert run(report_finding("f2", ["db"])) == {"indexed": 1, "deleted_stale": 1, "reports": 1}
    es_client.indices.refresh(index=f"{index_prefix}-reports")
    reports = es_client.search(index=f"{index_prefix}-reports", query={"match_all": {}})["hits"]["hits"]
    assert [hit["_id"] for hit in reports] == ["f2"]
    assert run(None) == {"indexed": 1, "deleted_stale": 1, "reports": 0}
    es_client.indices.refresh(index=f"{index_prefix}-findings,{index_prefix}-reports")
    assert es_client.count(index=f"{index_prefix}-reports")["count"] == 0
    assert es_client.count(index=f"{index_prefix}-findings")["count"] == 1


def test_a_refusal_is_not_reported_as_a_server_to_start(es_client, es_url, free_port):
    # the server answered (a real 400): the failure says what it refused, not "start the server"
    from elasticsearch import ApiError, TransportError

    from logrca.assets.reporting import es_failure
    from logrca.assets.resources import ElasticsearchResource
    from logrca.rca.search_index import connect

    with pytest.raises(ApiError) as refused:
        es_client.indices.create(index="Not-Lower-Case")
    failure = es_failure(ElasticsearchResource(url=es_url), refused.value)
    assert "refused the request" in failure.description and "must be lowercase" in failure.description
    assert "logrca es start" not in failure.description
    nobody = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TransportError) as unreachable:
        connect(nobody).options(max_retries=0).info()
    failure = es_failure(ElasticsearchResource(url=nobody), unreachable.value)
    assert "logrca es start" in failure.description and nobody in failure.description
    # the reason, not three nested reprs: the run summary shows the first two lines
    assert "(Connection refused)" in failure.description and "NewConnectionError" not in failure.description
    assert failure.description.index("logrca es start") < 160
    with pytest.raises(ValueError, match="not a usable index prefix"):
        ElasticsearchResource(url=es_url, index_prefix="Shop")
