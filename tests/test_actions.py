"""Runbook actions: schema errors, placeholders from the incident, dry-run plans, real runs (command and HTTP)."""

from __future__ import annotations

import sys

import pytest
from finding_factory import RUNBOOKS, make_finding
from test_alerts import Receiver

from logrca.incidents.actions import describe_plan, plan_action, run_action
from logrca.incidents.record import build_incident
from logrca.rca.runbook_actions import ActionError, parse_actions

INCIDENT = build_incident(make_finding(), runbooks=RUNBOOKS)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([{"name": "x", "kind": "command"}], "actions.0: a command action needs 'command'"),
        ([{"name": "x", "kind": "http"}], "actions.0: an http action needs 'url'"),
        ([{"name": "x", "kind": "ssh", "command": ["a"]}], "actions.0.kind"),
        ([{"name": "x", "kind": "command", "command": ["rm", "{path}"]}], "unknown placeholder {path}"),
        (
            [
                {"name": "x", "kind": "command", "command": ["a"]},
                {"name": "x", "kind": "command", "command": ["b"]},
            ],
            "duplicate names",
        ),
        ({"name": "x"}, "actions: expected a list"),
        ([{"name": "bad name", "kind": "command", "command": ["a"]}], "actions.0.name"),
    ],
)
def test_malformed_actions_name_the_runbook_and_field(raw, message):
    with pytest.raises(ActionError) as error:
        parse_actions(raw, source="runbooks/db.md")
    assert "runbooks/db.md" in str(error.value) and message in str(error.value)


def test_plan_fills_placeholders_from_the_incident():
    command, http = (plan_action(a, INCIDENT) for a in INCIDENT["actions"])
    assert command["command"] == ["echo", f"restarting pool of payments for {INCIDENT['incident_id']}"]
    assert http["url"] == "http://127.0.0.1:9/compensate/payments"
    assert http["body"] == {"incident": INCIDENT["incident_id"], "trace": "trace-a1"}
    assert describe_plan(command).startswith("run: echo ")
    without_traces = dict(INCIDENT, reproduction={"trace_ids": []})
    with pytest.raises(ActionError, match=r"no value for \{trace_id\}"):
        plan_action(INCIDENT["actions"][1], without_traces)


def test_run_command_records_output_and_exit_status():
    ok = run_action(plan_action(INCIDENT["actions"][0], INCIDENT))
    assert ok == {
        "exit_status": 0,
        "ok": True,
        "output": f"restarting pool of payments for {INCIDENT['incident_id']}\n",
    }
    failing = {
        "name": "fail",
        "kind": "command",
        "command": [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"],
    }
    failed = run_action(plan_action(failing, INCIDENT))
    assert failed == {"exit_status": 3, "ok": False, "output": "boom\n"}
    missing = run_action(
        plan_action({"name": "m", "kind": "command", "command": ["/nonexistent/tool"]}, INCIDENT)
    )
    assert missing["exit_status"] == 127 and not missing["ok"]


def test_run_http_action_against_a_real_receiver(free_port):
    receiver = Receiver(free_port())
    try:
        action = dict(
            INCIDENT["actions"][1],
            url=f"http://127.0.0.1:{receiver.server.server_port}/compensate/{{service}}",
        )
        result = run_action(plan_action(action, INCIDENT))
        assert result == {"exit_status": 200, "ok": True, "output": "ok"}
        assert receiver.requests == [
            ("/compensate/payments", {"incident": INCIDENT["incident_id"], "trace": "trace-a1"})
        ]
    finally:
        receiver.close()
    down = run_action(plan_action(action, INCIDENT))
    assert down["exit_status"] == -1 and not down["ok"] and "no answer" in down["output"]


def test_url_parameters_are_percent_encoded(free_port):
    """A timestamp's ``+00:00`` must reach the server as ``+00:00``, not as a space."""
    receiver = Receiver(free_port())
    try:
        action = dict(
            INCIDENT["actions"][1],
            url=f"http://127.0.0.1:{receiver.server.server_port}/logs?since={{window_start}}&svc={{service}}",
        )
        plan = plan_action(action, INCIDENT)
        assert "%2B00%3A00" in plan["url"] and "&svc=payments" in plan["url"]
        assert run_action(plan)["ok"]
        from urllib.parse import parse_qs, urlsplit

        received = parse_qs(urlsplit(receiver.requests[0][0]).query)
        assert received["since"] == [INCIDENT["window_start"]] and INCIDENT["window_start"].endswith("+00:00")
    finally:
        receiver.close()
