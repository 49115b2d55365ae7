"""The RCA report of a partition (Markdown in the Dagster UI) and its indexing into Elasticsearch."""

from datetime import UTC, datetime

import polars as pl
from dagster import AssetExecutionContext, Failure, MetadataValue, Output, asset

from logrca.assets.partitions import PartitionPlan
from logrca.assets.resources import ElasticsearchResource, LogrcaConfigResource
from logrca.parsers.ingest.schema import SPAN_SCHEMA
from logrca.rca.report import build_finding, render_report
from logrca.rca.search_index import index_partition, index_runbooks
from logrca.rca.windows import window_frames


def rca_report(
    context: AssetExecutionContext,
    logrca: LogrcaConfigResource,
    log_templates,
    baseline_templates: pl.DataFrame,
    analysis_window: dict,
    anomalies: pl.DataFrame,
    root_causes: pl.DataFrame,
) -> Output[dict | None]:
    """The finding of the partition (or None) with its Markdown report, linked to the knowledge base."""
    config = logrca.load()
    tw = context.partition_time_window
    frames = window_frames(
        config.analysis,
        partition_key=context.partition_key,
        partition_window=(tw.start, tw.end),
        events=log_templates,
        spans=pl.DataFrame(schema=SPAN_SCHEMA),
        fault_free_events=baseline_templates,
        fault_free_spans=pl.DataFrame(schema=SPAN_SCHEMA),
    )
    window = frames.window or (tw.start, tw.end)
    window_events = frames.events.filter(pl.col("timestamp").is_between(*window, closed="left"))
    runbooks, past = logrca.knowledge()
    catalogue = logrca.catalogue()
    owners = {service: entry.owner for service, entry in catalogue.services.items()} if catalogue else {}
    finding = build_finding(
        system=config.system,
        window=window,
        window_events=window_events,
        baseline_events=frames.baseline_events,
        anomalies=anomalies,
        ranking=root_causes,
        runbooks=runbooks,
        past_incidents=past,
        owners=owners,
        detected_at=datetime.now(UTC),
    )
    title = f"RCA report {context.partition_key}"
    report = render_report(finding, title=title)
    report_file = logrca.path("reports", config.system, f"{context.partition_key.replace(':', '-')}.md")
    report_file.write_text(report, encoding="utf-8")
    metadata = {
        "report": MetadataValue.md(report),
        "report_file": MetadataValue.path(str(report_file)),
        "incident": finding is not None,
        "baseline": analysis_window["baseline"],
    }
    if finding:
        metadata |= {
            "root_cause": finding["root_cause"],
            "incident_window": f"{finding['window_start']} → {finding['window_end']}",
            "affected_services": MetadataValue.json(finding["affected_services"]),
            "runbooks": MetadataValue.json([r["id"] for r in finding["knowledge"]["runbooks"]]),
        }
    return Output(finding, metadata=metadata)


def search_index(
    context: AssetExecutionContext,
    logrca: LogrcaConfigResource,
    elasticsearch: ElasticsearchResource,
    anomalies: pl.DataFrame,
    rca_report: dict | None,
) -> Output[dict]:
    """Anomalies, the report and the runbooks, indexed into Elasticsearch with deterministic ids.

    The client retries transient errors itself; when the cluster stays unreachable the partition
    fails with a message saying so (run retries of the instance, or a re-run, finish the job).
    """
    from elasticsearch import ApiError, TransportError

    config = logrca.load()
    tw = context.partition_time_window
    report = render_report(rca_report, title=f"RCA report {context.partition_key}")
    client = elasticsearch.client()
    try:
        counts = index_partition(
            client,
            prefix=elasticsearch.index_prefix,
            system=config.system,
            partition=context.partition_key,
            window=(tw.start, tw.end),
            anomalies=anomalies.to_dicts(),
            finding=rca_report,
            report=report,
        )
        counts["runbooks"] = index_runbooks(
            client, prefix=elasticsearch.index_prefix, runbooks=logrca.runbooks()
        )
    except (TransportError, ApiError) as error:
        raise Failure(
            description=(
                f"Elasticsearch at {elasticsearch.url} failed: {error}. Nothing of this partition was lost: the "
                "Parquet assets are stored; start the server ('logrca es start') or fix LOGRCA_ES_URL and re-run "
                "this partition (indexing is idempotent)."
            ),
            allow_retries=False,
        ) from error
    finally:
        client.close()
    return Output(
        counts, metadata={**counts, "index_prefix": elasticsearch.index_prefix, "url": elasticsearch.url}
    )


def reporting_assets(plan: PartitionPlan) -> list:
    """The assets of this module on the partitions of ``plan`` (built with the Definitions)."""
    return [
        asset(
            partitions_def=plan.partitions,
            group_name="logrca",
            ins={"log_templates": plan.window_and_baseline},
        )(rca_report),
        asset(partitions_def=plan.partitions, group_name="logrca")(search_index),
    ]
