"""The finding (what the report, the search index and the incident record share) and its Markdown report."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import polars as pl

from logrca.rca.detect_rules import ERROR_LEVELS
from logrca.rca.knowledge import link_knowledge
from logrca.rca.markdown import cell

__all__ = ["build_finding", "finding_id", "render_report", "service_impact"]

_EVIDENCE_PER_SERVICE = 5


def finding_id(system: str, window: tuple[datetime, datetime]) -> str:
    """Deterministic id of the finding for ``system`` and the analysed window (re-runs overwrite it)."""
    key = f"{system}|{window[0].astimezone(UTC).isoformat()}|{window[1].astimezone(UTC).isoformat()}"
    return hashlib.sha1(key.encode()).hexdigest()[:20]


def _iso(moment) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def service_impact(
    window_events: pl.DataFrame, baseline_events: pl.DataFrame | None, services: list[str], scale: float
) -> dict[str, dict]:
    """Per service: lines and error lines in the window, and the baseline's scaled to the window length."""

    def counts(frame: pl.DataFrame | None, factor: float) -> dict[str, tuple[float, float]]:
        if frame is None or frame.is_empty():
            return {}
        grouped = (
            frame.filter(pl.col("service").is_in(services))
            .group_by("service")
            .agg(pl.len().alias("lines"), pl.col("level").is_in(list(ERROR_LEVELS)).sum().alias("errors"))
        )
        return {s: (lines * factor, errors * factor) for s, lines, errors in grouped.iter_rows()}

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


def _incident_window(window_events: pl.DataFrame, anomalies: pl.DataFrame) -> tuple[datetime, datetime]:
    """From the first to the last line of what went anomalous (new/raised templates, errors of flagged services)."""
    raised = anomalies.filter(pl.col("kind") != "rate_drop")
    keys = raised.filter(pl.col("template_id").is_not_null()).select("service", "template_id").unique()
    burst_services = raised.filter(pl.col("kind") == "error_burst")["service"].unique().to_list()
    lines = window_events.join(keys, on=["service", "template_id"], how="semi")
    errors = window_events.filter(
        pl.col("service").is_in(burst_services) & pl.col("level").is_in(list(ERROR_LEVELS))
    )
    stamps = pl.concat([lines.select("timestamp"), errors.select("timestamp")])["timestamp"]
    first_seen = (raised if not raised.is_empty() else anomalies)["first_seen"].min()
    if stamps.is_empty():
        return first_seen, anomalies["first_seen"].max()
    return min(stamps.min(), first_seen) if first_seen else stamps.min(), stamps.max()


def _failing_path(
    window_events: pl.DataFrame, anomalies: pl.DataFrame, limit: int = 12
) -> tuple[list[str], list[str]]:
    """Trace ids of requests that crossed anomalous services, and the lines of the best one in time order."""
    if "trace_id" not in window_events.columns:
        return [], []
    raised = anomalies.filter(pl.col("kind") != "rate_drop")
    keys = raised.filter(pl.col("template_id").is_not_null()).select("service", "template_id").unique()
    hits = window_events.filter(pl.col("trace_id").is_not_null()).join(
        keys, on=["service", "template_id"], how="semi"
    )
    if hits.is_empty():
        return [], []
    ranked = (
        hits.group_by("trace_id")
        .agg(pl.col("service").n_unique().alias("services"), pl.col("timestamp").min().alias("t"))
        .sort(["services", "t"], descending=[True, False])
    )
    trace_ids = ranked["trace_id"].head(10).to_list()
    path = window_events.filter(pl.col("trace_id") == trace_ids[0]).sort("timestamp").head(limit)
    lines = [
        f"{_iso(t)} {service} {level or '-'} {message.splitlines()[0] if message else ''}"
        for t, service, level, message in path.select("timestamp", "service", "level", "message").iter_rows()
    ]
    return trace_ids, lines


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
    min_score: float = 0.0,
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
    min_score : float, default 0.0
        A window whose top anomaly score is below this yields no finding.

    Returns
    -------
    dict or None
        JSON-able finding, see ``docs/ARCHITECTURE.md`` ("Finding").
    """
    if ranking.is_empty() or anomalies.is_empty() or float(anomalies["score"].max()) < min_score:
        return None
    services = ranking["service"].to_list()
    evidence_rows = anomalies.sort("score", descending=True)
    ranked = []
    for row in ranking.iter_rows(named=True):
        evidence = evidence_rows.filter(pl.col("service") == row["service"]).head(_EVIDENCE_PER_SERVICE)
        ranked.append(
            {
                "rank": row["rank"],
                "service": row["service"],
                "score": round(float(row["score"]), 6),
                "first_anomalous": _iso(row["first_anomalous"]),
                "path": list(row["path"] or []),
                "explanation": row["explanation"],
                "owner": (owners or {}).get(row["service"]),
                "evidence": [
                    {
                        "kind": e["kind"],
                        "template_id": e["template_id"],
                        "template": e["template"],
                        "count_baseline": e["count_baseline"],
                        "count_window": e["count_window"],
                        "score": round(float(e["score"]), 3),
                        "first_seen": _iso(e["first_seen"]),
                        "sample": e["sample"],
                        "detail": e["detail"],
                    }
                    for e in evidence.iter_rows(named=True)
                ],
            }
        )
    start, end = _incident_window(window_events, anomalies)
    baseline_span = None
    if baseline_events is not None and not baseline_events.is_empty():
        baseline_span = (baseline_events["timestamp"].min(), window[0])
    scale = (
        (window[1] - window[0]) / (baseline_span[1] - baseline_span[0])
        if baseline_span and baseline_span[1] > baseline_span[0]
        else 1.0
    )
    trace_ids, path_lines = _failing_path(window_events, anomalies)
    texts = [t for e in ranked[0]["evidence"] for t in (e["template"], e["sample"]) if t]
    texts += [t for r in ranked[1:3] for e in r["evidence"][:2] for t in (e["template"],) if t]
    knowledge = link_knowledge(
        root_cause=ranked[0]["service"],
        services=services,
        texts=texts,
        runbooks=runbooks or [],
        past_incidents=past_incidents or [],
    )
    return {
        "finding_id": finding_id(system, window),
        "system": system,
        "analysis_window": [_iso(window[0]), _iso(window[1])],
        "window_start": _iso(start),
        "window_end": _iso(end),
        "detected_at": _iso(detected_at or datetime.now(UTC)),
        "root_cause": ranked[0]["service"],
        "ranking": ranked,
        "affected_services": sorted(set(anomalies["service"].to_list())),
        "impact": service_impact(window_events, baseline_events, services, scale),
        "trace_ids": trace_ids,
        "reproduction": {"trace_id": trace_ids[0] if trace_ids else None, "lines": path_lines},
        "knowledge": knowledge,
        "owner": (owners or {}).get(ranked[0]["service"]),
    }


def _md_cell(text) -> str:
    return cell(text, limit=400)


def _md_text(text) -> str:
    """Free text (explanations quoting templates) with Markdown's active characters escaped."""
    return (
        str(text or "")
        .replace("\\", "\\\\")
        .replace("*", "\\*")
        .replace("_", "\\_")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )


def render_report(finding: dict | None, *, title: str | None = None) -> str:
    """Markdown report of a finding: incident window, ranked services with evidence, paths, knowledge."""
    if finding is None:
        return f"# {title or 'RCA report'}\n\nNo incident: nothing in this window went anomalous against its baseline.\n"
    top = finding["ranking"][0]
    out = [f"# {title or 'RCA report'} — {finding['system']}", ""]
    out += [
        f"**Incident window:** {finding['window_start']} → {finding['window_end']} (analysed {finding['analysis_window'][0]} → {finding['analysis_window'][1]})  ",
        f"**Detected at:** {finding['detected_at']}  ",
        f"**Initial cause (most likely root cause):** `{top['service']}` (score {top['score']:.3f}) — {_md_text(top['explanation'])}  ",
        f"**Owner:** {finding.get('owner') or 'not in the service catalogue'}  ",
        f"**Affected services:** {', '.join(finding['affected_services'])}  ",
        f"**Propagation path:** {' → '.join(top['path']) if top['path'] else top['service']}",
        "",
        "## Ranked root-cause services",
        "",
        "| rank | service | score | first anomalous | path to the entry point |",
        "|---:|---|---:|---|---|",
    ]
    for r in finding["ranking"]:
        out.append(
            f"| {r['rank']} | `{r['service']}` | {r['score']:.4f} | {_md_cell(r['first_anomalous'])} | {_md_cell(' → '.join(r['path']))} |"
        )
    out += ["", "## Evidence", ""]
    for r in finding["ranking"][:5]:
        out += [f"### {r['rank']}. `{r['service']}`", "", _md_text(r["explanation"]), ""]
        if r["evidence"]:
            out += [
                "| kind | template | before (expected) | during | score | first seen |",
                "|---|---|---:|---:|---:|---|",
            ]
            for e in r["evidence"]:
                out.append(
                    f"| {e['kind']} | `{_md_cell((e['template'] or e['detail'] or '')[:200])}` | {_md_cell(e['count_baseline'])} | {e['count_window']} | {e['score']:.1f} | {_md_cell(e['first_seen'])} |"
                )
            sample = next((e["sample"] for e in r["evidence"] if e["sample"]), None)
            if sample:
                out += ["", "Sample line:", "", "```", sample.splitlines()[0][:400], "```"]
        out.append("")
    out += [
        "## Impact",
        "",
        "| service | errors before (expected) | errors during | lines before (expected) | lines during |",
        "|---|---:|---:|---:|---:|",
    ]
    for service, i in finding["impact"].items():
        out.append(
            f"| `{service}` | {i['errors_baseline']} | {i['errors_window']} | {i['lines_baseline']} | {i['lines_window']} |"
        )
    repro = finding.get("reproduction") or {}
    out += ["", "## Reproduction hints", ""]
    if repro.get("trace_id"):
        out += [
            f"Trace/request ids on the failing path: {', '.join(f'`{t}`' for t in finding['trace_ids'][:5])}",
            "",
            f"Lines of request `{repro['trace_id']}`:",
            "",
            "```",
        ]
        out += [line[:300] for line in repro["lines"]] + ["```"]
    else:
        out.append(
            "The logs carry no request or trace ids for the failing lines; see the sample lines above."
        )
    knowledge = finding.get("knowledge") or {}
    out += ["", "## Knowledge base", ""]
    for rb in knowledge.get("runbooks", []):
        actions = f" — actions: {', '.join(f'`{a}`' for a in rb['actions'])}" if rb.get("actions") else ""
        out.append(f"- Runbook: [{rb['title']}]({rb['path']}) (score {rb['score']}; {rb['why']}){actions}")
    for inc in knowledge.get("similar_incidents", []):
        out.append(
            f"- Similar past incident: **{inc['id']}** {inc['title']} ({inc.get('date', '')}, root cause `{inc['root_cause_service']}`, similarity {inc['similarity']}) — {inc.get('resolution', '')}"
        )
    if not knowledge.get("runbooks") and not knowledge.get("similar_incidents"):
        out.append("No runbook or past incident matches this finding.")
    if knowledge.get("recurrences"):
        out += ["", f"**Recurring problem:** {knowledge['recurrences']} similar past incident(s)."]
    return "\n".join(out) + "\n"
