"""Metric signals: per-pod deviations of resource and request metrics after the alert against the minutes before."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
from pydantic import BaseModel, Field

__all__ = ["MetricConfig", "metric_deviations"]

_SCHEMA = {
    "service": pl.Utf8,
    "host": pl.Utf8,
    "metric": pl.Utf8,
    "score": pl.Float64,
    "first_seen": pl.Datetime("us", "UTC"),
    "detail": pl.Utf8,
}


class MetricConfig(BaseModel):
    """Which metrics count and how deviations are scored."""

    include: str = Field(
        r"(?i)cpu",
        description="regex on metric names: resource use (latency and errors come from traces and logs)",
    )
    lower_is_worse: str = Field(
        r"(?i)success|available|throughput", description="regex of metrics where a fall is the fault"
    )
    exclude: str = Field(r"(?i)^node", description="regex of metrics shared by many pods (node level)")
    min_score: float = Field(
        0.0,
        description="keep (pod, metric) rows from this z on; 0 keeps every pod so the ranking sees the whole spread across pods",
    )
    spread_floor: float = Field(
        0.1, gt=0, description="smallest spread of log(1 + value): a 10 % change is one unit"
    )
    window_lead: timedelta = Field(
        timedelta(minutes=1), description="window starts this long before the alert"
    )


def metric_deviations(
    metrics: pl.DataFrame, *, alert_time: datetime, config: MetricConfig | None = None
) -> pl.DataFrame:
    """Robust z-scores of each pod metric after the alert against the same pod's minutes before it.

    Parameters
    ----------
    metrics : pl.DataFrame
        Long frame ``time, service, host, metric, value`` (:func:`logrca.rca.cases.read_metrics`).
    alert_time : datetime
        Rows from ``alert_time - window_lead`` on are the window; earlier rows the baseline.

    Returns
    -------
    pl.DataFrame
        ``service, host, metric, score, first_seen, detail``, one row per (pod, metric) at or above
        ``min_score``.

    Notes
    -----
    Resource metrics are positive and change by factors (a CPU hog takes a pod from 1 % to 100 %), so
    each value is taken as ``y = log(1 + max(x, 0))`` and scored
    ``z = ±(y - median) / max(1.4826 MAD, spread_floor)`` against the pod's own baseline minutes (sign: a
    rise is bad, a fall for ``lower_is_worse`` metrics); the largest window z is kept. Median and MAD
    resist the spikes a 30-minute baseline may hold [1]_; the floor keeps a flat baseline from turning a
    small wobble into a huge z, in the same relative units for every metric. How far a pod stands out
    from the other pods is judged later, in :func:`logrca.rca.rank.standout_scores`.

    References
    ----------
    .. [1] Leys, C. et al. *Detecting outliers: Do not use standard deviation around the mean, use absolute
       deviation around the median*. J. Exp. Social Psychology 49(4), 2013.
    """
    config = config or MetricConfig()
    if metrics.is_empty():
        return pl.DataFrame(schema=_SCHEMA)
    peaks = _window_peaks(_log_values(metrics, config), alert_time - config.window_lead, config)
    return (
        _described(peaks.filter(pl.col("score") >= config.min_score))
        .cast(_SCHEMA)
        .sort("score", descending=True)
    )


def _log_values(metrics: pl.DataFrame, config: MetricConfig) -> pl.DataFrame:
    """The chosen metrics' rows with a value, with ``y = log(1 + max(value, 0))``."""
    chosen = metrics.filter(
        pl.col("metric").str.contains(config.include)
        & ~pl.col("metric").str.contains(config.exclude)
        & pl.col("value").is_not_null()
        & pl.col("value").is_not_nan()
    )
    return chosen.with_columns(pl.col("value").clip(lower_bound=0).log1p().alias("y"))


def _window_peaks(chosen: pl.DataFrame, start: datetime, config: MetricConfig) -> pl.DataFrame:
    """Per (pod, metric): the largest robust z from ``start`` on against the pod's minutes before it."""
    base = (
        chosen.filter(pl.col("time") < start)
        .group_by("host", "metric")
        .agg(
            pl.col("y").median().alias("median"),
            (pl.col("y") - pl.col("y").median()).abs().median().alias("mad"),
            pl.col("value").median().alias("value_median"),
        )
    )
    window = chosen.filter(pl.col("time") >= start).join(base, on=["host", "metric"], how="inner")
    spread = pl.max_horizontal(1.4826 * pl.col("mad"), pl.lit(config.spread_floor))
    sign = pl.when(pl.col("metric").str.contains(config.lower_is_worse)).then(-1.0).otherwise(1.0)
    window = window.with_columns((sign * (pl.col("y") - pl.col("median")) / spread).alias("score"))
    return (
        window.sort("score", descending=True)
        .group_by("host", "metric")
        .agg(
            pl.col("service").first(),
            pl.col("score").first(),
            pl.col("time").first().alias("first_seen"),
            pl.col("value").first(),
            pl.col("value_median").first(),
        )
    )


def _described(top: pl.DataFrame) -> pl.DataFrame:
    """The peaks as output rows, each with a one-line explanation."""
    return top.select(
        "service",
        "host",
        "metric",
        "score",
        "first_seen",
        pl.format(
            "{} on {}: {} vs its baseline median {} (robust z {} on log scale)",
            "metric",
            "host",
            pl.col("value").round(4),
            pl.col("value_median").round(4),
            pl.col("score").round(1),
        ).alias("detail"),
    )
