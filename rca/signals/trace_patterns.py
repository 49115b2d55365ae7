"""Trace-level attribution: per service visit, the events of a trace (calls, local spans, log templates)
against their normal patterns; where each deviating trace starts, and the signal for the ranking.

Visits and their events are :mod:`logrca.rca.signals.visits`, normal patterns and deviations
:mod:`logrca.rca.signals.patterns`; their public names are importable from here too.

References
----------
.. [1] Yu, G. et al. *Nezha: Interpretable Fine-Grained Root Causes Analysis for Microservices on
   Multi-Modal Observability Data*. ESEC/FSE 2023 (event patterns per trace, normal vs. faulty).
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime

import polars as pl

from logrca.rca.signals.patterns import (
    EXPLAINED_SCHEMA,
    deviating_below,
    deviations,
    explained_log_lines,
    normal_data,
    pattern_model,
    patterns_of,
)
from logrca.rca.signals.visits import VISIT_SCHEMA, service_visits, visit_events

__all__ = [
    "EXPLAINED_SCHEMA",
    "VISIT_SCHEMA",
    "attribute_deviations",
    "explained_log_lines",
    "pattern_model",
    "service_visits",
    "trace_pattern_deviations",
    "trace_pattern_signal",
    "visit_events",
]

#: One vote of a deviating trace (:func:`attribute_deviations`).
_VOTE_SCHEMA = {
    "trace_id": pl.Utf8,
    "service": pl.Utf8,
    "vote": pl.Float64,
    "first_seen": pl.Datetime("us", "UTC"),
    "detail": pl.Utf8,
}
#: Per service, what :func:`trace_pattern_deviations` found.
_SIGNAL_SCHEMA = {
    "service": pl.Utf8,
    "votes": pl.Float64,
    "traces": pl.UInt32,
    "expected": pl.Float64,
    "first_seen": pl.Datetime("us", "UTC"),
    "detail": pl.Utf8,
}


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
        Apply the response rule (:func:`_handed_off`). Off by default: on the 29 TrainTicket cases it moved votes from
        services that answered wrongly to their own callees more often than it caught a wrong answer
        (AC@3 0.931 -> 0.897 when fused, see docs/rca.md).
    multiplicity : {"log2", "count", "set"}, default "log2"
        How a pattern is written (:func:`pattern_model`); must match the one ``model`` was built with.
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
    demotes a loud caller whose deviation a callee explains. The response rule is :func:`_handed_off`'s.
    """
    if deviating is None:
        deviating = deviations(visits, events, model, min_visits=min_visits, multiplicity=multiplicity)
    if not deviating:
        return pl.DataFrame(schema=_VOTE_SCHEMA)
    traces = list({t for t, _ in deviating})
    tree = visits.filter(pl.col("trace_id").is_in(traces))
    service_of = {(t, v): s for t, v, s in tree.select("trace_id", "visit_id", "service").iter_rows()}
    parent_of = {(t, v): p for t, v, p in tree.select("trace_id", "visit_id", "parent_visit").iter_rows()}
    calls = _calls(events, traces) if hand_off else None
    return pl.DataFrame(_votes(parent_of, deviating, service_of=service_of, calls=calls), schema=_VOTE_SCHEMA)


def _votes(
    parent_of: dict[tuple, str | None],
    deviating: dict,
    *,
    service_of: dict[tuple, str],
    calls: dict[tuple, list] | None,
) -> list[dict]:
    """One vote per deviating trace, split evenly over the visits where its deviation starts; with
    ``calls``, the response rule (:func:`_handed_off`) may pass a vote on to a callee."""
    rows = []
    for trace_id, origins in _origins(parent_of, deviating).items():
        for key in origins:
            first, found = deviating[key]
            blamed, why = service_of.get(key), "its own events: " + ", ".join(sorted(set(found))[:3])
            if calls is not None:
                blamed, why = _handed_off(key, deviating, calls=calls, service_of=service_of) or (blamed, why)
            rows.append(
                {
                    "trace_id": trace_id,
                    "service": blamed,
                    "vote": 1.0 / len(origins),
                    "first_seen": first,
                    "detail": why,
                }
            )
    return rows


def _calls(events: pl.DataFrame, traces: list[str]) -> dict[tuple, list]:
    """Per visit of ``traces``, its remote calls as ``(time, response, child_visit)``."""
    calls = defaultdict(list)
    for t, v, time, response, child in (
        events.filter(pl.col("trace_id").is_in(traces) & pl.col("child_visit").is_not_null())
        .select("trace_id", "visit_id", "time", "response", "child_visit")
        .iter_rows()
    ):
        calls[(t, v)].append((time, response, child))
    return calls


def _origins(parent_of: dict[tuple, str | None], deviating: dict) -> dict[str, list[tuple]]:
    """Per trace, the deviating visits where its deviation starts: those without a deviating descendant."""
    explained = deviating_below(parent_of, deviating)
    by_trace = defaultdict(list)
    for key in deviating:
        if key not in explained:
            by_trace[key[0]].append(key)
    return by_trace


def _handed_off(
    key: tuple, deviating: dict, *, calls: dict[tuple, list], service_of: dict[tuple, str]
) -> tuple[str, str] | None:
    """The callee blamed by the response rule for the origin visit ``key``, and why; None when it does not apply.

    When the origin visit's first deviating event comes right after the response
    of one of its calls -- the call whose response is the latest before that event, with no other call
    starting in between -- and that call's own events look normal, the callee returned something that
    made the caller act differently (a wrong return value), and the vote goes to that callee. A deviation
    with no new event kind (something missing) is timed at the visit's end, so it hands off to the last
    call answered.
    """
    t, v = key
    first, found = deviating[key]
    answered = [c for c in calls.get((t, v), []) if c[1] is not None and c[1] <= first]
    if not answered:
        return None
    time, response, child = max(answered, key=lambda c: c[1])
    started_after = any(response < c[0] <= first for c in calls.get((t, v), []))
    if started_after or (t, child) in deviating or not service_of.get((t, child)):
        return None
    why = (
        f"{service_of.get((t, v))} deviated right after its response ("
        + ", ".join(sorted(set(found))[:3])
        + ")"
    )
    return service_of[(t, child)], why


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
    model: pl.DataFrame | None = None,
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
    explains (:func:`explained_log_lines`) are appended to it as one frame. ``model`` is
    :func:`baseline_patterns` of the same baseline and options when already built (None: built here).
    """
    if spans.is_empty():
        return pl.DataFrame(schema=_SIGNAL_SCHEMA)
    min_visits = options.get("min_visits", 5)
    if model is None:
        normal_spans, normal_logs = normal_data(
            (spans, events),
            (baseline_spans, baseline_events),
            window=window,
            pre_alert_normal=pre_alert_normal,
        )
        model = patterns_of(normal_spans, normal_logs, rare_count=rare_count, multiplicity=multiplicity)
    visits, members = service_visits(_window_traces(spans, window))
    judged_events = visit_events(visits, members, events)
    deviating = deviations(
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
    return _per_service(visits, votes, known)


def _window_traces(spans: pl.DataFrame, window: tuple[datetime, datetime]) -> pl.DataFrame:
    """The spans of the whole traces that start in ``window``: those are judged."""
    first = spans.group_by("trace_id").agg(pl.col("start").min())
    return spans.join(
        first.filter(pl.col("start").is_between(*window, closed="left")), on="trace_id", how="semi"
    )


def _per_service(visits: pl.DataFrame, votes: pl.DataFrame, known: pl.DataFrame) -> pl.DataFrame:
    """Per service: its votes, the window traces that visit it, the deviations expected by chance (the
    ``novelty`` of its judged visits, ``known``), when it first deviated and its commonest explanation."""
    traces = (
        visits.join(known, on=["service", "operation"], how="left")
        .group_by("service")
        .agg(
            pl.col("trace_id").n_unique().alias("traces"),
            pl.col("novelty").fill_null(0.0).sum().alias("expected"),
        )
    )
    if votes.is_empty():
        votes = pl.DataFrame(schema={k: v for k, v in _VOTE_SCHEMA.items() if k != "trace_id"})
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
        .select(list(_SIGNAL_SCHEMA))
        .cast(_SIGNAL_SCHEMA)
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
