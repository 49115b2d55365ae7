"""When a rate change began inside the window: the onset of each rate spike, rate drop and error burst.

A template the baseline also holds has lines from the window's first minute, so its first line in the
window says when the window began, not when its rate changed. The onset is the window's single
change point of a Poisson rate that starts at the expected rate: the split of the window into
bins before it (at the rate the baseline expects) and after it (at their own mean rate) that is
most likely. A rate that was already changed when the window began has its onset at the start.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

__all__ = ["ONSET_BINS", "change_point", "with_onsets"]

#: Bins the window is cut into to find an onset: a minute of an hour's partition, 15 s of 15 minutes.
ONSET_BINS = 60

_RATE_KINDS = ("rate_spike", "rate_drop")


def change_point(counts: np.ndarray, expected_per_bin: float) -> int:
    """The bin where the rate of ``counts`` most likely left ``expected_per_bin`` (0: from the start).

    The log-likelihood of "bins before ``t`` at the expected rate, bins from ``t`` on at their own
    mean rate", maximised over ``t`` (terms that do not depend on ``t`` left out).
    """
    counts = np.asarray(counts, dtype=float)
    n = counts.size
    if n == 0 or expected_per_bin <= 0:
        return 0
    before = np.concatenate(([0.0], np.cumsum(counts * np.log(expected_per_bin) - expected_per_bin)))[:n]
    after_total = np.cumsum(counts[::-1])[::-1]  # lines from bin t on
    after_bins = np.arange(n, 0, -1, dtype=float)
    rate = after_total / after_bins
    with np.errstate(divide="ignore", invalid="ignore"):
        after = np.where(after_total > 0, after_total * np.log(rate), 0.0) - after_total
    return int(np.argmax(before + after))


def with_onsets(
    anomalies: pl.DataFrame,
    window_events: pl.DataFrame,
    window: tuple[datetime, datetime],
    is_error: pl.Expr,
) -> pl.DataFrame:
    """``anomalies`` with ``first_seen`` of rate changes and error bursts moved to their onset.

    A spike's or a burst's onset is its first line at or after the change point; a drop's is the
    start of the bin the rate fell in. A burst against no expected errors keeps its first error
    line, as do new templates and rules (their first line is their onset).
    """
    rates = anomalies.filter(pl.col("kind").is_in(_RATE_KINDS) & pl.col("template_id").is_not_null())
    bursts = anomalies.filter((pl.col("kind") == "error_burst") & (pl.col("count_baseline") > 0))
    if rates.is_empty() and bursts.is_empty():
        return anomalies
    start, end = window
    width = (end - start) / ONSET_BINS
    span = max(int((end - start).total_seconds() * 1e6), 1)
    offset = pl.col("timestamp").dt.epoch("us") - int(start.timestamp() * 1e6)
    binned = (offset * ONSET_BINS // span).clip(0, ONSET_BINS - 1).alias("bin")
    onsets: dict[tuple, datetime] = {}
    if not rates.is_empty():
        keys = rates.select("service", "template_id").unique()
        lines = window_events.filter(pl.col("template_id").is_in(keys["template_id"].implode())).join(
            keys, on=["service", "template_id"], how="semi"
        )
        onsets |= _onsets(rates, lines.select("service", "template_id", "timestamp", binned), start, width)
    if not bursts.is_empty():
        # the bursting services' lines first: the error test may run a regex over messages
        errors = window_events.filter(pl.col("service").is_in(bursts["service"].implode())).filter(is_error)
        errors = errors.select("service", pl.lit(None, pl.Int64).alias("template_id"), "timestamp", binned)
        onsets |= _onsets(bursts, errors, start, width)
    moved = [
        row | {"first_seen": onsets.get((row["service"], row["kind"], row["template_id"]), row["first_seen"])}
        for row in anomalies.iter_rows(named=True)
    ]
    return pl.DataFrame(moved, schema=anomalies.schema)


def _onsets(rows: pl.DataFrame, lines: pl.DataFrame, start: datetime, width) -> dict[tuple, datetime]:
    """``{(service, kind, template_id): onset}`` of ``rows`` from their ``lines`` (with a ``bin`` each)."""
    per_key: dict[tuple, list[tuple[int, int, datetime]]] = {}
    grouped = lines.group_by("service", "template_id", "bin").agg(
        pl.len().alias("n"), pl.col("timestamp").min().alias("first")
    )
    for service, template_id, number, n, first in grouped.sort("bin").iter_rows():
        per_key.setdefault((service, template_id), []).append((number, n, first))
    found = {}
    for row in rows.iter_rows(named=True):
        key = (row["service"], row["kind"], row["template_id"])
        bins = per_key.get((row["service"], row["template_id"]), [])
        counts = np.zeros(ONSET_BINS)
        for number, n, _ in bins:
            counts[number] = n
        split = change_point(counts, row["count_baseline"] / ONSET_BINS)
        if row["kind"] == "rate_drop":
            found[key] = start + width * split
            continue
        later = [first for number, _, first in bins if number >= split]
        if later:
            found[key] = later[0]
    return found
