"""Benchmark: the cost of secret redaction at ingest, against reading the same file without it.

Builds the example shop's log under one header (``bench_templates.build_shop_input``), with one
line in ``--secret-every`` carrying a secret, then reads it with logrca's reader twice per round
(``read_source`` without and with the default :class:`~logrca.parsers.ingest.secrets.Redactor`),
alternating, and prints the median times, lines/s and the ratio. Both reads must give the same
number of events, and the redacted read must hold no secret.

    .venv/bin/python bench/bench_secrets.py --lines 300000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

SECRET = "Hunter2Hunter2"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--secret-every", type=int, default=1000, help="one line in N carries a secret")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from bench_templates import HEADER, build_shop_input

    from logrca.parsers.ingest.readers import read_source
    from logrca.parsers.ingest.secrets import Redactor, SecretsConfig
    from logrca.parsers.ingest.sources import SourceConfig

    with tempfile.TemporaryDirectory(prefix="logrca-secrets-") as tmp:
        path = Path(tmp) / "shop.log"
        written = build_shop_input(path, args.lines)
        lines = path.read_text(encoding="utf-8").splitlines()
        for i in range(0, len(lines), args.secret_every):
            lines[i] += f" password={SECRET}"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        source = SourceConfig(name="shop", service="shop", format="loghub", header=HEADER, paths=[str(path)])
        redactor = Redactor.from_config(SecretsConfig())
        plain_times, redacted_times = [], []
        for _ in range(args.rounds):
            started = time.perf_counter()
            plain = read_source(source)
            plain_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            redacted = read_source(source, redactor=redactor)
            redacted_times.append(time.perf_counter() - started)
        step_times = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            redactor.redact_result(plain)
            step_times.append(time.perf_counter() - started)
    assert plain.events.height == redacted.events.height
    assert not redacted.events["message"].str.contains(SECRET, literal=True).any()
    assert plain.events["message"].str.contains(SECRET, literal=True).any()
    base, red = statistics.median(plain_times), statistics.median(redacted_times)
    print(f"lines: {written} ({written // args.secret_every} with a secret), rounds: {args.rounds}")
    print(f"read without redaction: {base:.2f} s ({written / base:,.0f} lines/s)")
    print(f"read with redaction:    {red:.2f} s ({written / red:,.0f} lines/s)")
    print(f"ratio (with / without): {red / base:.2f}")
    step = statistics.median(step_times)
    print(
        f"redaction step alone:   {step:.2f} s ({written / step:,.0f} lines/s, {step / base:.0%} of a read)"
    )


if __name__ == "__main__":
    main()
