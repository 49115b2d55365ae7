"""Runbook actions: repairs a human starts (retry a job, roll back, compensate), filled from an incident.

A runbook's YAML front matter may declare ``actions:``, each a command or an HTTP call whose
arguments use ``{placeholders}`` taken from the incident. Nothing here runs on its own: the CLI
shows the rendered plan and runs it only when the operator says ``--yes``.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import textwrap
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from logrca.incidents.record import now_iso
from logrca.rca.runbook_actions import ActionError, RunbookAction, placeholders

__all__ = [
    "action_listing",
    "current_action",
    "current_actions",
    "describe_plan",
    "incident_params",
    "plan_action",
    "run_action",
]

OUTPUT_LIMIT = 8000


def _linked_ids(incident: dict) -> list[str]:
    """The ids of the runbooks the incident was filed with (those giving steps or actions), in order."""
    ids = [r.get("runbook_id") for r in incident.get("suggested_actions") or []]
    ids += [a.get("runbook_id") for a in incident.get("actions") or []]
    return list(dict.fromkeys(i for i in ids if i))


def current_actions(incident: dict, runbooks: list[dict]) -> dict[str, dict]:
    """The actions of the incident's runbooks as the runbooks declare them now (``runbooks``: the
    knowledge base as ``load_knowledge_runbooks`` reads it), by name, each with its ``runbook_id``.

    What the incident stored when it was filed is only which runbooks it links: a command fixed or
    removed in the runbook since must not keep running from the incident's copy.
    """
    by_id = {r["id"]: r for r in runbooks}
    return {
        action["name"]: dict(action, runbook_id=ident)
        for ident in _linked_ids(incident)
        for action in (by_id.get(ident) or {}).get("actions") or []
    }


def current_action(incident: dict, runbooks: list[dict], name: str, *, source: Path | None) -> dict:
    """The action ``name`` as its runbook (in ``source``, the knowledge base) declares it now.

    Raises
    ------
    ActionError
        When no linked runbook declares it now: removed from its runbook, its runbook gone, or never one.
    """
    actions = current_actions(incident, runbooks)
    if name in actions:
        return actions[name]
    filed = {a["name"]: a.get("runbook_id") for a in incident.get("actions") or []}
    listing, source = action_listing(actions), source or "no knowledge base"
    if name in filed and filed[name] in {r["id"] for r in runbooks}:
        said = f"action {name!r} is no longer in runbook {filed[name]!r} ({source}): not run"
    elif name in filed:
        said = f"runbook {filed[name]!r} of action {name!r} is no longer in {source}: not run"
    else:
        said = f"incident {incident.get('incident_id')} has no action {name!r}"
    raise ActionError(f"{said}; its runbooks declare now:\n{listing}")


def run_record(action: dict, plan: dict, result: dict, *, by: str) -> dict:
    """What the incident keeps of one run (``action_runs``): the action, its runbook, the plan, who, when, outcome."""
    return {
        "action": action["name"],
        "runbook_id": action["runbook_id"],
        "plan": plan,
        "by": by,
        "at": now_iso(),
        **result,
    }


def action_listing(actions: dict[str, dict], width: int = 80) -> str:
    """One entry per action, wrapped within ``width`` columns: ``  name [runbook]`` then its description."""
    lines = []
    for name, action in actions.items():
        lines.append(f"  {name} [{action.get('runbook_id')}]")
        said = action.get("description") or ""
        lines += textwrap.wrap(said, width, initial_indent="      ", subsequent_indent="      ")
    return "\n".join(lines) or "  (none)"


def incident_params(incident: dict) -> dict[str, str]:
    """The placeholder values an incident offers (missing ones are left out)."""
    cause = incident.get("initial_cause") or {}
    confirmed = incident.get("confirmed_cause") or {}
    trace_ids = (incident.get("reproduction") or {}).get("trace_ids") or []
    templates = incident.get("template_ids") or []
    values = {
        "incident_id": incident.get("incident_id"),
        "system": incident.get("system"),
        "service": confirmed.get("service") or cause.get("service"),
        "owner_team": (incident.get("owner") or {}).get("team"),
        "category": incident.get("category"),
        "window_start": incident.get("window_start"),
        "window_end": incident.get("window_end"),
        "detected_at": incident.get("detected_at"),
        "trace_id": trace_ids[0] if trace_ids else None,
        "template_id": templates[0] if templates else None,
        "status": incident.get("status"),
    }
    return {key: str(value) for key, value in values.items() if value is not None}


def _fill(text: str, params: dict[str, str], action: str, *, encode: bool = False) -> str:
    """``text`` with its ``{field}`` placeholders filled; ``encode`` percent-encodes each value (for URLs:
    ``+00:00`` must arrive as ``+00:00``, not as a space)."""
    missing = [field for field in placeholders(text) if field not in params]
    if missing:
        raise ActionError(
            f"action {action!r}: the incident has no value for {', '.join('{' + m + '}' for m in missing)}"
        )
    if encode:
        params = {key: urllib.parse.quote(value, safe="") for key, value in params.items()}
    return text.format(**params)


def _fill_json(value: Any, params: dict[str, str], action: str) -> Any:
    if isinstance(value, str):
        return _fill(value, params, action)
    if isinstance(value, list):
        return [_fill_json(item, params, action) for item in value]
    if isinstance(value, dict):
        return {key: _fill_json(item, params, action) for key, item in value.items()}
    return value


def plan_action(action: RunbookAction | dict, incident: dict) -> dict:
    """Render an action for one incident: what would run, without running it.

    Returns
    -------
    dict
        ``{"name", "kind", "command": [...]}`` or ``{"name", "kind", "method", "url", "headers", "body"}``,
        plus ``timeout_seconds``.
    """
    action = (
        action
        if isinstance(action, RunbookAction)
        else RunbookAction.model_validate(
            {k: v for k, v in action.items() if k in RunbookAction.model_fields}
        )
    )
    params = incident_params(incident)
    plan: dict[str, Any] = {
        "name": action.name,
        "kind": action.kind,
        "timeout_seconds": action.timeout_seconds,
    }
    if action.kind == "command":
        plan["command"] = [_fill(part, params, action.name) for part in action.command or []]
    else:
        plan["method"] = action.method
        plan["url"] = _fill(action.url or "", params, action.name, encode=True)
        plan["headers"] = {key: _fill(value, params, action.name) for key, value in action.headers.items()}
        plan["body"] = _fill_json(action.body, params, action.name) if action.body is not None else None
    return plan


def describe_plan(plan: dict) -> str:
    """One line a human reads before saying ``--yes``."""
    if plan["kind"] == "command":
        return "run: " + shlex.join(plan["command"])
    body = f" body={json.dumps(plan['body'])}" if plan.get("body") is not None else ""
    return f"{plan['method']} {plan['url']}{body}"


def run_action(plan: dict) -> dict:
    """Run a rendered plan once (no shell) and report the outcome; never raises for a failing action.

    Returns
    -------
    dict
        ``exit_status`` (process exit code; for HTTP the status code, or -1 when nothing answered),
        ``ok`` (exit 0 / HTTP 2xx), ``output`` (stdout+stderr or response body, truncated).
    """
    if plan["kind"] == "command":
        try:
            done = subprocess.run(
                plan["command"], capture_output=True, text=True, timeout=plan["timeout_seconds"], check=False
            )
        except FileNotFoundError as error:
            return {"exit_status": 127, "ok": False, "output": f"command not found: {error.filename}"}
        except subprocess.TimeoutExpired as error:
            return {"exit_status": -1, "ok": False, "output": f"timed out after {error.timeout}s"}
        output = (done.stdout or "") + (done.stderr or "")
        return {"exit_status": done.returncode, "ok": done.returncode == 0, "output": output[-OUTPUT_LIMIT:]}
    data = json.dumps(plan["body"]).encode() if plan.get("body") is not None else None
    headers = {"Content-Type": "application/json", **plan.get("headers", {})}
    request = urllib.request.Request(plan["url"], data=data, headers=headers, method=plan["method"])
    try:
        with urllib.request.urlopen(request, timeout=plan["timeout_seconds"]) as response:
            text = response.read().decode("utf-8", "replace")
            return {
                "exit_status": response.status,
                "ok": 200 <= response.status < 300,
                "output": text[:OUTPUT_LIMIT],
            }
    except urllib.error.HTTPError as error:
        text = error.read().decode("utf-8", "replace")
        return {"exit_status": error.code, "ok": False, "output": text[:OUTPUT_LIMIT]}
    except (urllib.error.URLError, OSError) as error:
        return {"exit_status": -1, "ok": False, "output": f"no answer from {plan['url']}: {error}"}
