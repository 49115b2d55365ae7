"""Hand-made findings shaped like ARCHITECTURE.md "Finding", for the incident, alert and review tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

START = datetime(2031, 3, 3, 10, tzinfo=UTC)


def make_finding(
    *,
    hour: int = 0,
    service: str = "payments",
    others: tuple[str, ...] = ("checkout", "gateway"),
    templates: tuple[tuple[int, str], ...] = ((7, "Connection refused to db <*>"),),
    system: str = "shop",
    runbooks: tuple[str, ...] = ("db-connections",),
    delay_minutes: int = 4,
) -> dict:
    """One finding for the window ``START + hour`` .. ``+1h`` whose top-ranked service is ``service``."""
    window_start = START + timedelta(hours=hour)
    first = window_start + timedelta(minutes=12)
    evidence = [
        {
            "kind": "error_burst",
            "template_id": tid,
            "template": text,
            "count_baseline": 0.5,
            "count_window": 40,
            "score": 9.0,
            "sample": text.replace("<*>", "10.0.0.7:5432"),
        }
        for tid, text in templates
    ]
    ranking = [
        {
            "rank": 1,
            "service": service,
            "score": 0.61,
            "first_anomalous": first.isoformat(),
            "path": [service, *others],
            "explanation": f"{service} errors first, callers follow",
            "evidence": evidence,
        }
    ]
    ranking += [
        {
            "rank": i + 2,
            "service": s,
            "score": 0.2 / (i + 1),
            "first_anomalous": (first + timedelta(minutes=1)).isoformat(),
            "path": [s],
            "explanation": "caller of the root cause",
            "evidence": [
                {
                    "kind": "rate_spike",
                    "template_id": 100 + i,
                    "template": f"call to {service} failed",
                    "count_baseline": 1.0,
                    "count_window": 12,
                    "score": 2.0,
                    "sample": f"call to {service} failed",
                }
            ],
        }
        for i, s in enumerate(others)
    ]
    services = [service, *others]
    return {
        "finding_id": f"{system}-{service}-{window_start:%Y%m%d%H}-{templates[0][0]}",
        "system": system,
        "window_start": window_start.isoformat(),
        "window_end": (window_start + timedelta(hours=1)).isoformat(),
        "detected_at": (first + timedelta(minutes=delay_minutes)).isoformat(),
        "ranking": ranking,
        "affected_services": services,
        "impact": {
            s: {"errors_window": 40, "errors_baseline": 1, "lines_window": 900, "lines_baseline": 880}
            for s in services
        },
        "trace_ids": ["trace-a1", "trace-b2"],
        "knowledge": {"runbooks": [{"id": r, "score": 1.0} for r in runbooks], "similar_incidents": []},
    }


RUNBOOKS = [
    {
        "id": "db-connections",
        "title": "Database connections refused",
        "services": ["payments", "db"],
        "keywords": ["connection", "refused"],
        "category": None,
        "body": "## Steps\n1. Check the db pod is up\n2. Restart the connection pool\n",
        "path": "runbooks/db-connections.md",
        "actions": [
            {
                "name": "restart-pool",
                "description": "Restart the pool of {service}",
                "kind": "command",
                "command": ["echo", "restarting pool of {service} for {incident_id}"],
            },
            {
                "name": "compensate",
                "kind": "http",
                "method": "POST",
                "url": "http://127.0.0.1:9/compensate/{service}",
                "body": {"incident": "{incident_id}", "trace": "{trace_id}"},
            },
        ],
    }
]


def write_runbooks(folder, runbooks: list[dict]) -> str:
    """Write ``runbooks`` (shaped like :data:`RUNBOOKS`) as a knowledge base's ``runbooks/*.md``; returns the base."""
    from pathlib import Path

    import yaml

    for runbook in runbooks:
        meta = {k: runbook[k] for k in ("id", "title", "services", "keywords", "actions") if runbook.get(k)}
        path = Path(folder) / "runbooks" / f"{runbook['id']}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n{runbook['body']}", encoding="utf-8"
        )
    return str(folder)
