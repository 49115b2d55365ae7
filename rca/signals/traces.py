"""Trace signals: per call edge and per service, how span latencies moved against the baseline spans."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from logrca.rca.detect import poisson_surprise, two_sample_surprise
from logrca.rca.graph import span_calls

__all__ = [
    "EDGE_CHANGE_SCHEMA",
    "SPAN_DEVIATION_SCHEMA",
    "edge_changes",
    "known_requests",
    "request_scale",
    "self_times",
    "span_deviations",
]

EDGE_CHANGE_SCHEMA = {
    "caller": pl.Utf8,
    "callee": pl.Utf8,
    "kind": pl.Utf8,
    "score": pl.Float64,
    "first_seen": pl.Datetime("us", "UTC"),
    "detail": pl.Utf8,
}
SPAN_DEVIATION_SCHEMA = {
    "service": pl.Utf8,
    "metric": pl.Utf8,
    "score": pl.Float64,
    "first_seen": pl.Datetime("us", "UTC"),
    "detail": pl.Utf8,
}


def _tail_surprise(
    window: pl.DataFrame,
    baseline: pl.DataFrame,
    keys: list[str],
    value: str,
    quantile: float,
    min_score: float,
    two_sample: bool = False,
):
    """Per key group: how many window values exceed the baseline's ``quantile``, scored against ``(1-q) n``.

    With ``two_sample``, no higher than the two-sample test of the window's and the baseline's counts above
    that limit (:func:`two_sample_surprise`): a short baseline's quantile is itself a chance value (with 30
    requests its p99 is about its largest), so exceeding it is less surprising than ``1 - q`` says.
    """
    if window.is_empty() or baseline.is_empty():
        return []
    limits = baseline.group_by(keys).agg(
        pl.col(value).quantile(quantile).alias("limit"), pl.len().alias("n_base")
    )
    base = (  # the baseline's own figures per key (every baseline key has its limit)
        baseline.join(limits, on=keys, how="inner")
        .group_by(keys)
        .agg(
            pl.col(value).median().alias("base_median"),
            (pl.col(value) > pl.col("limit")).sum().alias("base_above"),
        )
    )
    scored = (
        window.join(limits, on=keys, how="inner")
        .group_by(keys)
        .agg(
            pl.len().alias("n"),
            (pl.col(value) > pl.col("limit")).sum().alias("above"),
            pl.col("start").filter(pl.col(value) > pl.col("limit")).min().alias("first_seen"),
            pl.col(value).median().alias("median"),
            pl.col("limit").first(),
            pl.col("n_base").first(),
        )
    )
    rows = []
    for row in scored.join(base, on=keys, how="left").iter_rows(named=True):
        expected = max((1 - quantile) * row["n"], 0.5)
        score = poisson_surprise(row["above"], expected)
        if two_sample:
            score = min(score, two_sample_surprise(row["above"], row["base_above"], row["n"] / row["n_base"]))
        if score >= min_score:
            rows.append({**row, "score": score})
    return rows


def edge_changes(
    spans: pl.DataFrame,
    baseline_spans: pl.DataFrame,
    *,
    window: tuple[datetime, datetime],
    quantile: float = 0.99,
    min_score: float = 3.0,
) -> pl.DataFrame:
    """Call edges ``caller -> callee`` whose callee-side latency rose against the baseline.

    Notes
    -----
    For each edge, ``k`` = window calls slower than the baseline's ``quantile`` of that edge; under no
    change ``k ~ Poisson((1 - quantile) n)``, scored by :func:`logrca.rca.detect.poisson_surprise`. Edges absent from
    the baseline are skipped (no reference).
    """
    calls = span_calls(spans.filter(pl.col("start").is_between(*window, closed="left")))
    base = span_calls(baseline_spans)
    rows = _tail_surprise(calls, base, ["caller", "callee"], "duration_us", quantile, min_score)
    out = [
        {
            "caller": r["caller"],
            "callee": r["callee"],
            "kind": "latency_rise",
            "score": r["score"],
            "first_seen": r["first_seen"],
            "detail": f"{r['above']}/{r['n']} calls slower than baseline p{quantile * 100:g} {r['limit'] / 1000:.0f} ms "
            f"(median {r['base_median'] / 1000:.0f} -> {r['median'] / 1000:.0f} ms)",
        }
        for r in rows
    ]
    return pl.DataFrame(out, schema=EDGE_CHANGE_SCHEMA).sort("score", descending=True)


def self_times(spans: pl.DataFrame) -> pl.DataFrame:
    """Entry spans of each service (parent on another service, or root) with their exclusive time.

    Exclusive time = the span's duration minus the durations of the remote calls made under it, taken
    over the service's local span subtree (children on the same service are part of it).
    """
    calls = span_calls(spans).select("trace_id", "caller", "callee", "duration_us")
    parent_service = spans.select(
        "trace_id", pl.col("span_id").alias("parent_id"), pl.col("service").alias("parent_service")
    )
    entries = spans.join(parent_service, on=["trace_id", "parent_id"], how="left").filter(
        pl.col("parent_service").is_null() | (pl.col("parent_service") != pl.col("service"))
    )
    outgoing = calls.group_by("trace_id", "caller").agg(pl.col("duration_us").sum().alias("remote_us"))
    per_trace = entries.group_by("trace_id", "service").agg(
        pl.col("duration_us").sum().alias("own_us"), pl.col("start").min()
    )
    joined = per_trace.join(
        outgoing, left_on=["trace_id", "service"], right_on=["trace_id", "caller"], how="left"
    )
    return joined.with_columns(
        (pl.col("own_us") - pl.col("remote_us").fill_null(0)).clip(lower_bound=0).alias("self_us")
    )


def window_self_times(
    spans: pl.DataFrame,
    baseline_spans: pl.DataFrame,
    window: tuple[datetime, datetime],
    baseline_self_times: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(:func:`self_times` of the spans starting in ``window``, of ``baseline_spans``): what
    :func:`span_deviations` and :func:`request_scale` compare. ``baseline_self_times``: the second,
    when already computed (one baseline serves the window and the quiet stretch before it)."""
    current = self_times(spans.filter(pl.col("start").is_between(*window, closed="left")))
    base = self_times(baseline_spans) if baseline_self_times is None else baseline_self_times
    return current, base


def span_deviations(
    spans: pl.DataFrame,
    baseline_spans: pl.DataFrame,
    *,
    window: tuple[datetime, datetime],
    quantile: float = 0.99,
    min_score: float = 3.0,
    two_sample: bool = False,
    own: tuple[pl.DataFrame, pl.DataFrame] | None = None,
) -> pl.DataFrame:
    """Services whose own (exclusive) time per request rose: the part of the latency spent inside them.

    A slow callee makes every caller's span longer, but not its callers' exclusive time; a rise of
    exclusive time points at the service itself (CPU contention, a slow network on its pod).
    ``two_sample``: see :func:`_tail_surprise` (a short baseline's quantile is a sample too).
    ``own``: :func:`window_self_times` of these spans, when the caller has them already.
    """
    current, base = own or window_self_times(spans, baseline_spans, window)
    rows = _tail_surprise(current, base, ["service"], "self_us", quantile, min_score, two_sample)
    out = [
        {
            "service": r["service"],
            "metric": "span_self_time",
            "score": r["score"],
            "first_seen": r["first_seen"],
            "detail": f"{r['above']}/{r['n']} requests spent longer inside than baseline p{quantile * 100:g} "
            f"(median {r['base_median'] / 1000:.1f} -> {r['median'] / 1000:.1f} ms)",
        }
        for r in rows
    ]
    return pl.DataFrame(out, schema=SPAN_DEVIATION_SCHEMA).sort("score", descending=True)


def request_scale(
    spans: pl.DataFrame,
    baseline_spans: pl.DataFrame,
    *,
    window: tuple[datetime, datetime],
    min_requests: int = 5,
    own: tuple[pl.DataFrame, pl.DataFrame] | None = None,
) -> dict[str, float]:
    """Per service: requests received in the window / in the baseline (entry spans, see :func:`self_times`).

    Feeds :func:`logrca.rca.detect.detect_anomalies` ``service_scale`` so log rates are compared per request.
    Services with fewer than ``min_requests`` baseline requests are left out (time ratio instead), and
    so are services that received none in the window: lines per request are undefined there, and a
    service that stopped serving must not also be expected to stop logging (its silence is the drop).
    ``own``: :func:`window_self_times` of these spans, when the caller has them already.
    """
    window_entries, baseline_entries = own or window_self_times(spans, baseline_spans, window)
    current = window_entries.group_by("service").len()
    base = baseline_entries.group_by("service").len()
    joined = base.join(current, on="service", how="inner", suffix="_w").filter(pl.col("len") >= min_requests)
    return {s: w / b for s, b, w in joined.iter_rows()}


def _entry_operations(spans: pl.DataFrame) -> pl.DataFrame:
    """Entry spans (:func:`self_times`' definition): ``trace_id, service, operation``, one row per visit."""
    parent_service = spans.select(
        "trace_id", pl.col("span_id").alias("parent_id"), pl.col("service").alias("parent_service")
    )
    return (
        spans.join(parent_service, on=["trace_id", "parent_id"], how="left")
        .filter(pl.col("parent_service").is_null() | (pl.col("parent_service") != pl.col("service")))
        .select("trace_id", "service", "operation")
    )


def known_requests(
    events: pl.DataFrame, spans: pl.DataFrame, baseline_spans: pl.DataFrame, *, min_visits: int = 1
) -> pl.DataFrame:
    """``events`` with ``known_request``: False for a line written while serving a kind of request the
    baseline never showed its service.

    A line's request is the entry operation of its service in its trace (the service's visits there).
    It is unknown when none of those operations has ``min_visits`` entry spans of that service in
    ``baseline_spans``; lines without a trace id or span stay known (nothing says otherwise).

    Notes
    -----
    A template never seen in the baseline is new behaviour only if the request that wrote it is of a
    kind the baseline saw: when a short baseline (the minutes before an alert) happened to hold no
    ``retrieve config`` request, every line of the first one looks new. The trace-pattern signal
    applies the same rule to whole visits (operations with too few normal visits are not judged).
    """
    if "trace_id" not in events.columns or spans.is_empty():
        return events.with_columns(pl.lit(True).alias("known_request"))
    seen = (
        _entry_operations(baseline_spans)
        .group_by("service", "operation")
        .len()
        .filter(pl.col("len") >= min_visits)
        .select("service", "operation", pl.lit(True).alias("seen"))
    )
    per_line = (
        _entry_operations(spans)
        .join(seen, on=["service", "operation"], how="left")
        .group_by("trace_id", "service")
        .agg(pl.col("seen").fill_null(False).any().alias("known_request"))
    )
    return events.join(per_line, on=["trace_id", "service"], how="left").with_columns(
        pl.col("known_request").fill_null(True)
    )
