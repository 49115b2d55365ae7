"""Load an incident case folder (logs, trace spans, pod metrics, alert time) into frames via the shared readers.

Layout (see docs/rca.md)::

    <dataset>/normal/<name>/{logs,traces}/*.csv[.gz]      fault-free minutes (baseline), optional
    <dataset>/cases/<name>/case.json                      {"system", "alert_time"}
    <dataset>/cases/<name>/logs/*.csv[.gz]                CSV logs, message a JSON record (format csv-json)
    <dataset>/cases/<name>/traces/*.csv[.gz]              spans: TraceID, SpanID, ParentID, PodName, ...
    <dataset>/cases/<name>/metrics/*_metric.csv[.gz]      per-pod metrics, one row a minute
    <dataset>/cases/<name>/label.json                     the truth; never read here (see label_free_copy)
"""

from __future__ import annotations

import contextlib
import gzip
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from logrca.parsers.ingest.csv_records import read_csv_json, service_from_host
from logrca.parsers.ingest.schema import METRIC_SCHEMA, SPAN_SCHEMA, ReadResult
from logrca.parsers.ingest.secrets import Redactor, SecretsConfig
from logrca.parsers.ingest.sources import CsvOptions, SourceConfig

__all__ = ["LABEL_FILE", "Case", "label_free_copy", "load_case", "read_metrics", "read_spans"]

LABEL_FILE = "label.json"
_CSV_GLOBS = ("*.csv", "*.csv.gz")


@dataclass
class Case:
    """One incident: frames for the window and the fault-free baseline, and what the alert says."""

    name: str
    system: str
    alert_time: datetime
    events: pl.DataFrame
    baseline_events: pl.DataFrame
    spans: pl.DataFrame
    baseline_spans: pl.DataFrame
    metrics: pl.DataFrame
    quarantine: pl.DataFrame
    stats: dict[str, int] = field(default_factory=dict)
    baseline_source: str = "normal"


def _files(folder: Path) -> list[Path]:
    return (
        sorted({p for pattern in _CSV_GLOBS for p in folder.glob(pattern) if p.is_file()})
        if folder.is_dir()
        else []
    )


def _read_csv_file(path: Path) -> pl.DataFrame:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    try:
        return pl.read_csv(data, infer_schema_length=0, null_values=["", "NaN", "nan"])
    except pl.exceptions.PolarsError as error:
        raise ValueError(f"{path}: not a readable CSV file: {error}") from error


def read_logs(folders: list[Path], system: str, options: CsvOptions | None = None) -> ReadResult:
    """Read every CSV log file of ``folders`` with the ``csv-json`` reader, secrets masked (default rules)."""
    source = SourceConfig(name=system, paths=["*"], format="csv-json", csv=options or CsvOptions())
    redactor = Redactor.from_config(SecretsConfig())
    return ReadResult.concat(
        [redactor.redact_result(read_csv_json(path, source)) for folder in folders for path in _files(folder)]
    )


def read_spans(
    folders: list[Path], *, host_strip: int = 2, stats: dict[str, int] | None = None
) -> pl.DataFrame:
    """Read trace CSVs (``TraceID, SpanID, ParentID, PodName, OperationName, StartTimeUnixNano, Duration``).

    ``ParentID`` ``root`` (or empty) becomes null; ``Duration`` is in microseconds; the service is the
    pod name without its last ``host_strip`` parts. Each file may carry its own header. Rows whose start
    or duration is not a number, or that lack a span id or pod, cannot be placed and are left out, but
    counted: ``stats`` (when given) gets ``spans_read`` and ``spans_dropped`` added.
    """
    frames = []
    read = dropped = 0
    for path in (p for folder in folders for p in _files(folder)):
        raw = _read_csv_file(path)
        missing = {"TraceID", "SpanID", "ParentID", "PodName", "StartTimeUnixNano", "Duration"} - set(
            raw.columns
        )
        if missing:
            raise ValueError(f"{path}: trace file lacks columns {sorted(missing)}")
        frames.append(
            raw.select(
                pl.col("TraceID").alias("trace_id"),
                pl.col("SpanID").alias("span_id"),
                pl.when(pl.col("ParentID").is_in(["root", ""]))
                .then(None)
                .otherwise(pl.col("ParentID"))
                .alias("parent_id"),
                service_from_host(pl.col("PodName"), host_strip).alias("service"),
                pl.col("PodName").alias("host"),
                (pl.col("OperationName") if "OperationName" in raw.columns else pl.lit(None, pl.Utf8)).alias(
                    "operation"
                ),
                pl.from_epoch(
                    pl.col("StartTimeUnixNano").cast(pl.Int64, strict=False) // 1000, time_unit="us"
                )
                .dt.replace_time_zone("UTC")
                .alias("start"),
                pl.col("Duration").cast(pl.Float64, strict=False).alias("duration_us"),
                pl.lit(None, pl.Boolean).alias("error"),
            )
        )
        kept = frames[-1].filter(
            pl.col("start").is_not_null()
            & pl.col("duration_us").is_not_null()
            & pl.col("span_id").is_not_null()
            & pl.col("host").is_not_null()
        )
        read, dropped = read + frames[-1].height, dropped + frames[-1].height - kept.height
        frames[-1] = kept
    if stats is not None:
        stats["spans_read"] = stats.get("spans_read", 0) + read
        stats["spans_dropped"] = stats.get("spans_dropped", 0) + dropped
    return pl.concat(frames).cast(SPAN_SCHEMA) if frames else pl.DataFrame(schema=SPAN_SCHEMA)


def read_metrics(folder: Path, *, host_strip: int = 2) -> pl.DataFrame:
    """Per-pod metric files (``*_metric.csv[.gz]``) into a long frame ``time, service, host, metric, value``."""
    frames = []
    for path in _files(folder):
        if not path.name.split(".")[0].endswith("_metric"):
            continue
        raw = _read_csv_file(path)
        if "PodName" not in raw.columns or "TimeStamp" not in raw.columns:
            raise ValueError(f"{path}: metric file lacks 'PodName' or 'TimeStamp'")
        values = [c for c in raw.columns if c not in ("Time", "TimeStamp", "PodName")]
        long = raw.unpivot(
            index=["TimeStamp", "PodName"], on=values, variable_name="metric", value_name="value"
        )
        frames.append(
            long.select(
                pl.from_epoch(pl.col("TimeStamp").cast(pl.Int64, strict=False), time_unit="s")
                .dt.cast_time_unit("us")
                .dt.replace_time_zone("UTC")
                .alias("time"),
                service_from_host(pl.col("PodName"), host_strip).alias("service"),
                pl.col("PodName").alias("host"),
                "metric",
                pl.col("value").cast(pl.Float64, strict=False),
            )
        )
    return pl.concat(frames).cast(METRIC_SCHEMA) if frames else pl.DataFrame(schema=METRIC_SCHEMA)


def _parse_time(text: str, path: Path) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: 'alert_time' {text!r} is not an ISO time") from error
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def load_case(case_dir: Path, *, normal_dirs: list[Path] | None = None) -> Case:
    """Read one case folder (never its ``label.json``) and the fault-free minutes for its baseline.

    Parameters
    ----------
    case_dir : Path
        Folder with ``case.json``, ``logs/``, and optionally ``traces/`` and ``metrics/``.
    normal_dirs : list of Path, optional
        Fault-free folders (each with ``logs/`` and optionally ``traces/``). None: the ``normal/*``
        folders of the dataset (``case_dir/../../normal``); when there are none, the part of the case
        before the alert is the baseline.
    """
    case_dir = Path(case_dir)
    meta_path = case_dir / "case.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{meta_path}: cannot read case description: {error}") from error
    if "alert_time" not in meta:
        raise ValueError(f"{meta_path}: missing field 'alert_time'")
    alert = _parse_time(meta["alert_time"], meta_path)
    system = str(meta.get("system") or case_dir.parent.parent.name or "case")
    if normal_dirs is None:
        normal_root = case_dir.parent.parent / "normal"
        normal_dirs = sorted(p for p in normal_root.iterdir() if p.is_dir()) if normal_root.is_dir() else []
    logs = read_logs([case_dir / "logs"], system)
    if logs.events.is_empty():
        raise ValueError(f"{case_dir}: no log rows in {case_dir / 'logs'}")
    normal_logs = read_logs([d / "logs" for d in normal_dirs], system) if normal_dirs else ReadResult()
    span_stats: dict[str, int] = {}
    normal_span_stats: dict[str, int] = {}
    spans = read_spans([case_dir / "traces"], stats=span_stats)
    normal_spans = (
        read_spans([d / "traces" for d in normal_dirs], stats=normal_span_stats)
        if normal_dirs
        else pl.DataFrame(schema=SPAN_SCHEMA)
    )
    baseline_source = "normal"
    if normal_logs.events.is_empty():
        baseline_source = "before-alert"
        normal_logs = ReadResult(events=logs.events.filter(pl.col("timestamp") < alert))
        normal_spans = spans.filter(pl.col("start") < alert)
    stats = {f"case_{k}": v for k, v in (logs.stats | span_stats).items()} | {
        f"normal_{k}": v for k, v in (normal_logs.stats | normal_span_stats).items()
    }
    return Case(
        name=case_dir.name,
        system=system,
        alert_time=alert,
        events=logs.events,
        baseline_events=normal_logs.events,
        spans=spans,
        baseline_spans=normal_spans,
        metrics=read_metrics(case_dir / "metrics"),
        quarantine=pl.concat([logs.quarantine, normal_logs.quarantine]),
        stats=stats,
        baseline_source=baseline_source,
    )


@contextlib.contextmanager
def label_free_copy(case_dir: Path) -> Iterator[Path]:
    """Copy a case folder without ``label.json`` into a fresh read-only temp folder and yield its path.

    The analysis gets only this path: the label is neither there nor reachable from it.
    """
    case_dir = Path(case_dir)
    with tempfile.TemporaryDirectory(prefix="logrca-case-") as tmp:
        target = Path(tmp) / "cases" / case_dir.name
        shutil.copytree(case_dir, target, ignore=shutil.ignore_patterns(LABEL_FILE), symlinks=False)
        for path in sorted(target.rglob("*"), reverse=True):
            path.chmod(0o555 if path.is_dir() else 0o444)
        target.chmod(0o555)
        try:
            yield target
        finally:
            for path in [target, *target.rglob("*")]:
                path.chmod(0o755 if path.is_dir() else 0o644)
