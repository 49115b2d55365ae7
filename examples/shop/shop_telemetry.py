"""Spans (OTLP JSON, as the OpenTelemetry Collector's file exporter writes them) and Prometheus scrapes of the shop.

Used by ``generate.py``; seeded through the ``random.Random`` it is given, so the bytes repeat.
"""

from __future__ import annotations

import gzip
import json
import random
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

#: The pod of each service (the same names the logs carry where they name a host).
PODS = {
    "gateway": "gw-1",
    "checkout": "checkout-5c4b-1",
    "payments": "payments-7d9f-2",
    "inventory": "inv-1",
    "db": "db-0",
}
SERVER, CLIENT = 2, 3  # OTLP SpanKind
BATCH = timedelta(seconds=10)  # the collector's batch processor flushes about this often
#: Resident memory of each pod at start, in MB; CPU use of each pod at rest, in cores.
MEMORY_MB = {"gateway": 180, "checkout": 610, "payments": 420, "inventory": 250, "db": 1200}
IDLE_CPU = {"gateway": 0.04, "checkout": 0.09, "payments": 0.05, "inventory": 0.04, "db": 0.10}
#: CPU seconds per request served, per service.
CPU_PER_REQUEST = {"gateway": 0.002, "checkout": 0.02, "payments": 0.03, "inventory": 0.004, "db": 0.0}


def nanos(at: datetime) -> str:
    """OTLP/JSON writes 64-bit integers as decimal strings."""
    return str(int(at.timestamp()) * 1_000_000_000 + at.microsecond * 1000)


class Telemetry:
    """Collects spans and per-minute CPU load while the shop is simulated; writes them as files."""

    def __init__(self, rng: random.Random, start: datetime) -> None:
        self.rng, self.start = rng, start
        self.spans: list[tuple[datetime, str, dict]] = []  # (end, service, OTLP span)
        self.busy: dict[tuple[str, int], float] = defaultdict(float)  # (service, minute) -> CPU seconds
        self.latency: dict[tuple[str, int], list[float]] = defaultdict(list)  # server span seconds

    def new_id(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    def span(
        self,
        service: str,
        trace: str,
        parent: str | None,
        name: str,
        *,
        kind: int,
        begin: datetime,
        end: datetime,
        error: bool = False,
        span_id: str | None = None,
    ) -> str:
        """Record one span; returns its id (the parent of the spans it calls)."""
        span_id = span_id or self.new_id()
        span = {
            "traceId": trace,
            "spanId": span_id,
            "parentSpanId": parent or "",
            "name": name,
            "kind": kind,
            "startTimeUnixNano": nanos(begin),
            "endTimeUnixNano": nanos(end),
            "status": {"code": 2} if error else {},
        }
        self.spans.append((end, service, span))
        if kind == SERVER:
            minute = int((begin - self.start).total_seconds() // 60)
            self.latency[(service, minute)].append((end - begin).total_seconds())
            self.busy[(service, minute)] += CPU_PER_REQUEST[service]
        return span_id

    def write_spans(self, out: Path, hours: int, broken_line: tuple[int, str] | None = None) -> int:
        """One ``ExportTraceServiceRequest`` per line, a batch per 10 s; files rotate hourly like the
        collector's file exporter with ``rotation`` and ``compress`` (older files ``traces-<time>.jsonl.gz``)."""
        folder = out / "spans"
        folder.mkdir(parents=True, exist_ok=True)
        self.spans.sort(key=lambda item: (item[0], item[2]["spanId"]))
        for hour in range(hours):
            begin, end = self.start + timedelta(hours=hour), self.start + timedelta(hours=hour + 1)
            batches: dict[int, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
            for at, service, span in self.spans:
                if begin <= at < end:
                    batches[int((at - begin) / BATCH)][service].append(span)
            lines = [
                json.dumps(self._request(batches[key]), separators=(",", ":")) for key in sorted(batches)
            ]
            if broken_line is not None and broken_line[0] == hour:
                lines.append(broken_line[1])  # the collector was killed in the middle of a write
            body = "".join(line + "\n" for line in lines).encode()
            if hour == hours - 1:
                (folder / "traces.jsonl").write_bytes(body)
                continue
            name = f"traces-{end.strftime('%Y-%m-%dT%H-%M-%S')}.000.jsonl"
            with (
                open(folder / f"{name}.gz", "wb") as raw,
                gzip.GzipFile(name, "wb", fileobj=raw, mtime=0) as gz,
            ):
                gz.write(body)
        return len(self.spans)

    @staticmethod
    def _request(by_service: dict[str, list[dict]]) -> dict:
        return {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [
                            {"key": "service.name", "value": {"stringValue": service}},
                            {"key": "k8s.pod.name", "value": {"stringValue": PODS[service]}},
                            {"key": "k8s.namespace.name", "value": {"stringValue": "shop"}},
                        ]
                    },
                    "scopeSpans": [{"scope": {"name": "shop-otel", "version": "1.4.0"}, "spans": spans}],
                }
                for service, spans in sorted(by_service.items())
            ]
        }

    def write_metrics(
        self,
        out: Path,
        hours: int,
        *,
        cpu_limit: dict[str, tuple[timedelta, timedelta]],
        restarts: dict[str, timedelta],
        broken_sample: tuple[int, str] | None = None,
    ) -> int:
        """Prometheus text dumps of one scrape a minute (``/federate`` style, timestamps in ms), a file an hour.

        ``cpu_limit`` pins a service's CPU at its one-core limit between two offsets (starvation); a
        ``restarts`` offset gives the pod a start-up burst and fresh memory (a rollout).
        """
        folder = out / "metrics"
        folder.mkdir(parents=True, exist_ok=True)
        samples = 0
        memory = {service: mb * 1e6 for service, mb in MEMORY_MB.items()}
        for hour in range(hours):
            families: dict[str, list[str]] = defaultdict(list)
            for minute in range(hour * 60, hour * 60 + 60):
                offset, stamp = timedelta(minutes=minute), int((self.start.timestamp() + 60 * minute) * 1000)
                for service, pod in PODS.items():
                    labels = f'service="{service}",pod="{pod}"'
                    cpu = IDLE_CPU[service] + self.busy[(service, minute)] / 60 + self.rng.uniform(0, 0.02)
                    limited = cpu_limit.get(service)
                    if limited and limited[0] <= offset < limited[1]:
                        cpu = self.rng.uniform(0.97, 1.0)
                    restart = restarts.get(service)
                    if restart is not None and restart <= offset < restart + timedelta(minutes=2):
                        cpu, memory[service] = self.rng.uniform(0.5, 0.7), MEMORY_MB[service] * 0.8e6
                    memory[service] += self.rng.uniform(-0.3e6, 0.4e6)
                    families["process_cpu_usage"].append(f"process_cpu_usage{{{labels}}} {cpu:.4f} {stamp}")
                    families["process_resident_memory_bytes"].append(
                        f"process_resident_memory_bytes{{{labels}}} {memory[service]:.0f} {stamp}"
                    )
                    durations = sorted(self.latency.get((service, minute), []))
                    if durations:
                        p99 = durations[min(len(durations) - 1, int(0.99 * len(durations)))]
                        families["http_server_requests_seconds"].append(
                            f'http_server_requests_seconds{{{labels},quantile="0.99"}} {p99:.4f} {stamp}'
                        )
            lines = []
            for family, (kind, text) in FAMILIES.items():
                lines += [f"# HELP {family} {text}", f"# TYPE {family} {kind}", *families[family]]
                samples += len(families[family])
            if broken_sample is not None and broken_sample[0] == hour:
                lines.append(broken_sample[1])
            body = "".join(line + "\n" for line in lines).encode()
            name = f"federate-{(self.start + timedelta(hours=hour)).strftime('%Y%m%dT%H%MZ')}.prom"
            if hour == 0 and hours > 1:
                with (
                    open(folder / f"{name}.gz", "wb") as raw,
                    gzip.GzipFile(name, "wb", fileobj=raw, mtime=0) as gz,
                ):
                    gz.write(body)
            else:
                (folder / name).write_bytes(body)
        return samples


FAMILIES = {
    "process_cpu_usage": ("gauge", "Recent CPU usage of the process, in cores (1.0 = the pod's limit)"),
    "process_resident_memory_bytes": ("gauge", "Resident memory size in bytes"),
    "http_server_requests_seconds": ("summary", "Duration of HTTP server request handling"),
}
