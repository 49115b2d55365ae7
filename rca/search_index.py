"""Findings, reports and runbooks in Elasticsearch: explicit mappings, bulk indexing, deterministic ids, search."""

from __future__ import annotations

import hashlib
from typing import Any

from elasticsearch import helpers

from logrca.rca.ecs import ecs_fields, with_ecs
from logrca.rca.es_errors import es_trouble, unreachable

__all__ = [
    "connect",
    "unreachable",
    "es_trouble",
    "FINDINGS_MAPPING",
    "REPORTS_MAPPING",
    "KNOWLEDGE_MAPPING",
    "ensure_index",
    "index_partition",
    "index_runbooks",
    "search_all",
    "anomaly_doc_id",
    "delete_matching",
]

FINDINGS_MAPPING = {
    "dynamic": False,
    "properties": {
        "system": {"type": "keyword"},
        "partition": {"type": "keyword"},
        "finding_id": {"type": "keyword"},
        "kind": {"type": "keyword"},
        "template_id": {"type": "long"},
        "template": {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 1024}}},
        "sample": {"type": "text"},
        "detail": {"type": "text"},
        "score": {"type": "float"},
        "count_baseline": {"type": "float"},
        "count_window": {"type": "long"},
        "first_seen": {"type": "date"},
        "window_start": {"type": "date"},
        "window_end": {"type": "date"},
    },
}
REPORTS_MAPPING = {
    "dynamic": False,
    "properties": {
        "system": {"type": "keyword"},
        "partition": {"type": "keyword"},
        "finding_id": {"type": "keyword"},
        "root_cause": {"type": "keyword"},
        "affected_services": {"type": "keyword"},
        "window_start": {"type": "date"},
        "window_end": {"type": "date"},
        "detected_at": {"type": "date"},
        "summary": {"type": "text"},
        "report": {"type": "text"},
        "runbooks": {"type": "keyword"},
        "trace_ids": {"type": "keyword"},
    },
}
KNOWLEDGE_MAPPING = {
    "dynamic": False,
    "properties": {
        "id": {"type": "keyword"},
        "title": {"type": "text"},
        "services": {"type": "keyword"},
        "keywords": {"type": "text"},
        "category": {"type": "keyword"},
        "body": {"type": "text"},
        "path": {"type": "keyword"},
    },
}
#: Index settings for a single node; a cluster sets LOGRCA_ES_SHARDS / LOGRCA_ES_REPLICAS (``Deployment.index_settings``).
DEFAULT_SETTINGS = {"number_of_shards": 1, "number_of_replicas": 0}


def connect(url: str, *, api_key: str | None = None, ca_certs: str | None = None):
    """The official Elasticsearch client for ``url`` (an API key in encoded ``id:key`` form, optional).

    ``ca_certs``: a PEM file of the CAs that signed an https server's certificate (a cluster's own
    CA; default: the system's); an ``http://`` URL has no certificate to check, and the client would
    refuse the pair with a traceback. A ``user:password@`` in ``url`` is sent as basic auth, over
    https too. Retries transient errors itself (3 times, 30 s a request); callers close it when done.
    """
    from elasticsearch import Elasticsearch

    tls = ca_certs if url.lower().startswith("https:") else None
    return Elasticsearch(
        url, api_key=api_key, ca_certs=tls, request_timeout=30, retry_on_timeout=True, max_retries=3
    )


def ensure_index(client, name: str, mappings: dict, *, settings: dict | None = None) -> None:
    """Make ``name`` usable for reads and writes, with its explicit mapping (a concurrent create is fine).

    A new ``name`` is an alias of the concrete index ``name-000001`` (its write index), created with
    ``settings`` (the deployment's ``index_settings``; default: one shard, no replica); an
    existing index or alias called ``name`` is used as it is.
    """
    from elasticsearch import BadRequestError

    if client.indices.exists(index=name):
        return
    try:
        client.indices.create(
            index=f"{name}-000001",
            mappings=mappings,
            settings=settings or dict(DEFAULT_SETTINGS),
            aliases={name: {"is_write_index": True}},
        )
    except BadRequestError as error:
        if "resource_already_exists_exception" not in str(error):
            raise


def anomaly_doc_id(system: str, partition: str, row: dict) -> str:
    """Deterministic id of one anomaly row: re-indexing a partition overwrites, never duplicates."""
    key = f"{system}|{partition}|{row['service']}|{row['kind']}|{row.get('template_id')}"
    return hashlib.sha1(key.encode()).hexdigest()[:24]


def _iso(value) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _finding_documents(
    system: str, partition: str, window: tuple, anomalies: list[dict], finding: dict | None
) -> list[tuple[str, dict]]:
    """``(id, document)`` per anomaly: ECS fields plus logrca's own (``service`` becomes ``service.name``)."""
    documents = []
    for row in anomalies:
        source = {k: _iso(v) for k, v in row.items() if k != "service"}
        source.update(
            system=system,
            partition=partition,
            window_start=_iso(window[0]),
            window_end=_iso(window[1]),
            finding_id=finding["finding_id"] if finding else None,
        )
        source |= ecs_fields(
            "findings",
            timestamp=source.get("first_seen") or source["window_start"],
            message=row.get("template") or row.get("detail") or row["kind"],
            service=row["service"],
            category=["process"],
            event_type=["info"],
            risk_score=float(row.get("score") or 0.0),
            labels={"system": system, "partition": partition, "template_id": row.get("template_id")},
        )
        documents.append((anomaly_doc_id(system, partition, row), source))
    return documents


def _report_document(system: str, partition: str, finding: dict, report: str) -> dict:
    return {
        "system": system,
        "partition": partition,
        "finding_id": finding["finding_id"],
        "incident_id": finding.get("incident_id"),
        "root_cause": finding["root_cause"],
        "affected_services": finding["affected_services"],
        "window_start": finding["window_start"],
        "window_end": finding["window_end"],
        "detected_at": finding["detected_at"],
        "summary": finding["ranking"][0]["explanation"],
        "report": report,
        "runbooks": [r["id"] for r in finding["knowledge"]["runbooks"]],
        "trace_ids": finding["trace_ids"],
        **ecs_fields(
            "reports",
            timestamp=finding["window_start"],
            message=f"{finding['root_cause']}: {finding['ranking'][0]['explanation']}"[:1000],
            service=finding["root_cause"],
            outcome="failure",
            category=["process"],
            event_type=["error"],
            trace_id=(finding["trace_ids"] or [None])[0],
            labels={"system": system, "partition": partition, "incident_id": finding.get("incident_id")},
        ),
    }


def index_partition(
    client,
    *,
    prefix: str,
    system: str,
    partition: str,
    window: tuple,
    anomalies: list[dict],
    finding: dict | None,
    report: str,
    settings: dict | None = None,
) -> dict[str, int]:
    """Index one partition's anomalies (``<prefix>-findings``) and finding report (``<prefix>-reports``).

    Documents of the same partition left from an earlier run and not produced now are deleted, so a
    re-run leaves exactly this run's documents: no duplicates, no orphans.

    Returns
    -------
    dict
        ``indexed``, ``deleted_stale``, ``reports`` counts.
    """
    findings_index, reports_index = f"{prefix}-findings", f"{prefix}-reports"
    ensure_index(client, findings_index, with_ecs(FINDINGS_MAPPING), settings=settings)
    ensure_index(client, reports_index, with_ecs(REPORTS_MAPPING), settings=settings)
    documents = _finding_documents(system, partition, window, anomalies, finding)
    actions = [{"_index": findings_index, "_id": doc_id, "_source": source} for doc_id, source in documents]
    kept = {findings_index: [doc_id for doc_id, _ in documents], reports_index: []}
    if finding is not None:
        report_doc = _report_document(system, partition, finding, report)
        actions.append({"_index": reports_index, "_id": finding["finding_id"], "_source": report_doc})
        kept[reports_index].append(finding["finding_id"])
    # One bulk for the findings and the report, then one refresh and one scan of both indices for
    # what an earlier run left (each index keeps its own ids): a request per step, not one per index.
    # No refresh="wait_for" on the bulk (up to a refresh interval, 1 s by default): delete_matching
    # refreshes both indices, so the report is searchable when this returns.
    indexed, errors = helpers.bulk(client, actions, raise_on_error=False, stats_only=False)
    if errors:
        raise RuntimeError(
            f"Elasticsearch rejected {len(errors)} of {len(actions)} findings and report, first: {errors[0]}"
        )
    this_partition = [{"term": {"system": system}}, {"term": {"partition": partition}}]
    keep = [
        {"bool": {"filter": [{"term": {"_index": index}}, {"ids": {"values": ids}}]}}
        for index, ids in kept.items()
        if ids
    ]
    stale = {"bool": {"filter": this_partition, "must_not": keep}}
    deleted = delete_matching(client, f"{findings_index},{reports_index}", stale)
    reports = len(kept[reports_index])
    return {"indexed": indexed - reports, "deleted_stale": deleted, "reports": reports}


def delete_matching(client, index: str, query: dict) -> int:
    """Delete the documents ``query`` matches with scroll + bulk (core APIs only).

    ``_delete_by_query`` lives in the reindex module, which minimal distributions leave out. Each
    delete names the concrete index of its hit (an alias, pattern or data stream takes no deletes).
    """
    client.indices.refresh(index=index, ignore_unavailable=True, allow_no_indices=True)
    doomed = [
        {"_op_type": "delete", "_index": hit["_index"], "_id": hit["_id"]}
        for hit in helpers.scan(
            client,
            index=index,
            query={"query": query},
            _source=False,
            ignore_unavailable=True,
            allow_no_indices=True,
        )
    ]
    if not doomed:
        return 0
    deleted, _ = helpers.bulk(client, doomed, refresh="wait_for", raise_on_error=False)
    return deleted


def index_runbooks(client, *, prefix: str, runbooks: list[dict], settings: dict | None = None) -> int:
    """Index the knowledge base's runbooks (id = runbook id) so engineers can search them."""
    index = f"{prefix}-knowledge"
    ensure_index(client, index, with_ecs(KNOWLEDGE_MAPPING), settings=settings)
    actions = [
        {
            "_index": index,
            "_id": r["id"],
            "_source": {k: r[k] for k in ("id", "title", "services", "keywords", "category", "body", "path")}
            | ecs_fields(
                "knowledge",
                timestamp=None,
                message=r["title"],
                category=["configuration"],
                event_type=["info"],
                labels={"runbook_id": r["id"]},
            ),
        }
        for r in runbooks
    ]
    # refresh now, not "wait_for" the next scheduled refresh (up to 1 s every partition): a few documents
    indexed, _ = helpers.bulk(client, actions, refresh=True)
    return indexed


def search_all(
    client,
    *,
    prefix: str,
    query: str,
    kinds: tuple[str, ...] = ("findings", "reports", "incidents", "knowledge"),
    service: str | None = None,
    size: int = 10,
) -> list[dict]:
    """Full-text search over logrca's indices; returns hits as ``{kind, id, score, source}``, best first
    (with no ``query``: every document, newest first)."""
    indices = [f"{prefix}-{kind}" for kind in kinds]
    must = (
        [{"simple_query_string": {"query": query, "default_operator": "and"}}]
        if query
        else [{"match_all": {}}]
    )
    filters = []
    if service:
        filters.append(
            {
                "bool": {
                    "should": [
                        {"term": {field: service}}
                        for field in ("service.name", "root_cause", "affected_services", "services")
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    response = client.search(
        index=",".join(indices),
        query={"bool": {"must": must, "filter": filters}},
        size=size,
        sort=None if query else [{"@timestamp": {"order": "desc", "unmapped_type": "date"}}, "_score"],
        ignore_unavailable=True,
        allow_no_indices=True,
    )
    hits = []
    for hit in response["hits"]["hits"]:
        kind = next((k for k in kinds if hit["_index"].startswith(f"{prefix}-{k}")), hit["_index"])
        hits.append({"kind": kind, "id": hit["_id"], "score": hit["_score"], "source": hit["_source"]})
    return hits
