"""A larger example system for benchmarks: 12 services, millions of lines per hour, one incident.

Vectorized (numpy + polars) so millions of lines are written in seconds. Half the services write
JSON lines, half a Loghub-style header (``<Date> <Time> <Level> [<Thread>] <Component>: <Content>``).
The incident, in the last generated hour from minute 35 to 50: ``inventory`` ships a release whose
reservations return 0 units (ERROR lines of a new template), ``checkout`` then fails orders and
``gateway`` answers 500s; ``inventory``'s normal "Reserved" lines drop. True root cause: inventory.

Usage: ``python bench/landing_generator.py OUT_DIR [--hours 2] [--lines-per-hour 3000000]``
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import yaml

START = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)
#: service -> (format, share of traffic, callees)
SERVICES = {
    "gateway": ("jsonl", 0.16, ["auth", "catalog", "search", "cart", "checkout", "recommendations"]),
    "auth": ("loghub", 0.10, ["db"]),
    "catalog": ("jsonl", 0.11, ["db"]),
    "search": ("loghub", 0.09, ["catalog"]),
    "cart": ("jsonl", 0.08, ["inventory"]),
    "checkout": ("loghub", 0.08, ["payments", "inventory", "shipping", "notifications"]),
    "payments": ("jsonl", 0.06, ["db"]),
    "inventory": ("loghub", 0.08, ["db"]),
    "shipping": ("jsonl", 0.05, []),
    "notifications": ("loghub", 0.05, []),
    "recommendations": ("jsonl", 0.06, ["catalog"]),
    "db": ("loghub", 0.08, []),
}
NORMAL = [
    ("INFO", "Handled {} request {} for user{} in {} ms trace_id={}"),
    ("INFO", "Cache hit ratio {} percent for pool {} after {} lookups ({} evictions) trace_id={}"),
    ("DEBUG", "Connection {} returned to pool {} after {} ms, {} active trace_id={}"),
    ("INFO", "Reserved {} units of SKU-{} for order {} (stock left {}) trace_id={}"),
    ("WARN", "Slow call to {} took {} ms for request {} retry {} trace_id={}"),
]
WEIGHTS = np.array([0.45, 0.2, 0.2, 0.1, 0.05])
INCIDENT = {
    "inventory": (
        "ERROR",
        "Reservation for order {} failed: stock cache returned 0 of {} units of SKU-{} (release v9.1.{}) trace_id={}",
    ),
    "checkout": (
        "ERROR",
        "Checkout failed for order {}: inventory reserved 0 of {} units for SKU-{} attempt {} trace_id={}",
    ),
    "gateway": ("ERROR", "POST /api/checkout 500 {} ms order {} items {} region {} trace_id={}"),
}


def _messages(rng: np.random.Generator, template: str, n: int, service: str) -> pl.Expr:
    parts = [
        pl.lit(service)
        if i == 0 and "{} request" in template
        else pl.lit(rng.integers(1, 99999, n)).cast(pl.Utf8)
        for i in range(template.count("{}") - 1)
    ]
    return pl.format(template, *parts, pl.col("trace"))


def service_hour(
    rng: np.random.Generator, service: str, hour: int, lines: int, *, incident: bool
) -> pl.DataFrame:
    """One service's lines of one hour: columns ``ts`` (Datetime UTC), ``level``, ``message``, ``trace``."""
    begin = START + timedelta(hours=hour)
    chunks = []
    choice = rng.choice(len(NORMAL), size=lines, p=WEIGHTS / WEIGHTS.sum())
    for index, (level, template) in enumerate(NORMAL):
        n = int((choice == index).sum())
        offsets = rng.integers(0, 3_600_000_000, n)
        if (
            incident and service == "inventory" and "Reserved" in template
        ):  # reservations fail during the incident
            keep = ~((offsets >= 35 * 60_000_000) & (offsets < 50 * 60_000_000) & (rng.random(n) < 0.7))
            offsets, n = offsets[keep], int(keep.sum())
        chunks.append(_chunk(rng, begin, offsets, level, template, service))
    if incident and service in INCIDENT:
        level, template = INCIDENT[service]
        n = lines // 40
        offsets = rng.integers(
            35 * 60_000_000 + (0 if service == "inventory" else 20_000_000), 50 * 60_000_000, n
        )
        chunks.append(_chunk(rng, begin, offsets, level, template, service))
    return pl.concat(chunks).sort("ts")


def _chunk(
    rng, begin: datetime, offsets: np.ndarray, level: str, template: str, service: str
) -> pl.DataFrame:
    n = len(offsets)
    frame = pl.DataFrame(
        {
            "ts": pl.Series(offsets, dtype=pl.Int64),
            "trace": pl.Series(rng.integers(1 << 40, 1 << 44, n)).cast(pl.Utf8),
        }
    )
    return frame.select(
        (pl.lit(begin) + pl.duration(microseconds=pl.col("ts"))).alias("ts"),
        pl.lit(level).alias("level"),
        _messages(rng, template, n, service).alias("message"),
        pl.col("trace"),
    )


def render(frame: pl.DataFrame, service: str, fmt: str) -> pl.Series:
    """Lines of text in the service's format."""
    if fmt == "jsonl":
        return frame.select(
            pl.concat_str(
                [
                    pl.lit('{"timestamp":"'),
                    pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
                    pl.lit('","level":"'),
                    pl.col("level"),
                    pl.lit(f'","service":"{service}","host":"{service}-1","message":"'),
                    pl.col("message"),
                    pl.lit('","trace_id":"'),
                    pl.col("trace"),
                    pl.lit('"}'),
                ]
            )
        ).to_series()
    return frame.select(
        pl.format(
            "{} {} [worker-{}] c.example.{}.Handler: {}",
            pl.col("ts").dt.strftime("%Y-%m-%d %H:%M:%S,%3f"),
            pl.col("level").str.pad_end(5),
            (pl.col("ts").dt.microsecond() % 16).cast(pl.Utf8),
            pl.lit(service),
            "message",
        )
    ).to_series()


def generate(out: Path, *, hours: int = 2, lines_per_hour: int = 3_000_000, seed: int = 11) -> dict[str, int]:
    """Write ``hours`` hourly files per service under ``out/<service>/<service>-<HH>.log``; the last hour holds the incident."""
    rng = np.random.default_rng(seed)
    counts: dict[str, int] = {}
    for hour in range(hours):
        for service, (fmt, share, _) in SERVICES.items():
            frame = service_hour(rng, service, hour, int(lines_per_hour * share), incident=hour == hours - 1)
            folder = out / service
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{service}-{hour:02d}.log"
            path.write_text("\n".join(render(frame, service, fmt).to_list()) + "\n")
            counts[service] = counts.get(service, 0) + frame.height
    return counts


def write_config(out: Path, logs: Path, *, hours: int, topology: bool = True) -> Path:
    """A logrca config for the generated system (hourly partitions, one baseline partition).

    Without ``topology`` the config names no topology file: the service graph is inferred from the
    trace ids of the lines, as for a system without a declared topology and without spans.
    """
    header = "<Date> <Time> <Level> \\[<Thread>\\] <Component>: <Content>"
    sources = []
    for service, (fmt, _, _) in SERVICES.items():
        source = {
            "name": service,
            "service": service,
            "format": fmt,
            "paths": [str(logs / service / f"{service}-*.log")],
        }
        if fmt == "loghub":
            source["header"] = header
        sources.append(source)
    topology_file = out / "topology.yaml"
    topology_file.write_text(
        yaml.safe_dump({"services": {s: {"calls": callees} for s, (_, _, callees) in SERVICES.items()}})
    )
    config = {
        "system": "bigshop",
        "start": START.isoformat(),
        "end": (START + timedelta(hours=hours)).isoformat(),
        "partitions": "hourly",
        "baseline_partitions": 1,
        **({"topology": str(topology_file)} if topology else {}),
        "sources": sources,
    }
    path = out / "logrca.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--hours", type=int, default=2)
    parser.add_argument("--lines-per-hour", type=int, default=3_000_000)
    args = parser.parse_args()
    counts = generate(args.out / "logs", hours=args.hours, lines_per_hour=args.lines_per_hour)
    config = write_config(args.out, args.out / "logs", hours=args.hours)
    print(json.dumps({"config": str(config), "lines": counts, "total": sum(counts.values())}))


if __name__ == "__main__":
    main()
