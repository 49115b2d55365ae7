"""Wire time: how much longer each service's calls spend between caller and callee than in the baseline.

The time a call spends on the wire is the caller's wait minus the callee's own work (the parent span's
duration minus the child's). A slow network on one pod moves every edge it sits on; the shift is
explained away onto the fewest services (:func:`network_deviations`).
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from logrca.rca.graph import span_calls
from logrca.rca.markdown import counted
from logrca.rca.options import TraceOptions
from logrca.rca.signals.traces import SPAN_DEVIATION_SCHEMA

__all__ = ["network_deviations", "wire_time_signal"]


def wire_time_signal(
    spans: pl.DataFrame, baseline_spans: pl.DataFrame, window: tuple, traces: TraceOptions
) -> pl.DataFrame:
    """:func:`network_deviations` with the analysis' trace settings."""
    return network_deviations(
        spans,
        baseline_spans,
        window=window,
        offset_us=traces.wire_offset_us,
        unit=traces.wire_unit,
        caller_weight=traces.wire_caller_weight,
        outlier_z=traces.wire_outlier_z,
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
                "detail": f"{counted(len(taken), 'call edge')} in or out waited longer on the wire (median gap): {described}",
            }
        )
    return rows
