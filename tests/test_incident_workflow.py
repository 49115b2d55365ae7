"""The incident workflow as a user walks it on the CLI, against the real Elasticsearch: filters, confirm,
act, weekly review, times and wording."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from finding_factory import RUNBOOKS, make_finding
from typer.testing import CliRunner

from logrca import PROJECT_ROOT
from logrca.cli import app
from logrca.incidents.catalogue import load_catalogue
from logrca.incidents.record import build_incident
from logrca.incidents.store import IncidentStore

CATALOGUE = load_catalogue(PROJECT_ROOT / "examples" / "shop" / "catalogue.yaml")
OPENED = datetime(2031, 3, 3, 11, 30, tzinfo=UTC)


@pytest.fixture()
def cli(es_url, index_prefix, monkeypatch):
    """``cli("list", "-s", "x")`` runs ``logrca incident list -s x`` on the test's own indices."""
    monkeypatch.setenv("LOGRCA_ES_URL", es_url)
    monkeypatch.setenv("LOGRCA_INDEX_PREFIX", index_prefix)
    monkeypatch.setenv("USER", "cli-user")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["incident", *args])


@pytest.mark.es
def test_service_filter_matches_the_root_cause_not_only_the_affected(es_client, index_prefix, cli):
    finding = make_finding()
    finding["affected_services"] = ["checkout", "gateway"]  # the cause itself shows no errors of its own
    store = IncidentStore(es_client, index_prefix)
    incident_id, _ = store.file(build_incident(finding, catalogue=CATALOGUE, runbooks=RUNBOOKS, now=OPENED))
    for service in ("payments", "checkout"):
        listed = cli("list", "-s", service, "--wide")
        assert listed.exit_code == 0 and incident_id in listed.stdout, (service, listed.output)
    assert "no incidents" in cli("list", "-s", "inventory").output
    assert store.count(service="payments") == 1
    assert "root cause" in cli("list", "--help").stdout


@pytest.mark.es
def test_confirm_refuses_an_unknown_service_and_says_what_it_replaces(es_client, index_prefix, cli, tmp_path):
    store = IncidentStore(es_client, index_prefix)
    incident_id, _ = store.file(
        build_incident(make_finding(), catalogue=CATALOGUE, runbooks=RUNBOOKS, now=OPENED)
    )
    kb = str(tmp_path / "kb")
    typo = cli("confirm", incident_id, "--cause", "paymnets", "--knowledge-dir", kb)
    assert typo.exit_code == 1 and "no service 'paymnets'" in typo.output and "payments" in typo.output
    assert len(typo.output.strip().splitlines()) == 1
    assert not (tmp_path / "kb").exists() and store.get(incident_id)[0]["confirmed_cause"] is None
    # a service of the deployment (topology, catalogue) the incident does not name is fine
    assert cli("confirm", incident_id, "--cause", "inventory", "--knowledge-dir", kb).exit_code == 0
    again = cli("confirm", incident_id, "--cause", "checkout", "--knowledge-dir", kb)
    assert again.exit_code == 0 and "replaces the earlier confirmation (inventory → checkout)" in again.stdout
    forced = cli("confirm", incident_id, "--cause", "nosuchsvc", "--force", "--knowledge-dir", kb)
    assert forced.exit_code == 0 and "(checkout → nosuchsvc)" in forced.stdout
    history = [(h.get("from"), h.get("to")) for h in store.get(incident_id)[0]["status_history"]]
    assert history[-3:] == [(None, "inventory"), ("inventory", "checkout"), ("checkout", "nosuchsvc")]


@pytest.mark.es
def test_act_runs_the_action_as_the_runbook_declares_it_now(es_client, index_prefix, cli, tmp_path):
    import copy

    from finding_factory import write_runbooks

    runbooks = copy.deepcopy(RUNBOOKS)
    runbooks[0]["actions"][0]["description"] = (
        "Restart the pool of {service}: " + "drain, then reconnect " * 5
    )
    store = IncidentStore(es_client, index_prefix)
    incident_id, _ = store.file(
        build_incident(make_finding(), catalogue=CATALOGUE, runbooks=runbooks, now=OPENED)
    )
    runbooks[0]["actions"][0]["command"] = ["no-such-prog-xyz", "{service}"]  # fixed after filing
    del runbooks[0]["actions"][1]  # and 'compensate' removed from the runbook
    kb = write_runbooks(tmp_path / "kb", runbooks)
    dry = cli("act", incident_id, "restart-pool", "--knowledge-dir", kb)
    assert dry.exit_code == 0 and "run: no-such-prog-xyz payments" in dry.stdout and "echo" not in dry.stdout
    ran = cli("act", incident_id, "restart-pool", "--yes", "--knowledge-dir", kb)
    assert ran.exit_code == 1 and "command not found: no-such-prog-xyz" in ran.stdout
    removed = cli("act", incident_id, "compensate", "--yes", "--knowledge-dir", kb)
    assert (
        removed.exit_code == 1
        and "action 'compensate' is no longer in runbook 'db-connections'" in removed.output
    )
    gone = cli("act", incident_id, "restart-pool", "--knowledge-dir", str(tmp_path / "empty"))
    assert (
        gone.exit_code == 1
        and "runbook 'db-connections' of action 'restart-pool' is no longer in" in gone.output
    )
    assert [r["action"] for r in store.get(incident_id)[0]["action_runs"]] == ["restart-pool"]
    listing = cli("act", incident_id, "--knowledge-dir", kb)
    assert "restart-pool [db-connections]" in listing.stdout and "compensate" not in listing.stdout
    assert max(len(line) for line in listing.stdout.splitlines()) <= 80


@pytest.mark.es
def test_weekly_writes_into_a_folder_it_creates(es_client, index_prefix, cli, tmp_path):
    IncidentStore(es_client, index_prefix).file(build_incident(make_finding(), runbooks=RUNBOOKS, now=OPENED))
    out = tmp_path / "not" / "yet" / "review.md"
    written = cli("weekly", "--out", str(out), "--weeks", "1")
    assert written.exit_code == 0, written.output
    assert out.is_file() and out.with_suffix(".png").is_file()
    assert (
        len([line for line in out.read_text().splitlines() if line.startswith("| 20")]) == 1
    )  # one trend week


@pytest.mark.es
def test_times_read_as_people_read_them_and_the_deadline_only_while_it_can_fire(es_client, index_prefix, cli):
    import re
    from datetime import timedelta

    from logrca.incidents.escalation import escalate_due

    store = IncidentStore(es_client, index_prefix)
    opened = datetime.now(UTC) - timedelta(hours=1)
    incident_id, _ = store.file(
        build_incident(make_finding(), catalogue=CATALOGUE, runbooks=RUNBOOKS, now=opened)
    )
    assert escalate_due(store, CATALOGUE, attempts=1, base_delay=0.01) == [incident_id]
    note = store.get(incident_id)[0]["status_history"][-1]["note"]
    assert re.match(r"not acknowledged by \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ; paging ", note), note
    assert re.search(
        r"escalation\s+level 1 \(deadline \d{4}-", cli("show", incident_id, "--no-report").stdout
    )
    listed = cli("list").stdout
    assert "opened" in listed and f"{opened:%Y-%m-%d}" in listed and max(map(len, listed.splitlines())) <= 80
    assert f"{opened:%Y-%m-%d %H:%M:%SZ}" in cli("list", "--wide").stdout
    acked = cli("ack", incident_id)
    assert re.fullmatch(
        rf"{incident_id} is now acknowledged \(cli-user, \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\dZ\)\n", acked.stdout
    )
    shown = cli("show", incident_id, "--no-report").stdout
    assert re.search(r"escalation\s+level 1 \(stopped: acknowledged\)", shown) and "deadline" not in shown


@pytest.mark.es
def test_small_things_archived_hint_assign_noop_already_status(es_client, index_prefix, cli):
    store = IncidentStore(es_client, index_prefix)
    incident_id, _ = store.file(
        build_incident(make_finding(), catalogue=CATALOGUE, runbooks=RUNBOOKS, now=OPENED)
    )
    assert cli("assign", incident_id, "bo").exit_code == 0
    before, version = store.get(incident_id)
    again = cli("assign", incident_id, "bo")
    assert (
        again.exit_code == 0 and again.stdout == f"{incident_id} is already assigned to bo; nothing changed\n"
    )
    assert store.get(incident_id) == (before, version)  # no bo → bo entry, no new version
    assert cli("assign", incident_id, "bo", "--team", "db-team").exit_code == 0  # a new team is a change
    assert cli("resolve", incident_id).exit_code == 0
    twice = cli("resolve", incident_id)
    assert twice.exit_code == 1 and f"incident {incident_id} is already resolved" in twice.output
    assert "cannot become" not in twice.output
    assert cli("archive", incident_id).exit_code == 0
    assert "no incidents (1 archived: --all shows them)" in cli("list").output
    assert "archived:" not in cli("list", "-s", "inventory").output  # the hint counts what the filter matches
    assert "archived:" not in cli("list", "--status", "open").output


@pytest.mark.es
def test_an_action_run_keeps_no_secret_on_the_incident(es_client, index_prefix, cli, tmp_path):
    """A runbook action may carry a credential (a header, a flag) and print one; what the incident keeps
    of the run (Elasticsearch) and what the terminal shows are redacted; the command runs as written."""
    import copy
    import sys

    from finding_factory import write_runbooks

    runbooks = copy.deepcopy(RUNBOOKS)
    runbooks[0]["actions"] = [
        {
            "name": "rotate",
            "kind": "command",
            "command": [sys.executable, "-c", "import sys; print('ran', sys.argv[2], 'token=out-tk-7')"]
            + ["--password", "act-pw-9"],
        },
        {
            "name": "notify",
            "kind": "http",
            "method": "POST",
            "url": "http://127.0.0.1:9/hook?api_key=url-key-5",
            "headers": {"Authorization": "Bearer hdr-tk-3"},
        },
    ]
    store = IncidentStore(es_client, index_prefix)
    incident_id, _ = store.file(
        build_incident(make_finding(), catalogue=CATALOGUE, runbooks=runbooks, now=OPENED)
    )
    kb = write_runbooks(tmp_path / "kb", runbooks)
    ran = cli("act", incident_id, "rotate", "--yes", "--knowledge-dir", kb)
    assert ran.exit_code == 0, ran.output
    # it ran with the real password, printed it bare, and the terminal shows neither
    assert "--password '[REDACTED]'" in ran.stdout and "ran [REDACTED] token=[REDACTED]" in ran.stdout
    notified = cli("act", incident_id, "notify", "--yes", "--knowledge-dir", kb)
    assert notified.exit_code == 1  # nothing answers on port 9
    kept = str(store.get(incident_id)[0]["action_runs"])
    for secret in ("act-pw-9", "out-tk-7", "url-key-5", "hdr-tk-3"):
        assert secret not in kept and secret not in ran.output + notified.output, secret
    assert len(store.get(incident_id)[0]["action_runs"]) == 2
