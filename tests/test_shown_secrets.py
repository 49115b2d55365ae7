"""Credentials stay out of what logrca prints and stores: URL passwords, webhook URLs."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from finding_factory import make_finding
from test_alerts import FAST, Receiver

from logrca import PROJECT_ROOT
from logrca.incidents.alerts import notify, retry_pending
from logrca.incidents.catalogue import Catalogue
from logrca.incidents.record import build_incident
from logrca.incidents.store import IncidentStore

SLACK_SECRET, PAGER_SECRET = "T0ABC/B0DEF/s3cr3tSlackToken", "pager-s3cr3t"


def test_a_url_password_is_masked_in_the_message(free_port):
    port = free_port()
    done = subprocess.run(
        [str(PROJECT_ROOT / ".venv" / "bin" / "logrca"), "search", "x"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, LOGRCA_ES_URL=f"http://user:secretpw@127.0.0.1:{port}"),
    )
    assert done.returncode == 1 and "secretpw" not in done.stderr
    assert f"Elasticsearch at http://user:***@127.0.0.1:{port} is not reachable" in done.stderr
    from logrca.rca.urls import shown_url

    assert shown_url("https://elastic@es.example:9243/x") == "https://elastic@es.example:9243/x"


def test_a_url_query_value_is_masked_in_the_message_and_in_dagster(free_port):
    """A token passed in the query (``?api_key=...``) is as secret as a password in the userinfo."""
    from logrca.pipelines.definitions import build_resources
    from logrca.pipelines.environment import deployment_from_env
    from logrca.rca.urls import shown_url

    port = free_port()
    url = f"http://127.0.0.1:{port}/?api_key=s3cretq&pretty"
    done = subprocess.run(
        [str(PROJECT_ROOT / ".venv" / "bin" / "logrca"), "es", "status"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, LOGRCA_ES_URL=url),
    )
    assert done.returncode == 1 and "s3cretq" not in done.stdout + done.stderr
    assert f"http://127.0.0.1:{port}/?api_key=***&pretty" in done.stderr
    assert shown_url("https://u:pw@es.example/p?a=1#frag") == "https://u:***@es.example/p?a=***#***"
    assert "s3cretq" not in repr(build_resources(deployment_from_env({"LOGRCA_ES_URL": url})))


def test_a_redacted_target_keeps_the_host_and_first_segment_and_tells_channels_apart():
    from logrca.rca.urls import redacted_target

    one = redacted_target("https://hooks.slack.com/services/T0/B0/one")
    two = redacted_target("https://hooks.slack.com/services/T0/B0/two")
    assert one.startswith("https://hooks.slack.com/services/***#") and one != two
    assert redacted_target(one) == one
    assert redacted_target("https://pager.example/abc?token=x").startswith("https://pager.example/***#")
    assert "pw" not in redacted_target("https://u:pw@pager.example/a/b")


def _catalogue(port: int) -> Catalogue:
    return Catalogue.model_validate(
        {
            "services": {
                "payments": {
                    "owner": "payments-team",
                    "contacts": [
                        {"name": "Pat", "webhook": f"http://127.0.0.1:{port}/pager/{PAGER_SECRET}?k=1"}
                    ],
                    "channels": [
                        {"kind": "slack", "url": f"http://127.0.0.1:{port}/services/{SLACK_SECRET}"}
                    ],
                }
            },
        }
    )


@pytest.mark.es
def test_webhook_urls_are_stored_and_shown_redacted_but_alerts_reach_them(
    es_url, es_client, index_prefix, free_port
):
    port = free_port()  # down first: the retry must find the real URL again
    catalogue = _catalogue(port)
    store = IncidentStore(es_client, index_prefix)
    incident_id, _ = store.file(build_incident(make_finding(hour=0), catalogue=catalogue))
    assert [r["ok"] for r in notify(store, incident_id, catalogue, **FAST)] == [False, False]
    receiver = Receiver(port)
    try:
        later = datetime.now(UTC) + timedelta(minutes=5)
        assert [r["ok"] for r in retry_pending(store, catalogue, now=later, **FAST)] == [True, True]
        assert sorted(path for path, _ in receiver.requests) == [
            f"/pager/{PAGER_SECRET}?k=1",
            f"/services/{SLACK_SECRET}",
        ]
    finally:
        receiver.close()
    shown = subprocess.run(
        [str(PROJECT_ROOT / ".venv" / "bin" / "logrca"), "incident", "show", incident_id, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, LOGRCA_ES_URL=es_url, LOGRCA_INDEX_PREFIX=index_prefix),
    )
    assert shown.returncode == 0, shown.stderr
    assert SLACK_SECRET.split("/")[-1] not in shown.stdout and PAGER_SECRET not in shown.stdout
    document = json.loads(shown.stdout)
    targets = {d["target"] for d in document["deliveries"]}
    assert {t.rsplit("#", 1)[0] for t in targets} == {
        f"http://127.0.0.1:{port}/services/***",
        f"http://127.0.0.1:{port}/pager/***",
    }


def test_an_elasticsearch_url_with_a_password_reaches_dagster_as_the_variable_name():
    """Dagster's UI shows a resource's plain values; a URL carrying user:password goes there as
    ``EnvVar("LOGRCA_ES_URL")``, as the API key does, and a plain URL as it is."""
    from dagster import EnvVar

    from logrca.pipelines.definitions import build_resources
    from logrca.pipelines.environment import deployment_from_env

    secret = deployment_from_env({"LOGRCA_ES_URL": "http://elastic:s3cretpw@127.0.0.1:9280"})
    assert build_resources(secret)["elasticsearch"].url == EnvVar("LOGRCA_ES_URL")
    plain = deployment_from_env({"LOGRCA_ES_URL": "http://127.0.0.1:9280"})
    assert build_resources(plain)["elasticsearch"].url == "http://127.0.0.1:9280"


def test_runbook_bodies_and_links_carry_no_secret(tmp_path):
    """A runbook quoted in the report (and indexed, and kept on incidents) is redacted as a log line is;
    a link under a ``runbook_url_base`` holding credentials shows them masked."""
    from logrca.parsers.ingest.secrets import Redactor, SecretsConfig
    from logrca.rca.knowledge import load_knowledge_base
    from logrca.rca.report_render import ReportOptions, runbook_link

    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "db.md").write_text(
        "---\nid: db\nactions: [{name: ping, kind: http, url: 'http://x', headers: {Authorization: 'Bearer k33p'}}]\n"
        "---\nRun `curl -H 'Authorization: Bearer rb-s3cr3t' https://ops` then psql password=rb-pw2.\n"
    )
    runbooks, _ = load_knowledge_base(tmp_path, Redactor.from_config(SecretsConfig()))
    assert "rb-s3cr3t" not in runbooks[0]["body"] and "rb-pw2" not in runbooks[0]["body"]
    assert "Authorization: [REDACTED]" in runbooks[0]["body"]
    assert "k33p" in str(runbooks[0]["actions"])  # actions run as written
    options = ReportOptions(runbook_url_base="https://bot:gl-pw@git.example/ops/blob/main?private_token=t0k")
    link = runbook_link({"id": "db", "path": "db.md"}, options)
    assert "gl-pw" not in link and "t0k" not in link and link.startswith("https://bot:***@git.example/")


def test_past_incidents_carry_no_secret_into_links(tmp_path):
    """A past incident's text (a resolution typed with the command that fixed it) reaches every report
    it is linked from, the indices and the incidents: it is redacted when read, as runbook bodies are."""
    from logrca.parsers.ingest.secrets import Redactor, SecretsConfig
    from logrca.rca.knowledge import load_knowledge_base

    (tmp_path / "incidents").mkdir()
    (tmp_path / "incidents" / "inc-1.yaml").write_text(
        "id: INC-1\ntitle: 'db down, DB_PASSWORD=pi-pw1 rotated'\nroot_cause_service: db\n"
        "resolution: \"restarted with curl -H 'Authorization: Bearer pi-s3cr3t' https://ops\"\n"
        "templates: ['login ok token=<*>']\n"
    )
    _, incidents = load_knowledge_base(tmp_path, Redactor.from_config(SecretsConfig()))
    text = str(incidents)
    assert "pi-pw1" not in text and "pi-s3cr3t" not in text, text
    assert incidents[0]["root_cause_service"] == "db" and incidents[0]["id"] == "INC-1"
    assert "Authorization: [REDACTED]" in incidents[0]["resolution"]
