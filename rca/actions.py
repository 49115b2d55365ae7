"""Runbook actions: repairs a human starts (retry a job, roll back, compensate), filled from an incident.

A runbook's YAML front matter may declare ``actions:``, each a command or an HTTP call whose
arguments use ``{placeholders}`` taken from the incident. Nothing here runs on its own: the CLI
shows the rendered plan and runs it only when the operator says ``--yes``.
"""

from __future__ import annotations

import json
import shlex
import string
import subprocess
import urllib.error
import urllib.request
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = ["ActionError", "RunbookAction", "PLACEHOLDERS", "parse_actions", "incident_params", "plan_action", "run_action"]

#: Names an action may use as ``{placeholder}``; each comes from the incident record.
PLACEHOLDERS = (
    "incident_id", "system", "service", "owner_team", "category", "window_start", "window_end",
    "detected_at", "trace_id", "template_id", "status",
)
OUTPUT_LIMIT = 8000


class ActionError(ValueError):
    """An action is malformed, names an unknown placeholder, or the incident lacks a value for one."""


class RunbookAction(BaseModel):
    """One declared action (the ``actions:`` items of a runbook's front matter)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    kind: Literal["command", "http"]
    command: list[str] | None = None
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    body: dict[str, Any] | None = None
    timeout_seconds: float = Field(60.0, gt=0)

    @model_validator(mode="after")
    def _shape(self) -> RunbookAction:
        if self.kind == "command" and not self.command:
            raise ValueError("a command action needs 'command' (a list: program and arguments)")
        if self.kind == "http" and not self.url:
            raise ValueError("an http action needs 'url'")
        if self.kind == "command" and (self.url or self.body):
            raise ValueError("a command action takes no 'url' or 'body'")
        if self.kind == "http" and self.command:
            raise ValueError("an http action takes no 'command'")
        for text in _templates(self):
            for field in _placeholders(text):
                if field not in PLACEHOLDERS:
                    raise ValueError(f"unknown placeholder {{{field}}} in {text!r}; known: {', '.join(PLACEHOLDERS)}")
        return self


def _placeholders(text: str) -> list[str]:
    return [field for _, field, _, _ in string.Formatter().parse(text) if field is not None]


def _templates(action: RunbookAction) -> list[str]:
    texts = list(action.command or []) + ([action.url] if action.url else []) + list(action.headers.values())
    texts += _string_leaves(action.body)
    return texts


def _string_leaves(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _string_leaves(item)]
    if isinstance(value, list):
        return [text for item in value for text in _string_leaves(item)]
    return []


def parse_actions(raw: Any, *, source: str = "runbook") -> list[RunbookAction]:
    """Validate a runbook's ``actions:`` list.

    Parameters
    ----------
    raw : list of dict or None
        The front-matter value.
    source : str
        Where it came from (runbook path), named in errors.

    Raises
    ------
    ActionError
        Naming the source, the action index and the field (``runbooks/db.md: actions.0.command: ...``).
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ActionError(f"{source}: actions: expected a list, got {type(raw).__name__}")
    actions = []
    for index, item in enumerate(raw):
        try:
            actions.append(RunbookAction.model_validate(item))
        except ValidationError as error:
            details = "; ".join(
                f"actions.{index}{'.' if e['loc'] else ''}{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
            )
            raise ActionError(f"{source}: {details}") from error
    names = [a.name for a in actions]
    if duplicates := sorted({n for n in names if names.count(n) > 1}):
        raise ActionError(f"{source}: actions: duplicate names {duplicates}")
    return actions


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


def _fill(text: str, params: dict[str, str], action: str) -> str:
    missing = [field for field in _placeholders(text) if field not in params]
    if missing:
        raise ActionError(f"action {action!r}: the incident has no value for {', '.join('{' + m + '}' for m in missing)}")
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
    action = action if isinstance(action, RunbookAction) else RunbookAction.model_validate(
        {k: v for k, v in action.items() if k in RunbookAction.model_fields}
    )
    params = incident_params(incident)
    plan: dict[str, Any] = {"name": action.name, "kind": action.kind, "timeout_seconds": action.timeout_seconds}
    if action.kind == "command":
        plan["command"] = [_fill(part, params, action.name) for part in action.command or []]
    else:
        plan["method"] = action.method
        plan["url"] = _fill(action.url or "", params, action.name)
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
            done = subprocess.run(plan["command"], capture_output=True, text=True, timeout=plan["timeout_seconds"], check=False)
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
            return {"exit_status": response.status, "ok": 200 <= response.status < 300, "output": text[:OUTPUT_LIMIT]}
    except urllib.error.HTTPError as error:
        text = error.read().decode("utf-8", "replace")
        return {"exit_status": error.code, "ok": False, "output": text[:OUTPUT_LIMIT]}
    except (urllib.error.URLError, OSError) as error:
        return {"exit_status": -1, "ok": False, "output": f"no answer from {plan['url']}: {error}"}
