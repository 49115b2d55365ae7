"""What filing a finding again does to the incidents already stored for it.

A finding's id names its window (``rca.finding_ids.finding_id``: system and window), so a re-run of a
partition files the same finding id again. Three cases (:func:`earlier_filings`):

- the stored incident is this incident (same id), one it was folded into before (it re-finds
  it, :func:`~logrca.incidents.record.same_incident`), or one naming the same root-cause service
  (a late line moved the evidence a little, not the conclusion): nothing changes, nobody is paged
  again;
- an open incident of a neighbouring window is re-found: it is widened (:func:`merge_refound`);
- the re-run names another root cause (its baseline hours ran since, a late file arrived): the
  earlier filing is **superseded** (:func:`supersede`). The finding leaves it, it points to the
  new incident (``superseded_by``), and the new one back (``supersedes``); an earlier incident
  nobody took yet (still ``open``, this finding its only one) is archived, so it neither escalates
  nor counts in the weekly review. One a person already moved keeps its status and assignee: the
  history says what the re-run found, the person decides.

A re-run that finds **no incident** in the window withdraws the incidents holding its finding id the
same way (:func:`supersede` with no incident): the finding leaves them, one it no longer holds up at
all gets ``withdrawn_at`` (left out of the weekly review) and, nobody having taken it, is archived.
"""

from __future__ import annotations

from logrca.incidents.record import cause_service, now_iso, parse_time, same_incident

__all__ = ["earlier_filings", "merge_refound", "refind", "supersede"]


def earlier_filings(filed: list[dict], incident: dict) -> tuple[dict | None, list[dict]]:
    """Of the incidents holding ``incident``'s finding id: the one it still is (or None) and those it no
    longer is (the window's earlier analysis, to supersede)."""
    current = next(
        (
            doc
            for doc in filed
            if doc["incident_id"] == incident["incident_id"]
            or same_incident(doc, incident)
            or cause_service(doc) == cause_service(incident)
        ),
        None,
    )
    stale = [doc for doc in filed if current is None and not doc.get("superseded_by")]
    return current, stale


def supersede(
    document: dict,
    incident: dict | None,
    *,
    by_id: str | None = None,
    at: str | None = None,
    window: dict | None = None,
) -> None:
    """Take the window's finding out of the earlier ``document`` and link it to what the window is now.

    ``incident``: the incident it is now (``by_id``: where it was filed, when it was folded into another
    open incident; default its own id). None: a re-run of ``window`` (``finding_id``, ``analysis_window``:
    :func:`logrca.rca.finding_ids.window_identity`) found no incident there, and ``document`` is **withdrawn**
    (``withdrawn_at`` instead of ``superseded_by``, once no finding holds it up).
    """
    at = at or now_iso()
    if incident is None:
        finding, (start, end) = window["finding_id"], window["analysis_window"]
        event, note, mark = "withdrawn", f"re-run of {start} .. {end} found no incident", ("withdrawn_at", at)
    else:
        by_id, finding = by_id or incident["incident_id"], incident["finding_ids"][0]
        event, mark = "superseded", ("superseded_by", by_id)
        note = (
            f"re-run of {incident['window_start']} .. {incident['window_end']} analysed it again: "
            f"{by_id} (root cause {cause_service(incident)}, was {cause_service(document)})"
        )
    document["finding_ids"] = [f for f in document["finding_ids"] if f != finding]
    document["occurrences"] = max(len(document["finding_ids"]), 1)
    document["status_history"].append({"at": at, "by": "logrca", "event": event, "note": note})
    if document["finding_ids"]:  # other windows still hold it up
        return
    document[mark[0]] = mark[1]
    if document["status"] == "open":
        document["status"], document["archived_at"] = "archived", at
        document["status_history"].append(
            {
                "at": at,
                "by": "logrca",
                "event": "status",
                "from": "open",
                "to": "archived",
                "note": f"superseded by {by_id}" if incident else "withdrawn: a re-run found no incident",
            }
        )


def refind(document: dict, incident: dict) -> None:
    """Fold ``incident`` into its stored record, reviving it when a re-run had superseded or withdrawn it.

    Analyses of one window can come and go (a late file, then its baseline hours): the one that
    stands again gets its record back, ``superseded_by``/``withdrawn_at`` removed, and, when
    ``logrca`` archived it (nobody had taken it), open again with its ``opened`` alert to send anew,
    so the owner learns it is live. One a person moved keeps its status.
    """
    at = now_iso()
    revived = [document.pop(mark, None) for mark in ("superseded_by", "withdrawn_at")]
    if any(revived) and document["status"] == "archived" and document.get("archived_at"):
        archiver = next((h for h in reversed(document["status_history"]) if h.get("to") == "archived"), {})
        if archiver.get("by") == "logrca":
            document["status"], document["archived_at"] = "open", None
            document["notified_events"] = [e for e in document["notified_events"] if e != "opened"]
            document["status_history"].append(
                {
                    "at": at,
                    "by": "logrca",
                    "event": "status",
                    "from": "archived",
                    "to": "open",
                    "note": f"a re-run of {incident['window_start']} .. {incident['window_end']} found it again",
                }
            )
    merge_refound(document, incident)


def merge_refound(document: dict, incident: dict) -> None:
    """Fold a re-finding into the stored incident: widen the window, add the finding, keep the history."""
    if incident["finding_ids"][0] in document["finding_ids"]:
        return
    document["finding_ids"].append(incident["finding_ids"][0])
    document["occurrences"] = len(document["finding_ids"])
    document["window_start"] = min(document["window_start"], incident["window_start"], key=parse_time)
    document["window_end"] = max(document["window_end"], incident["window_end"], key=parse_time)
    if incident.get("first_anomalous_at") and document.get("first_anomalous_at"):
        document["first_anomalous_at"] = min(
            document["first_anomalous_at"], incident["first_anomalous_at"], key=parse_time
        )
    document["template_ids"] = sorted(set(document["template_ids"]) | set(incident["template_ids"]))
    traces = document["reproduction"]["trace_ids"]
    traces += [t for t in incident["reproduction"]["trace_ids"] if t not in traces][
        : max(0, 20 - len(traces))
    ]
    for key in ("errors_window", "lines_window"):
        document["impact"][key] = document["impact"].get(key, 0) + incident["impact"].get(key, 0)
    document["status_history"].append(
        {
            "at": now_iso(),
            "by": "logrca",
            "event": "refound",
            "note": f"found again in {incident['window_start']} .. {incident['window_end']}",
        }
    )
