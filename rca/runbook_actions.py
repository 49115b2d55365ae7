"""Runbook actions as declared: the ``actions:`` of a runbook's front matter, validated on load.

A runbook may declare actions, each a command or an HTTP call whose arguments use
``{placeholders}`` taken from an incident. This module only reads and checks them; filling and
running them is :mod:`logrca.incidents.actions`, where a person chooses to run one.
"""

from __future__ import annotations

import string
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from logrca.parsers.validation import error_text

__all__ = ["PLACEHOLDERS", "ActionError", "RunbookAction", "parse_actions", "placeholders"]

#: Names an action may use as ``{placeholder}``; each comes from the incident record.
PLACEHOLDERS = (
    "incident_id",
    "system",
    "service",
    "owner_team",
    "category",
    "window_start",
    "window_end",
    "detected_at",
    "trace_id",
    "template_id",
    "status",
)


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
            for field in placeholders(text):
                if field not in PLACEHOLDERS:
                    raise ValueError(
                        f"unknown placeholder {{{field}}} in {text!r}; known: {', '.join(PLACEHOLDERS)}"
                    )
        return self


def placeholders(text: str) -> list[str]:
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
                f"actions.{index}{'.' if e['loc'] else ''}{'.'.join(str(p) for p in e['loc'])}: {error_text(e)}"
                for e in error.errors()
            )
            raise ActionError(f"{source}: {details}") from error
    names = [a.name for a in actions]
    if duplicates := sorted({n for n in names if names.count(n) > 1}):
        raise ActionError(f"{source}: actions: duplicate names {duplicates}")
    return actions
