"""Incident records: built from a finding, kept in Elasticsearch, moved through their lifecycle.

An incident is one Elasticsearch document (index ``<prefix>-incidents``) with a deterministic id.
Every change is a read-modify-write guarded by ``if_seq_no``/``if_primary_term`` (optimistic
concurrency), so two people changing one incident never lose an update: the second gets
:class:`IncidentConflict` and re-reads.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from rca.actions import ActionError, parse_actions
from rca.catalog import CATEGORIES, Catalogue, normalize_category

__all__ = [
    "STATUSES", "OPEN_STATUSES", "CURRENT_STATUSES", "IncidentConflict", "IncidentError", "IncidentStore",
    "build_incident", "categorize", "same_incident", "now_iso",
]

STATUSES = ("open", "acknowledged", "mitigated", "resolved", "reviewed", "archived")
OPEN_STATUSES = ("open", "acknowledged", "mitigated")
#: Statuses listed by default (archived incidents stay stored and searchable, out of the daily view).
CURRENT_STATUSES = STATUSES[:-1]
#: Built-in category rules, checked in order after the catalogue's own ``category_rules``.
CATEGORY_RULES: tuple[tuple[str, str], ...] = (
    ("resource_exhaustion", r"(?i)out of memory|\boom\b|no space left|disk (is )?full|too many open files|"
     r"pool (is )?exhausted|quota exceeded|heap space|resource(s)? exhausted|cpu (throttl|contention)"),
    ("upgrade_compatibility", r"(?i)incompatib|unsupported version|version mismatch|deprecated|NoSuchMethod|"
     r"ClassNotFound|NoClassDefFound|schema (version|mismatch)|migration failed|upgrade"),
    ("bad_input", r"(?i)invalid (input|argument|request|format|parameter)|malformed|parse error|cannot parse|"
     r"validation (failed|error)|bad request|NumberFormatException|unexpected token"),
    ("operation_error", r"(?i)permission denied|access denied|unauthori[sz]ed|forbidden|misconfigur|"
     r"config(uration)? (error|invalid|missing)|certificate (expired|invalid)|manual(ly)? "),
    ("dependency_failure", r"(?i)connection refused|connection reset|timed? ?out|unavailable|unreachable|"
     r"upstream|circuit (breaker|open)|no route to host|\b50[234]\b|host not found|dns"),
    ("process_defect", r"(?i)exception|null ?pointer|assert|panic|traceback|segfault|stack ?trace|bug"),
)
MAPPING = {
    "dynamic": False,
    "properties": {
        "incident_id": {"type": "keyword"}, "fingerprint": {"type": "keyword"}, "system": {"type": "keyword"},
        "title": {"type": "text"}, "status": {"type": "keyword"}, "category": {"type": "keyword"},
        "category_source": {"type": "keyword"}, "affected_services": {"type": "keyword"},
        "template_ids": {"type": "long"}, "finding_ids": {"type": "keyword"},
        "detected_at": {"type": "date"}, "first_anomalous_at": {"type": "date"},
        "window_start": {"type": "date"}, "window_end": {"type": "date"},
        "created_at": {"type": "date"}, "updated_at": {"type": "date"},
        "acknowledged_at": {"type": "date"}, "mitigated_at": {"type": "date"},
        "resolved_at": {"type": "date"}, "reviewed_at": {"type": "date"}, "archived_at": {"type": "date"},
        "assignee": {"properties": {"name": {"type": "keyword"}, "by": {"type": "keyword"}, "at": {"type": "date"}}},
        "occurrences": {"type": "integer"},
        "initial_cause": {"properties": {"service": {"type": "keyword"}, "score": {"type": "float"}}},
        "confirmed_cause": {"properties": {"service": {"type": "keyword"}, "by": {"type": "keyword"}, "at": {"type": "date"}}},
        "owner": {"properties": {"service": {"type": "keyword"}, "team": {"type": "keyword"}}},
        "escalation": {"properties": {"level": {"type": "integer"}, "deadline": {"type": "date"}}},
        "pending_deliveries": {"properties": {"event": {"type": "keyword"}, "channel": {"type": "keyword"}}},
        "notified_events": {"type": "keyword"},
        "status_history": {"type": "object", "enabled": False},
        "impact": {"type": "object", "enabled": False}, "reproduction": {"type": "object", "enabled": False},
        "suggested_actions": {"type": "object", "enabled": False}, "actions": {"type": "object", "enabled": False},
        "action_runs": {"type": "object", "enabled": False}, "deliveries": {"type": "object", "enabled": False},
        "ranking": {"type": "object", "enabled": False},
    },
}


class IncidentError(ValueError):
    """A request the incident cannot take (unknown id, a backward status change, an unknown category)."""


class IncidentConflict(RuntimeError):
    """Someone else changed the incident between our read and our write; re-read and try again."""


def now_iso(now: datetime | None = None) -> str:
    """``now`` (default: the current time) as an ISO-8601 UTC string."""
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat()


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return now_iso(value if value.tzinfo else value.replace(tzinfo=timezone.utc))
    return now_iso(datetime.fromisoformat(str(value).replace("Z", "+00:00")))


def parse_time(value: str) -> datetime:
    """An ISO string stored on an incident, as an aware datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _evidence(finding: dict) -> list[dict]:
    return [dict(e, service=r["service"]) for r in finding.get("ranking") or [] for e in r.get("evidence") or []]


def categorize(finding: dict, *, runbooks: list[dict] = (), catalogue: Catalogue | None = None) -> tuple[str, str, str]:
    """Pick the incident category by rule.

    Returns
    -------
    (category, source, reason)
        ``source`` is ``"catalogue"`` (a catalogue ``category_rules`` entry), ``"runbook"`` (the linked
        runbook declares one), or ``"rule"`` (built-in rules on the evidence text, first match wins;
        ``process_defect`` when nothing matches).
    """
    top = (finding.get("ranking") or [{}])[0].get("service")
    texts = [f"{e.get('template') or ''}\n{e.get('sample') or ''}" for e in _evidence(finding) if e.get("service") == top]
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
    steps = [m.group(1).strip() for m in re.finditer(r"^\s*(?:[-*]|\d+[.)])\s+(.+)$", body or "", re.MULTILINE)]
    return steps[:limit]


def _linked_runbooks(finding: dict, runbooks: list[dict]) -> list[dict]:
    by_id = {r.get("id"): r for r in runbooks}
    linked = []
    for item in (finding.get("knowledge") or {}).get("runbooks") or []:
        ident = item if isinstance(item, str) else item.get("id")
        full = by_id.get(ident) or (item if isinstance(item, dict) else None)
        if full is not None:
            linked.append(full)
    return linked


def build_incident(finding: dict, *, catalogue: Catalogue | None = None, runbooks: list[dict] = (),
                   now: datetime | None = None) -> dict:
    """The standard incident record for a finding (ARCHITECTURE.md "Finding").

    Parameters
    ----------
    finding : dict
        Needs ``window_start``, ``window_end`` and a non-empty ``ranking``; other keys are optional.
    catalogue : Catalogue, optional
        Owner, contacts and acknowledgement deadline of the top-ranked service.
    runbooks : list of dict
        Runbooks as ``rca.knowledge.load_runbooks`` returns them; those the finding links to give the
        suggested actions, the declared ``actions`` and possibly the category.
    now : datetime, optional
        When the incident is opened (the escalation deadline counts from it).

    Raises
    ------
    IncidentError
        When a required finding field is missing, or a linked runbook declares malformed actions.
    """
    for field in ("window_start", "window_end", "ranking"):
        if not finding.get(field):
            raise IncidentError(f"finding {finding.get('finding_id', '?')}: missing field {field!r}")
    opened = now or datetime.now(timezone.utc)
    system = finding.get("system") or "default"
    top = finding["ranking"][0]
    evidence = _evidence(finding)
    services = sorted(set(finding.get("affected_services") or [r["service"] for r in finding["ranking"]]))
    template_ids = sorted({int(e["template_id"]) for e in evidence if e.get("template_id") is not None})
    fingerprint = hashlib.sha1(f"{system}|{top['service']}|{','.join(services)}|{template_ids}".encode()).hexdigest()[:12]
    window_start = _iso(finding["window_start"])
    linked = _linked_runbooks(finding, list(runbooks))
    actions = []
    for runbook in linked:
        try:
            declared = parse_actions(runbook.get("actions"), source=str(runbook.get("path") or runbook.get("id")))
        except ActionError as error:
            raise IncidentError(str(error)) from error
        actions += [dict(a.model_dump(), runbook_id=runbook.get("id")) for a in declared]
    category, category_source, category_reason = categorize(finding, runbooks=linked, catalogue=catalogue)
    entry = catalogue.entry(top["service"]) if catalogue else None
    deadline_minutes = catalogue.deadline_minutes(top["service"]) if catalogue else 30
    impact_rows = [dict(service=s, **v) for s, v in sorted((finding.get("impact") or {}).items())]
    first_anomalous = [r.get("first_anomalous") for r in finding["ranking"] if r.get("first_anomalous")]
    headline = top.get("evidence", [{}])[0] if top.get("evidence") else {}
    return {
        "incident_id": f"INC-{parse_time(window_start):%Y%m%d%H%M}-{fingerprint}",
        "fingerprint": fingerprint,
        "system": system,
        "title": f"{top['service']}: {headline.get('kind', 'anomaly')} {(headline.get('template') or top.get('explanation') or '')[:100]}".strip(),
        "status": "open",
        "detected_at": _iso(finding.get("detected_at") or opened),
        "first_anomalous_at": min((_iso(t) for t in first_anomalous), default=None),
        "window_start": window_start,
        "window_end": _iso(finding["window_end"]),
        "affected_services": services,
        "template_ids": template_ids,
        "finding_ids": [finding.get("finding_id") or fingerprint],
        "occurrences": 1,
        "impact": {
            "services": services,
            "per_service": impact_rows,
            **{key: round(sum(float(row.get(key) or 0) for row in impact_rows), 1)
               for key in ("errors_window", "errors_baseline", "lines_window", "lines_baseline")},
        },
        "reproduction": {
            "trace_ids": list(finding.get("trace_ids") or [])[:20],
            "samples": [{k: e.get(k) for k in ("service", "kind", "template_id", "template", "sample")} for e in evidence[:10]],
            "failing_path_lines": list((finding.get("reproduction") or {}).get("lines") or [])[:20],
        },
        "initial_cause": {k: top.get(k) for k in ("service", "score", "explanation", "path", "first_anomalous", "evidence")},
        "ranking": [{"rank": r.get("rank", i + 1), "service": r["service"], "score": r.get("score")} for i, r in enumerate(finding["ranking"])],
        "suggested_actions": [
            {"runbook_id": r.get("id"), "title": r.get("title"), "path": str(r.get("path") or ""), "steps": _runbook_steps(r.get("body", ""))}
            for r in linked
        ],
        "actions": actions,
        "similar_incidents": list((finding.get("knowledge") or {}).get("similar_incidents") or [])[:5],
        "owner": {
            "service": top["service"],
            "team": entry.owner if entry else None,
            "contacts": [c.model_dump() for c in entry.contacts] if entry else [],
        },
        "category": category,
        "category_source": category_source,
        "category_reason": category_reason,
        "status_history": [{"at": now_iso(opened), "by": "logrca", "event": "status", "from": None, "to": "open",
                            "note": f"opened from finding {finding.get('finding_id')}"}],
        "escalation": {"level": 0, "deadline": now_iso(opened + timedelta(minutes=deadline_minutes)),
                       "deadline_minutes": deadline_minutes},
        "notified_events": [], "deliveries": [], "pending_deliveries": [], "action_runs": [],
        "confirmed_cause": None,
        "created_at": now_iso(opened), "updated_at": now_iso(opened),
    }


def _cause_templates(incident: dict) -> set[int]:
    evidence = (incident.get("initial_cause") or {}).get("evidence") or []
    return {int(e["template_id"]) for e in evidence if e.get("template_id") is not None}


def same_incident(existing: dict, new: dict) -> bool:
    """Whether ``new`` re-finds ``existing``: same system, root service and affected services, the root
    service's evidence templates sharing at least half of their union (Jaccard >= 0.5), and windows that
    overlap or touch."""
    if existing["system"] != new["system"] or existing["affected_services"] != new["affected_services"]:
        return False
    if (existing.get("initial_cause") or {}).get("service") != (new.get("initial_cause") or {}).get("service"):
        return False
    old_t, new_t = _cause_templates(existing), _cause_templates(new)
    if (old_t or new_t) and len(old_t & new_t) / len(old_t | new_t) < 0.5:
        return False
    return parse_time(existing["window_start"]) <= parse_time(new["window_end"]) and \
        parse_time(new["window_start"]) <= parse_time(existing["window_end"])


class IncidentStore:
    """The incidents index: filing, reading and versioned updates.

    Parameters
    ----------
    client : elasticsearch.Elasticsearch
    index_prefix : str, default "logrca"
        The index is ``<index_prefix>-incidents``.
    """

    def __init__(self, client: Any, index_prefix: str = "logrca") -> None:
        self.client = client
        self.index = f"{index_prefix}-incidents"

    def ensure_index(self) -> None:
        """Create the index with its explicit mapping, or add the fields a newer logrca maps to an existing one."""
        from elasticsearch import BadRequestError

        if not self.client.indices.exists(index=self.index):
            try:
                self.client.indices.create(index=self.index, mappings=MAPPING, settings={"number_of_replicas": 0})
                return
            except BadRequestError as error:  # created concurrently by another run
                if "resource_already_exists" not in str(error):
                    raise
        mappings = self.client.indices.get_mapping(index=self.index)  # keyed by the concrete index (the name may be an alias)
        mapped = {name for entry in mappings.values() for name in entry["mappings"].get("properties", {})}
        missing = {name: spec for name, spec in MAPPING["properties"].items() if name not in mapped}
        if missing:  # new fields only: Elasticsearch accepts these on a live index
            self.client.indices.put_mapping(index=self.index, properties=missing)

    def get(self, incident_id: str) -> tuple[dict, tuple[int, int]]:
        """The incident and its version ``(seq_no, primary_term)``; IncidentError when unknown."""
        from elasticsearch import NotFoundError

        try:
            response = self.client.get(index=self.index, id=incident_id)
        except NotFoundError as error:
            raise IncidentError(f"no incident {incident_id!r} in index {self.index}") from error
        return response["_source"], (response["_seq_no"], response["_primary_term"])

    def search(self, *, statuses: tuple[str, ...] | None = None, service: str | None = None,
               system: str | None = None, query: dict | None = None, size: int = 1000) -> list[dict]:
        """Incidents matching the filters, newest detection first."""
        if not self.client.indices.exists(index=self.index):
            return []
        filters: list[dict] = [query] if query else []
        if statuses:
            filters.append({"terms": {"status": list(statuses)}})
        if service:
            filters.append({"term": {"affected_services": service}})
        if system:
            filters.append({"term": {"system": system}})
        response = self.client.search(index=self.index, query={"bool": {"filter": filters}}, size=size,
                                      sort=[{"detected_at": "desc"}])
        return [hit["_source"] for hit in response["hits"]["hits"]]

    def update(self, incident_id: str, change: Callable[[dict], None], *, version: tuple[int, int] | None = None,
               retries: int = 0) -> dict:
        """Apply ``change`` (mutates the document) and write it back only if nobody wrote in between.

        Parameters
        ----------
        version : (seq_no, primary_term), optional
            The version the caller read (e.g. shown to a user); without it the current one is read.
        retries : int, default 0
            For automatic updates: how often to re-read and re-apply after a conflict.

        Raises
        ------
        IncidentConflict
            The incident changed since ``version`` (or kept changing through the retries).
        """
        from elasticsearch import ConflictError

        for attempt in range(retries + 1):
            document, current = self.get(incident_id)
            expected = version if (version is not None and attempt == 0) else current
            if expected != current:
                raise self._conflict(incident_id, expected, current, document)
            change(document)
            document["updated_at"] = now_iso()
            try:
                self.client.index(index=self.index, id=incident_id, document=document, if_seq_no=expected[0],
                                  if_primary_term=expected[1], refresh="wait_for")
                return document
            except ConflictError:
                if attempt == retries:
                    latest, now_version = self.get(incident_id)
                    raise self._conflict(incident_id, expected, now_version, latest) from None
        raise AssertionError("unreachable")

    @staticmethod
    def _conflict(incident_id: str, expected: tuple[int, int], current: tuple[int, int], latest: dict) -> IncidentConflict:
        last = (latest.get("status_history") or [{}])[-1]
        return IncidentConflict(
            f"incident {incident_id} was changed by someone else (you had version {expected[0]}:{expected[1]}, it is now "
            f"{current[0]}:{current[1]}; status {latest.get('status')!r}, last change {last.get('event')} "
            f"by {last.get('by')} at {last.get('at')}). Nothing was written: run 'logrca incident show {incident_id}' and retry."
        )

    def file(self, incident: dict) -> tuple[str, str]:
        """File a newly built incident, or fold it into the open incident it re-finds.

        Returns
        -------
        (incident_id, outcome)
            ``outcome`` is ``"created"``, ``"updated"`` (an open incident with the same services and
            templates and an overlapping window now also covers this finding) or ``"unchanged"``
            (this finding was filed before).
        """
        from elasticsearch import ConflictError

        self.ensure_index()
        finding_id = incident["finding_ids"][0]
        seen = self.search(query={"term": {"finding_ids": finding_id}}, size=1)
        if seen:
            return seen[0]["incident_id"], "unchanged"
        for existing in self.search(statuses=OPEN_STATUSES, system=incident["system"]):
            if same_incident(existing, incident):
                self.update(existing["incident_id"], lambda doc: _merge(doc, incident), retries=5)
                return existing["incident_id"], "updated"
        try:
            self.client.create(index=self.index, id=incident["incident_id"], document=incident, refresh="wait_for")
        except ConflictError:  # another run created it first: fold in
            self.update(incident["incident_id"], lambda doc: _merge(doc, incident), retries=5)
            return incident["incident_id"], "updated"
        return incident["incident_id"], "created"

    def transition(self, incident_id: str, status: str, *, by: str, note: str | None = None,
                   version: tuple[int, int] | None = None, now: datetime | None = None) -> dict:
        """Move an incident forward (open → acknowledged → mitigated → resolved → reviewed → archived; steps may be skipped).

        Acknowledging an incident nobody is assigned to assigns it to ``by`` (the person on it).
        Archiving ends the lifecycle: the record stays stored and searchable, drops out of the
        default listing and the review's follow-ups, and can no longer be reassigned.

        Raises
        ------
        IncidentError
            For an unknown status or a move backwards / to the same status.
        IncidentConflict
            When the incident changed since ``version``.
        """
        if status not in STATUSES:
            raise IncidentError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")

        def change(document: dict) -> None:
            current = document["status"]
            if STATUSES.index(status) <= STATUSES.index(current):
                raise IncidentError(f"incident {incident_id} is {current!r}; it cannot become {status!r} "
                                    f"(order: {' → '.join(STATUSES)})")
            at = now_iso(now)
            document["status"] = status
            document[f"{status}_at"] = at
            document["status_history"].append({"at": at, "by": by, "event": "status", "from": current, "to": status, "note": note})
            if status == "acknowledged" and not (document.get("assignee") or {}).get("name"):
                document["assignee"] = {"name": by, "by": by, "at": at}

        return self.update(incident_id, change, version=version)

    def assign(self, incident_id: str, person: str, *, by: str, team: str | None = None, note: str | None = None,
               version: tuple[int, int] | None = None, now: datetime | None = None) -> dict:
        """Assign the incident to ``person`` (and, with ``team``, hand it to another owning team).

        Raises
        ------
        IncidentError
            For an empty name or an archived incident.
        IncidentConflict
            When the incident changed since ``version``.
        """
        if not person.strip():
            raise IncidentError("assign: the assignee's name is empty")
        self.ensure_index()  # an index made by an older logrca gets the assignee fields mapped

        def change(document: dict) -> None:
            if document["status"] == "archived":
                raise IncidentError(f"incident {incident_id} is archived; it can no longer be assigned")
            at = now_iso(now)
            before = (document.get("assignee") or {}).get("name")
            document["assignee"] = {"name": person, "by": by, "at": at}
            entry = {"at": at, "by": by, "event": "assign", "from": before, "to": person, "note": note}
            if team is not None:
                owner = document.setdefault("owner", {})
                entry["team_from"], owner["team"] = owner.get("team"), team
                entry["team"] = team
            document["status_history"].append(entry)

        return self.update(incident_id, change, version=version)

    def annotate(self, incident_id: str, event: str, *, by: str, note: str | None = None,
                 version: tuple[int, int] | None = None, retries: int = 0, **fields: Any) -> dict:
        """Set top-level ``fields`` and record ``event`` in the history (category, confirm, action, ...)."""

        def change(document: dict) -> None:
            document.update(fields)
            document["status_history"].append({"at": now_iso(), "by": by, "event": event, "note": note,
                                                **{k: v for k, v in fields.items() if isinstance(v, (str, int, float))}})

        return self.update(incident_id, change, version=version, retries=retries)

    def set_category(self, incident_id: str, category: str, *, by: str, note: str | None = None) -> dict:
        """Operator-set category (overrides the rule)."""
        if category not in CATEGORIES:
            raise IncidentError(f"unknown category {category!r}; one of {', '.join(CATEGORIES)}")
        return self.annotate(incident_id, "category", by=by, note=note, category=category, category_source="operator")

    def confirm(self, incident_id: str, cause: str, *, by: str, note: str | None = None) -> dict:
        """Record the true root cause; the incident then counts as a labelled case."""
        document, _ = self.get(incident_id)
        ranked = [r["service"] for r in document.get("ranking") or []]
        confirmed = {"service": cause, "by": by, "at": now_iso(), "note": note,
                     "rank_in_ranking": ranked.index(cause) + 1 if cause in ranked else None}
        return self.annotate(incident_id, "confirm", by=by, note=note, confirmed_cause=confirmed)


def _merge(document: dict, incident: dict) -> None:
    """Fold a re-finding into the stored incident: widen the window, add the finding, keep the history."""
    if incident["finding_ids"][0] in document["finding_ids"]:
        return
    document["finding_ids"].append(incident["finding_ids"][0])
    document["occurrences"] = len(document["finding_ids"])
    document["window_start"] = min(document["window_start"], incident["window_start"], key=parse_time)
    document["window_end"] = max(document["window_end"], incident["window_end"], key=parse_time)
    if incident.get("first_anomalous_at") and document.get("first_anomalous_at"):
        document["first_anomalous_at"] = min(document["first_anomalous_at"], incident["first_anomalous_at"], key=parse_time)
    document["template_ids"] = sorted(set(document["template_ids"]) | set(incident["template_ids"]))
    traces = document["reproduction"]["trace_ids"]
    traces += [t for t in incident["reproduction"]["trace_ids"] if t not in traces][: max(0, 20 - len(traces))]
    for key in ("errors_window", "lines_window"):
        document["impact"][key] = document["impact"].get(key, 0) + incident["impact"].get(key, 0)
    document["status_history"].append({"at": now_iso(), "by": "logrca", "event": "refound",
                                       "note": f"found again in {incident['window_start']} .. {incident['window_end']}"})
