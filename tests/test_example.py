"""The bundled example is reproducible and holds what the README promises."""

from __future__ import annotations

import subprocess
import sys

from logrca import PROJECT_ROOT

GENERATE = PROJECT_ROOT / "examples" / "shop" / "generate.py"


def run(out):
    subprocess.run([sys.executable, str(GENERATE), str(out)], check=True, capture_output=True)
    return {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_generator_is_seeded_and_writes_rotated_files_in_three_formats(tmp_path):
    first, second = run(tmp_path / "a"), run(tmp_path / "b")
    assert first == second
    names = {str(p) for p in first}
    assert {"gateway/gateway.log", "gateway/gateway.log.1", "gateway/gateway.log.2.gz"} <= names
    assert {p.parts[0] for p in first} == {"gateway", "checkout", "payments", "inventory", "db"}
    checkout = first[next(p for p in first if str(p) == "checkout/checkout.log")]
    assert b"\tat com.shop.checkout.OrderService" in checkout  # a multi-line stack trace
    assert first[next(p for p in first if str(p) == "inventory/inventory.log")].startswith(b"<1")  # syslog
