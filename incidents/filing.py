"""What a pipeline run does with its partition's finding, or with none: the incidents step.

With a finding it files (or folds) the incident and alerts once; with none, a re-run of a window an
earlier run filed an incident for withdraws it (:mod:`logrca.incidents.refile`). Either way the
alerts that failed on earlier runs are retried (:func:`~logrca.incidents.alerts.retry_pending`).
"""

from __future__ import annotations

from logrca.incidents.alerts import notify, retry_pending
from logrca.incidents.catalogue import Catalogue
from logrca.incidents.record import build_incident
from logrca.incidents.store import IncidentStore

__all__ = ["process_finding"]


def process_finding(
    store: IncidentStore,
    finding: dict | None,
    *,
    catalogue: Catalogue | None,
    runbooks: list[dict] = (),
    window: dict | None = None,
    **send_options,
) -> dict:
    """File (or fold) the finding's incident, alert once, retry pending alerts.

    Parameters
    ----------
    window : dict, optional
        The analysed window (``finding_id``, ``analysis_window``:
        :func:`logrca.rca.finding_ids.window_identity`).
        With no finding, the incidents an earlier run filed under its finding id are withdrawn first, so
        this run's retries give up their pending alerts instead of sending them; a finding is filed
        before the retries for the same reason (an incident it supersedes is archived).

    Returns
    -------
    dict
        ``incident_id``, ``outcome`` (None when there is no finding), ``superseded`` (when replaced),
        ``withdrawn`` / ``narrowed`` (no finding: the incidents withdrawn, and those still held up by
        other windows), ``delivered`` / ``failed`` counts of this run's deliveries (new alerts plus
        retries), ``failures`` (those that failed, as :func:`~logrca.incidents.alerts.send` returns
        them: targets redacted) and ``pending`` (undelivered).
    """
    summary: dict = {"incident_id": None, "outcome": None, "delivered": 0, "failed": 0}
    if not finding and window:
        changed = store.withdraw(window)
        summary["withdrawn"] = ", ".join(i for i, gone in changed if gone) or None
        summary["narrowed"] = ", ".join(i for i, gone in changed if not gone) or None
    if finding:  # filed before the retries: an incident it supersedes gives up its alerts, unsent
        incident = build_incident(finding, catalogue=catalogue, runbooks=list(runbooks))
        summary["incident_id"], summary["outcome"] = store.file(incident)
        summary["superseded"] = ", ".join(incident.get("supersedes", [])) or None  # incidents.refile
    # alerts that failed on earlier runs first; this run's own failures wait for the next run
    results: list[dict] = retry_pending(store, catalogue, **send_options) if catalogue is not None else []
    if finding and catalogue is not None:
        results += notify(store, summary["incident_id"], catalogue, **send_options)
    summary["delivered"] = sum(r["ok"] for r in results)
    summary["failures"] = [r for r in results if not r["ok"]]
    summary["failed"] = len(summary["failures"])
    summary["pending"] = sum(
        len(i["pending_deliveries"])
        for i in store.search(query={"exists": {"field": "pending_deliveries.channel"}})
    )
    return summary
