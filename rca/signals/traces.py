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


def _self_times(spans: pl.DataFrame) -> pl.DataFrame:
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


def span_deviations(
    spans: pl.DataFrame,
    baseline_spans: pl.DataFrame,
    *,
    window: tuple[datetime, datetime],
    quantile: float = 0.99,
    min_score: float = 3.0,
    two_sample: bool = False,
) -> pl.DataFrame:
    """Services whose own (exclusive) time per request rose: the part of the latency spent inside them.

    A slow callee makes every caller's span longer, but not its callers' exclusive time; a rise of
    exclusive time points at the service itself (CPU contention, a slow network on its pod).
    ``two_sample``: see :func:`_tail_surprise` (a short baseline's quantile is a sample too).
    """
    current = _self_times(spans.filter(pl.col("start").is_between(*window, closed="left")))
    base = _self_times(baseline_spans)
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
) -> dict[str, float]:
    """Per service: requests received in the window / in the baseline (entry spans, see ``_self_times``).

    Feeds :func:`logrca.rca.detect.detect_anomalies` ``service_scale`` so log rates are compared per request.
    Services with fewer than ``min_requests`` baseline requests are left out (time ratio instead).
    """
    current = (
        _self_times(spans.filter(pl.col("start").is_between(*window, closed="left")))
        .group_by("service")
        .len()
    )
    base = _self_times(baseline_spans).group_by("service").len()
    joined = base.join(current, on="service", how="left", suffix="_w").filter(pl.col("len") >= min_requests)
    return {s: (w or 0) / b for s, b, w in joined.iter_rows()}


def _entry_operations(spans: pl.DataFrame) -> pl.DataFrame:
    """Entry spans (``_self_times``' definition): ``trace_id, service, operation``, one row per visit."""
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


def _clean_reference(reference: pl.DataFrame, offset_us: float, outlier_z: float) -> pl.DataFrame:
    """Per-edge baseline medians with outliers (robust z of ``log(median + offset)`` across edges above
    ``outlier_z``) replaced by the typical edge's median.

    Wire time is a property of the network more than of an edge: when one edge's baseline already waits
    100 times longer than the others, the baseline holds a delay (the stretch before an alert may hold
    the fault's onset) and is not that edge's normal.
    """
    logs = (reference["base_median"] + offset_us).log()
    centre = float(logs.median())
    spread = 1.4826 * float((logs - centre).abs().median())
    typical = float(reference["base_median"].median())
    if spread == 0.0:
        return reference
    limit = pl.lit(centre + outlier_z * spread)
    outlier = (pl.col("base_median") + offset_us).log() > limit
    return reference.with_columns(
        pl.when(outlier).then(pl.lit(typical)).otherwise(pl.col("base_median")).alias("base_median")
    )


def _gap_calls(spans: pl.DataFrame) -> pl.DataFrame:
    """Remote calls with the time spent between caller and callee: parent span minus child span duration."""
    parent = spans.select(
        "trace_id", pl.col("span_id").alias("parent_id"), pl.col("duration_us").alias("parent_us")
    )
    return (
        span_calls(spans)
        .join(parent, on=["trace_id", "parent_id"], how="inner")
        .with_columns((pl.col("parent_us") - pl.col("duration_us")).clip(lower_bound=0).alias("gap_us"))
    )


def network_deviations(
    spans: pl.DataFrame,
    baseline_spans: pl.DataFrame,
    *,
    window: tuple[datetime, datetime],
    offset_us: float = 1000.0,
    unit: float = 0.5,
    caller_weight: float = 0.9,
    min_calls: int = 1,
    outlier_z: float | None = 3.0,
) -> pl.DataFrame:
    """Services whose calls spend longer on the wire (the caller's wait minus the callee's work), by how much.

    Parameters
    ----------
    spans, baseline_spans : pl.DataFrame
        Span frames (:data:`logrca.parsers.ingest.schema.SPAN_SCHEMA`); the window part of ``spans`` is compared with ``baseline_spans``.
    window : tuple of datetime
        ``[start, end)`` of the spans judged.
    offset_us : float, default 1000
        Added to both medians before their ratio, so sub-millisecond gaps do not turn jitter into big factors.
    unit : float, default 0.5
        Log-ratio that counts as one unit of score (a factor of about 1.65); smaller edge shifts are ignored.
    caller_weight : float, default 0.9
        Weight of a service's outgoing calls against its incoming ones: when one edge alone moved, both ends
        explain it equally well and the callee (the side that answers late) is preferred.
    min_calls : int, default 1
        Edges with fewer window calls are left out.
    outlier_z : float or None, default 3.0
        Baseline hygiene: an edge whose baseline median gap is an outlier among all edges' (robust z of
        its log above ``outlier_z``) takes the typical edge's median as its reference. None: every edge
        against its own baseline only.

    Returns
    -------
    pl.DataFrame
        :data:`SPAN_DEVIATION_SCHEMA` rows with ``metric = "call_gap"``, one per service that explains some shift.

    Notes
    -----
    Each call's gap is its parent span's duration minus its own. Per edge ``caller -> callee`` the shift is
    ``s = ln((median_window + c) / (median_baseline + c))``, kept when ``s > unit``. A delay on one pod (a slow
    network, a starved CPU that answers or sends late) moves every edge in or out of it, while each neighbour
    shares just one of those edges. The shifted edges are therefore explained away greedily, as in set cover:
    the service whose unexplained edges sum to the largest shift (outgoing ones times ``caller_weight``) takes
    them, its score is that sum over ``unit``, and the rest is explained by the next service, and so on. A
    count of calls above a baseline percentile (the earlier form) cannot tell a 2 s delay from a 0.2 ms wobble,
    nor the pod at the centre of the moved edges from one at their rim.
    """
    current = _gap_calls(spans.filter(pl.col("start").is_between(*window, closed="left")))
    base = _gap_calls(baseline_spans)
    if current.is_empty() or base.is_empty():
        return pl.DataFrame(schema=SPAN_DEVIATION_SCHEMA)
    edges = _edge_shifts(current, base, offset_us=offset_us, min_calls=min_calls, outlier_z=outlier_z)
    moved = {
        (r["caller"], r["callee"]): r for r in edges.filter(pl.col("shift") > unit).iter_rows(named=True)
    }
    rows = _explain_away(moved, unit=unit, caller_weight=caller_weight)
    return pl.DataFrame(rows, schema=SPAN_DEVIATION_SCHEMA).sort("score", descending=True)


def _edge_shifts(
    current: pl.DataFrame, base: pl.DataFrame, *, offset_us: float, min_calls: int, outlier_z: float | None
) -> pl.DataFrame:
    """Per edge with at least ``min_calls`` window calls: its median gap, first call and log-ratio ``shift``."""
    reference = base.group_by("caller", "callee").agg(pl.col("gap_us").median().alias("base_median"))
    if outlier_z is not None:
        reference = _clean_reference(reference, offset_us, outlier_z)
    edges = (
        current.group_by("caller", "callee")
        .agg(
            pl.col("gap_us").median().alias("median"),
            pl.len().alias("n"),
            pl.col("start").min().alias("first_seen"),
        )
        .filter(pl.col("n") >= min_calls)
        .join(reference, on=["caller", "callee"], how="inner")
    )
    return edges.with_columns(
        ((pl.col("median") + offset_us) / (pl.col("base_median") + offset_us)).log().alias("shift")
    )


def _explain_away(moved: dict[tuple[str, str], dict], *, unit: float, caller_weight: float) -> list[dict]:
    """Greedy set cover of the moved edges: one row per service that takes the most unexplained shift."""
    rows = []
    while moved:
        weight: dict[str, float] = {}
        for (caller, callee), edge in moved.items():
            weight[callee] = weight.get(callee, 0.0) + edge["shift"]
            weight[caller] = weight.get(caller, 0.0) + caller_weight * edge["shift"]
        service = max(sorted(weight), key=weight.get)
        taken = [edge for key, edge in moved.items() if service in key]
        for edge in taken:
            del moved[(edge["caller"], edge["callee"])]
        described = ", ".join(
            f"{e['caller']} -> {e['callee']} {e['base_median'] / 1000:.1f} -> {e['median'] / 1000:.1f} ms"
            for e in sorted(taken, key=lambda e: -e["shift"])[:3]
        )
        rows.append(
            {
                "service": service,
                "metric": "call_gap",
                "score": weight[service] / unit,
                "first_seen": min(e["first_seen"] for e in taken),
                "detail": f"{len(taken)} call edge(s) in or out waited longer on the wire (median gap): {described}",
            }
        )
    return rows
