"""Confirming an incident's root cause: which services it may name, and what an earlier confirmation was."""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterable
from pathlib import Path

from logrca.incidents.record import IncidentError, now_iso

__all__ = ["confirmation_change", "confirmed_line", "deployment_services", "incident_services"]


def incident_services(incident: dict) -> set[str]:
    """Every service the incident record names: its ranking, the affected services, the initial cause and
    its path, the owner's service, the services with impact and with changes."""
    cause = incident.get("initial_cause") or {}
    names = {r.get("service") for r in incident.get("ranking") or []}
    names |= set(incident.get("affected_services") or []) | set(cause.get("path") or [])
    names |= {cause.get("service"), (incident.get("owner") or {}).get("service")}
    names |= {row.get("service") for row in (incident.get("impact") or {}).get("per_service") or []}
    names |= {change.get("service") for change in incident.get("changes") or []}
    return {str(name) for name in names if name}


def deployment_services(topology: Path | None = None, catalogue: Path | None = None) -> set[str]:
    """The services of the deployment: the topology's callers and callees, the catalogue's entries.
    A file that is missing or cannot be read adds none (the incident's own services still count)."""
    from logrca.incidents.catalogue import CatalogueError, load_catalogue
    from logrca.rca.graph import load_topology

    names: set[str] = set()
    with contextlib.suppress(CatalogueError):
        names |= set(load_catalogue(catalogue).services) if catalogue else set()
    try:
        calls = load_topology(topology) if topology else {}
    except ValueError:
        calls = {}
    return names | set(calls) | {callee for callees in calls.values() for callee in callees}


def _check_known(incident: dict, cause: str, known: Iterable[str]) -> None:
    names = incident_services(incident) | set(known)
    if cause in names:
        return
    close = difflib.get_close_matches(cause, sorted(names), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"it knows {', '.join(sorted(names)) or 'none'}"
    raise IncidentError(
        f"incident {incident['incident_id']} knows no service {cause!r}; {hint} (--force confirms it anyway)"
    )


def confirmation_change(
    cause: str, *, by: str, note: str | None, known: Iterable[str] = (), force: bool = False
):
    """The change :meth:`IncidentStore.update` applies to confirm ``cause``: refuses a service the incident
    (or ``known``, the deployment's) does not name unless ``force``; an earlier confirmation it replaces
    is kept as ``confirmed_cause.replaces`` and in the history entry (``from`` → ``to``)."""

    def change(document: dict) -> None:
        if not force:
            _check_known(document, cause, known)
        ranked = [r["service"] for r in document.get("ranking") or []]
        earlier = (document.get("confirmed_cause") or {}).get("service")
        at = now_iso()
        document["confirmed_cause"] = {
            "service": cause,
            "by": by,
            "at": at,
            "note": note,
            "rank_in_ranking": ranked.index(cause) + 1 if cause in ranked else None,
            "replaces": earlier,
        }
        document["status_history"].append(
            {"at": at, "by": by, "event": "confirm", "from": earlier, "to": cause, "note": note}
        )

    return change


def confirmed_line(confirmed: dict) -> str:
    """What ``incident confirm`` says: the cause, where logrca ranked it, and the confirmation it replaces."""
    cause, rank, earlier = confirmed["service"], confirmed.get("rank_in_ranking"), confirmed.get("replaces")
    said = f"root cause {cause} confirmed (logrca ranked it {rank or 'nowhere'})"
    if earlier == cause:
        return f"{said}; it was confirmed as {cause} before"
    return f"{said}; replaces the earlier confirmation ({earlier} → {cause})" if earlier else said
