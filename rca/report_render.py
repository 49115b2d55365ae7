"""The Markdown report of a finding (:func:`logrca.rca.report.build_finding`): one section per helper."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from logrca.rca.markdown import cell, counted
from logrca.rca.rank import signals, strongest_signal
from logrca.rca.urls import shown_url

__all__ = ["ReportOptions", "render_report", "runbook_link"]


@dataclass(frozen=True)
class ReportOptions:
    """How a report is rendered.

    Attributes
    ----------
    title : str
        First heading (the incident id follows it).
    pictures : list of (caption, reference)
        Images placed after the summary: a file name beside the report, or a ``data:image/png;base64`` URI
        (the Dagster UI shows those inline).
    runbook_url_base : str or None
        With it, a runbook link is this base plus the runbook's path relative to ``knowledge_dir``.
    knowledge_dir : Path or None
        The knowledge-base folder runbook paths are made relative to.
    runbook_texts : dict
        Runbook id -> text; without a URL base the report carries the linked runbooks' text.
    """

    title: str = "RCA report"
    pictures: list[tuple[str, str]] = field(default_factory=list)
    runbook_url_base: str | None = None
    knowledge_dir: Path | None = None
    runbook_texts: dict[str, str] = field(default_factory=dict)


def _md_cell(text) -> str:
    return cell(text, limit=400)


def _moment(value) -> datetime | None:
    """An ISO time of the finding in UTC (None when it is empty or not a time)."""
    try:
        moment = datetime.fromisoformat(str(value or "").replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment


def _clock(value, day: str) -> str:
    """A time in the report's tables, UTC: ``08:43:04.612`` on ``day`` (the incident window's date,
    which the summary gives), else ``2023-01-29 23:59:58.001``. The whole ISO form made the tables'
    time columns so wide that a terminal cut them inside the minutes, where the order is read."""
    moment = _moment(value)
    if moment is None:
        return _md_cell(value or "")
    clock = moment.strftime("%H:%M:%S.%f")[:-3]
    return clock if moment.strftime("%Y-%m-%d") == day else f"{moment:%Y-%m-%d} {clock}"


def _day(finding: dict) -> str:
    """The incident window's UTC date (``YYYY-MM-DD``): times on it are shown without it."""
    start = _moment(finding["window_start"])
    return start.strftime("%Y-%m-%d") if start else ""


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


def _expected(value) -> str:
    """An expected count as the report shows it: one decimal (a rate times a window length is rarely whole)."""
    return f"{value:.1f}" if isinstance(value, float) else _md_cell(value)


def runbook_link(runbook: dict, options: ReportOptions) -> str | None:
    """The URL of a runbook under ``options.runbook_url_base`` (None without a base), without a password
    or token the base may carry (:func:`~logrca.rca.urls.shown_url`): the report is read by many."""
    if not options.runbook_url_base:
        return None
    path = Path(str(runbook.get("path") or f"{runbook['id']}.md"))
    if options.knowledge_dir is not None and path.is_relative_to(options.knowledge_dir):
        path = path.relative_to(options.knowledge_dir)
    return shown_url(options.runbook_url_base.rstrip("/") + "/" + path.as_posix().lstrip("/"))


def _summary(finding: dict) -> list[str]:
    top = finding["ranking"][0]
    lines = [
        f"**Incident window:** {finding['window_start']} → {finding['window_end']} (analysed {finding['analysis_window'][0]} → {finding['analysis_window'][1]})  ",
        f"**Detected at:** {finding['detected_at']}  ",
        f"**Initial cause (most likely root cause):** `{top['service']}` (score {top['score']:.3f}) — {_initial_cause(top)}  ",
        f"**Owner:** {finding.get('owner') or 'not in the service catalogue'}  ",
        f"**Affected services:** {', '.join(finding['affected_services'])}  ",
        f"**Propagation path:** {' → '.join(top['path']) if top['path'] else top['service']}",
    ]
    return lines


def _initial_cause(top: dict) -> str:
    """The top service's signal of the highest score; the others are listed under Evidence."""
    strongest, others = strongest_signal(top["explanation"])
    more = f" (and {counted(others, 'more signal')}: see Evidence)" if others else ""
    return _md_text(strongest) + more


def _section(title: str, header: str, align: str) -> list[str]:
    """A ``## title`` heading followed by a table head (``| a | b |`` and its alignment row)."""
    return [f"## {title}", "", header, align]


def _changes(finding: dict) -> list[str]:
    changes = finding.get("changes") or []
    out = ["## Changes (deploys, restarts, version changes, config reloads)", ""]
    if not changes:
        return out + ["No change event in the logs of the window or its baseline.", ""]
    return out + _change_rows(changes, _day(finding)) + [""]


def _change_rows(changes: list[dict], day: str) -> list[str]:
    """The change events as a table, times on ``day`` without their date."""
    rows = ["| when (UTC) | service | kind | version | line |", "|---|---|---|---|---|"]
    for c in changes:
        rows.append(
            f"| {_clock(c['timestamp'], day)} | `{c['service']}` | {c['kind'].replace('_', ' ')} | {_md_cell(c.get('version'))} | {_md_cell(c['message'][:160])} |"
        )
    return rows


def _quiet_changes(changes: list[dict]) -> str:
    """The change events of a window without incident, as the report of an incident shows them."""
    if not changes:
        return ""
    start = _moment(changes[0]["timestamp"])
    head = ["## Changes in the window (deploys, restarts, version changes, config reloads)", ""]
    note = ["Not an incident on their own: no log line, span or metric went anomalous with them.", ""]
    day = start.strftime("%Y-%m-%d") if start else ""
    return "\n" + "\n".join([*head, *note, *_change_rows(changes, day), ""])


def _ranking(finding: dict) -> list[str]:
    out = _section(
        "Ranked root-cause services",
        "| rank | service | score | first anomalous (UTC) | path to the entry point |",
        "|---:|---|---:|---|---|",
    )
    ranking = finding["ranking"]
    # services whose score shows as 0.0000 are named on one line after the table, not given a row each
    # (a 46-service system listed 21 of them): nothing is left out, the table keeps to the suspects
    shown = [r for r in ranking if round(r["score"], 4) > 0] or ranking[:1]
    day = _day(finding)
    for r in shown:
        out.append(
            f"| {r['rank']} | `{r['service']}` | {r['score']:.4f} | {_clock(r['first_anomalous'], day)} | {_md_cell(' → '.join(r['path']))} |"
        )
    rest = ranking[len(shown) :]
    if rest:
        names = ", ".join(f"`{r['service']}`" for r in rest)
        ranks = f"rank {rest[0]['rank']}" if len(rest) == 1 else f"ranks {rest[0]['rank']}–{rest[-1]['rank']}"
        out += ["", f"Score 0.0000 ({ranks}): {names}."]
    return out + [""]


def _evidence(finding: dict) -> list[str]:
    out, day = ["## Evidence", ""], _day(finding)
    for r in finding["ranking"][:5]:
        out += [f"### {r['rank']}. `{r['service']}`", ""]
        out += [f"- {_md_text(signal)}" for signal in signals(r["explanation"]) or [r["explanation"]]] + [""]
        if r["evidence"]:
            out += [
                "| kind | template | before (expected) | during | score | first seen (UTC) |",
                "|---|---|---:|---:|---:|---|",
            ]
            for e in r["evidence"]:
                out.append(
                    f"| {e['kind']} | `{_md_cell((e['template'] or e['detail'] or '')[:200])}` | {_expected(e['count_baseline'])} | {e['count_window']} | {e['score']:.1f} | {_clock(e['first_seen'], day)} |"
                )
            sample = next((e["sample"] for e in r["evidence"] if e["sample"]), None)
            if sample:
                out += ["", "Sample line:", "", "```", sample.splitlines()[0][:400], "```"]
        out.append("")
    return out


def _impact_and_reproduction(finding: dict) -> list[str]:
    out = _section(
        "Impact",
        "| service | errors before (expected) | errors during | lines before (expected) | lines during |",
        "|---|---:|---:|---:|---:|",
    )
    for service, i in finding["impact"].items():
        out.append(
            f"| `{service}` | {i['errors_baseline']} | {i['errors_window']} | {i['lines_baseline']} | {i['lines_window']} |"
        )
    repro = finding.get("reproduction") or {}
    out += ["", "## Reproduction hints", ""]
    if not repro.get("trace_id"):
        return out + [
            "The logs carry no request or trace ids for the failing lines; see the sample lines above."
        ]
    out += [
        f"Trace/request ids on the failing path: {', '.join(f'`{t}`' for t in finding['trace_ids'][:5])}",
        "",
        f"Lines of request `{repro['trace_id']}`:",
        "",
        "```",
    ]
    return out + [line[:300] for line in repro["lines"]] + ["```"]


def _knowledge(finding: dict, options: ReportOptions) -> list[str]:
    knowledge = finding.get("knowledge") or {}
    out = ["", "## Knowledge base", ""]
    texts = []
    for rb in knowledge.get("runbooks", []):
        actions = f" — actions: {', '.join(f'`{a}`' for a in rb['actions'])}" if rb.get("actions") else ""
        url = runbook_link(rb, options)
        name = f"[{rb['title']}]({url})" if url else f"**{rb['title']}** (`{rb['id']}`, text below)"
        out.append(f"- Runbook: {name} (score {rb['score']}; {rb['why']}){actions}")
        if not url and options.runbook_texts.get(rb["id"]):
            texts += ["", f"### Runbook `{rb['id']}`: {rb['title']}", ""]
            texts += ["> " + line if line else ">" for line in options.runbook_texts[rb["id"]].splitlines()]
    for inc in knowledge.get("similar_incidents", []):
        out.append(
            f"- Similar past incident: **{inc['id']}** {inc['title']} ({inc.get('date', '')}, root cause `{inc['root_cause_service']}`, similarity {inc['similarity']}) — {inc.get('resolution', '')}"
        )
    if not knowledge.get("runbooks") and not knowledge.get("similar_incidents"):
        out.append("No runbook or past incident matches this finding.")
    if knowledge.get("recurrences"):
        out += ["", f"**Recurring problem:** {counted(knowledge['recurrences'], 'similar past incident')}."]
    return out + texts


def render_report(
    finding: dict | None,
    options: ReportOptions | None = None,
    *,
    title: str | None = None,
    changes: list[dict] | None = None,
) -> str:
    """Markdown report of a finding: incident id, summary, pictures, changes, ranking, evidence, impact,
    reproduction hints and the knowledge base (runbooks linked or quoted).

    Without a finding, the report says so and lists ``changes`` (the window's change events, as
    :func:`logrca.rca.report.change_entries` gives them): a deploy or a restart loop is no incident on
    its own, but a report saying "nothing happened" must not hide one.
    """
    options = options or ReportOptions()
    heading = title or options.title
    if finding is None:
        quiet = f"# {heading}\n\nNo incident: nothing in this window went anomalous against its baseline.\n"
        return quiet + _quiet_changes(changes or [])
    out = [f"# {heading} — {finding['system']}", ""]
    if finding.get("incident_id"):
        out += [f"**Incident:** `{finding['incident_id']}` (finding `{finding['finding_id']}`)  "]
    out += _summary(finding) + [""]
    for caption, reference in options.pictures:
        out += [f"![{caption}]({reference})", ""]
    out += _changes(finding) + _ranking(finding) + _evidence(finding)
    out += _impact_and_reproduction(finding) + _knowledge(finding, options)
    return "\n".join(out) + "\n"
