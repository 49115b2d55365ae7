"""The spans a reader found, checked and stored as columns: a whole file's spans at once in polars.

The span readers (:mod:`logrca.parsers.ingest.span_formats`) walk their JSON and hand each span's
fields to :meth:`SpanRows.add`, which only keeps them; :meth:`SpanRows.result` checks them all at once
(ids, service, times) and turns ids into padded lower-case hex. A span failing a check is quarantined
with the reason :func:`span_problem` gives, in the order the records were read.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from logrca.parsers.ingest.schema import SPAN_SCHEMA
from logrca.parsers.ingest.signal_records import FileRead, NamedSource, QuarantineRows, hex_id, record_text

__all__ = ["FIELDS", "SpanRows", "span_problem"]

TRACE_ID_LENGTHS = (16, 32)
SPAN_ID_LENGTHS = (16,)
#: What a reader hands over per span: ids still as written, ``start_us`` an int, ``duration_us`` a number.
FIELDS = tuple("start_us" if name == "start" else name for name in SPAN_SCHEMA)


def span_problem(fields: dict, fallback_service: str | None) -> tuple[str | None, dict]:
    """``(why the span cannot be stored or None, its stored values)``: the checks one span at a time."""
    trace_id = hex_id(fields["trace_id"], lengths=TRACE_ID_LENGTHS)
    span_id = hex_id(fields["span_id"], lengths=SPAN_ID_LENGTHS)
    parent = fields["parent_id"]
    parent_id = hex_id(parent, lengths=SPAN_ID_LENGTHS) if parent not in (None, "") else None
    if not fields["service"]:
        fields = {**fields, "service": fallback_service}
    problem = None
    if trace_id is None:
        problem = f"trace id {fields['trace_id']!r} is not a non-zero hex id of up to 32 digits"
    elif span_id is None:
        problem = f"span id {fields['span_id']!r} is not a non-zero hex id of up to 16 digits"
    elif parent not in (None, "") and parent_id is None:
        problem = f"parent span id {parent!r} is not a hex id of up to 16 digits"
    elif not isinstance(fields["service"], str) or not fields["service"]:
        problem = "no service name"
    elif fields["start_us"] is None or fields["start_us"] <= 0:
        problem = "no start time"
    elif fields["duration_us"] is None:
        problem = "no duration (the span was never finished)"
    elif fields["duration_us"] < 0:
        problem = "ends before it starts"
    values = {
        **fields,
        "host": _text(fields["host"]),
        "operation": _text(fields["operation"]),
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_id": parent_id,
        "start": fields["start_us"],
        "duration_us": float(fields["duration_us"]) if problem is None else None,
        "error": bool(fields["error"]),
    }
    return problem, values


def _record(raw: object) -> object:
    """The record :meth:`SpanRows.add` was given, decoded again from its text when given as ``(text, keys)``."""
    if type(raw) is not tuple:  # a JSON record is never a tuple
        return raw
    record = json.loads(raw[0])
    for key in raw[1]:
        record = record[key]
    return record


def _text(value: object) -> str | None:
    """A name as text: a number or other JSON value where a string belongs as its JSON (not a failed read)."""
    return value if value is None or isinstance(value, str) else record_text(value)


class SpanRows:
    """Collects a file's span records as they are read; :meth:`result` checks and stores them."""

    def __init__(self, source: NamedSource, path: Path) -> None:
        self.source, self.path = source, path
        self.fallback_service = getattr(source, "service", None)
        self.columns: dict[str, list] = {name: [] for name in FIELDS}
        # per span: when it was read (among spans and rejected units), its place, line and record
        self.order: list[int] = []
        self.where: list[str] = []
        self.line_no: list[int | None] = []
        self.raw: list[object] = []
        self.rejected: list[tuple[int, int | None, str, str]] = []  # (order read, line_no, raw, reason)
        self.read = 0

    def add(self, where: str, line_no: int | None, raw: object, fields: dict) -> None:
        """Keep a span given as :data:`FIELDS` (ids still raw); ``where`` starts its reason if it is quarantined.

        ``raw`` is the span's JSON record, or ``(text, keys)``: the JSON text it was decoded from and
        the keys that lead to it there. A reader that decodes a line at a time passes the latter, so
        that nothing of the decoded JSON is kept per span (holding it all made Python's garbage
        collector walk every span again and again); the record is decoded again if it is quarantined.
        """
        for name, column in self.columns.items():
            column.append(fields[name])
        self.order.append(self.read)
        self.where.append(where)
        self.line_no.append(line_no)
        self.raw.append(raw)
        self.read += 1

    def reject(self, where: str, line_no: int | None, raw: str, reason: str) -> None:
        """Quarantine a unit that holds no readable span (a line that is not JSON, a cut gzip stream)."""
        self.rejected.append((self.read, line_no, raw, f"{where}: {reason}"))
        self.read += 1

    def result(self) -> FileRead:
        checked = _checked_columns(self.columns, self.fallback_service)
        if checked is None or not self._same_problems(checked[1]):
            checked = _checked_one_by_one(self.columns, self.fallback_service)
        stored, failed = checked
        quarantine = QuarantineRows(self.source, self.path)
        failures = [
            (self.order[i], self.line_no[i], record_text(_record(self.raw[i])), f"{self.where[i]}: {why}")
            for i, why in failed
        ]
        for _, line_no, raw, reason in sorted(self.rejected + failures, key=lambda item: item[0]):
            quarantine.add(line_no, raw, reason)
        frame = stored.with_columns(pl.from_epoch("start", time_unit="us").dt.replace_time_zone("UTC")).cast(
            SPAN_SCHEMA
        )
        quarantined = quarantine.frame()
        stats = {
            "files": 1,
            "rows_read": self.read,
            "rows_stored": frame.height,
            "rows_quarantined": quarantined.height,
        }
        return FileRead(frame.sort("start", maintain_order=True), quarantined, stats)

    def _same_problems(self, failed: list[tuple[int, str | None]]) -> bool:
        """Whether each span the column checks failed fails the one-span checks too (their reasons filled in)."""
        for k, (i, _) in enumerate(failed):
            why, _ = span_problem({name: self.columns[name][i] for name in FIELDS}, self.fallback_service)
            if why is None:
                return False
            failed[k] = (i, why)
        return True


_STORED = {**SPAN_SCHEMA, "start": pl.Int64}


def _checked_one_by_one(columns: dict[str, list], fallback: str | None) -> tuple[pl.DataFrame, list]:
    """(stored spans, [(index, reason)] of the others): :func:`span_problem` on each span."""
    stored: dict[str, list] = {name: [] for name in _STORED}
    failed = []
    for i, row in enumerate(zip(*columns.values())):
        problem, values = span_problem(dict(zip(FIELDS, row)), fallback)
        if problem is not None:
            failed.append((i, problem))
            continue
        for name, column in stored.items():
            column.append(values.get(name))
    return pl.DataFrame(stored, schema=_STORED), failed


def _checked_columns(columns: dict[str, list], fallback: str | None) -> tuple[pl.DataFrame, list] | None:
    """What :func:`_checked_one_by_one` gives, by whole columns; None when an id or name is not text.

    The failed spans come back without their reasons (:meth:`SpanRows.result` asks :func:`span_problem`).
    The readers give ``start_us`` as an int, ``duration_us`` as a number and ``error`` as a bool; ids and
    names are as the JSON wrote them, and a column of them holding anything but text fails to build.
    """
    schema = {("start_us" if name == "start" else name): dtype for name, dtype in _STORED.items()}
    try:
        frame = pl.DataFrame(columns, schema=schema)
    except (OverflowError, TypeError, ValueError, pl.exceptions.PolarsError):
        return None  # a number among the ids, or an integer beyond 64 bits: the one-span checks say
    service = (
        pl.when(pl.col("service").fill_null("") == "").then(pl.lit(fallback, pl.Utf8)).otherwise("service")
    )
    given = pl.col("parent_given")
    checked = (
        frame.with_columns(parent_given=pl.col("parent_id").fill_null("") != "")
        .with_columns(
            trace_id=_hex(pl.col("trace_id"), TRACE_ID_LENGTHS),
            span_id=_hex(pl.col("span_id"), SPAN_ID_LENGTHS),
            parent_id=pl.when(given).then(_hex(pl.col("parent_id"), SPAN_ID_LENGTHS)),
            service=service,
        )
        .with_columns(
            ok=pl.col("trace_id").is_not_null()
            & pl.col("span_id").is_not_null()
            & (pl.col("parent_id").is_not_null() | ~given)
            & (pl.col("service").fill_null("") != "")
            & (pl.col("start_us") > 0).fill_null(False)
            & (pl.col("duration_us") >= 0).fill_null(False)
        )
    )
    failed = [(int(i), None) for i in checked["ok"].not_().arg_true()]
    stored = checked.filter("ok").select(
        *(pl.col("start_us").alias("start") if n == "start" else n for n in _STORED)
    )
    return stored, failed


def _hex(value: pl.Expr, lengths: tuple[int, ...]) -> pl.Expr:
    """:func:`~logrca.parsers.ingest.signal_records.hex_id` of a text column (null where it gives None)."""
    length = value.str.len_bytes()
    valid = (
        value.str.contains(r"^[0-9a-fA-F]+$") & (length <= lengths[-1]) & value.str.contains("[1-9a-fA-F]")
    )
    width = pl.lit(lengths[-1])
    for n in reversed(lengths[:-1]):
        width = pl.when(length <= n).then(pl.lit(n)).otherwise(width)
    return pl.when(valid).then(value.str.to_lowercase().str.zfill(width))
