"""Incident records: built from a finding, kept in Elasticsearch, moved through their lifecycle.

An incident is one Elasticsearch document (index ``<prefix>-incidents``) with a deterministic id.
Every change is a read-modify-write guarded by ``if_seq_no``/``if_primary_term`` (optimistic
concurrency), so two people changing one incident never lose an update: the second gets
:class:`IncidentConflict` and re-reads.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from elasticsearch import BadRequestError, ConflictError, NotFoundError
from elasticsearch.helpers import scan  # every hit, past the 10,000-hit window of one search

from logrca.incidents.catalogue import CATEGORIES
from logrca.incidents.mapping import MAPPING
from logrca.incidents.record import (
    OPEN_STATUSES,
    STATUSES,
    IncidentConflict,
    IncidentError,
    now_iso,
    same_incident,
)
from logrca.incidents.refile import earlier_filings, merge_refound, refind, supersede

__all__ = ["IncidentStore", "IncidentUnchanged"]


class IncidentUnchanged(Exception):  # noqa: N818 - not a failure: the change asked for is already so
    """The change asked for is already the incident's state: nothing was written (the message says so)."""


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
        if not self.client.indices.exists(index=self.index):
            try:
                self.client.indices.create(
                    index=self.index, mappings=MAPPING, settings={"number_of_replicas": 0}
                )
                return
            except BadRequestError as error:  # created concurrently by another run
                if "resource_already_exists" not in str(error):
                    raise
        # keyed by the concrete index (the name may be an alias)
        mappings = self.client.indices.get_mapping(index=self.index)
        mapped = {name for entry in mappings.values() for name in entry["mappings"].get("properties", {})}
        missing = {name: spec for name, spec in MAPPING["properties"].items() if name not in mapped}
        if missing:  # new fields only: Elasticsearch accepts these on a live index
            self.client.indices.put_mapping(index=self.index, properties=missing)

    def get(self, incident_id: str) -> tuple[dict, tuple[int, int]]:
        """The incident and its version ``(seq_no, primary_term)``; IncidentError when unknown."""
        try:
            response = self.client.get(index=self.index, id=incident_id)
        except NotFoundError as error:
            raise IncidentError(f"no incident {incident_id!r} in index {self.index}") from error
        return response["_source"], (response["_seq_no"], response["_primary_term"])

    def search(
        self,
        *,
        statuses: tuple[str, ...] | None = None,
        service: str | None = None,
        system: str | None = None,
        query: dict | None = None,
        size: int | None = 1000,
    ) -> list[dict]:
        """Incidents matching the filters, newest detection first: the first ``size``, or all (``None``)."""
        if not self.client.indices.exists(index=self.index):
            return []
        matching = _matching(statuses, service, system, query)
        if size is None:
            found = scan(self.client, index=self.index, query={"query": matching})
            return sorted((hit["_source"] for hit in found), key=lambda i: i["detected_at"], reverse=True)
        response = self.client.search(
            index=self.index, query=matching, size=size, sort=[{"detected_at": "desc"}]
        )
        return [hit["_source"] for hit in response["hits"]["hits"]]

    def count(
        self,
        *,
        statuses: tuple[str, ...] | None = None,
        service: str | None = None,
        system: str | None = None,
        query: dict | None = None,
    ) -> int:
        """How many incidents match the filters (:meth:`search`'s): what a listing of the first few leaves out."""
        if not self.client.indices.exists(index=self.index):
            return 0
        return self.client.count(index=self.index, query=_matching(statuses, service, system, query))["count"]

    def newest(
        self, *, statuses: tuple[str, ...] | None = None, service: str | None = None, size: int = 50
    ) -> tuple[list[dict], int]:
        """The newest ``size`` incidents matching the filters, and how many match in all (counted only
        for a full page: a page with room to spare holds every match)."""
        found = self.search(statuses=statuses, service=service, size=size)
        return found, self.count(statuses=statuses, service=service) if len(found) == size else len(found)

    def update(
        self,
        incident_id: str,
        change: Callable[[dict], None],
        *,
        version: tuple[int, int] | None = None,
        retries: int = 0,
    ) -> dict:
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
        for attempt in range(retries + 1):
            document, current = self.get(incident_id)
            expected = version if (version is not None and attempt == 0) else current
            if expected != current:
                raise self._conflict(incident_id, expected, current, document)
            change(document)
            document["updated_at"] = now_iso()
            try:
                self.client.index(
                    index=self.index,
                    id=incident_id,
                    document=document,
                    if_seq_no=expected[0],
                    if_primary_term=expected[1],
                    refresh="wait_for",
                )
                return document
            except ConflictError:
                if attempt == retries:
                    latest, now_version = self.get(incident_id)
                    raise self._conflict(incident_id, expected, now_version, latest) from None
        raise AssertionError("unreachable")

    @staticmethod
    def _conflict(
        incident_id: str, expected: tuple[int, int], current: tuple[int, int], latest: dict
    ) -> IncidentConflict:
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
            templates and an overlapping window now also covers this finding), ``"unchanged"`` (this
            finding was filed before and still makes the same incident) or ``"replaced"`` (it was
            filed before as another incident: a re-run analysed its window differently, and the
            earlier one is superseded; :mod:`logrca.incidents.refile`).
        """
        self.ensure_index()
        filed = self.search(query={"term": {"finding_ids": incident["finding_ids"][0]}}, size=None)
        current, stale = earlier_filings(filed, incident)
        if current is not None:
            return current["incident_id"], "unchanged"
        if stale:
            incident["supersedes"] = [doc["incident_id"] for doc in stale]
        incident_id, outcome = self._file_new(incident)
        for doc in stale:
            self.update(doc["incident_id"], lambda d: supersede(d, incident, by_id=incident_id), retries=5)
        return incident_id, "replaced" if stale else outcome

    def withdraw(self, window: dict) -> list[tuple[str, bool]]:
        """A re-run of ``window`` (``finding_id``, ``analysis_window``) found no incident: take its finding
        out of the incidents an earlier run filed for it (:func:`~logrca.incidents.refile.supersede`).

        Returns ``(incident_id, withdrawn)`` of each: ``withdrawn`` when no finding holds it up any more
        (archived if still ``open``), else it only no longer covers this window.
        """
        filed = self.search(query={"term": {"finding_ids": window["finding_id"]}}, size=None)
        if filed:
            self.ensure_index()  # an index made by an older logrca gets ``withdrawn_at`` mapped
        done = [
            self.update(doc["incident_id"], lambda d: supersede(d, None, window=window), retries=5)
            for doc in filed
        ]
        return [(doc["incident_id"], not doc["finding_ids"]) for doc in done]

    def _file_new(self, incident: dict) -> tuple[str, str]:
        for existing in self.search(statuses=OPEN_STATUSES, system=incident["system"], size=None):
            if same_incident(existing, incident):
                self.update(existing["incident_id"], lambda doc: merge_refound(doc, incident), retries=5)
                return existing["incident_id"], "updated"
        try:
            self.client.create(
                index=self.index, id=incident["incident_id"], document=incident, refresh="wait_for"
            )
        except ConflictError:  # another run created it, or an earlier analysis of the window: fold in
            self.update(incident["incident_id"], lambda doc: refind(doc, incident), retries=5)
            return incident["incident_id"], "updated"
        return incident["incident_id"], "created"

    def transition(
        self,
        incident_id: str,
        status: str,
        *,
        by: str,
        note: str | None = None,
        version: tuple[int, int] | None = None,
        now: datetime | None = None,
    ) -> dict:
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
            if status == current:
                raise IncidentError(f"incident {incident_id} is already {current}")
            if STATUSES.index(status) < STATUSES.index(current):
                raise IncidentError(
                    f"incident {incident_id} is {current!r}; it cannot become {status!r} "
                    f"(order: {' → '.join(STATUSES)})"
                )
            at = now_iso(now)
            document["status"] = status
            document[f"{status}_at"] = at
            document["status_history"].append(
                {"at": at, "by": by, "event": "status", "from": current, "to": status, "note": note}
            )
            if status == "acknowledged" and not (document.get("assignee") or {}).get("name"):
                document["assignee"] = {"name": by, "by": by, "at": at}

        return self.update(incident_id, change, version=version)

    def assign(
        self,
        incident_id: str,
        person: str,
        *,
        by: str,
        team: str | None = None,
        note: str | None = None,
        version: tuple[int, int] | None = None,
        now: datetime | None = None,
    ) -> dict:
        """Assign the incident to ``person`` (and, with ``team``, hand it to another owning team).

        Raises
        ------
        IncidentError
            For an empty name or an archived incident.
        IncidentUnchanged
            When it is already assigned to ``person`` (and ``team``): nothing is written.
        IncidentConflict
            When the incident changed since ``version``.
        """
        if not person.strip():
            raise IncidentError("assign: the assignee's name is empty")
        self.ensure_index()  # an index made by an older logrca gets the assignee fields mapped

        def change(document: dict) -> None:
            if document["status"] == "archived":
                raise IncidentError(f"incident {incident_id} is archived; it can no longer be assigned")
            before = (document.get("assignee") or {}).get("name")
            if before == person and team in (None, (document.get("owner") or {}).get("team")):
                raise IncidentUnchanged(f"already assigned to {person}")
            at = now_iso(now)
            document["assignee"] = {"name": person, "by": by, "at": at}
            entry = {"at": at, "by": by, "event": "assign", "from": before, "to": person, "note": note}
            if team is not None:
                owner = document.setdefault("owner", {})
                entry["team_from"], owner["team"] = owner.get("team"), team
                entry["team"] = team
            document["status_history"].append(entry)

        return self.update(incident_id, change, version=version)

    def annotate(
        self,
        incident_id: str,
        event: str,
        *,
        by: str,
        note: str | None = None,
        version: tuple[int, int] | None = None,
        retries: int = 0,
        **fields: Any,
    ) -> dict:
        """Set top-level ``fields`` and record ``event`` in the history (category, confirm, action, ...)."""

        def change(document: dict) -> None:
            document.update(fields)
            document["status_history"].append(
                {
                    "at": now_iso(),
                    "by": by,
                    "event": event,
                    "note": note,
                    **{k: v for k, v in fields.items() if isinstance(v, (str, int, float))},
                }
            )

        return self.update(incident_id, change, version=version, retries=retries)

    def set_category(self, incident_id: str, category: str, *, by: str, note: str | None = None) -> dict:
        """Operator-set category (overrides the rule)."""
        if category not in CATEGORIES:
            raise IncidentError(f"unknown category {category!r}; one of {', '.join(CATEGORIES)}")
        return self.annotate(
            incident_id, "category", by=by, note=note, category=category, category_source="operator"
        )

    def confirm(
        self,
        incident_id: str,
        cause: str,
        *,
        by: str,
        note: str | None = None,
        known: tuple[str, ...] | set[str] = (),
        force: bool = False,
    ) -> dict:
        """Record the true root cause; the incident then counts as a labelled case.

        Raises
        ------
        IncidentError
            When ``cause`` is none of the incident's services nor of ``known`` (the deployment's), unless
            ``force``. ``confirmed_cause.replaces`` names the cause an earlier confirmation gave.
        """
        from logrca.incidents.confirm import confirmation_change

        return self.update(
            incident_id, confirmation_change(cause, by=by, note=note, known=known, force=force)
        )


def _matching(
    statuses: tuple[str, ...] | None, service: str | None, system: str | None, query: dict | None
) -> dict:
    """The Elasticsearch query of :meth:`IncidentStore.search` and :meth:`IncidentStore.count`."""
    filters: list[dict] = [query] if query else []
    if statuses:
        filters.append({"terms": {"status": list(statuses)}})
    if service:  # the root cause (ranked or confirmed) or an affected service, as 'logrca search -s' reads it
        fields = ("initial_cause.service", "confirmed_cause.service", "service.name", "affected_services")
        filters.append(
            {"bool": {"should": [{"term": {field: service}} for field in fields], "minimum_should_match": 1}}
        )
    if system:
        filters.append({"term": {"system": system}})
    return {"bool": {"filter": filters}}
