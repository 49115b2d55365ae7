"""The evidence the ranking fuses: log, trace and metric findings as rows per service, and how far each stands out."""

from __future__ import annotations

import numpy as np
import polars as pl

from logrca.rca.detect import service_scores

__all__ = [
    "EVIDENCE_SCHEMA",
    "evidence_by_service",
    "evidence_rows",
    "first_times",
    "log_rows",
    "metric_rows",
    "standout_scores",
    "trace_rows",
]


def _max_score(frame: pl.DataFrame, key: str) -> dict[str, float]:
    if frame is None or frame.is_empty():
        return {}
    totals = frame.group_by(key).agg(pl.col("score").max().alias("total"))
    return {k: float(v) for k, v in totals.iter_rows() if k is not None}


#: One row of evidence: a service, the signal it comes from, its score, when it was first seen, and a text.
EVIDENCE_SCHEMA = {
    "service": pl.Utf8,
    "signal": pl.Utf8,
    "score": pl.Float64,
    "first_seen": pl.Datetime("us", "UTC"),
    "text": pl.Utf8,
}


def trace_rows(edge_changes: pl.DataFrame | None, span_deviations: pl.DataFrame | None) -> pl.DataFrame:
    """Trace evidence per service: edge changes count for the callee, span deviations for their service."""
    parts = [pl.DataFrame(schema=EVIDENCE_SCHEMA)]
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
            ).cast(EVIDENCE_SCHEMA)
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
            ).cast(EVIDENCE_SCHEMA)
        )
    return pl.concat(parts)


def metric_rows(metric_deviations: pl.DataFrame | None) -> pl.DataFrame:
    """Metric evidence per service: one row per metric deviation."""
    if metric_deviations is None or metric_deviations.is_empty():
        return pl.DataFrame(schema=EVIDENCE_SCHEMA)
    return metric_deviations.select(
        "service",
        pl.lit("metric").alias("signal"),
        "score",
        "first_seen",
        pl.format("metric {} (score {}): {}", "metric", pl.col("score").round(1), "detail").alias("text"),
    ).cast(EVIDENCE_SCHEMA)


def log_rows(anomalies: pl.DataFrame) -> pl.DataFrame:
    """Log evidence per service: rate changes as ``log_rate``, every other finding as ``log_behaviour``."""
    if anomalies.is_empty():
        return pl.DataFrame(schema=EVIDENCE_SCHEMA)
    rate = pl.col("kind").is_in(["rate_spike", "rate_drop"])
    return anomalies.select(
        "service",
        pl.when(rate).then(pl.lit("log_rate")).otherwise(pl.lit("log_behaviour")).alias("signal"),
        "score",
        pl.col("first_seen").cast(pl.Datetime("us", "UTC")),
        pl.lit("").alias("text"),
    ).cast(EVIDENCE_SCHEMA)


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
        [log_rows(anomalies), trace_rows(edge_changes, span_deviations), metric_rows(metric_deviations)]
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


def first_times(anomalies: pl.DataFrame, traces: pl.DataFrame, metrics: pl.DataFrame) -> dict:
    """Per service, the earliest moment any of its evidence was seen."""
    parts = [traces.select("service", "first_seen"), metrics.select("service", "first_seen")]
    if not anomalies.is_empty():
        parts.append(anomalies.select("service", pl.col("first_seen").cast(pl.Datetime("us", "UTC"))))
    frame = pl.concat(parts)
    return dict(frame.group_by("service").agg(pl.col("first_seen").min()).iter_rows())
