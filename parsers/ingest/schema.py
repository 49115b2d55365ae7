"""Column schemas shared by every reader, and the result type readers return."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "timestamp": pl.Datetime("us", "UTC"),
    "system": pl.Utf8,
    "service": pl.Utf8,
    "host": pl.Utf8,
    "level": pl.Utf8,
    "message": pl.Utf8,
    "trace_id": pl.Utf8,
    "source_file": pl.Utf8,
    "line_no": pl.Int64,
}

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "system": pl.Utf8,
    "source_file": pl.Utf8,
    "line_no": pl.Int64,
    "raw": pl.Utf8,
    "raw_hex": pl.Utf8,
    "reason": pl.Utf8,
}

#: Levels are normalised to these names; anything else maps through LEVEL_ALIASES or stays null.
LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
LEVEL_ALIASES = {
    "WARNING": "WARN",
    "ERR": "ERROR",
    "SEVERE": "ERROR",
    "CRITICAL": "FATAL",
    "CRIT": "FATAL",
    "EMERG": "FATAL",
    "ALERT": "FATAL",
    "PANIC": "FATAL",
    "NOTICE": "INFO",
    "LOG": "INFO",
    "INFORMATION": "INFO",
    "FINE": "DEBUG",
    "FINER": "TRACE",
    "FINEST": "TRACE",
}
#: Numeric levels as pino and bunyan (Node.js JSON loggers) write them. Kept apart from the words
#: above, which also find a level inside a line's text, where a number is not one.
NUMERIC_LEVELS = {"10": "TRACE", "20": "DEBUG", "30": "INFO", "40": "WARN", "50": "ERROR", "60": "FATAL"}


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC, the events' zone (a naive time is taken to be UTC already)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def empty_events() -> pl.DataFrame:
    """An event frame with no rows and the full schema."""
    return pl.DataFrame(schema=EVENT_SCHEMA)


def empty_quarantine() -> pl.DataFrame:
    """A quarantine frame with no rows and the full schema."""
    return pl.DataFrame(schema=QUARANTINE_SCHEMA)


def normalise_level(level: pl.Expr) -> pl.Expr:
    """Map raw level strings (``warning``, ``Severe``, pino's ``50``...) onto :data:`LEVELS`; unknown values become null."""
    upper = level.str.strip_chars().str.to_uppercase()
    mapped = upper.replace({**LEVEL_ALIASES, **NUMERIC_LEVELS})
    return pl.when(mapped.is_in(list(LEVELS))).then(mapped).otherwise(None)


def normalise_levels(levels: pl.Series) -> pl.Series:
    """:func:`normalise_level` on a column, worked out once per distinct value (levels repeat)."""
    distinct = levels.drop_nulls().unique()
    if distinct.len() * 8 > levels.len():  # mostly distinct: per row is as cheap
        return levels.to_frame("level").select(normalise_level(pl.col("level")))["level"].alias(levels.name)
    mapped = distinct.to_frame("level").select(normalise_level(pl.col("level")))["level"]
    return levels.replace_strict(distinct, mapped, default=None, return_dtype=pl.Utf8)


@dataclass
class ReadResult:
    """What a reader returns: parsed events, quarantined lines, and counts.

    Invariant: ``stats["lines_read"] == stats["lines_in_events"] + stats["lines_quarantined"]
    + stats.get("lines_outside_window", 0)`` — every physical line read ends up in an event (possibly
    as a continuation line), in quarantine, or in another partition. ``files`` holds the same
    account per file, with notes (empty file, missing link target, truncated gzip...).
    """

    events: pl.DataFrame = field(default_factory=empty_events)
    quarantine: pl.DataFrame = field(default_factory=empty_quarantine)
    stats: dict[str, int] = field(default_factory=dict)
    files: list[dict] = field(default_factory=list)

    @staticmethod
    def concat(results: list[ReadResult]) -> ReadResult:
        """Stack several results (one per file) into one, summing their counts."""
        stats: dict[str, int] = {}
        for result in results:
            for key, value in result.stats.items():
                stats[key] = stats.get(key, 0) + value
        events = pl.concat([r.events for r in results], how="vertical") if results else empty_events()
        quarantine = (
            pl.concat([r.quarantine for r in results], how="vertical") if results else empty_quarantine()
        )
        files = [record for result in results for record in result.files]
        return ReadResult(events=events, quarantine=quarantine, stats=stats, files=files)


#: One row per trace span. ``parent_id`` is null for a trace's first span; ``host`` is the pod.
SPAN_SCHEMA: dict[str, pl.DataType] = {
    "trace_id": pl.Utf8,
    "span_id": pl.Utf8,
    "parent_id": pl.Utf8,
    "service": pl.Utf8,
    "host": pl.Utf8,
    "operation": pl.Utf8,
    "start": pl.Datetime("us", "UTC"),
    "duration_us": pl.Float64,
    "error": pl.Boolean,
}

#: One row per metric sample: a value of ``metric`` on ``host`` (pod, node) of ``service`` at ``time``.
METRIC_SCHEMA: dict[str, pl.DataType] = {
    "time": pl.Datetime("us", "UTC"),
    "service": pl.Utf8,
    "host": pl.Utf8,
    "metric": pl.Utf8,
    "value": pl.Float64,
}
