"""Times stored on incidents: ISO-8601 UTC strings, read back and shown as people read them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

__all__ = ["now_iso", "parse_time", "readable_time", "to_iso"]


def now_iso(now: datetime | None = None) -> str:
    """``now`` (default: the current time) as an ISO-8601 UTC string."""
    return (now or datetime.now(UTC)).astimezone(UTC).isoformat()


def to_iso(value: Any) -> str | None:
    """A datetime or ISO text as ISO-8601 UTC (None stays None)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return now_iso(value if value.tzinfo else value.replace(tzinfo=UTC))
    return now_iso(datetime.fromisoformat(str(value).replace("Z", "+00:00")))


def parse_time(value: str) -> datetime:
    """An ISO string stored on an incident, as an aware datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def readable_time(value: Any) -> str:
    """A stored ISO time as a person reads it: ``2026-12-03 09:33:24Z`` (UTC, whole seconds; a space where
    a narrow column may break); ``-`` when unset, the text itself when it is not a time."""
    if not value:
        return "-"
    try:
        moment = parse_time(str(value))
    except ValueError:
        return str(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
