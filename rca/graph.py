"""The service dependency graph: declared topology, trace spans, or calls inferred from trace ids in logs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import networkx as nx
import polars as pl
import yaml

__all__ = ["load_topology", "service_dependency_graph", "span_calls"]


def load_topology(path: Path | str) -> dict[str, list[str]]:
    """Read a topology YAML ``services: {name: {calls: [callee, ...]}}`` into ``{caller: [callees]}``.

    Errors name the file and the offending service.
    """
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: cannot read topology: {error}") from error
    services = (document or {}).get("services") if isinstance(document, dict) else None
    if not isinstance(services, dict):
        raise ValueError(f"{path}: expected a mapping 'services: {{name: {{calls: [...]}}}}'")
    topology: dict[str, list[str]] = {}
    for name, spec in services.items():
        calls = (spec or {}).get("calls", []) if isinstance(spec, dict) or spec is None else None
        if not isinstance(calls, list) or not all(isinstance(c, str) for c in calls):
            raise ValueError(f"{path}: services.{name}.calls must be a list of service names")
        topology[str(name)] = list(calls)
    return topology


def span_calls(spans: pl.DataFrame) -> pl.DataFrame:
    """Join each span to its parent and keep the pairs whose services differ: one row per remote call.

    Returns columns ``caller, callee, trace_id, start, duration_us, error, caller_host, callee_host``.
    """
    missing = {"trace_id", "span_id", "parent_id", "service"} - set(spans.columns)
    if missing:
        raise ValueError(f"span_calls: spans lack columns {sorted(missing)}")
    parents = spans.select(
        "trace_id",
        pl.col("span_id").alias("parent_id"),
        pl.col("service").alias("caller"),
        (pl.col("host") if "host" in spans.columns else pl.lit(None, pl.Utf8)).alias("caller_host"),
    ).unique(["trace_id", "parent_id"])
    children = spans.filter(pl.col("parent_id").is_not_null()).select(
        "trace_id",
        "parent_id",
        pl.col("service").alias("callee"),
        (pl.col("host") if "host" in spans.columns else pl.lit(None, pl.Utf8)).alias("callee_host"),
        *[c for c in ("start", "duration_us", "error") if c in spans.columns],
    )
    calls = children.join(parents, on=["trace_id", "parent_id"], how="inner")
    return calls.filter(pl.col("caller") != pl.col("callee"))


def _infer_from_events(events: pl.DataFrame) -> dict[tuple[str, str], int]:
    """Calls inferred from trace ids in logs: a service whose lines enclose another's in a trace calls it."""
    if "trace_id" not in events.columns:
        return {}
    spans = (
        events.filter(pl.col("trace_id").is_not_null())
        .group_by("trace_id", "service")
        .agg(pl.col("timestamp").min().alias("first"), pl.col("timestamp").max().alias("last"))
    )
    edges: dict[tuple[str, str], int] = {}
    for _, group in spans.sort("first").group_by("trace_id", maintain_order=True):
        rows = group.rows(named=True)
        if len(rows) < 2:
            continue
        entry = rows[0]["service"]
        for i, child in enumerate(rows[1:], start=1):
            enclosing = [r for r in rows[:i] if r["first"] <= child["first"] and r["last"] >= child["last"]]
            caller = enclosing[-1]["service"] if enclosing else entry
            edges[(caller, child["service"])] = edges.get((caller, child["service"]), 0) + 1
    return edges


def _add(graph: nx.DiGraph, caller: str, callee: str, source: str, calls: int) -> None:
    if graph.has_edge(caller, callee):
        graph[caller][callee]["sources"].add(source)
        graph[caller][callee]["calls"] += calls
    else:
        graph.add_edge(caller, callee, sources={source}, calls=calls)


def service_dependency_graph(
    *,
    topology: Mapping[str, list[str]] | Path | str | None = None,
    spans: pl.DataFrame | None = None,
    events: pl.DataFrame | None = None,
) -> nx.DiGraph:
    """Build the caller -> callee graph of services from whatever is known.

    Parameters
    ----------
    topology : mapping or path, optional
        ``{caller: [callee, ...]}`` (see :func:`load_topology`) or the YAML file itself.
    spans : pl.DataFrame, optional
        Trace spans (:data:`logrca.parsers.ingest.schema.SPAN_SCHEMA`); a parent span and a child span on another service make an edge.
    events : pl.DataFrame, optional
        Event frame; every service becomes a node, and when it carries ``trace_id`` calls are inferred
        (used only when neither topology nor spans give edges).

    Returns
    -------
    nx.DiGraph
        Nodes are services; each edge has ``sources`` (set of "declared", "traces", "inferred") and
        ``calls`` (number of calls observed; 0 for declared-only edges).
    """
    graph = nx.DiGraph()
    if isinstance(topology, (str, Path)):
        topology = load_topology(topology)
    for caller, callees in (topology or {}).items():
        graph.add_node(caller)
        for callee in callees:
            _add(graph, caller, callee, "declared", 0)
    if spans is not None and not spans.is_empty():
        graph.add_nodes_from(s for s in spans["service"].unique().to_list() if s)
        counts = span_calls(spans).group_by("caller", "callee").agg(pl.len().alias("calls"))
        for caller, callee, calls in counts.sort("caller", "callee").iter_rows():
            _add(graph, caller, callee, "traces", int(calls))
    if events is not None and not events.is_empty():
        graph.add_nodes_from(s for s in events["service"].unique().to_list() if s)
        if graph.number_of_edges() == 0:
            for (caller, callee), calls in sorted(_infer_from_events(events).items()):
                _add(graph, caller, callee, "inferred", calls)
    return graph
