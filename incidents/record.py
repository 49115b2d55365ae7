"""Incident records: the standard record built from a finding, its lifecycle statuses and matching (pure).

An incident is a plain dict with the fields an incident record needs (time, impact, reproduction
hints, initial cause, actions, owner); :mod:`logrca.incidents.store` keeps it in Elasticsearch.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from logrca.incidents.catalogue import Catalogue, normalize_category
from logrca.incidents.times import now_iso, parse_time, readable_time
from logrca.incidents.times import to_iso as _iso
from logrca.rca.ecs import ecs_fields
from logrca.rca.finding_ids import incident_id_for
from logrca.rca.markdown import words_within
from logrca.rca.rank import headline, strongest_signal
from logrca.rca.runbook_actions import ActionError, parse_actions

__all__ = [
    "STATUSES",
    "OPEN_STATUSES",
    "CURRENT_STATUSES",
    "IncidentConflict",
    "IncidentError",
    "build_incident",
    "categorize",
    "cause_service",
    "same_incident",
    "now_iso",
    "readable_time",
]

STATUSES = ("open", "acknowledged", "mitigated", "resolved", "reviewed", "archived")
OPEN_STATUSES = ("open", "acknowledged", "mitigated")
#: Statuses listed by default (archived incidents stay stored and searchable, out of the daily view).
CURRENT_STATUSES = STATUSES[:-1]
#: Built-in category rules, checked in order after the catalogue's own ``category_rules``.
CATEGORY_RULES: tuple[tuple[str, str], ...] = (
    (
        "resource_exhaustion",
        r"(?i)out of memory|\boom\b|no space left|disk (is )?full|too many open files|"
        r"pool (is )?exhausted|quota exceeded|heap space|resource(s)? exhausted|cpu (throttl|contention)",
    ),
    (
        "upgrade_compatibility",
        r"(?i)incompatib|unsupported version|version mismatch|deprecated|NoSuchMethod|"
        r"ClassNotFound|NoClassDefFound|schema (version|mismatch)|migration failed|upgrade",
    ),
    (
        "bad_input",
        r"(?i)invalid (input|argument|request|format|parameter)|malformed|parse error|cannot parse|"
        r"validation (failed|error)|bad request|NumberFormatException|unexpected token",
    ),
    (
        "operation_error",
        r"(?i)permission denied|access denied|unauthori[sz]ed|forbidden|misconfigur|"
        r"config(uration)? (error|invalid|missing)|certificate (expired|invalid)|manual(ly)? ",
    ),
    (
        "dependency_failure",
        r"(?i)connection refused|connection reset|timed? ?out|unavailable|unreachable|"
        r"upstream|circuit (breaker|open)|no route to host|\b50[234]\b|host not found|dns",
    ),
    ("process_defect", r"(?i)exception|null ?pointer|assert|panic|traceback|segfault|stack ?trace|bug"),
)


class IncidentError(ValueError):
    """A request the incident cannot take (unknown id, a backward status change, an unknown category)."""


class IncidentConflict(RuntimeError):
    """Someone else changed the incident between our read and our write; re-read and try again."""


def _evidence(finding: dict) -> list[dict]:
    return [
        dict(e, service=r["service"]) for r in finding.get("ranking") or [] for e in r.get("evidence") or []
    ]


def categorize(
    finding: dict, *, runbooks: list[dict] = (), catalogue: Catalogue | None = None
) -> tuple[str, str, str]:
    """Pick the incident category by rule.

    Returns
    -------
    (category, source, reason)
        ``source`` is ``"catalogue"`` (a catalogue ``category_rules`` entry), ``"runbook"`` (the linked
        runbook declares one), or ``"rule"`` (built-in rules on the evidence text, first match wins;
        ``process_defect`` when nothing matches).
    """
    top = (finding.get("ranking") or [{}])[0].get("service")
    texts = [
        f"{e.get('template') or ''}\n{e.get('sample') or ''}"
        for e in _evidence(finding)
        if e.get("service") == top
    ]
    texts += [f"{e.get('template') or ''}\n{e.get('sample') or ''}" for e in _evidence(finding)]
    rules = [(r.category, r.pattern, "catalogue") for r in (catalogue.category_rules if catalogue else [])]
    for category, pattern, source in rules:
        if any(re.search(pattern, text) for text in texts):
            return category, source, f"catalogue rule {pattern!r}"
    for runbook in runbooks:
        if category := normalize_category(runbook.get("category")):
            return category, "runbook", f"runbook {runbook.get('id')}"
    for category, pattern in CATEGORY_RULES:
        for text in texts:
            if match := re.search(pattern, text):
                return category, "rule", f"evidence mentions {match.group(0)!r}"
    return "process_defect", "rule", "no rule matched; default"


def _runbook_steps(body: str, limit: int = 6) -> list[str]:
    """The first ``limit`` steps of a runbook: the items of its numbered lists, or of its bulleted
    lists when it has no numbered one (bullets beside numbered steps are symptoms and context).

    Each item whole, as Markdown reads it: an item wrapped over several source lines is one step,
    its lines joined by a space (the first line alone stopped mid-sentence); its first paragraph
    only, so the items of a list nested in it are neither steps nor part of its text.
    """
    from markdown_it import MarkdownIt

    items: dict[str, list[str]] = {"ordered_list_open": [], "bullet_list_open": []}
    kinds: list[str] = []  # the kind of each open list, outermost first
    wanted = False  # the next inline text is a top-level item's first paragraph
    for token in MarkdownIt("commonmark").parse(body or ""):
        if token.type in items:
            kinds.append(token.type)
        elif token.type in ("ordered_list_close", "bullet_list_close"):
            kinds.pop()
        elif token.type == "list_item_open":
            wanted = len(kinds) == 1
        elif token.type == "inline" and wanted:
            items[kinds[0]].append(" ".join(line.strip() for line in token.content.splitlines()))
            wanted = False
    return (items["ordered_list_open"] or items["bullet_list_open"])[:limit]


def _linked_runbooks(finding: dict, runbooks: list[dict]) -> list[dict]:
    by_id = {r.get("id"): r for r in runbooks}
    linked = []
    for item in (finding.get("knowledge") or {}).get("runbooks") or []:
        ident = item if isinstance(item, str) else item.get("id")
        full = by_id.get(ident) or (item if isinstance(item, dict) else None)
        if full is not None:
            linked.append(full)
    return linked


def _declared_actions(linked: list[dict]) -> list[dict]:
    actions = []
    for runbook in linked:
        try:
            declared = parse_actions(
                runbook.get("actions"), source=str(runbook.get("path") or runbook.get("id"))
            )
        except ActionError as error:
            raise IncidentError(str(error)) from error
        actions += [dict(a.model_dump(), runbook_id=runbook.get("id")) for a in declared]
    return actions


def _impact(finding: dict, services: list[str]) -> dict:
    rows = [dict(service=s, **v) for s, v in sorted((finding.get("impact") or {}).items())]
    totals = {
        key: round(sum(float(row.get(key) or 0) for row in rows), 1)
        for key in ("errors_window", "errors_baseline", "lines_window", "lines_baseline")
    }
    return {"services": services, "per_service": rows, **totals}


def _reproduction(finding: dict) -> dict:
    evidence = _evidence(finding)
    return {
        "trace_ids": list(finding.get("trace_ids") or [])[:20],
        "samples": [
            {k: e.get(k) for k in ("service", "kind", "template_id", "template", "sample")}
            for e in evidence[:10]
        ],
        "failing_path_lines": list((finding.get("reproduction") or {}).get("lines") or [])[:20],
    }


def _lifecycle(finding: dict, opened: datetime, deadline_minutes: int) -> dict:
    """The fields of a newly opened incident: status history, escalation deadline, empty delivery lists."""
    return {
        "status": "open",
        "status_history": [
            {
                "at": now_iso(opened),
                "by": "logrca",
                "event": "status",
                "from": None,
                "to": "open",
                "note": f"opened from finding {finding.get('finding_id')}",
            }
        ],
        "escalation": {
            "level": 0,
            "deadline": now_iso(opened + timedelta(minutes=deadline_minutes)),
            "deadline_minutes": deadline_minutes,
        },
        "notified_events": [],
        "deliveries": [],
        "pending_deliveries": [],
        "action_runs": [],
        "confirmed_cause": None,
        "created_at": now_iso(opened),
        "updated_at": now_iso(opened),
    }


def _suggested_actions(linked: list[dict]) -> list[dict]:
    return [
        {
            "runbook_id": r.get("id"),
            "title": r.get("title"),
            "path": str(r.get("path") or ""),
            "steps": _runbook_steps(r.get("body", "")),
        }
        for r in linked
    ]


def _webhook(url: str | None) -> dict:
    from logrca.rca.urls import redacted_target

    return {"webhook": redacted_target(url)} if url else {}


def _owner(service: str, catalogue: Catalogue | None) -> dict:
    entry = catalogue.entry(service) if catalogue else None
    return {
        "service": service,
        "team": entry.owner if entry else None,
        # a personal webhook's URL is a credential: stored redacted, the alert posts to the catalogue's
        "contacts": [c.model_dump() | _webhook(c.webhook) for c in entry.contacts] if entry else [],
    }


def _title(top: dict) -> str:
    """``service: kind template`` of the top suspect's first log event; without one (a trace or metric
    deviation), its strongest signal without source and score: ``payments: span_self_time 975/1780 ...``."""
    event = top["evidence"][0] if top.get("evidence") else {}
    if event.get("template"):
        said = f"{event.get('kind', 'anomaly')} {event['template']}"
    else:
        said = headline(strongest_signal(top.get("explanation"))[0])
    return f"{top['service']}: {words_within(said, 110)}".strip()


def _cause_and_ranking(finding: dict) -> dict:
    top = finding["ranking"][0]
    return {
        "initial_cause": {
            k: top.get(k) for k in ("service", "score", "explanation", "path", "first_anomalous", "evidence")
        },
        "ranking": [
            {"rank": r.get("rank", i + 1), "service": r["service"], "score": r.get("score")}
            for i, r in enumerate(finding["ranking"])
        ],
    }


def build_incident(
    finding: dict,
    *,
    catalogue: Catalogue | None = None,
    runbooks: list[dict] = (),
    now: datetime | None = None,
) -> dict:
    """The standard incident record for a finding (ARCHITECTURE.md "Finding").

    Parameters
    ----------
    finding : dict
        Needs ``window_start``, ``window_end`` and a non-empty ``ranking``; other keys are optional.
    catalogue : Catalogue, optional
        Owner, contacts and acknowledgement deadline of the top-ranked service.
    runbooks : list of dict
        Runbooks as ``logrca.rca.knowledge.load_runbooks`` returns them; those the finding links to give the
        suggested actions, the declared ``actions`` and possibly the category.
    now : datetime, optional
        When the incident is opened (the escalation deadline counts from it).

    Raises
    ------
    IncidentError
        When a required finding field is missing, or a linked runbook declares malformed actions.

    Notes
    -----
    Longer than 60 lines because its body is the record itself, one field per line (the parts with
    logic are helpers); splitting the literal would scatter the record's shape over several places.
    """
    for field in ("window_start", "window_end", "ranking"):
        if not finding.get(field):
            raise IncidentError(f"finding {finding.get('finding_id', '?')}: missing field {field!r}")
    opened = now or datetime.now(UTC)
    top = finding["ranking"][0]
    services = sorted(set(finding.get("affected_services") or [r["service"] for r in finding["ranking"]]))
    incident_id, fingerprint = incident_id_for(finding)
    linked = _linked_runbooks(finding, list(runbooks))
    category, category_source, category_reason = categorize(finding, runbooks=linked, catalogue=catalogue)
    first_anomalous = [r.get("first_anomalous") for r in finding["ranking"] if r.get("first_anomalous")]
    event = top.get("evidence", [{}])[0] if top.get("evidence") else {}
    return {
        "incident_id": incident_id,
        "fingerprint": fingerprint,
        "system": finding.get("system") or "default",
        "title": _title(top),
        "detected_at": _iso(finding.get("detected_at") or opened),
        "detection_time": _iso(finding.get("detection_time") or finding.get("detected_at") or opened),
        "first_anomalous_at": min((_iso(t) for t in first_anomalous), default=None),
        "window_start": _iso(finding["window_start"]),
        "window_end": _iso(finding["window_end"]),
        "affected_services": services,
        "template_ids": sorted(
            {int(e["template_id"]) for e in _evidence(finding) if e.get("template_id") is not None}
        ),
        "finding_ids": [finding.get("finding_id") or fingerprint],
        "occurrences": 1,
        "impact": _impact(finding, services),
        "reproduction": _reproduction(finding),
        **_cause_and_ranking(finding),
        "changes": list(finding.get("changes") or [])[:20],
        "report": finding.get("report"),
        "suggested_actions": _suggested_actions(linked),
        "actions": _declared_actions(linked),
        "similar_incidents": list((finding.get("knowledge") or {}).get("similar_incidents") or [])[:5],
        "owner": _owner(top["service"], catalogue),
        "category": category,
        "category_source": category_source,
        "category_reason": category_reason,
        **_lifecycle(finding, opened, catalogue.deadline_minutes(top["service"]) if catalogue else 30),
        **ecs_fields(
            "incidents",
            timestamp=_iso(finding["window_start"]),
            message=f"{top['service']}: {event.get('template') or top.get('explanation') or ''}"[:1000],
            service=top["service"],
            outcome="failure",
            category=["process"],
            event_type=["error"],
            trace_id=(finding.get("trace_ids") or [None])[0],
            labels={
                "system": finding.get("system") or "default",
                "incident_id": incident_id,
                "category": category,
            },
        ),
    }


def _cause_templates(incident: dict) -> set[int]:
    evidence = (incident.get("initial_cause") or {}).get("evidence") or []
    return {int(e["template_id"]) for e in evidence if e.get("template_id") is not None}


def cause_service(incident: dict) -> str | None:
    """The service an incident names as its initial cause (None when it names none)."""
    return (incident.get("initial_cause") or {}).get("service")


def same_incident(existing: dict, new: dict) -> bool:
    """Whether ``new`` re-finds ``existing``: same system, root service and affected services, the root
    service's evidence templates sharing at least half of their union (Jaccard >= 0.5), and windows that
    overlap or touch."""
    if existing["system"] != new["system"] or existing["affected_services"] != new["affected_services"]:
        return False
    if cause_service(existing) != cause_service(new):
        return False
    old_t, new_t = _cause_templates(existing), _cause_templates(new)
    if (old_t or new_t) and len(old_t & new_t) / len(old_t | new_t) < 0.5:
        return False
    return parse_time(existing["window_start"]) <= parse_time(new["window_end"]) and parse_time(
        new["window_start"]
    ) <= parse_time(existing["window_end"])
