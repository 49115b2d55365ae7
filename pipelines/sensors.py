"""New-file sensor: start the main job for the partitions that newly landed log files cover.

Every tick lists the files of the globs of the config's log, span and metric sources. A file is *taken*
once per content state: the cursor keys it by path and ``inode:size:mtime``, so an unchanged file never
triggers twice, a file that grows triggers again (re-running a partition is idempotent), and a rotation
that only renames a taken file (same inode, size and mtime) triggers nothing. A file modified less than
``LOGRCA_SENSOR_SETTLE_SECONDS`` (default 30) ago is still being written and waits for a later tick. The
partitions a file belongs to come from the first and last timestamps of its head and tail
(:func:`logrca.parsers.ingest.file_times.file_time_range`); those of a span or metric file from its
records, read whole by its format's reader (:func:`time_range_of_file`). A file without any readable
timestamp belongs to the partition of its mtime, where the reader also places its quarantined lines.
A file that only grew (a live log: same device and inode, larger, same first bytes) requests the
partitions from the last time of the content taken before on, not every finished hour it holds again; a
replaced, shrunk or rewritten file requests all of its partitions.

One run per partition and tick; its run key hashes the files that triggered it, so a tick evaluated
twice (daemon restart) requests nothing new. A partition is not requested when the latest
materialization of its ``raw_logs``, ``raw_spans`` or ``raw_metrics`` (whichever ingests a triggering
file's kind) was read from every triggering file as it is now (its ``source_files`` metadata): after
``logrca run``, a sensor starting without a cursor reruns nothing unchanged. The config file is read
on every tick; while it is invalid, a tick skips with the config error's message (file and field) and
takes no file. Runs go through the instance's run queue (``dagster_home/dagster.yaml``), which bounds
how many run at once.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    TimeWindow,
    TimeWindowPartitionsDefinition,
    sensor,
)

from logrca.assets.config import ConfigError, LogrcaConfig
from logrca.assets.materializations import latest_metadata
from logrca.assets.resources import LogrcaConfigResource
from logrca.assets.signals import OUTPUTS as SIGNAL_OUTPUTS
from logrca.parsers.ingest.file_times import file_time_range
from logrca.parsers.ingest.files import file_state, resolve_paths
from logrca.parsers.ingest.signal_readers import KINDS as SIGNAL_KINDS
from logrca.parsers.ingest.signal_readers import read_signal_source

#: Config fields whose sources the sensor watches; a landed file's ``kind`` is one of them.
KINDS = ("sources", "spans", "metrics")
#: Per kind, the asset whose materialization metadata ``source_files`` holds the files it was read from.
INGESTED_BY = {"sources": "raw_logs", **{kind: outputs[0] for kind, outputs in SIGNAL_OUTPUTS.items()}}


@dataclass(frozen=True)
class LandedFile:
    """A file of a source as seen on this tick."""

    source: str
    path: Path
    state: str  # "inode:size:mtime_ns"
    mtime: float
    kind: str = "sources"  # or "spans", "metrics"
    device: int = 0  # st_dev: with the inode, the file's identity

    @property
    def size(self) -> int:
        return int(self.state.split(":")[1])


def list_source_files(config: LogrcaConfig) -> tuple[list[LandedFile], list[str]]:
    """Every file the globs of the config's log, span and metric sources match now, and a message per
    source that could not be listed."""
    found, problems = [], []
    for kind in KINDS:
        for source in getattr(config, kind):
            try:
                paths = resolve_paths(source.paths, config.base_dir)
            except (FileNotFoundError, OSError) as error:
                problems.append(f"source {source.name!r}: {error}")
                continue
            for path in paths:
                try:
                    state, stat = file_state(path), path.stat()
                except FileNotFoundError:  # rotated away between glob and stat
                    continue
                found.append(LandedFile(source.name, path, state, stat.st_mtime, kind, stat.st_dev))
    return found, problems


def time_range_of_file(config: LogrcaConfig, landed: LandedFile) -> tuple[datetime, datetime] | None:
    """First and last time of a landed file's records, None when it has none.

    A log file's come from a look at its head and tail. A span or metric file is read whole by its
    format's reader, as every partition's run reads it: these formats have no cheap look (JSON
    documents, Prometheus scrapes whose samples may carry no time and then take the time in the
    file's name, else its mtime), and the files are small (an hour of the example's spans, 5 MB,
    takes ~0.1 s).
    """
    if landed.kind == "sources":
        return file_time_range(landed.path, config.source(landed.source))
    (source,) = (s for s in getattr(config, landed.kind) if s.name == landed.source)
    one_file = source.model_copy(update={"paths": [str(landed.path)]})
    times = read_signal_source(one_file, base_dir=config.base_dir).frame[SIGNAL_KINDS[landed.kind][1]]
    times = times.drop_nulls()
    return (times.min(), times.max()) if times.len() else None


def partitions_of_span(
    span: tuple[datetime, datetime] | None,
    mtime: float,
    valid_keys: set[str],
    partitions: TimeWindowPartitionsDefinition,
) -> list[str]:
    """Partition keys (of ``valid_keys``) whose windows ``span`` touches; without a span, the key of
    ``mtime`` (where the reader places a file's lines that have no time)."""
    if span is None:
        moment = datetime.fromtimestamp(mtime, tz=UTC)
        span = (moment, moment)
    # Align the span to partition boundaries: the key of its first and of its last moment.
    first = partitions.time_window_for_partition_key(
        partitions.get_partition_key_for_timestamp(span[0].timestamp())
    )
    last = partitions.time_window_for_partition_key(
        partitions.get_partition_key_for_timestamp(span[1].timestamp())
    )
    return [
        key
        for key in partitions.get_partition_keys_in_time_window(TimeWindow(first.start, last.end))
        if key in valid_keys
    ]


#: Bytes of a file's start whose digest tells a file that only grew from one rewritten in place.
HEAD_BYTES = 4096


def head_digest(path: Path, size: int) -> str:
    """Digest of the first ``min(size, HEAD_BYTES)`` bytes: appending to the file leaves it as it is."""
    with path.open("rb") as stream:
        return hashlib.sha1(stream.read(min(size, HEAD_BYTES))).hexdigest()[:16]


def grown_from(landed: LandedFile, old_state: str | None, old_end: list | None) -> datetime | None:
    """The last time of the content taken before, when ``landed`` is that file with lines appended
    (same device and inode, larger, same first bytes); None for a new, replaced, shrunk or rewritten file.

    ``old_end`` is the cursor's ``[device, last time (ISO), head digest]`` of the file as taken.
    """
    if old_state is None or not old_end:
        return None
    device, last, head = old_end
    old_inode, old_size, _ = old_state.split(":")
    if (device, old_inode) != (landed.device, landed.state.split(":")[0]) or landed.size <= int(old_size):
        return None
    if head_digest(landed.path, int(old_size)) != head:
        return None
    return datetime.fromisoformat(last)


def evaluate_new_files(
    config: LogrcaConfig,
    cursor: dict,
    *,
    now: float,
    settle_seconds: float,
    valid_keys: set[str],
    partitions: TimeWindowPartitionsDefinition,
) -> dict:
    """One tick of the sensor, without Dagster: which partitions to run and the next cursor.

    Returns
    -------
    dict
        ``runs`` {partition key: [paths]}, ``kinds`` {path: kind} of the files listed, ``cursor`` (the
        next one), ``waiting`` (paths still being written), ``renamed``, ``outside`` (paths whose lines
        fall in no complete partition) and ``problems`` (messages).

    Notes
    -----
    The cursor holds, per file listed now (so it stays as large as the listing): ``taken`` its state
    and ``ends`` ``[device, last time, head digest]`` of the content taken. A file that only grew
    (:func:`grown_from`) requests the partitions from that last time on, not the finished hours
    before it again.
    """
    taken: dict[str, str] = cursor.get("taken", {})
    ends: dict[str, list] = cursor.get("ends", {})
    landed, problems = list_source_files(config)
    path_of_state = {state: path for path, state in taken.items()}
    next_taken, next_ends, runs, waiting, renamed, outside = {}, {}, defaultdict(list), [], [], []

    def keep(key: str, old_key: str) -> None:
        next_taken[key] = taken[old_key]
        if old_key in ends:
            next_ends[key] = ends[old_key]

    for item in landed:
        key = str(item.path)
        if taken.get(key) == item.state:
            keep(key, key)
        elif now - item.mtime < settle_seconds:
            waiting.append(key)
            if key in taken:
                keep(key, key)
        elif item.state in path_of_state:
            keep(key, path_of_state[item.state])
            renamed.append(key)
        else:
            try:
                span = time_range_of_file(config, item)
                since = grown_from(item, taken.get(key), ends.get(key))
                if span is not None:
                    span = span if since is None else (since, max(span[1], since))
                    next_ends[key] = [item.device, span[1].isoformat(), head_digest(item.path, item.size)]
            except (OSError, EOFError) as error:  # unreadable right now (EOFError: gzip cut short): next tick
                next_ends.pop(key, None)
                if key in taken:  # as taken before: next tick still knows whether it only grew
                    keep(key, key)
                problems.append(f"{key}: {error}")
                continue
            keys = partitions_of_span(span, item.mtime, valid_keys, partitions)
            next_taken[key] = item.state
            if not keys:
                outside.append(key)
            for partition in keys:
                runs[partition].append(key)
    return {
        "runs": dict(runs),
        "kinds": {str(item.path): item.kind for item in landed},
        "cursor": {"taken": next_taken, "ends": next_ends},
        "waiting": waiting,
        "renamed": renamed,
        "outside": outside,
        "problems": problems,
    }


def ingested_file_states(instance, partition: str, asset: str = "raw_logs") -> dict[str, str]:
    """The file states the latest ``asset`` materialization of ``partition`` was read from ({} if none)."""
    return dict(latest_metadata(instance, asset, partition, "source_files") or {})


def _read_from(instance, partition: str, paths: list[str], tick: dict) -> bool:
    """Whether ``partition``'s latest materialization of the asset that ingests each path's kind
    (:data:`INGESTED_BY`) was read from that path as the tick took it; each asset's states read once."""
    by_asset: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        by_asset[INGESTED_BY[tick["kinds"][path]]].append(path)
    taken = tick["cursor"]["taken"]
    for asset, its_paths in by_asset.items():
        states = ingested_file_states(instance, partition, asset)
        if any(states.get(p) != taken[p] for p in its_paths):
            return False
    return True


def run_key_for(partition: str, paths: list[str], cursor: dict) -> str:
    """Deterministic run key: the partition plus a hash of the triggering files' states."""
    states = "|".join(f"{p}={cursor['taken'][p]}" for p in sorted(paths))
    return f"{partition}:{hashlib.sha1(states.encode()).hexdigest()[:12]}"


def _log_tick(context: SensorEvaluationContext, tick: dict) -> None:
    """Problems, and files outside complete partitions or still being written, into the tick's log."""
    for message in tick["problems"]:
        context.log.warning(message)
    if tick["outside"]:
        context.log.info(
            f"{len(tick['outside'])} new file(s) hold no line of a complete partition (the schedule takes the current one): {tick['outside'][:5]}"
        )
    if tick["waiting"]:
        context.log.info(
            f"{len(tick['waiting'])} file(s) still being written, waiting: {tick['waiting'][:5]}"
        )


def build_sensors(
    partitions: TimeWindowPartitionsDefinition, *, settle_seconds: float = 30, interval_seconds: int = 30
) -> list:
    """The new-file sensor on ``partitions``: a file must be unchanged ``settle_seconds`` before it is
    taken; the daemon evaluates the sensor every ``interval_seconds``."""

    @sensor(
        job_name="logrca_main",
        minimum_interval_seconds=interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        description="Runs the main job for the partitions covered by new or grown log files (settled for LOGRCA_SENSOR_SETTLE_SECONDS).",
    )
    def new_log_files_sensor(context: SensorEvaluationContext, logrca: LogrcaConfigResource):
        """Request one run per partition that newly landed log files cover."""
        try:  # read anew each tick: the file may have been edited since the daemon loaded the definitions
            config = logrca.load()
        except ConfigError as error:  # its message names the file and each bad field; no trace per tick
            return SensorResult(
                skip_reason=SkipReason(f"config not loaded, no file taken: {error}"), cursor=context.cursor
            )
        cursor = json.loads(context.cursor) if context.cursor else {}
        now = time.time()
        valid_keys = set(partitions.get_partition_keys(current_time=datetime.fromtimestamp(now, tz=UTC)))
        tick = evaluate_new_files(
            config,
            cursor,
            now=now,
            settle_seconds=settle_seconds,
            valid_keys=valid_keys,
            partitions=partitions,
        )
        _log_tick(context, tick)
        done = {  # e.g. by 'logrca run' before 'dagster dev' started: same files, nothing new to run
            partition
            for partition, paths in tick["runs"].items()
            if _read_from(context.instance, partition, paths, tick)
        }
        if done:
            context.log.info(f"already materialized from the same files, not run again: {sorted(done)}")
        requests = [
            RunRequest(
                run_key=run_key_for(partition, paths, tick["cursor"]),
                partition_key=partition,
                tags={"logrca/trigger": "new-files", "logrca/files": str(len(paths))},
            )
            for partition, paths in sorted(tick["runs"].items())
            if partition not in done
        ]
        next_cursor = json.dumps(tick["cursor"], sort_keys=True)
        if not requests:
            reason = f"no new settled files ({len(tick['waiting'])} waiting, {len(tick['renamed'])} renamed, {len(tick['outside'])} outside complete partitions, {len(done)} partition(s) already materialized from them)"
            return SensorResult(skip_reason=SkipReason(reason), cursor=next_cursor)
        return SensorResult(run_requests=requests, cursor=next_cursor)

    return [new_log_files_sensor]
