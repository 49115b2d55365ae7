"""Alerts to a real HTTP receiver and a real SMTP server on 127.0.0.1: once per incident, retries, escalation."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from finding_factory import START, make_finding

from logrca.incidents.alerts import notify, retry_pending
from logrca.incidents.catalogue import Catalogue, DeliveryRetry
from logrca.incidents.escalation import escalate_due
from logrca.incidents.record import build_incident
from logrca.incidents.store import IncidentStore
from logrca.rca.finding_ids import finding_id

pytestmark = pytest.mark.es
FAST = {"attempts": 2, "base_delay": 0.01}


class Receiver:
    """A real HTTP server that records the JSON bodies POSTed to it."""

    def __init__(self, port: int) -> None:
        self.requests: list[tuple[str, dict]] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class MailBox:
    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append((envelope.rcpt_tos, envelope.content.decode("utf-8", "replace")))
        return "250 OK"

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []


@pytest.fixture()
def smtp(free_port):
    box = MailBox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield box, controller.port
    controller.stop()


def catalogue_for(http_port: int, smtp_port: int) -> Catalogue:
    return Catalogue.model_validate(
        {
            "smtp": {
                "host": "127.0.0.1",
                "port": smtp_port,
                "sender": "logrca@example.com",
                "timeout_seconds": 5,
            },
            "services": {
                "payments": {
                    "owner": "payments-team",
                    "ack_deadline_minutes": 10,
                    "contacts": [
                        {"name": "Pat", "email": "pat@example.com"},
                        {"name": "Paula", "email": "paula@example.com"},
                    ],
                    "channels": [
                        {"kind": "webhook", "url": f"http://127.0.0.1:{http_port}/hooks/payments"},
                        {"kind": "slack", "url": f"http://127.0.0.1:{http_port}/slack/payments"},
                        {"kind": "email", "to": ["payments-team@example.com"]},
                    ],
                }
            },
        }
    )


def file_incident(store, catalogue, hour=0, now=None):
    incident_id, _ = store.file(build_incident(make_finding(hour=hour), catalogue=catalogue, now=now))
    return incident_id


def test_new_incident_notifies_every_channel_once(es_client, index_prefix, smtp, free_port):
    box, smtp_port = smtp
    receiver = Receiver(free_port())
    try:
        catalogue = catalogue_for(receiver.server.server_port, smtp_port)
        store = IncidentStore(es_client, index_prefix)
        incident_id = file_incident(store, catalogue)
        results = notify(store, incident_id, catalogue, **FAST)
        assert [r["ok"] for r in results] == [True, True, True]
        paths = dict(receiver.requests)
        assert paths["/hooks/payments"]["event"] == "incident.opened"
        assert paths["/hooks/payments"]["incident_id"] == incident_id
        assert paths["/hooks/payments"]["contact"]["name"] == "Pat"
        assert incident_id in paths["/slack/payments"]["text"]
        assert paths["/slack/payments"]["blocks"][0]["text"]["type"] == "mrkdwn"
        [(recipients, content)] = box.messages
        assert recipients == ["pat@example.com", "payments-team@example.com"]
        assert incident_id in content and "Subject: [logrca opened]" in content
        # the next window re-finds the incident: no second alert
        store.file(build_incident(make_finding(hour=1), catalogue=catalogue))
        assert notify(store, incident_id, catalogue, **FAST) == []
        assert len(receiver.requests) == 2 and len(box.messages) == 1
        stored, _ = store.get(incident_id)
        assert stored["notified_events"] == ["opened"] and stored["pending_deliveries"] == []
        assert len(stored["deliveries"]) == 3
    finally:
        receiver.close()


def test_receiver_down_is_recorded_and_retried_next_run(es_client, index_prefix, smtp, free_port):
    box, smtp_port = smtp
    http_port = free_port()  # nothing listens here yet
    catalogue = catalogue_for(http_port, smtp_port)
    store = IncidentStore(es_client, index_prefix)
    incident_id = file_incident(store, catalogue)
    results = notify(store, incident_id, catalogue, **FAST)
    assert sorted((r["channel"], r["ok"], r["attempts"]) for r in results) == [
        ("email", True, 1),
        ("slack", False, 2),
        ("webhook", False, 2),
    ]
    stored, _ = store.get(incident_id)
    assert sorted(p["channel"] for p in stored["pending_deliveries"]) == ["slack", "webhook"]
    assert all(
        "Connection refused" in p["error"] or "URLError" in p["error"] for p in stored["pending_deliveries"]
    )
    # not due yet: the next round waits a minute (backoff), so a run right now sends nothing
    assert retry_pending(store, catalogue, **FAST) == []
    # still down a few minutes later: kept, attempts add up, the next pause doubles
    later = datetime.now(UTC) + timedelta(minutes=2)
    assert len(retry_pending(store, catalogue, now=later, **FAST)) == 2
    stored, _ = store.get(incident_id)
    assert [(p["total_attempts"], p["rounds"]) for p in stored["pending_deliveries"]] == [(4, 2), (4, 2)]
    assert stored["next_delivery_at"] > (later + timedelta(minutes=1, seconds=50)).isoformat()
    receiver = Receiver(http_port)
    try:
        results = retry_pending(store, catalogue, now=later + timedelta(minutes=5), **FAST)
        assert [r["ok"] for r in results] == [True, True]
        assert sorted(path for path, _ in receiver.requests) == ["/hooks/payments", "/slack/payments"]
        stored, _ = store.get(incident_id)
        assert stored["pending_deliveries"] == [] and stored["next_delivery_at"] is None
        assert len(stored["deliveries"]) == 3 + 2 + 2
        assert retry_pending(store, catalogue, now=later + timedelta(hours=1), **FAST) == []
        assert len(box.messages) == 1
    finally:
        receiver.close()


def test_unacknowledged_incident_escalates_to_the_next_contact(es_client, index_prefix, smtp, free_port):
    box, smtp_port = smtp
    receiver = Receiver(free_port())
    try:
        catalogue = catalogue_for(receiver.server.server_port, smtp_port)
        store = IncidentStore(es_client, index_prefix)
        opened = datetime.now(UTC) - timedelta(minutes=15)
        late = file_incident(store, catalogue, hour=0, now=opened)
        acked = store.file(
            build_incident(
                make_finding(hour=0, service="payments", templates=((9, "disk full <*>"),)),
                catalogue=catalogue,
                now=opened,
            )
        )[0]
        fresh = store.file(
            build_incident(
                make_finding(hour=0, service="payments", templates=((11, "oom <*>"),)), catalogue=catalogue
            )
        )[0]
        for incident_id in (late, acked, fresh):
            notify(store, incident_id, catalogue, **FAST)
        store.transition(acked, "acknowledged", by="pat")
        box.messages.clear()
        assert escalate_due(store, catalogue, **FAST) == [late]
        stored, _ = store.get(late)
        assert stored["escalation"]["level"] == 1
        assert stored["notified_events"] == ["opened", "escalated-1"]
        assert [m[0][0] for m in box.messages] == ["paula@example.com"]
        escalation_posts = [
            body for _, body in receiver.requests if body.get("event") == "incident.escalated-1"
        ]
        assert [body["contact"]["name"] for body in escalation_posts] == ["Paula"]
        assert escalation_posts[0]["incident_id"] == late
        # deadline renewed: running again at once does nothing; an hour later the fresh one is due too,
        # while the late one has no further contact to page
        assert escalate_due(store, catalogue, **FAST) == []
        assert escalate_due(store, catalogue, now=datetime.now(UTC) + timedelta(hours=1), **FAST) == [fresh]
        assert (
            store.get(late)[0]["escalation"]["level"] == 1 and store.get(acked)[0]["escalation"]["level"] == 0
        )
    finally:
        receiver.close()


def test_failing_deliveries_stop_at_the_cap_and_when_the_incident_is_acknowledged(
    es_client, index_prefix, smtp, free_port
):
    _, smtp_port = smtp
    catalogue = catalogue_for(free_port(), smtp_port).model_copy(
        update={"delivery_retry": DeliveryRetry(backoff_minutes=1, cap_minutes=4, max_rounds=3)}
    )
    store = IncidentStore(es_client, index_prefix)
    incident_id = file_incident(store, catalogue)
    notify(store, incident_id, catalogue, **FAST)  # round 1 fails
    now = datetime.now(UTC)
    for minutes in (2, 10):  # rounds 2 and 3; the third is the last
        assert len(retry_pending(store, catalogue, now=now + timedelta(minutes=minutes), **FAST)) == 2
    stored, _ = store.get(incident_id)
    assert stored["pending_deliveries"] == []
    assert [(f["channel"], f["rounds"]) for f in stored["failed_deliveries"]] == [
        ("webhook", 3),
        ("slack", 3),
    ]
    assert retry_pending(store, catalogue, now=now + timedelta(days=1), **FAST) == []

    second = file_incident(store, catalogue, hour=5)
    notify(store, second, catalogue, **FAST)
    store.transition(second, "acknowledged", by="pat")
    assert retry_pending(store, catalogue, now=now + timedelta(minutes=5), **FAST) == []
    stored, _ = store.get(second)
    assert stored["pending_deliveries"] == []
    assert {f["reason"] for f in stored["failed_deliveries"]} == {"incident acknowledged: no alert needed"}


def test_escalation_sensor_requests_one_run_per_due_state(es_url, es_client, index_prefix, smtp, free_port):
    from dagster import RunRequest, SkipReason, build_sensor_context

    from logrca.assets.resources import ElasticsearchResource
    from logrca.pipelines.incident_ops import incident_escalation_sensor

    _, smtp_port = smtp
    catalogue = catalogue_for(free_port(), smtp_port)
    store = IncidentStore(es_client, index_prefix)

    def tick():
        resources = {"elasticsearch": ElasticsearchResource(url=es_url, index_prefix=index_prefix)}
        return incident_escalation_sensor(build_sensor_context(resources=resources))

    assert isinstance(tick(), SkipReason)
    late = file_incident(store, catalogue, hour=7, now=datetime.now(UTC) - timedelta(hours=2))
    es_client.indices.refresh(index=store.index)
    first, again = tick(), tick()
    assert isinstance(first, RunRequest) and first.run_key == again.run_key  # same due state, one run
    store.transition(late, "acknowledged", by="pat")
    es_client.indices.refresh(index=store.index)
    assert isinstance(tick(), SkipReason)  # acknowledged: nobody to page


def test_incidents_and_review_assets(es_url, es_client, index_prefix, smtp, tmp_path, monkeypatch, free_port):
    """The Dagster assets called directly: file + alert once per incident, failures kept, review written."""
    from dagster import build_asset_context

    from logrca import PROJECT_ROOT
    from logrca.assets.incidents import incident_review, incidents
    from logrca.assets.resources import ElasticsearchResource, LogrcaConfigResource

    box, smtp_port = smtp
    http_port = free_port()  # the webhook receiver is down for the first run
    shop = PROJECT_ROOT / "examples" / "shop"
    catalogue = (
        (shop / "catalogue.yaml")
        .read_text()
        .replace("http://127.0.0.1:8765", f"http://127.0.0.1:{http_port}")
    ) + "delivery_retry: {backoff_minutes: 0}\n"  # retry on the very next run
    (tmp_path / "catalogue.yaml").write_text(catalogue)
    config = (
        (shop / "logrca.yaml")
        .read_text()
        .replace("topology: topology.yaml", f"topology: {shop / 'topology.yaml'}")
    )
    config = config.replace("knowledge_base: knowledge", f"knowledge_base: {shop / 'knowledge'}")
    (tmp_path / "logrca.yaml").write_text(config)
    monkeypatch.setenv("LOGRCA_SMTP_PORT", str(smtp_port))
    logrca = LogrcaConfigResource(config_path=str(tmp_path / "logrca.yaml"), data_dir=str(tmp_path / "data"))
    elasticsearch = ElasticsearchResource(url=es_url, index_prefix=index_prefix)

    warnings: list[str] = []

    def run(hour, *, found=True):
        context = build_asset_context(partition_key=f"2031-03-03-{10 + hour:02d}:00")
        context.log.warning = warnings.append
        finding = make_finding(hour=hour, runbooks=("db-connections",))
        start = START + timedelta(hours=hour)
        finding["finding_id"] = finding_id(
            "shop", (start, start + timedelta(hours=1))
        )  # as the report names it
        return incidents(
            context,
            logrca=logrca,
            elasticsearch=elasticsearch,
            rca_report=finding if found else None,
            analysis_window={  # as the analysis describes an hour's window
                "window_start": start.isoformat(),
                "window_end": (start + timedelta(hours=1)).isoformat(),
                "system": "shop",
            },
        ).value

    first = run(0)
    assert (
        first["outcome"] == "created"
        and first["failed"] == 2
        and first["delivered"] == 1
        and first["pending"] == 2
    )
    # the step succeeds, so each failed alert is a warning: kind, redacted target and why
    assert sorted(line.split(" http")[0] for line in warnings) == [
        "alert not delivered: slack",
        "alert not delivered: webhook",
    ]
    assert all(f"127.0.0.1:{http_port}/" in line and "/***#" in line for line in warnings), warnings
    assert all("(opened, 3 tries): URLError: " in line and "\n" not in line for line in warnings), warnings
    assert not any("/hooks/payments-team" in line for line in warnings)
    warnings.clear()
    assert len(box.messages) == 1 and "pat@example.com" in box.messages[0][0]
    stored = IncidentStore(es_client, index_prefix).get(first["incident_id"])[0]
    assert stored["owner"]["team"] == "payments-team" and [a["name"] for a in stored["actions"]] == [
        "kill-idle-sessions"
    ]
    receiver = Receiver(http_port)
    try:
        second = run(1)  # same incident again: no new alert, the two failed ones are delivered now
        assert (second["incident_id"], second["outcome"]) == (first["incident_id"], "updated")
        assert second["delivered"] == 2 and second["pending"] == 0 and len(box.messages) == 1
        assert sorted(path for path, _ in receiver.requests) == [
            "/hooks/payments-team",
            "/slack/payments-team",
        ]
    finally:
        receiver.close()
    assert run(5, found=False)["outcome"] is None
    rerun = run(1, found=False)  # hour 1 re-run finds nothing: hour 0 still holds the incident
    assert rerun["outcome"] is None and rerun["narrowed"] == first["incident_id"]
    assert IncidentStore(es_client, index_prefix).get(first["incident_id"])[0]["status"] == "open"
    result = incident_review(logrca=logrca, elasticsearch=elasticsearch)
    assert "# Incident review" in result.metadata["review"].value
    assert result.metadata["chart"].value.startswith("![incident review chart](data:image/png;base64,")
    assert (tmp_path / "data" / "reviews").is_dir() and len(
        list((tmp_path / "data" / "reviews").glob("*.png"))
    ) == 1
