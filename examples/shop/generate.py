"""Generate the bundled example: three hours of a small shop's logs, spans and metrics, with one incident.

Seeded, so every run writes the same bytes. Five services write logs in three formats:

- gateway   JSON lines (access log with trace ids)
- checkout  Loghub-style header, Java, multi-line stack traces, local time Europe/Berlin
- payments  JSON lines
- inventory syslog (RFC 5424)
- db        PostgreSQL-style header (``2026-03-10 00:00:01.123 UTC [4242] LOG:  ...``)

Every request is traced: ``spans/`` holds OTLP JSON as the OpenTelemetry Collector's file exporter
writes it (one ``ExportTraceServiceRequest`` a line, rotated hourly, older files gzipped), with the
trace ids the log lines carry. ``metrics/`` holds one Prometheus scrape a minute (CPU, resident memory,
p99 request latency per pod), a ``/federate``-style text file an hour.

The incident: from 02:18 to 02:50 UTC payments is starved of CPU (its pod sits at its one-core limit:
a fraud-rule update that backtracks on every charge). Payments logs nothing wrong, only slower
``authorized ... in N ms`` lines; checkout gives up after 2 s and logs ERROR timeouts with stack
traces, and the gateway answers 504. Logs alone point at checkout; the spans (payments' own time) and
the metrics (payments' CPU) point at the true root cause, payments. A red herring: inventory rolled out
v2.4.0 at 01:20, an hour before, without harm. Log files rotate hourly (``x.log.2.gz``, ``x.log.1``,
``x.log``) and carry two bad lines (a truncated JSON record and a non-UTF-8 byte); the spans carry a
line cut off mid-write and the metrics a sample with a broken label: all must land in quarantine.

Usage: ``python examples/shop/generate.py [OUT_DIR] [--hours 3] [--rate 2.0]``
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from shop_logs import START, Writer, checkout_line, db_line, gateway_json, payments_json, syslog_line
from shop_telemetry import CLIENT, SERVER, Telemetry

STARVED_FROM = timedelta(hours=2, minutes=18)  # payments CPU-starved from here ...
STARVED_UNTIL = timedelta(hours=2, minutes=50)  # ... until the fraud rules are reverted
INVENTORY_ROLLOUT = timedelta(hours=1, minutes=20)  # the red herring: a harmless release
PAYMENTS_TIMEOUT = timedelta(milliseconds=2000)  # checkout's read timeout on payments
WIRE = timedelta(microseconds=400)  # one way on the pod network
USERS = [f"user{n:04d}" for n in range(400)]
SKUS = [f"SKU-{n:05d}" for n in range(1, 250)]
PRODUCT_PATHS = ["/api/products", "/api/products/{sku}", "/api/cart", "/api/search?q={word}"]
WORDS = ["shoes", "lamp", "coffee", "desk", "chair", "cable", "phone", "bag"]
TIMEOUT_FRAMES = (
    "java.base/java.net.SocketInputStream.read(SocketInputStream.java:168)",
    "org.apache.hc.core5.http.impl.io.SessionInputBufferImpl.fillBuffer(SessionInputBufferImpl.java:149)",
    "com.shop.checkout.payments.PaymentsClient.charge(PaymentsClient.java:57)",
    "com.shop.checkout.OrderService.checkout(OrderService.java:96)",
    "com.shop.checkout.api.CheckoutController.post(CheckoutController.java:41)",
)


@dataclass
class Call:
    """The parts of one checkout request its calls share."""

    trace: str
    parent: str  # checkout's server span
    order: str
    thread: int


def reserve(
    w: Writer, tel: Telemetry, rng: random.Random, t: datetime, call: Call, sku: str, qty: int
) -> datetime:
    """Checkout asks inventory to reserve ``qty`` of ``sku`` at ``t``; returns when the answer is back."""
    took = timedelta(microseconds=rng.randint(2000, 9000))
    client = tel.span(
        "checkout", call.trace, call.parent, "POST inventory/reserve", kind=CLIENT, begin=t, end=t + took
    )
    tel.span(
        "inventory", call.trace, client, "POST /reserve", kind=SERVER, begin=t + WIRE, end=t + took - WIRE
    )
    pid = 3100 + rng.randrange(8)
    statement = f"SELECT qty FROM stock WHERE sku = '{sku}' FOR UPDATE"
    w.add(
        "db",
        t,
        db_line(
            t,
            5000 + rng.randrange(30),
            "LOG",
            f"duration: {rng.uniform(0.3, 4.0):.3f} ms  statement: {statement}",
        ),
    )
    left = rng.randint(0, 500)
    text = f"Reserved {qty} units of {sku} for order {call.order} trace_id={call.trace} (stock left {left})"
    w.add("inventory", t, syslog_line(t, 6, "inv-1", "inventory", pid, text))
    if left < 5:
        w.add(
            "inventory",
            t,
            syslog_line(t, 4, "inv-1", "inventory", pid, f"Low stock for {sku}: {left} units left"),
        )
    return t + took


def payments_work(
    w: Writer, rng: random.Random, t: datetime, call: Call, amount: float, took: timedelta
) -> bool:
    """Payments charges the card from ``t`` for ``took`` and logs it (never an error); True if declined."""
    card = f"****{rng.randrange(10000):04d}"
    w.add(
        "payments",
        t,
        payments_json(t, "INFO", f"Charging {amount:.2f} EUR card {card} for order {call.order}", call.trace),
    )
    insert = f"INSERT INTO payments (order_id, amount) VALUES ('{call.order}', {amount:.2f})"
    w.add(
        "db",
        t,
        db_line(
            t,
            5000 + rng.randrange(30),
            "LOG",
            f"duration: {rng.uniform(0.5, 6.0):.3f} ms  statement: {insert}",
        ),
    )
    done = t + took
    declined = rng.random() < 0.01
    if declined:
        w.add(
            "payments",
            done,
            payments_json(
                done, "WARN", f"Card declined for order {call.order}: insufficient funds", call.trace
            ),
        )
    else:
        text = f"Payment pay-{rng.randrange(10**8):08d} authorized for order {call.order} in {took // timedelta(milliseconds=1)} ms"
        w.add("payments", done, payments_json(done, "INFO", text, call.trace))
    return declined


def charge(
    w: Writer, tel: Telemetry, rng: random.Random, t: datetime, call: Call, starved: bool
) -> tuple[int, datetime]:
    """Checkout asks payments to charge the order; returns the HTTP status for the gateway and when checkout ends.

    Payments normally answers in 80-400 ms. CPU-starved, every charge takes 6-20 times as long; checkout
    gives up after :data:`PAYMENTS_TIMEOUT` and logs the timeout, while payments logs nothing wrong and
    finishes (and authorizes) the charge after its caller has left.
    """
    amount = rng.randint(500, 40000) / 100
    took = timedelta(milliseconds=rng.randint(80, 400) * (rng.uniform(6, 20) if starved else 1))
    timed_out = took > PAYMENTS_TIMEOUT
    answered = t + (PAYMENTS_TIMEOUT if timed_out else took + 2 * WIRE)
    client = tel.span(
        "checkout",
        call.trace,
        call.parent,
        "POST payments/charge",
        kind=CLIENT,
        begin=t,
        end=answered,
        error=timed_out,
    )
    tel.span("payments", call.trace, client, "POST /charge", kind=SERVER, begin=t + WIRE, end=t + WIRE + took)
    declined = payments_work(w, rng, t + WIRE, call, amount, took)
    component = "c.s.checkout.OrderService"
    if timed_out:
        text = f"Payment call for order {call.order} timed out after {PAYMENTS_TIMEOUT // timedelta(milliseconds=1)} ms trace_id={call.trace}"
        w.add("checkout", answered, checkout_line(answered, "ERROR", call.thread, component, text))
        w.add("checkout", answered, "java.net.SocketTimeoutException: Read timed out")
        for frame in TIMEOUT_FRAMES:
            w.add("checkout", answered, f"\tat {frame}")
        return 504, answered
    if declined:
        text = f"Payment declined for order {call.order} trace_id={call.trace}"
        w.add("checkout", answered, checkout_line(answered, "WARN", call.thread, component, text))
        return 402, answered
    text = f"Order {call.order} confirmed, total {amount:.2f} EUR trace_id={call.trace}"
    w.add("checkout", answered, checkout_line(answered, "INFO", call.thread, component, text))
    return 200, answered


def simulate_checkout(
    w: Writer, tel: Telemetry, rng: random.Random, at: datetime, trace: str, starved: bool
) -> None:
    """One ``POST /api/checkout`` across gateway, checkout, inventory and payments: logs and spans."""
    gateway_span, gateway_client, checkout_span = tel.new_id(), tel.new_id(), tel.new_id()
    call = Call(trace, checkout_span, f"ord-{rng.randrange(10**7):07d}", rng.randrange(1, 40))
    items = [(rng.choice(SKUS), rng.randint(1, 3)) for _ in range(rng.randint(1, 3))]
    begin = t = at + timedelta(milliseconds=rng.randint(1, 5))
    text = f"Creating order {call.order} for {rng.choice(USERS)} with {len(items)} items trace_id={trace}"
    w.add("checkout", t, checkout_line(t, "INFO", call.thread, "c.s.checkout.OrderService", text))
    for sku, qty in items:
        t = reserve(w, tel, rng, t + timedelta(milliseconds=rng.randint(1, 4)), call, sku, qty)
    status, answered = charge(w, tel, rng, t + timedelta(milliseconds=rng.randint(5, 20)), call, starved)
    end = answered + timedelta(milliseconds=rng.randint(1, 3))
    failed = status >= 500
    tel.span(
        "checkout",
        trace,
        gateway_client,
        "POST /checkout",
        kind=SERVER,
        begin=begin,
        end=end,
        error=failed,
        span_id=checkout_span,
    )
    tel.span(
        "gateway",
        trace,
        gateway_span,
        "POST checkout",
        kind=CLIENT,
        begin=at + WIRE,
        end=end + WIRE,
        error=failed,
        span_id=gateway_client,
    )
    replied = end + timedelta(milliseconds=rng.randint(1, 4))
    tel.span(
        "gateway",
        trace,
        None,
        "POST /api/checkout",
        kind=SERVER,
        begin=at,
        end=replied,
        error=failed,
        span_id=gateway_span,
    )
    took = (replied - at) // timedelta(milliseconds=1)
    level = "ERROR" if failed else "INFO"
    extra = {"status": status, "upstream": "checkout"}
    w.add(
        "gateway",
        replied,
        gateway_json(replied, level, f"POST /api/checkout {status} {took}ms", trace, **extra),
    )


def generate(out: Path, *, hours: int = 3, rate: float = 2.0, seed: int = 7) -> dict[str, int]:
    """Write the example logs, spans and metrics under ``out``; returns lines per service, spans and samples."""
    rng = random.Random(seed)
    w, tel = Writer(), Telemetry(random.Random(seed + 1), START)
    end = START + timedelta(hours=hours)
    at = START
    while at < end:
        at += timedelta(seconds=rng.expovariate(rate))
        offset = at - START
        trace = f"{rng.getrandbits(128):032x}"
        if rng.random() < 0.25:
            simulate_checkout(w, tel, rng, at, trace, STARVED_FROM <= offset < STARVED_UNTIL)
        else:
            route = rng.choice(PRODUCT_PATHS)
            path = route.format(sku=rng.choice(SKUS), word=rng.choice(WORDS))
            took = timedelta(milliseconds=rng.randint(3, 60))
            tel.span(
                "gateway", trace, None, f"GET {route.split('?')[0]}", kind=SERVER, begin=at, end=at + took
            )
            text = f"GET {path} 200 {took // timedelta(milliseconds=1)}ms"
            w.add("gateway", at + took, gateway_json(at + took, "INFO", text, trace, status=200))
    background(w, rng, hours)
    rollout = START + INVENTORY_ROLLOUT
    if rollout < end:
        starting = "Starting inventory-service v2.4.0 (build 2026-03-09)"
        w.add("inventory", rollout, syslog_line(rollout, 5, "inv-1", "inventory", 3100, starting))
        loaded = f"Stock cache loaded {rng.randint(1200, 1400)} SKUs (format 2)"
        w.add("inventory", rollout, syslog_line(rollout, 6, "inv-1", "inventory", 3100, loaded))
    damage(w)
    counts = w.write(out, hours)
    cut = '{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"gate'
    counts["spans"] = tel.write_spans(out, hours, broken_line=(min(1, hours - 1), cut))
    broken = 'process_open_fds{service="db",pod="db-0} 112'  # a label value without its closing quote
    counts["metric_samples"] = tel.write_metrics(
        out,
        hours,
        cpu_limit={"payments": (STARVED_FROM, STARVED_UNTIL)},
        restarts={"inventory": INVENTORY_ROLLOUT},
        broken_sample=(0, broken),
    )
    return counts


def background(w: Writer, rng: random.Random, hours: int) -> None:
    """Noise on every service, independent of traffic: health checks, checkpoints, cache refreshes."""
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


def damage(w: Writer) -> None:
    """Two damaged log records: a JSON line cut off mid-write and a line with a byte that is not UTF-8."""
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
        help="hours from 2026-03-10T00:00Z (default 3; the incident is in hour 3)",
    )
    parser.add_argument("--rate", type=float, default=2.0, help="gateway requests per second (default 2.0)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    counts = generate(args.out, hours=args.hours, rate=args.rate, seed=args.seed)
    print(json.dumps({"out": str(args.out), "counts": counts}))


if __name__ == "__main__":
    main()
