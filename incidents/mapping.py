"""What an incident document holds in Elasticsearch (index ``<prefix>-incidents``): its explicit mapping.

Searchable fields are mapped (keywords, dates, the title as text); the nested records a person reads
but never queries (history, deliveries, ranking, ...) are stored unindexed (``enabled: false``). The
ECS names (``@timestamp``, ``service.name``, ...) come from :func:`logrca.rca.ecs.with_ecs`.
"""

from __future__ import annotations

from logrca.rca.ecs import with_ecs

__all__ = ["MAPPING"]

MAPPING = {
    "dynamic": False,
    "properties": {
        "incident_id": {"type": "keyword"},
        "fingerprint": {"type": "keyword"},
        "system": {"type": "keyword"},
        "title": {"type": "text"},
        "status": {"type": "keyword"},
        "category": {"type": "keyword"},
        "category_source": {"type": "keyword"},
        "affected_services": {"type": "keyword"},
        "template_ids": {"type": "long"},
        "finding_ids": {"type": "keyword"},
        "supersedes": {"type": "keyword"},
        "superseded_by": {"type": "keyword"},
        "withdrawn_at": {"type": "date"},
        "detected_at": {"type": "date"},
        "first_anomalous_at": {"type": "date"},
        "window_start": {"type": "date"},
        "window_end": {"type": "date"},
        "created_at": {"type": "date"},
        "updated_at": {"type": "date"},
        "acknowledged_at": {"type": "date"},
        "mitigated_at": {"type": "date"},
        "resolved_at": {"type": "date"},
        "reviewed_at": {"type": "date"},
        "archived_at": {"type": "date"},
        "assignee": {
            "properties": {"name": {"type": "keyword"}, "by": {"type": "keyword"}, "at": {"type": "date"}}
        },
        "occurrences": {"type": "integer"},
        "initial_cause": {"properties": {"service": {"type": "keyword"}, "score": {"type": "float"}}},
        "confirmed_cause": {
            "properties": {"service": {"type": "keyword"}, "by": {"type": "keyword"}, "at": {"type": "date"}}
        },
        "owner": {"properties": {"service": {"type": "keyword"}, "team": {"type": "keyword"}}},
        "escalation": {"properties": {"level": {"type": "integer"}, "deadline": {"type": "date"}}},
        "pending_deliveries": {"properties": {"event": {"type": "keyword"}, "channel": {"type": "keyword"}}},
        "notified_events": {"type": "keyword"},
        "next_delivery_at": {"type": "date"},
        "detection_time": {"type": "date"},
        "failed_deliveries": {"type": "object", "enabled": False},
        "changes": {"type": "object", "enabled": False},
        "report": {"type": "text", "index": False},
        "status_history": {"type": "object", "enabled": False},
        "impact": {"type": "object", "enabled": False},
        "reproduction": {"type": "object", "enabled": False},
        "suggested_actions": {"type": "object", "enabled": False},
        "actions": {"type": "object", "enabled": False},
        "action_runs": {"type": "object", "enabled": False},
        "deliveries": {"type": "object", "enabled": False},
        "ranking": {"type": "object", "enabled": False},
    },
}
MAPPING = with_ecs(MAPPING)  # @timestamp, message, service.name, event.*, trace.id, labels.* (ECS)
