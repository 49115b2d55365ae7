"""Time ``logrca eval rca``'s per-case pipeline run and say where the time goes, per Dagster step.

Run: .venv/bin/python bench/bench_rca.py ../shared/data/rca/trainticket
Each case is materialized as ``logrca eval rca`` does it (:func:`logrca.pipelines.case_run.run_case`,
one ephemeral instance); the steps' durations come from the instance's run stats. Baseline in the
same run: reading the same case's logs and counting errors per service (a log-only ranking), for the ratio.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path

import polars as pl
from dagster import DagsterInstance

from logrca.parsers.ingest.readers import read_sources
from logrca.parsers.ingest.sources import SourceConfig
from logrca.pipelines.case_run import run_case
from logrca.rca.cases import label_free_copy, normal_folders


def _errors_per_service(case_dir: Path) -> pl.DataFrame:
    source = SourceConfig(name="logs", paths=["logs/*.csv*"], format="csv-json")
    events = read_sources([source], base_dir=case_dir)[0].events
    return events.filter(pl.col("level") == "ERROR").group_by("service").len().sort("len", descending=True)


def main(dataset: Path) -> None:
    cases = sorted(p for p in (dataset / "cases").iterdir() if p.is_dir())
    if not cases:
        raise SystemExit(f"{dataset}: no case folders under 'cases/'")
    normal = normal_folders(cases[0])
    spent: dict[str, float] = defaultdict(float)
    total = baseline_seconds = 0.0
    slowest = (0.0, "")
    with DagsterInstance.ephemeral() as instance:
        for case_dir in cases:
            with label_free_copy(case_dir) as view:
                t = time.perf_counter()
                _errors_per_service(view)
                baseline_seconds += time.perf_counter() - t
                t = time.perf_counter()
                run = run_case(view, normal_dirs=normal, instance=instance)
                seconds = time.perf_counter() - t
            total += seconds
            slowest = max(slowest, (seconds, case_dir.name))
            for step in instance.get_run_step_stats(run.run_id):
                spent[step.step_key] += (step.end_time or 0) - (step.start_time or 0)
    steps = sum(spent.values())
    print(
        f"{len(cases)} cases, {total:.1f} s, {total / len(cases):.2f} s/case with Dagster (goal < 5 s/case); "
        f"slowest {slowest[0]:.2f} s ({slowest[1]}); outside the steps (definitions, run setup): "
        f"{(total - steps) / len(cases):.2f} s/case"
    )
    for step, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {step:30} {seconds:6.2f} s  {100 * seconds / total:4.0f} %")
    print(
        f"baseline (read the logs, errors per service): {baseline_seconds / len(cases):.2f} s/case; "
        f"pipeline run / baseline = {total / max(baseline_seconds, 1e-9):.1f}x"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/rca/trainticket"))
