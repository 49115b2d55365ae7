"""Escalation: page the next contact of an open incident nobody acknowledged before its deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from logrca.incidents.alerts import notify
from logrca.incidents.catalogue import Catalogue
from logrca.incidents.record import IncidentConflict, now_iso, readable_time
from logrca.incidents.store import IncidentStore

__all__ = ["escalate_due", "escalation_candidates"]


def escalation_candidates(store: IncidentStore, *, now: datetime | None = None) -> list[dict]:
    """Open (unacknowledged) incidents past their deadline that still have a next contact to page."""
    due = store.search(statuses=("open",), query={"range": {"escalation.deadline": {"lte": now_iso(now)}}})
    return [
        i for i in due if i["escalation"]["level"] + 1 < len((i.get("owner") or {}).get("contacts") or [])
    ]


def escalate_due(
    store: IncidentStore, catalogue: Catalogue, *, now: datetime | None = None, **send_options
) -> list[str]:
    """Escalate open incidents whose acknowledgement deadline has passed to the next contact.

    Each escalation raises ``escalation.level`` by one (up to the last contact), sets a new deadline
    and sends ``escalated-<level>``. An incident acknowledged meanwhile is left alone (the versioned
    update refuses the stale write). Returns the escalated incident ids.
    """
    now = now or datetime.now(UTC)
    escalated = []
    for incident in escalation_candidates(store, now=now):
        contacts = (incident.get("owner") or {}).get("contacts") or []
        level = incident["escalation"]["level"]
        minutes = catalogue.deadline_minutes((incident.get("owner") or {}).get("service"))

        def change(document: dict, level: int = level, minutes: int = minutes) -> None:
            if document["status"] != "open" or document["escalation"]["level"] != level:
                raise IncidentConflict(f"incident {document['incident_id']} changed meanwhile")
            document["escalation"] = {
                "level": level + 1,
                "deadline": now_iso(now + timedelta(minutes=minutes)),
                "deadline_minutes": minutes,
            }
            document["status_history"].append(
                {
                    "at": now_iso(now),
                    "by": "logrca",
                    "event": "escalate",
                    "note": f"not acknowledged by {readable_time(incident['escalation']['deadline'])}; "  # noqa: B023
                    f"paging {contacts[level + 1]['name']}",  # noqa: B023
                }
            )

        try:
            store.update(incident["incident_id"], change)
        except IncidentConflict:
            continue
        notify(store, incident["incident_id"], catalogue, f"escalated-{level + 1}", **send_options)
        escalated.append(incident["incident_id"])
    return escalated
