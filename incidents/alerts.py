"""Alerts for incidents: generic JSON and Slack-compatible webhooks, e-mail over SMTP, escalation.

Each incident event (``opened``, ``escalated-1``, ...) is sent once per incident to the channels the
catalogue names for the owning service, with retries and exponential backoff. Every attempt is
logged on the incident (``deliveries``); a delivery that still fails is kept in
``pending_deliveries`` and retried by :func:`retry_pending` with growing pauses
(the catalogue's ``delivery_retry``: 1, 2, 4 ... minutes, at most 60, 8 rounds) until it goes through or its rounds run
out; then it moves to ``failed_deliveries`` with its last error, recorded, not retried again. An
incident that is no longer open (acknowledged, resolved, ...) has its pending alerts given up the
same way: nobody needs to be woken for it any more.

A webhook's URL is a credential: the incident stores (and ``incident show`` prints) only its
:func:`~logrca.rca.urls.redacted_target`; the URL to post to comes from the catalogue when sending.
"""

from __future__ import annotations

import json
import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage

from logrca.incidents.catalogue import Catalogue, DeliveryRetry, SmtpSettings
from logrca.incidents.record import cause_service, now_iso, parse_time
from logrca.incidents.store import IncidentStore
from logrca.rca.urls import redacted_target

__all__ = [
    "webhook_body",
    "slack_body",
    "email_message",
    "deliveries_for",
    "send",
    "notify",
    "retry_pending",
    "shown_target",
]


def _contact(incident: dict, level: int) -> dict | None:
    contacts = (incident.get("owner") or {}).get("contacts") or []
    return contacts[min(level, len(contacts) - 1)] if contacts else None


def webhook_body(incident: dict, event: str, contact: dict | None) -> dict:
    """The generic JSON body: the event, who is paged, and the incident's key fields."""
    return {
        "event": f"incident.{event}",
        "incident_id": incident["incident_id"],
        "title": incident["title"],
        "status": incident["status"],
        "category": incident.get("category"),
        "system": incident.get("system"),
        "root_cause_service": cause_service(incident),
        "owner_team": (incident.get("owner") or {}).get("team"),
        "contact": contact,
        "escalation_level": (incident.get("escalation") or {}).get("level", 0),
        "window_start": incident["window_start"],
        "window_end": incident["window_end"],
        "detected_at": incident.get("detected_at"),
        "affected_services": incident.get("affected_services"),
        "errors_window": (incident.get("impact") or {}).get("errors_window"),
        "trace_ids": (incident.get("reproduction") or {}).get("trace_ids", [])[:5],
        "actions": [a["name"] for a in incident.get("actions") or []],
    }


def _summary(incident: dict, event: str, contact: dict | None) -> str:
    cause = cause_service(incident)
    who = f" — paging {contact['name']}" if contact else ""
    return (
        f"[{event}] {incident['incident_id']} {incident['title']}\n"
        f"root cause (ranked first): {cause}; category: {incident.get('category')}; "
        f"affected: {', '.join(incident.get('affected_services') or [])}{who}\n"
        f"window {incident['window_start']} .. {incident['window_end']}; "
        f"ack with: logrca incident ack {incident['incident_id']}"
    )


def slack_body(incident: dict, event: str, contact: dict | None) -> dict:
    """A Slack incoming-webhook body (``text`` plus one mrkdwn section block)."""
    text = _summary(incident, event, contact)
    return {
        "text": text.splitlines()[0],
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


def email_message(
    incident: dict, event: str, contact: dict | None, *, sender: str, recipients: list[str]
) -> EmailMessage:
    """The alert e-mail (plain text)."""
    message = EmailMessage()
    message["Subject"] = f"[logrca {event}] {incident['incident_id']}: {incident['title']}"[:200]
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    steps = [s for action in incident.get("suggested_actions") or [] for s in action.get("steps", [])]
    message.set_content(
        _summary(incident, event, contact)
        + ("\n\nSuggested steps:\n- " + "\n- ".join(steps) if steps else "")
    )
    return message


def _contact_shown(contact: dict | None) -> dict | None:
    """The contact as stored on a delivery: its personal webhook redacted."""
    if contact and contact.get("webhook"):
        return {**contact, "webhook": redacted_target(contact["webhook"])}
    return contact


def _urls(catalogue: Catalogue, incident: dict) -> dict[str, str]:
    """The owning service's webhook URLs (channels and contacts) by their redacted target."""
    entry = catalogue.entry((incident.get("owner") or {}).get("service"))
    if entry is None:
        return {}
    urls = [c.url for c in entry.channels if c.url] + [c.webhook for c in entry.contacts if c.webhook]
    return {redacted_target(url): url for url in urls}


def shown_target(delivery: dict) -> str:
    """A delivery's target as stored: e-mail addresses as they are, a webhook redacted (older
    incidents stored it whole)."""
    return delivery["target"] if delivery["channel"] == "email" else redacted_target(delivery["target"])


def deliveries_for(incident: dict, catalogue: Catalogue, event: str) -> list[dict]:
    """The deliveries one event needs: one per channel of the owning service, plus the paged contact's
    webhook. Each webhook's ``target`` is redacted; ``url`` (never stored) is where it posts."""
    entry = catalogue.entry((incident.get("owner") or {}).get("service"))
    if entry is None:
        return []
    level = (incident.get("escalation") or {}).get("level", 0)
    contact = _contact_shown(_contact(incident, level))
    deliveries = []
    for channel in entry.channels:
        if channel.kind == "email":
            recipients = ([contact["email"]] if contact and contact.get("email") else []) + channel.to
            if recipients:
                deliveries.append(
                    {"event": event, "channel": "email", "target": ", ".join(recipients), "contact": contact}
                )
        else:
            target = redacted_target(channel.url)
            deliveries.append(
                {
                    "event": event,
                    "channel": channel.kind,
                    "target": target,
                    "contact": contact,
                    "url": channel.url,
                }
            )
    webhook = entry.contacts[min(level, len(entry.contacts) - 1)].webhook if contact else None
    if webhook:
        deliveries.append(
            {
                "event": event,
                "channel": "webhook",
                "target": redacted_target(webhook),
                "contact": contact,
                "url": webhook,
            }
        )
    return deliveries


def _post_json(url: str, body: dict, timeout: float) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if not 200 <= response.status < 300:
            raise OSError(f"HTTP {response.status}")


def _send_once(delivery: dict, incident: dict, smtp: SmtpSettings) -> None:
    event, contact = delivery["event"], delivery.get("contact")
    if delivery["channel"] != "email" and not delivery.get("url"):
        raise OSError(f"{delivery['target']} is no longer in the catalogue")
    if delivery["channel"] == "webhook":
        _post_json(delivery["url"], webhook_body(incident, event, contact), smtp.timeout_seconds)
    elif delivery["channel"] == "slack":
        _post_json(delivery["url"], slack_body(incident, event, contact), smtp.timeout_seconds)
    else:
        recipients = [address.strip() for address in delivery["target"].split(",")]
        message = email_message(incident, event, contact, sender=smtp.sender, recipients=recipients)
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds) as client:
            if smtp.starttls:
                client.starttls()
            if smtp.username:
                client.login(smtp.username, smtp.password or "")
            client.send_message(message)


def send(
    delivery: dict,
    incident: dict,
    smtp: SmtpSettings,
    *,
    attempts: int = 3,
    base_delay: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """Deliver once with up to ``attempts`` tries, waiting ``base_delay * 2**k`` seconds between them.

    Returns
    -------
    dict
        The delivery (without its ``url``) plus ``ok``, ``attempts`` (tries made now), ``error`` (last
        error text) and ``at``.
    """
    error_text, shown = None, {k: v for k, v in delivery.items() if k != "url"}
    for attempt in range(attempts):
        try:
            _send_once(delivery, incident, smtp)
            return {**shown, "ok": True, "attempts": attempt + 1, "error": None, "at": now_iso()}
        except (OSError, smtplib.SMTPException, urllib.error.URLError) as error:
            error_text = f"{type(error).__name__}: {error}".replace(
                delivery.get("url") or "\0", shown["target"]
            )
            if attempt + 1 < attempts:
                sleep(min(base_delay * 2**attempt, 30.0))
    return {**shown, "ok": False, "attempts": attempts, "error": error_text, "at": now_iso()}


def _still_pending(result: dict, retried: list[dict], policy: DeliveryRetry, now: datetime) -> dict:
    earlier = next(
        (d for d in retried if shown_target(d) == result["target"] and d["event"] == result["event"]), {}
    )
    rounds = earlier.get("rounds", 0) + 1
    return {k: result[k] for k in ("event", "channel", "target", "contact", "error")} | {
        "total_attempts": earlier.get("total_attempts", 0) + result["attempts"],
        "rounds": rounds,
        "next_attempt_at": now_iso(policy.next_attempt(rounds, now)),
    }


def _set_next_delivery(document: dict) -> None:
    times = [p["next_attempt_at"] for p in document["pending_deliveries"] if p.get("next_attempt_at")]
    document["next_delivery_at"] = min(times) if times else None


def _record(
    store: IncidentStore,
    incident_id: str,
    results: list[dict],
    *,
    event: str | None,
    retried: list[dict],
    policy: DeliveryRetry | None = None,
    now: datetime | None = None,
) -> None:
    policy, now = policy or DeliveryRetry(), now or datetime.now(UTC)

    def change(document: dict) -> None:
        document["deliveries"].extend(results)
        keys = {(d["event"], d["channel"], d["target"]) for d in retried}
        pending = [
            p for p in document["pending_deliveries"] if (p["event"], p["channel"], p["target"]) not in keys
        ]
        for result in results:
            if result["ok"]:
                continue
            entry = _still_pending(result, retried, policy, now)
            if entry["rounds"] >= policy.max_rounds:
                document.setdefault("failed_deliveries", []).append(
                    entry
                    | {"gave_up_at": now_iso(now), "reason": f"still failing after {entry['rounds']} rounds"}
                )
            else:
                pending.append(entry)
        document["pending_deliveries"] = pending
        _set_next_delivery(document)
        if event and event not in document["notified_events"]:
            document["notified_events"].append(event)

    store.update(incident_id, change, retries=5)


def notify(
    store: IncidentStore, incident_id: str, catalogue: Catalogue, event: str = "opened", **send_options
) -> list[dict]:
    """Send ``event`` for an incident unless it was sent before (once per incident, not per window).

    Returns the delivery results (empty when already notified). Failures are kept as pending.
    """
    incident, _ = store.get(incident_id)
    if event in incident["notified_events"]:
        return []
    results = [
        send(d, incident, catalogue.smtp, **send_options) for d in deliveries_for(incident, catalogue, event)
    ]
    _record(store, incident_id, results, event=event, retried=[], policy=catalogue.delivery_retry)
    return results


def _give_up(store: IncidentStore, incident: dict, now: datetime) -> None:
    def change(document: dict) -> None:
        document.setdefault("failed_deliveries", []).extend(
            p | {"gave_up_at": now_iso(now), "reason": f"incident {document['status']}: no alert needed"}
            for p in document["pending_deliveries"]
        )
        document["pending_deliveries"] = []
        _set_next_delivery(document)

    store.update(incident["incident_id"], change, retries=5)


def retry_pending(
    store: IncidentStore,
    catalogue: Catalogue,
    *,
    now: datetime | None = None,
    **send_options,
) -> list[dict]:
    """Retry the pending deliveries whose next attempt is due (``catalogue.delivery_retry``).

    Delivered ones leave the pending list; those of incidents no longer ``open`` (acknowledged or
    later) are given up (moved to ``failed_deliveries`` with the reason). Returns this round's delivery results.
    """
    now, results = now or datetime.now(UTC), []
    for found in store.search(query={"exists": {"field": "pending_deliveries.channel"}}):
        incident, _ = store.get(found["incident_id"])  # real time: search may lag a status change
        if incident["status"] != "open":  # someone is on it (or it is over): nobody left to alert
            _give_up(store, incident, now)
            continue
        pending = [
            p
            for p in incident["pending_deliveries"]
            if parse_time(p.get("next_attempt_at") or now_iso(now)) <= now
        ]
        if not pending:
            continue
        urls = _urls(catalogue, incident)
        outcome = [
            send(
                {k: p[k] for k in ("event", "channel", "contact")}
                | {"target": shown_target(p), "contact": _contact_shown(p.get("contact"))}
                | ({} if p["channel"] == "email" else {"url": urls.get(shown_target(p))}),
                incident,
                catalogue.smtp,
                **send_options,
            )
            for p in pending
        ]
        _record(
            store,
            incident["incident_id"],
            outcome,
            event=None,
            retried=pending,
            policy=catalogue.delivery_retry,
            now=now,
        )
        results += outcome
    return results
