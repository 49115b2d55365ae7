"""Normal trace patterns per ``(service, operation)``, the visits whose pattern deviates from them, and the
callers' log lines such a deviation explains."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from logrca.rca.signals.visits import service_visits, visit_events

__all__ = [
    "EXPLAINED_SCHEMA",
    "baseline_patterns",
    "deviating_below",
    "deviations",
    "explained_log_lines",
    "normal_data",
    "pattern_model",
    "patterns_of",
]


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


def deviations(
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
    new, odd = _new_kinds(deviating, events, known), _unseen_parts(deviating, known)
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


def _new_kinds(deviating: pl.DataFrame, events: pl.DataFrame, known: pl.DataFrame) -> pl.DataFrame:
    """Per deviating visit, its event kinds never seen in its ``(service, operation)`` (``new``) and when
    the first of its events of such a kind happened (``first``)."""
    seen = known.select("service", "operation", pl.col("events").alias("event")).explode(
        "event", empty_as_null=False
    )
    own = events.join(
        deviating.select("trace_id", "visit_id", "service", "operation"), on=["trace_id", "visit_id"]
    )
    return (
        own.join(seen, on=["service", "operation", "event"], how="anti")
        .group_by("trace_id", "visit_id")
        .agg(pl.col("time").min().alias("first"), pl.col("event").unique().sort().alias("new"))
    )


def _unseen_parts(deviating: pl.DataFrame, known: pl.DataFrame) -> pl.DataFrame:
    """Per deviating visit, the parts of its pattern no normal pattern has (``odd``: a count never seen,
    with multiplicity) -- what deviates when no event kind is new."""
    parts = (
        known.select("service", "operation", pl.col("signatures").alias("part"))
        .explode("part", empty_as_null=False)
        .with_columns(pl.col("part").str.split("|"))
        .explode("part", empty_as_null=False)
        .unique()
    )
    return (
        deviating.select(
            "trace_id", "visit_id", "service", "operation", pl.col("signature").str.split("|").alias("part")
        )
        .explode("part", empty_as_null=False)
        .filter(pl.col("part") != "")
        .join(parts, on=["service", "operation", "part"], how="anti")
        .group_by("trace_id", "visit_id")
        .agg(pl.col("part").sort().alias("odd"))
    )


def deviating_below(parent_of: dict[tuple, str | None], deviating: dict) -> dict[tuple, datetime | None]:
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
        As for :func:`logrca.rca.signals.trace_patterns.attribute_deviations`.
    min_visits : int, default 5
        Operations with fewer normal visits are not judged.
    multiplicity, deviating
        As for :func:`logrca.rca.signals.trace_patterns.attribute_deviations`.

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
        deviating = deviations(visits, events, model, min_visits=min_visits, multiplicity=multiplicity)
    if not deviating:
        return pl.DataFrame(schema=EXPLAINED_SCHEMA)
    parent_of = {(t, v): p for t, v, p in visits.select("trace_id", "visit_id", "parent_visit").iter_rows()}
    since = {key: first for key, first in deviating_below(parent_of, deviating).items() if first is not None}
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


def normal_data(
    current: tuple[pl.DataFrame, pl.DataFrame | None],
    baseline: tuple[pl.DataFrame, pl.DataFrame | None],
    *,
    window: tuple[datetime, datetime],
    pre_alert_normal: bool,
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The spans and log events the normal patterns come from: the ``baseline`` ones, plus with
    ``pre_alert_normal`` whatever of the ``current`` spans and events lies before the window."""
    (spans, events), (baseline_spans, baseline_events) = current, baseline
    before = spans.filter(pl.col("start") < window[0]) if pre_alert_normal else spans.clear()
    normal_spans = pl.concat([baseline_spans, before]) if not before.is_empty() else baseline_spans
    normal_logs = events
    if not pre_alert_normal:
        normal_logs = baseline_events
    elif events is not None and baseline_events is not None:
        normal_logs = pl.concat(
            [baseline_events.select(events.columns), events.filter(pl.col("timestamp") < window[0])]
        )

    return normal_spans, normal_logs


def baseline_patterns(
    baseline_spans: pl.DataFrame,
    baseline_events: pl.DataFrame | None,
    *,
    rare_count: int = 1,
    multiplicity: str = "log2",
    pre_alert_normal: bool = False,
    **_options,
) -> pl.DataFrame | None:
    """The normal patterns of the baseline alone, built once for every window judged against it.

    The options are :func:`logrca.rca.signals.trace_patterns.trace_pattern_signal`'s. None with
    ``pre_alert_normal``: the patterns then take in the case before each window, so they are built
    per window.
    """
    if pre_alert_normal:
        return None
    return patterns_of(baseline_spans, baseline_events, rare_count=rare_count, multiplicity=multiplicity)


def patterns_of(
    normal: pl.DataFrame, logs: pl.DataFrame | None, *, rare_count: int, multiplicity: str
) -> pl.DataFrame:
    """:func:`pattern_model` of the visits of the spans ``normal`` and their ``logs``."""
    normal_visits, normal_members = service_visits(normal)
    return pattern_model(
        normal_visits,
        visit_events(normal_visits, normal_members, logs),
        rare_count=rare_count,
        multiplicity=multiplicity,
    )
