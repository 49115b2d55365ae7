"""The weekly incident review, recurring problems, and what confirmed incidents teach (knowledge, evaluation).

Incidents come in as the dicts the incident store holds; everything here is plain polars and
matplotlib, so the review can be rebuilt from any list of incident records.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import yaml

from logrca.incidents.record import OPEN_STATUSES, cause_service
from logrca.rca.evaluate import accuracy_at_k
from logrca.rca.markdown import counted

__all__ = [
    "Review",
    "incident_frame",
    "recurring_problems",
    "follow_ups",
    "weekly_review",
    "review_chart",
    "past_incident_entry",
    "write_past_incident",
    "evaluate_confirmed",
]

FRAME_SCHEMA = {
    "incident_id": pl.Utf8,
    "title": pl.Utf8,
    "status": pl.Utf8,
    "category": pl.Utf8,
    "owner_team": pl.Utf8,
    "root_cause": pl.Utf8,
    "confirmed": pl.Boolean,
    "template_ids": pl.List(pl.Int64),
    "detected_at": pl.Datetime("us", "UTC"),
    "detection_time": pl.Datetime("us", "UTC"),
    "first_anomalous_at": pl.Datetime("us", "UTC"),
    "resolved_at": pl.Datetime("us", "UTC"),
    "pending_deliveries": pl.Int64,
    "replaced": pl.Utf8,
}


@dataclass
class Review:
    """A rendered review: Markdown, a PNG chart, and the numbers behind them."""

    markdown: str
    chart_png: bytes
    stats: dict = field(default_factory=dict)


def _time(value) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def incident_frame(incidents: list[dict]) -> pl.DataFrame:
    """One row per incident, plus ``ttd_minutes`` (first anomalous line → detection, both on the logs' clock:
    ``detection_time``, which for a replay is the end of the analysed window), ``ttr_minutes``
    (detection → resolved) and ``week`` (ISO week of detection, ``2031-W10``)."""
    rows = [
        {
            "incident_id": i["incident_id"],
            "title": i.get("title", ""),
            "status": i["status"],
            "category": i.get("category") or "unknown",
            "owner_team": (i.get("owner") or {}).get("team") or "unowned",
            "root_cause": (i.get("confirmed_cause") or {}).get("service") or cause_service(i),
            "confirmed": bool(i.get("confirmed_cause")),
            "template_ids": [int(t) for t in i.get("template_ids") or []],
            "detected_at": _time(i.get("detected_at")),
            "detection_time": _time(i.get("detection_time") or i.get("detected_at")),
            "first_anomalous_at": _time(i.get("first_anomalous_at")),
            "resolved_at": _time(i.get("resolved_at")),
            "pending_deliveries": len(i.get("pending_deliveries") or []),
            "replaced": _replaced(i),
        }
        for i in incidents
    ]
    frame = pl.DataFrame(rows, schema=FRAME_SCHEMA)
    return frame.with_columns(
        ttd_minutes=((pl.col("detection_time") - pl.col("first_anomalous_at")).dt.total_seconds() / 60).clip(
            lower_bound=0
        ),
        ttr_minutes=(pl.col("resolved_at") - pl.col("detected_at")).dt.total_seconds() / 60,
        week=pl.col("detected_at").dt.strftime("%G-W%V"),
    )


def recurring_problems(frame: pl.DataFrame, *, min_incidents: int = 2) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Problems that come back: templates and root-cause services seen in ``min_incidents`` or more incidents.

    Returns
    -------
    (by_template, by_root_cause)
        ``template_id, incidents, incident_ids`` and ``root_cause, incidents, incident_ids``, most frequent first.
    """
    by_template = (
        frame.select("incident_id", "template_ids")
        .explode("template_ids", empty_as_null=False)
        .drop_nulls("template_ids")
        .group_by(pl.col("template_ids").alias("template_id"))
        .agg(incidents=pl.col("incident_id").n_unique(), incident_ids=pl.col("incident_id").unique().sort())
        .filter(pl.col("incidents") >= min_incidents)
        .sort(["incidents", "template_id"], descending=[True, False])
    )
    by_cause = (
        frame.drop_nulls("root_cause")
        .group_by("root_cause")
        .agg(incidents=pl.len(), incident_ids=pl.col("incident_id").sort())
        .filter(pl.col("incidents") >= min_incidents)
        .sort(["incidents", "root_cause"], descending=[True, False])
    )
    return by_template, by_cause


def _replaced(incident: dict) -> str | None:
    """Why a re-run took the incident's window from it, in the words of a follow-up (None: it stands)."""
    if by := incident.get("superseded_by"):
        return f"superseded by {by}: archive it when done"
    if incident.get("withdrawn_at"):
        return "withdrawn (a re-run found no incident): archive it when done"
    return None


def follow_ups(frame: pl.DataFrame) -> pl.DataFrame:
    """Open follow-ups: still open, resolved but not reviewed, root cause not confirmed, alerts not delivered
    (archived ones: none). An incident a re-run superseded or withdrew after a person moved it (``logrca``
    archives the others) keeps its status: it stays here, saying so, until someone archives it."""
    replaced = pl.col("replaced").is_not_null()
    reasons = pl.concat_list(
        pl.when(replaced).then(pl.col("replaced")),
        pl.when(pl.col("status").is_in(list(OPEN_STATUSES))).then(pl.lit("still ") + pl.col("status")),
        pl.when(pl.col("status") == "resolved").then(pl.lit("resolved, review pending")),
        pl.when(~pl.col("confirmed") & ~replaced).then(pl.lit("root cause not confirmed")),
        pl.when(pl.col("pending_deliveries") == 1)
        .then(pl.lit("1 alert not delivered"))
        .when(pl.col("pending_deliveries") > 1)
        .then(pl.format("{} alerts not delivered", "pending_deliveries")),
    ).list.drop_nulls()
    return (
        frame.filter(pl.col("status") != "archived")
        .with_columns(follow_up=reasons)
        .filter(pl.col("follow_up").list.len() > 0)
        .select("incident_id", "owner_team", "status", pl.col("follow_up").list.join("; "))
        .sort("incident_id")
    )


def _table(frame: pl.DataFrame) -> str:
    if frame.is_empty():
        return "_none_\n"
    cells = [
        [
            ", ".join(map(str, v))
            if isinstance(v, list)
            else ("" if v is None else str(v)).replace("|", "\\|")
            for v in row
        ]
        for row in frame.rows()
    ]
    header = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns) + "\n"
    return header + "".join("| " + " | ".join(row) + " |\n" for row in cells)


def _trends(frame: pl.DataFrame, weeks: list[str]) -> pl.DataFrame:
    stats = frame.group_by("week").agg(
        incidents=pl.len(),
        median_ttd_minutes=pl.col("ttd_minutes").median().round(1),
        median_ttr_minutes=pl.col("ttr_minutes").median().round(1),
        resolved=pl.col("resolved_at").is_not_null().sum(),
    )
    return (
        pl.DataFrame({"week": weeks})
        .join(stats, on="week", how="left")
        .with_columns(pl.col("incidents").fill_null(0), pl.col("resolved").fill_null(0))
    )


def review_chart(frame: pl.DataFrame, trends: pl.DataFrame) -> bytes:
    """PNG: incidents per week by category (stacked bars) and median time to detect / resolve per week."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weeks = trends["week"].to_list()
    figure, (bars, lines) = plt.subplots(1, 2, figsize=(11, 4), dpi=90)
    per_category = frame.filter(pl.col("week").is_in(weeks)).group_by("week", "category").len()
    bottom = [0] * len(weeks)
    for category in sorted(per_category["category"].unique().to_list()):
        counts = dict(per_category.filter(pl.col("category") == category).select("week", "len").iter_rows())
        heights = [counts.get(week, 0) for week in weeks]
        bars.bar(weeks, heights, bottom=bottom, label=category)
        bottom = [b + h for b, h in zip(bottom, heights)]
    bars.set_title("Incidents per week by category")
    bars.tick_params(axis="x", rotation=45)
    if not per_category.is_empty():
        bars.legend(fontsize=7)
    for column, label in (
        ("median_ttd_minutes", "time to detect"),
        ("median_ttr_minutes", "time to resolve"),
    ):
        lines.plot(
            weeks,
            [v if v is not None else float("nan") for v in trends[column].to_list()],
            marker="o",
            label=label,
        )
    lines.set_title("Median minutes per week")
    lines.tick_params(axis="x", rotation=45)
    lines.legend(fontsize=7)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def _review_markdown(
    *,
    heading: str,
    summary: str,
    counts: dict[str, pl.DataFrame],
    recurring: tuple[pl.DataFrame, pl.DataFrame],
    trends: pl.DataFrame,
    open_items: pl.DataFrame,
    this_week: pl.DataFrame,
) -> str:
    """The review's Markdown: counts by service, category and owner, recurring problems, trends, follow-ups."""
    week_rows = this_week.select(
        "incident_id",
        "status",
        "category",
        "root_cause",
        pl.col("ttd_minutes").round(1),
        pl.col("ttr_minutes").round(1),
    ).sort("incident_id")
    sections = [
        ("## By service (root cause)", counts["root_cause"]),
        ("## By category", counts["category"]),
        ("## By owner", counts["owner_team"]),
        ("## Recurring problems\n### Same templates", recurring[0]),
        ("### Same root cause", recurring[1]),
        ("## Time to detect and to resolve (trend, minutes)", trends),
        ("## Open follow-ups", open_items),
        ("## Incidents this week", week_rows),
    ]
    return "\n".join([heading, "", summary, ""] + [f"{title}\n{_table(frame)}" for title, frame in sections])


def weekly_review(incidents: list[dict], *, week_end: datetime | None = None, weeks: int = 8) -> Review:
    """The review of the 7 days before ``week_end`` with trends over ``weeks`` weeks.

    Parameters
    ----------
    incidents : list of dict
        Incident records (any period; those detected in the trend range are used).
    week_end : datetime, optional
        End of the reviewed week (default: now).
    weeks : int, default 8
        ISO weeks (Monday to Sunday) in the trend table and chart: the one ``week_end`` falls in (the one
        before when it is a Monday 00:00) and ``weeks - 1`` before it. The 7 days reviewed may begin in
        the week before them.

    Notes
    -----
    Time to detect = detection time - first anomalous line; time to resolve = resolved - detection.
    Recurring problems: a template or a root-cause service (confirmed if known, else ranked first)
    shared by two or more incidents of the trend range. An incident a re-run superseded
    (``superseded_by``: the window analysed again) or withdrew (``withdrawn_at``: analysed again, it held
    no incident) is left out: it was an earlier analysis, not an incident of its own, nor a recurrence.
    One a person had moved is still a follow-up until archived (:func:`follow_ups`).
    """
    week_end = week_end or datetime.now(UTC)
    start = week_end - timedelta(days=7)
    everything = incident_frame(incidents)
    frame = everything.filter(pl.col("replaced").is_null())
    last = week_end - timedelta(microseconds=1)  # a review ending Monday 00:00 ends in the week before
    monday = (last - timedelta(days=last.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    trend_start = monday - timedelta(weeks=weeks - 1)  # ``weeks`` ISO weeks, not one more
    in_range = frame.filter(pl.col("detected_at") >= trend_start, pl.col("detected_at") < week_end)
    this_week = frame.filter(pl.col("detected_at") >= start, pl.col("detected_at") < week_end)
    week_labels = [(trend_start + timedelta(days=7 * k + 3)).strftime("%G-W%V") for k in range(weeks)]
    trends = _trends(in_range, week_labels)
    by_template, by_cause = recurring_problems(in_range)
    open_items = follow_ups(everything)
    counts = {
        name: this_week.group_by(name).len("incidents").sort(["incidents", name], descending=[True, False])
        for name in ("root_cause", "category", "owner_team")
    }
    titles = dict(in_range.select("incident_id", "title").iter_rows())
    markdown = _review_markdown(
        heading=f"# Incident review {start:%Y-%m-%d} – {week_end:%Y-%m-%d}",
        summary=f"{counted(this_week.height, 'incident')} this week, {in_range.height} in the last {counted(weeks, 'calendar week')}; "
        f"{counted(open_items.height, 'open follow-up')}.",
        counts=counts,
        recurring=(by_template, by_cause),
        trends=trends,
        open_items=open_items,
        this_week=this_week,
    )
    stats = {
        "incidents_week": this_week.height,
        "incidents_range": in_range.height,
        "follow_ups": open_items.height,
        "recurring_templates": by_template.height,
        "recurring_causes": by_cause.height,
        "median_ttd_minutes": this_week["ttd_minutes"].median(),
        "median_ttr_minutes": this_week["ttr_minutes"].median(),
        "titles": titles,
    }
    return Review(markdown=markdown, chart_png=review_chart(in_range, trends), stats=stats)


def past_incident_entry(incident: dict) -> dict:
    """A confirmed incident in the knowledge base's past-incident shape (``logrca.rca.knowledge.load_past_incidents``)."""
    cause = incident.get("confirmed_cause") or {}
    if not cause.get("service"):
        raise ValueError(f"incident {incident.get('incident_id')}: confirmed_cause: not confirmed yet")
    samples = (incident.get("reproduction") or {}).get("samples") or []
    notes = [
        h.get("note")
        for h in incident.get("status_history") or []
        if h.get("note") and h.get("by") != "logrca"
    ]
    return {
        "id": incident["incident_id"],
        "title": incident.get("title", ""),
        "root_cause_service": cause["service"],
        "services": list(incident.get("affected_services") or [cause["service"]]),
        "templates": sorted({s["template"] for s in samples if s.get("template")}),
        "category": incident.get("category"),
        "resolution": "; ".join(notes),
        "date": incident.get("detected_at"),
    }


def write_review(review: Review, out: Path) -> Path:
    """Write the review's Markdown to ``out`` and its chart beside it (``.png``), creating the folder
    when it does not exist yet; returns the chart's path."""
    chart = out.with_suffix(".png")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(review.markdown + f"\n![chart]({chart.name})\n", encoding="utf-8")
    chart.write_bytes(review.chart_png)
    return chart


def write_past_incident(incident: dict, folder: Path | str) -> Path:
    """Write the knowledge-base entry as ``<folder>/<incident_id>.yaml`` (re-confirming overwrites it)."""
    path = Path(folder) / f"{incident['incident_id']}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        yaml.safe_dump(past_incident_entry(incident), sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    return path


def evaluate_confirmed(incidents: list[dict], *, k_max: int = 5) -> dict:
    """Score the stored rankings against confirmed root causes, like labelled cases.

    Returns
    -------
    dict
        ``cases``, ``AC@1`` .. ``AC@k_max`` (share of confirmed incidents whose true service is in the
        first k), ``Avg@k_max`` (their mean) and ``rows`` (``incident_id, truth, rank``).

    References
    ----------
    AC@k and Avg@k as in RCAEval / Nezha (Yu et al., ESEC/FSE 2023).
    """
    rows = []
    for incident in incidents:
        truth = (incident.get("confirmed_cause") or {}).get("service")
        if not truth:
            continue
        ranked = [r["service"] for r in sorted(incident.get("ranking") or [], key=lambda r: r.get("rank", 0))]
        rows.append(
            {
                "incident_id": incident["incident_id"],
                "truth": truth,
                "rank": ranked.index(truth) + 1 if truth in ranked else None,
            }
        )
    result: dict = {"cases": len(rows), "rows": rows}
    for k in range(1, k_max + 1):
        result[f"AC@{k}"] = accuracy_at_k([r["rank"] for r in rows], k)
    result[f"Avg@{k_max}"] = sum(result[f"AC@{k}"] for k in range(1, k_max + 1)) / k_max
    return result
