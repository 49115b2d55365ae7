"""Change events found in the logs: deploys, restarts, version changes and config reloads.

A change is the first thing an on-call engineer asks about. :func:`detect_changes` finds the lines
that announce one with built-in rules for common shapes (``Starting inventory-service v2.4.0``,
``Deployed release 41``, ``Configuration reloaded``) plus the user's rules from the ``changes``
section of the YAML; :func:`changes_before_anomaly` says which services changed shortly before
their first anomaly, which the ranking (:func:`logrca.rca.rank.rank_root_causes`) counts as
evidence and the report draws on the timeline.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from logrca.parsers.validation import PolarsRegex

__all__ = [
    "BUILTIN_RULES",
    "CHANGE_SCHEMA",
    "ChangeRule",
    "ChangesConfig",
    "changes_before_anomaly",
    "detect_changes",
]

ChangeKind = Literal["deploy", "restart", "version_change", "config_reload"]

CHANGE_SCHEMA: dict[str, pl.DataType] = {
    "timestamp": pl.Datetime("us", "UTC"),
    "service": pl.Utf8,
    "kind": pl.Utf8,
    "rule": pl.Utf8,
    "version": pl.Utf8,
    "message": pl.Utf8,
}

#: What in a pattern may match only at the end of the whole text: a match in a message's first line
#: is then not always one in the message (a ``$`` in multi-line mode, or escaped, is taken too).
_END = re.compile(r"\$|\\z")

#: A version as services print it: ``v2.4.0``, ``2.4``, ``1.10.3-rc1`` (captured without the ``v``).
_VERSION = r"v?(\d+\.\d+(?:\.\d+)?(?:[-+][0-9A-Za-z.]+)?)"


class ChangeRule(BaseModel):
    """One rule: a line matching ``pattern`` is a change of ``kind``.

    ``version_pattern`` (optional) captures the new version in its first group.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    pattern: PolarsRegex
    kind: ChangeKind
    version_pattern: PolarsRegex | None = None


#: Built-in rules, tried in order; the first that matches a line names its kind. Deliberately about
#: wording shared by common servers and deploy tools, never about one system's messages.
#: "release" alone is no deploy: servers release locks, containers and memory (Hadoop's resource
#: manager logs ``release= 0`` on every allocation round), and failures quote the running release;
#: "released" followed by a version is a release announced.
BUILTIN_RULES: tuple[ChangeRule, ...] = (
    ChangeRule(
        name="deploy",
        kind="deploy",
        pattern=r"(?i)\b(deploy(ed|ing|ment)|roll(ed|ing)[ -]?out|rollout|released (version )?v?\d|upgrad(ed|ing)|rolled back|rollback)\b",
        version_pattern=_VERSION,
    ),
    ChangeRule(
        name="start-with-version",
        kind="version_change",
        # a version: v-prefixed or three parts; "Started Application in 2.41 seconds" names a duration
        pattern=r"(?i)\b(starting|started|booting|launching)\b.*(\bv\d+\.\d+(\.\d+)?\b|\b\d+\.\d+\.\d+\b)",
        version_pattern=_VERSION,
    ),
    ChangeRule(
        name="version-line",
        kind="version_change",
        pattern=r"(?i)\b(running|new|current) version\b|\bversion (changed|is now|updated)\b",
        version_pattern=_VERSION,
    ),
    ChangeRule(
        name="config-reload",
        kind="config_reload",
        pattern=r"(?i)\b(re)?load(ed|ing)? (new |the )?(config|configuration|settings|feature flags?)\b|"
        r"\b(config|configuration|settings) (re)?load(ed|ing)?\b|\bconfig(uration)? (changed|updated)\b",
    ),
    ChangeRule(
        name="restart",
        kind="restart",
        pattern=r"(?i)\b(restart(ed|ing)?|shutting down|shutdown complete|(server|service|application|process) (started|starting|stopped)"
        r"|started (\S+ )?in \d+(\.\d+)? ?(ms|s|secs?|seconds))\b",
    ),
)


#: Every built-in rule as one alternation: a line matches it exactly when it matches one of them, and
#: one pass of the regex engine over a partition's lines costs about a third of five passes. (The
#: user's rules keep a pass each: a pattern of theirs written in verbose mode could end in a comment
#: that would swallow the rest of a joined pattern.)
_ANY_BUILTIN = "|".join(f"(?:{rule.pattern})" for rule in BUILTIN_RULES)


class ChangesConfig(BaseModel):
    """The ``changes`` section: which lines are change events and how much the ranking weighs them."""

    model_config = ConfigDict(extra="forbid")

    builtin: bool = Field(True, description="Use the built-in rules (deploys, restarts, versions, reloads).")
    rules: list[ChangeRule] = Field(
        default_factory=list, description="Your own rules, tried before the built-in ones."
    )
    lookback_minutes: float = Field(
        30.0,
        gt=0,
        description="A change counts for a service when it lies at most this long before its first anomaly.",
    )
    weight: float = Field(
        0.5,
        ge=0.0,
        description=(
            "How strongly a change before a service's first anomaly counts in the ranking: that service's own "
            "anomaly is multiplied by 1 + weight (0: changes are shown, never weighed). A multiplier, so a "
            "change can never make a service without anomalies a suspect."
        ),
    )

    def all_rules(self) -> list[ChangeRule]:
        """The user's rules first, then (unless ``builtin`` is off) the built-in ones."""
        return [*self.rules, *(BUILTIN_RULES if self.builtin else ())]


def detect_changes(events: pl.DataFrame | None, config: ChangesConfig | None = None) -> pl.DataFrame:
    """Change events among ``events`` (columns ``timestamp, service, message``), oldest first.

    Returns
    -------
    pl.DataFrame
        :data:`CHANGE_SCHEMA`: one row per matching line, ``rule`` the first rule that matched it,
        ``version`` what its ``version_pattern`` captured (or null).

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> lines = pl.DataFrame({"timestamp": [datetime(2026, 3, 10, 2, 18, tzinfo=UTC)],
    ...                       "service": ["inventory"], "message": ["Starting inventory-service v2.4.0"]})
    >>> detect_changes(lines).select("kind", "version").row(0)
    ('version_change', '2.4.0')
    """
    config = config or ChangesConfig()
    rules = config.all_rules()
    if events is None or events.is_empty() or not rules:
        return pl.DataFrame(schema=CHANGE_SCHEMA)
    # One pass over every line for the built-in rules, one per user rule; which rule and version only
    # on the few lines that match.
    patterns = [rule.pattern for rule in config.rules] + ([_ANY_BUILTIN] if config.builtin else [])
    any_rule = pl.any_horizontal(pl.col("message").fill_null("").str.contains(p) for p in patterns)
    if not any(_END.search(p) for p in patterns):
        # A match in a message's first line is a match in the whole message, unless the pattern ends
        # the text ($, \z): the whole messages are a superset, and only those need their first line.
        events = events.filter(any_rule)
    message = pl.col("message").fill_null("")
    if events["message"].str.contains("\n", literal=True).any():  # a cheap look spares the split
        message = message.str.split("\n").list.first()
    lines = events.select(pl.col("timestamp").cast(pl.Datetime("us", "UTC")), "service", message)
    lines = lines.filter(any_rule)
    rule_name, kind, version = pl.lit(None, pl.Utf8), pl.lit(None, pl.Utf8), pl.lit(None, pl.Utf8)
    for rule in reversed(rules):  # the first rule in order wins: build the chain from the last
        hit = pl.col("message").str.contains(rule.pattern)
        captured = (
            pl.col("message").str.extract(rule.version_pattern, 1)
            if rule.version_pattern
            else pl.lit(None, pl.Utf8)
        )
        rule_name = pl.when(hit).then(pl.lit(rule.name)).otherwise(rule_name)
        kind = pl.when(hit).then(pl.lit(rule.kind)).otherwise(kind)
        version = pl.when(hit).then(captured).otherwise(version)
    found = lines.with_columns(rule=rule_name, kind=kind, version=version)
    return found.select(list(CHANGE_SCHEMA)).cast(CHANGE_SCHEMA).sort("timestamp", maintain_order=True)


def changes_before_anomaly(
    changes: pl.DataFrame | None,
    first_anomalous: dict[str, datetime | None],
    *,
    lookback: timedelta,
) -> dict[str, str]:
    """Services with a change at most ``lookback`` before (or at) their first anomaly, and what it was.

    Returns
    -------
    dict
        ``{service: "deploy 2.0 min before its first anomaly: Starting inventory-service v2.4.0"}``,
        the change closest to the anomaly for each service.
    """
    if changes is None or changes.is_empty():
        return {}
    found = {}
    for service, first in first_anomalous.items():
        if first is None:
            continue
        near = changes.filter(
            (pl.col("service") == service)
            & (pl.col("timestamp") <= first)
            & (pl.col("timestamp") >= first - lookback)
        )
        if near.is_empty():
            continue
        last = near.row(near.height - 1, named=True)
        minutes = (first - last["timestamp"]).total_seconds() / 60
        found[service] = (
            f"{last['kind'].replace('_', ' ')} {minutes:.1f} min before its first anomaly: {last['message'][:160]}"
        )
    return found
