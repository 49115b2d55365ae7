"""Peak memory of one partition's ingest + template mining as the input grows (1x, 4x, 16x).

The input grows the way a live system's does: more hours of rotated files beside the partition
(``examples/shop/generate.py --hours N``). Each measurement runs in a fresh process and reports its
peak RSS (``ru_maxrss``); the baseline in the same run reads every file (``prune_files=False``),
the way ingest worked before files outside the window were skipped. Generated files get the mtime a
live host gives them (the end of their hour), since that is what the pruning reads.

Usage: ``.venv/bin/python bench/bench_memory.py [--rate 2.0] [--sizes 1 4 16]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "shop"

CHILD = r"""
import json, resource, sys, time
from datetime import timedelta
from logrca.assets.config import load_config
from logrca.parsers.ingest.readers import read_sources
config_path, hours, prune = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
config = load_config(config_path)
start = config.start + timedelta(hours=hours - 1)
began = time.perf_counter()
result, per_source = read_sources(config.sources, base_dir=config.base_dir, window=(start, start + timedelta(hours=1)), prune_files=prune)
ingest_s = time.perf_counter() - began
mined, mining_error = None, None
try:
    from logrca.parsers.templates.miner import TemplateMiner, mine_templates
    began = time.perf_counter()
    mined = mine_templates(result.events, TemplateMiner(config.templates))
    mine_s = time.perf_counter() - began
except Exception as error:  # another module's failure is reported, not hidden
    mining_error, mine_s = f"{type(error).__name__}: {error}", 0.0
print(json.dumps({
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "lines_read": result.stats.get("lines_read", 0), "events": result.events.height,
    "files_skipped": sum(s.get("files_skipped_outside_window", 0) for s in per_source.values()),
    "ingest_s": round(ingest_s, 2), "mine_s": round(mine_s, 2), "mining_error": mining_error,
}))
"""


def make_input(folder: Path, hours: int, rate: float) -> Path:
    logs = folder / f"logs-{hours}h"
    subprocess.run(
        [sys.executable, str(EXAMPLE / "generate.py"), str(logs), "--hours", str(hours), "--rate", str(rate)],
        check=True,
        capture_output=True,
    )
    # As on a live host, a rotated file was last modified when its hour ended (the generator writes them all now).
    start = yaml.safe_load((EXAMPLE / "logrca.yaml").read_text())["start"]
    for path in logs.rglob("*.log*"):
        rotation = path.name.split(".log")[1].strip(".").removesuffix(".gz")
        age = int(rotation) if rotation else 0
        closed = start.timestamp() + (hours - age) * 3600 - 0.5  # the last line, just before rotation
        os.utime(path, (closed, closed))
    raw = yaml.safe_load((EXAMPLE / "logrca.yaml").read_text())
    raw.pop("end", None)
    for key in ("topology", "knowledge_base", "catalogue"):
        raw[key] = str(EXAMPLE / raw[key])
    for source in raw["sources"]:
        source["paths"] = [str(logs / Path(path).relative_to("logs")) for path in source["paths"]]
    config = folder / f"logrca-{hours}h.yaml"
    config.write_text(yaml.safe_dump(raw))
    return config


def measure(config: Path, hours: int, prune: bool) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(config), str(hours), "1" if prune else "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rate", type=float, default=2.0, help="gateway requests per second of the generated shop"
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[1, 4, 16], help="hours of history (1x = 1 hour)"
    )
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="logrca-bench-memory-") as tmp:
        for hours in args.sizes:
            config = make_input(Path(tmp), hours, args.rate)
            streamed, baseline = measure(config, hours, prune=True), measure(config, hours, prune=False)
            rows.append({"input": f"{hours}x", "pruned": streamed, "read_all": baseline})
            print(
                f"{hours:>3}x  pruned: {streamed['peak_rss_mb']:7.0f} MB peak, {streamed['lines_read']:>8} lines read, "
                f"{streamed['files_skipped']:>3} files skipped, ingest {streamed['ingest_s']:.2f}s, mine {streamed['mine_s']:.2f}s"
                f"   | read-all baseline: {baseline['peak_rss_mb']:7.0f} MB, {baseline['lines_read']:>8} lines, ingest {baseline['ingest_s']:.2f}s"
                f"   | ratio {baseline['peak_rss_mb'] / streamed['peak_rss_mb']:.2f}x",
                flush=True,
            )
            if streamed["mining_error"]:
                print(f"     mining failed: {streamed['mining_error']}")
    first, last = rows[0]["pruned"]["peak_rss_mb"], rows[-1]["pruned"]["peak_rss_mb"]
    print(
        f"peak RSS {rows[-1]['input']} / {rows[0]['input']}: pruned {last / first:.2f}x, read-all {rows[-1]['read_all']['peak_rss_mb'] / rows[0]['read_all']['peak_rss_mb']:.2f}x"
    )


if __name__ == "__main__":
    main()
