"""The multi-signal analysis of one window: log anomalies, graph from spans, trace and metric signals, ranking.

:func:`analyse_case` is a domain function of frames (events with templates, spans, metrics, the window
and the baseline); the pipeline's analysis assets call it for every partition, and ``logrca rca`` /
``logrca eval rca`` run those assets on a case folder. A system without spans or metrics passes empty
frames: the same function then ranks from its logs alone.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import networkx as nx
import polars as pl

from logrca.parsers.ingest.schema import METRIC_SCHEMA, SPAN_SCHEMA
from logrca.rca.detect import DetectionConfig, detect_anomalies, discount_explained
from logrca.rca.graph import service_dependency_graph
from logrca.rca.rank import evidence_rows, rank_root_causes
from logrca.rca.signals.metrics import MetricConfig, metric_deviations
from logrca.rca.signals.trace_patterns import trace_pattern_signal
from logrca.rca.signals.traces import edge_changes, network_deviations, request_scale, span_deviations
from logrca.rca.template_variants import merge_list_variants

__all__ = ["BASELINE_KINDS", "Case", "CaseAnalysis", "analyse_case"]

#: Where a baseline came from: fault-free data (sources of role ``baseline``, a case's ``normal/``),
#: the partitions before the window, or the part of the window's partition before the alert.
BASELINE_KINDS = ("normal", "partitions", "before-alert")
NOISE_FROM = ("before-alert", "normal", "both", "confirmed")


@dataclass
class Case:
    """The frames one analysis reads: a window's data and its baseline, with templates already mined.

    ``events``/``baseline_events`` carry ``template_id`` and ``template``; ``spans``/``baseline_spans``
    follow :data:`~logrca.parsers.ingest.schema.SPAN_SCHEMA`, ``metrics`` :data:`~logrca.parsers.ingest.schema.METRIC_SCHEMA`
    (empty frames when the system has none). The window starts at ``alert_time`` (minus the lead of
    :func:`analyse_case`) and ends at ``window_end`` (default: just after the last event). ``events`` and
    ``spans`` may hold data before the window: that quiet stretch gives each service's usual noise.
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
            frame = getattr(self, name)
            if frame.width == 0:
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


@dataclass(frozen=True)
class _Settings:
    detection: DetectionConfig | None
    trace_patterns: dict | None
    noise_from: str
    confirm_signals: tuple[str, ...] | None
    min_quiet: timedelta


def analyse_case(
    case: Case,
    *,
    detection: DetectionConfig | None = None,
    metrics: MetricConfig | None = None,
    window_lead: timedelta = timedelta(0),
    min_quiet: timedelta = timedelta(seconds=30),
    propagation: float = 0.0,
    trace_patterns: dict | None = None,
    merge_variants: bool = True,
    noise_from: str = "confirmed",
    confirm_signals: tuple[str, ...] | None = ("trace_call_gap",),
    timings: dict[str, float] | None = None,
) -> CaseAnalysis:
    """Score every signal of ``case`` against its baseline and rank the services.

    The window runs from ``alert_time - window_lead`` to ``case.window_end`` (default: the last event);
    the baseline is ``case.baseline_events`` / ``case.baseline_spans``. When the case holds at least
    ``min_quiet`` of data before the window, the same log and span detectors also run on that quiet stretch
    against the same baseline: what they find there is each service's usual noise (``noise`` of
    :func:`logrca.rca.rank.rank_root_causes`). Services with spans in the window are the active ones. When
    ``timings`` is a dict, the seconds spent per stage are added to it (``bench/bench_rca.py``).
    ``trace_patterns`` holds options of :func:`logrca.rca.signals.trace_patterns.trace_pattern_signal` (``{"off": True}``
    leaves that signal out; ``{"discount": False}`` keeps the callers' log lines that a deviating callee
    explains, see :func:`logrca.rca.detect.discount_explained`). With ``merge_variants``, case lines whose template
    only differs from a baseline template of their service by the length of a printed list count as that
    template (:func:`logrca.rca.template_variants.merge_list_variants`).

    ``noise_from`` and ``confirm_signals`` say where each service's usual noise comes from (:func:`_noise`).

    Longer than 60 lines because it is the method's one sequence of stages, each timed for the bench;
    every stage is a call to a helper or a signal module.
    """
    if noise_from not in NOISE_FROM:
        raise ValueError(f"analyse_case: noise_from must be one of {NOISE_FROM}, not {noise_from!r}")
    settings = _Settings(detection, trace_patterns, noise_from, confirm_signals, min_quiet)
    window = _window(case, window_lead)
    events, baseline_events = case.events, case.baseline_events
    if merge_variants:
        with _timed(timings, "templates (list variants)"):
            baseline_events, events = merge_list_variants(baseline_events, events)
    baseline_intervals = _span_of(baseline_events)
    with _timed(timings, "window signals (logs, self time, wire time, trace patterns)"):
        anomalies, self_times = _log_and_span_signals(
            case, events, baseline_events, baseline_intervals, window, detection, trace_patterns
        )
    with _timed(timings, "graph and edge latency"):
        graph = service_dependency_graph(
            topology=case.topology, spans=pl.concat([case.baseline_spans, case.spans]), events=events
        )
        edges = edge_changes(case.spans, case.baseline_spans, window=window)
    with _timed(timings, "metrics"):
        metric_rows = metric_deviations(case.metrics, alert_time=case.alert_time, config=metrics)
    with _timed(timings, "own noise (same signals before the alert)"):
        noise = _noise(case, events, baseline_events, baseline_intervals, window, settings)
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
            propagation=propagation,
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


def _window(case: Case, lead: timedelta) -> tuple[datetime, datetime]:
    start = case.alert_time - lead
    if case.window_end is not None:
        return start, max(case.window_end, start)
    last = case.events["timestamp"].max() if not case.events.is_empty() else None
    return start, max(last or start, start) + timedelta(microseconds=1)


def _noise(
    case: Case,
    events: pl.DataFrame,
    baseline_events: pl.DataFrame,
    intervals: list,
    window: tuple,
    settings: _Settings,
) -> pl.DataFrame | None:
    """Each service's usual noise per signal, rows ``service, signal, score`` (None when there is none).

    ``noise_from`` says where each service's usual noise comes from: ``"before-alert"`` (the detectors on the
    case's data before the window, when it holds ``min_quiet``), ``"normal"`` (each fault-free stretch judged against the others, when the baseline
    is fault-free data and there are at least two stretches), ``"both"`` (all of these rows), or ``"confirmed"`` (default): the quiet stretch, except that
    in ``confirm_signals`` (all signals when None) a score counts as noise only up to what the service
    also shows between fault-free stretches. The stretch before an alert may already hold the fault's
    onset (a delay that began a minute early); the fault-free minutes cannot. The wire-time signal
    (``trace_call_gap``) is the one confirmed by default: its score is an effect size (how far the wait
    moved), which a minute of fault-free data pins down, while the other signals count rare events
    (a new error line, a rare trace pattern, calls above a p99) whose sporadic same-day occurrences the
    fault-free minutes, a day apart, are too short to show (measured in docs/rca.md).
    """
    noise = None
    if settings.noise_from != "before-alert" and case.baseline_source == "normal" and len(intervals) >= 2:
        confirm = settings.confirm_signals if settings.noise_from == "confirmed" else None
        noise = _fault_free_noise(
            case, baseline_events, intervals, settings.detection, settings.trace_patterns, confirm
        )
    starts = [events["timestamp"].min(), case.spans["start"].min() if not case.spans.is_empty() else None]
    starts = [t for t in starts if t is not None]
    if not starts or window[0] - min(starts) < settings.min_quiet:
        return noise
    if noise is not None and settings.noise_from == "normal":
        return noise
    quiet_anomalies, quiet_spans = _log_and_span_signals(
        case,
        events,
        baseline_events,
        intervals,
        (min(starts), window[0]),
        settings.detection,
        settings.trace_patterns,
    )
    quiet = evidence_rows(quiet_anomalies, span_deviations=quiet_spans)
    if noise is None or settings.noise_from == "both":
        return quiet if noise is None else pl.concat([noise, quiet])
    # confirmed: what the service shows before the alert, up to what the fault-free minutes show it can
    return _confirmed_noise(quiet, noise, settings.confirm_signals)


def _log_and_span_signals(
    case: Case,
    events: pl.DataFrame,
    baseline_events: pl.DataFrame,
    baseline_intervals: list,
    window: tuple,
    detection: DetectionConfig | None,
    trace_patterns: dict | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Log anomalies (rates per request) and span deviations (exclusive time, call gaps, trace patterns) of ``window``."""
    scale = request_scale(case.spans, case.baseline_spans, window=window)
    anomalies = detect_anomalies(
        events,
        window=window,
        baseline=baseline_intervals,
        config=detection,
        baseline_events=baseline_events,
        service_scale=scale,
    )
    spans = pl.concat(
        [
            span_deviations(case.spans, case.baseline_spans, window=window),
            network_deviations(case.spans, case.baseline_spans, window=window),
        ]
    )
    options = dict(trace_patterns or {})
    discount = options.pop("discount", True)
    if not options.pop("off", False):
        # Judged against the fault-free minutes plus the case before ``window`` (none for the quiet stretch).
        explained: list[pl.DataFrame] = []
        patterns = trace_pattern_signal(
            case.spans.filter(pl.col("start") < window[1]),
            case.baseline_spans,
            events.filter(pl.col("timestamp") < window[1]),
            baseline_events,
            window=window,
            explained=explained,
            **options,
        )
        spans = pl.concat([spans, patterns])
        if discount and explained and "trace_id" in events.columns:
            # A caller's lines written after its callee began to deviate, in the same trace, are the callee's.
            window_events = events.filter(pl.col("timestamp").is_between(*window, closed="left"))
            anomalies = discount_explained(anomalies, window_events, explained[0], detection)
    return anomalies, spans


def _fault_free_noise(
    case: Case,
    baseline_events: pl.DataFrame,
    intervals: list[tuple],
    detection: DetectionConfig | None,
    trace_patterns: dict | None,
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
            wire = network_deviations(held_out.spans, held_out.baseline_spans, window=(a, b))
            rows.append(evidence_rows(pl.DataFrame(), span_deviations=wire))
            continue
        anomalies, spans = _log_and_span_signals(
            held_out, held_out.events, held_out.baseline_events, rest, (a, b), detection, trace_patterns
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


def _span_of(events: pl.DataFrame) -> list[tuple]:
    """The time intervals the baseline events cover, one per source file, overlaps merged (fault-free minutes lie apart)."""
    if events.is_empty():
        return []
    spans = events.group_by("source_file").agg(
        pl.col("timestamp").min().alias("a"), pl.col("timestamp").max().alias("b")
    )
    merged: list[list] = []
    for _, a, b in spans.sort("a").iter_rows():
        b = b + timedelta(microseconds=1)
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [tuple(m) for m in merged]
