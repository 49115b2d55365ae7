"""An incident case made larger: the pipeline's steps per line and per span as the case grows K times.

The incident cases are small (about 8k log lines and 14k spans). This bench copies one case of a
dataset (``cases/<name>``, with its ``normal/`` folders) K times over, each copy with its own trace
ids (the TraceID column of the logs and the spans gets a suffix per copy), so that a case of K times
the lines and spans has the same shape: the same services, calls and fault. Each size is run as
``logrca eval rca`` runs a case (:func:`logrca.pipelines.case_run.run_case`: the pipeline's own
assets on an ephemeral Dagster instance), and its step times are read from the instance.

Baselines in the same run, per size:

- the floor: the log files (the case's and the fault-free minutes') split into polars columns of
  lines, nothing parsed (as ``bench/bench_ingest.py``'s floor), against ``ingest_logs``;
- the smallest size: each step's seconds per line (``ingest_logs``, ``log_templates``) or per span
  (``ingest_spans``, ``analyse``) over the smallest size's, so a cost that grows faster than the data
  shows as a ratio above 1 (fixed costs amortised make it fall below 1).

Usage: ``.venv/bin/python bench/bench_case_scale.py ../shared/data/rca/trainticket [--case NAME] [--sizes 1,4,16]``
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

#: The steps reported, and what their cost is counted per.
STEPS = {
    "ingest_logs": "line",
    "log_templates": "line",
    "ingest_spans": "span",
    "analyse": "span",
    "rca_report": "span",
}


def replicate(source: Path, target: Path, times: int) -> tuple[int, int]:
    """Copy a case folder with its logs and traces ``times`` over (new trace ids per copy); returns (lines, spans)."""
    counts = {"logs": 0, "traces": 0}
    for kind in counts:
        if not (source / kind).is_dir():
            continue
        (target / kind).mkdir(parents=True)
        for path in sorted((source / kind).glob("*.csv*")):
            frame = pl.read_csv(path, infer_schema=False)
            copies = [
                frame.with_columns(pl.col("TraceID") + f"{copy:04x}") if copy else frame
                for copy in range(times)
            ]
            out = pl.concat(copies)
            counts[kind] += out.height
            with gzip.open(target / kind / f"{path.name.removesuffix('.gz')}.gz", "wb", 1) as handle:
                out.write_csv(handle)
    for item in source.iterdir():
        if item.is_file():
            shutil.copy(item, target / item.name)
        elif item.name not in counts:
            shutil.copytree(item, target / item.name)
    return counts["logs"], counts["traces"]


def floor_seconds(logs: Path) -> float:
    """Seconds to split the case's log files into polars columns of lines, nothing parsed."""
    from bench_ingest import floor

    from logrca.parsers.ingest.sources import SourceConfig

    source = SourceConfig(name="logs", paths=["*"], format="csv-json")
    began = time.perf_counter()
    floor(sorted(logs.glob("*.csv*")), source)
    return time.perf_counter() - began


def run_size(dataset: Path, case: str, times: int, tmp: Path) -> dict:
    from dagster import DagsterInstance

    from logrca.pipelines.case_run import run_case
    from logrca.rca.cases import label_free_copy

    root = tmp / f"x{times}"
    lines, spans = replicate(dataset / "cases" / case, root / "cases" / case, times)
    for normal in sorted((dataset / "normal").iterdir()) if (dataset / "normal").is_dir() else []:
        more_lines, more_spans = replicate(normal, root / "normal" / normal.name, times)
        lines, spans = lines + more_lines, spans + more_spans  # the fault-free minutes are read too
    case_dir = root / "cases" / case
    floor = sum(floor_seconds(logs) for logs in root.glob("*/*/logs"))
    with DagsterInstance.ephemeral() as instance, label_free_copy(case_dir) as view:
        began = time.perf_counter()
        run = run_case(view, normal_dirs=sorted((root / "normal").glob("*")), instance=instance)
        total = time.perf_counter() - began
        steps = {
            s.step_key: (s.end_time or 0) - (s.start_time or 0)
            for s in instance.get_run_step_stats(run.run_id)
        }
    top = run.ranking["service"][0] if run.ranking.height else "none"
    shutil.rmtree(root)  # the next size's copy fits beside no other
    return {
        "times": times,
        "lines": lines,
        "spans": spans,
        "total": total,
        "steps": steps,
        "floor": floor,
        "top": top,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dataset", type=Path, help="a dataset folder with cases/ (and normal/)")
    parser.add_argument("--case", default=None, help="the case folder's name (default: the first)")
    parser.add_argument("--sizes", default="1,4,16", help="how many times over, comma-separated")
    args = parser.parse_args()
    cases = sorted(p.name for p in (args.dataset / "cases").iterdir() if p.is_dir())
    if not cases:
        raise SystemExit(f"{args.dataset}: no case folders under 'cases/'")
    case = args.case or cases[0]
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    results = []
    with tempfile.TemporaryDirectory(prefix="logrca-bench-scale-") as tmp:
        for times in sizes:
            results.append(run_size(args.dataset, case, times, Path(tmp)))
            report(results[-1])
    print()
    print(f"per-unit seconds over the x{sizes[0]} case's (above 1: grows faster than the data)")
    first = results[0]
    for result in results[1:]:
        cells = []
        for step, unit in STEPS.items():
            if step in result["steps"] and step in first["steps"]:
                now = result["steps"][step] / result[f"{unit}s"]
                then = first["steps"][step] / first[f"{unit}s"]
                cells.append(f"{step} {now / then:.2f}")
        print(f"  x{result['times']}: " + ", ".join(cells))


def report(result: dict) -> None:
    steps, lines, spans = result["steps"], result["lines"], result["spans"]
    print(
        f"x{result['times']}: {lines:,} log lines, {spans:,} spans (case and fault-free minutes); "
        f"case run {result['total']:.1f}s, "
        f"top suspect {result['top']}"
    )
    for step, unit in STEPS.items():
        if step in steps:
            count = lines if unit == "line" else spans
            print(f"  {step:14} {steps[step]:6.2f}s {count / max(steps[step], 1e-9):>12,.0f} {unit}s/s")
    ingest = steps.get("ingest_logs")
    if ingest and result["floor"]:
        print(
            f"  floor (lines split, nothing parsed) {result['floor']:.2f}s; "
            f"ingest_logs/floor {ingest / result['floor']:.1f}x"
        )


if __name__ == "__main__":
    main()
