"""Elastic Common Schema for what logrca indexes: component and composable index templates, ECS fields.

Every document logrca writes carries the ECS fields Kibana and other tools look for (``@timestamp``,
``message``, ``service.name``, ``log.level``, ``event.kind`` / ``category`` / ``type`` / ``outcome`` /
``dataset``, ``trace.id``, ``host.name``, ``error.message``, ``labels.*``) beside logrca's own fields.
The mappings live in index templates (:func:`put_templates`), so an index or data stream created by
name gets them, and a user's cluster accepts them as they are (``docs/elasticsearch.md``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ECS_MAPPING", "ecs_fields", "put_templates", "template_names", "with_ecs"]

#: ECS field mappings shared by every logrca index (the ``<prefix>-ecs`` component template).
ECS_MAPPING: dict[str, Any] = {
    "dynamic_templates": [
        {
            "labels_as_keywords": {
                "path_match": "labels.*",
                "mapping": {"type": "keyword", "ignore_above": 1024},
            }
        }
    ],
    "properties": {
        "@timestamp": {"type": "date"},
        "message": {"type": "text"},
        "service": {"properties": {"name": {"type": "keyword"}}},
        "log": {
            "properties": {
                "level": {"type": "keyword"},
                "file": {"properties": {"path": {"type": "keyword"}}},
            }
        },
        "event": {
            "properties": {
                name: {"type": "keyword"} for name in ("kind", "category", "type", "outcome", "dataset", "id")
            }
            | {"risk_score": {"type": "float"}, "created": {"type": "date"}}
        },
        "trace": {"properties": {"id": {"type": "keyword"}}},
        "host": {"properties": {"name": {"type": "keyword"}}},
        "error": {"properties": {"message": {"type": "text"}, "type": {"type": "keyword"}}},
        "labels": {"type": "object", "dynamic": True},
        "ecs": {"properties": {"version": {"type": "keyword"}}},
    },
}
ECS_VERSION = "8.17.0"

#: ``event.kind`` per kind of logrca document (ECS allowed values).
EVENT_KINDS = {
    "findings": "signal",
    "reports": "alert",
    "incidents": "alert",
    "knowledge": "enrichment",
    "logs": "event",
}


def with_ecs(mapping: dict) -> dict:
    """``mapping`` plus the ECS fields, for an index created by name where no template applies."""
    return {
        **mapping,
        "dynamic_templates": ECS_MAPPING["dynamic_templates"],
        "properties": {**mapping.get("properties", {}), **ECS_MAPPING["properties"]},
    }


def template_names(prefix: str) -> dict[str, str]:
    """The names of logrca's component templates and, per index kind, its composable template."""
    return {
        "ecs": f"{prefix}-ecs",
        "settings": f"{prefix}-settings",
        **{kind: f"{prefix}-{kind}" for kind in ("findings", "reports", "incidents", "knowledge", "logs")},
    }


def put_templates(
    client, *, prefix: str, kind_mappings: dict[str, dict], settings: dict, lifecycle: str | None = None
) -> None:
    """Install (idempotently) the component templates and one composable template per index kind.

    Parameters
    ----------
    kind_mappings : dict
        ``{kind: mapping}`` of logrca's own fields per kind (``findings``, ``reports``, ...). The kind
        ``logs`` is a data stream (``<prefix>-logs-<system>``); the others match ``<prefix>-<kind>`` and
        its numbered backing indices.
    settings : dict
        Index settings (the deployment's, from `logrca.pipelines.environment.index_settings`).
    lifecycle : str, optional
        An ILM policy name for the logs data stream (retention).
    """
    names = template_names(prefix)
    client.cluster.put_component_template(name=names["ecs"], template={"mappings": ECS_MAPPING})
    client.cluster.put_component_template(name=names["settings"], template={"settings": settings})
    for kind, mapping in kind_mappings.items():
        own = f"{names[kind]}-mappings"
        client.cluster.put_component_template(name=own, template={"mappings": mapping})
        body: dict[str, Any] = {
            "index_patterns": [f"{prefix}-{kind}-*"]
            if kind == "logs"
            else [f"{prefix}-{kind}", f"{prefix}-{kind}-0*"],
            "composed_of": [names["settings"], names["ecs"], own],
            "priority": 200,
            "meta": {"managed_by": "logrca", "description": f"logrca {kind} (ECS fields + logrca's own)"},
        }
        if kind == "logs":
            body["data_stream"] = {}
            if lifecycle:
                body["template"] = {"settings": {"index.lifecycle.name": lifecycle}}
        client.indices.put_index_template(name=names[kind], **body)


def ecs_fields(
    kind: str,
    *,
    timestamp: Any,
    message: str | None,
    service: str | None = None,
    level: str | None = None,
    trace_id: str | None = None,
    host: str | None = None,
    outcome: str = "unknown",
    category: list[str] | None = None,
    event_type: list[str] | None = None,
    dataset: str | None = None,
    risk_score: float | None = None,
    labels: dict[str, Any] | None = None,
) -> dict:
    """The ECS part of a document of ``kind`` (null values left out).

    Examples
    --------
    >>> ecs_fields("logs", timestamp="2026-03-10T02:18:00Z", message="Starting", service="inventory")["service"]
    {'name': 'inventory'}
    """
    event = {
        "kind": EVENT_KINDS[kind],
        "category": category,
        "type": event_type,
        "outcome": outcome,
        "dataset": dataset or f"logrca.{kind}",
        "risk_score": risk_score,
    }
    doc = {
        "@timestamp": timestamp.isoformat() if hasattr(timestamp, "isoformat") else timestamp,
        "message": message,
        "ecs": {"version": ECS_VERSION},
        "event": {k: v for k, v in event.items() if v is not None},
        "service": {"name": service} if service else None,
        "log": {"level": level} if level else None,
        "trace": {"id": trace_id} if trace_id else None,
        "host": {"name": host} if host else None,
        "labels": {k: str(v) for k, v in (labels or {}).items() if v is not None} or None,
    }
    return {k: v for k, v in doc.items() if v is not None}
