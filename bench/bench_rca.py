"""Time the RCA analysis over a dataset and say where the time goes, per stage of :func:`logrca.rca.case_analysis.analyse_case`.

Run: .venv/bin/python bench/bench_rca.py ../shared/data/rca/trainticket
Baseline in the same run: a log-only "errors per service" ranking over the same loaded cases, for the ratio.
The trace-pattern attribution (rca/trace_patterns.py) is timed inside "window signals" and "own noise".
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path

import polars as pl

from logrca.rca.case_analysis import analyse_case
from logrca.rca.cases import label_free_copy, load_case


def main(dataset: Path) -> None:
    normal = (
        sorted(p for p in (dataset / "normal").iterdir() if p.is_dir())
        if (dataset / "normal").is_dir()
        else []
    )
    spent: dict[str, float] = defaultdict(float)
    baseline_seconds = 0.0
    cases = sorted(p for p in (dataset / "cases").iterdir() if p.is_dir())
    if not cases:
        raise SystemExit(f"{dataset}: no case folders under 'cases/'")
    slowest = (0.0, "")
    for case_dir in cases:
        with label_free_copy(case_dir) as view:
            t = time.perf_counter()
            case = load_case(view, normal_dirs=normal)
            spent["load (csv-json reader, spans, metrics)"] += time.perf_counter() - t
        t = time.perf_counter()
        errors = (
            case.events.filter(pl.col("timestamp") >= case.alert_time, pl.col("level") == "ERROR")
            .group_by("service")
            .len()
        )
        errors.sort("len", descending=True)
        baseline_seconds += time.perf_counter() - t
        t = time.perf_counter()
        analyse_case(case, timings=spent)
        slowest = max(slowest, (time.perf_counter() - t, case_dir.name))
    total = sum(spent.values())
    print(
        f"{len(cases)} cases, {total:.1f} s load + analysis, {total / len(cases):.2f} s/case (goal < 5 s/case); "
        f"slowest analysis {slowest[0]:.2f} s ({slowest[1]})"
    )
    for stage, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {stage:45} {seconds:6.2f} s  {100 * seconds / total:4.0f} %")
    print(
        f"baseline (errors per service on the loaded frames): {baseline_seconds / len(cases) * 1000:.1f} ms/case; "
        f"full path / baseline = {total / max(baseline_seconds, 1e-9):.0f}x"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/rca/trainticket"))
