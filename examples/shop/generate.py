"""Generate the bundled example: three hours of logs of a small shop, with one incident.

Seeded, so every run writes the same bytes. Five services in three formats:

- gateway   JSON lines (access log with trace ids)
- checkout  Loghub-style header, Java, multi-line stack traces, local time Europe/Berlin
- payments  JSON lines
- inventory syslog (RFC 5424)
- db        PostgreSQL-style header (``2026-03-10 00:00:01.123 UTC [4242] LOG:  ...``)

The incident: at 02:18 UTC inventory rolls out release v2.4.0, whose stock cache answers
reservations with 0 units. Inventory logs this only at INFO ("0 of 2 units"), while checkout throws
(ERROR + stack trace) and the gateway returns 500s; payments sees fewer charges. At 02:50
inventory rolls back to v2.3.9. True root cause: inventory. Files rotate hourly
(``x.log.2.gz``, ``x.log.1``, ``x.log``) and carry two bad lines (a truncated JSON record and a
non-UTF-8 byte) that must land in quarantine.

Usage: ``python examples/shop/generate.py [OUT_DIR] [--hours 3] [--rate 2.0]``
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

START = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)
RELEASE_AT = timedelta(hours=2, minutes=18)
ROLLBACK_AT = timedelta(hours=2, minutes=50)
BERLIN = ZoneInfo("Europe/Berlin")
SERVICES = ("gateway", "checkout", "payments", "inventory", "db")
USERS = [f"user{n:04d}" for n in range(400)]
SKUS = [f"SKU-{n:05d}" for n in range(1, 250)]
PRODUCT_PATHS = ["/api/products", "/api/products/{sku}", "/api/cart", "/api/search?q={word}"]
WORDS = ["shoes", "lamp", "coffee", "desk", "chair", "cable", "phone", "bag"]


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


def inventory_version(offset: timedelta) -> str:
    return "v2.4.0" if RELEASE_AT <= offset < ROLLBACK_AT else "v2.3.9"


def simulate_checkout(w: Writer, rng: random.Random, at: datetime, trace: str, broken: bool) -> int:
    """One checkout request across services; returns the HTTP status the gateway answers."""
    user, order = rng.choice(USERS), f"ord-{rng.randrange(10**7):07d}"
    thread = rng.randrange(1, 40)
    items = [(rng.choice(SKUS), rng.randint(1, 3)) for _ in range(rng.randint(1, 3))]
    t = at + timedelta(milliseconds=rng.randint(1, 5))
    w.add(
        "checkout",
        t,
        checkout_line(
            t,
            "INFO",
            thread,
            "c.s.checkout.OrderService",
            f"Creating order {order} for {user} with {len(items)} items trace_id={trace}",
        ),
    )
    for sku, qty in items:
        t += timedelta(milliseconds=rng.randint(2, 9))
        pid = 3100 + rng.randrange(8)
        w.add(
            "db",
            t,
            db_line(
                t,
                5000 + rng.randrange(30),
                "LOG",
                f"duration: {rng.uniform(0.3, 4.0):.3f} ms  statement: SELECT qty FROM stock WHERE sku = '{sku}' FOR UPDATE",
            ),
        )
        if broken and rng.random() < 0.7:
            w.add(
                "inventory",
                t,
                syslog_line(
                    t,
                    6,
                    "inv-1",
                    "inventory",
                    pid,
                    f"Reservation for order {order} trace_id={trace}: 0 of {qty} units of {sku} reserved (stock cache {inventory_version(t - START)})",
                ),
            )
            t += timedelta(milliseconds=rng.randint(3, 12))
            w.add(
                "checkout",
                t,
                checkout_line(
                    t,
                    "ERROR",
                    thread,
                    "c.s.checkout.OrderService",
                    f"Checkout failed for order {order} trace_id={trace}",
                ),
            )
            w.add(
                "checkout",
                t,
                f"java.lang.IllegalStateException: inventory reserved 0 of {qty} units for {sku}",
            )
            for frame in (
                "com.shop.checkout.OrderService.reserveItems(OrderService.java:142)",
                "com.shop.checkout.OrderService.checkout(OrderService.java:88)",
                "com.shop.checkout.api.CheckoutController.post(CheckoutController.java:41)",
                "org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:897)",
            ):
                w.add("checkout", t, f"\tat {frame}")
            return 500
        left = rng.randint(0, 500)
        w.add(
            "inventory",
            t,
            syslog_line(
                t,
                6,
                "inv-1",
                "inventory",
                pid,
                f"Reserved {qty} units of {sku} for order {order} trace_id={trace} (stock left {left})",
            ),
        )
        if left < 5:
            w.add(
                "inventory",
                t,
                syslog_line(t, 4, "inv-1", "inventory", pid, f"Low stock for {sku}: {left} units left"),
            )
    amount = rng.randint(500, 40000) / 100
    t += timedelta(milliseconds=rng.randint(5, 20))
    w.add(
        "payments",
        t,
        payments_json(
            t,
            "INFO",
            f"Charging {amount:.2f} EUR card ****{rng.randrange(10000):04d} for order {order}",
            trace,
        ),
    )
    w.add(
        "db",
        t,
        db_line(
            t,
            5000 + rng.randrange(30),
            "LOG",
            f"duration: {rng.uniform(0.5, 6.0):.3f} ms  statement: INSERT INTO payments (order_id, amount) VALUES ('{order}', {amount:.2f})",
        ),
    )
    t += timedelta(milliseconds=rng.randint(80, 400))
    if rng.random() < 0.01:
        w.add(
            "payments",
            t,
            payments_json(t, "WARN", f"Card declined for order {order}: insufficient funds", trace),
        )
        w.add(
            "checkout",
            t,
            checkout_line(
                t,
                "WARN",
                thread,
                "c.s.checkout.OrderService",
                f"Payment declined for order {order} trace_id={trace}",
            ),
        )
        return 402
    w.add(
        "payments",
        t,
        payments_json(
            t,
            "INFO",
            f"Payment pay-{rng.randrange(10**8):08d} authorized for order {order} in {rng.randint(80, 400)} ms",
            trace,
        ),
    )
    w.add(
        "checkout",
        t,
        checkout_line(
            t,
            "INFO",
            thread,
            "c.s.checkout.OrderService",
            f"Order {order} confirmed, total {amount:.2f} EUR trace_id={trace}",
        ),
    )
    return 200


def generate(out: Path, *, hours: int = 3, rate: float = 2.0, seed: int = 7) -> dict[str, int]:
    """Write the example logs under ``out``; returns lines per service."""
    rng = random.Random(seed)
    w = Writer()
    end = START + timedelta(hours=hours)
    at = START
    while at < end:
        at += timedelta(seconds=rng.expovariate(rate))
        offset = at - START
        trace = f"{rng.getrandbits(64):016x}"
        if rng.random() < 0.25:
            broken = RELEASE_AT + timedelta(minutes=2) <= offset < ROLLBACK_AT
            status = simulate_checkout(w, rng, at, trace, broken)
            took = rng.randint(120, 600)
            level = "ERROR" if status >= 500 else "INFO"
            w.add(
                "gateway",
                at + timedelta(milliseconds=took),
                gateway_json(
                    at + timedelta(milliseconds=took),
                    level,
                    f"POST /api/checkout {status} {took}ms",
                    trace,
                    status=status,
                    upstream="checkout",
                ),
            )
        else:
            path = rng.choice(PRODUCT_PATHS).format(sku=rng.choice(SKUS), word=rng.choice(WORDS))
            took = rng.randint(3, 60)
            w.add("gateway", at, gateway_json(at, "INFO", f"GET {path} 200 {took}ms", trace, status=200))
    # Background noise on every service, independent of traffic.
    for minute in range(hours * 60):
        t = START + timedelta(minutes=minute, seconds=rng.uniform(0, 59))
        w.add("gateway", t, gateway_json(t, "DEBUG", "GET /healthz 200 1ms", None, status=200))
        w.add(
            "db",
            t,
            db_line(
                t,
                61,
                "LOG",
                f"checkpoint complete: wrote {rng.randint(10, 900)} buffers ({rng.uniform(0, 5):.1f}%); write={rng.uniform(0.1, 30):.3f} s",
            ),
        )
        if minute % 5 == 0:
            w.add(
                "payments",
                t,
                payments_json(
                    t, "INFO", f"Refreshed FX rates from provider in {rng.randint(40, 300)} ms", None
                ),
            )
            w.add(
                "db",
                t,
                db_line(
                    t,
                    62,
                    "LOG",
                    f'automatic vacuum of table "shop.public.stock": index scans: 1, pages: {rng.randint(0, 40)} removed',
                ),
            )
        if minute % 10 == 3:
            w.add(
                "inventory",
                t,
                syslog_line(
                    t,
                    6,
                    "inv-1",
                    "inventory",
                    3100,
                    f"Stock cache refreshed: {rng.randint(1200, 1400)} SKUs in {rng.randint(100, 900)} ms",
                ),
            )
        if rng.random() < 0.02:
            w.add(
                "checkout",
                t,
                checkout_line(
                    t,
                    "WARN",
                    rng.randrange(1, 40),
                    "c.s.checkout.http.Client",
                    f"Slow response from payments: {rng.randint(1000, 3000)} ms",
                ),
            )
    for offset, version in ((RELEASE_AT, "v2.4.0"), (ROLLBACK_AT, "v2.3.9")):
        t = START + offset
        if t < end:
            w.add(
                "inventory",
                t,
                syslog_line(
                    t,
                    5,
                    "inv-1",
                    "inventory",
                    3100,
                    f"Starting inventory-service {version} (build 2026-03-0{9 if version == 'v2.4.0' else 1})",
                ),
            )
            w.add(
                "inventory",
                t,
                syslog_line(
                    t,
                    6,
                    "inv-1",
                    "inventory",
                    3100,
                    f"Stock cache loaded {rng.randint(1200, 1400)} SKUs (format {'2' if version == 'v2.4.0' else '1'})",
                ),
            )
    # Two damaged records: a JSON line cut off mid-write and a line with a byte that is not UTF-8.
    t = START + timedelta(minutes=37, seconds=12)
    w.add(
        "payments",
        t,
        b'{"ts": ' + str(int(t.timestamp() * 1000)).encode() + b', "severity": "INFO", "msg": "Charging 12.',
    )
    t = START + timedelta(hours=1, minutes=12, seconds=3)
    w.add(
        "checkout",
        t,
        checkout_line(t, "INFO", 3, "c.s.checkout.OrderService", "Customer note: Gr").encode()
        + b"\xfc\xdf dich",
    )
    return w.write(out, hours)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "out",
        nargs="?",
        type=Path,
        default=Path(__file__).parent / "logs",
        help="output folder (default: examples/shop/logs)",
    )
    parser.add_argument(
        "--hours",
        type=int,
        default=3,
        help="hours of logs from 2026-03-10T00:00Z (default 3; the incident is in hour 3)",
    )
    parser.add_argument("--rate", type=float, default=2.0, help="gateway requests per second (default 2.0)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    counts = generate(args.out, hours=args.hours, rate=args.rate, seed=args.seed)
    print(json.dumps({"out": str(args.out), "lines": counts, "total": sum(counts.values())}))


if __name__ == "__main__":
    main()
