"""The log lines of every partition in an Elasticsearch data stream (ECS), so a finding drills down to its lines.

Lines go to the data stream ``<prefix>-logs-<system>`` (template ``<prefix>-logs``, :mod:`logrca.rca.ecs`)
with deterministic ids (file, line number, time, service and what the line says): re-indexing a
partition creates nothing twice, writes a line whose text changed (a secret rule added since) anew
and removes the partition's lines that are no longer produced, the old text of that line among
them. Retention is an ILM policy (``<prefix>-logs-retention``, delete after
``indexing.retention_days``); see ``docs/elasticsearch.md`` for the clean-up on a cluster without ILM.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime

import polars as pl
from elasticsearch import helpers
from pydantic import BaseModel, ConfigDict, Field

from logrca.parsers.templates.batches import frame_batches
from logrca.rca.detect_rules import ERROR_LEVELS
from logrca.rca.ecs import ECS_VERSION, EVENT_KINDS, ecs_fields, put_templates
from logrca.rca.search_index import (
    DEFAULT_SETTINGS,
    FINDINGS_MAPPING,
    KNOWLEDGE_MAPPING,
    REPORTS_MAPPING,
    delete_matching,
)

__all__ = [
    "count_lines_before",
    "IndexingConfig",
    "LINES_MAPPING",
    "ensure_templates",
    "index_lines",
    "lines_stream",
    "search_lines",
]

#: logrca's own fields of a log line (the ECS ones come from the ``<prefix>-ecs`` component template).
LINES_MAPPING = {"dynamic": False, "properties": {"template": {"type": "text"}}}


class IndexingConfig(BaseModel):
    """The ``indexing`` section: whether each partition's log lines go to Elasticsearch and for how long."""

    model_config = ConfigDict(extra="forbid")

    lines: bool = Field(
        True, description="Index every partition's log lines (data stream <prefix>-logs-<system>)."
    )
    retention_days: int | None = Field(
        30, ge=1, description="Delete indexed lines after this many days (ILM); none: keep them."
    )


def lines_stream(prefix: str, system: str) -> str:
    """The data stream holding ``system``'s lines (lower case; characters Elasticsearch refuses become ``-``)."""
    return f"{prefix}-logs-" + re.sub(r"[^a-z0-9._-]+", "-", system.lower()).strip("-_.")


def ensure_templates(
    client,
    *,
    prefix: str,
    retention_days: int | None,
    extra_mappings: dict[str, dict] | None = None,
    settings: dict | None = None,
) -> str | None:
    """Install logrca's ECS index templates (and the retention policy); returns the ILM policy name or None.

    A cluster without ILM (``ilm.put_lifecycle`` refused) keeps lines until removed by hand.
    ``extra_mappings`` adds kinds owned elsewhere (the incidents' mapping, from :mod:`logrca.incidents.store`);
    ``settings`` are the deployment's index settings (default: one shard, no replica).
    """
    from elasticsearch import ApiError

    policy = None
    if retention_days:
        policy = f"{prefix}-logs-retention"
        phases = {
            "hot": {"actions": {"rollover": {"max_age": "1d", "max_primary_shard_size": "50gb"}}},
            "delete": {"min_age": f"{retention_days}d", "actions": {"delete": {}}},
        }
        try:
            client.ilm.put_lifecycle(name=policy, policy={"phases": phases})
        except ApiError:
            policy = None
    kinds = {"findings": FINDINGS_MAPPING, "reports": REPORTS_MAPPING, "knowledge": KNOWLEDGE_MAPPING}
    kinds |= {"logs": LINES_MAPPING} | (extra_mappings or {})
    put_templates(
        client,
        prefix=prefix,
        kind_mappings=kinds,
        settings=settings or dict(DEFAULT_SETTINGS),
        lifecycle=policy,
    )
    return policy


#: What a line's document holds that a re-run can change: a secret rule added since masks the message,
#: mining again moves the template. They are part of the id, so the changed line is written anew and
#: the old document, its id no longer made, is deleted with the partition's stale lines (a data stream
#: takes no overwrite).
_CONTENT = ("message", "level", "trace_id", "host", "template_id")


def _line_id(system: str, row: dict) -> str:
    key = f"{system}|{row.get('source_file')}|{row.get('line_no')}|{row['timestamp'].isoformat()}|{row['service']}"
    content = "|".join(str(row.get(name)) for name in _CONTENT)
    return hashlib.sha1(f"{key}|{content}".encode()).hexdigest()[:24]


def _line_document(system: str, partition: str, row: dict) -> dict:
    """One line's document as a dict (the reference :func:`line_bodies` is tested against)."""
    level = row.get("level")
    document = ecs_fields(
        "logs",
        timestamp=row["timestamp"],
        message=row.get("message"),
        service=row.get("service"),
        level=level,
        trace_id=row.get("trace_id"),
        host=row.get("host"),
        outcome="failure" if level in ERROR_LEVELS else "unknown",
        dataset=f"{system}.{row.get('service') or 'unknown'}",
        labels={
            "system": system,
            "partition": partition,
            "template_id": row.get("template_id"),
            "line_no": row.get("line_no"),
        },
    )
    if row.get("source_file"):
        document.setdefault("log", {})["file"] = {"path": row["source_file"]}
    return document


#: Keys :func:`ecs_fields` leaves out when null; JSON escapes quotes inside strings, so ``,"key":null``
#: is only ever a key.
_NULL_KEYS = r"(?:message|service|log|level|file|trace|host|template_id|line_no)"


def _utc_iso(column: str) -> pl.Expr:
    """``column`` as ISO 8601 in UTC, with microseconds only when there are any (as ``isoformat`` writes it)."""
    stamp = pl.col(column).dt.convert_time_zone("UTC")
    return (
        pl.when(stamp.dt.microsecond() == 0)
        .then(stamp.dt.to_string("%Y-%m-%dT%H:%M:%S+00:00"))
        .otherwise(stamp.dt.to_string("%Y-%m-%dT%H:%M:%S%.6f+00:00"))
    )


def line_bodies(system: str, partition: str, events: pl.DataFrame) -> pl.DataFrame:
    """Each line's document id (``_id``) and JSON document (``_source``), built on whole columns.

    The same documents as :func:`_line_document` (and ids as :func:`_line_id`) per row, without a
    Python dict per line: polars encodes one struct per row and the keys left out when null are cut
    from the text. Only the id's SHA-1 is taken per line.
    """
    text = {name: _column(events, name) for name in _TEXT_COLUMNS}
    present = {name: column.is_not_null() & (column != "") for name, column in text.items()}
    file, iso = _column(events, "source_file"), _utc_iso("timestamp")
    line_no = _column(events, "line_no").cast(pl.Utf8)
    has_file = file.is_not_null() & (file != "")
    log = pl.struct(
        pl.when(present["level"]).then(text["level"]).alias("level"),
        pl.when(has_file).then(pl.struct(file.alias("path"))).alias("file"),
    )
    document = pl.struct(
        iso.alias("@timestamp"),
        text["message"].alias("message"),
        pl.struct(pl.lit(ECS_VERSION).alias("version")).alias("ecs"),
        pl.struct(
            pl.lit(EVENT_KINDS["logs"]).alias("kind"),
            pl.when(text["level"].is_in(ERROR_LEVELS))
            .then(pl.lit("failure"))
            .otherwise(pl.lit("unknown"))
            .alias("outcome"),
            (
                pl.lit(f"{system}.")
                + pl.when(present["service"]).then(text["service"]).otherwise(pl.lit("unknown"))
            ).alias("dataset"),
        ).alias("event"),
        pl.when(present["service"]).then(pl.struct(text["service"].alias("name"))).alias("service"),
        pl.when(present["level"] | has_file).then(log).alias("log"),
        pl.when(present["trace_id"]).then(pl.struct(text["trace_id"].alias("id"))).alias("trace"),
        pl.when(present["host"]).then(pl.struct(text["host"].alias("name"))).alias("host"),
        pl.struct(
            pl.lit(system).alias("system"),
            pl.lit(partition).alias("partition"),
            _column(events, "template_id").cast(pl.Utf8).alias("template_id"),
            line_no.alias("line_no"),
        ).alias("labels"),
    )
    key = pl.concat_str(
        [
            pl.lit(system),
            file.fill_null("None"),
            line_no.fill_null("None"),
            iso,
            text["service"].fill_null("None"),
            *(_column(events, name).cast(pl.Utf8).fill_null("None") for name in _CONTENT),
        ],
        separator="|",
    )
    bodies = events.select(
        key.alias("_key"),
        document.struct.json_encode()
        .str.replace_all(f',"{_NULL_KEYS}":null', "")
        .str.replace_all(f'\\{{"{_NULL_KEYS}":null,', "{")
        .alias("_source"),
    )
    ids = [hashlib.sha1(key.encode()).hexdigest()[:24] for key in bodies["_key"].to_list()]
    return bodies.select(pl.Series("_id", ids, dtype=pl.Utf8), "_source")


def _column(events: pl.DataFrame, name: str) -> pl.Expr:
    """A column of the events, or nulls where the frame has no such column."""
    return pl.col(name) if name in events.columns else pl.lit(None, pl.Utf8)


def _partition_query(system: str, partition: str) -> dict:
    return {
        "bool": {"filter": [{"term": {"labels.system": system}}, {"term": {"labels.partition": partition}}]}
    }


def _stale_lines(client, stream: str, query: dict, kept: set[str]) -> int:
    """Delete the partition's lines a re-run no longer produced (scan + bulk, core APIs only)."""
    client.indices.refresh(index=stream)
    doomed = (
        {"_op_type": "delete", "_index": hit["_index"], "_id": hit["_id"]}
        for hit in helpers.scan(client, index=stream, query={"query": query}, _source=False)
        if hit["_id"] not in kept
    )
    deleted, _ = helpers.bulk(client, doomed, raise_on_error=False, chunk_size=5000)
    return deleted


def index_lines(
    client,
    *,
    prefix: str,
    system: str,
    partition: str,
    events: pl.DataFrame | pl.LazyFrame,
    rows: int | None = None,
) -> dict[str, int]:
    """Put one partition's lines into the data stream; idempotent per partition.

    Lines stream to the bulk helper (never all in memory as requests); a ``LazyFrame`` (the
    partition's Parquet scan) is read a batch at a time, only the columns the documents use, so
    memory follows the batch, not the partition (``rows``: its lines, when known). A partition seen
    for the first time is only written; on a re-run the ids made now are kept and the partition's
    other lines deleted.

    Returns
    -------
    dict
        ``lines_indexed`` (new now), ``lines_present`` (there from an earlier run), ``lines_deleted_stale``.
    """
    stream = lines_stream(prefix, system)
    query = _partition_query(system, partition)
    seen_before = False
    if client.indices.exists(index=stream):
        client.indices.refresh(index=stream)  # lines of a run moments ago count too
        seen_before = client.count(index=stream, query=query)["count"] > 0
    kept: set[str] = set()

    def actions():
        """(action line, document) pairs as JSON text, built per slice of rows on whole columns."""
        wanted = [name for name in _LINE_COLUMNS if name in events.collect_schema().names()]
        parts = (
            part
            for batch in frame_batches(events.select(wanted), _READ_ROWS, rows=rows)
            for part in batch.iter_slices(_BODY_ROWS)
        )
        for part in parts:
            bodies = line_bodies(system, partition, part)
            if seen_before:
                kept.update(bodies["_id"].to_list())
            heads = bodies.select(
                pl.format('{{"create":{{"_index":{},"_id":"{}"}}}}', pl.lit(json.dumps(stream)), "_id")
            ).to_series()
            yield from zip(heads.to_list(), bodies["_source"].to_list())

    created, present, refused, first_refusal = 0, 0, 0, None
    for ok, item in helpers.streaming_bulk(
        client, actions(), chunk_size=5000, raise_on_error=False, expand_action_callback=_as_is
    ):
        status = (item.get("create") or {}).get("status")
        created, present = created + ok, present + (status == 409)
        if not ok and status != 409:
            refused, first_refusal = refused + 1, first_refusal or item
    if refused:
        raise RuntimeError(f"Elasticsearch refused {refused} log line(s) of {stream}, first: {first_refusal}")
    deleted = _stale_lines(client, stream, query, kept) if seen_before else 0
    return {"lines_indexed": created, "lines_present": present, "lines_deleted_stale": deleted}


#: Rows whose documents are built at once (memory: about this many documents as text).
_BODY_ROWS = 50_000
#: Rows read from the partition at once (a slice of its Parquet scan), and the columns read.
_READ_ROWS = 200_000
#: The free-text columns of a line's document, and all the columns :func:`line_bodies` reads.
_TEXT_COLUMNS = ("message", "service", "level", "trace_id", "host")
_LINE_COLUMNS = ("timestamp", *_TEXT_COLUMNS, "source_file", "line_no", "template_id")


def _as_is(pair: tuple[str, str]) -> tuple[str, str]:
    """The bulk helper's expand callback for pairs already written as JSON text."""
    return pair


def _before(before: datetime) -> dict:
    return {"range": {"@timestamp": {"lt": before.isoformat()}}}


def count_lines_before(client, *, prefix: str, before: datetime) -> int:
    """How many indexed lines (every system) :func:`prune_lines` would delete: its dry run."""
    client.indices.refresh(index=f"{prefix}-logs-*", ignore_unavailable=True, allow_no_indices=True)
    found = client.count(
        index=f"{prefix}-logs-*", query=_before(before), ignore_unavailable=True, allow_no_indices=True
    )
    return found["count"]


def prune_lines(client, *, prefix: str, before: datetime) -> int:
    """Delete the indexed lines (every system) whose ``@timestamp`` is before ``before``: the retention
    clean-up for clusters without ILM (``logrca es prune-lines``). Returns how many were deleted."""
    return delete_matching(client, f"{prefix}-logs-*", _before(before))


def search_lines(
    client,
    *,
    prefix: str,
    query: str = "",
    service: str | None = None,
    template_id: int | None = None,
    trace_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    size: int = 20,
) -> list[dict]:
    """Log lines from ``<prefix>-logs-*`` in time order (a finding's template, a trace, a service's window)."""
    filters: list[dict] = []
    for field, value in (
        ("service.name", service),
        ("labels.template_id", template_id),
        ("trace.id", trace_id),
    ):
        if value is not None:
            filters.append({"term": {field: str(value)}})
    if since or until:
        bounds = {"gte": since.isoformat() if since else None, "lt": until.isoformat() if until else None}
        filters.append({"range": {"@timestamp": {k: v for k, v in bounds.items() if v}}})
    must = (
        [{"simple_query_string": {"query": query, "fields": ["message"], "default_operator": "and"}}]
        if query
        else []
    )
    response = client.search(
        index=f"{prefix}-logs-*",
        query={"bool": {"must": must, "filter": filters}},
        sort=[{"@timestamp": "asc"}],
        size=size,
        ignore_unavailable=True,
        allow_no_indices=True,
    )
    return [hit["_source"] for hit in response["hits"]["hits"]]
