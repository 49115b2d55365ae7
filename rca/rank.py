"""Rank root-cause services on the dependency graph from log, trace and metric evidence."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import NamedTuple

import networkx as nx
import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from logrca.rca.changes import changes_before_anomaly
from logrca.rca.evidence import (
    evidence_by_service,
    evidence_rows,
    first_times,
    log_rows,
    metric_rows,
    standout_scores,
    trace_rows,
)

__all__ = [
    "RANKING_SCHEMA",
    "evidence_by_service",
    "evidence_rows",
    "headline",
    "rank_root_causes",
    "signals",
    "standout_scores",
    "strongest_signal",
]

#: Where one signal of a ranked service's explanation ends and the next begins (:func:`_explain`
#: joins them with "; ", and a quoted template may hold "; " itself).
_NEXT_SIGNAL = re.compile(
    r"; (?=(?:log|trace|metric) [^;]{1,120}? \(score -?[\d.]+\): |anomalous callees it depends on: )"
)
_SCORE = re.compile(r"\(score (-?[\d.]+)\)")
_SIGNAL_HEAD = re.compile(r"^(?:log|trace|metric) ([^;]{1,120}?) \(score -?[\d.]+\): ")


def signals(explanation: str | None) -> list[str]:
    """A ranked service's explanation, one signal per item (a log event, a trace or metric deviation, callees).

    >>> signals("log error_burst (score 11.5): 23 lines; a; b; metric cpu (score 0.3): 2.1 vs 1.9")
    ['log error_burst (score 11.5): 23 lines; a; b', 'metric cpu (score 0.3): 2.1 vs 1.9']
    """
    return [part for part in _NEXT_SIGNAL.split(explanation or "") if part]


def strongest_signal(explanation: str | None) -> tuple[str, int]:
    """(the signal of ``explanation`` with the highest score, how many others it has).

    >>> strongest_signal("log rate_drop (score 3.1): 18 lines; trace span_self_time (score 9.1): slow")
    ('trace span_self_time (score 9.1): slow', 1)
    """
    found = signals(explanation)
    if not found:
        return explanation or "", 0
    return max(found, key=_signal_score), len(found) - 1


def _signal_score(signal: str) -> float:
    found = _SCORE.search(signal)
    return float(found[1]) if found else float("-inf")


def headline(signal: str) -> str:
    """A signal without its source and score, for a title: ``span_self_time 975/1780 requests ...``.

    >>> headline("trace span_self_time (score 43.5): 975/1780 requests spent longer inside")
    'span_self_time 975/1780 requests spent longer inside'
    """
    return _SIGNAL_HEAD.sub(r"\1 ", signal, count=1)


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


def _normalise(values: dict[str, float]) -> dict[str, float]:
    top = max(values.values(), default=0.0)
    return {k: (v / top if top > 0 else 0.0) for k, v in values.items()}


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
        what = (
            f"{row['template']} — " if row["template"] else ""
        )  # no template: the kind says it (error_burst)
        parts.append(f"log {row['kind']} (score {row['score']:.1f}): {what}{row['detail']}")
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
    graph: the walk restarts at services in proportion to their own anomaly ``a(v)``
    (:func:`standout_scores`: the largest robust z across services over the signals), and from ``u`` it
    moves to a callee ``w`` with weight ``a(w)`` or stays at ``u`` with weight ``a(u) - max a(w)`` (what
    its callees do not explain); probability mass therefore drains from loud callers into the deepest
    anomalous callee, so a quiet service whose callers fail still ranks first when its calls (trace
    edges) or metrics moved. The final score is
    ``(1 - propagation) * a / max a + propagation * PR / max PR``.

    References
    ----------
    .. [1] Wu, L., Tordsson, J., Elmroth, E., Kao, O. *MicroRCA: Root Cause Localization of Performance
       Issues in Microservices*. NOMS 2020.
    .. [2] Yu, G. et al. *Nezha: Interpretable Fine-Grained Root Causes Analysis for Microservices on
       Multi-Modal Observability Data*. ESEC/FSE 2023.
    """
    propagation, noise_weight, noise_keep, idle_weight = _pop_weights(signals)
    traces = trace_rows(signals.get("edge_changes"), signals.get("span_deviations"))
    metrics = metric_rows(signals.get("metric_deviations"))
    evidence = evidence_by_service(anomalies, traces, metrics)
    if not evidence:
        return pl.DataFrame(schema=RANKING_SCHEMA)
    services = sorted(set(graph.nodes) | set(evidence))
    first = first_times(anomalies, traces, metrics)
    found = _Found(anomalies, traces, metrics, evidence, first, _changed(signals, first))
    rows = pl.concat([log_rows(anomalies), traces, metrics])
    anomaly = _anomaly(rows, services, signals, weights=(noise_weight, noise_keep, idle_weight), found=found)
    personalization = {s: anomaly.get(s, 0.0) + 1e-9 for s in services}
    pagerank = _personalised_pagerank(_walk_graph(graph, services, anomaly), personalization)
    entry_points = set(signals.get("entry_points") or [])
    return _ranking(graph, anomaly, pagerank, found, propagation=propagation, entry_points=entry_points)


def _changed(signals: dict, first: dict) -> dict[str, str]:
    """Services with a change (``signals["changes"]``) shortly before their first anomaly, and what it was."""
    return changes_before_anomaly(
        signals.get("changes"), first, lookback=signals.get("change_lookback") or timedelta(minutes=30)
    )


def _anomaly(
    rows: pl.DataFrame,
    services: list[str],
    signals: dict,
    *,
    weights: tuple[float, float, float],
    found: _Found,
) -> dict[str, float]:
    """Each service's own anomaly: how far it stands out (:func:`standout_scores`, ``weights`` being
    ``noise_weight, noise_keep, idle_weight``), damped when it served no request in the window and raised
    by ``1 + change_weight`` when a change came shortly before its first anomaly (``found.changed``)."""
    noise_weight, noise_keep, idle_weight = weights
    standout = standout_scores(
        rows, services, signals.get("noise"), noise_weight, noise_keep, signals.get("signal_weights")
    )
    # A service that served no request in the window cannot have caused what the requests suffered.
    active = set(signals.get("active_services") or [])
    boost = 1.0 + float(signals.get("change_weight", 0.5))
    return {
        s: max(standout.get(s, 0.0), 0.0)
        * (1.0 if not active or s in active else idle_weight)
        * (boost if s in found.changed else 1.0)
        for s in services
    }


class _Found(NamedTuple):
    """The evidence a ranking explains itself with: log anomalies, trace and metric rows, scores per service,
    when each service was first anomalous, and the changes that came shortly before that."""

    anomalies: pl.DataFrame
    traces: pl.DataFrame
    metrics: pl.DataFrame
    evidence: dict[str, dict[str, float]]
    first: dict
    changed: dict[str, str]


def _pop_weights(signals: dict) -> tuple[float, float, float, float]:
    """Take ``propagation, noise_weight, noise_keep, idle_weight`` out of ``signals`` and check the rest."""
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
    return propagation, noise_weight, noise_keep, idle_weight


def _walk_graph(graph: nx.DiGraph, services: list[str], anomaly: dict[str, float]) -> nx.DiGraph:
    """The walk's graph: from each service to its anomalous callees (weight: their anomaly) and to itself
    (weight: what of its own anomaly its callees do not explain)."""
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
    return walk


def _ranking(
    graph: nx.DiGraph,
    anomaly: dict[str, float],
    pagerank: dict[str, float],
    found: _Found,
    *,
    propagation: float,
    entry_points: set[str],
) -> pl.DataFrame:
    """:data:`RANKING_SCHEMA`: every service of ``anomaly`` with its blended score, path and explanation."""
    anomalies, traces, metrics, evidence, first, changed = found
    top_anomaly = max(anomaly.values(), default=0.0) or 1.0
    top_rank = max((pagerank[s] for s in anomaly if anomaly[s] > 0), default=0.0) or 1.0
    rows = []
    for service in anomaly:  # every service is ranked; one without evidence scores 0 and comes last
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
