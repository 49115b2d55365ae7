"""The multi-signal analysis of one window: log anomalies, graph from spans, trace and metric signals, ranking.

:func:`analyse_case` is a domain function of frames (a :class:`Case`); the pipeline's ``analyse`` asset
calls it for every partition, and ``logrca rca`` / ``logrca eval rca`` run those assets on a case folder.
A system without spans or metrics passes empty frames: the same function ranks from its logs.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import networkx as nx
import polars as pl

from logrca.parsers.ingest.schema import METRIC_SCHEMA, SPAN_SCHEMA
from logrca.rca.detect import covered_intervals, detect_anomalies, discount_explained
from logrca.rca.graph import service_dependency_graph
from logrca.rca.options import AnalysisOptions
from logrca.rca.rank import evidence_rows, rank_root_causes
from logrca.rca.signals.metrics import metric_deviations
from logrca.rca.signals.patterns import baseline_patterns
from logrca.rca.signals.trace_patterns import trace_pattern_signal
from logrca.rca.signals.traces import (
    edge_changes,
    known_requests,
    request_scale,
    span_deviations,
    window_self_times,
)
from logrca.rca.signals.traces import self_times as span_self_times
from logrca.rca.signals.wire_time import wire_time_signal
from logrca.rca.template_variants import merge_list_variants, mine_case_templates

__all__ = ["Case", "CaseAnalysis", "analyse_case"]


@dataclass
class Case:
    """The frames one analysis reads: a window's data and its baseline.

    ``spans``/``baseline_spans`` follow :data:`~logrca.parsers.ingest.schema.SPAN_SCHEMA`, ``metrics``
    :data:`~logrca.parsers.ingest.schema.METRIC_SCHEMA` (empty frames when the system has none: the
    analysis then ranks from the logs). The window starts at ``alert_time`` (minus the lead) and ends at
    ``window_end`` (default: just after the last event); ``events`` and ``spans`` may hold data before
    it, the quiet stretch that gives each service's usual noise. ``baseline_source`` is ``"normal"``
    (fault-free data), ``"partitions"`` (the partitions before) or ``"before-alert"``; ``topology`` the
    declared calls ``{caller: [callee, ...]}`` the graph starts from.
    """

    name: str
    system: str
    alert_time: datetime
    events: pl.DataFrame
    baseline_events: pl.DataFrame
    spans: pl.DataFrame
    baseline_spans: pl.DataFrame
    metrics: pl.DataFrame
    baseline_source: str = "normal"
    window_end: datetime | None = None
    topology: dict[str, list[str]] | None = None

    def __post_init__(self) -> None:
        for name, schema in (
            ("spans", SPAN_SCHEMA),
            ("baseline_spans", SPAN_SCHEMA),
            ("metrics", METRIC_SCHEMA),
        ):
            if getattr(self, name).width == 0:
                setattr(self, name, pl.DataFrame(schema=schema))


@dataclass
class CaseAnalysis:
    """Everything the ranking saw and produced for one case."""

    case: Case
    window: tuple
    anomalies: pl.DataFrame
    graph: nx.DiGraph
    edge_changes: pl.DataFrame
    span_deviations: pl.DataFrame
    metric_deviations: pl.DataFrame
    ranking: pl.DataFrame
    events: pl.DataFrame
    baseline_events: pl.DataFrame
    noise: pl.DataFrame | None = None
    active_services: list | None = None


@contextmanager
def _timed(timings: dict[str, float] | None, stage: str):
    started = time.perf_counter()
    try:
        yield
    finally:
        if timings is not None:
            timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - started


def analyse_case(
    case: Case,
    *,
    options: AnalysisOptions | None = None,
    templates: tuple[pl.DataFrame, pl.DataFrame] | None = None,
    timings: dict[str, float] | None = None,
    changes: pl.DataFrame | None = None,
    change_weight: float = 0.5,
    change_lookback: timedelta = timedelta(minutes=30),
) -> CaseAnalysis:
    """Score every signal of ``case`` against its baseline and rank the services.

    Every threshold, weight and switch is a field of ``options`` (:class:`logrca.rca.options.AnalysisOptions`;
    defaults when None). The window runs from ``alert_time - window_lead_s`` to ``case.window_end`` (default: the last event); the baseline is the case's
    fault-free minutes (``case.baseline_events`` / ``case.baseline_spans``). When the case holds at least
    ``noise.min_quiet_s`` of data before the window, the same log and span detectors also run on that quiet stretch
    against the same baseline: what they find there is each service's usual noise (``noise`` of
    :func:`logrca.rca.rank.rank_root_causes`). Services with spans in the window are the active ones. When
    ``timings`` is a dict, the seconds spent per stage are added to it (``bench/bench_rca.py``).
    ``changes`` are the change events (:func:`logrca.rca.changes.detect_changes`) that the ranking weighs:
    a service changed at most ``change_lookback`` before its first anomaly has its anomaly multiplied by
    ``1 + change_weight``.
    ``templates`` is ``(baseline_events, events)`` already mined (the pipeline's ``log_templates`` asset;
    an evaluation that runs many option settings on one case mines once); None: mined here with
    :func:`logrca.rca.template_variants.mine_case_templates`. ``options.patterns`` holds the options of
    :func:`logrca.rca.signals.trace_patterns.trace_pattern_signal` (``enabled=False``
    leaves that signal out; ``discount=False`` keeps the callers' log lines that a deviating callee
    explains, see :func:`logrca.rca.detect.discount_explained`). With ``merge_variants``, case lines whose template
    only differs from a baseline template of their service by the length of a printed list count as that
    template (:func:`logrca.rca.template_variants.merge_list_variants`).

    ``noise.source`` says where each service's usual noise comes from: ``"before-alert"`` (default: the
    quiet stretch above), ``"normal"`` (each fault-free stretch judged against the others, when the baseline
    is the ``normal/`` minutes and there are at least two), ``"both"`` (all of these rows), or
    ``"confirmed"``: the quiet stretch, except that in ``noise.confirm_signals`` (all signals when None) a
    score counts as noise only up to what the service also shows between fault-free stretches. The
    stretch before an alert may already hold the fault's onset; the fault-free minutes cannot. It was the
    default until the leave-one-out showed it rests on one case (docs/rca.md, "Generalisation").

    Longer than 60 lines for its docstring and its one sequence of timed stages (the bench reads the
    timings); each stage is a call to a helper or a signal module.
    """
    options = options or AnalysisOptions()
    window = _window(case, timedelta(seconds=options.window_lead_s))
    with _timed(timings, "templates (drain)"):
        if templates is None and "template_id" in case.events.columns:
            templates = (case.baseline_events, case.events)  # mined by the pipeline's log_templates
        baseline_events, events = templates or mine_case_templates([case.baseline_events, case.events])
        if options.merge_variants:
            baseline_events, events = merge_list_variants(
                baseline_events, events, max_period=options.variant_max_period
            )
    baseline_intervals = covered_intervals(baseline_events)
    with _timed(timings, "window signals (logs, self time, wire time, trace patterns)"):
        normal = (
            baseline_patterns(case.baseline_spans, baseline_events, **options.patterns.signal_kwargs())
            if options.patterns.enabled and not case.spans.is_empty()
            else None
        )
        baseline_self = span_self_times(case.baseline_spans)  # the window's and the quiet stretch's baseline
        anomalies, self_times = _log_and_span_signals(
            case, events, baseline_events, baseline_intervals, window, options, normal, baseline_self
        )
    with _timed(timings, "graph and edge latency"):
        graph = service_dependency_graph(
            topology=case.topology, spans=pl.concat([case.baseline_spans, case.spans]), events=events
        )
        edges = edge_changes(case.spans, case.baseline_spans, window=window)
    with _timed(timings, "metrics"):
        metric_rows = metric_deviations(case.metrics, alert_time=case.alert_time, config=options.metrics)
    with _timed(timings, "own noise (same signals before the alert)"):
        noise = _noise(
            case, events, baseline_events, baseline_intervals, window, options, normal, baseline_self
        )
    active = (
        case.spans.filter(pl.col("start").is_between(*window, closed="left"))["service"].unique().to_list()
    )
    # Edge latency is left to the explanation: a callee's latency includes its own callees', so it blames
    # every service on a slow path; exclusive time and call gaps attribute it (see docs/rca.md).
    with _timed(timings, "ranking"):
        ranking = rank_root_causes(
            graph,
            anomalies,
            span_deviations=self_times,
            metric_deviations=metric_rows,
            noise=noise,
            active_services=active,
            propagation=options.ranking.propagation,
            noise_weight=options.noise.weight,
            noise_keep=options.noise.keep,
            idle_weight=options.ranking.idle_weight,
            signal_weights=options.ranking.signal_weights or None,
            changes=changes,
            change_weight=change_weight,
            change_lookback=change_lookback,
        )
    return CaseAnalysis(
        case,
        window,
        anomalies,
        graph,
        edges,
        self_times,
        metric_rows,
        ranking,
        events,
        baseline_events,
        noise,
        active,
    )


def _noise(
    case: Case,
    events: pl.DataFrame,
    baseline_events: pl.DataFrame,
    intervals: list,
    window: tuple,
    options: AnalysisOptions,
    normal: pl.DataFrame | None = None,
    baseline_self: pl.DataFrame | None = None,
) -> pl.DataFrame | None:
    """Each service's usual noise per signal (``noise.source`` of :func:`analyse_case`), or None."""
    start = window[0]
    starts = [events["timestamp"].min(), case.spans["start"].min() if not case.spans.is_empty() else None]
    case_start = min((t for t in starts if t is not None), default=start)
    noise, noise_from, confirm_signals = None, options.noise.source, options.noise.confirm_signals
    if noise_from != "before-alert" and case.baseline_source == "normal" and len(intervals) >= 2:
        confirm = confirm_signals if noise_from == "confirmed" else None
        noise = _fault_free_noise(case, baseline_events, intervals, options, confirm)
    quiet_enough = start - case_start >= timedelta(seconds=options.noise.min_quiet_s)
    if (noise is None or noise_from in ("both", "confirmed")) and quiet_enough:
        quiet_anomalies, quiet_spans = _log_and_span_signals(
            case, events, baseline_events, intervals, (case_start, start), options, normal, baseline_self
        )
        quiet = evidence_rows(quiet_anomalies, span_deviations=quiet_spans)
        if noise is None or noise_from == "both":
            noise = quiet if noise is None else pl.concat([noise, quiet])
        else:  # confirmed: what the service shows before the alert, up to what the fault-free minutes show it can
            noise = _confirmed_noise(quiet, noise, confirm_signals)
    return noise


def _window(case: Case, lead: timedelta) -> tuple[datetime, datetime]:
    start = case.alert_time - lead
    if case.window_end is not None:
        return start, max(case.window_end, start)
    last = case.events["timestamp"].max() if not case.events.is_empty() else None
    return start, max(last or start, start) + timedelta(microseconds=1)


def _log_and_span_signals(
    case: Case,
    events: pl.DataFrame,
    baseline_events: pl.DataFrame,
    baseline_intervals: list,
    window: tuple,
    options: AnalysisOptions,
    normal: pl.DataFrame | None = None,
    baseline_self: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Log anomalies (rates per request) and span deviations (exclusive time, call gaps, trace patterns) of ``window``;
    ``normal``, ``baseline_self``: the baseline's trace patterns (:func:`baseline_patterns`) and self
    times (:func:`~logrca.rca.signals.traces.self_times`) when already built."""
    traces, detection = options.traces, options.detection
    own = window_self_times(case.spans, case.baseline_spans, window, baseline_self)
    scale = None
    if traces.per_request_rates:
        scale = request_scale(
            case.spans, case.baseline_spans, window=window, min_requests=traces.min_requests, own=own
        )
    marked = events
    if traces.known_request_visits:
        marked = known_requests(
            events, case.spans, case.baseline_spans, min_visits=traces.known_request_visits
        )
    anomalies = detect_anomalies(
        marked,
        window=window,
        baseline=baseline_intervals,
        config=detection,
        baseline_events=baseline_events,
        service_scale=scale,
    )
    spans = pl.concat(
        [
            span_deviations(
                case.spans, case.baseline_spans, window=window, own=own, **traces.self_time_kwargs()
            ),
            wire_time_signal(case.spans, case.baseline_spans, window, traces),
        ]
    )
    if options.patterns.enabled:
        # Judged against the fault-free minutes plus the case before ``window`` (none for the quiet stretch).
        explained: list[pl.DataFrame] = []
        patterns = trace_pattern_signal(
            case.spans.filter(pl.col("start") < window[1]),
            case.baseline_spans,
            events.filter(pl.col("timestamp") < window[1]),
            baseline_events,
            window=window,
            explained=explained,
            model=normal,
            **options.patterns.signal_kwargs(),
        )
        spans = pl.concat([spans, patterns])
        if options.patterns.discount and explained and "trace_id" in events.columns:
            # A caller's lines written after its callee began to deviate, in the same trace, are the callee's.
            window_events = events.filter(pl.col("timestamp").is_between(*window, closed="left"))
            anomalies = discount_explained(anomalies, window_events, explained[0], detection)
    return anomalies, spans


def _fault_free_noise(
    case: Case,
    baseline_events: pl.DataFrame,
    intervals: list[tuple],
    options: AnalysisOptions,
    signals: tuple[str, ...] | None = None,
) -> pl.DataFrame | None:
    """Each service's usual noise from the fault-free minutes alone: every stretch judged against the others.

    The same log and span detectors run on each fault-free stretch (``intervals``) with the remaining
    stretches as its baseline (leave one out), and the rows of all passes are returned (the ranking takes
    each service's largest per signal). Unlike the stretch before the alert, these minutes cannot hold the
    fault's onset. When ``signals`` holds only the wire-time signal, only that detector runs.
    """
    rows = []
    for i, (a, b) in enumerate(intervals):
        rest = intervals[:i] + intervals[i + 1 :]
        inside_events = pl.col("timestamp").is_between(a, b, closed="left")
        inside_spans = pl.col("start").is_between(a, b, closed="left")
        held_out = replace(
            case,
            events=baseline_events.filter(inside_events),
            spans=case.baseline_spans.filter(inside_spans),
            baseline_events=baseline_events.filter(~inside_events),
            baseline_spans=case.baseline_spans.filter(~inside_spans),
        )
        if held_out.events.is_empty() or held_out.baseline_events.is_empty():
            continue
        if signals is not None and set(signals) <= {"trace_call_gap"}:
            wire = wire_time_signal(held_out.spans, held_out.baseline_spans, (a, b), options.traces)
            rows.append(evidence_rows(pl.DataFrame(), span_deviations=wire))
            continue
        anomalies, spans = _log_and_span_signals(
            held_out, held_out.events, held_out.baseline_events, rest, (a, b), options
        )
        rows.append(evidence_rows(anomalies, span_deviations=spans))
    return pl.concat(rows) if rows else None


def _confirmed_noise(
    quiet: pl.DataFrame, fault_free: pl.DataFrame | None, signals: tuple[str, ...] | None
) -> pl.DataFrame:
    """Per service and signal, its largest score before the alert; for ``signals`` (all when None) no more
    than its largest score in the fault-free minutes (``fault_free``, 0 when it has none there)."""

    def best(rows: pl.DataFrame, name: str) -> pl.DataFrame:
        return rows.group_by("service", "signal").agg(pl.col("score").max().alias(name))

    if fault_free is None:
        return quiet
    both = best(quiet, "before").join(best(fault_free, "normal"), on=["service", "signal"], how="left")
    confirmed = pl.lit(True) if signals is None else pl.col("signal").is_in(list(signals))
    return both.select(
        "service",
        "signal",
        pl.when(confirmed)
        .then(pl.min_horizontal("before", pl.col("normal").fill_null(0.0)))
        .otherwise(pl.col("before"))
        .alias("score"),
    )
