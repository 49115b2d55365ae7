"""What the log detectors take as given: their thresholds, user rules, and which lines count as errors."""

from __future__ import annotations

import fnmatch
from datetime import datetime

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from logrca.parsers.validation import PolarsRegex

__all__ = [
    "ERROR_LEVELS",
    "DetectionConfig",
    "RuleConfig",
    "is_error_line",
    "quoted_rows",
    "reads_every_message",
    "rule_rows",
]

ERROR_LEVELS = ("ERROR", "FATAL")


class RuleConfig(BaseModel):
    """A user rule: lines of matching services that match a pattern or a level, counted in the window.

    A rule fires when at least ``min_count`` lines in the window match; it yields one ``kind="rule"`` row
    per service with the fixed ``score``.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    service: str = Field("*", description="fnmatch glob on the service name")
    pattern: PolarsRegex | None = Field(None, description="regex searched in the message")
    level: str | None = Field(None, description="level the line must have, e.g. ERROR")
    min_count: int = Field(1, ge=1)
    score: float = Field(5.0, ge=0)

    @field_validator("level")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else value


class DetectionConfig(BaseModel):
    """Thresholds of :func:`detect_anomalies`; every default is a statistic, not a dataset constant."""

    model_config = ConfigDict(extra="forbid")

    min_score: float = Field(
        3.0, ge=0, description="report rows whose score (a z-like surprise) reaches this"
    )
    min_new_count: int = Field(2, ge=1, description="a template unseen in the baseline must occur this often")
    prior_rate: float = Field(
        0.5, gt=0, description="expected count assumed for a template never seen in the baseline"
    )
    short_baseline_unseen: bool = Field(
        True,
        description="a count the baseline never showed is judged as two samples too (the smaller score is "
        "kept): a baseline shorter than the window cannot make its absence certain",
    )
    min_drop_expected: float = Field(
        10.0, ge=0, description="only report a drop when at least this many were expected"
    )
    error_levels: list[str] = Field(default_factory=lambda: list(ERROR_LEVELS))
    error_pattern: PolarsRegex = Field(
        r"(?i)\b(exception|error|fail(ed|ure)?|timed? ?out|refused)\b",
        description="regex that marks a line without level as an error",
    )
    rules: list[RuleConfig] = Field(default_factory=list)


def is_error_line(config: DetectionConfig) -> pl.Expr:
    """True for an error line: its level is one of ``error_levels``, or it has none and ``error_pattern`` matches."""
    no_level = pl.col("level").is_null()
    by_level = pl.col("level").is_in(config.error_levels).fill_null(False)
    # The pattern runs only on the lines without a level (the others' messages are null here, which
    # the regex engine skips): an `&` would still scan every line, ~0.5 s per million. Values, nulls
    # included, are those of `no_level & message.str.contains(pattern)`.
    unlevelled = pl.when(no_level).then(pl.col("message"))
    return by_level | (no_level & unlevelled.str.contains(config.error_pattern))


def rule_rows(window_events: pl.DataFrame, config: DetectionConfig) -> list[dict]:
    """One ``kind="rule"`` row per (rule, service) with at least ``min_count`` matching lines in the window."""
    rows = []
    services = window_events["service"].unique().to_list()
    for rule in config.rules:
        matched = [s for s in services if s is not None and fnmatch.fnmatchcase(s, rule.service)]
        hits = window_events.filter(pl.col("service").is_in(matched))
        if rule.level:
            hits = hits.filter(pl.col("level") == rule.level)
        if rule.pattern:
            hits = hits.filter(pl.col("message").str.contains(rule.pattern))
        per_service = hits.group_by("service").agg(
            pl.len().alias("count_window"),
            pl.col("timestamp").min().alias("first_seen"),
            pl.col("message").sort_by("timestamp").first().alias("sample"),
        )
        for row in per_service.filter(pl.col("count_window") >= rule.min_count).iter_rows(named=True):
            rows.append(
                {
                    "service": row["service"],
                    "kind": "rule",
                    "template_id": None,
                    "template": rule.name,
                    "count_baseline": None,
                    "count_window": row["count_window"],
                    "score": rule.score,
                    "first_seen": row["first_seen"],
                    "sample": row["sample"],
                    "detail": f"rule {rule.name!r}: {row['count_window']} matching lines",
                }
            )
    return rows


def reads_every_message(config: DetectionConfig) -> bool:
    """Whether detection searches the text of every line in the window: a user rule with a ``pattern``.

    Otherwise it reads the messages of lines without a level (:func:`is_error_line`) and quotes one
    line per anomaly (:func:`quoted_rows`); the caller may leave the other messages null.
    """
    return any(rule.pattern for rule in config.rules)


def quoted_rows(events: pl.DataFrame, window: tuple[datetime, datetime]) -> pl.Series:
    """Positions of the lines whose messages detection may quote as an anomaly's ``sample``.

    Every sample is the first line in time of a group of the window's lines: a service's template,
    its error lines, a rule's lines of a level. Each such group is a union of (service, template,
    level) groups, so its first line is the first of one of those, in the window (before it, and
    after it, for a frame holding more than the window). Lines tied with the first are all kept:
    a sort may order ties either way.
    """
    start, end = window
    side = pl.when(pl.col("timestamp") < start).then(0).when(pl.col("timestamp") >= end).then(2).otherwise(1)
    keys = [pl.col("service"), pl.col("template_id"), pl.col("level"), side]
    first = pl.col("timestamp") == pl.col("timestamp").min().over(keys)
    return events.select(first.fill_null(False).alias("first"))["first"].arg_true()
