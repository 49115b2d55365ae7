"""Metric signals: per-pod deviations of resource and request metrics after the alert against the minutes before."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
from pydantic import BaseModel, Field

__all__ = ["MetricConfig", "metric_deviations"]


class MetricConfig(BaseModel):
    """Which metrics count and how deviations are scored."""

    include: str = Field(r"(?i)cpu|memory|latency|success|workload|error|network|syscall", description="regex on metric names")
    exclude: str = Field(r"(?i)^node", description="regex of metrics shared by many pods (node level)")
    min_score: float = Field(3.0, ge=0)
    cap: float = Field(30.0, gt=0, description="largest score one metric can give (a flat baseline makes z explode)")
    relative_floor: float = Field(0.05, ge=0, description="spread floor as a share of the baseline median")
    window_lead: timedelta = Field(timedelta(minutes=1), description="window starts this long before the alert")


def metric_deviations(metrics: pl.DataFrame, *, alert_time: datetime, config: MetricConfig | None = None) -> pl.DataFrame:
    """Robust z-scores of each pod metric after the alert against the same pod's minutes before it.

    Parameters
    ----------
    metrics : pl.DataFrame
        Long frame ``time, service, host, metric, value`` (:func:`rca.cases.read_metrics`).
    alert_time : datetime
        Rows from ``alert_time - window_lead`` on are the window; earlier rows the baseline.

    Returns
    -------
    pl.DataFrame
        ``service, host, metric, score, first_seen, detail``, one row per (pod, metric) at or above
        ``min_score``.

    Notes
    -----
    ``z = |x - median| / max(1.4826 MAD, relative_floor |median|)`` per window row, the largest kept and
    capped at ``cap``. Median and MAD resist the spikes a 30-minute baseline may hold [1]_.

    References
    ----------
    .. [1] Leys, C. et al. *Detecting outliers: Do not use standard deviation around the mean, use absolute
       deviation around the median*. J. Exp. Social Psychology 49(4), 2013.
    """
    config = config or MetricConfig()
    schema = {"service": pl.Utf8, "host": pl.Utf8, "metric": pl.Utf8, "score": pl.Float64, "first_seen": pl.Datetime("us", "UTC"), "detail": pl.Utf8}
    if metrics.is_empty():
        return pl.DataFrame(schema=schema)
    chosen = metrics.filter(pl.col("metric").str.contains(config.include) & ~pl.col("metric").str.contains(config.exclude)
                            & pl.col("value").is_not_null() & pl.col("value").is_not_nan())
    start = alert_time - config.window_lead
    base = chosen.filter(pl.col("time") < start).group_by("host", "metric").agg(
        pl.col("value").median().alias("median"),
        (pl.col("value") - pl.col("value").median()).abs().median().alias("mad"),
    )
    window = chosen.filter(pl.col("time") >= start).join(base, on=["host", "metric"], how="inner")
    spread = pl.max_horizontal(1.4826 * pl.col("mad"), config.relative_floor * pl.col("median").abs(), pl.lit(1e-6))
    window = window.with_columns(((pl.col("value") - pl.col("median")).abs() / spread).clip(upper_bound=config.cap).alias("z"))
    top = window.sort("z", descending=True).group_by("host", "metric").agg(
        pl.col("service").first(), pl.col("z").first().alias("score"), pl.col("time").first().alias("first_seen"),
        pl.col("value").first(), pl.col("median").first())
    top = top.filter(pl.col("score") >= config.min_score)
    return top.select(
        "service", "host", "metric", "score", "first_seen",
        pl.format("{} on {}: {} vs baseline median {}", "metric", "host", pl.col("value").round(4), pl.col("median").round(4)).alias("detail"),
    ).cast(schema).sort("score", descending=True)
