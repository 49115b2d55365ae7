"""Detect what changed in the logs of a window against a baseline: new templates, rate changes, error bursts, rules."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import polars as pl

from logrca.rca.detect_rules import DetectionConfig, RuleConfig, is_error_line, rule_rows
from logrca.rca.markdown import counted
from logrca.rca.onset import with_onsets
from logrca.rca.surprise import poisson_surprise, two_sample_surprise

__all__ = [
    "ANOMALY_SCHEMA",
    "DetectionConfig",
    "RuleConfig",
    "detect_anomalies",
    "discount_explained",
    "poisson_surprise",
    "covered_intervals",
    "service_scores",
    "strongest_first",
    "two_sample_surprise",
]

ANOMALY_SCHEMA: dict[str, pl.DataType] = {
    "service": pl.Utf8,
    "kind": pl.Utf8,
    "template_id": pl.Int64,
    "template": pl.Utf8,
    "count_baseline": pl.Float64,
    "count_window": pl.Int64,
    "score": pl.Float64,
    "first_seen": pl.Datetime("us", "UTC"),
    "sample": pl.Utf8,
    "detail": pl.Utf8,
}


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=ANOMALY_SCHEMA)


def _unseen_surprise(k: int, baseline: int, scale: float, config: DetectionConfig) -> float:
    """Surprise of ``k`` window lines where the baseline expects fewer than ``prior_rate``.

    Against ``prior_rate`` (:func:`poisson_surprise`); with ``short_baseline_unseen`` no more than the
    two-sample test gives (:func:`two_sample_surprise`): a baseline as long as the window (``scale`` near
    1, the minutes before an alert) that happened not to hold a line is weak evidence that the line is
    new, while a long one (small ``scale``) leaves the prior's value.
    """
    score = poisson_surprise(k, config.prior_rate)
    if config.short_baseline_unseen and scale > 0:
        score = min(score, two_sample_surprise(k, baseline, scale))
    return score


def _template_rows(
    window_events: pl.DataFrame, baseline_events: pl.DataFrame | None, scale, config: DetectionConfig
) -> list[dict]:
    keys = ["service", "template_id"]
    known = pl.col("known_request").sum() if "known_request" in window_events.columns else pl.len()
    current = window_events.group_by(keys).agg(
        pl.len().alias("count_window"),
        known.alias("count_known"),
        pl.col("template").last(),
        pl.col("timestamp").min().alias("first_seen"),
        pl.col("message").sort_by("timestamp").first().alias("sample"),
    )
    if baseline_events is None:
        reference = pl.DataFrame(schema={"service": pl.Utf8, "template_id": pl.Int64, "n_base": pl.UInt32})
    else:
        reference = baseline_events.group_by(keys).agg(pl.len().alias("n_base"))
    joined = current.join(reference, on=keys, how="full", coalesce=True)
    rows: list[dict] = []
    for row in joined.iter_rows(named=True):
        k = row["count_window"] or 0
        expected = (row["n_base"] or 0) * scale(row["service"])
        if expected == 0:
            # Lines of request kinds the baseline never saw cannot be new behaviour (known_requests).
            k = row["count_known"] or 0
            if baseline_events is None or k < config.min_new_count:
                continue
            score = _unseen_surprise(k, 0, scale(row["service"]), config)
            kind, detail = "new_template", f"{counted(k, 'line')}, never seen in the baseline"
        else:
            score = two_sample_surprise(k, row["n_base"], scale(row["service"]))
            if score > 0:
                kind, detail = (
                    "rate_spike",
                    f"{counted(k, 'line')} vs {expected:.1f} expected (x{k / expected:.1f})",
                )
            elif expected >= config.min_drop_expected:
                kind, detail, score = "rate_drop", f"{counted(k, 'line')} vs {expected:.1f} expected", -score
            else:
                continue
        if score < config.min_score:
            continue
        rows.append(
            {
                **{c: row[c] for c in ("service", "template_id", "template", "first_seen", "sample")},
                "kind": kind,
                "count_baseline": expected,
                "count_window": k,
                "score": score,
                "detail": detail,
            }
        )
    return rows


def _error_rows(
    window_events: pl.DataFrame, baseline_events: pl.DataFrame | None, scale, config: DetectionConfig
) -> list[dict]:
    is_error = is_error_line(config)
    current = (
        window_events.filter(is_error)
        .group_by("service")
        .agg(
            pl.len().alias("count_window"),
            pl.col("timestamp").min().alias("first_seen"),
            pl.col("message").sort_by("timestamp").first().alias("sample"),
        )
    )
    base: dict[str, int] = {}
    if baseline_events is not None:
        base = dict(baseline_events.filter(is_error).group_by("service").agg(pl.len()).iter_rows())
    rows = []
    for row in current.iter_rows(named=True):
        k, expected = row["count_window"], base.get(row["service"], 0) * scale(row["service"])
        score = poisson_surprise(k, max(expected, config.prior_rate))
        if score < config.min_score:
            continue
        rows.append(
            {
                "service": row["service"],
                "kind": "error_burst",
                "template_id": None,
                "template": None,
                "count_baseline": expected,
                "count_window": k,
                "score": score,
                "first_seen": row["first_seen"],
                "sample": row["sample"],
                "detail": f"{counted(k, 'error line')} vs {expected:.1f} expected",
            }
        )
    return rows


def _checked(events: pl.DataFrame, window: tuple[datetime, datetime]) -> pl.DataFrame:
    """``events`` with a ``level`` column, once they hold the template columns and ``window`` is not empty."""
    missing = {"service", "timestamp", "message", "template_id", "template"} - set(events.columns)
    if missing:
        raise ValueError(
            f"detect_anomalies: events lack columns {sorted(missing)} (run mine_templates first)"
        )
    if window[1] <= window[0]:
        raise ValueError(f"detect_anomalies: window end {window[1]} is not after its start {window[0]}")
    if "level" not in events.columns:
        events = events.with_columns(pl.lit(None, pl.Utf8).alias("level"))
    return events


def _baseline_rows(
    source: pl.DataFrame,
    baseline: tuple[datetime, datetime] | list[tuple[datetime, datetime]] | None,
    window: tuple[datetime, datetime],
) -> tuple[pl.DataFrame | None, float]:
    """The rows of ``source`` inside the baseline interval(s), and window length over baseline length."""
    baseline_rows, scale = None, 1.0
    intervals = [baseline] if isinstance(baseline, tuple) else list(baseline or [])
    if intervals:
        for start, end in intervals:
            if end <= start:
                raise ValueError(f"detect_anomalies: baseline end {end} is not after its start {start}")
        inside = pl.any_horizontal(
            [pl.col("timestamp").is_between(s, e, closed="left") for s, e in intervals]
        )
        baseline_rows = source.filter(inside)
        if "level" not in baseline_rows.columns:
            baseline_rows = baseline_rows.with_columns(pl.lit(None, pl.Utf8).alias("level"))
        scale = (window[1] - window[0]) / sum((e - s for s, e in intervals), start=window[0] - window[0])
    return baseline_rows, scale


def detect_anomalies(
    events: pl.DataFrame,
    *,
    window: tuple[datetime, datetime],
    baseline: tuple[datetime, datetime] | list[tuple[datetime, datetime]] | None,
    config: DetectionConfig | None = None,
    baseline_events: pl.DataFrame | None = None,
    service_scale: dict[str, float] | None = None,
) -> pl.DataFrame:
    """Score what changed in each service's logs in ``window`` against ``baseline``.

    Parameters
    ----------
    events : pl.DataFrame
        Event frame with template columns (``service, timestamp, level, message, template_id, template``).
    window : tuple of datetime
        ``[start, end)`` of the period under analysis (UTC).
    baseline : tuple of datetime, list of them, or None
        ``[start, end)`` of a normal period (or several, e.g. fault-free minutes apart). None: only error
        bursts (against nothing) and rules are scored.
    config : DetectionConfig, optional
        Thresholds and user rules; defaults when None.
    baseline_events : pl.DataFrame, optional
        Take the baseline rows from this frame (same template ids) instead of ``events``: a fault-free
        recording kept apart from the incident's.
    service_scale : dict, optional
        Per service, the factor that turns baseline counts into expected window counts, e.g. requests
        received in the window / in the baseline (from traces). Services not in it use the time ratio.
        With it, a busier minute is not a rate spike: only a change of lines *per request* is.

    Returns
    -------
    pl.DataFrame
        One row per finding, columns :data:`ANOMALY_SCHEMA`, highest score first.

    Notes
    -----
    Baseline counts are scaled by ``len(window) / len(baseline)``. Each (service, template) count in the window
    is compared with its expected count by :func:`poisson_surprise`; a template absent from the baseline is
    compared with ``prior_rate``. Error lines (level in ``error_levels``, or no level and ``error_pattern``
    in the text) are counted per service the same way.
    """
    config = config or DetectionConfig()
    events = _checked(events, window)
    in_window = events.filter(pl.col("timestamp").is_between(window[0], window[1], closed="left"))
    if in_window.is_empty():
        return _empty()
    source = events if baseline_events is None else baseline_events
    baseline_rows, scale = _baseline_rows(source, baseline, window)
    per_service = service_scale or {}

    def scale_for(service: str) -> float:
        return per_service.get(service, scale)

    rows = _template_rows(in_window, baseline_rows, scale_for, config)
    rows += _error_rows(in_window, baseline_rows, scale_for, config)
    rows += rule_rows(in_window, config)
    if not rows:
        return _empty()
    found = with_onsets(pl.DataFrame(rows, schema=ANOMALY_SCHEMA), in_window, window, is_error_line(config))
    return strongest_first(found)


def strongest_first(anomalies: pl.DataFrame) -> pl.DataFrame:
    """``anomalies`` highest score first; ties in the order of service, kind and template id.

    Rows come out of group-bys in no fixed order, and the report keeps each service's strongest few:
    without a full order, two runs of the same input could keep different rows of equal score (and
    file the incident under another fingerprint).
    """
    return anomalies.sort(
        ["score", "service", "kind", "template_id"], descending=[True, False, False, False], nulls_last=True
    )


def discount_explained(
    anomalies: pl.DataFrame,
    window_events: pl.DataFrame,
    explained: pl.DataFrame | None,
    config: DetectionConfig | None = None,
) -> pl.DataFrame:
    """Take the log lines a deviating callee explains out of the caller's log findings and score again.

    Parameters
    ----------
    anomalies : pl.DataFrame
        :data:`ANOMALY_SCHEMA` rows of the window (:func:`detect_anomalies`).
    window_events : pl.DataFrame
        The window's events (``trace_id, service, template_id, timestamp, level, message``).
    explained : pl.DataFrame or None
        ``trace_id, service, template_id, time`` of the lines to discount
        (:func:`logrca.rca.signals.trace_patterns.explained_log_lines`).
    config : DetectionConfig, optional
        The thresholds the rows were found with.

    Returns
    -------
    pl.DataFrame
        The rows with ``count_window`` less the explained lines, scored again against the same expected
        count; rows that fall below ``min_score`` (or ``min_new_count`` for new templates) are dropped.
        ``rate_drop`` and ``rule`` rows are kept as they are.

    Notes
    -----
    A caller's log reaction to a failing callee (an error it got back, an odd value it prints) would
    otherwise compete with the callee's own evidence in the max over signals, and the caller is usually
    the louder and busier service. Only the lines that trace attribution places after a deviating callee
    in the same trace are removed; the rest of the caller's deviation is tested as before, so a caller
    that also fails on its own keeps its score.
    """
    config = config or DetectionConfig()
    if anomalies.is_empty() or explained is None or explained.is_empty() or window_events.is_empty():
        return anomalies
    counts = _explained_counts(window_events, explained, config)
    if counts is None:
        return anomalies
    rows = [kept for row in anomalies.iter_rows(named=True) if (kept := _rescored(row, counts, config))]
    return strongest_first(pl.DataFrame(rows, schema=ANOMALY_SCHEMA))


def _explained_counts(
    window_events: pl.DataFrame, explained: pl.DataFrame, config: DetectionConfig
) -> tuple[dict[tuple, int], dict[str, int]] | None:
    """Explained lines per ``(service, template_id)`` and explained error lines per service (None: none)."""
    keys = window_events.select(
        "trace_id",
        "service",
        "template_id",
        pl.col("timestamp").cast(pl.Datetime("us", "UTC")).alias("time"),
        "level",
        "message",
    )
    lines = keys.join(explained.unique(), on=["trace_id", "service", "template_id", "time"], how="semi")
    if lines.is_empty():
        return None
    by_template = {
        (s, t): n for s, t, n in lines.group_by("service", "template_id").agg(pl.len()).iter_rows()
    }
    by_error = dict(lines.filter(is_error_line(config)).group_by("service").agg(pl.len()).iter_rows())
    return by_template, by_error


def _rescored(
    row: dict, counts: tuple[dict[tuple, int], dict[str, int]], config: DetectionConfig
) -> dict | None:
    """``row`` with its explained lines taken off and scored again; None when it no longer passes."""
    by_template, by_error = counts
    kind, k = row["kind"], row["count_window"]
    gone = (
        by_error.get(row["service"], 0)
        if kind == "error_burst"
        else by_template.get((row["service"], row["template_id"]), 0)
    )
    if kind not in ("new_template", "rate_spike", "error_burst") or gone == 0:
        return row
    left = k - gone
    if kind == "new_template":
        if left < config.min_new_count:
            return None
        # Under the two-sample cap (_unseen_surprise) an unseen template's score is ∝ √count; where the
        # prior's value applied, that bound lies above it (the prior's grows faster than √count).
        score = min(poisson_surprise(left, config.prior_rate), row["score"] * math.sqrt(left / k))
    else:
        score = poisson_surprise(left, max(row["count_baseline"], config.prior_rate))
    if score < config.min_score:
        return None
    return {
        **row,
        "count_window": left,
        "score": score,
        "detail": f"{row['detail']}; {gone} explained by a deviating callee",
    }


#: How much each kind of log finding counts for a service. Rate changes follow the workload mix as much
#: as faults (a busier minute raises every template of a call chain), so they count half; new templates,
#: error bursts and user rules are changes of behaviour.
KIND_WEIGHTS = {"new_template": 1.0, "error_burst": 1.0, "rule": 1.0, "rate_spike": 0.5, "rate_drop": 0.5}


def service_scores(anomalies: pl.DataFrame) -> dict[str, float]:
    """Aggregate anomaly rows per service: the largest weighted score (:data:`KIND_WEIGHTS`).

    The maximum, not a sum: a service that logs many templates (a busy orchestrator) would otherwise
    outscore the one with a single strong, new error.
    """
    if anomalies.is_empty():
        return {}
    weight = pl.col("kind").replace_strict(KIND_WEIGHTS, default=1.0, return_dtype=pl.Float64)
    totals = anomalies.group_by("service").agg((pl.col("score") * weight).max().alias("total"))
    return {service: float(total) for service, total in totals.sort("service").iter_rows()}


def covered_intervals(events: pl.DataFrame) -> list[tuple[datetime, datetime]]:
    """The time intervals the baseline events cover, one per source file, overlaps merged (fault-free minutes lie apart)."""
    if events.is_empty():
        return []
    if "source_file" not in events.columns:  # lines of one stretch: from the first to the last
        events = events.with_columns(source_file=pl.lit(""))
    spans = events.group_by("source_file").agg(
        pl.col("timestamp").min().alias("a"), pl.col("timestamp").max().alias("b")
    )
    merged: list[list] = []
    for _, a, b in spans.sort("a").iter_rows():
        b = b + timedelta(microseconds=1)
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [tuple(m) for m in merged]
