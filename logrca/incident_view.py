"""How ``logrca incident list|show`` and ``logrca eval incidents`` print: rich tables that fit the terminal."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from logrca.incidents.record import readable_time
from logrca.rca.markdown import counted
from logrca.rca.rank import strongest_signal
from logrca.tables import console, markdown, table

__all__ = ["console", "eval_lines", "incident_details", "incidents_table", "more_than_shown"]


_ID_SHAPE = "INC-202603100218-0123456789ab"  # an incident id, for the width its column needs


def more_than_shown(shown: int, matching: int) -> str | None:
    """What a listing of the newest ``shown`` says when ``matching`` incidents match (None: all shown)."""
    return f"the newest {shown} of {matching} incidents (--size for more)" if matching > shown else None


def incidents_table(incidents: list[dict], *, wide: bool = False, matching: int | None = None) -> Table:
    """One row per incident. In 80 columns the title goes under the id and owner over assignee;
    ``wide`` gives every field its own column, one line per incident. ``matching``: how many match
    in all; when more than shown, the title says so (and how to see them)."""
    title = (
        more_than_shown(len(incidents), matching or 0)
        or f"{counted(len(incidents), 'incident')}, newest first"
    )
    if wide:
        columns = ["incident", "opened", "status", "category", "owner", "assignee", "title"]
        listing = table(title, columns, wide=True)
    else:
        columns = ["status/opened", "category", "owner/assignee", "incident / title"]
        listing = table(title, columns, last_min=len(_ID_SHAPE), widest={"status/opened": 12})
    for incident in incidents:
        category = (incident.get("category") or "-").replace("_", " ")
        owner = (incident.get("owner") or {}).get("team") or "-"
        assignee = (incident.get("assignee") or {}).get("name") or "-"
        opened = readable_time(incident.get("created_at") or incident.get("detected_at"))
        if wide:
            listing.add_row(
                incident["incident_id"],
                opened,
                incident["status"],
                category,
                owner,
                assignee,
                incident.get("title") or "",
            )
        else:
            listing.add_row(
                f"{incident['status']}\n{opened}",  # the time breaks at its space: date over clock
                category,
                f"{owner}\n{assignee}",
                f"{incident['incident_id']}\n{incident.get('title') or ''}",
            )
    return listing


def _cause(cause: dict) -> str:
    """The initial cause: the suspect, its score, its strongest signal (the report below has them all)."""
    strongest, others = strongest_signal(cause.get("explanation"))
    score = cause.get("score")
    said = (
        f"{cause.get('service')} (score {score:.3f})"
        if isinstance(score, float)
        else str(cause.get("service"))
    )
    more = f" (+{others} more in the report)" if others else ""
    return f"{said} — {strongest}{more}" if strongest else said


def _escalation(incident: dict) -> str:
    """The escalation level, and its deadline only while it can still fire: open (not acknowledged) with
    a contact left to page (``escalation_candidates``)."""
    escalation = incident.get("escalation") or {}
    level = escalation.get("level")
    if incident["status"] != "open":
        return f"level {level} (stopped: {incident['status']})"
    if level is not None and level + 1 >= len((incident.get("owner") or {}).get("contacts") or []):
        return f"level {level} (no further contact to page)"
    return f"level {level} (deadline {readable_time(escalation.get('deadline'))})"


def _facts(incident: dict, version: tuple[int, int]) -> Table:
    cause = incident.get("initial_cause") or {}
    facts = Table.grid(padding=(0, 1))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    rows = [
        ("status", f"{incident['status']}   version {version[0]}:{version[1]}"),
        ("window", f"{readable_time(incident['window_start'])} → {readable_time(incident['window_end'])}"),
        ("detected", readable_time(incident.get("detected_at"))),
        ("initial cause", _cause(cause)),
        ("confirmed cause", (incident.get("confirmed_cause") or {}).get("service") or "-"),
        ("category", f"{incident.get('category')} ({incident.get('category_source')})"),
        ("owner", f"{(incident.get('owner') or {}).get('team') or '-'}"),
        ("assignee", (incident.get("assignee") or {}).get("name") or "-"),
        ("escalation", _escalation(incident)),
        ("affected", ", ".join(incident.get("affected_services") or [])),
        (
            "errors",
            f"{incident['impact'].get('errors_window')} (baseline {incident['impact'].get('errors_baseline')})",
        ),
        ("trace ids", ", ".join((incident.get("reproduction") or {}).get("trace_ids", [])[:5]) or "-"),
        ("actions", ", ".join(f"{a['name']} ({a['kind']})" for a in incident.get("actions") or []) or "-"),
    ]
    for change in (incident.get("changes") or [])[-5:]:
        rows.append(
            (
                "change",
                f"{readable_time(change['timestamp'])} {change['service']} {change['kind']}: {change['message']}",
            )
        )
    for key, value in rows:
        facts.add_row(key, Text(str(value)))
    return facts


def _runbooks(incident: dict) -> Group | Text:
    """Each linked runbook: its title, id and file, then its steps numbered, each wrapping under itself
    (a list reads better than a three-column table at 80 columns)."""
    suggested = incident.get("suggested_actions") or []
    if not suggested:
        return Text("No runbook linked.")
    parts = [Text("Runbooks", style="italic")]
    for runbook in suggested:
        parts.append(Text(f"{runbook.get('title')} ({runbook.get('runbook_id')})", style="bold"))
        parts.append(Text(f"  {runbook.get('path') or '-'}", overflow="fold"))
        steps = Table.grid(padding=(0, 1))
        steps.add_column(no_wrap=True, justify="right", min_width=4)
        steps.add_column(overflow="fold")
        for number, step in enumerate(runbook.get("steps") or [], 1):
            steps.add_row(f"{number}.", Text(step))
        parts.append(steps if steps.row_count else Text("  (no numbered or bulleted steps in it)"))
    return Group(*parts)


def _deliveries(incident: dict) -> Table:
    table = Table(title="Alert deliveries", title_justify="left")
    for name in ("when", "event", "channel", "outcome"):
        table.add_column(name, overflow="fold")
    table.add_column("error", overflow="fold", ratio=1)
    for delivery in incident.get("deliveries") or []:
        outcome = "delivered" if delivery.get("ok") else f"failed ({delivery.get('attempts')} tries)"
        table.add_row(
            readable_time(delivery.get("at")),
            delivery["event"],
            delivery["channel"],
            outcome,
            delivery.get("error") or "",
        )
    for pending in incident.get("pending_deliveries") or []:
        table.add_row(
            f"next {readable_time(pending.get('next_attempt_at')) if pending.get('next_attempt_at') else 'run'}",
            pending["event"], pending["channel"], "pending",
            pending.get("error") or "",
        )  # fmt: skip
    for failed in incident.get("failed_deliveries") or []:
        table.add_row(readable_time(failed.get("gave_up_at")), failed["event"], failed["channel"], "given up",
                      f"{failed.get('reason')}: {failed.get('error') or ''}")  # fmt: skip
    return table


def incident_details(incident: dict, version: tuple[int, int], *, report: bool = True) -> Group:
    """Everything ``incident show`` prints: facts, runbooks, deliveries (with their errors), history, report."""
    history = Table(title="History", title_justify="left")
    for name in ("at", "by", "event", "to"):
        history.add_column(name, overflow="fold")
    history.add_column("note", overflow="fold", ratio=1)
    for item in incident.get("status_history") or []:
        history.add_row(
            readable_time(item["at"]), item["by"], item["event"], item.get("to") or "", item.get("note") or ""
        )
    parts = [
        Text(incident["incident_id"], style="bold"),
        Text(incident.get("title", ""), style="bold"),
        _facts(incident, version),
    ]
    parts += [_runbooks(incident), _deliveries(incident), history]
    if report and incident.get("report"):
        parts += [Text("Report", style="bold underline"), markdown(incident["report"])]
    elif report:
        parts.append(Text("No report stored with this incident (filed by an older logrca)."))
    return Group(*parts)


def eval_lines(result: dict) -> list[str]:
    """The lines of ``eval incidents``: AC@k, or why there are none yet."""
    if not result["cases"]:
        return [
            "nothing confirmed yet: AC@k needs incidents whose root cause an operator confirmed "
            "('logrca incident confirm ID --cause SERVICE')"
        ]
    scores = "  ".join(f"{k} {result[k]:.3f}" for k in ("AC@1", "AC@3", "AC@5", "Avg@5"))
    return [f"confirmed incidents: {result['cases']}", scores]
