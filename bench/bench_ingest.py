"""Ingest and log-line documents against their floors, in the same run (issue 17.2).

One generated hour (``bench/landing_generator.py``: 12 services, half JSON lines, half Loghub
headers) is read three ways, each timed in wall and CPU seconds:

- the floor: each file's lines split into a polars column as ``ingest_logs`` splits them, nothing parsed;
- ``read_sources`` as the ``ingest_logs`` asset calls it (window, secrets redaction, all sources);
- the Elasticsearch documents of the read events: the per-line reference (a dict per line through
  ``ecs_fields``, then ``json.dumps``) and ``line_bodies`` (whole columns), both without a server.

Prints lines/s and the ratios, in wall and CPU time (on a shared machine CPU time is the steadier):
ingest's speed over the floor's, and the per-line documents' time over the whole-column ones'.

Usage: ``.venv/bin/python bench/bench_ingest.py [--lines-per-hour 1000000] [--threads N]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def timed(work) -> tuple[object, float, float]:
    """``work()``'s result, wall seconds and CPU seconds (all threads of the process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def floor(paths: list[Path], source) -> int:
    """Lines of ``paths`` as polars columns, nothing parsed; returns how many.

    Read as ``ingest_logs`` reads them before parsing (``text_lines.decoded_batches``: the UTF-8
    check, then polars' CSV reader splitting the lines).
    """
    from logrca.parsers.ingest.files import BATCH_BYTES
    from logrca.parsers.ingest.text_lines import decoded_batches

    return sum(batch.height for path in paths for batch in decoded_batches(path, source, BATCH_BYTES))


def documents_per_line(events: pl.DataFrame) -> int:
    from logrca.rca.log_lines import _line_document, _line_id

    return sum(
        len(_line_id("bench", row)) + len(json.dumps(_line_document("bench", "p", row)))
        for row in events.iter_rows(named=True)
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines-per-hour", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=None, help="read_sources threads (default: CPU count)")
    args = parser.parse_args()

    from landing_generator import START, generate, write_config

    from logrca.assets.config import load_config
    from logrca.parsers.ingest.readers import read_sources
    from logrca.parsers.ingest.secrets import Redactor
    from logrca.rca.log_lines import line_bodies

    with tempfile.TemporaryDirectory(prefix="logrca-bench-ingest-") as tmp:
        logs = Path(tmp) / "logs"
        generate(logs, hours=2, lines_per_hour=args.lines_per_hour)
        for path in logs.rglob("*.log"):  # a file was last written when its hour ended
            closed = START.timestamp() + (int(path.stem.rsplit("-", 1)[1]) + 1) * 3600 - 0.5
            os.utime(path, (closed, closed))
        config = load_config(write_config(Path(tmp), logs, hours=2))
        window = (START + timedelta(hours=1), START + timedelta(hours=2))
        hour = sorted(logs.rglob("*-01.log"))
        lines, floor_wall, floor_cpu = timed(lambda: floor(hour, config.sources[0]))
        result, wall, cpu = timed(
            lambda: read_sources(
                config.sources,
                base_dir=config.base_dir,
                window=window,
                threads=args.threads,
                redactor=Redactor.from_config(config.secrets),
            )[0]
        )
        events = result.events.with_columns(template_id=pl.lit(1, pl.Int64))
        sample = events.head(100_000)
        _, ref_wall, ref_cpu = timed(lambda: documents_per_line(sample))
        _, col_wall, col_cpu = timed(lambda: line_bodies("bench", "p", sample))

    read = result.stats["lines_read"]
    print(f"one hour: {read:,} lines read, {result.events.height:,} events ({lines:,} lines in the files)")
    print(f"  {'step':<34}{'wall s':>8}{'CPU s':>8}{'lines/s':>12}")
    for name, n, w, c in (
        ("floor: decode + split, no parsing", lines, floor_wall, floor_cpu),
        ("read_sources (ingest_logs)", read, wall, cpu),
        ("documents, per line (100k)", sample.height, ref_wall, ref_cpu),
        ("documents, whole columns (100k)", sample.height, col_wall, col_cpu),
    ):
        print(f"  {name:<34}{w:8.2f}{c:8.2f}{n / w:12,.0f}")
    print(
        f"ingest speed / floor speed: wall {floor_wall / lines * read / wall:.2f}x, CPU {floor_cpu / lines * read / cpu:.2f}x"
    )
    print(
        f"documents, whole columns / per line: wall {ref_wall / col_wall:.1f}x, CPU {ref_cpu / col_cpu:.1f}x"
    )


if __name__ == "__main__":
    main()
