"""The finding: what the report, the search index and the incident record share (rendered by :mod:`logrca.rca.report_render`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from logrca.rca.detect import covered_intervals, strongest_first
from logrca.rca.detect_rules import ERROR_LEVELS, DetectionConfig
from logrca.rca.finding_ids import incident_id_for, window_identity
from logrca.rca.finding_ids import iso as _iso
from logrca.rca.knowledge import link_knowledge

__all__ = [
    "ReportConfig",
    "build_finding",
    "change_entries",
    "service_impact",
]

_EVIDENCE_PER_SERVICE = 5


def service_impact(
    window_events: pl.DataFrame, baseline_events: pl.DataFrame | None, services: list[str], scale: float
) -> dict[str, dict]:
    """Per service: lines and error lines in the window, and the baseline's scaled to the window length."""
    wanted = set(services)

    def counts(frame: pl.DataFrame | None, factor: float) -> dict[str, tuple[float, float]]:
        if frame is None or frame.is_empty():
            return {}
        # Lines per (service, level): a few dozen groups, half the time of filtering and testing
        # every line's level; the sums are taken from the groups.
        found: dict[str, tuple[int, int]] = {}
        for service, level, n in frame.group_by("service", "level").len().iter_rows():
            if service in wanted:
                lines, errors = found.get(service, (0, 0))
                found[service] = (lines + n, errors + (n if level in ERROR_LEVELS else 0))
        return {s: (lines * factor, errors * factor) for s, (lines, errors) in found.items()}

    now, before = counts(window_events, 1.0), counts(baseline_events, scale)
    return {
        service: {
            "lines_window": int(now.get(service, (0, 0))[0]),
            "errors_window": int(now.get(service, (0, 0))[1]),
            "lines_baseline": round(before.get(service, (0.0, 0.0))[0], 1),
            "errors_baseline": round(before.get(service, (0.0, 0.0))[1], 1),
        }
        for service in services
    }


def _raised_lines(window_events: pl.DataFrame, raised: pl.DataFrame) -> pl.DataFrame:
    """The lines of ``window_events`` of the (service, template) pairs in ``raised``, each with its
    pair's ``first_seen`` (the earliest, where a pair has several rows).

    A test of each line's template id against the few raised ids first: the join on both columns
    then meets a few lines, not the window's millions.
    """
    keys = (
        raised.filter(pl.col("template_id").is_not_null())
        .group_by("service", "template_id")
        .agg(pl.col("first_seen").min())
    )
    candidates = window_events.filter(pl.col("template_id").is_in(keys["template_id"].implode()))
    return candidates.join(keys, on=["service", "template_id"])


def _incident_window(
    window_events: pl.DataFrame, anomalies: pl.DataFrame, standing_out: pl.DataFrame, end: datetime
) -> tuple[datetime | None, datetime | None]:
    """From the first to the last line of what went anomalous (new/raised templates, errors of flagged
    services), each from its onset (``first_seen``); without a log finding, from the first moment a
    service ``standing_out`` deviated to the analysed window's ``end``."""
    if anomalies.is_empty():
        seen = standing_out["first_anomalous"].drop_nulls()
        return (seen.min(), end) if seen.len() else (None, None)
    raised = anomalies.filter(pl.col("kind") != "rate_drop")
    lines = _raised_lines(window_events, raised)
    bursts = (
        raised.filter(pl.col("template_id").is_null()).group_by("service").agg(pl.col("first_seen").min())
    )
    errors = window_events.filter(pl.col("level").is_in(list(ERROR_LEVELS))).join(bursts, on="service")
    stamps = pl.concat(
        [
            frame.filter(pl.col("timestamp") >= pl.col("first_seen")).select("timestamp")
            for frame in (lines, errors)
        ]
    )["timestamp"]
    first_seen = (raised if not raised.is_empty() else anomalies)["first_seen"].min()
    if stamps.is_empty():
        return first_seen, anomalies["first_seen"].max()
    return min(stamps.min(), first_seen) if first_seen else stamps.min(), stamps.max()


def _failing_path(
    window_events: pl.DataFrame,
    anomalies: pl.DataFrame,
    limit: int = 12,
    trace_lines: Callable[[str], pl.DataFrame] | None = None,
) -> tuple[list[str], list[str]]:
    """Trace ids of requests that crossed anomalous services, and the lines of the best one in time order.

    The lines come from ``trace_lines(trace_id)`` when given (``window_events`` may then lack
    ``message``), else from ``window_events``; either way in the frame's order among equal timestamps.
    """
    if "trace_id" not in window_events.columns:
        return [], []
    hits = _raised_lines(window_events, anomalies.filter(pl.col("kind") != "rate_drop"))
    hits = hits.filter(pl.col("trace_id").is_not_null())
    if hits.is_empty():
        return [], []
    ranked = (
        hits.group_by("trace_id")
        .agg(pl.col("service").n_unique().alias("services"), pl.col("timestamp").min().alias("t"))
        # ties broken by trace id: the same request is quoted on every run
        .sort(["services", "t", "trace_id"], descending=[True, False, False])
    )
    trace_ids = ranked["trace_id"].head(10).to_list()
    path = (
        trace_lines(trace_ids[0])
        if trace_lines is not None
        else window_events.filter(pl.col("trace_id") == trace_ids[0])
    )
    path = path.sort("timestamp", maintain_order=True).head(limit)
    lines = [
        f"{_iso(t)} {service} {level or '-'} {message.splitlines()[0] if message else ''}"
        for t, service, level, message in path.select("timestamp", "service", "level", "message").iter_rows()
    ]
    return trace_ids, lines


class ReportConfig(BaseModel):
    """The ``report`` section: how reports link runbooks and what they draw."""

    model_config = ConfigDict(extra="forbid")

    runbook_url_base: str | None = Field(
        None,
        description=(
            "Where your runbooks are published (e.g. https://git.example.com/ops/runbooks/blob/main/): a runbook "
            "link is this base plus the runbook's path under the knowledge base. Without it, the report carries "
            "each linked runbook's text."
        ),
    )
    pictures: bool = Field(True, description="Draw the service map and the template-rate timeline.")
    timeline_templates: int = Field(
        4, ge=1, le=10, description="How many of the top evidence templates the timeline draws."
    )


def _evidence_entry(row: dict) -> dict:
    return {
        "kind": row["kind"],
        "template_id": row["template_id"],
        "template": row["template"],
        "count_baseline": row["count_baseline"],
        "count_window": row["count_window"],
        "score": round(float(row["score"]), 3),
        "first_seen": _iso(row["first_seen"]),
        "sample": row["sample"],
        "detail": row["detail"],
    }


def ranked_entries(ranking: pl.DataFrame, anomalies: pl.DataFrame, owners: dict[str, str]) -> list[dict]:
    """The ranking as JSON-able rows, each with its service's strongest evidence."""
    evidence_rows = strongest_first(anomalies)
    ranked = []
    for row in ranking.iter_rows(named=True):
        evidence = evidence_rows.filter(pl.col("service") == row["service"]).head(_EVIDENCE_PER_SERVICE)
        ranked.append(
            {
                "rank": row["rank"],
                "service": row["service"],
                "score": round(float(row["score"]), 6),
                "anomaly_score": round(float(row.get("anomaly_score") or 0.0), 4),
                "first_anomalous": _iso(row["first_anomalous"]),
                "path": list(row["path"] or []),
                "explanation": row["explanation"],
                "owner": owners.get(row["service"]),
                "evidence": [_evidence_entry(e) for e in evidence.iter_rows(named=True)],
            }
        )
    return ranked


def _baseline_scale(baseline_events: pl.DataFrame | None, window: tuple[datetime, datetime]) -> float:
    """Window length over baseline length (1.0 without a baseline): scales baseline counts to the window.

    The baseline's length is the time its files cover (:func:`covered_intervals`, as the analysis
    takes it): fault-free minutes of another day lie apart, not from their first line to the window.
    """
    if baseline_events is None or baseline_events.is_empty():
        return 1.0
    covered = sum((b - a for a, b in covered_intervals(baseline_events)), start=timedelta(0))
    return (window[1] - window[0]) / covered if covered.total_seconds() > 0 else 1.0


def change_entries(
    changes: pl.DataFrame | None, limit: int = 20, *, window: tuple[datetime, datetime] | None = None
) -> list[dict]:
    """The last ``limit`` change events, for a report; with ``window``, those in it (ends included)."""
    if changes is None or changes.is_empty():
        return []
    if window is not None:
        changes = changes.filter(pl.col("timestamp").is_between(*window, closed="both"))
    return [
        {**row, "timestamp": _iso(row["timestamp"])}
        for row in changes.select("timestamp", "service", "kind", "version", "message")
        .tail(limit)
        .iter_rows(named=True)
    ]


def _knowledge_texts(ranked: list[dict]) -> list[str]:
    texts = [t for e in ranked[0]["evidence"] for t in (e["template"], e["sample"]) if t]
    return texts + [t for r in ranked[1:3] for e in r["evidence"][:2] for t in (e["template"],) if t]


def _detection(detected: datetime, window: tuple[datetime, datetime]) -> dict:
    """``detected_at`` (wall clock) and ``detection_time`` on the logs' clock (see :func:`build_finding`)."""
    replay = detected - window[1] > window[1] - window[0]
    return {
        "detected_at": _iso(detected),
        "detection_time": _iso(window[1] if replay else detected),
        "replay": replay,
    }


def has_finding(
    ranking: pl.DataFrame,
    anomalies: pl.DataFrame,
    min_score: float = 0.0,
    *,
    standout: float = DetectionConfig().min_score,
) -> bool:
    """Whether :func:`build_finding` finds an incident: a ranking, and log anomalies scoring ``min_score``
    or more, or requests that felt it: a ranked service whose trace evidence reaches ``standout``.

    A slow database or a starved CPU shows in the requests' spans while no log line changes. Trace
    scores are on the log scores' own scale (a z-like surprise), so the detection threshold
    (``detection.min_score``) is the bar for them too. A metric alone (a pod's CPU up after a
    release) explains and ranks, but what no request and no log line felt is no incident.
    """
    if ranking.is_empty():
        return False
    if not anomalies.is_empty() and float(anomalies["score"].max()) >= min_score:
        return True
    return not _felt_by_requests(ranking, standout).is_empty()


def _felt_by_requests(ranking: pl.DataFrame, standout: float) -> pl.DataFrame:
    """The ranked services whose trace evidence reaches ``standout`` (a finding without log anomalies)."""
    if "trace_score" not in ranking.columns:
        return ranking.clear()
    return ranking.filter(pl.col("trace_score") >= standout)


def build_finding(
    *,
    system: str,
    window: tuple[datetime, datetime],
    window_events: pl.DataFrame,
    baseline_events: pl.DataFrame | None,
    anomalies: pl.DataFrame,
    ranking: pl.DataFrame,
    runbooks: list[dict] | None = None,
    past_incidents: list[dict] | None = None,
    owners: dict[str, str] | None = None,
    detected_at: datetime | None = None,
    changes: pl.DataFrame | None = None,
    min_score: float = 0.0,
    standout: float = DetectionConfig().min_score,
    trace_lines: Callable[[str], pl.DataFrame] | None = None,
    named_until: datetime | None = None,
) -> dict | None:
    """Assemble the finding of one analysed window, or None when nothing was ranked.

    Parameters
    ----------
    window_events, baseline_events : pl.DataFrame
        Mined events (``template_id`` column) of the window and of the baseline before it.
    anomalies : pl.DataFrame
        :func:`logrca.rca.detect.detect_anomalies` output for the window.
    ranking : pl.DataFrame
        :func:`logrca.rca.rank.rank_root_causes` output.
    detected_at : datetime, optional
        When the pipeline found it (default: now). Time to detect is measured on the logs' clock:
        ``detection_time`` is ``detected_at`` for a live run (within one window length of the window's
        end) and the window's end for a replay of older logs (``replay`` true), the moment a scheduled
        run could first have seen it.
    changes : pl.DataFrame, optional
        :func:`logrca.rca.changes.detect_changes` rows of the window and its baseline.
    min_score : float, default 0.0
        A window whose top log anomaly score is below this yields no finding from its logs.
    standout : float, default the detection threshold
        Without a log finding, a ranked service whose trace evidence reaches this makes one
        (:func:`has_finding`).
    trace_lines : callable, optional
        ``trace_id -> lines`` (``timestamp, service, level, message``) of one request in the window,
        for the reproduction lines when ``window_events`` are read without ``message`` (the pipeline
        reads only that request's lines); None: they are taken from ``window_events``.
    named_until : datetime, optional
        The end the finding id names (the partition's: :func:`~logrca.rca.finding_ids.window_identity`);
        default ``window``'s.

    Returns
    -------
    dict or None
        JSON-able finding, see ``docs/ARCHITECTURE.md`` ("Finding").

    Notes
    -----
    Over 60 lines for its parameter documentation; the body (about 35 lines) is the finding's literal.
    """
    if not has_finding(ranking, anomalies, min_score, standout=standout):
        return None
    ranked = ranked_entries(ranking, anomalies, owners or {})
    standing_out = _felt_by_requests(ranking, standout)
    start, end = _incident_window(window_events, anomalies, standing_out, window[1])
    trace_ids, path_lines = _failing_path(window_events, anomalies, trace_lines=trace_lines)
    knowledge = link_knowledge(
        root_cause=ranked[0]["service"],
        services=ranking["service"].to_list(),
        texts=_knowledge_texts(ranked),
        runbooks=runbooks or [],
        past_incidents=past_incidents or [],
    )
    finding = {
        **window_identity(system, window, named_until=named_until),
        "system": system,
        "window_start": _iso(start),
        "window_end": _iso(end),
        **_detection(detected_at or datetime.now(UTC), window),
        "root_cause": ranked[0]["service"],
        "ranking": ranked,
        "affected_services": sorted(
            set((anomalies if not anomalies.is_empty() else standing_out)["service"])
        ),
        "impact": service_impact(
            window_events,
            baseline_events,
            ranking["service"].to_list(),
            _baseline_scale(baseline_events, window),
        ),
        "trace_ids": trace_ids,
        "reproduction": {"trace_id": trace_ids[0] if trace_ids else None, "lines": path_lines},
        "knowledge": knowledge,
        "changes": change_entries(changes),
        "owner": (owners or {}).get(ranked[0]["service"]),
    }
    finding["incident_id"] = incident_id_for(finding)[0]
    return finding
