"""Trace-level attribution: per service visit, the events of a trace (calls, local spans, log templates) against their normal patterns."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime

import polars as pl

__all__ = [
    "VISIT_SCHEMA",
    "attribute_deviations",
    "explained_log_lines",
    "pattern_model",
    "service_visits",
    "trace_pattern_deviations",
    "trace_pattern_signal",
    "visit_events",
]

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
_EVENT_SCHEMA = {
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
        return pl.DataFrame(schema=VISIT_SCHEMA), pl.DataFrame(
            schema={
                "trace_id": pl.Utf8,
                "span_id": pl.Utf8,
                "visit_id": pl.Utf8,
                "entry": pl.Boolean,
                "operation": pl.Utf8,
                "start": pl.Datetime("us", "UTC"),
            }
        )
    spans = spans.unique(["trace_id", "span_id"], keep="first")
    parents = spans.select(
        "trace_id", pl.col("span_id").alias("parent_id"), pl.col("service").alias("parent_service")
    )
    linked = spans.join(parents, on=["trace_id", "parent_id"], how="left")
    linked = linked.with_columns(
        (pl.col("parent_service").is_null() | (pl.col("parent_service") != pl.col("service"))).alias("entry")
    )
    # Each span climbs its local (same-service) ancestors until it reaches an entry span.
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
    members = climb.rename({"at": "visit_id"}).join(
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


def visit_events(visits: pl.DataFrame, members: pl.DataFrame, events: pl.DataFrame | None) -> pl.DataFrame:
    """The events of each visit: remote calls (``call <service> <operation>``, with the response time),
    local spans (``span <operation>``) and log templates (``log <template_id>``) of lines carrying its trace id.

    A log line goes to the visit of its trace on its service whose span holds its time (the latest-starting
    one when several do), else the nearest one in time; lines of traces without spans are left out.
    """
    parts = [pl.DataFrame(schema=_EVENT_SCHEMA)]
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
        parts.append(
            placed.select(
                "trace_id",
                "visit_id",
                pl.format("log {}", "template_id").alias("event"),
                "time",
                pl.lit(None, pl.Datetime("us", "UTC")).alias("response"),
                pl.lit(None, pl.Utf8).alias("child_visit"),
            )
        )
    return pl.concat([p.cast(_EVENT_SCHEMA) for p in parts])


def _signatures(visits: pl.DataFrame, events: pl.DataFrame, multiplicity: str = "log2") -> pl.DataFrame:
    """Per visit its pattern joined by ``|`` (empty when it has none): the sorted set of its event kinds
    (``multiplicity="set"``), or each kind with how often it occurred (``"count"``: ``log 7 x2``) or the
    power-of-two class of that count (``"log2"``: ``x1``, ``x2``, ``x3-4``, ``x5-8``, ...)."""
    if multiplicity not in ("set", "count", "log2"):
        raise ValueError(
            f"trace patterns: multiplicity must be 'set', 'count' or 'log2', not {multiplicity!r}"
        )
    if multiplicity == "set":
        sets = events.group_by("trace_id", "visit_id").agg(
            pl.col("event").unique().sort().str.join("|").alias("signature")
        )
    else:
        counted = events.group_by("trace_id", "visit_id", "event").agg(pl.len().alias("times"))
        if multiplicity == "count":
            times = pl.col("times").cast(pl.Utf8)
        else:  # power-of-two class, written as its range: 1, 2, 3-4, 5-8, ...
            upper = (2 ** pl.col("times").cast(pl.Float64).log(2).ceil()).cast(pl.Int64)
            times = (
                pl.when(pl.col("times") <= 2)
                .then(pl.col("times").cast(pl.Utf8))
                .otherwise(pl.format("{}-{}", upper // 2 + 1, upper))
            )
        sets = (
            counted.with_columns(pl.format("{} x{}", "event", times).alias("event"))
            .group_by("trace_id", "visit_id")
            .agg(pl.col("event").sort().str.join("|").alias("signature"))
        )
    return (
        visits.select("trace_id", "visit_id", "service", "operation", "end")
        .join(sets, on=["trace_id", "visit_id"], how="left")
        .with_columns(pl.col("signature").fill_null(""))
    )


def pattern_model(
    visits: pl.DataFrame, events: pl.DataFrame, *, rare_count: int = 1, multiplicity: str = "log2"
) -> pl.DataFrame:
    """Normal patterns per ``(service, operation)``: a visit's pattern is the set of its event kinds, each
    with its count class unless ``multiplicity="set"`` (:func:`_signatures`).

    Patterns seen at most ``rare_count`` times count as rare (a truncated visit at the edge of a file, a
    one-off) and are not kept as normal; ``novelty`` is then the leave-one-out share of normal visits that
    would look rare, ``(visits whose pattern occurs at most rare_count + 1 times) / n``, the rate at which
    fault-free visits deviate by chance (with ``rare_count = 0``, the Good-Turing estimate of an unseen one).

    Returns
    -------
    pl.DataFrame
        ``service, operation, n`` (normal visits), ``novelty``, ``signatures`` (the normal patterns, each
        the sorted event kinds joined by ``|``) and ``events`` (every event kind seen).
    """
    signatures = _signatures(visits, events, multiplicity)
    counted = signatures.group_by("service", "operation", "signature").agg(pl.len().alias("k"))
    model = counted.group_by("service", "operation").agg(
        pl.col("k").sum().alias("n"),
        pl.col("k").filter(pl.col("k") <= rare_count + 1).sum().alias("rare"),
        pl.col("signature").filter(pl.col("k") > rare_count).alias("signatures"),
    )
    kinds = (
        events.join(
            visits.select("trace_id", "visit_id", "service", "operation"), on=["trace_id", "visit_id"]
        )
        .group_by("service", "operation")
        .agg(pl.col("event").unique().alias("events"))
    )
    return (
        model.join(kinds, on=["service", "operation"], how="left")
        .with_columns((pl.col("rare") / pl.col("n")).alias("novelty"), pl.col("events").fill_null([]))
        .drop("rare")
    )


def _deviations(
    visits: pl.DataFrame,
    events: pl.DataFrame,
    model: pl.DataFrame,
    *,
    min_visits: int,
    multiplicity: str = "log2",
) -> dict:
    """Per judged visit ``(trace_id, visit_id)``: ``(first deviating time, what is new)``.

    A visit is judged when its ``(service, operation)`` has at least ``min_visits`` normal visits, and
    deviates when its pattern (event kinds with their count classes) is not among the normal (non-rare) ones: an
    event never seen there, a missing expected child or log, a count never seen, or a combination never seen.
    It deviates from its first event of a kind never seen there, or else (something missing or a count) at its end.
    """
    known = model.filter(pl.col("n") >= min_visits)
    judged = _signatures(visits, events, multiplicity).join(
        known.select("service", "operation"), on=["service", "operation"], how="semi"
    )
    if judged.is_empty():
        return {}
    normal = known.select("service", "operation", pl.col("signatures").alias("signature")).explode(
        "signature", empty_as_null=False
    )
    deviating = judged.join(normal, on=["service", "operation", "signature"], how="anti")
    if deviating.is_empty():
        return {}
    seen = known.select("service", "operation", pl.col("events").alias("event")).explode(
        "event", empty_as_null=False
    )
    own = events.join(
        deviating.select("trace_id", "visit_id", "service", "operation"), on=["trace_id", "visit_id"]
    )
    new = (
        own.join(seen, on=["service", "operation", "event"], how="anti")
        .group_by("trace_id", "visit_id")
        .agg(pl.col("time").min().alias("first"), pl.col("event").unique().sort().alias("new"))
    )
    # Without a new kind: the parts of its pattern no normal pattern has (a count never seen, with multiplicity).
    parts = (
        known.select("service", "operation", pl.col("signatures").alias("part"))
        .explode("part", empty_as_null=False)
        .with_columns(pl.col("part").str.split("|"))
        .explode("part", empty_as_null=False)
        .unique()
    )
    odd = (
        deviating.select(
            "trace_id", "visit_id", "service", "operation", pl.col("signature").str.split("|").alias("part")
        )
        .explode("part", empty_as_null=False)
        .filter(pl.col("part") != "")
        .join(parts, on=["service", "operation", "part"], how="anti")
        .group_by("trace_id", "visit_id")
        .agg(pl.col("part").sort().alias("odd"))
    )
    out = {}
    for trace_id, visit_id, end, first, kinds, unusual in (
        deviating.join(new, on=["trace_id", "visit_id"], how="left")
        .join(odd, on=["trace_id", "visit_id"], how="left")
        .select("trace_id", "visit_id", "end", "first", "new", "odd")
        .iter_rows()
    ):
        if first is not None:
            out[(trace_id, visit_id)] = (first, ["new " + k for k in kinds])
        elif unusual and multiplicity != "set":
            out[(trace_id, visit_id)] = (end, ["count never seen: " + k for k in unusual])
        else:
            out[(trace_id, visit_id)] = (end, ["a pattern never seen (something missing)"])
    return out


def attribute_deviations(
    visits: pl.DataFrame,
    events: pl.DataFrame,
    model: pl.DataFrame,
    *,
    min_visits: int = 5,
    hand_off: bool = False,
    multiplicity: str = "log2",
    deviating: dict | None = None,
) -> pl.DataFrame:
    """Blame, per trace with deviating visits, the service(s) where the deviation starts.

    Parameters
    ----------
    visits, events : pl.DataFrame
        The judged visits (:func:`service_visits`) and their events (:func:`visit_events`).
    model : pl.DataFrame
        :func:`pattern_model` of the normal visits.
    min_visits : int, default 5
        Operations with fewer normal visits are not judged (no reference).
    hand_off : bool, default False
        Apply the response rule (Notes). Off by default: on the 29 TrainTicket cases it moved votes from
        services that answered wrongly to their own callees more often than it caught a wrong answer
        (AC@3 0.931 -> 0.897 when fused, see docs/rca.md).
    multiplicity : {"log2", "count", "set"}, default "log2"
        How a pattern is written (:func:`_signatures`); must match the one ``model`` was built with.
    deviating : dict, optional
        The visits' deviations from ``model`` when already found for these arguments
        (:func:`trace_pattern_deviations` finds them once for this and :func:`explained_log_lines`).

    Returns
    -------
    pl.DataFrame
        ``trace_id, service, vote, first_seen, detail``: each deviating trace gives one vote, split evenly
        over the visits where its deviation starts.

    Notes
    -----
    A visit deviates when its pattern (the set of its event kinds: calls, local spans, log templates, each
    with its count class) is rare among the normal visits of the same ``(service, operation)``
    (:func:`pattern_model`): an event never seen there, a missing expected child or log line, a count never
    seen (a loop cut short by a caught exception), or a combination never seen. A caller whose
    callee deviates usually deviates too (an error comes back, it logs and answers differently), so the
    deviation starts at a deviating visit none of whose descendant visits deviates: the deepest one. That
    demotes a loud caller whose deviation a callee explains.

    Response rule (``hand_off``): when the origin visit's first deviating event comes right after the response
    of one of its calls -- the call whose response is the latest before that event, with no other call
    starting in between -- and that call's own events look normal, the callee returned something that
    made the caller act differently (a wrong return value), and the vote goes to that callee. A deviation
    with no new event kind (something missing) is timed at the visit's end, so it hands off to the last
    call answered.

    References
    ----------
    .. [1] Yu, G. et al. *Nezha: Interpretable Fine-Grained Root Causes Analysis for Microservices on
       Multi-Modal Observability Data*. ESEC/FSE 2023 (event patterns per trace, normal vs. faulty).
    """
    schema = {
        "trace_id": pl.Utf8,
        "service": pl.Utf8,
        "vote": pl.Float64,
        "first_seen": pl.Datetime("us", "UTC"),
        "detail": pl.Utf8,
    }
    if deviating is None:
        deviating = _deviations(visits, events, model, min_visits=min_visits, multiplicity=multiplicity)
    if not deviating:
        return pl.DataFrame(schema=schema)
    traces = {t for t, _ in deviating}
    tree = visits.filter(pl.col("trace_id").is_in(list(traces)))
    service_of = {(t, v): s for t, v, s in tree.select("trace_id", "visit_id", "service").iter_rows()}
    parent_of = {(t, v): p for t, v, p in tree.select("trace_id", "visit_id", "parent_visit").iter_rows()}
    calls = defaultdict(list)
    for t, v, time, response, child in (
        events.filter(pl.col("trace_id").is_in(list(traces)) & pl.col("child_visit").is_not_null())
        .select("trace_id", "visit_id", "time", "response", "child_visit")
        .iter_rows()
    ):
        calls[(t, v)].append((time, response, child))
    explained = _deviating_below(parent_of, deviating)  # visits with a deviating descendant
    rows = []
    by_trace = defaultdict(list)
    for key in deviating:
        if key not in explained:
            by_trace[key[0]].append(key)
    for trace_id, origins in by_trace.items():
        for t, v in origins:
            first, found = deviating[(t, v)]
            blamed, why = service_of.get((t, v)), "its own events: " + ", ".join(sorted(set(found))[:3])
            if hand_off:
                answered = [c for c in calls.get((t, v), []) if c[1] is not None and c[1] <= first]
                if answered:
                    time, response, child = max(answered, key=lambda c: c[1])
                    started_after = any(response < c[0] <= first for c in calls.get((t, v), []))
                    if not started_after and (t, child) not in deviating and service_of.get((t, child)):
                        blamed = service_of[(t, child)]
                        why = (
                            f"{service_of.get((t, v))} deviated right after its response ("
                            + ", ".join(sorted(set(found))[:3])
                            + ")"
                        )
            rows.append(
                {
                    "trace_id": trace_id,
                    "service": blamed,
                    "vote": 1.0 / len(origins),
                    "first_seen": first,
                    "detail": why,
                }
            )
    return pl.DataFrame(rows, schema=schema)


def _deviating_below(parent_of: dict[tuple, str | None], deviating: dict) -> dict[tuple, datetime | None]:
    """Every visit with a deviating descendant in its trace -> the earliest first deviation among those
    descendants (None when none of them is timed)."""
    since: dict[tuple, datetime | None] = {}
    for (t, v), (first, _) in deviating.items():
        parent = parent_of.get((t, v))
        while parent is not None:
            key = (t, parent)
            if key not in since or (first is not None and (since[key] is None or first < since[key])):
                since[key] = first
            parent = parent_of.get(key)
    return since


EXPLAINED_SCHEMA = {
    "trace_id": pl.Utf8,
    "service": pl.Utf8,
    "template_id": pl.Int64,
    "time": pl.Datetime("us", "UTC"),
}


def explained_log_lines(
    visits: pl.DataFrame,
    events: pl.DataFrame,
    model: pl.DataFrame,
    *,
    min_visits: int = 5,
    multiplicity: str = "log2",
    deviating: dict | None = None,
) -> pl.DataFrame:
    """The log lines of callers that a deviating callee explains.

    Parameters
    ----------
    visits, events, model : pl.DataFrame
        As for :func:`attribute_deviations`.
    min_visits : int, default 5
        Operations with fewer normal visits are not judged.
    multiplicity, deviating
        As for :func:`attribute_deviations`.

    Returns
    -------
    pl.DataFrame
        ``trace_id, service, template_id, time`` (:data:`EXPLAINED_SCHEMA`): one row per log line written
        by a visit that has a deviating descendant visit in the same trace, at or after the moment that
        descendant started deviating.

    Notes
    -----
    A caller whose callee fails reacts to it: it logs the error it got back, retries, or writes the odd
    value it received. Those lines are the callee's fault, not the caller's, so they are taken out of the
    caller's log evidence (:func:`logrca.rca.detect.discount_explained`). Only lines after the callee's first
    deviating event count: what the caller logged before it could have heard from its callee is its own.
    The discount is per line, not per service, so a caller that misbehaves on its own in other traces
    keeps that evidence.
    """
    if visits.is_empty() or events.is_empty():
        return pl.DataFrame(schema=EXPLAINED_SCHEMA)
    if deviating is None:
        deviating = _deviations(visits, events, model, min_visits=min_visits, multiplicity=multiplicity)
    if not deviating:
        return pl.DataFrame(schema=EXPLAINED_SCHEMA)
    parent_of = {(t, v): p for t, v, p in visits.select("trace_id", "visit_id", "parent_visit").iter_rows()}
    since = {key: first for key, first in _deviating_below(parent_of, deviating).items() if first is not None}
    if not since:
        return pl.DataFrame(schema=EXPLAINED_SCHEMA)
    callers = pl.DataFrame(
        {"trace_id": [k[0] for k in since], "visit_id": [k[1] for k in since], "since": list(since.values())},
        schema={"trace_id": pl.Utf8, "visit_id": pl.Utf8, "since": pl.Datetime("us", "UTC")},
    )
    logs = events.filter(pl.col("event").str.starts_with("log ")).join(callers, on=["trace_id", "visit_id"])
    logs = logs.filter(pl.col("time") >= pl.col("since")).join(
        visits.select("trace_id", "visit_id", "service"), on=["trace_id", "visit_id"]
    )
    return logs.select(
        "trace_id",
        "service",
        pl.col("event").str.slice(4).cast(pl.Int64, strict=False).alias("template_id"),
        "time",
    ).cast(EXPLAINED_SCHEMA)


def trace_pattern_deviations(
    spans: pl.DataFrame,
    baseline_spans: pl.DataFrame,
    events: pl.DataFrame | None,
    baseline_events: pl.DataFrame | None,
    *,
    window: tuple[datetime, datetime],
    rare_count: int = 1,
    explained: list | None = None,
    multiplicity: str = "log2",
    pre_alert_normal: bool = False,
    **options,
) -> pl.DataFrame:
    """Services where the deviating traces of ``window`` start, against the normal patterns of the baseline.

    The normal patterns come from ``baseline_spans``/``baseline_events`` alone, as the log detectors'
    reference does: the stretch before an alert may already hold the fault's onset (docs/rca.md). With
    ``pre_alert_normal``, whatever of ``spans``/``events`` lies before the window is added to them (the
    earlier rule). ``multiplicity`` is how a pattern is written (:func:`pattern_model`). The visits that start
    in the window are judged (:func:`attribute_deviations`, ``options`` passed on). Returns
    ``service, votes, traces, first_seen, detail`` where ``traces`` is the number of window traces that
    visit the service. When ``explained`` is a list, the callers' log lines that a deviating callee
    explains (:func:`explained_log_lines`) are appended to it as one frame.
    """
    schema = {
        "service": pl.Utf8,
        "votes": pl.Float64,
        "traces": pl.UInt32,
        "expected": pl.Float64,
        "first_seen": pl.Datetime("us", "UTC"),
        "detail": pl.Utf8,
    }
    if spans.is_empty():
        return pl.DataFrame(schema=schema)
    min_visits = options.get("min_visits", 5)
    before = spans.filter(pl.col("start") < window[0]) if pre_alert_normal else spans.clear()
    normal_spans = pl.concat([baseline_spans, before]) if not before.is_empty() else baseline_spans
    normal_logs = events
    if not pre_alert_normal:
        normal_logs = baseline_events
    elif events is not None and baseline_events is not None:
        normal_logs = pl.concat(
            [baseline_events.select(events.columns), events.filter(pl.col("timestamp") < window[0])]
        )

    def model_of(normal: pl.DataFrame, logs: pl.DataFrame | None) -> pl.DataFrame:
        normal_visits, normal_members = service_visits(normal)
        return pattern_model(
            normal_visits,
            visit_events(normal_visits, normal_members, logs),
            rare_count=rare_count,
            multiplicity=multiplicity,
        )

    model = model_of(normal_spans, normal_logs)
    # Whole traces that start in the window are judged.
    first = spans.group_by("trace_id").agg(pl.col("start").min())
    current = spans.join(
        first.filter(pl.col("start").is_between(*window, closed="left")), on="trace_id", how="semi"
    )
    visits, members = service_visits(current)
    judged_events = visit_events(visits, members, events)
    deviating = _deviations(
        visits, judged_events, model, min_visits=min_visits, multiplicity=multiplicity
    )  # found once for both
    votes = attribute_deviations(
        visits, judged_events, model, multiplicity=multiplicity, deviating=deviating, **options
    )
    if explained is not None:
        explained.append(
            explained_log_lines(
                visits,
                judged_events,
                model,
                min_visits=min_visits,
                multiplicity=multiplicity,
                deviating=deviating,
            )
        )
    known = model.filter(pl.col("n") >= min_visits).select("service", "operation", "novelty")
    traces = (
        visits.join(known, on=["service", "operation"], how="left")
        .group_by("service")
        .agg(
            pl.col("trace_id").n_unique().alias("traces"),
            pl.col("novelty").fill_null(0.0).sum().alias("expected"),
        )
    )
    if votes.is_empty():
        votes = pl.DataFrame(
            schema={
                "service": pl.Utf8,
                "vote": pl.Float64,
                "first_seen": pl.Datetime("us", "UTC"),
                "detail": pl.Utf8,
            }
        )
    per_service = votes.group_by("service").agg(
        pl.col("vote").sum().alias("votes"),
        pl.col("first_seen").min(),
        pl.col("detail").mode().first().alias("detail"),
    )
    return (
        traces.join(per_service, on="service", how="full", coalesce=True)
        .with_columns(
            pl.col("votes").fill_null(0.0),
            pl.col("traces").fill_null(0),
            pl.col("expected").fill_null(0.0),
            pl.col("detail").fill_null(""),
        )
        .select(list(schema))
        .cast(schema)
    )


def _name_templates(detail: str, *frames: pl.DataFrame | None) -> str:
    """``log 4`` in an explanation becomes ``log 4 "<template text>"`` (cut at 80 characters) when a frame knows it."""
    ids = {int(m) for m in re.findall(r"\blog (\d+)", detail)}
    if not ids:
        return detail
    texts: dict[int, str] = {}
    for frame in frames:
        if frame is not None and {"template_id", "template"} <= set(frame.columns):
            for tid, text in (
                frame.filter(pl.col("template_id").is_in(list(ids)))
                .select("template_id", "template")
                .unique("template_id")
                .iter_rows()
            ):
                texts.setdefault(int(tid), text or "")
    return re.sub(
        r"\blog (\d+)",
        lambda m: f'log {m.group(1)} "{texts[int(m.group(1))][:80]}"'
        if int(m.group(1)) in texts
        else m.group(0),
        detail,
    )


def trace_pattern_signal(
    spans: pl.DataFrame,
    baseline_spans: pl.DataFrame,
    events: pl.DataFrame | None,
    baseline_events: pl.DataFrame | None,
    *,
    window: tuple[datetime, datetime],
    explained: list | None = None,
    **options,
) -> pl.DataFrame:
    """:func:`trace_pattern_deviations` as span-deviation rows (``metric = "trace_pattern"``) for the ranking.

    The score is the Poisson surprise (:func:`logrca.rca.detect.poisson_surprise`) of the service's votes against
    the deviations expected by chance, the sum of its judged window visits' ``novelty`` (floored at 0.5);
    only services with more votes than expected get a row.
    """
    from logrca.rca.detect import poisson_surprise
    from logrca.rca.signals.traces import SPAN_DEVIATION_SCHEMA

    found = trace_pattern_deviations(
        spans, baseline_spans, events, baseline_events, window=window, explained=explained, **options
    )
    rows = []
    for row in found.filter(pl.col("votes") > 0).iter_rows(named=True):
        score = poisson_surprise(row["votes"], max(row["expected"], 0.5))
        if score > 0:
            rows.append(
                {
                    "service": row["service"],
                    "metric": "trace_pattern",
                    "score": score,
                    "first_seen": row["first_seen"],
                    "detail": f"{row['votes']:.1f} of {row['traces']} traces deviate starting here "
                    f"({row['expected']:.1f} expected): {_name_templates(row['detail'], events, baseline_events)}",
                }
            )
    return pl.DataFrame(rows, schema=SPAN_DEVIATION_SCHEMA)
