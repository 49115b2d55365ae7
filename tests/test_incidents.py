"""Incident records in the real Elasticsearch: building, category rules, dedupe, lifecycle, concurrency, confirm."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from finding_factory import RUNBOOKS, make_finding

from logrca import PROJECT_ROOT
from logrca.incidents.catalogue import load_catalogue
from logrca.incidents.record import IncidentConflict, IncidentError, build_incident, categorize
from logrca.incidents.store import IncidentStore

CATALOGUE = load_catalogue(PROJECT_ROOT / "examples" / "shop" / "catalogue.yaml")
OPENED = datetime(2031, 3, 3, 11, 30, tzinfo=UTC)


def test_record_carries_every_standard_field():
    incident = build_incident(make_finding(), catalogue=CATALOGUE, runbooks=RUNBOOKS, now=OPENED)
    assert incident["status"] == "open"
    assert incident["window_start"].startswith("2031-03-03T10:00")
    assert incident["first_anomalous_at"].startswith("2031-03-03T10:12")
    assert incident["impact"]["services"] == ["checkout", "gateway", "payments"]
    assert incident["impact"]["errors_window"] == 120 and incident["impact"]["errors_baseline"] == 3
    assert incident["reproduction"]["trace_ids"] == ["trace-a1", "trace-b2"]
    assert "10.0.0.7:5432" in incident["reproduction"]["samples"][0]["sample"]
    assert incident["initial_cause"]["service"] == "payments"
    assert incident["initial_cause"]["evidence"][0]["template_id"] == 7
    assert incident["suggested_actions"][0]["steps"] == [
        "Check the db pod is up",
        "Restart the connection pool",
    ]
    assert [a["name"] for a in incident["actions"]] == ["restart-pool", "compensate"]
    assert incident["owner"]["team"] == "payments-team"
    assert [c["name"] for c in incident["owner"]["contacts"]][0] == "Pat Payments"
    assert incident["escalation"]["deadline"].startswith("2031-03-03T11:40")  # payments: 10 minutes
    assert incident["category"] == "dependency_failure" and incident["category_source"] == "rule"
    assert incident["status_history"][0]["to"] == "open"
    again = build_incident(make_finding(), catalogue=CATALOGUE, runbooks=RUNBOOKS, now=OPENED)
    assert again["incident_id"] == incident["incident_id"]


@pytest.mark.parametrize(
    ("body", "steps"),
    [
        # a step wrapped over two source lines is one step; bullets beside numbered steps are context
        (
            "Symptoms:\n\n- spans: slow on its own (its self time, not the\n  wire)\n\n"
            "1. Confirm the CPU: `kubectl top pod` and the throttling\n   counter.\n"
            "2. Scale out.\n   - a nested note\n",
            ["Confirm the CPU: `kubectl top pod` and the throttling counter.", "Scale out."],
        ),
        (
            "- Check the pool\n- Restart it when\nit is stuck\n",
            ["Check the pool", "Restart it when it is stuck"],
        ),
        ("No list here, only prose.", []),
    ],
)
def test_runbook_steps_are_whole_list_items(body, steps):
    runbooks = [dict(RUNBOOKS[0], body=body)]
    incident = build_incident(make_finding(), catalogue=CATALOGUE, runbooks=runbooks, now=OPENED)
    assert incident["suggested_actions"][0]["steps"] == steps


def test_a_long_title_is_shortened_between_words():
    template = "payment call for order <*> timed out after <*> ms waiting for " + "the provider " * 12
    incident = build_incident(make_finding(templates=((7, template),)), runbooks=RUNBOOKS, now=OPENED)
    title = incident["title"]
    kept = title.removeprefix("payments: error_burst ")
    assert kept.endswith("…") and len(kept) <= 100
    assert template.startswith(kept[:-1]) and template[len(kept) - 1] == " "  # whole words only


def test_a_title_without_a_log_event_says_the_strongest_signal_in_words():
    """A suspect found by its spans or metrics alone: the title is what deviated, not "anomaly trace ... (score 43.5)"."""
    finding = make_finding()
    finding["ranking"][0]["evidence"] = []  # no log event of its own
    finding["ranking"][0]["explanation"] = (
        "metric cpu (score 2.0): 91% vs its baseline median 40%; "
        "trace span_self_time (score 43.5): 975/1780 requests spent longer inside than baseline p99"
    )
    incident = build_incident(finding, runbooks=RUNBOOKS, now=OPENED)
    assert (
        incident["title"]
        == "payments: span_self_time 975/1780 requests spent longer inside than baseline p99"
    )


@pytest.mark.parametrize(
    ("template", "category"),
    [
        ("java.lang.OutOfMemoryError: Java heap space", "resource_exhaustion"),
        ("NoSuchMethodError after upgrade to <*>", "upgrade_compatibility"),
        ("malformed JSON in request body <*>", "bad_input"),
        ("permission denied writing <*>", "operation_error"),
        ("upstream timed out after <*> ms", "dependency_failure"),
        ("NullPointerException at OrderService.java:<*>", "process_defect"),
        ("all quiet on <*>", "process_defect"),
    ],
)
def test_category_rules(template, category):
    finding = make_finding(templates=((1, template),), others=())
    assert categorize(finding)[0] == category


def test_catalogue_and_runbook_categories_come_before_built_in_rules():
    finding = make_finding(templates=((1, "connection pool exhausted, refused <*>"),))
    assert categorize(finding, catalogue=CATALOGUE)[:2] == ("resource_exhaustion", "catalogue")
    runbook = dict(RUNBOOKS[0], category="Operation error")
    assert categorize(make_finding(), runbooks=[runbook])[:2] == ("operation_error", "runbook")
    unknown = dict(RUNBOOKS[0], category="gremlins")
    assert categorize(make_finding(), runbooks=[unknown])[:2] == ("dependency_failure", "rule")


def test_finding_without_ranking_or_with_bad_actions_is_refused():
    finding = make_finding()
    finding["ranking"] = []
    with pytest.raises(IncidentError, match="ranking"):
        build_incident(finding)
    broken = [dict(RUNBOOKS[0], actions=[{"name": "x", "kind": "command"}])]
    with pytest.raises(IncidentError, match=r"actions\.0"):
        build_incident(make_finding(), runbooks=broken)


@pytest.mark.es
def test_duplicate_detection_updates_the_open_incident(es_client, index_prefix):
    store = IncidentStore(es_client, index_prefix)
    first = build_incident(make_finding(hour=0), catalogue=CATALOGUE, now=OPENED)
    incident_id, outcome = store.file(first)
    assert outcome == "created"
    # the same partition run again: nothing new
    assert store.file(build_incident(make_finding(hour=0), catalogue=CATALOGUE)) == (incident_id, "unchanged")
    # the next window finds the same services and templates: the open record grows, no duplicate
    assert store.file(build_incident(make_finding(hour=1), catalogue=CATALOGUE)) == (incident_id, "updated")
    stored, _ = store.get(incident_id)
    assert stored["occurrences"] == 2
    assert stored["window_end"].startswith("2031-03-03T12:00")
    assert len(store.search()) == 1
    # a different root cause in the same window is a different incident
    other_id, outcome = store.file(
        build_incident(make_finding(hour=1, service="inventory"), catalogue=CATALOGUE)
    )
    assert outcome == "created" and other_id != incident_id
    # a window that does not touch the first one is a new incident, as is a recurrence after resolution
    assert store.file(build_incident(make_finding(hour=5), catalogue=CATALOGUE))[1] == "created"
    store.transition(incident_id, "resolved", by="ana")
    assert store.file(build_incident(make_finding(hour=2), catalogue=CATALOGUE))[1] == "created"
    assert len(store.search()) == 4


@pytest.mark.es
def test_lifecycle_records_who_and_when_and_refuses_going_back(es_client, index_prefix):
    store = IncidentStore(es_client, index_prefix)
    incident_id, _ = store.file(build_incident(make_finding(), catalogue=CATALOGUE))
    for status, who in (
        ("acknowledged", "ana"),
        ("mitigated", "bo"),
        ("resolved", "ana"),
        ("reviewed", "cy"),
    ):
        store.transition(incident_id, status, by=who, note=f"{status} note")
    stored, _ = store.get(incident_id)
    steps = [(h["from"], h["to"], h["by"]) for h in stored["status_history"] if h["event"] == "status"]
    assert steps[1:] == [
        ("open", "acknowledged", "ana"),
        ("acknowledged", "mitigated", "bo"),
        ("mitigated", "resolved", "ana"),
        ("resolved", "reviewed", "cy"),
    ]
    assert stored["resolved_at"] and stored["status_history"][-1]["note"] == "reviewed note"
    with pytest.raises(IncidentError, match="cannot become 'acknowledged'"):
        store.transition(incident_id, "acknowledged", by="ana")
    with pytest.raises(IncidentError, match="no incident"):
        store.transition("INC-missing", "acknowledged", by="ana")


@pytest.mark.es
def test_assign_then_archive(es_client, index_prefix):
    store = IncidentStore(es_client, index_prefix)
    incident_id, _ = store.file(build_incident(make_finding(), catalogue=CATALOGUE))
    assert store.get(incident_id)[0].get("assignee") is None
    store.transition(incident_id, "acknowledged", by="ana")  # whoever acks an unassigned incident has it
    assert store.get(incident_id)[0]["assignee"]["name"] == "ana"
    _, version = store.get(incident_id)
    store.assign(incident_id, "bo", by="ana", team="db-team", note="pool exhausted, db side", version=version)
    with pytest.raises(IncidentConflict):
        store.assign(incident_id, "cy", by="dee", version=version)  # stale view: refused
    stored, _ = store.get(incident_id)
    assert stored["assignee"]["name"] == "bo" and stored["owner"]["team"] == "db-team"
    assign = [h for h in stored["status_history"] if h["event"] == "assign"]
    assert [(h["from"], h["to"], h["by"], h["team_from"], h["team"]) for h in assign] == [
        ("ana", "bo", "ana", "payments-team", "db-team")
    ]
    store.transition(incident_id, "resolved", by="bo")
    assert store.get(incident_id)[0]["assignee"]["name"] == "bo"  # later steps keep the assignee
    other_id, _ = store.file(build_incident(make_finding(hour=5, service="inventory"), catalogue=CATALOGUE))
    store.transition(incident_id, "archived", by="bo", note="reviewed in the weekly")
    assert store.get(incident_id)[0]["archived_at"]
    with pytest.raises(IncidentError, match="archived; it can no longer be assigned"):
        store.assign(incident_id, "cy", by="ana")
    with pytest.raises(IncidentError, match="cannot become 'reviewed'"):
        store.transition(incident_id, "reviewed", by="ana")
    with pytest.raises(IncidentError, match="name is empty"):
        store.assign(other_id, " ", by="ana")
    from logrca.incidents.record import CURRENT_STATUSES

    assert [i["incident_id"] for i in store.search(statuses=CURRENT_STATUSES)] == [other_id]
    assert {i["incident_id"] for i in store.search()} == {incident_id, other_id}
    # archived records stay searchable by their fields
    assert [i["incident_id"] for i in store.search(query={"term": {"assignee.name": "bo"}})] == [incident_id]


@pytest.mark.es
def test_index_of_an_older_version_gets_the_new_fields_mapped(es_client, index_prefix):
    from logrca.incidents.mapping import MAPPING

    store = IncidentStore(es_client, index_prefix)
    old = {
        name: spec for name, spec in MAPPING["properties"].items() if name not in ("assignee", "archived_at")
    }
    es_client.indices.create(index=store.index, mappings={"dynamic": False, "properties": old})
    incident_id, _ = store.file(build_incident(make_finding(), catalogue=CATALOGUE))
    mapped = es_client.indices.get_mapping(index=store.index)[store.index]["mappings"]["properties"]
    assert {"assignee", "archived_at"} <= set(mapped)
    store.assign(incident_id, "ana", by="bo")
    assert [i["incident_id"] for i in store.search(query={"term": {"assignee.name": "ana"}})] == [incident_id]


@pytest.mark.es
def test_conflicting_update_is_refused_and_loses_nothing(es_client, index_prefix):
    store = IncidentStore(es_client, index_prefix)
    incident_id, _ = store.file(build_incident(make_finding(), catalogue=CATALOGUE))
    _, version_seen_by_both = store.get(incident_id)
    store.transition(incident_id, "acknowledged", by="ana", note="on it", version=version_seen_by_both)
    with pytest.raises(IncidentConflict, match=r"changed by someone else.*'acknowledged'.*by ana"):
        store.transition(incident_id, "mitigated", by="bo", note="stale view", version=version_seen_by_both)
    stored, _ = store.get(incident_id)
    assert stored["status"] == "acknowledged"
    assert [h.get("note") for h in stored["status_history"]][-1] == "on it"

    # a write that races between read and write is refused by Elasticsearch itself
    def racing_change(document):
        store.client.update(
            index=store.index, id=incident_id, doc={"title": "edited meanwhile"}, refresh="wait_for"
        )
        document["status"] = "mitigated"

    with pytest.raises(IncidentConflict):
        store.update(incident_id, racing_change)
    stored, _ = store.get(incident_id)
    assert stored["title"] == "edited meanwhile" and stored["status"] == "acknowledged"


@pytest.mark.es
def test_confirm_and_operator_category(es_client, index_prefix):
    store = IncidentStore(es_client, index_prefix)
    incident_id, _ = store.file(build_incident(make_finding(), catalogue=CATALOGUE))
    store.confirm(incident_id, "checkout", by="ana", note="bad deploy of checkout")
    store.set_category(incident_id, "upgrade_compatibility", by="ana")
    stored, _ = store.get(incident_id)
    assert stored["confirmed_cause"]["service"] == "checkout"
    assert stored["confirmed_cause"]["rank_in_ranking"] == 2
    assert (stored["category"], stored["category_source"]) == ("upgrade_compatibility", "operator")
    with pytest.raises(IncidentError, match="unknown category"):
        store.set_category(incident_id, "gremlins", by="ana")


@pytest.mark.es
def test_cli_lifecycle_conflict_confirm_and_actions(es_url, es_client, index_prefix, tmp_path, monkeypatch):
    import sys

    from finding_factory import RUNBOOKS, write_runbooks
    from typer.testing import CliRunner

    from logrca.cli import app

    runbooks = [
        dict(
            RUNBOOKS[0],
            actions=RUNBOOKS[0]["actions"]
            + [
                {
                    "name": "fails",
                    "kind": "command",
                    "command": [sys.executable, "-c", "import sys; print('nope {service}'); sys.exit(4)"],
                }
            ],
        )
    ]
    store = IncidentStore(es_client, index_prefix)
    incident_id, _ = store.file(build_incident(make_finding(), catalogue=CATALOGUE, runbooks=runbooks))
    kb = write_runbooks(tmp_path / "kb", runbooks)  # actions run as the runbook on disk declares them
    monkeypatch.setenv("LOGRCA_ES_URL", es_url)
    monkeypatch.setenv("LOGRCA_INDEX_PREFIX", index_prefix)
    monkeypatch.setenv("USER", "cli-user")
    runner = CliRunner()

    def run(*args):
        return runner.invoke(app, ["incident", *args])

    shown = run("show", incident_id, "--json")
    assert shown.exit_code == 0, shown.output
    version = __import__("json").loads(shown.stdout)["_version"]
    assert run("ack", incident_id, "--note", "looking").exit_code == 0
    stale = run("mitigate", incident_id, "--if-version", version, "--as", "bo")
    assert stale.exit_code == 2 and "changed by someone else" in stale.output
    assert f"incident {incident_id} is already acknowledged" in run("ack", incident_id).output
    assert run("resolve", incident_id, "--as", "ana").exit_code == 0
    listed = run("list", "--status", "resolved", "--wide")
    assert (
        incident_id in listed.stdout and "payments-team" in listed.stdout and "cli-user" in listed.stdout
    )  # ack assigned it
    narrow = run("list", "--status", "resolved").stdout  # the default fits 80 columns, with a header
    assert (
        "incident" in narrow and "assignee" in narrow and max(len(line) for line in narrow.splitlines()) <= 80
    )
    assigned = run("assign", incident_id, "dee", "--team", "sre", "--note", "handing over")
    assert assigned.exit_code == 0 and "assigned to dee (team sre) by cli-user" in assigned.stdout
    details = run("show", incident_id).stdout
    assert re.search(r"assignee\s+dee", details) and max(len(line) for line in details.splitlines()) <= 80
    for part in ("Runbooks", "Alert deliveries", "History", "No report stored"):
        assert part in details, part
    # times as people read them (UTC, whole seconds), not stored ISO text with microseconds and offset
    assert "+00:00" not in details and re.search(r"window\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ → ", details)
    assert "unknown status 'closed'" in run("list", "--status", "closed").output
    # actions: dry run by default, run only with --yes, failures recorded
    dry = run("act", incident_id, "restart-pool", "--knowledge-dir", kb)
    assert (
        dry.exit_code == 0
        and "dry run" in dry.stdout
        and "run: echo 'restarting pool of payments for" in dry.stdout
    )
    assert store.get(incident_id)[0]["action_runs"] == []
    done = run("act", incident_id, "restart-pool", "--yes", "--knowledge-dir", kb)
    assert done.exit_code == 0 and "exit status 0" in done.stdout
    failed = run("act", incident_id, "fails", "--yes", "--knowledge-dir", kb)
    assert failed.exit_code == 1 and "nope payments" in failed.stdout and "FAILED" in failed.stdout
    assert run("act", incident_id, "nonexistent", "--knowledge-dir", kb).exit_code == 1
    runs = store.get(incident_id)[0]["action_runs"]
    assert [(r["action"], r["exit_status"], r["by"]) for r in runs] == [
        ("restart-pool", 0, "cli-user"),
        ("fails", 4, "cli-user"),
    ]
    assert runs[1]["output"] == "nope payments\n" and runs[1]["plan"]["command"][0] == sys.executable
    # nothing confirmed yet: said so, not AC@1 0.000
    assert "nothing confirmed yet" in runner.invoke(app, ["eval", "incidents"]).stdout
    # confirm: knowledge-base entry + evaluation
    confirmed = run("confirm", incident_id, "--cause", "payments", "--knowledge-dir", str(tmp_path))
    assert confirmed.exit_code == 0 and "ranked it 1" in confirmed.stdout
    assert (tmp_path / f"{incident_id}.yaml").is_file()
    evaluated = runner.invoke(app, ["eval", "incidents", "--json"])
    assert __import__("json").loads(evaluated.stdout)["AC@1"] == 1.0
    history = [(h["event"], h["by"]) for h in store.get(incident_id)[0]["status_history"]]
    assert (
        ("status", "cli-user") in history
        and ("status", "ana") in history
        and ("confirm", "cli-user") in history
    )
    # archive: out of the default list, still there with --all or --status archived
    assert run("archive", incident_id, "--note", "done").exit_code == 0
    assert incident_id not in run("list").stdout
    assert (
        incident_id in run("list", "--all").stdout
        and incident_id in run("list", "--status", "archived").stdout
    )
    refused = run("assign", incident_id, "eve")
    assert refused.exit_code == 1 and "archived" in refused.output


@pytest.mark.es
def test_the_review_reads_every_incident_past_the_10000_hit_window(es_client, index_prefix):
    """The weekly review, eval incidents and filing's dedupe read all incidents; one search stops at
    Elasticsearch's 10,000-hit window, which would leave the oldest out without a word."""
    from datetime import timedelta

    from elasticsearch.helpers import bulk

    store = IncidentStore(es_client, index_prefix)
    store.ensure_index()
    many = 10_050
    docs = (
        {
            "_index": store.index,
            "_id": f"INC-{n:05d}",
            "_source": {"incident_id": f"INC-{n:05d}", "status": "resolved", "system": "shop",
                        "detected_at": (OPENED - timedelta(minutes=n)).isoformat()},
        }
        for n in range(many)
    )  # fmt: skip
    bulk(es_client, docs, refresh="wait_for")
    every = store.search(size=None)
    assert len(every) == many and every[0]["incident_id"] == "INC-00000"
    assert every[-1]["incident_id"] == f"INC-{many - 1:05d}"  # newest first, the oldest kept
    assert len(store.search()) == 1000  # a listing still takes the newest page only


@pytest.mark.es
def test_list_says_when_it_shows_only_the_newest(es_client, index_prefix, es_url, monkeypatch):
    from typer.testing import CliRunner

    from logrca.cli import app

    store = IncidentStore(es_client, index_prefix)
    for hour in range(3):  # three incidents, hours apart: three records
        store.file(build_incident(make_finding(hour=hour * 5), runbooks=RUNBOOKS, now=OPENED))
    monkeypatch.setenv("LOGRCA_ES_URL", es_url)
    monkeypatch.setenv("LOGRCA_INDEX_PREFIX", index_prefix)
    assert store.count() == 3 and store.count(statuses=("archived",)) == 0
    shown = CliRunner().invoke(app, ["incident", "list", "--size", "2"])
    assert shown.exit_code == 0 and "the newest 2 of 3 incidents (--size for more)" in shown.stdout
    everything = CliRunner().invoke(app, ["incident", "list"])
    assert "3 incidents, newest first" in everything.stdout
    as_json = CliRunner().invoke(app, ["incident", "list", "--size", "1", "--json"])
    assert len(as_json.stdout.splitlines()) == 1 and "the newest 1 of 3" in as_json.stderr
