"""Incidents filed from each partition's finding (with alerts), and the weekly incident review."""

import base64
from datetime import UTC, datetime

from dagster import (
    AssetExecutionContext,
    Backoff,
    MaterializeResult,
    MetadataValue,
    Output,
    RetryPolicy,
    asset,
)

from logrca.assets.partitions import PartitionPlan
from logrca.assets.reporting import es_failure
from logrca.assets.resources import ElasticsearchResource, LogrcaConfigResource
from logrca.incidents.alerts import shown_target
from logrca.incidents.filing import process_finding
from logrca.incidents.review import weekly_review
from logrca.incidents.store import IncidentStore
from logrca.rca.finding_ids import window_identity
from logrca.rca.windows import described_window


def incidents(
    context: AssetExecutionContext,
    logrca: LogrcaConfigResource,
    elasticsearch: ElasticsearchResource,
    rca_report: dict | None,
    analysis_window: dict,
) -> Output[dict]:
    """Files (or updates) the partition's incident in Elasticsearch, alerts its owner once, retries failed alerts.

    With no finding, the incident an earlier run filed for the same window (a re-run) is withdrawn: the
    window is named as the report names it (the analysed window, else the partition's).
    """
    from elasticsearch import ApiError, TransportError

    catalogue, runbooks = logrca.catalogue(), logrca.runbooks()
    analysed = described_window(analysis_window)
    if analysed is None:  # no window named: the partition is the window, as the report takes it
        analysed = (context.partition_time_window.start, context.partition_time_window.end)
    named = analysis_window.get("named_until")  # the partition's end (an analysis of an older version: none)
    window = window_identity(
        analysis_window.get("system") or logrca.load().system,
        analysed,
        named_until=datetime.fromisoformat(named) if named else None,
    )
    client = elasticsearch.client()
    try:
        summary = process_finding(
            IncidentStore(client, elasticsearch.index_prefix),
            rca_report,
            catalogue=catalogue,
            runbooks=runbooks,
            window=window,
        )
    except (TransportError, ApiError) as error:
        raise es_failure(elasticsearch, error, retries=True) from error
    finally:
        client.close()
    for failure in summary.pop("failures"):  # the step succeeds (alerts are retried): say it in the log
        context.log.warning(failed_alert_line(failure))
    return Output(
        summary,
        metadata={k: v for k, v in summary.items() if v is not None} | {"catalogue": catalogue is not None},
    )


def failed_alert_line(result: dict) -> str:
    """One line for a failed delivery: channel kind, target (webhooks redacted) and the last error.

    >>> failed_alert_line({"channel": "slack", "event": "opened", "attempts": 3, "target":
    ...     "https://hooks.slack.com/services/***#0a1b2c", "error": "URLError: <urlopen error timed out>"})
    'alert not delivered: slack https://hooks.slack.com/services/***#0a1b2c (opened, 3 tries): URLError: <urlopen error timed out>'
    """
    target = shown_target(result)
    reason = " ".join(str(result.get("error") or "unknown error").split())
    return (
        f"alert not delivered: {result['channel']} {target} "
        f"({result['event']}, {result['attempts']} tries): {reason}"
    )


def incident_review(logrca: LogrcaConfigResource, elasticsearch: ElasticsearchResource) -> MaterializeResult:
    """The weekly review of all incidents: Markdown (shown here and written to a file) with a PNG chart."""
    client = elasticsearch.client()
    try:
        review = weekly_review(
            IncidentStore(client, elasticsearch.index_prefix).search(size=None),
            week_end=datetime.now(UTC),
        )
    finally:
        client.close()
    stamp = datetime.now(UTC).strftime("%G-W%V")
    markdown_file, chart_file = (
        logrca.path("reviews", f"review-{stamp}.md"),
        logrca.path("reviews", f"review-{stamp}.png"),
    )
    chart_file.write_bytes(review.chart_png)
    markdown_file.write_text(review.markdown + f"\n![chart]({chart_file.name})\n", encoding="utf-8")
    chart = f"![incident review chart](data:image/png;base64,{base64.b64encode(review.chart_png).decode()})"
    numbers = {k: v for k, v in review.stats.items() if isinstance(v, (int, float))}
    return MaterializeResult(
        metadata={
            "review": MetadataValue.md(f"{review.markdown}\n\n{chart}\n"),
            "chart": MetadataValue.md(chart),
            "review_file": MetadataValue.path(str(markdown_file)),
            "chart_file": MetadataValue.path(str(chart_file)),
            **numbers,
        }
    )


def incident_assets(plan: PartitionPlan) -> list:
    """The assets of this module on the partitions of ``plan`` (built with the Definitions)."""
    return [
        asset(
            partitions_def=plan.partitions,
            group_name="incidents",
            retry_policy=RetryPolicy(max_retries=2, delay=5, backoff=Backoff.EXPONENTIAL),
        )(incidents),
        asset(deps=["incidents"], group_name="incidents")(incident_review),
    ]
