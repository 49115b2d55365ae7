"""Pictures of a finding: the service map with the propagation path, and template rates over time (PNG bytes)."""

from __future__ import annotations

import io
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

import networkx as nx
import polars as pl

__all__ = [
    "PictureDrawing",
    "evidence_series",
    "finding_pictures",
    "per_minute_rates",
    "service_map_png",
    "template_rates_png",
]

_CHANGE_COLOURS = {
    "deploy": "#7b3294",
    "version_change": "#7b3294",
    "restart": "#e66101",
    "config_reload": "#008837",
}


def _use_agg() -> None:
    """Agg before anything imports pyplot (networkx's drawing does): the pipeline runs headless."""
    import matplotlib

    matplotlib.use("Agg")


def _figure(width: float, height: float):
    """A figure and its axes, without pyplot: no global figure list, so a worker thread may draw."""
    _use_agg()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    return fig, fig.subplots()


#: zlib level of the pictures' PNG (1 fastest, 9 smallest).
PNG_COMPRESS_LEVEL = 1


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    # tight_layout leaves a placeholder layout engine, for which savefig draws the whole figure once
    # more (text and ticks laid out, nothing rasterised) before drawing it; without an engine it
    # draws it once, to the same pixels.
    fig.set_layout_engine(None)
    # zlib level 1 instead of Pillow's 6: the same pixels (PNG is lossless), 0.01-0.05 s less per
    # picture (service map / 8-line chart) for 12-17% more bytes
    fig.savefig(buffer, format="png", pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    return buffer.getvalue()


def _layers(graph: nx.DiGraph) -> dict[str, int]:
    """Depth of each service from the entry points (callers left, callees right); cycles are cut."""
    depth: dict[str, int] = {}
    roots = [n for n in graph if graph.in_degree(n) == 0] or sorted(graph.nodes)[:1]
    for root in sorted(roots):
        for node, distance in nx.single_source_shortest_path_length(graph, root).items():
            depth[node] = max(depth.get(node, 0), distance) if node not in roots else 0
    for node in graph:
        depth.setdefault(node, 0)
    return depth


def service_map_png(graph: nx.DiGraph, scores: dict[str, float], path: list[str]) -> bytes:
    """The caller -> callee service map: node colour by anomaly score, the propagation path in red.

    Parameters
    ----------
    graph : nx.DiGraph
        :func:`logrca.rca.graph.service_dependency_graph`; services only in ``scores`` are added.
    scores : dict
        Anomaly score per service (any non-negative scale; drawn relative to the largest).
    path : list of str
        The propagation path from the root cause up to the entry point (``ranking[0].path``); its
        first service is ringed as the most likely root cause.
    """
    graph = graph.copy()
    graph.add_nodes_from(scores)
    graph.add_nodes_from(path)
    fig, ax = _figure(8.0, 4.8)
    if graph.number_of_nodes() == 0:
        ax.text(0.5, 0.5, "no services", ha="center")
        ax.axis("off")
        return _png(fig)
    nx.set_node_attributes(graph, _layers(graph), "layer")
    positions = nx.multipartite_layout(graph, subset_key="layer", align="vertical")
    top = max(scores.values(), default=0.0) or 1.0
    nodes = sorted(graph.nodes)
    colours = [min(max(scores.get(n, 0.0), 0.0) / top, 1.0) for n in nodes]
    on_path = {(path[i + 1], path[i]) for i in range(len(path) - 1)}  # caller -> callee along the path
    plain = [e for e in graph.edges if e not in on_path and e[0] != e[1]]
    nx.draw_networkx_edges(
        graph, positions, edgelist=plain, ax=ax, edge_color="#999999", arrows=True, node_size=2200
    )
    nx.draw_networkx_edges(
        graph, positions, edgelist=sorted(on_path & set(graph.edges)), ax=ax, edge_color="#d7191c",
        width=3.0, arrows=True, arrowsize=18, node_size=2200,
    )  # fmt: skip
    drawn = nx.draw_networkx_nodes(
        graph, positions, nodelist=nodes, node_color=colours, cmap="Reds", vmin=0.0, vmax=1.0,
        node_size=2200, edgecolors=["#d7191c" if path and n == path[0] else "#444444" for n in nodes],
        linewidths=[3.5 if path and n == path[0] else 1.0 for n in nodes], ax=ax,
    )  # fmt: skip
    for node, shade in zip(nodes, colours, strict=True):
        nx.draw_networkx_labels(
            graph, positions, labels={node: f"{node}\n{scores.get(node, 0.0):.1f}"}, font_size=8, ax=ax,
            font_color="white" if shade > 0.6 else "black",
        )  # fmt: skip
    fig.colorbar(drawn, ax=ax, shrink=0.7, label="anomaly (relative to the highest)")
    ax.set_title("Service map: caller → callee; red path = propagation from the likely root cause")
    ax.axis("off")
    return _png(fig)


def per_minute_rates(
    events: pl.DataFrame, service: str, template_id: int, *, start: datetime, end: datetime
) -> pl.DataFrame:
    """Lines per minute of one template of one service, every minute from ``start`` to ``end`` (zeros kept).

    Returns
    -------
    pl.DataFrame
        ``minute`` (UTC, aligned to the minute), ``lines`` (UInt32).
    """
    stamp = pl.col("timestamp").cast(pl.Datetime("us", "UTC"))
    counts = (
        events.filter((pl.col("service") == service) & (pl.col("template_id") == template_id))
        .group_by(stamp.dt.truncate("1m").alias("minute"))
        .agg(pl.len().alias("lines"))
    )
    minutes = pl.datetime_range(
        pl.lit(start).cast(pl.Datetime("us", "UTC")).dt.truncate("1m"),
        pl.lit(end).cast(pl.Datetime("us", "UTC")),
        "1m",
        closed="left",
        eager=True,
    ).alias("minute")
    return minutes.to_frame().join(counts, on="minute", how="left").with_columns(pl.col("lines").fill_null(0))


def template_rates_png(
    events: pl.DataFrame,
    series: list[tuple[str, int, str]],
    *,
    window: tuple[datetime, datetime],
    changes: pl.DataFrame | None = None,
) -> bytes:
    """Per-minute rate of each evidence template before and during ``window``, with change events marked.

    Parameters
    ----------
    events : pl.DataFrame
        Mined events of the baseline and the window (``timestamp, service, template_id``).
    series : list of (service, template_id, label)
        The templates to draw (the top evidence), at most about six for a readable legend.
    window : (start, end)
        The analysed window, shaded.
    changes : pl.DataFrame, optional
        :func:`logrca.rca.changes.detect_changes` rows; each is a dashed vertical line with its kind.
    """
    fig, ax = _figure(9.0, 5.0)
    start = events["timestamp"].min() if not events.is_empty() else window[0]
    for service, template_id, label in series:
        rates = per_minute_rates(events, service, template_id, start=start, end=window[1])
        ax.plot(rates["minute"].to_list(), rates["lines"].to_list(), label=f"{service}: {label[:60]}", lw=1.4)
    ax.axvspan(window[0], window[1], color="#fdae61", alpha=0.15, label="analysed window")
    if changes is not None and not changes.is_empty():
        for row in changes.filter(pl.col("timestamp") >= start).head(12).iter_rows(named=True):
            colour = _CHANGE_COLOURS.get(row["kind"], "#000000")
            ax.axvline(row["timestamp"], color=colour, ls="--", lw=1.2)
            tag = f"{row['service']} {row['kind'].replace('_', ' ')} {row.get('version') or ''}".strip()
            ax.annotate(tag, (row["timestamp"], 1.0), xycoords=("data", "axes fraction"), rotation=90,
                        va="top", ha="right", fontsize=7, color=colour)  # fmt: skip
    ax.set_ylabel("lines per minute")
    ax.set_title(
        "Top evidence templates per minute; dashed lines = change events (deploys, restarts, reloads)"
    )
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
    fig.autofmt_xdate()
    return _png(fig)


def evidence_series(ranking: list[dict], templates: int) -> list[tuple[str, int, str]]:
    """The ``templates`` strongest evidence templates of a finding's ranking: ``(service, template_id, label)``, best first."""
    evidence = sorted(
        (
            (e["score"], r["service"], e["template_id"], e["template"] or e["kind"])
            for r in ranking
            for e in r["evidence"]
            if e.get("template_id") is not None
        ),
        key=lambda item: -item[0],
    )
    series, seen = [], set()
    for _, service, template_id, label in evidence:
        if (service, template_id) not in seen and len(series) < templates:
            seen.add((service, template_id))
            series.append((service, int(template_id), label))
    return series


class PictureDrawing:
    """A finding's pictures drawn on one worker thread, in the order asked, while the caller goes on.

    Drawing is Python holding the GIL; reading Parquet and building the finding are mostly polars,
    which releases it. So the pipeline starts the service map as soon as the ranking is known and the
    timeline once the events are read, and collects the PNGs (:meth:`result`) when it writes the report.

    Parameters
    ----------
    ranking : list of dict
        The finding's ``ranking`` entries (``service``, ``anomaly_score``, ``path``, ``evidence``).
    """

    def __init__(self, ranking: list[dict]) -> None:
        self._ranking = ranking
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="logrca-pictures")
        self._drawn: dict[str, Future] = {}

    def service_map(self, graph: nx.DiGraph) -> None:
        """Draw ``service-map``: :func:`service_map_png` of the ranking's scores and the top path."""
        top = self._ranking[0]
        scores = {r["service"]: float(r.get("anomaly_score") or 0.0) for r in self._ranking}
        path = top["path"] or [top["service"]]
        self._drawn["service-map"] = self._pool.submit(service_map_png, graph, scores, path)

    def template_rates(
        self,
        events: pl.DataFrame,
        *,
        window: tuple[datetime, datetime],
        changes: pl.DataFrame | None = None,
        templates: int = 4,
    ) -> None:
        """Draw ``template-rates`` of the ``templates`` strongest evidence templates (none without any)."""
        series = evidence_series(self._ranking, templates)
        if series and not events.is_empty():
            self._drawn["template-rates"] = self._pool.submit(
                template_rates_png, events, series, window=window, changes=changes
            )

    def result(self) -> dict[str, bytes]:
        """The PNGs by file-name stem, once drawn (a drawing's error is raised here)."""
        try:
            return {name: drawn.result() for name, drawn in self._drawn.items()}
        finally:
            self._pool.shutdown()


def finding_pictures(
    finding: dict,
    graph: nx.DiGraph,
    events: pl.DataFrame,
    *,
    window: tuple[datetime, datetime],
    changes: pl.DataFrame | None = None,
    templates: int = 4,
) -> dict[str, bytes]:
    """The pictures of a finding, by file-name stem: ``service-map`` and ``template-rates`` (PNG bytes).

    ``events`` are the baseline's and the window's mined events; the timeline draws the ``templates``
    strongest evidence templates of the finding (across services, best first). The drawing of
    :class:`PictureDrawing`, waited for.
    """
    drawing = PictureDrawing(finding["ranking"])
    drawing.service_map(graph)
    drawing.template_rates(events, window=window, changes=changes, templates=templates)
    return drawing.result()
