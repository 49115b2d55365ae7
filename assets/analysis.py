"""Detection, the service dependency graph and the root-cause ranking for one partition."""

from datetime import timedelta

import networkx as nx
import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    MetadataValue,
    Output,
    asset,
)

from logrca.assets.partitions import PartitionPlan
from logrca.assets.resources import PARQUET_WRITE, LogrcaConfigResource
from logrca.rca.changes import detect_changes
from logrca.rca.detect import service_scores
from logrca.rca.graph import load_topology, service_dependency_graph
from logrca.rca.markdown import frame_table
from logrca.rca.rank import rank_root_causes
from logrca.rca.windows import detect_in_window, split_window


def anomalies(context: AssetExecutionContext, logrca: LogrcaConfigResource, log_templates):
    """New templates, rate spikes and drops, error bursts and rule hits per service, scored."""
    config = logrca.load()
    window_events, baseline_events, baseline_count = split_window(log_templates, context.partition_key)
    tw = context.partition_time_window
    found = detect_in_window(
        window_events,
        baseline_events,
        window=(tw.start, tw.end),
        baseline_partitions=baseline_count,
        config=config.detection,
    )
    scores = service_scores(found)
    return Output(
        found,
        metadata={
            "dagster/row_count": found.height,
            "baseline_partitions": baseline_count,
            "service_scores": MetadataValue.json(
                {k: round(v, 2) for k, v in sorted(scores.items(), key=lambda kv: -kv[1])}
            ),
            "top_anomalies": MetadataValue.md(
                frame_table(
                    found.select("service", "kind", "template", "count_baseline", "count_window", "score"),
                    limit=15,
                )
            ),
        },
    )


def change_events(context: AssetExecutionContext, logrca: LogrcaConfigResource, log_templates):
    """Deploys, restarts, version changes and config reloads in the window and its baseline."""
    window_events, baseline_events, _ = split_window(log_templates, context.partition_key)
    frames = [f for f in (baseline_events, window_events) if f is not None]
    changes = detect_changes(
        pl.concat(frames, how="vertical_relaxed") if frames else None, logrca.load().changes
    )
    return Output(
        changes,
        metadata={
            "dagster/row_count": changes.height,
            "changes": MetadataValue.md(
                frame_table(changes.select("timestamp", "service", "kind", "version", "message"))
            ),
        },
    )


def service_graph(
    context: AssetExecutionContext, logrca: LogrcaConfigResource, log_templates: pl.DataFrame
) -> Output[nx.DiGraph]:
    """Caller -> callee graph: the declared topology plus edges inferred from shared request ids."""
    config = logrca.load()
    topology = load_topology(config.resolve(config.topology)) if config.topology else None
    graph = service_dependency_graph(topology=topology, events=log_templates)
    edges = pl.DataFrame(
        [
            {
                "caller": u,
                "callee": v,
                "sources": ", ".join(sorted(d.get("sources", []))),
                "calls": d.get("calls", 0),
            }
            for u, v, d in graph.edges(data=True)
        ],
        schema={"caller": pl.Utf8, "callee": pl.Utf8, "sources": pl.Utf8, "calls": pl.Int64},
    )
    return Output(
        graph,
        metadata={
            "nodes": graph.number_of_nodes(),
            "edges": graph.number_of_edges(),
            "edge_list": MetadataValue.md(frame_table(edges, limit=50)),
        },
    )


def root_causes(
    context: AssetExecutionContext,
    logrca: LogrcaConfigResource,
    anomalies: pl.DataFrame,
    service_graph: nx.DiGraph,
    change_events: pl.DataFrame,
):
    """Services ranked as the likely root cause, with the path to the entry point and why."""
    config = logrca.load()
    ranking = rank_root_causes(
        service_graph,
        anomalies,
        propagation=config.ranking.propagation,
        changes=change_events,
        change_weight=config.changes.weight,
        change_lookback=timedelta(minutes=config.changes.lookback_minutes),
    )
    top = ranking.row(0, named=True) if ranking.height else None
    yield Output(
        ranking,
        metadata={
            "dagster/row_count": ranking.height,
            "top_suspect": top["service"] if top else "none",
            "top_score": round(top["score"], 4) if top else 0.0,
            "ranking": MetadataValue.md(
                frame_table(
                    ranking.select("rank", "service", "score", "first_anomalous", "explanation"), limit=10
                )
            ),
        },
    )
    ranks_ok = ranking["rank"].to_list() == list(range(1, ranking.height + 1))
    scores = ranking["score"].to_list()
    ordered = all(a >= b for a, b in zip(scores, scores[1:])) and all(s >= 0 for s in scores)
    yield AssetCheckResult(
        check_name="ranks_are_consistent", passed=ranks_ok and ordered, metadata={"services": ranking.height}
    )


def analysis_assets(plan: PartitionPlan) -> list:
    """The assets of this module on the partitions of ``plan`` (built with the Definitions)."""
    on_window_and_baseline = {  # a Parquet frame per partition, read with the partitions before it
        "partitions_def": plan.partitions,
        "io_manager_key": "parquet_io",
        "metadata": PARQUET_WRITE,
        "group_name": "logrca",
        "ins": {"log_templates": plan.window_and_baseline},
    }
    return [
        asset(**on_window_and_baseline)(anomalies),
        asset(**on_window_and_baseline)(change_events),
        asset(partitions_def=plan.partitions, group_name="logrca")(service_graph),
        asset(
            partitions_def=plan.partitions,
            io_manager_key="parquet_io",
            metadata=PARQUET_WRITE,
            group_name="logrca",
            check_specs=[
                AssetCheckSpec(
                    "ranks_are_consistent",
                    asset="root_causes",
                    description="ranks run 1..n in order of non-negative scores",
                )
            ],
        )(root_causes),
    ]
