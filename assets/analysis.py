"""The analysis of one partition: window and baseline, every signal, the dependency graph and the ranking.

One multi-asset calls :func:`logrca.rca.case_analysis.analyse_case` (the multi-signal method) on the
partition's frames; with no spans or metrics configured it gets empty frames and ranks from logs.
"""

from datetime import timedelta

import networkx as nx
import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetOut,
    DagsterType,
    MetadataValue,
    Output,
    multi_asset,
)

from logrca.assets.changes import change_table, partition_changes
from logrca.assets.mining import STORED_COLUMNS, with_templates
from logrca.assets.partitions import PartitionPlan
from logrca.assets.resources import PARQUET_WRITE, LogrcaConfigResource
from logrca.parsers.ingest.schema import EVENT_SCHEMA, METRIC_SCHEMA
from logrca.rca.case_analysis import CaseAnalysis, analyse_case
from logrca.rca.detect import service_scores
from logrca.rca.detect_rules import quoted_rows, reads_every_message
from logrca.rca.graph import load_topology
from logrca.rca.markdown import frame_table
from logrca.rca.options import AnalysisOptions
from logrca.rca.rank import evidence_rows
from logrca.rca.windows import WindowFrames, window_frames


def analyse(
    context: AssetExecutionContext,
    logrca: LogrcaConfigResource,
    raw_logs,
    log_templates,
    baseline_logs: pl.DataFrame,
    baseline_templates: pl.DataFrame,
    raw_spans,
    baseline_spans: pl.DataFrame,
    raw_metrics,
    log_changes,
):
    """Window and baseline of the partition, anomalies of every signal, the service graph, the ranking."""
    config = logrca.load()
    tw = context.partition_time_window
    every_message = reads_every_message(config.detection)
    lines = analysed_lines(raw_logs, context.partition_key, whole_window=every_message)
    log_templates = with_templates(lines, log_templates, context.partition_key)
    baseline_templates = with_templates(baseline_logs, baseline_templates, context.partition_key)
    frames = window_frames(
        config.analysis,
        partition_key=context.partition_key,
        partition_window=(tw.start, tw.end),
        events=log_templates,
        spans=raw_spans,
        fault_free_events=baseline_templates,
        fault_free_spans=baseline_spans,
    )
    if not every_message and frames.window is not None:
        frames.events = with_quoted_messages(frames.events, frames.window, raw_logs, context.partition_key)
    case = frames.case(
        name=context.partition_key,
        system=config.system,
        metrics=_stacked(raw_metrics),
        partition_window=(tw.start, tw.end),
        topology=load_topology(config.resolve(config.topology)) if config.topology else None,
    )
    options = AnalysisOptions.parse(
        {"detection": config.detection.model_dump(), "ranking": {"propagation": config.ranking.propagation}}
    )
    stored, weighed = partition_changes(frames, log_changes, context.partition_key, config.changes)
    analysis = analyse_case(
        case,
        options=options,
        templates=(frames.baseline_events, frames.events),
        changes=weighed,
        change_weight=config.changes.weight,
        change_lookback=timedelta(minutes=config.changes.lookback_minutes),
    )
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    window_info = {**frames.describe(), "named_until": tw.end.isoformat(), "system": config.system}
    outputs = [
        Output(window_info, output_name="analysis_window"),
        baseline_check(context, log_templates, frames, asked=config.baseline_partitions, changes=log_changes),
        _change_output(stored),
        *_outputs(analysis, frames.describe()),
    ]
    yield from (item for item in outputs if _asset_of(item) in selected)


def baseline_check(
    context: AssetExecutionContext, log_templates, frames: WindowFrames, *, asked: int, changes=None
) -> AssetCheckResult:
    """Whether the earlier partitions the baseline needs were there (WARN when not).

    A partition run before its earlier ones (a sensor or backfill runs them side by side) gets a
    thinner baseline or none (its own lines before the alert), and may name the wrong root cause;
    nothing runs it again when they land. The first partitions of the span have fewer by design.
    An earlier partition mined without its ``log_changes`` (by a version before that asset) gives
    the baseline its lines but not its change events: WARN too, naming the runs that add them.
    """
    key = context.partition_key
    mined = (
        sorted(k for k, f in log_templates.items() if k < key and f is not None)
        if isinstance(log_templates, dict)
        else []
    )
    found = len(mined)
    partitions, exist, window = context.assets_def.partitions_def, 0, context.partition_time_window
    while exist < asked and (window := partitions.get_prev_partition_window(window.start)):
        exist += 1
    metadata = {"found": found, "asked": asked, "baseline": frames.baseline}
    if exist < asked:  # the first partitions of the span: no more earlier ones exist, by design
        span = f"the configured span (start {_start(partitions)})"
        metadata["note"] = (
            f"first partition of {span}: no earlier partition exists"
            if exist == 0
            else f"only {exist} earlier partition(s) in {span}"
        )
    missing = found < exist and frames.baseline != "normal"  # fault-free sources need no earlier partition
    description = (  # 3 lines at 80 columns in the run summary, the command on one
        f"{found} of {exist} earlier partitions found (baseline_partitions: {asked}), baseline: "
        f"{frames.baseline}; the root cause may be wrong. Once they have run: logrca run --partition {key}"
    )
    with_changes = changes if isinstance(changes, dict) else {}
    unchanged = [k for k in mined if with_changes.get(k) is None] if frames.baseline == "partitions" else []
    if unchanged and not missing:
        metadata["without_log_changes"] = unchanged
        runs = " ".join(f"-p {k}" for k in [*unchanged, key])
        description = (
            f"{len(unchanged)} earlier partition(s) lack log_changes (new in this version), so their "
            f"changes are not weighed. Run them, then this one: logrca run {runs}"
        )
    return AssetCheckResult(
        check_name="baseline_complete",
        asset_key="analysis_window",
        passed=not missing and not unchanged,
        severity=AssetCheckSeverity.WARN,
        metadata=metadata,
        description=description if missing or unchanged else None,
    )


def _change_output(changes: pl.DataFrame) -> Output:
    return Output(
        changes,
        output_name="change_events",
        metadata={"dagster/row_count": changes.height, "changes": MetadataValue.md(change_table(changes))},
    )


def _start(partitions) -> str:
    """The first partition's start (the config's ``start``, UTC)."""
    first = partitions.get_first_partition_window()
    return f"{first.start:%Y-%m-%d %H:%M} UTC" if first else "?"


def _asset_of(item: Output | AssetCheckResult) -> str:
    """The asset an output or check result belongs to (the selection may be a subset)."""
    return item.output_name if isinstance(item, Output) else item.asset_key.to_user_string()


def _stacked(metrics: dict[str, pl.DataFrame] | pl.DataFrame) -> pl.DataFrame:
    """The partition's metrics and the earlier partitions' (a pod's minutes before the alert are its baseline)."""
    if not isinstance(metrics, dict):
        return metrics
    frames = list(metrics.values())
    return pl.concat(frames) if frames else pl.DataFrame(schema=METRIC_SCHEMA)


def _outputs(analysis: CaseAnalysis, window: dict):
    """The analysis's frames as the assets' outputs with their metadata, and the ranking's check."""
    found, ranking, graph = analysis.anomalies, analysis.ranking, analysis.graph
    scores = service_scores(found)
    yield Output(
        found,
        output_name="anomalies",
        metadata={
            "dagster/row_count": found.height,
            **{k: v for k, v in window.items() if v is not None},
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
    evidence = evidence_rows(
        found.clear(), span_deviations=analysis.span_deviations, metric_deviations=analysis.metric_deviations
    )
    yield Output(
        evidence,
        output_name="signal_deviations",
        metadata={
            "dagster/row_count": evidence.height,
            "top": MetadataValue.md(frame_table(evidence, limit=15)),
        },
    )
    yield Output(graph, output_name="service_graph", metadata=_graph_metadata(graph))
    top = ranking.row(0, named=True) if ranking.height else None
    yield Output(
        ranking,
        output_name="root_causes",
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
        check_name="ranks_are_consistent",
        asset_key="root_causes",
        passed=ranks_ok and ordered,
        metadata={"services": ranking.height},
    )


def _graph_metadata(graph: nx.DiGraph) -> dict:
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
    return {
        "nodes": graph.number_of_nodes(),
        "edges": graph.number_of_edges(),
        "edge_list": MetadataValue.md(frame_table(edges, limit=50)),
    }


#: ``raw_logs`` and ``log_templates`` as dagster-polars' lazy scans: a dict by partition key, or one scan when the
#: partition has no earlier ones (the type check accepts both).
LAZY_PARTITIONS = DagsterType(
    type_check_fn=lambda _, value: isinstance(value, dict | pl.LazyFrame),
    name="LazyFramesByPartition",
    typing_type=dict[str, pl.LazyFrame],
)


def analysed_lines(
    lines: dict[str, pl.LazyFrame] | pl.LazyFrame, partition_key: str, *, whole_window: bool = False
) -> dict[str, pl.DataFrame] | pl.DataFrame:
    """The partitions' lines with the messages detection reads: those of lines without a level.

    Lines are counted (templates, error lines, covered time); of their messages only those of lines
    without a level are read (the error pattern's, :func:`logrca.rca.detect_rules.is_error_line`),
    the others are null. The baseline partitions are never quoted; the window's quoted lines are put
    back once the window is known (:func:`with_quoted_messages`). Change events come from
    ``log_changes``. ``whole_window``: the partition's messages all (a user rule searches them). At
    3M lines an hour that is ~0.25 GB less to decode and to carry through each filter, per partition.
    """
    single = isinstance(lines, pl.LazyFrame)
    if single:
        lines = {partition_key: lines}
    keys = sorted(lines)
    scans = [
        lines[key] if key == partition_key and whole_window else lines[key].drop("message") for key in keys
    ]
    read = dict(zip(keys, pl.collect_all(scans), strict=True))
    for key, frame in read.items():
        if "message" in frame.columns:
            continue
        no_level = pl.col("level").is_null()
        if frame["level"].null_count():
            kept = lines[key].select(pl.when(no_level).then(pl.col("message")).alias("message")).collect()
            frame = frame.with_columns(kept["message"])
        else:
            frame = frame.with_columns(pl.lit(None, pl.Utf8).alias("message"))
        read[key] = frame.select(lines[key].collect_schema().names())
    return read[partition_key] if single else read


def with_quoted_messages(
    events: pl.DataFrame, window: tuple, raw_logs: dict[str, pl.LazyFrame] | pl.LazyFrame, partition_key: str
) -> pl.DataFrame:
    """``events`` (the partition's lines, read by :func:`analysed_lines`) with the messages of the lines
    detection may quote (:func:`~logrca.rca.detect_rules.quoted_rows`) read from the partition's scan,
    row for row: a few thousand of its millions."""
    rows = quoted_rows(events, window)
    rows = rows.filter(events["message"].gather(rows).is_null())  # unlevelled lines' are there
    if rows.is_empty():
        return events
    scan = raw_logs[partition_key] if isinstance(raw_logs, dict) else raw_logs
    wanted = pl.col("row").is_in(rows.implode())
    upto = scan.slice(0, int(rows.max()) + 1)  # the rows after the last quoted one are not decoded
    found = upto.select("message").with_row_index("row").filter(wanted).collect(engine="streaming")
    return events.with_columns(events["message"].scatter(found["row"], found["message"]))


#: The columns of ``raw_logs`` and ``baseline_logs`` the analysis reads: where a line came from within
#: its file (``line_no``) and which system and host wrote it are not part of the analysis. Their
#: templates come from ``log_templates`` and ``baseline_templates`` (:data:`~logrca.assets.mining.STORED_COLUMNS`).
ANALYSED_COLUMNS = tuple(name for name in EVENT_SCHEMA if name not in ("system", "host", "line_no"))


def analysed_columns(
    asset_in: AssetIn, columns: tuple[str, ...] | list[str], dagster_type: DagsterType | None = None
) -> AssetIn:
    """``asset_in`` loading only ``columns`` (dagster-polars projects the Parquet scan), as ``dagster_type``."""
    return AssetIn(
        asset_in.key,
        partition_mapping=asset_in.partition_mapping,
        metadata={**(asset_in.metadata or {}), "columns": list(columns)},
        **({"dagster_type": dagster_type} if dagster_type else {}),
    )


def analysis_assets(plan: PartitionPlan) -> list:
    """The analysis multi-asset on the partitions of ``plan`` (built with the Definitions)."""
    parquet = {"io_manager_key": "parquet_io", "metadata": PARQUET_WRITE, "is_required": False}
    outs = {
        "analysis_window": AssetOut(
            is_required=False, description="The analysed window and where its baseline came from."
        ),
        "change_events": AssetOut(
            **parquet,
            description="Deploys, restarts, version changes and config reloads in the window and its baseline.",
        ),
        "anomalies": AssetOut(**parquet, description="Log anomalies of the window, scored."),
        "signal_deviations": AssetOut(**parquet, description="Span and metric deviations of the window."),
        "service_graph": AssetOut(
            is_required=False, description="Caller -> callee graph: declared, from spans, from request ids."
        ),
        "root_causes": AssetOut(**parquet, description="Services ranked as the likely root cause, with why."),
    }
    return [
        multi_asset(
            outs=outs,
            partitions_def=plan.partitions,
            group_name="logrca",
            name="analyse",
            can_subset=True,
            ins={
                "raw_logs": analysed_columns(plan.lines_and_baseline, ANALYSED_COLUMNS, LAZY_PARTITIONS),
                "log_templates": analysed_columns(plan.window_and_baseline, STORED_COLUMNS),
                "baseline_logs": analysed_columns(AssetIn("baseline_logs"), ANALYSED_COLUMNS),
                "baseline_templates": analysed_columns(AssetIn("baseline_templates"), STORED_COLUMNS),
                "raw_spans": plan.spans_and_baseline,
                "raw_metrics": plan.metrics_and_baseline,
                "log_changes": plan.changes_and_baseline,
            },
            check_specs=[
                AssetCheckSpec(
                    "baseline_complete",
                    asset="analysis_window",
                    description="the earlier partitions the baseline asks for (baseline_partitions) exist",
                ),
                AssetCheckSpec(
                    "ranks_are_consistent",
                    asset="root_causes",
                    description="ranks run 1..n in order of non-negative scores",
                ),
            ],
        )(analyse),
    ]
