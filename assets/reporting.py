"""The RCA report of a partition (Markdown in the Dagster UI) and its indexing into Elasticsearch."""

import base64
import warnings
from datetime import UTC, datetime

import networkx as nx
import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    Failure,
    MetadataValue,
    Output,
    PreviewWarning,
    asset,
)

from logrca.assets.analysis import LAZY_PARTITIONS, analysed_columns
from logrca.assets.mining import row_count, with_templates
from logrca.assets.partitions import PartitionPlan
from logrca.assets.resources import ElasticsearchResource, LogrcaConfigResource
from logrca.parsers.ingest.schema import SPAN_SCHEMA
from logrca.rca.log_lines import ensure_templates, index_lines, lines_stream
from logrca.rca.pictures import PictureDrawing
from logrca.rca.report import build_finding, change_entries, has_finding, ranked_entries
from logrca.rca.report_render import ReportOptions, render_report
from logrca.rca.search_index import es_trouble, index_partition, index_runbooks
from logrca.rca.urls import shown_url
from logrca.rca.windows import described_window, split_window, window_frames

#: The columns of ``raw_logs`` the finding and the pictures read, beside ``template_id`` of
#: ``log_templates``. ``message`` (the largest to decode) is read only for the lines of the one
#: failing request the finding quotes (a filtered scan).
REPORT_COLUMNS = ("timestamp", "service", "level", "trace_id", "message")
REPORT_TEMPLATE_COLUMNS = ("template_id",)


def _report_frames(
    lines: dict[str, pl.LazyFrame] | pl.LazyFrame,
    templates: dict[str, pl.LazyFrame] | pl.LazyFrame,
    partition_key: str,
) -> tuple[dict[str, pl.DataFrame] | pl.DataFrame, pl.LazyFrame]:
    """(the partition's and the earlier partitions' lines without ``message``, read at once; the partition's scan).

    The finding quotes the lines of one request: those are read from the scan of the partition's
    lines (:func:`_trace_lines`), not a message column of the whole partition (at 3M lines an hour
    ~0.2 s and ~0.5 GB less to read).
    """
    frames = with_templates(lines, templates, partition_key)
    scan = lines.get(partition_key) if isinstance(lines, dict) else lines
    if isinstance(frames, pl.LazyFrame):
        return frames.drop("message").collect(), scan
    keys = sorted(frames)
    read = dict(zip(keys, pl.collect_all([frames[key].drop("message") for key in keys]), strict=True))
    return read, scan


def _trace_lines(scan: pl.LazyFrame, window: tuple[datetime, datetime]):
    """``trace_id -> lines`` of that request in ``window`` from the partition's scan (file order)."""

    def lines(trace_id: str) -> pl.DataFrame:
        inside = pl.col("timestamp").is_between(*window, closed="left")
        wanted = scan.filter((pl.col("trace_id") == trace_id) & inside)
        return wanted.select("timestamp", "service", "level", "message").collect()

    return lines


def _report_options(
    logrca: LogrcaConfigResource, title: str, pictures: list[tuple[str, str]]
) -> ReportOptions:
    config = logrca.load()
    return ReportOptions(
        title=title,
        pictures=pictures,
        runbook_url_base=config.report.runbook_url_base,
        knowledge_dir=config.resolve(config.knowledge_base),
        runbook_texts={r["id"]: r["body"] for r in logrca.runbooks()},
    )


def _build_finding(context: AssetExecutionContext, logrca: LogrcaConfigResource, inputs: dict) -> dict | None:
    config, tw = logrca.load(), context.partition_time_window
    frames = window_frames(
        config.analysis,
        partition_key=context.partition_key,
        partition_window=(tw.start, tw.end),
        events=inputs["log_templates"],
        spans=pl.DataFrame(schema=SPAN_SCHEMA),
        fault_free_events=inputs["baseline_templates"],
        fault_free_spans=pl.DataFrame(schema=SPAN_SCHEMA),
    )
    window = frames.window or (tw.start, tw.end)
    runbooks, past = logrca.knowledge()
    catalogue = logrca.catalogue()
    return build_finding(
        system=config.system,
        window=window,
        window_events=frames.events.filter(pl.col("timestamp").is_between(*window, closed="left")),
        baseline_events=frames.baseline_events,
        anomalies=inputs["anomalies"],
        ranking=inputs["root_causes"],
        runbooks=runbooks,
        past_incidents=past,
        owners={service: entry.owner for service, entry in catalogue.services.items()} if catalogue else {},
        detected_at=datetime.now(UTC),
        changes=inputs["change_events"],
        standout=config.detection.min_score,
        trace_lines=_trace_lines(inputs["partition_scan"], window),
        named_until=tw.end,
    )


_CAPTIONS = {"service-map": "service map", "template-rates": "template rates and changes"}


def _start_pictures(
    logrca: LogrcaConfigResource, anomalies: pl.DataFrame, ranking: pl.DataFrame, graph: nx.DiGraph
) -> PictureDrawing | None:
    """The pictures of the finding to come, the service map started (None: no finding, or ``report.pictures`` off).

    Drawn on a worker thread while the frames are read and the finding is built (see :class:`PictureDrawing`).
    """
    config = logrca.load()
    if not config.report.pictures or not has_finding(ranking, anomalies, standout=config.detection.min_score):
        return None
    drawing = PictureDrawing(ranked_entries(ranking, anomalies, owners={}))
    drawing.service_map(graph)
    return drawing


def _no_incident_check(plan: PartitionPlan) -> AssetCheckSpec:
    """``no_incident``: one result per hour, so each hour shows its own (a Dagster preview feature,
    pinned by uv.lock: its warning is not news on every code location load)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)
        return AssetCheckSpec(
            "no_incident",
            asset="rca_report",
            partitions_def=plan.partitions,
            description="WARN when this partition holds an incident (marks its hour in the Partitions view)",
        )


def _timeline_events(events: dict[str, pl.DataFrame] | pl.DataFrame, partition_key: str) -> pl.DataFrame:
    """The lines the timeline counts: the partition's and the earlier partitions' (``timestamp, service, template_id``)."""
    frames = split_window(events, partition_key)[:2]
    drawn = [f.select("timestamp", "service", "template_id") for f in frames if f is not None]
    return pl.concat(drawn, how="vertical_relaxed")


def _finding_metadata(finding: dict | None) -> dict:
    if not finding:
        return {"incident": False}
    return {
        "incident": True,
        "incident_id": finding["incident_id"],
        "root_cause": finding["root_cause"],
        "incident_window": f"{finding['window_start']} → {finding['window_end']}",
        "affected_services": MetadataValue.json(finding["affected_services"]),
        "changes": len(finding["changes"]),
        "runbooks": MetadataValue.json([r["id"] for r in finding["knowledge"]["runbooks"]]),
    }


def _window_changes(context: AssetExecutionContext, change_events: pl.DataFrame, analysis_window: dict):
    """The change events of the analysed window (the partition's when it names none), as a report lists them."""
    tw = context.partition_time_window
    return change_entries(change_events, window=described_window(analysis_window) or (tw.start, tw.end))


def _inlined(report: str, stem: str, pictures: dict[str, bytes]) -> str:
    """``report`` with its pictures' file links made ``data:`` URLs, for the Dagster UI."""
    for name, png in pictures.items():
        report = report.replace(
            f"]({stem}-{name}.png)", f"](data:image/png;base64,{base64.b64encode(png).decode()})"
        )
    return report


def rca_report(
    context: AssetExecutionContext,
    logrca: LogrcaConfigResource,
    raw_logs: dict[str, pl.LazyFrame] | pl.LazyFrame,
    log_templates: dict[str, pl.LazyFrame] | pl.LazyFrame,
    baseline_logs: pl.DataFrame,
    baseline_templates: pl.DataFrame,
    analysis_window: dict,
    anomalies: pl.DataFrame,
    root_causes: pl.DataFrame,
    change_events: pl.DataFrame,
    service_graph: nx.DiGraph,
):
    """The finding of the partition (or None) with its Markdown report, pictures and knowledge links.

    The report is rendered once, with the pictures as files beside it; the finding carries it on
    (``report``, to Elasticsearch and the incident); the Dagster UI gets the same text with the
    pictures inlined. The WARN check ``no_incident`` marks a partition holding an incident.
    """
    drawing = _start_pictures(logrca, anomalies, root_causes, service_graph)
    events, partition_scan = _report_frames(raw_logs, log_templates, context.partition_key)
    if drawing is not None:
        tw = context.partition_time_window
        drawing.template_rates(
            _timeline_events(events, context.partition_key),
            window=(tw.start, tw.end),
            changes=change_events,
            templates=logrca.load().report.timeline_templates,
        )
    inputs = {"log_templates": events, "partition_scan": partition_scan}
    inputs |= {"anomalies": anomalies, "root_causes": root_causes}
    inputs |= {"baseline_templates": with_templates(baseline_logs, baseline_templates, context.partition_key)}
    inputs |= {"change_events": change_events, "service_graph": service_graph}
    finding = _build_finding(context, logrca, inputs)
    stem = context.partition_key.replace(":", "-")
    report_file = logrca.path("reports", logrca.load().system, f"{stem}.md")
    pictures = drawing.result() if drawing is not None else {}  # a drawing comes with a finding (has_finding)
    for name, png in pictures.items():
        report_file.with_name(f"{stem}-{name}.png").write_bytes(png)
    files = [(_CAPTIONS[name], f"{stem}-{name}.png") for name in pictures]
    quiet = None if finding else _window_changes(context, change_events, analysis_window)  # not hidden
    report = render_report(
        finding, _report_options(logrca, f"RCA report {context.partition_key}", files), changes=quiet
    )
    report_file.write_text(report, encoding="utf-8")
    shown = _inlined(report, stem, pictures)
    if finding:
        finding["report"] = report
    metadata = {"report": MetadataValue.md(shown), "report_file": MetadataValue.path(str(report_file))}
    metadata["baseline"] = analysis_window["baseline"]
    yield Output(
        finding,
        metadata=metadata | _finding_metadata(finding),
        tags={"logrca/incident": finding["incident_id"]} if finding else {},
    )
    yield AssetCheckResult(
        check_name="no_incident",
        passed=finding is None,
        severity=AssetCheckSeverity.WARN,
        metadata={"incident_id": finding["incident_id"] if finding else "none"},
        description=f"incident {finding['incident_id']} (root cause {finding['root_cause']})"
        if finding
        else None,
    )


def search_index(
    context: AssetExecutionContext,
    logrca: LogrcaConfigResource,
    elasticsearch: ElasticsearchResource,
    anomalies: pl.DataFrame,
    rca_report: dict | None,
) -> Output[dict]:
    """The partition's anomalies and report, and the runbooks, in Elasticsearch (ECS, deterministic ids).

    The log lines follow in ``indexed_lines``, so the report is searchable without waiting for them.
    The client retries transient errors itself; when the cluster stays unreachable the partition
    fails with a message saying so (run retries of the instance, or a re-run, finish the job).
    """
    from elasticsearch import ApiError, TransportError

    from logrca.incidents.mapping import MAPPING as INCIDENTS_MAPPING

    config, tw, prefix = logrca.load(), context.partition_time_window, elasticsearch.index_prefix
    client, settings = elasticsearch.client(), elasticsearch.index_settings
    try:
        ensure_templates(
            client,
            prefix=prefix,
            retention_days=config.indexing.retention_days,
            extra_mappings={"incidents": INCIDENTS_MAPPING},
            settings=settings,
        )
        counts = index_partition(
            client,
            prefix=prefix,
            system=config.system,
            partition=context.partition_key,
            window=(tw.start, tw.end),
            anomalies=anomalies.to_dicts(),
            finding=rca_report,
            report=(rca_report or {}).get("report", ""),
            settings=settings,
        )
        counts["runbooks"] = index_runbooks(
            client, prefix=prefix, runbooks=logrca.runbooks(), settings=settings
        )
    except (TransportError, ApiError) as error:
        raise es_failure(elasticsearch, error) from error
    finally:
        client.close()
    return Output(counts, metadata={**counts, "index_prefix": prefix, "url": shown_url(elasticsearch.url)})


def es_failure(elasticsearch: ElasticsearchResource, error: Exception, *, retries: bool = False) -> Failure:
    """The partition's failure when Elasticsearch could not be reached, or answered with an error.

    Its first sentence is what to do (the run summary shows the first two lines); then that nothing
    is lost: the Parquet assets are stored and indexing and filing are idempotent.
    """
    return Failure(
        description=(
            f"{es_trouble(elasticsearch.url, error)}, then re-run this partition. Nothing of it was "
            "lost: the Parquet assets are stored, and indexing and filing are idempotent."
        ),
        allow_retries=retries,
    )


def indexed_lines(
    context: AssetExecutionContext,
    logrca: LogrcaConfigResource,
    elasticsearch: ElasticsearchResource,
    raw_logs: pl.LazyFrame,
    log_templates: pl.LazyFrame,
) -> Output[dict]:
    """The partition's log lines in the data stream ``<prefix>-logs-<system>``, for drill-down from a finding.

    Runs after ``search_index`` (and ``log_parameters``): indexing every line is the slowest step of a
    partition, and the report does not wait for it. ``indexing.lines: false`` turns it off (nothing is sent).
    """
    from elasticsearch import ApiError, TransportError

    config, prefix = logrca.load(), elasticsearch.index_prefix
    if not config.indexing.lines:
        return Output({"lines_stream": "off"}, metadata={"lines_stream": "off"})
    client = elasticsearch.client()
    try:
        counts = index_lines(
            client,
            prefix=prefix,
            system=config.system,
            partition=context.partition_key,
            events=with_templates(raw_logs, log_templates, context.partition_key),  # read a batch at a time
            rows=row_count(log_templates),
        )
    except (TransportError, ApiError) as error:
        raise es_failure(elasticsearch, error) from error
    finally:
        client.close()
    stream = lines_stream(prefix, config.system)
    return Output(counts | {"lines_stream": stream}, metadata={**counts, "lines_stream": stream})


def reporting_assets(plan: PartitionPlan) -> list:
    """The assets of this module on the partitions of ``plan`` (built with the Definitions)."""
    return [
        asset(
            partitions_def=plan.partitions,
            group_name="logrca",
            ins={
                "raw_logs": analysed_columns(plan.lines_and_baseline, REPORT_COLUMNS, LAZY_PARTITIONS),
                "log_templates": analysed_columns(
                    plan.window_and_baseline, REPORT_TEMPLATE_COLUMNS, LAZY_PARTITIONS
                ),
                "baseline_logs": analysed_columns(AssetIn("baseline_logs"), REPORT_COLUMNS[:-1]),
                "baseline_templates": analysed_columns(
                    AssetIn("baseline_templates"), REPORT_TEMPLATE_COLUMNS
                ),
            },
            check_specs=[_no_incident_check(plan)],
        )(rca_report),
        asset(partitions_def=plan.partitions, group_name="logrca")(search_index),
        # after the report and the parameters: the partition's last asset (pipelines.schedules.LAST_ASSET)
        asset(
            partitions_def=plan.partitions,
            group_name="logrca",
            deps=["search_index", "log_parameters"],
        )(indexed_lines),
    ]
