"""Rank root-cause services on the dependency graph from log, trace and metric evidence."""

from __future__ import annotations

from datetime import timedelta

import networkx as nx
import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from logrca.rca.changes import changes_before_anomaly
from logrca.rca.detect import service_scores

__all__ = ["RANKING_SCHEMA", "evidence_by_service", "evidence_rows", "rank_root_causes", "standout_scores"]

RANKING_SCHEMA: dict[str, pl.DataType] = {
    "rank": pl.Int64,
    "service": pl.Utf8,
    "score": pl.Float64,
    "first_anomalous": pl.Datetime("us", "UTC"),
    "anomaly_score": pl.Float64,
    "path": pl.List(pl.Utf8),
    "explanation": pl.Utf8,
    "log_score": pl.Float64,
    "trace_score": pl.Float64,
    "metric_score": pl.Float64,
}


class RankingConfig(BaseModel):
    """How the pipeline ranks root causes (:func:`logrca.rca.rank.rank_root_causes`)."""

    model_config = ConfigDict(extra="forbid")

    propagation: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description=(
            "Weight of the graph walk against each service's own anomaly. With logs only, a caller's surprise grows "
            "with its traffic, so the dependency graph must carry as much weight as the counts (0.5); analyses with "
            "traces and metrics, which localise on their own, use 0."
        ),
    )


_SIGNALS = {
    "edge_changes",
    "span_deviations",
    "metric_deviations",
    "entry_points",
    "propagation",
    "noise",
    "noise_weight",
    "noise_keep",
    "active_services",
    "idle_weight",
    "signal_weights",
    "changes",
    "change_weight",
    "change_lookback",
}


def _max_score(frame: pl.DataFrame, key: str) -> dict[str, float]:
    if frame is None or frame.is_empty():
        return {}
    totals = frame.group_by(key).agg(pl.col("score").max().alias("total"))
    return {k: float(v) for k, v in totals.iter_rows() if k is not None}


_SCHEMA_ROWS = {
    "service": pl.Utf8,
    "signal": pl.Utf8,
    "score": pl.Float64,
    "first_seen": pl.Datetime("us", "UTC"),
    "text": pl.Utf8,
}


def _trace_rows(edge_changes: pl.DataFrame | None, span_deviations: pl.DataFrame | None) -> pl.DataFrame:
    """Trace evidence per service: edge changes count for the callee, span deviations for their service."""
    parts = [pl.DataFrame(schema=_SCHEMA_ROWS)]
    if edge_changes is not None and not edge_changes.is_empty():
        parts.append(
            edge_changes.select(
                pl.col("callee").alias("service"),
                pl.lit("trace_edge").alias("signal"),
                "score",
                "first_seen",
                pl.format(
                    "trace {} -> {} {} (score {}): {}",
                    "caller",
                    "callee",
                    "kind",
                    pl.col("score").round(1),
                    "detail",
                ).alias("text"),
            ).cast(_SCHEMA_ROWS)
        )
    if span_deviations is not None and not span_deviations.is_empty():
        parts.append(
            span_deviations.select(
                "service",
                ("trace_" + pl.col("metric")).alias("signal"),
                "score",
                "first_seen",
                pl.format("trace {} (score {}): {}", "metric", pl.col("score").round(1), "detail").alias(
                    "text"
                ),
            ).cast(_SCHEMA_ROWS)
        )
    return pl.concat(parts)


def _metric_rows(metric_deviations: pl.DataFrame | None) -> pl.DataFrame:
    if metric_deviations is None or metric_deviations.is_empty():
        return pl.DataFrame(schema=_SCHEMA_ROWS)
    return metric_deviations.select(
        "service",
        pl.lit("metric").alias("signal"),
        "score",
        "first_seen",
        pl.format("metric {} (score {}): {}", "metric", pl.col("score").round(1), "detail").alias("text"),
    ).cast(_SCHEMA_ROWS)


def _log_rows(anomalies: pl.DataFrame) -> pl.DataFrame:
    if anomalies.is_empty():
        return pl.DataFrame(schema=_SCHEMA_ROWS)
    rate = pl.col("kind").is_in(["rate_spike", "rate_drop"])
    return anomalies.select(
        "service",
        pl.when(rate).then(pl.lit("log_rate")).otherwise(pl.lit("log_behaviour")).alias("signal"),
        "score",
        pl.col("first_seen").cast(pl.Datetime("us", "UTC")),
        pl.lit("").alias("text"),
    ).cast(_SCHEMA_ROWS)


def evidence_rows(
    anomalies: pl.DataFrame,
    *,
    edge_changes: pl.DataFrame | None = None,
    span_deviations: pl.DataFrame | None = None,
    metric_deviations: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """All evidence as rows ``service, signal, score, first_seen, text`` (the form :func:`rank_root_causes` fuses).

    Used to hand the ranking the ``noise`` of a fault-free stretch: the same detectors run on it.
    """
    return pl.concat(
        [_log_rows(anomalies), _trace_rows(edge_changes, span_deviations), _metric_rows(metric_deviations)]
    )


def standout_scores(
    rows: pl.DataFrame,
    services: list[str],
    noise: pl.DataFrame | None = None,
    noise_weight: float = 0.5,
    noise_keep: float = 0.5,
    signal_weights: dict[str, float] | None = None,
) -> dict[str, float]:
    """How far each service stands out from the others in its strongest signal.

    Per signal, each service's largest row score ``x`` (0 when it has none), less ``noise_weight`` times
    what the same signal gave that service on a quiet stretch (``noise``, same columns) but never below
    ``noise_keep * x``, becomes a robust z across all services, ``(x - median) / (1.4826 MAD + 1)``; a service's anomaly is its largest
    z over signals. A signal that moves every service (a load change) thus gives no one an edge, a service
    that is always loud in a signal (a busy orchestrator) is judged against its own usual noise, and
    signals of different units (Poisson surprises, metric z-scores) become comparable. The floor is there
    because the quiet stretch before an alert is not always quiet: a fault that began before the alert
    shows there too, and must not cancel itself out.
    """
    if rows.is_empty() or not services:
        return {s: 0.0 for s in services}
    best = rows.group_by("signal", "service").agg(pl.col("score").max())
    usual: dict[tuple[str, str], float] = {}
    if noise is not None and not noise.is_empty():
        usual = {
            (sig, svc): float(v)
            for sig, svc, v in noise.group_by("signal", "service").agg(pl.col("score").max()).iter_rows()
        }
    result = {s: 0.0 for s in services}
    for (signal,), group in best.group_by("signal"):
        values = dict(group.select("service", "score").iter_rows())
        column = np.array(
            [
                max(
                    values.get(s, 0.0) - noise_weight * usual.get((signal, s), 0.0),
                    noise_keep * values.get(s, 0.0),
                    0.0,
                )
                for s in services
            ]
        )
        median = float(np.median(column))
        mad = float(np.median(np.abs(column - median)))
        z = (column - median) / (1.4826 * mad + 1.0) * (signal_weights or {}).get(signal, 1.0)
        for service, value in zip(services, z.tolist(), strict=True):
            result[service] = max(result[service], value)
    return result


def evidence_by_service(
    anomalies: pl.DataFrame, traces: pl.DataFrame, metrics: pl.DataFrame
) -> dict[str, dict[str, float]]:
    """Per service, the log, trace and metric evidence scores (0 when a signal says nothing).

    Each part is the largest row score of that signal, as in :func:`logrca.rca.detect.service_scores`.
    """
    logs = service_scores(anomalies)
    trace_scores = _max_score(traces, "service")
    metric_scores = _max_score(metrics, "service")
    services = set(logs) | set(trace_scores) | set(metric_scores)
    return {
        s: {"log": logs.get(s, 0.0), "trace": trace_scores.get(s, 0.0), "metric": metric_scores.get(s, 0.0)}
        for s in services
    }


def _normalise(values: dict[str, float]) -> dict[str, float]:
    top = max(values.values(), default=0.0)
    return {k: (v / top if top > 0 else 0.0) for k, v in values.items()}


def _first_times(anomalies: pl.DataFrame, traces: pl.DataFrame, metrics: pl.DataFrame) -> dict:
    parts = [traces.select("service", "first_seen"), metrics.select("service", "first_seen")]
    if not anomalies.is_empty():
        parts.append(anomalies.select("service", pl.col("first_seen").cast(pl.Datetime("us", "UTC"))))
    frame = pl.concat(parts)
    return dict(frame.group_by("service").agg(pl.col("first_seen").min()).iter_rows())


def _path_to_entry(
    graph: nx.DiGraph, service: str, anomaly: dict[str, float], entry_points: set[str]
) -> list[str]:
    """The caller chain from ``service`` up to an entry point, preferring anomalous callers."""
    if service not in graph:
        return [service]
    reverse = graph.reverse(copy=False)
    top = max(anomaly.values(), default=0.0) or 1.0
    costs, paths = nx.single_source_dijkstra(
        reverse, service, weight=lambda u, v, d: 1.0 - 0.9 * min(anomaly.get(v, 0.0) / top, 1.0)
    )
    entries = [n for n in paths if n in entry_points] or [n for n in paths if graph.in_degree(n) == 0]
    if not entries:
        return [service]
    best = min(entries, key=lambda n: (costs[n] / max(len(paths[n]) - 1, 1) if n != service else 2.0, n))
    return list(paths[best])


def _explain(
    service: str,
    anomalies: pl.DataFrame,
    traces: pl.DataFrame,
    metrics: pl.DataFrame,
    callees_anomalous: list[str],
) -> str:
    parts = []
    rows = anomalies.filter(pl.col("service") == service).head(3) if not anomalies.is_empty() else anomalies
    for row in rows.iter_rows(named=True):
        what = row["template"] or row["kind"]
        parts.append(f"log {row['kind']} (score {row['score']:.1f}): {what} — {row['detail']}")
    for frame in (traces, metrics):
        parts += (
            frame.filter(pl.col("service") == service)
            .sort("score", descending=True)
            .head(3)["text"]
            .to_list()
        )
    if callees_anomalous:
        parts.append("anomalous callees it depends on: " + ", ".join(callees_anomalous))
    return "; ".join(parts) if parts else "no evidence of its own"


def _personalised_pagerank(
    walk: nx.DiGraph, personalization: dict[str, float], alpha: float = 0.85
) -> dict[str, float]:
    """Power iteration on :func:`networkx.google_matrix` (numpy only; ``nx.pagerank`` needs scipy)."""
    nodes = list(walk.nodes)
    matrix = nx.google_matrix(
        walk, alpha=alpha, personalization=personalization, nodelist=nodes, weight="weight"
    )
    vector = np.full(len(nodes), 1.0 / len(nodes))
    for _ in range(1000):
        updated = vector @ matrix
        if np.abs(updated - vector).sum() < 1e-12 * len(nodes):
            vector = updated
            break
        vector = updated
    return dict(zip(nodes, np.asarray(vector).ravel().tolist(), strict=True))


def rank_root_causes(graph: nx.DiGraph, anomalies: pl.DataFrame, **signals) -> pl.DataFrame:
    """Rank services as the root cause of what :func:`logrca.rca.detect.detect_anomalies` found.

    Parameters
    ----------
    graph : nx.DiGraph
        Caller -> callee service graph (:func:`logrca.rca.graph.service_dependency_graph`).
    anomalies : pl.DataFrame
        Log anomaly rows (:data:`logrca.rca.detect.ANOMALY_SCHEMA`).
    **signals
        Optional: ``edge_changes`` (``caller, callee, kind, score, first_seen, detail``, from traces;
        counted for the callee), ``span_deviations`` (``service, metric, score, first_seen, detail``),
        ``metric_deviations`` (``service, metric, score, first_seen, detail``), ``entry_points``
        (services where requests enter; default: nodes without callers), ``noise`` (rows ``service, signal,
        score`` from :func:`evidence_rows` on a fault-free stretch, e.g. the minutes before the alert; each
        service's usual score in a signal, times ``noise_weight`` (0.5), is taken off its window score, which
        keeps at least ``noise_keep`` (0.5) of itself),
        ``active_services`` (services that served requests in the window; the others' anomaly is multiplied
        by ``idle_weight``, 0.3), ``propagation`` (weight of the walk, 0.25), ``changes``
        (:func:`logrca.rca.changes.detect_changes` rows; a service with a change at most ``change_lookback``
        (a timedelta, 30 min) before its first anomaly has its anomaly multiplied by ``1 + change_weight`` (0.5)).

    Returns
    -------
    pl.DataFrame
        :data:`RANKING_SCHEMA`, rank 1 first; every service of the graph or the evidence (those without
        evidence score 0 and come last, by name).

    Notes
    -----
    A fault propagates from a callee to its callers, so the anomaly a caller shows is evidence for the
    callees it depends on. The method is a personalised PageRank (MicroRCA [1]_) on the caller -> callee
    graph: the walk restarts at services in proportion to their own evidence ``a(v)`` (logs, traces,
    metrics, each normalised to [0, 1] and summed), and from ``u`` it moves to a callee ``w`` with weight
    ``a(w)`` or stays at ``u`` with weight ``a(u)``; probability mass therefore drains from loud callers
    into the deepest anomalous callee, so a quiet service whose callers fail still ranks first when its
    calls (trace edges) or metrics moved. The final score is the PageRank value times ``a(v)``.

    References
    ----------
    .. [1] Wu, L., Tordsson, J., Elmroth, E., Kao, O. *MicroRCA: Root Cause Localization of Performance
       Issues in Microservices*. NOMS 2020.
    .. [2] Yu, G. et al. *Nezha: Interpretable Fine-Grained Root Causes Analysis for Microservices on
       Multi-Modal Observability Data*. ESEC/FSE 2023.
    """
    propagation = float(signals.pop("propagation", 0.25))
    noise_weight = float(signals.pop("noise_weight", 0.5))
    noise_keep = float(signals.pop("noise_keep", 0.5))
    idle_weight = float(signals.pop("idle_weight", 0.3))
    unknown = set(signals) - _SIGNALS
    if unknown:
        raise TypeError(
            f"rank_root_causes: unknown signals {sorted(unknown)}; expected some of {sorted(_SIGNALS)}"
        )
    noise = signals.get("noise")
    if noise is not None and not noise.is_empty() and {"service", "signal", "score"} - set(noise.columns):
        raise ValueError(
            f"rank_root_causes: noise lacks columns {sorted({'service', 'signal', 'score'} - set(noise.columns))}"
        )
    traces = _trace_rows(signals.get("edge_changes"), signals.get("span_deviations"))
    metrics = _metric_rows(signals.get("metric_deviations"))
    entry_points = set(signals.get("entry_points") or [])
    active = set(signals.get("active_services") or [])
    evidence = evidence_by_service(anomalies, traces, metrics)
    if not evidence:
        return pl.DataFrame(schema=RANKING_SCHEMA)
    services = sorted(set(graph.nodes) | set(evidence))
    standout = standout_scores(
        pl.concat([_log_rows(anomalies), traces, metrics]),
        services,
        noise,
        noise_weight,
        noise_keep,
        signals.get("signal_weights"),
    )
    # A service that served no request in the window cannot have caused what the requests suffered.
    first = _first_times(anomalies, traces, metrics)
    changed = changes_before_anomaly(
        signals.get("changes"), first, lookback=signals.get("change_lookback") or timedelta(minutes=30)
    )
    boost = 1.0 + float(signals.get("change_weight", 0.5))
    anomaly = {
        s: max(standout.get(s, 0.0), 0.0)
        * (1.0 if not active or s in active else idle_weight)
        * (boost if s in changed else 1.0)
        for s in services
    }
    walk = nx.DiGraph()
    walk.add_nodes_from(services)
    for u in walk.nodes:
        own = anomaly.get(u, 0.0)
        callees = [
            w for w in (graph.successors(u) if u in graph else ()) if w != u and anomaly.get(w, 0.0) > 0
        ]
        for w in callees:
            walk.add_edge(u, w, weight=anomaly[w])
        unexplained = own - max((anomaly[w] for w in callees), default=0.0)
        walk.add_edge(u, u, weight=max(unexplained, 0.0) + 1e-6)
    personalization = {s: anomaly.get(s, 0.0) + 1e-9 for s in walk.nodes}
    pagerank = _personalised_pagerank(walk, personalization)
    top_anomaly = max(anomaly.values(), default=0.0) or 1.0
    top_rank = max((pagerank[s] for s in anomaly if anomaly[s] > 0), default=0.0) or 1.0
    rows = []
    for service in services:  # every service is ranked; one without evidence scores 0 and comes last
        own = anomaly[service]
        empty = {"log": 0.0, "trace": 0.0, "metric": 0.0}
        callees = sorted(
            (w for w in (graph.successors(service) if service in graph else ()) if anomaly.get(w, 0) > 0),
            key=lambda w: -anomaly[w],
        )
        walked = pagerank[service] / top_rank if own > 0 or callees else 0.0
        rows.append(
            {
                "service": service,
                "score": (1.0 - propagation) * own / top_anomaly + propagation * walked,
                "first_anomalous": first.get(service),
                "anomaly_score": own,
                "path": _path_to_entry(graph, service, anomaly, entry_points),
                "explanation": "; ".join(
                    filter(
                        None, [changed.get(service), _explain(service, anomalies, traces, metrics, callees)]
                    )
                ),
                "log_score": evidence.get(service, empty)["log"],
                "trace_score": evidence.get(service, empty)["trace"],
                "metric_score": evidence.get(service, empty)["metric"],
            }
        )
    ranking = pl.DataFrame(rows).sort(["score", "service"], descending=[True, False])
    ranking = ranking.with_columns(pl.int_range(1, ranking.height + 1, dtype=pl.Int64).alias("rank"))
    return ranking.select(list(RANKING_SCHEMA)).cast(RANKING_SCHEMA)
