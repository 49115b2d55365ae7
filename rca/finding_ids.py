"""What names a finding and its incident: the window's finding id (re-runs of a window name it again) and
the incident id a finding is filed under. :mod:`logrca.rca.report` builds the finding with them."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

__all__ = ["finding_id", "incident_id_for", "iso", "window_identity"]


def finding_id(system: str, window: tuple[datetime, datetime]) -> str:
    """Deterministic id of the finding for ``system`` and the analysed window (re-runs overwrite it)."""
    key = f"{system}|{window[0].astimezone(UTC).isoformat()}|{window[1].astimezone(UTC).isoformat()}"
    return hashlib.sha1(key.encode()).hexdigest()[:20]


def window_identity(
    system: str, window: tuple[datetime, datetime], *, named_until: datetime | None = None
) -> dict:
    """``finding_id`` and ``analysis_window`` of the analysed window: what a finding of it names, and what
    the incidents step knows of a window that holds none (a re-run finding nothing there withdraws what an
    earlier run filed for it, :mod:`logrca.incidents.refile`).

    ``named_until``: the end the id names, the partition's. A window from an alert ends at the
    partition's last line, which a late file moves; its re-run must still name the finding of the
    first run, or the two would be two incidents. Without an alert the window is the partition and
    the id is the same either way.
    """
    named = (window[0], named_until or window[1])
    return {"finding_id": finding_id(system, named), "analysis_window": [iso(window[0]), iso(window[1])]}


def iso(moment) -> str | None:
    """``moment`` as the finding writes times: ISO 8601 in UTC with ``Z`` (None stays None)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def incident_id_for(finding: dict) -> tuple[str, str]:
    """The incident id a finding is filed under, and its fingerprint (system, root service, affected
    services, evidence templates); :func:`logrca.incidents.record.build_incident` uses the same."""
    top = finding["ranking"][0]
    evidence = [e for r in finding["ranking"] for e in r.get("evidence") or []]
    services = sorted(set(finding.get("affected_services") or [r["service"] for r in finding["ranking"]]))
    template_ids = sorted({int(e["template_id"]) for e in evidence if e.get("template_id") is not None})
    fingerprint = hashlib.sha1(
        f"{finding.get('system') or 'default'}|{top['service']}|{','.join(services)}|{template_ids}".encode()
    ).hexdigest()[:12]
    # The first anomalous line's time; a finding carried by spans or metrics alone has none, and then
    # the analysed window's start names the incident.
    when = (
        finding.get("window_start")
        or (finding.get("analysis_window") or [None])[0]
        or finding.get("detected_at")
    )
    if not when:
        return f"INC-{fingerprint}", fingerprint
    start = datetime.fromisoformat(str(when).replace("Z", "+00:00"))
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    return f"INC-{start.astimezone(UTC):%Y%m%d%H%M}-{fingerprint}", fingerprint
