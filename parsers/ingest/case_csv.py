"""Read the case folder's CSV spans and per-pod metrics (formats ``case-csv``), quarantining bad rows.

Span files: ``TraceID, SpanID, ParentID, PodName, OperationName, StartTimeUnixNano, Duration``
(``ParentID`` ``root`` or empty marks a trace's first span; ``Duration`` in microseconds).
Metric files: ``TimeStamp`` (Unix seconds), ``PodName`` and one column per metric, a row a minute.
Each reader returns ``(frame, quarantine, stats)`` with ``rows_read == rows_stored + rows_quarantined``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl

from logrca.parsers.ingest.csv_records import service_from_host
from logrca.parsers.ingest.files import GZIP_MAGIC
from logrca.parsers.ingest.schema import METRIC_SCHEMA, QUARANTINE_SCHEMA, SPAN_SCHEMA, empty_quarantine
from logrca.parsers.ingest.sources import SignalSourceConfig

__all__ = ["read_case_csv_metrics", "read_case_csv_spans"]

SPAN_COLUMNS = ("TraceID", "SpanID", "ParentID", "PodName", "StartTimeUnixNano", "Duration")
METRIC_INDEX = ("TimeStamp", "PodName")
_NULLS = ["", "NaN", "nan"]


def _read(path: Path, columns: tuple[str, ...], what: str) -> tuple[pl.DataFrame | None, str | None]:
    """``(table, None)`` of a CSV file (plain or gzip), or ``(None, reason)`` when it cannot be one of ``what``."""
    try:
        data = path.read_bytes()
        if data.startswith(GZIP_MAGIC):
            data = gzip.decompress(data)
        raw = pl.read_csv(data, infer_schema_length=0, null_values=_NULLS)
    except (OSError, EOFError, gzip.BadGzipFile, pl.exceptions.PolarsError) as error:
        return None, f"not a readable CSV file: {error}"
    missing = sorted(set(columns) - set(raw.columns))
    return (None, f"{what} file lacks columns {missing}") if missing else (raw, None)


def _stats(read: int, stored: int, quarantined: int, **extra: int) -> dict[str, int]:
    return {"files": 1, "rows_read": read, "rows_stored": stored, "rows_quarantined": quarantined, **extra}


def _rejected_file(path: Path, source: SignalSourceConfig, reason: str, schema: dict):
    """The whole file in quarantine as one row (it cannot be read as a table of this format)."""
    row = {"system": source.name, "source_file": str(path), "line_no": 1, "raw": None, "raw_hex": None}
    quarantine = pl.DataFrame([{**row, "reason": reason}], schema=QUARANTINE_SCHEMA)
    return pl.DataFrame(schema=schema), quarantine, _stats(1, 0, 1, files_rejected=1)


def _quarantine(raw: pl.DataFrame, reasons: pl.Series, path: Path, source) -> pl.DataFrame:
    """Rows of ``raw`` with a non-null reason, as quarantine rows: the CSV row text, its line, the reason."""
    rows = raw.with_row_index("__row").with_columns(reasons.alias("__reason"))
    return (
        rows.filter(pl.col("__reason").is_not_null())
        .select(
            pl.lit(source.name).alias("system"),
            pl.lit(str(path)).alias("source_file"),
            (pl.col("__row").cast(pl.Int64) + 2).alias("line_no"),  # line 1 is the header
            pl.concat_str([pl.col(c).fill_null("") for c in raw.columns], separator=",").alias("raw"),
            pl.lit(None, pl.Utf8).alias("raw_hex"),
            pl.col("__reason").alias("reason"),
        )
        .cast(QUARANTINE_SCHEMA)
    )


def _service(source: SignalSourceConfig) -> pl.Expr:
    if source.service:
        return pl.lit(source.service)
    return service_from_host(pl.col("PodName"), source.service_from_host_strip)


def read_case_csv_spans(path: Path, source: SignalSourceConfig):
    """One span CSV file (plain or gzip) -> ``(SPAN_SCHEMA frame, quarantine, stats)``.

    A row without span id or pod, or whose start or duration is not a number, is quarantined with
    the column at fault; a file that is not CSV or lacks a column is quarantined whole.
    """
    raw, problem = _read(path, SPAN_COLUMNS, "span")
    if raw is None:
        return _rejected_file(path, source, problem, SPAN_SCHEMA)
    start = pl.from_epoch(pl.col("StartTimeUnixNano").cast(pl.Int64, strict=False) // 1000, time_unit="us")
    spans = raw.select(
        pl.col("TraceID").alias("trace_id"),
        pl.col("SpanID").alias("span_id"),
        pl.when(pl.col("ParentID").is_in(["root", ""])).then(None).otherwise("ParentID").alias("parent_id"),
        _service(source).alias("service"),
        pl.col("PodName").alias("host"),
        (pl.col("OperationName") if "OperationName" in raw.columns else pl.lit(None, pl.Utf8)).alias(
            "operation"
        ),
        start.dt.replace_time_zone("UTC").alias("start"),
        pl.col("Duration").cast(pl.Float64, strict=False).alias("duration_us"),
        pl.lit(None, pl.Boolean).alias("error"),
    )
    reason = (
        pl.when(pl.col("span_id").is_null())
        .then(pl.lit("no SpanID"))
        .when(pl.col("host").is_null())
        .then(pl.lit("no PodName"))
        .when(pl.col("start").is_null())
        .then(pl.lit("StartTimeUnixNano is not an integer"))
        .when(pl.col("duration_us").is_null())
        .then(pl.lit("Duration is not a number"))
    )
    reasons = spans.select(reason.alias("reason"))["reason"]
    bad = reasons.is_not_null()
    quarantine = _quarantine(raw, reasons, path, source) if bad.any() else empty_quarantine()
    kept = spans.filter(~bad).cast(SPAN_SCHEMA)
    return kept, quarantine, _stats(raw.height, kept.height, quarantine.height)


def read_case_csv_metrics(path: Path, source: SignalSourceConfig):
    """One per-pod metric CSV file -> ``(METRIC_SCHEMA frame, one row per sample; quarantine; stats)``.

    A row whose ``TimeStamp`` is not Unix seconds or that has no ``PodName`` is quarantined; a value
    that is not a number stays as a null sample (counted in ``samples_without_value``).
    """
    raw, problem = _read(path, METRIC_INDEX, "metric")
    if raw is None:
        return _rejected_file(path, source, problem, METRIC_SCHEMA)
    time = pl.from_epoch(pl.col("TimeStamp").cast(pl.Int64, strict=False), time_unit="s")
    reason = (
        pl.when(pl.col("PodName").is_null())
        .then(pl.lit("no PodName"))
        .when(time.is_null())
        .then(pl.lit("TimeStamp is not Unix seconds"))
    )
    reasons = raw.select(reason.alias("reason"))["reason"]
    bad = reasons.is_not_null()
    quarantine = _quarantine(raw, reasons, path, source) if bad.any() else empty_quarantine()
    good = raw.filter(~bad)
    values = [c for c in raw.columns if c not in ("Time", *METRIC_INDEX)]
    long = good.unpivot(index=list(METRIC_INDEX), on=values, variable_name="metric", value_name="value")
    samples = long.select(
        time.dt.cast_time_unit("us").dt.replace_time_zone("UTC").alias("time"),
        _service(source).alias("service"),
        pl.col("PodName").alias("host"),
        "metric",
        pl.col("value").cast(pl.Float64, strict=False),
    ).cast(METRIC_SCHEMA)
    extra = {"samples": samples.height, "samples_without_value": int(samples["value"].null_count())}
    return samples, quarantine, _stats(raw.height, good.height, quarantine.height, **extra)
