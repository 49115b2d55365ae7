"""Service visits of a trace (the spans a service runs for one call) and the events of each visit."""

from __future__ import annotations

import polars as pl

__all__ = ["EVENT_SCHEMA", "MEMBER_SCHEMA", "VISIT_SCHEMA", "service_visits", "visit_events"]

#: One row per service visit: the entry span of a service in a trace (root, or parent on another service).
VISIT_SCHEMA = {
    "trace_id": pl.Utf8,
    "visit_id": pl.Utf8,
    "parent_visit": pl.Utf8,
    "service": pl.Utf8,
    "host": pl.Utf8,
    "operation": pl.Utf8,
    "start": pl.Datetime("us", "UTC"),
    "end": pl.Datetime("us", "UTC"),
}
#: One row per span: the visit it belongs to (:func:`service_visits`).
MEMBER_SCHEMA = {
    "trace_id": pl.Utf8,
    "span_id": pl.Utf8,
    "visit_id": pl.Utf8,
    "entry": pl.Boolean,
    "operation": pl.Utf8,
    "start": pl.Datetime("us", "UTC"),
}
#: One row per event of a visit (:func:`visit_events`).
EVENT_SCHEMA = {
    "trace_id": pl.Utf8,
    "visit_id": pl.Utf8,
    "event": pl.Utf8,
    "time": pl.Datetime("us", "UTC"),
    "response": pl.Datetime("us", "UTC"),
    "child_visit": pl.Utf8,
}
_MAX_LOCAL_DEPTH = 32


def service_visits(spans: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Group spans into service visits.

    Parameters
    ----------
    spans : pl.DataFrame
        :data:`logrca.parsers.ingest.schema.SPAN_SCHEMA` rows.

    Returns
    -------
    visits : pl.DataFrame
        :data:`VISIT_SCHEMA`: one row per entry span (no parent, a parent on another service, or a parent
        that is not in the data); ``parent_visit`` is the visit the parent span belongs to.
    members : pl.DataFrame
        ``trace_id, span_id, visit_id, entry (bool), operation, start`` for every span: the visit it belongs
        to (its nearest entry ancestor on the same service).
    """
    if spans.is_empty():
        return pl.DataFrame(schema=VISIT_SCHEMA), pl.DataFrame(schema=MEMBER_SCHEMA)
    spans = spans.unique(["trace_id", "span_id"], keep="first")
    linked = _linked(spans)
    members = _entry_of(linked).join(
        linked.select("trace_id", "span_id", "operation", "start"), on=["trace_id", "span_id"]
    )
    parent_visit = members.select(
        "trace_id", pl.col("span_id").alias("parent_id"), pl.col("visit_id").alias("parent_visit")
    )
    visits = (
        linked.filter(pl.col("entry"))
        .join(parent_visit, on=["trace_id", "parent_id"], how="left")
        .select(
            "trace_id",
            pl.col("span_id").alias("visit_id"),
            "parent_visit",
            "service",
            "host",
            "operation",
            "start",
            (pl.col("start") + pl.duration(microseconds=pl.col("duration_us").cast(pl.Int64))).alias("end"),
        )
    )
    return visits.cast(VISIT_SCHEMA), members


def _linked(spans: pl.DataFrame) -> pl.DataFrame:
    """``spans`` with their parent's service and ``entry``: no parent in the data, or one on another service."""
    parents = spans.select(
        "trace_id", pl.col("span_id").alias("parent_id"), pl.col("service").alias("parent_service")
    )
    linked = spans.join(parents, on=["trace_id", "parent_id"], how="left")
    return linked.with_columns(
        (pl.col("parent_service").is_null() | (pl.col("parent_service") != pl.col("service"))).alias("entry")
    )


def _entry_of(linked: pl.DataFrame) -> pl.DataFrame:
    """``trace_id, span_id, entry, visit_id``: each span climbs its local (same-service) ancestors until it
    reaches an entry span, at most ``_MAX_LOCAL_DEPTH`` steps."""
    climb = linked.select(
        "trace_id",
        "span_id",
        "entry",
        pl.when(pl.col("entry")).then(pl.col("span_id")).otherwise(pl.col("parent_id")).alias("at"),
    )
    step = linked.select(
        "trace_id",
        pl.col("span_id").alias("at"),
        pl.col("entry").alias("at_entry"),
        pl.col("parent_id").alias("up"),
    )
    for _ in range(_MAX_LOCAL_DEPTH):
        climb = climb.join(step, on=["trace_id", "at"], how="left")
        if climb.filter(~pl.col("at_entry").fill_null(True)).is_empty():
            climb = climb.drop("at_entry", "up")
            break
        climb = climb.with_columns(
            pl.when(pl.col("at_entry").fill_null(True)).then(pl.col("at")).otherwise(pl.col("up")).alias("at")
        ).drop("at_entry", "up")
    return climb.rename({"at": "visit_id"})


def visit_events(visits: pl.DataFrame, members: pl.DataFrame, events: pl.DataFrame | None) -> pl.DataFrame:
    """The events of each visit: remote calls (``call <service> <operation>``, with the response time),
    local spans (``span <operation>``) and log templates (``log <template_id>``) of lines carrying its trace id.

    A log line goes to the visit of its trace on its service whose span holds its time (the latest-starting
    one when several do), else the nearest one in time; lines of traces without spans are left out.
    """
    parts = [pl.DataFrame(schema=EVENT_SCHEMA)]
    if visits.is_empty():
        return parts[0]
    children = visits.filter(pl.col("parent_visit").is_not_null())
    parts.append(
        children.select(
            "trace_id",
            pl.col("parent_visit").alias("visit_id"),
            pl.format("call {} {}", "service", "operation").alias("event"),
            pl.col("start").alias("time"),
            pl.col("end").alias("response"),
            pl.col("visit_id").alias("child_visit"),
        )
    )
    parts.append(
        members.filter(~pl.col("entry")).select(
            "trace_id",
            "visit_id",
            pl.format("span {}", "operation").alias("event"),
            pl.col("start").alias("time"),
            pl.lit(None, pl.Datetime("us", "UTC")).alias("response"),
            pl.lit(None, pl.Utf8).alias("child_visit"),
        )
    )
    if events is not None and not events.is_empty() and "template_id" in events.columns:
        parts.append(_log_events(visits, events))
    return pl.concat([p.cast(EVENT_SCHEMA) for p in parts])


def _log_events(visits: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """``log <template_id>`` events: each line with a trace id on the visit of its trace and service whose
    span holds its time (the latest-starting one when several do), else the nearest one in time."""
    logs = events.filter(pl.col("trace_id").is_not_null()).select(
        "trace_id",
        "service",
        pl.col("timestamp").alias("time"),
        "template_id",
        pl.int_range(pl.len()).alias("line"),
    )
    candidates = logs.join(
        visits.select("trace_id", "service", "visit_id", "start", "end"),
        on=["trace_id", "service"],
        how="inner",
    )
    distance = pl.max_horizontal(
        pl.col("start") - pl.col("time"), pl.col("time") - pl.col("end"), pl.duration(microseconds=0)
    )
    placed = (
        candidates.with_columns(distance.alias("distance"))
        .sort("line", "distance", pl.col("start"), descending=[False, False, True])
        .unique("line", keep="first")
    )
    return placed.select(
        "trace_id",
        "visit_id",
        pl.format("log {}", "template_id").alias("event"),
        "time",
        pl.lit(None, pl.Datetime("us", "UTC")).alias("response"),
        pl.lit(None, pl.Utf8).alias("child_visit"),
    )
