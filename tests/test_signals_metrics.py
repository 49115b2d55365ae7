"""Metric deviations on a log scale: a CPU hog stands out, a small wobble on a flat baseline does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from logrca.rca.signals.metrics import MetricConfig, metric_deviations

ALERT = datetime(2024, 3, 1, 10, 30, tzinfo=UTC)


def _rows(host: str, values: list[float]) -> list[dict]:
    start = ALERT - timedelta(minutes=len(values) - 3)
    return [
        {
            "time": start + timedelta(minutes=i),
            "service": host.rsplit("-", 2)[0],
            "host": host,
            "metric": "CpuUsageRate(%)",
            "value": v,
        }
        for i, v in enumerate(values)
    ]


def test_cpu_hog_scores_far_above_a_wobble_on_a_flat_baseline():
    hog = _rows("api-1a-x", [1.0, 1.2, 0.9, 1.1, 1.0, 1.0, 1.1, 1.0, 98.0, 99.0])
    wobble = _rows("db-1a-y", [0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.05, 0.01])
    frame = pl.DataFrame(hog + wobble)
    scores = dict(metric_deviations(frame, alert_time=ALERT).select("service", "score").iter_rows())
    assert scores["api"] > 30  # log(100/2) / 0.1
    assert scores["db"] < 1  # 0.04 percentage points on a flat baseline is no event
    kept = metric_deviations(frame, alert_time=ALERT, config=MetricConfig(min_score=3.0))
    assert kept["service"].to_list() == ["api"]


def test_empty_metrics_give_the_schema():
    empty = pl.DataFrame(
        schema={
            "time": pl.Datetime("us", "UTC"),
            "service": pl.Utf8,
            "host": pl.Utf8,
            "metric": pl.Utf8,
            "value": pl.Float64,
        }
    )
    out = metric_deviations(empty, alert_time=ALERT)
    assert out.is_empty() and "score" in out.columns
