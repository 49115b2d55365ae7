"""Re-running a partition whose analysis changed (a thin baseline filled in, a late file): the incident
store follows the new analysis without losing what people did. Real Elasticsearch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from finding_factory import START, make_finding

from logrca.incidents.catalogue import Catalogue
from logrca.incidents.escalation import escalation_candidates
from logrca.incidents.filing import process_finding
from logrca.incidents.record import build_incident
from logrca.incidents.review import weekly_review
from logrca.incidents.store import IncidentStore

pytestmark = pytest.mark.es

#: What rca.finding_ids.finding_id gives one window, whatever it finds.
WINDOW_FINDING = "shop-window-2031030310"
#: What the incidents step knows of a window analysed again that holds no incident
#: (rca.finding_ids.window_identity).
NO_INCIDENT = {
    "finding_id": WINDOW_FINDING,
    "analysis_window": ["2031-03-03T10:00:00Z", "2031-03-03T11:00:00Z"],
}


def _finding(service: str, templates: tuple[tuple[int, str], ...], others=("gateway",)) -> dict:
    finding = make_finding(hour=0, service=service, others=others, templates=templates)
    finding["finding_id"] = WINDOW_FINDING
    return finding


def _thin_and_full():
    """The window analysed on a thin baseline (wrong root cause), then again on its full baseline."""
    thin = _finding(
        "checkout", ((9, "Timeout calling payments after <*> ms"),), others=("gateway", "payments")
    )
    full = _finding("payments", ((7, "authorized <*> in <*> ms"),), others=("checkout", "gateway"))
    return build_incident(thin), build_incident(full)


def test_a_rerun_with_a_new_analysis_replaces_an_incident_nobody_took(es_client, index_prefix):
    store = IncidentStore(es_client, index_prefix)
    thin, full = _thin_and_full()
    wrong_id, outcome = store.file(thin)
    assert outcome == "created"

    right_id, outcome = store.file(full)
    assert right_id == full["incident_id"] != wrong_id  # the id the report names exists
    assert outcome == "replaced"
    new, _ = store.get(right_id)
    assert new["status"] == "open" and new["supersedes"] == [wrong_id]
    old, _ = store.get(wrong_id)
    assert old["superseded_by"] == right_id and old["finding_ids"] == []
    assert old["status"] == "archived"  # nobody had taken it: out of the list, no more escalation
    assert [entry["event"] for entry in old["status_history"]][-2:] == ["superseded", "status"]
    assert "payments" in old["status_history"][-2]["note"]

    assert store.file(full) == (right_id, "unchanged")  # the same re-run again changes nothing
    review = weekly_review(store.search(size=None), week_end=START + timedelta(days=1))
    assert review.stats["incidents_week"] == 1  # the replaced analysis is no incident of its own
    assert review.stats["recurring_causes"] == 0 and review.stats["recurring_templates"] == 0


def test_a_rerun_with_a_new_analysis_keeps_what_a_person_did_and_links_both(es_client, index_prefix):
    store = IncidentStore(es_client, index_prefix)
    thin, full = _thin_and_full()
    wrong_id, _ = store.file(thin)
    store.transition(wrong_id, "acknowledged", by="ana", note="looking at checkout")

    right_id, outcome = store.file(full)
    assert outcome == "replaced" and right_id != wrong_id
    old, _ = store.get(wrong_id)
    assert old["status"] == "acknowledged" and old["assignee"]["name"] == "ana"  # her work is hers to move
    assert old["superseded_by"] == right_id
    assert [entry["event"] for entry in old["status_history"]] == ["status", "status", "superseded"]
    assert store.get(right_id)[0]["supersedes"] == [wrong_id]


def test_a_rerun_of_a_window_folded_into_an_earlier_incident_changes_nothing(es_client, index_prefix):
    store = IncidentStore(es_client, index_prefix)
    first_id, _ = store.file(build_incident(make_finding(hour=0)))
    assert store.file(build_incident(make_finding(hour=1))) == (first_id, "updated")
    assert store.file(build_incident(make_finding(hour=1))) == (first_id, "unchanged")
    stored, _ = store.get(first_id)
    assert stored["occurrences"] == 2 and "superseded_by" not in stored
    assert len(store.search()) == 1


def test_a_rerun_naming_the_same_root_cause_changes_nothing_and_pages_nobody(es_client, index_prefix):
    """A late line for a finished hour re-runs it; evidence that moved a little (one more affected
    service, another template) is the same conclusion: no second incident, no second page."""
    store = IncidentStore(es_client, index_prefix)
    first = build_incident(_finding("payments", ((7, "authorized <*> in <*> ms"),), others=("checkout",)))
    first_id, _ = store.file(first)
    moved = build_incident(
        _finding("payments", ((8, "declined <*> after <*> ms"),), others=("checkout", "gateway"))
    )
    assert moved["incident_id"] != first_id
    assert store.file(moved) == (first_id, "unchanged")
    assert len(store.search(size=None)) == 1 and "superseded_by" not in store.get(first_id)[0]


def _catalogue() -> Catalogue:
    """Checkout's owner with two contacts (escalation has someone to page next); no channel is reached."""
    contacts = [{"name": "Cy", "email": "cy@example.com"}, {"name": "Di", "email": "di@example.com"}]
    channels = [{"kind": "email", "to": ["checkout-team@example.com"]}]
    return Catalogue.model_validate(
        {"services": {"checkout": {"owner": "checkout-team", "contacts": contacts, "channels": channels}}}
    )


def test_a_rerun_finding_no_incident_withdraws_the_incident_nobody_took(es_client, index_prefix):
    """Analysed on a thin baseline the window named a root cause; on its full baseline it holds none. The
    earlier incident is withdrawn: archived, no escalation, its pending alerts given up, not in the review."""
    store, catalogue = IncidentStore(es_client, index_prefix), _catalogue()
    thin = build_incident(
        _finding("checkout", ((9, "Timeout calling payments after <*> ms"),)), catalogue=catalogue
    )
    thin["pending_deliveries"] = [
        {
            "event": "opened",
            "channel": "email",
            "target": "checkout-team@example.com",
            "contact": None,
            "error": "SMTPServerDisconnected",
            "total_attempts": 3,
            "rounds": 1,
            "next_attempt_at": "2031-03-03T10:20:00Z",
        }
    ]
    wrong_id, _ = store.file(thin)
    later = datetime.now(UTC) + timedelta(days=1)
    assert [i["incident_id"] for i in escalation_candidates(store, now=later)] == [wrong_id]

    summary = process_finding(store, None, catalogue=catalogue, window=NO_INCIDENT)
    assert summary["incident_id"] is None and summary["outcome"] is None
    assert summary["withdrawn"] == wrong_id and summary["delivered"] == summary["failed"] == 0
    old, _ = store.get(wrong_id)
    assert old["status"] == "archived" and old["finding_ids"] == [] and old["withdrawn_at"]
    assert [entry["event"] for entry in old["status_history"]][-2:] == ["withdrawn", "status"]
    assert "10:00:00Z .. 2031-03-03T11:00:00Z found no incident" in old["status_history"][-2]["note"]
    assert old["pending_deliveries"] == [] and old["failed_deliveries"][0]["reason"].startswith(
        "incident archived"
    )  # given up in this run, not sent: nobody is paged for it
    assert escalation_candidates(store, now=later) == []
    review = weekly_review(store.search(size=None), week_end=START + timedelta(days=1))
    assert review.stats["incidents_week"] == 0 and review.stats["follow_ups"] == 0

    again = process_finding(store, None, catalogue=catalogue, window=NO_INCIDENT)  # the same re-run again
    assert (
        again.get("withdrawn") is None and store.get(wrong_id)[0]["status_history"] == old["status_history"]
    )


def test_a_rerun_finding_no_incident_leaves_what_a_person_did(es_client, index_prefix):
    store = IncidentStore(es_client, index_prefix)
    thin, _ = _thin_and_full()
    wrong_id, _ = store.file(thin)
    store.transition(wrong_id, "acknowledged", by="ana", note="looking at checkout")

    assert store.withdraw(NO_INCIDENT) == [(wrong_id, True)]
    old, _ = store.get(wrong_id)
    assert old["status"] == "acknowledged" and old["assignee"]["name"] == "ana"  # hers to move
    assert old["finding_ids"] == [] and old["withdrawn_at"]
    assert [entry["event"] for entry in old["status_history"]] == ["status", "status", "withdrawn"]
    review = weekly_review(store.search(size=None), week_end=START + timedelta(days=1))
    assert review.stats["incidents_week"] == 0 and review.stats["follow_ups"] == 1  # hers still
    assert "withdrawn (a re-run found no incident): archive it when done" in review.markdown


def test_a_rerun_finding_no_incident_in_one_window_of_a_longer_incident_keeps_it(es_client, index_prefix):
    """An incident found in two hours, one of them re-run and nothing found: the other hour holds it up."""
    store = IncidentStore(es_client, index_prefix)
    first_id, _ = store.file(build_incident(make_finding(hour=0)))
    second = make_finding(hour=1)
    assert store.file(build_incident(second)) == (first_id, "updated")
    window = {"finding_id": second["finding_id"], "analysis_window": NO_INCIDENT["analysis_window"]}

    summary = process_finding(store, None, catalogue=None, window=window)
    assert summary["narrowed"] == first_id and summary.get("withdrawn") is None
    stored, _ = store.get(first_id)
    assert stored["status"] == "open" and stored["finding_ids"] == [make_finding(hour=0)["finding_id"]]
    assert "withdrawn_at" not in stored and stored["status_history"][-1]["event"] == "withdrawn"
    review = weekly_review(store.search(size=None), week_end=START + timedelta(days=1))
    assert review.stats["incidents_week"] == 1


def test_an_analysis_a_later_rerun_comes_back_to_reopens_its_incident(es_client, index_prefix):
    """Thin baseline, then full, then thin again (files came and went): the incident of the analysis
    that stands is open and pages again; it was not folded into its archived record and lost."""
    store = IncidentStore(es_client, index_prefix)
    thin, full = _thin_and_full()
    wrong_id, _ = store.file(thin)
    right_id, _ = store.file(full)
    assert store.get(wrong_id)[0]["status"] == "archived"

    again_id, outcome = store.file(_thin_and_full()[0])
    assert again_id == wrong_id and outcome == "replaced"
    back, _ = store.get(wrong_id)
    assert back["status"] == "open" and "superseded_by" not in back and not back.get("archived_at")
    assert back["finding_ids"] == [WINDOW_FINDING] and "opened" not in back["notified_events"]
    assert [entry["event"] for entry in back["status_history"]][-2:] == ["status", "refound"]
    assert back["status_history"][-2]["to"] == "open"
    gone, _ = store.get(right_id)
    assert gone["superseded_by"] == wrong_id and gone["status"] == "archived"


def test_a_rerun_that_supersedes_an_incident_gives_up_its_pending_alert_instead_of_sending_it(
    es_client, index_prefix
):
    """Filing comes before the retries: the earlier analysis' alert, due in this run, is not sent."""
    store, catalogue = IncidentStore(es_client, index_prefix), _catalogue()
    thin = build_incident(
        _finding("checkout", ((9, "Timeout calling payments after <*> ms"),)), catalogue=catalogue
    )
    due = {"channel": "email", "target": "checkout-team@example.com", "contact": None, "error": "refused"}
    thin["pending_deliveries"] = [
        due | {"event": "opened", "total_attempts": 3, "rounds": 1, "next_attempt_at": "2026-01-01T00:00:00Z"}
    ]
    wrong_id, _ = store.file(thin)
    full = _finding("payments", ((7, "authorized <*> in <*> ms"),), others=("checkout", "gateway"))
    summary = process_finding(store, full, catalogue=catalogue, attempts=1, base_delay=0.01)
    assert summary["outcome"] == "replaced" and summary["superseded"] == wrong_id
    old, _ = store.get(wrong_id)
    assert old["status"] == "archived" and old["pending_deliveries"] == []
    assert old["failed_deliveries"][0]["total_attempts"] == 3  # not tried again: given up
    assert old["failed_deliveries"][0]["reason"].startswith("incident archived")
