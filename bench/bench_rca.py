"""Time `eval rca` over a dataset and say where the time goes (load, templates, detection, traces, metrics, rank).

Run: .venv/bin/python bench/bench_rca.py ../shared/data/rca/trainticket
Baseline in the same run: a log-only "errors per service" ranking over the same loaded cases, for the ratio.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path

import polars as pl

from rca.case_analysis import mine_case_templates
from rca.cases import label_free_copy, load_case
from rca.detect import detect_anomalies
from rca.graph import service_dependency_graph
from rca.rank import rank_root_causes
from rca.signals_metrics import metric_deviations
from rca.signals_traces import edge_changes, network_deviations, request_scale, span_deviations


def main(dataset: Path) -> None:
    normal = sorted(p for p in (dataset / "normal").iterdir() if p.is_dir()) if (dataset / "normal").is_dir() else []
    spent: dict[str, float] = defaultdict(float)
    baseline_seconds = 0.0
    cases = sorted(p for p in (dataset / "cases").iterdir() if p.is_dir())
    for case_dir in cases:
        with label_free_copy(case_dir) as view:
            t = time.perf_counter()
            case = load_case(view, normal_dirs=normal)
            spent["load (csv-json reader, spans, metrics)"] += time.perf_counter() - t
        t = time.perf_counter()
        window = (case.alert_time, case.events["timestamp"].max())
        errors = case.events.filter(pl.col("timestamp") >= window[0], pl.col("level") == "ERROR").group_by("service").len().sort("len", descending=True)
        baseline_seconds += time.perf_counter() - t
        t = time.perf_counter()
        base_events, events = mine_case_templates([case.baseline_events, case.events])
        spent["templates (drain)"] += time.perf_counter() - t
        t = time.perf_counter()
        scale = request_scale(case.spans, case.baseline_spans, window=window)
        anomalies = detect_anomalies(events, window=window, baseline=[(base_events["timestamp"].min(), base_events["timestamp"].max())],
                                     baseline_events=base_events, service_scale=scale)
        spent["log detection"] += time.perf_counter() - t
        t = time.perf_counter()
        graph = service_dependency_graph(spans=pl.concat([case.baseline_spans, case.spans]), events=events)
        edges = edge_changes(case.spans, case.baseline_spans, window=window)
        devs = pl.concat([span_deviations(case.spans, case.baseline_spans, window=window),
                          network_deviations(case.spans, case.baseline_spans, window=window)])
        spent["traces (graph, edges, self time, gaps)"] += time.perf_counter() - t
        t = time.perf_counter()
        metrics = metric_deviations(case.metrics, alert_time=case.alert_time)
        spent["metrics"] += time.perf_counter() - t
        t = time.perf_counter()
        rank_root_causes(graph, anomalies, edge_changes=edges, span_deviations=devs, metric_deviations=metrics)
        spent["ranking"] += time.perf_counter() - t
        del errors
    total = sum(spent.values())
    print(f"{len(cases)} cases, {total:.1f} s analysis, {total / len(cases):.2f} s/case (goal < 5 s/case)")
    for stage, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {stage:42} {seconds:6.2f} s  {100 * seconds / total:4.0f} %")
    print(f"baseline (errors per service on the loaded frames): {baseline_seconds / len(cases) * 1000:.1f} ms/case; "
          f"full analysis / baseline = {total / max(baseline_seconds, 1e-9):.0f}x")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/rca/trainticket"))
