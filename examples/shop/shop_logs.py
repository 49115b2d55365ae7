"""The shop's log files: a writer that rotates them hourly, and one line formatter per service's format."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

START = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
SERVICES = ("gateway", "checkout", "payments", "inventory", "db")


class Writer:
    """Collects (time, text) lines per service and writes hourly-rotated files."""

    def __init__(self) -> None:
        self.lines: dict[str, list[tuple[datetime, bytes]]] = {s: [] for s in SERVICES}

    def add(self, service: str, at: datetime, text: str | bytes) -> None:
        self.lines[service].append((at, text if isinstance(text, bytes) else text.encode()))

    def write(self, out: Path, hours: int) -> dict[str, int]:
        counts = {}
        for service, rows in self.lines.items():
            rows.sort(key=lambda r: r[0])
            folder = out / service
            folder.mkdir(parents=True, exist_ok=True)
            for hour in range(hours):
                age = hours - 1 - hour
                begin, end = START + timedelta(hours=hour), START + timedelta(hours=hour + 1)
                body = b"".join(t + b"\n" for at, t in rows if begin <= at < end)
                name = f"{service}.log" if age == 0 else f"{service}.log.{age}"
                if age >= 2:
                    with (
                        open(folder / f"{name}.gz", "wb") as raw,
                        gzip.GzipFile(filename=name, mode="wb", fileobj=raw, mtime=0) as gz,
                    ):
                        gz.write(body)
                else:
                    (folder / name).write_bytes(body)
            counts[service] = len(rows)
        return counts


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def checkout_line(at: datetime, level: str, thread: int, component: str, text: str) -> str:
    local = at.astimezone(BERLIN)
    stamp = local.strftime("%Y-%m-%d %H:%M:%S") + f",{local.microsecond // 1000:03d}"
    return f"{stamp} {level:<5} [http-nio-8080-exec-{thread}] {component}: {text}"


def db_line(at: datetime, pid: int, level: str, text: str) -> str:
    return f"{at.strftime('%Y-%m-%d %H:%M:%S')}.{at.microsecond // 1000:03d} UTC [{pid}] {level}:  {text}"


def syslog_line(at: datetime, severity: int, host: str, app: str, pid: int, text: str) -> str:
    return f"<{16 * 8 + severity}>1 {iso(at)} {host} {app} {pid} - - {text}"


def gateway_json(at: datetime, level: str, text: str, trace: str | None, **extra) -> str:
    record = {"timestamp": iso(at), "level": level, "service": "gateway", "host": "gw-1", "message": text}
    if trace:
        record["trace_id"] = trace
    record.update(extra)
    return json.dumps(record)


def payments_json(at: datetime, level: str, text: str, trace: str | None) -> str:
    record = {
        "ts": int(at.timestamp() * 1000),
        "severity": level,
        "msg": text,
        "pod": "payments-7d9f-2",
        "trace": trace,
    }
    return json.dumps(record)
