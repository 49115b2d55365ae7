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


def _repeated_ids(lines: pl.DataFrame) -> pl.DataFrame:
    """``lines`` whose trace id may occur more than once: a lone line makes no call.

    Equal ids have equal hashes, so every repeated id is kept (a rare collision keeps a lone line,
    which the grouping after this drops). Sorting the 64-bit hashes and comparing neighbours costs a
    tenth of grouping the text ids, and where most requests log one line it leaves little to group.
    When at least half the lines would be kept (each repeated id holds two lines or more), they all are.
    """
    hashes = lines["trace_id"].hash()
    ordered = hashes.sort()
    repeated = ordered.filter(ordered == ordered.shift(1)).unique()
    if 4 * repeated.len() >= hashes.len():  # at least half the lines kept: filtering gains nothing
        return lines
    return lines.filter(hashes.is_in(repeated.implode()))


def _infer_from_events(events: pl.DataFrame) -> dict[tuple[str, str], int]:
    """Calls inferred from trace ids in logs: a service whose lines enclose another's in a trace calls it.

    Within a trace each service's lines make one stretch (its first and last timestamp). In the order
    the stretches begin (on a tie the longer first, then by name) the first is the trace's entry; each
    later stretch is called by the latest-beginning earlier stretch that encloses it, else by the entry.
    One self-join per trace of its few services, in polars: a Python loop over traces took minutes for
    an hour of millions of requests.
    """
    if "trace_id" not in events.columns:
        return {}
    traced = events.filter(pl.col("trace_id").is_not_null() & pl.col("service").is_not_null())
    stretches = (
        _repeated_ids(traced)
        .group_by("trace_id", "service")
        .agg(pl.col("timestamp").min().alias("first"), pl.col("timestamp").max().alias("last"))
        .filter(pl.len().over("trace_id") > 1)
        .sort("trace_id", "first", "last", "service", descending=[False, False, True, False])
        .with_columns(order=pl.int_range(pl.len(), dtype=pl.UInt32).over("trace_id"))
    )
    entries = stretches.filter(pl.col("order") == 0).select("trace_id", entry="service")
    children = stretches.filter(pl.col("order") > 0)
    enclosing = (
        children.join(stretches, on="trace_id", suffix="_caller")
        .filter(
            (pl.col("order_caller") < pl.col("order"))
            & (pl.col("first_caller") <= pl.col("first"))
            & (pl.col("last_caller") >= pl.col("last"))
        )
        .group_by("trace_id", "order")
        .agg(pl.col("service_caller").sort_by("order_caller").last().alias("caller"))
    )
    calls = (
        children.join(enclosing, on=["trace_id", "order"], how="left")
        .join(entries, on="trace_id")
        .group_by(pl.coalesce("caller", "entry").alias("caller"), pl.col("service").alias("callee"))
        .len()
    )
    return {(caller, callee): n for caller, callee, n in calls.iter_rows()}


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
