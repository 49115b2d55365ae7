"""Peak memory of template mining (the ``log_templates`` asset) as the partition grows: 1x, 4x, 16x.

The partition grows the way a busier system's does: the example shop generated for one hour at
``--rate`` x size gateway requests per second (``examples/shop/generate.py``), so the hour holds
1x, 4x and 16x the lines. The hour is ingested once (``raw_logs``, ``baseline_logs``, a real
Dagster run, not measured); then each mining run gets a fresh process and a fresh miner and reports
its peak RSS (``VmHWM``):

- streamed: the pipeline's own ``log_templates`` asset materialized by Dagster (the events read from
  their Parquet file a batch at a time, mined batches spilled, the output sunk by dagster-polars);
- whole partition (the baseline, same run): what the asset did before, with the same imports and
  the same mining core: both inputs loaded whole, ``mine_in_batches`` (without parameters, as the
  asset), both outputs written whole.

The streamed side also carries Dagster's run machinery (ephemeral instance, events), so its
numbers are if anything high. The ``log_parameters`` asset (the lines' parameters, taken after the
report from the stored ``log_templates``, a batch at a time) is measured the same way, after the
streamed run. Last lines: the ratios of the largest size's peak RSS to each
smaller one's, for both.

Usage: ``.venv/bin/python bench/bench_memory.py [--rate 16] [--sizes 1 4 16]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "shop"
PARTITION = "2026-03-10-00:00"

CHILD = r"""
import json, re, sys, time
from pathlib import Path
import logrca  # before polars, as in logrca's own processes (its allocator setting)
import polars as pl
from dagster import DagsterInstance, materialize
from logrca.assets.config import load_config
from logrca.assets.resources import PARQUET_WRITE
from logrca.parsers.templates.batches import mine_in_batches
from logrca.parsers.templates.miner import TemplateMiner
from logrca.pipelines.definitions import build_definitions
from logrca.pipelines.environment import deployment_from_env

mode, config_path, data_dir, partition = sys.argv[1:5]
env = {"LOGRCA_CONFIG": config_path, "LOGRCA_DATA_DIR": data_dir, "LOGRCA_EXECUTOR": "in_process"}
deployment = deployment_from_env(env)
config = load_config(config_path)
defs = build_definitions(config, deployment)
parquet = Path(data_dir, "parquet")
quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

def run(selection):
    materialize(defs.assets, selection=selection, partition_key=partition, resources=defs.resources,
                instance=DagsterInstance.ephemeral(), run_config=quiet)

began = time.perf_counter()
if mode == "ingest":
    run(["raw_logs", "quarantined_lines", "baseline_logs"])
elif mode == "streamed":
    run(["log_templates", "baseline_templates"])
elif mode == "parameters":  # after "streamed": log_templates' stored lines, read a batch at a time
    run(["log_parameters"])
else:  # the whole-partition path: both inputs loaded whole, mined, written whole
    state = Path(data_dir, "templates", f"{config.system}.drain3.json")
    miner = TemplateMiner(config.templates.model_copy(update={"state_path": state}))
    outputs = {}
    for name, source in (("baseline_templates", "baseline_logs"), ("log_templates", "raw_logs")):
        # without parameters, as the asset mines (they are the log_parameters asset's, after the report)
        events = pl.read_parquet(parquet / source / f"{partition}.parquet")
        outputs[name] = mine_in_batches(events, miner, with_params=False)
    miner.save(state)
    outputs["log_templates"].group_by("template_id", "template").agg(pl.len())  # the asset's summary
    for name, frame in outputs.items():
        out = Path(data_dir, "whole", name, f"{partition}.parquet")
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(out, compression=PARQUET_WRITE["compression"],
                            compression_level=PARQUET_WRITE["compression_level"], statistics=False)
seconds = time.perf_counter() - began
hwm = re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)
rows = pl.scan_parquet(parquet / "raw_logs" / f"{partition}.parquet").select(pl.len()).collect().item()
print(json.dumps({"peak_rss_mb": int(hwm) / 1024, "seconds": round(seconds, 2), "lines": rows}))
"""


def make_input(folder: Path, size: int, rate: float) -> Path:
    """The shop's first hour at ``rate * size`` requests per second, and a config of that one partition."""
    logs = folder / f"logs-{size}x"
    subprocess.run(
        [sys.executable, str(EXAMPLE / "generate.py"), str(logs), "--hours", "1", "--rate", str(rate * size)],
        check=True,
        capture_output=True,
    )
    raw = yaml.safe_load((EXAMPLE / "logrca.yaml").read_text())
    raw["end"] = "2026-03-10T01:00:00Z"
    for key in ("topology", "knowledge_base", "catalogue"):
        raw[key] = str(EXAMPLE / raw[key])
    for source in raw["sources"]:
        source["paths"] = [str(logs / Path(path).relative_to("logs")) for path in source["paths"]]
    config = folder / f"logrca-{size}x.yaml"
    config.write_text(yaml.safe_dump(raw))
    return config


def child(mode: str, config: Path, data_dir: Path) -> dict:
    """One fresh process running ``mode``; its JSON line (peak RSS, seconds, lines of the partition)."""
    shutil.rmtree(data_dir / "templates", ignore_errors=True)  # every mining run starts from an empty miner
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(config), str(data_dir), PARTITION],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        sys.exit(f"bench_memory: the {mode} run of {config.name} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rate", type=float, default=16.0, help="gateway requests per second at 1x (default 16)"
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[1, 4, 16], help="partition sizes (x the 1x hour)"
    )
    args = parser.parse_args()
    rows = []
    print(
        f"{'size':>4} {'lines':>9} | {'streamed':>9} {'s':>6} | {'whole':>9} {'s':>6} | whole/streamed"
        f" | {'params':>9} {'s':>6}"
    )
    with tempfile.TemporaryDirectory(prefix="logrca-bench-memory-") as tmp:
        for size in args.sizes:
            config, data_dir = make_input(Path(tmp), size, args.rate), Path(tmp, f"data-{size}x")
            child("ingest", config, data_dir)
            streamed = child("streamed", config, data_dir)
            params, whole = child("parameters", config, data_dir), child("whole", config, data_dir)
            rows.append((size, streamed, whole, params))
            print(
                f"{size:>3}x {streamed['lines']:>9,} | {streamed['peak_rss_mb']:6.0f} MB {streamed['seconds']:6.1f} "
                f"| {whole['peak_rss_mb']:6.0f} MB {whole['seconds']:6.1f} "
                f"| {whole['peak_rss_mb'] / streamed['peak_rss_mb']:.2f}x{'':>10}"
                f" | {params['peak_rss_mb']:6.0f} MB {params['seconds']:6.1f}",
                flush=True,
            )
            shutil.rmtree(data_dir)
            shutil.rmtree(Path(tmp, f"logs-{size}x"))
    last, streamed, whole, params = rows[-1]
    for size, small_streamed, small_whole, small_params in rows[:-1]:
        print(
            f"peak RSS {last}x / {size}x: streamed {streamed['peak_rss_mb'] / small_streamed['peak_rss_mb']:.2f}x, "
            f"whole partition {whole['peak_rss_mb'] / small_whole['peak_rss_mb']:.2f}x, "
            f"log_parameters {params['peak_rss_mb'] / small_params['peak_rss_mb']:.2f}x"
        )


if __name__ == "__main__":
    main()
