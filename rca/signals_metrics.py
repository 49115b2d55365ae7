"""Metric signals: per-pod deviations of resource and request metrics after the alert against the minutes before."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
from pydantic import BaseModel, Field

__all__ = ["MetricConfig", "metric_deviations"]


class MetricConfig(BaseModel):
    """Which metrics count and how deviations are scored."""

    include: str = Field(r"(?i)cpu|memory", description="regex on metric names: resource use (latency and errors come from traces and logs)")
    lower_is_worse: str = Field(r"(?i)success|available|throughput", description="regex of metrics where a fall is the fault")
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
    ``z = ±(x - median) / max(1.4826 MAD, relative_floor |median|)`` per window row (sign: a rise is bad,
    a fall for ``lower_is_worse`` metrics), the largest kept and capped at ``cap``. Median and MAD resist the
    spikes a 30-minute baseline may hold [1]_. Then the pod is compared with its peers on the same metric:
    ``score = (z - median_pods z) / (1.4826 MAD_pods z + 1)``, so a load change that moves every pod
    scores nothing and the pod that moved far more than the rest stands out.

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
    sign = pl.when(pl.col("metric").str.contains(config.lower_is_worse)).then(-1.0).otherwise(1.0)
    window = window.with_columns((sign * (pl.col("value") - pl.col("median")) / spread).clip(-config.cap, config.cap).alias("z"))
    top = window.sort("z", descending=True).group_by("host", "metric").agg(
        pl.col("service").first(), pl.col("z").first(), pl.col("time").first().alias("first_seen"),
        pl.col("value").first(), pl.col("median").first())
    # Peer normalisation: a load change moves every pod; the faulty pod moves more than its peers.
    peers = top.group_by("metric").agg(pl.col("z").median().alias("peer_median"),
                                       (pl.col("z") - pl.col("z").median()).abs().median().alias("peer_mad"))
    top = top.join(peers, on="metric").with_columns(
        ((pl.col("z") - pl.col("peer_median")) / (1.4826 * pl.col("peer_mad") + 1.0)).alias("score"))
    top = top.filter(pl.col("score") >= config.min_score)
    return top.select(
        "service", "host", "metric", "score", "first_seen",
        pl.format("{} on {}: {} vs its baseline median {} (z {}, peers' median z {})", "metric", "host", pl.col("value").round(4),
                  pl.col("median").round(4), pl.col("z").round(1), pl.col("peer_median").round(1)).alias("detail"),
    ).cast(schema).sort("score", descending=True)
