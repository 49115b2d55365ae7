"""What of a runbook action's run may be shown and kept: its plan and output without the secrets it holds.

An action may carry a credential (``Authorization: Bearer ...``, ``--password x``, ``?api_key=``) and
run with it; the terminal shows, and the incident (Elasticsearch) keeps, the plan with those redacted
by the config's rules, and the output with the same values masked wherever the run printed them.
"""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from logrca.rca.urls import shown_url

if TYPE_CHECKING:
    from logrca.parsers.ingest.secrets import Redactor

__all__ = ["MASK", "secret_part", "shown_output", "shown_plan"]

MASK = "[REDACTED]"
#: Shorter values are not looked for in the output: masking every "on" or "1" there would say nothing.
_MIN_SECRET = 4


def secret_part(original: str, shown: str) -> str | None:
    """What redaction took out of ``original`` to make ``shown`` (one stretch), or None if nothing.

    >>> secret_part("password=abc123", "password=[REDACTED]")
    'abc123'
    >>> secret_part("Bearer tok", "[REDACTED]")
    'Bearer tok'
    """
    if original == shown:
        return None
    start = 0
    while start < min(len(original), len(shown)) and original[start] == shown[start]:
        start += 1
    end = 0
    while end < min(len(original), len(shown)) - start and original[-1 - end] == shown[-1 - end]:
        end += 1
    return original[start : len(original) - end] or None


def _command(command: list[str], redactor: Redactor) -> list[str]:
    """The arguments redacted in their context (``--password x`` is two of them)."""
    joined = redactor.redact_texts([shlex.join(command)])[0]
    try:
        split = shlex.split(joined)
    except ValueError:
        split = []
    return split if len(split) == len(command) else redactor.redact_texts(list(command))


def shown_plan(plan: dict, redactor: Redactor | None) -> tuple[dict, set[str]]:
    """``plan`` as it may be shown and kept, and the secret values it held (to mask in the output).

    The command's arguments, the headers and the JSON body go through ``redactor``; the URL through
    :func:`~logrca.rca.urls.shown_url` (its password and query values). Without a redactor (``secrets``
    turned off) the plan is kept as it is.
    """
    if redactor is None:
        return plan, set()
    shown, pairs = dict(plan), []
    if plan.get("command"):
        shown["command"] = _command(plan["command"], redactor)
        pairs += zip(plan["command"], shown["command"], strict=True)
    if plan.get("url"):
        shown["url"] = shown_url(plan["url"])
        parts = urlsplit(plan["url"])
        pairs += [(value, MASK) for _, value in parse_qsl(parts.query)] + [(parts.password or "", MASK)]
    if plan.get("headers"):
        lines = [f"{key}: {value}" for key, value in plan["headers"].items()]
        redacted = redactor.redact_texts(lines)
        shown["headers"] = {
            k: text.partition(": ")[2] for k, text in zip(plan["headers"], redacted, strict=True)
        }
        pairs += zip(lines, redacted, strict=True)
    if plan.get("body") is not None:
        text = json.dumps(plan["body"])
        redacted = redactor.redact_texts([text])[0]
        try:
            shown["body"] = json.loads(redacted) if redacted != text else plan["body"]
        except ValueError:  # a rule's mask broke the JSON: keep its text
            shown["body"] = redacted
    secrets = {part for original, text in pairs if (part := secret_part(original, text))}
    return shown, {s for s in secrets if len(s) >= _MIN_SECRET}


def shown_output(output: str, redactor: Redactor | None, secrets: set[str]) -> str:
    """``output`` redacted by ``redactor``, and each of ``secrets`` masked wherever it appears (the
    action may print a value it was given, without the key that would let a rule see it)."""
    if redactor is None:
        return output
    for secret in sorted(secrets, key=len, reverse=True):
        output = output.replace(secret, MASK)
    return redactor.redact_texts([output])[0]
