"""Run the whole analysis on one loaded case: templates, log anomalies, graph from spans, trace and metric signals, ranking."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta

import networkx as nx
import polars as pl

from logrca.rca.cases import Case
from logrca.rca.detect import detect_anomalies, discount_explained
from logrca.rca.graph import service_dependency_graph
from logrca.rca.options import AnalysisOptions
from logrca.rca.rank import evidence_rows, rank_root_causes
from logrca.rca.signals.metrics import metric_deviations
from logrca.rca.signals.trace_patterns import trace_pattern_signal
from logrca.rca.signals.traces import (
    edge_changes,
    known_requests,
    network_deviations,
    request_scale,
    span_deviations,
)

__all__ = ["CaseAnalysis", "analyse_case", "list_variant_of", "merge_list_variants", "mine_case_templates"]


#: Masks for the request-scoped values that multi-service logs carry (trace/span ids, dates, times,
#: numbers), so one statement is one template whatever request printed it.
ID_MASKS = (
    r"\b[0-9a-fA-F]{12,}\b",
    r"\b\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?)?\b",
    r"\b\d{1,2}:\d{2}:\d{2}\b",
    r"(?<![A-Za-z#\d])-?\d+(?:\.\d+)?\b",
)


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


def mine_case_templates(frames: list[pl.DataFrame]) -> list[pl.DataFrame]:
    """Mine templates over ``frames`` with one miner (so ids agree), baseline first; returns the frames with template columns."""
    try:
        from logrca.parsers.templates.miner import TemplateConfig, TemplateMiner, mine_templates
    except ImportError:  # the shared miner has not landed yet: feed drain3 directly
        return _drain_fallback(frames)
    from logrca.parsers.templates.masking import DEFAULT_MASKING_RULES, MaskingRule

    extra = [MaskingRule(pattern=pattern, mask_with="*") for pattern in ID_MASKS]
    miner = TemplateMiner(TemplateConfig(masking=[*DEFAULT_MASKING_RULES, *extra]))
    return [mine_templates(frame, miner) for frame in frames]


def _drain_fallback(frames: list[pl.DataFrame]) -> list[pl.DataFrame]:
    from drain3 import TemplateMiner as DrainMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    config = TemplateMinerConfig()
    config.profiling_enabled = False
    config.masking_instructions = [
        MaskingInstruction(
            r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "UUID"
        ),
        MaskingInstruction(r"\b[0-9a-fA-F]{12,}\b", "HEX"),
        MaskingInstruction(r"(?<![A-Za-z])-?\d+(?:\.\d+)?(?![A-Za-z])", "NUM"),
    ]
    miner = DrainMiner(config=config)
    out = []
    for frame in frames:
        ids = [miner.add_log_message(message)["cluster_id"] for message in frame["message"].to_list()]
        out.append(frame.with_columns(pl.Series("template_id", ids, dtype=pl.Int64)))
    templates = {c.cluster_id: c.get_template() for c in miner.drain.clusters}
    return [
        f.with_columns(
            pl.col("template_id").replace_strict(templates, return_dtype=pl.Utf8).alias("template")
        )
        for f in out
    ]


def list_variant_of(
    tokens: list[str], other: list[str], *, max_period: int = 8, wildcard: str = "<*>"
) -> bool:
    """Whether two templates are one statement that printed a list of different length.

    True when the shorter template, but for its last token (a list cut at a different element), is a
    token-for-token prefix of the longer one (a wildcard matches any token: the miner may have generalised
    one of them further), and the longer one continues by repeating a unit of at most
    ``max_period`` tokens that holds some constant text (``Ticket(seatNo=<*>, ...),`` again and again).

    Notes
    -----
    Drain [1]_ puts lines of different token counts in different clusters, so a statement that prints a
    list (``soldTickets=[Ticket(...), Ticket(...)]``) gets one template per list length, and a list one
    element longer than any in the baseline looks like a new behaviour. Requiring a repeated unit with
    constant text keeps real changes apart: a different exception message or a free-text parameter that
    grew is not a repetition of an element already printed.

    References
    ----------
    .. [1] He, P. et al. *Drain: An Online Log Parsing Approach with Fixed Depth Tree*. ICWS 2017.
    """
    short, long_ = (tokens, other) if len(tokens) <= len(other) else (other, tokens)
    if len(short) < 4 or len(short) == len(long_):
        return False
    if any(a != b and wildcard not in (a, b) for a, b in zip(short[:-1], long_)):
        return False
    extension = range(len(short) - 1, len(long_) - 1)
    for period in range(1, min(max_period, len(short) - 1) + 1):  # the unit lies in the shared part
        unit = long_[len(short) - 1 - period : len(short) - 1]
        if any(t != wildcard for t in unit) and all(long_[i] == long_[i - period] for i in extension):
            return True
    return False


def merge_list_variants(
    baseline_events: pl.DataFrame, events: pl.DataFrame, *, max_period: int = 8
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Count the list-length variants of one statement as one template, in the baseline and the case alike.

    Per service, templates (of either frame) that are list-length variants of each other
    (:func:`list_variant_of`, linked transitively) take the id and text of the one with the most baseline
    lines (else the most case lines). A variant seen only in the case is then not a new template, and a
    list that grows during the case does not move counts from one length class to the next.

    Returns
    -------
    (baseline_events, events)
        Both frames with ``template_id``/``template`` replaced where a template was merged.
    """
    if baseline_events.is_empty() or events.is_empty() or "template_id" not in events.columns:
        return baseline_events, events
    counts = (
        pl.concat(
            [
                baseline_events.group_by("service", "template_id").agg(
                    pl.col("template").last(), pl.len().alias("n_base"), pl.lit(0, pl.UInt32).alias("n_case")
                ),
                events.group_by("service", "template_id").agg(
                    pl.col("template").last(), pl.lit(0, pl.UInt32).alias("n_base"), pl.len().alias("n_case")
                ),
            ]
        )
        .group_by("service", "template_id")
        .agg(pl.col("template").drop_nulls().last(), pl.col("n_base").sum(), pl.col("n_case").sum())
    )
    remap = []
    for (service,), group in counts.group_by("service"):
        rows = [
            (t, x, (x or "").split(), nb, nc)
            for t, x, nb, nc in group.select("template_id", "template", "n_base", "n_case").iter_rows()
        ]
        rows = [r for r in rows if len(r[2]) >= 4]
        parent = list(range(len(rows)))

        def find(i: int) -> int:
            while parent[i] != i:  # noqa: B023
                parent[i] = parent[parent[i]]  # noqa: B023
                i = parent[i]  # noqa: B023
            return i

        for i in range(len(rows)):
            for j in range(i + 1, len(rows)):
                if list_variant_of(rows[i][2], rows[j][2], max_period=max_period):
                    parent[find(i)] = find(j)
        components: dict[int, list[int]] = {}
        for i in range(len(rows)):
            components.setdefault(find(i), []).append(i)
        for members in components.values():
            if len(members) < 2:
                continue
            keep = rows[max(members, key=lambda i: (rows[i][3], rows[i][4], -rows[i][0]))]
            remap += [
                {"service": service, "template_id": rows[i][0], "to_id": keep[0], "to_text": keep[1]}
                for i in members
                if i != keep
            ]
    if not remap:
        return baseline_events, events
    table = pl.DataFrame(
        remap,
        schema={
            "service": pl.Utf8,
            "template_id": events.schema["template_id"],
            "to_id": events.schema["template_id"],
            "to_text": pl.Utf8,
        },
    )

    def apply(frame: pl.DataFrame) -> pl.DataFrame:
        return (
            frame.join(table, on=["service", "template_id"], how="left")
            .with_columns(
                pl.coalesce("to_id", "template_id").alias("template_id"),
                pl.coalesce("to_text", "template").alias("template"),
            )
            .drop("to_id", "to_text")
        )

    return apply(baseline_events), apply(events)


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
) -> CaseAnalysis:
    """Score every signal of ``case`` against its baseline and rank the services.

    Every threshold, weight and switch is a field of ``options`` (:class:`logrca.rca.options.AnalysisOptions`;
    defaults when None). The window runs from ``alert_time - window_lead_s`` to the last event; the baseline is the case's
    fault-free minutes (``case.baseline_events`` / ``case.baseline_spans``). When the case holds at least
    ``noise.min_quiet_s`` of data before the window, the same log and span detectors also run on that quiet stretch
    against the same baseline: what they find there is each service's usual noise (``noise`` of
    :func:`logrca.rca.rank.rank_root_causes`). Services with spans in the window are the active ones. When
    ``timings`` is a dict, the seconds spent per stage are added to it (``bench/bench_rca.py``).
    ``templates`` is ``(baseline_events, events)`` already mined by :func:`mine_case_templates` (an
    evaluation that runs many option settings on one case mines once). ``patterns`` holds the options of
    :func:`logrca.rca.signals.trace_patterns.trace_pattern_signal` (``enabled=False``
    leaves that signal out; ``discount=False`` keeps the callers' log lines that a deviating callee
    explains, see :func:`logrca.rca.detect.discount_explained`). With ``merge_variants``, case lines whose template
    only differs from a baseline template of their service by the length of a printed list count as that
    template (:func:`merge_list_variants`).

    ``noise.source`` says where each service's usual noise comes from: ``"before-alert"`` (default: the
    quiet stretch above), ``"normal"`` (each fault-free stretch judged against the others, when the baseline
    is the ``normal/`` minutes and there are at least two), ``"both"`` (all of these rows), or
    ``"confirmed"``: the quiet stretch, except that in ``noise.confirm_signals`` (all signals when None) a
    score counts as noise only up to what the service also shows between fault-free stretches. The
    stretch before an alert may already hold the fault's onset; the fault-free minutes cannot. It was the
    default until the leave-one-out showed it rests on one case (docs/rca.md, "Generalisation").
    """
    options = options or AnalysisOptions()
    start = case.alert_time - timedelta(seconds=options.window_lead_s)
    end = max(case.events["timestamp"].max(), start) + timedelta(microseconds=1)
    window = (start, end)
    with _timed(timings, "templates (drain)"):
        baseline_events, events = templates or mine_case_templates([case.baseline_events, case.events])
        if options.merge_variants:
            baseline_events, events = merge_list_variants(
                baseline_events, events, max_period=options.variant_max_period
            )
    baseline_intervals = _span_of(baseline_events)
    with _timed(timings, "window signals (logs, self time, wire time, trace patterns)"):
        anomalies, self_times = _log_and_span_signals(
            case, events, baseline_events, baseline_intervals, window, options
        )
    with _timed(timings, "graph and edge latency"):
        graph = service_dependency_graph(spans=pl.concat([case.baseline_spans, case.spans]), events=events)
        edges = edge_changes(case.spans, case.baseline_spans, window=window)
    with _timed(timings, "metrics"):
        metric_rows = metric_deviations(case.metrics, alert_time=case.alert_time, config=options.metrics)
    case_start = min(
        t
        for t in (events["timestamp"].min(), case.spans["start"].min() if not case.spans.is_empty() else None)
        if t is not None
    )
    noise, noise_from, confirm_signals = None, options.noise.source, options.noise.confirm_signals
    with _timed(timings, "own noise (same signals before the alert)"):
        if noise_from != "before-alert" and case.baseline_source == "normal" and len(baseline_intervals) >= 2:
            noise = _fault_free_noise(
                case,
                baseline_events,
                baseline_intervals,
                options,
                confirm_signals if noise_from == "confirmed" else None,
            )
        quiet_enough = start - case_start >= timedelta(seconds=options.noise.min_quiet_s)
        if (noise is None or noise_from in ("both", "confirmed")) and quiet_enough:
            quiet_anomalies, quiet_spans = _log_and_span_signals(
                case,
                events,
                baseline_events,
                baseline_intervals,
                (case_start, start),
                options,
            )
            quiet = evidence_rows(quiet_anomalies, span_deviations=quiet_spans)
            if noise is None or noise_from == "both":
                noise = quiet if noise is None else pl.concat([noise, quiet])
            else:  # confirmed: what the service shows before the alert, up to what the fault-free minutes show it can
                noise = _confirmed_noise(quiet, noise, confirm_signals)
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


def _log_and_span_signals(
    case: Case,
    events: pl.DataFrame,
    baseline_events: pl.DataFrame,
    baseline_intervals: list,
    window: tuple,
    options: AnalysisOptions,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Log anomalies (rates per request) and span deviations (exclusive time, call gaps, trace patterns) of ``window``."""
    traces, detection = options.traces, options.detection
    scale = None
    if traces.per_request_rates:
        scale = request_scale(
            case.spans, case.baseline_spans, window=window, min_requests=traces.min_requests
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
                case.spans,
                case.baseline_spans,
                window=window,
                quantile=traces.quantile,
                min_score=traces.min_score,
            ),
            _wire_time(case.spans, case.baseline_spans, window, traces),
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
            **options.patterns.signal_kwargs(),
        )
        spans = pl.concat([spans, patterns])
        if options.patterns.discount and explained and "trace_id" in events.columns:
            # A caller's lines written after its callee began to deviate, in the same trace, are the callee's.
            window_events = events.filter(pl.col("timestamp").is_between(*window, closed="left"))
            anomalies = discount_explained(anomalies, window_events, explained[0], detection)
    return anomalies, spans


def _wire_time(spans: pl.DataFrame, baseline_spans: pl.DataFrame, window: tuple, traces) -> pl.DataFrame:
    return network_deviations(
        spans,
        baseline_spans,
        window=window,
        offset_us=traces.wire_offset_us,
        unit=traces.wire_unit,
        caller_weight=traces.wire_caller_weight,
        outlier_z=traces.wire_outlier_z,
    )


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
            wire = _wire_time(held_out.spans, held_out.baseline_spans, (a, b), options.traces)
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
