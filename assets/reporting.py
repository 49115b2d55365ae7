"""The RCA report of a partition (Markdown in the Dagster UI) and its indexing into Elasticsearch."""

import base64
from datetime import UTC, datetime

import networkx as nx
import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MetadataValue,
    Output,
    asset,
)

from logrca.assets.partitions import PartitionPlan
from logrca.assets.resources import ElasticsearchResource, LogrcaConfigResource
from logrca.rca.pictures import finding_pictures
from logrca.rca.report import build_finding
from logrca.rca.report_render import ReportOptions, render_report
from logrca.rca.search_index import index_partition, index_runbooks
from logrca.rca.windows import split_window


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
    config = logrca.load()
    window_events, baseline_events, _ = split_window(inputs["log_templates"], context.partition_key)
    tw = context.partition_time_window
    runbooks, past = logrca.knowledge()
    catalogue = logrca.catalogue()
    return build_finding(
        system=config.system,
        window=(tw.start, tw.end),
        window_events=window_events,
        baseline_events=baseline_events,
        anomalies=inputs["anomalies"],
        ranking=inputs["root_causes"],
        runbooks=runbooks,
        past_incidents=past,
        owners={service: entry.owner for service, entry in catalogue.services.items()} if catalogue else {},
        detected_at=datetime.now(UTC),
        changes=inputs["change_events"],
    )


def rca_report(
    context: AssetExecutionContext,
    logrca: LogrcaConfigResource,
    log_templates,
    anomalies: pl.DataFrame,
    root_causes: pl.DataFrame,
    change_events: pl.DataFrame,
    service_graph: nx.DiGraph,
):
    """The finding of the partition (or None) with its Markdown report, pictures and knowledge links.

    The report is rendered once: with file links for the Markdown file (and Elasticsearch, in the
    finding's ``report``), with inline images for the Dagster UI.
    """
    inputs = {
        "log_templates": log_templates,
        "anomalies": anomalies,
        "root_causes": root_causes,
        "change_events": change_events,
    }
    config, tw = logrca.load(), context.partition_time_window
    finding = _build_finding(context, logrca, inputs)
    stem = context.partition_key.replace(":", "-")
    report_file = logrca.path("reports", config.system, f"{stem}.md")
    pictures = {}
    if finding and config.report.pictures:
        events = pl.concat(
            [f for f in split_window(log_templates, context.partition_key)[:2] if f is not None]
        )
        pictures = finding_pictures(
            finding, service_graph, events, window=(tw.start, tw.end), changes=change_events,
            templates=config.report.timeline_templates,
        )  # fmt: skip
    captions = {"service-map": "service map", "template-rates": "template rates and changes"}
    for name, png in pictures.items():
        report_file.with_name(f"{stem}-{name}.png").write_bytes(png)
    title = f"RCA report {context.partition_key}"
    report = render_report(
        finding, _report_options(logrca, title, [(captions[n], f"{stem}-{n}.png") for n in pictures])
    )
    report_file.write_text(report, encoding="utf-8")
    inline = [
        (captions[n], "data:image/png;base64," + base64.b64encode(png).decode())
        for n, png in pictures.items()
    ]
    metadata = {
        "report": MetadataValue.md(render_report(finding, _report_options(logrca, title, inline))),
        "report_file": MetadataValue.path(str(report_file)),
        "incident": finding is not None,
    }
    if finding:
        finding["report"] = report
        metadata |= {
            "incident_id": finding["incident_id"],
            "root_cause": finding["root_cause"],
            "incident_window": f"{finding['window_start']} → {finding['window_end']}",
            "affected_services": MetadataValue.json(finding["affected_services"]),
            "changes": len(finding["changes"]),
            "runbooks": MetadataValue.json([r["id"] for r in finding["knowledge"]["runbooks"]]),
        }
    tags = {"logrca/incident": finding["incident_id"]} if finding else {}
    yield Output(finding, metadata=metadata, tags=tags)
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
    """Anomalies, the report and the runbooks, indexed into Elasticsearch with deterministic ids.

    The client retries transient errors itself; when the cluster stays unreachable the partition
    fails with a message saying so (run retries of the instance, or a re-run, finish the job).
    """
    from elasticsearch import ApiError, TransportError

    config = logrca.load()
    tw = context.partition_time_window
    report = (rca_report or {}).get("report", "")
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
            check_specs=[
                AssetCheckSpec(
                    "no_incident",
                    asset="rca_report",
                    description="WARN when this partition holds an incident (marks its hour in the Partitions view)",
                )
            ],
        )(rca_report),
        asset(partitions_def=plan.partitions, group_name="logrca")(search_index),
    ]
