"""Typed description of one log source: where its files are and how to read them."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from typing_extensions import TypedDict  # pydantic needs its TypedDict before Python 3.12 (and requires it)

from logrca.parsers.ingest.metric_formats import PrometheusOptions
from logrca.parsers.validation import PolarsRegex, check_polars_regex

#: Header fields that together give a line's time (the first set a header holds is used).
TIME_FIELD_SETS = (
    ("Timestamp",),
    ("Date", "Time"),
    ("Month", "Date", "Time"),
    ("Month", "Day", "Time"),
    ("Time",),
)

#: A directive polars' time parser (Rust's chrono) knows: ``%Y``, ``%-d``, ``%.3f``, ``%:z``, ``%%`` ...
_CHRONO_DIRECTIVE = re.compile(
    r"%(?:[-_0]?[YCyqmbBhdeaAwuUWGgVjDxFvHkIlMSRTXrcs]|[Pp]|\.?[369]?f|:{1,3}z|#z|[zZ+tn%])"
)

#: Named formats a source can use. ``loghub`` needs ``header``; the others carry their own layout.
FORMATS = ("loghub", "jsonl", "syslog", "csv-json")


#: The JSON key each record field is read from (format ``jsonl``) unless ``json_fields`` says otherwise.
DEFAULT_JSON_FIELDS = {
    "timestamp": "timestamp",
    "level": "level",
    "message": "message",
    "service": "service",
    "host": "host",
    "trace_id": "trace_id",
}


class _JsonFieldNames(TypedDict, total=False):
    """The record fields ``json_fields`` may map; any other key is refused (a typo would be ignored)."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    timestamp: str
    level: str
    message: str
    service: str
    host: str
    trace_id: str


#: ``json_fields`` as written, completed with :data:`DEFAULT_JSON_FIELDS` for the fields it leaves out.
JsonFields = Annotated[_JsonFieldNames, AfterValidator(lambda names: {**DEFAULT_JSON_FIELDS, **names})]


class MultilineRule(BaseModel):
    """How physical lines join into one record (stack traces).

    A line that matches ``start_pattern`` starts a new record; any other line continues the previous
    one. Records longer than ``max_lines`` are cut there and the rest starts a new record, so one
    runaway trace cannot swallow a file.
    """

    model_config = ConfigDict(extra="forbid")

    start_pattern: PolarsRegex
    max_lines: int = Field(500, ge=1)


class CsvOptions(BaseModel):
    """Columns of a CSV log file (format ``csv-json``), read by ``parsers/ingest/csv_records.py``.

    The message may be a JSON document in ``message_column`` (a container runtime's record); then
    ``message_json_key`` names the field holding the line. ``service_from_host_strip`` drops that many
    trailing ``-`` parts of the host/pod name to get the service (``api-5f9c-x2x`` -> ``api`` for 2).
    """

    model_config = ConfigDict(extra="forbid")

    timestamp_column: str = "Timestamp"
    message_column: str = "Log"
    message_json_key: str | None = "log"
    host_column: str | None = "PodName"
    service_column: str | None = None
    service_from_host_strip: int = Field(2, ge=0)
    trace_id_column: str | None = "TraceID"


class SourceConfig(BaseModel):
    """One system's logs: name, service, file globs, format and time zone.

    Examples
    --------
    >>> SourceConfig(name="gw", service="gateway", paths=["logs/gw*.log*"], format="loghub",
    ...              header="<Date> <Time> <Level> <Component>: <Content>").format
    'loghub'
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    service: str | None = None
    paths: list[str] = Field(min_length=1)
    format: Literal["loghub", "jsonl", "syslog", "csv-json"]
    header: str | None = None
    timestamp_format: str | None = None
    timezone: str = "UTC"
    multiline: MultilineRule | None = None
    encoding: str = "utf-8"
    max_line_bytes: int = Field(1_000_000, ge=1024)
    json_fields: JsonFields = Field(default_factory=lambda: dict(DEFAULT_JSON_FIELDS))
    csv: CsvOptions | None = None
    role: Literal["window", "baseline"] = Field(
        "window",
        description="'window': read per time partition; 'baseline': fault-free data read whole as the reference.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError as error:
            raise ValueError(f"unknown encoding {value!r}") from error
        return value

    @field_validator("timestamp_format")
    @classmethod
    def _strftime_like(cls, value: str | None) -> str | None:
        if value is not None and "%" not in value and not value.startswith("epoch_"):
            raise ValueError(
                f"{value!r} has no %-directive; write it like '%y%m%d %H%M%S' (or epoch_s, epoch_ms, epoch_us, epoch_ns)"
            )
        if value is not None and (unknown := re.search("%.?", _CHRONO_DIRECTIVE.sub("", value))):
            raise ValueError(f"{unknown.group()!r} in {value!r} is not a time directive (chrono's strftime)")
        return value

    @model_validator(mode="after")
    def _format_needs(self) -> SourceConfig:
        if self.format == "loghub" and not self.header:
            raise ValueError(
                "format 'loghub' needs 'header', e.g. '<Date> <Time> <Level> <Component>: <Content>'"
            )
        if self.format == "loghub":
            _check_header(self.header)
        if self.format == "csv-json" and self.csv is None:
            self.csv = CsvOptions()
        if self.service is None and self.format in ("loghub", "syslog"):
            raise ValueError(f"format {self.format!r} needs 'service' (its lines do not name one)")
        return self


def _check_header(header: str) -> None:
    """A Loghub header compiles (both regex engines), has ``<Content>`` and fields that give a time."""
    from logrca.parsers.ingest.header_format import compile_header

    compiled = compile_header(header)  # its ValueError names the format and the problem
    check_polars_regex(compiled.pattern)
    if not any(all(name in compiled.fields for name in names) for names in TIME_FIELD_SETS):
        wanted = " or ".join("+".join(f"<{n}>" for n in names) for names in TIME_FIELD_SETS)
        raise ValueError(f"header {header!r} has no time field: it needs {wanted}")


def folder_patterns(source: SourceConfig, base_dir) -> list[tuple[int, str]]:
    """``(index, path)`` for each path pattern that names a folder instead of files (``logs/``)."""
    from pathlib import Path

    named = []
    for index, pattern in enumerate(source.paths):
        path = Path(pattern) if Path(pattern).is_absolute() else Path(base_dir) / pattern
        if not (set(pattern) & set("*?[")) and path.is_dir():
            named.append((index, str(path)))
    return named


class SignalSourceConfig(BaseModel):
    """Files of trace spans or metric samples: name, file globs, a registered format and a role.

    ``format`` names a reader of :mod:`logrca.parsers.ingest.signal_readers` (``case-csv`` for the
    case folder's CSV; more plug in there by name). ``role`` is ``window`` (rows are read per time
    partition, like logs) or ``baseline`` (fault-free rows read whole as the analysis's reference).
    The service of a row is ``service`` when set, else its host/pod name without its last
    ``service_from_host_strip`` ``-`` parts (``api-5f9c-x2x`` -> ``api`` for 2).
    """

    model_config = ConfigDict(extra="forbid")

    #: ``spans`` or ``metrics``: which registry ``format`` is looked up in.
    kind: ClassVar[str] = ""

    name: str = Field(min_length=1)
    paths: list[str] = Field(min_length=1)
    format: str = Field(min_length=1)
    role: Literal["window", "baseline"] = "window"
    service: str | None = None
    service_from_host_strip: int = Field(2, ge=0)

    @field_validator("format")
    @classmethod
    def _registered(cls, value: str) -> str:
        from logrca.parsers.ingest.signal_readers import reader_names

        known = reader_names(cls.kind)
        if value not in known:
            raise ValueError(f"unknown {cls.kind} format {value!r}; known: {', '.join(known)}")
        return value


class SpanSourceConfig(SignalSourceConfig):
    """A source of trace spans (rows of :data:`logrca.parsers.ingest.schema.SPAN_SCHEMA`)."""

    kind: ClassVar[str] = "spans"


class MetricSourceConfig(SignalSourceConfig):
    """A source of metric samples (rows of :data:`logrca.parsers.ingest.schema.METRIC_SCHEMA`).

    ``prometheus`` (format ``prometheus`` only) names the labels that give a sample's service and host;
    by default ``service``/``job`` and ``pod``/``instance``.
    """

    kind: ClassVar[str] = "metrics"

    prometheus: PrometheusOptions | None = None

    @field_validator("role")
    @classmethod
    def _no_fault_free_metrics(cls, role: str) -> str:
        """A pod's metrics are scored against that pod's own minutes before the alert
        (:func:`logrca.rca.signals.metrics.metric_deviations`): fault-free metric files would be read
        and never used, so a metric source of role ``baseline`` is refused at load, not kept silently."""
        if role == "baseline":
            raise ValueError(
                "a metric source cannot be a baseline: each pod's metrics are compared with its own "
                "minutes before the alert; leave 'role' out (window)"
            )
        return role

    @model_validator(mode="after")
    def _options_fit_format(self) -> MetricSourceConfig:
        if self.prometheus is not None and self.format != "prometheus":
            raise ValueError(f"'prometheus' options need format 'prometheus', not {self.format!r}")
        return self
