"""Incident operations on a clock: escalate unacknowledged incidents (sensor) and the weekly review (schedule)."""

import hashlib

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    OpExecutionContext,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    job,
    op,
    sensor,
)

from logrca.assets.resources import ElasticsearchResource, LogrcaConfigResource
from logrca.incidents.catalogue import load_catalogue
from logrca.incidents.record import now_iso
from logrca.incidents.store import IncidentStore
from logrca.rca.search_index import es_trouble


@op
def escalate_and_retry(
    context: OpExecutionContext, logrca: LogrcaConfigResource, elasticsearch: ElasticsearchResource
) -> dict:
    """Escalate open incidents past their ack deadline to the next contact; retry undelivered alerts."""
    from logrca.incidents.alerts import retry_pending
    from logrca.incidents.escalation import escalate_due

    config = logrca.load()
    if config.catalogue is None:
        context.log.warning("no catalogue in the config: nobody to escalate to")
        return {"escalated": 0, "retried": 0}
    catalogue = load_catalogue(config.resolve(config.catalogue))
    client = elasticsearch.client()
    try:
        store = IncidentStore(client, elasticsearch.index_prefix)
        escalated = escalate_due(store, catalogue)
        retried = retry_pending(store, catalogue)
    finally:
        client.close()
    context.log.info(
        f"escalated {escalated}; retried {len(retried)} deliveries, {sum(r['ok'] for r in retried)} delivered"
    )
    return {"escalated": len(escalated), "retried": len(retried)}


@job(description="Escalate unacknowledged incidents and retry failed alert deliveries.")
def incident_escalation_job():
    escalate_and_retry()


@sensor(job=incident_escalation_job, minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING)
def incident_escalation_sensor(context: SensorEvaluationContext, elasticsearch: ElasticsearchResource):
    """Starts the escalation job when an open, unacknowledged incident is past its deadline with a contact
    left to page, or a failed alert of an open incident is due for its next (backed-off) attempt.

    The run key names what is due (incident, escalation level, next delivery time), so the same due
    state starts one run, never one a minute.
    """
    from elasticsearch import ApiError, TransportError

    from logrca.incidents.escalation import escalation_candidates

    client = elasticsearch.client()
    try:
        store = IncidentStore(client, elasticsearch.index_prefix)
        due = escalation_candidates(store)
        pending = store.search(
            statuses=("open",), query={"range": {"next_delivery_at": {"lte": now_iso()}}}, size=100
        )
    except (TransportError, ApiError) as error:
        return SkipReason(es_trouble(elasticsearch.url, error))
    finally:
        client.close()
    if not due and not pending:
        return SkipReason("no open incident past its ack deadline, no failed alert due for a retry")
    state = sorted(f"esc:{i['incident_id']}:{i['escalation']['level']}" for i in due)
    state += sorted(f"retry:{i['incident_id']}:{i['next_delivery_at']}" for i in pending)
    key = hashlib.sha1("|".join(state).encode()).hexdigest()[:16]
    return RunRequest(run_key=f"escalate-{key}", tags={"due": str(len(due)), "pending": str(len(pending))})


incident_review_job = define_asset_job(
    "incident_review_job",
    selection=AssetSelection.assets("incident_review"),
    description="The weekly incident review.",
)

schedules = [
    ScheduleDefinition(
        name="weekly_incident_review",
        job=incident_review_job,
        cron_schedule="0 7 * * 1",
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.RUNNING,
    )
]
sensors = [incident_escalation_sensor]
