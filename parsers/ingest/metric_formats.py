"""Read metric samples from Prometheus text exposition and OpenMetrics files into METRIC_SCHEMA rows.

Samples are parsed by the official ``prometheus_client`` parsers, one sample line at a time so that a
bad line is quarantined with the parser's reason while the rest of the file is kept.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as prometheus_families
from pydantic import BaseModel, ConfigDict, Field

from logrca.parsers.ingest.files import FileProblem, iter_line_batches
from logrca.parsers.ingest.schema import METRIC_SCHEMA
from logrca.parsers.ingest.signal_records import FileRead, NamedSource, QuarantineRows

__all__ = ["PrometheusOptions", "file_time", "metric_name", "read_prometheus_text"]

#: A time in a file name: ``20260310T0102Z``, ``2026-03-10T01:02:03Z``, ``2026-03-10T01-02-03``
#: (UTC; seconds optional), or ten digits of Unix seconds (``scrape-1773104520.prom``).
_NAME_TIME = re.compile(
    r"(?P<date>\d{4}-?\d{2}-?\d{2})T(?P<h>\d{2})[:-]?(?P<m>\d{2})(?:[:-]?(?P<s>\d{2}))?Z?"
    r"|(?<!\d)(?P<epoch>1\d{9})(?!\d)"
)


class PrometheusOptions(BaseModel):
    """Which labels name a sample's service and host (pod, instance); the first label present wins."""

    model_config = ConfigDict(extra="forbid")

    service_labels: list[str] = Field(
        default_factory=lambda: ["service", "job"],
        min_length=1,
        description="labels naming the service, first present wins",
    )
    host_labels: list[str] = Field(
        default_factory=lambda: ["pod", "instance"],
        description="labels naming the host (pod, instance), first present wins; none leaves host empty",
    )


def file_time(path: Path) -> tuple[datetime, str]:
    """When a scrape file without sample timestamps was taken: a time in its name, else its modification time.

    Returns the time (UTC) and where it came from, ``"name"`` or ``"mtime"``. The name wins because a copy
    of a file (``cp``, unpacking an archive) keeps its name but not always its modification time.

    >>> file_time(Path("scrapes/shop-20260310T010200Z.prom"))
    (datetime.datetime(2026, 3, 10, 1, 2, tzinfo=datetime.timezone.utc), 'name')
    """
    match = _NAME_TIME.search(path.name)
    if match and match["epoch"]:
        return datetime.fromtimestamp(int(match["epoch"]), UTC), "name"
    if match:
        date = match["date"].replace("-", "")
        try:
            moment = datetime(
                int(date[:4]), int(date[4:6]), int(date[6:8]), int(match["h"]), int(match["m"]),
                int(match["s"] or 0), tzinfo=UTC,
            )  # fmt: skip
            return moment, "name"
        except ValueError:
            pass  # not a date after all (month 13...): fall back to the file's time
    return datetime.fromtimestamp(os.stat(path).st_mtime, UTC), "mtime"


def metric_name(name: str, labels: dict[str, str]) -> str:
    """The sample's name with the labels left after service and host, in Prometheus' own notation.

    Labels other than service and host tell series of one metric apart (``quantile``, ``le``, ``method``),
    so they stay in the metric's name: one ``metric`` value per series of a pod.

    >>> metric_name("http_server_requests_seconds", {"quantile": "0.99", "uri": "/pay"})
    'http_server_requests_seconds{quantile="0.99",uri="/pay"}'
    """
    if not labels:
        return name
    escaped = {k: v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for k, v in labels.items()}
    return name + "{" + ",".join(f'{k}="{escaped[k]}"' for k in sorted(escaped)) + "}"


def _is_openmetrics(path: Path) -> bool:
    """True when a line of the file is ``# EOF`` (OpenMetrics ends with it; Prometheus text has none)."""
    for batch in iter_line_batches(path):
        if isinstance(batch, FileProblem):
            return False
        if any(line.strip() == b"# EOF" for line in batch.lines):
            return True
    return False


def _parse_sample_line(text: str, type_line: str | None, openmetrics: bool):
    """The samples of one exposition line, parsed by prometheus_client; raises ValueError when it is bad."""
    if not openmetrics:
        return [s for family in prometheus_families(text + "\n") for s in family.samples]
    document = (f"{type_line}\n" if type_line else "") + text + "\n# EOF\n"
    return [s for family in openmetrics_families(document) for s in family.samples]


class _MetricRows:
    def __init__(self, source: NamedSource, path: Path, options: PrometheusOptions) -> None:
        self.options, self.quarantine = options, QuarantineRows(source, path)
        self.fallback_service = getattr(source, "service", None)
        self.columns: dict[str, list] = {name: [] for name in METRIC_SCHEMA}
        self.read = self.untimed = self.without_value = 0

    def add(self, sample, line_no: int, text: str) -> None:
        labels = dict(sample.labels)
        service = next(
            (labels[k] for k in self.options.service_labels if labels.get(k)), self.fallback_service
        )
        if service is None:
            wanted = ", ".join(self.options.service_labels)
            self.quarantine.add(line_no, text, f"line {line_no}: no service label ({wanted})")
            return
        host = next((labels[k] for k in self.options.host_labels if labels.get(k)), None)
        named = set(self.options.service_labels) | set(self.options.host_labels)
        value = float(sample.value)
        self.without_value += value != value
        self.untimed += sample.timestamp is None
        self.columns["time"].append(None if sample.timestamp is None else float(sample.timestamp))
        self.columns["service"].append(service)
        self.columns["host"].append(host)
        self.columns["metric"].append(
            metric_name(sample.name, {k: v for k, v in labels.items() if k not in named})
        )
        self.columns["value"].append(None if value != value else value)


def read_prometheus_text(
    path: Path, source: NamedSource, options: PrometheusOptions | None = None
) -> FileRead:
    """Read one Prometheus text exposition or OpenMetrics file (plain or gzip) into metric samples.

    Parameters
    ----------
    path : Path
        A scrape (``curl host:port/metrics > file``), a ``/federate`` dump, a node-exporter textfile. A
        file with an ``# EOF`` line is OpenMetrics (timestamps in seconds), any other is Prometheus
        text (timestamps in milliseconds) [1]_.
    source : NamedSource
        Its ``name`` fills the quarantine's ``system`` column; ``source.prometheus`` (when the source has
        it) gives the :class:`PrometheusOptions`; ``source.service`` (when set) is the service of samples
        without a service label.
    options : PrometheusOptions, optional
        Overrides ``source.prometheus``; the default reads the service from ``service``/``job`` and the
        host from ``pod``/``instance``.

    Returns
    -------
    FileRead
        METRIC_SCHEMA rows sorted by time: ``metric`` is the sample name with its other labels
        (:func:`metric_name`); a NaN value (a summary with no observations, a staleness marker) is kept
        as null and counted in ``stats["samples_without_value"]``. Samples without a timestamp take the
        file's time (:func:`file_time`; ``stats["samples_timed_by_name"]`` / ``["samples_timed_by_mtime"]``).
        A counted row is one sample line: one the parser rejects, or with no service label (and no
        ``source.service`` to fall back on), is quarantined with the reason; comments and blank lines are
        not counted.

    References
    ----------
    .. [1] Prometheus, "Exposition formats", https://prometheus.io/docs/instrumenting/exposition_formats/;
       OpenMetrics 1.0, https://github.com/prometheus/OpenMetrics/blob/main/specification/OpenMetrics.md
    """
    options = options or getattr(source, "prometheus", None) or PrometheusOptions()
    openmetrics = _is_openmetrics(path)
    rows = _MetricRows(source, path, options)
    _read_lines(rows, path, openmetrics)
    return _metric_result(rows, path)


def _read_lines(rows: _MetricRows, path: Path, openmetrics: bool) -> None:
    """Parse each sample line of ``path`` into ``rows``, quarantining the ones that do not parse."""
    type_line, ended = None, False
    for batch in iter_line_batches(path):
        if isinstance(batch, FileProblem):
            rows.read += 1
            rows.quarantine.add(batch.line_no, "", f"line {batch.line_no}: {batch.reason}")
            break
        for offset, raw_bytes in enumerate(batch.lines):
            line_no, text = batch.first_line_no + offset, raw_bytes.decode("utf-8", errors="replace").strip()
            if text == "# EOF":
                ended = True
            if not text or text.startswith("#"):
                type_line = text if text.startswith("# TYPE ") else type_line
                continue
            rows.read += 1
            if ended:
                rows.quarantine.add(line_no, text, f"line {line_no}: sample after '# EOF'")
                continue
            family = type_line.split()[2] if type_line and len(type_line.split()) > 3 else None
            context = type_line if family and text.startswith(family) else None
            try:
                samples = _parse_sample_line(text, context, openmetrics)
            except ValueError as error:
                reason = str(error) or "malformed sample"
                rows.quarantine.add(line_no, text, f"line {line_no}: not a sample ({reason})")
                continue
            for sample in samples:
                rows.add(sample, line_no, text)


def _metric_result(rows: _MetricRows, path: Path) -> FileRead:
    moment, origin = file_time(path) if rows.untimed else (None, None)
    frame = pl.DataFrame(rows.columns, schema={**METRIC_SCHEMA, "time": pl.Float64})
    seconds = pl.col("time").fill_null(pl.lit(moment.timestamp() if moment else None, pl.Float64))
    frame = frame.with_columns(
        pl.from_epoch((seconds * 1_000_000).round().cast(pl.Int64), time_unit="us").dt.replace_time_zone(
            "UTC"
        )
    ).cast(METRIC_SCHEMA)
    quarantine = rows.quarantine.frame()
    stats = {
        "files": 1,
        "rows_read": rows.read,
        "rows_stored": rows.read - quarantine.height,
        "rows_quarantined": quarantine.height,
        "samples": frame.height,
        "samples_without_value": rows.without_value,
        "samples_timed_by_name": rows.untimed if origin == "name" else 0,
        "samples_timed_by_mtime": rows.untimed if origin == "mtime" else 0,
    }
    return FileRead(frame.sort("time", maintain_order=True), quarantine, stats)
