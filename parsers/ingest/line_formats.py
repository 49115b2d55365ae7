"""Turn raw record text into event columns, one function per source format (vectorized with polars)."""

from __future__ import annotations

import re
from datetime import UTC

import numpy as np
import polars as pl

from logrca.parsers.ingest.json_rows import decode_plain_json as _decode_plain_json
from logrca.parsers.ingest.json_rows import plain_json_rows as _plain_json_rows
from logrca.parsers.ingest.schema import normalise_levels
from logrca.parsers.ingest.sources import TIME_FIELD_SETS, SourceConfig

#: Request or trace ids that many services print: ``trace_id=ab12...``, ``TraceID: ...``, ``request-id ...``.
TRACE_ID_PATTERN = r"(?i)\b(?:trace[_-]?id|request[_-]?id|req[_-]?id|x-request-id)\b[\"']?\s*[=:]?\s*[\"']?([0-9A-Za-z][0-9A-Za-z\-]{7,})"

#: chrono formats tried in turn when a source gives no ``timestamp_format`` (commas become dots first).
TIMESTAMP_FORMATS = (
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M:%S%.f",
    "%Y%m%d %H:%M:%S%.f",
    "%a %b %d %H:%M:%S %Y",
    "%d/%b/%Y:%H:%M:%S %z",
    "%Y-%m-%d-%H.%M.%S%.f",
)

#: ``timestamp_format`` values for numbers since 1970-01-01 UTC, and their factor to microseconds.
EPOCH_FORMATS = {"epoch_s": 1e6, "epoch_ms": 1e3, "epoch_us": 1.0, "epoch_ns": 1e-3}


def parse_timestamps(text: pl.Series, *, timestamp_format: str | None, timezone: str) -> pl.Series:
    """Parse timestamp strings into UTC; values that do not parse become null.

    Without ``timestamp_format`` each of :data:`TIMESTAMP_FORMATS` is tried (with and without a UTC
    offset) and the one that parses most values wins. Offsets written in the text (``Z``,
    ``+01:00``) win over ``timezone``, which applies to text without one. A format of
    :data:`EPOCH_FORMATS` reads numbers since the epoch (``epoch_ms``: ``1773104400000``).
    """
    if timestamp_format in EPOCH_FORMATS:
        micros = text.str.strip_chars().cast(pl.Float64, strict=False) * EPOCH_FORMATS[timestamp_format]
        return micros.cast(pl.Int64, strict=False).cast(pl.Datetime("us", "UTC")).rename(text.name)
    wanted = text.len() - text.null_count()
    formats = (
        (timestamp_format,)
        if timestamp_format
        else tuple(f + "%z" for f in TIMESTAMP_FORMATS if "%z" not in f) + TIMESTAMP_FORMATS
    )
    if len(formats) > 1 and wanted and (fixed := _fixed_width(text, timezone)) is not None:
        return fixed
    text = _z_as_offset(_comma_as_dot(text.str.strip_chars()))
    if len(formats) > 1 and wanted > TIMESTAMP_SAMPLE:
        sample = text.drop_nulls().head(TIMESTAMP_SAMPLE)
        # The first format that reads a whole sample is the one the loop below would stop at when it
        # reads every value (formats before it fail on the sample, so on the column); try it alone.
        first = next((f for f in formats if _to_utc(sample, f, timezone).null_count() == 0), None)
        if first is not None:
            parsed = _to_utc(text, first, timezone)
            if parsed.null_count() == text.null_count():
                return parsed
    best, best_count = None, 0
    for fmt in formats:
        parsed = _to_utc(text, fmt, timezone)
        count = parsed.len() - parsed.null_count()
        if count > best_count:
            best, best_count = parsed, count
        if count == wanted:
            break
    if best is None:
        return pl.Series(text.name, [None] * text.len(), dtype=pl.Datetime("us", "UTC"))
    return best


#: How many timestamps pick the format tried first on the whole column (:func:`parse_timestamps`).
TIMESTAMP_SAMPLE = 1000


def _iso_shape(sep: str, fraction_sep: str | None, zone: str) -> str:
    """An ISO date and time with ``sep`` between them, a fraction of 1 to 9 digits after
    ``fraction_sep`` or none (None: never a fraction), and ``zone``: each a regex (a group captures)."""
    fraction = rf"(?:{fraction_sep}(\d{{1,9}}))?" if fraction_sep is not None else ""
    return rf"^\d{{4}}-\d{{2}}-\d{{2}}{sep}\d{{2}}:\d{{2}}:\d{{2}}{fraction}{zone}$"


#: ISO dates and times with a fraction of 1 to 9 digits (``.`` or ``,``) or none, and a ``Z`` or not.
_FIXED_SHAPE = _iso_shape("([ T])", "([.,])", "(Z?)")


def _fixed_width(text: pl.Series, timezone: str) -> pl.Series | None:
    """The column parsed by position when its sample has one ISO shape of :data:`_FIXED_SHAPE`, or None.

    The date and time fill the first 19 characters, which polars parses with its fixed-width parser;
    the fraction after them, of any length up to nine digits (RFC 3339 with nanoseconds drops
    trailing zeros: ``.38259894Z``) or none, is read as a number. That is about 25 times faster
    than chrono's ``%.f`` with an offset. Every value must have the sample's separators and ``Z``
    (one regex pass, which a DFA runs), and the result stands only when it reads every value: then
    it is what :data:`TIMESTAMP_FORMATS` would give (same fields, the fraction cut to microseconds;
    a ``Z`` is UTC as ``+00:00`` is, other text takes ``timezone``). Values are read as they are,
    unstripped: a value with spaces around it does not parse here, and the caller's formats run.
    """
    sample = text.drop_nulls().head(TIMESTAMP_SAMPLE)
    shapes = sample.str.extract_groups(_FIXED_SHAPE).struct.unnest()
    if shapes["1"].null_count() or shapes.select("1", "4").unique().height != 1:
        return None  # a value of another shape, or two date-time separators or zones
    fraction_seps = shapes["2"].drop_nulls().unique()
    if fraction_seps.len() > 1:
        return None
    sep, _, _, zulu = shapes.row(0)
    # the fraction's separator where the sample has one; where it has none, no value may have one
    fraction_sep = re.escape(fraction_seps[0]) if fraction_seps.len() else None
    if not text.str.contains(_iso_shape(sep, fraction_sep, zulu)).fill_null(True).all():
        return None
    naive = text.str.slice(0, 19).str.to_datetime(f"%Y-%m-%d{sep}%H:%M:%S", strict=False, time_unit="us")
    digits = text.str.slice(20).str.strip_suffix("Z") if zulu else text.str.slice(20)
    micros = digits.str.pad_end(6, "0").str.slice(0, 6).cast(pl.Int64)
    naive = (naive.cast(pl.Int64) + micros).cast(pl.Datetime("us")).rename(text.name)
    if naive.null_count() != text.null_count():
        return None
    return local_to_utc(naive, "UTC" if zulu else timezone)


def _comma_as_dot(text: pl.Series) -> pl.Series:
    r"""``hh:mm:ss,f`` as ``hh:mm:ss.f`` (first place only): ``str.replace(r"(\d{2}:\d{2}:\d{2}),(\d)", "$1.$2")``.

    Without capture groups where it can: when the time's comma is the value's first comma (both
    found by searches a DFA runs), the first comma is replaced as plain text; other rows take the regex.
    """
    if not text.str.contains(",", literal=True).any():
        return text
    value = pl.col("t")
    places = text.to_frame("t").select(
        time=value.str.find(r"\d{2}:\d{2}:\d{2},\d") + 8, first=value.str.find(",", literal=True)
    )
    plain = (places["time"].is_null() | (places["time"] == places["first"])).fill_null(False)
    replaced = text.str.replace(",", ".", literal=True)
    out = pl.select(pl.when(places["time"].is_null()).then(text).otherwise(replaced)).to_series()
    if not plain.all():
        rows = (~plain).arg_true()
        out = out.scatter(rows, text.gather(rows).str.replace(r"(\d{2}:\d{2}:\d{2}),(\d)", "$1.$2"))
    return out.alias(text.name)


def _z_as_offset(text: pl.Series) -> pl.Series:
    r"""A ``Z`` ending a time after a digit written ``+00:00``: ``str.replace(r"(\d)Z$", "$1+00:00")``, without captures."""
    if not text.str.ends_with("Z").any():
        return text
    value = pl.col("t")
    zulu = value.str.contains(r"\dZ$").fill_null(False)
    return (
        text.to_frame("t")
        .select(pl.when(zulu).then(value.str.head(-1) + "+00:00").otherwise(value))
        .to_series()
    )


def _to_utc(text: pl.Series, fmt: str, timezone: str) -> pl.Series:
    """``text`` parsed with one chrono format, in UTC (``timezone`` for text without an offset)."""
    aware = "%z" in fmt
    parsed = text.str.to_datetime(
        fmt, strict=False, time_unit="us", **({"time_zone": "UTC"} if aware else {})
    )
    return parsed.dt.convert_time_zone("UTC") if aware else local_to_utc(parsed, timezone)


def local_to_utc(naive: pl.Series, zone: str) -> pl.Series:
    """Wall-clock times of ``zone`` (a naive ``Datetime("us")`` column) in UTC.

    A time the clock jumped over (spring forward: 02:30 on 2026-03-29 in Europe/Berlin never
    happened) is shifted forward by the gap, i.e. read with the offset in force before it (03:30
    CEST, 01:30 UTC), as java.time's ``ZonedDateTime.of`` and Python's ``zoneinfo`` (``fold=0``)
    read it; polars 1.44 can only raise on it or make it null. It is kept, not quarantined: a line
    written at such a time is real data, stamped by a clock that had not moved on yet. A time seen
    twice (fall back) is the first of the two (``ambiguous="earliest"``, summer time), as before
    and as java.time and ``zoneinfo`` also read it. Only the rare gap values take a Python
    datetime each; the column costs one null count more.
    """
    parsed = naive.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    if parsed.null_count() == naive.null_count():
        return parsed.dt.convert_time_zone("UTC")
    from zoneinfo import ZoneInfo

    rows = (parsed.is_null() & naive.is_not_null()).arg_true()
    local = ZoneInfo(zone)
    shifted = [value.replace(tzinfo=local).astimezone(UTC) for value in naive.gather(rows).to_list()]
    return parsed.dt.convert_time_zone("UTC").scatter(
        rows, pl.Series(shifted, dtype=pl.Datetime("us", "UTC"))
    )


def extract_trace_id(message: pl.Expr) -> pl.Expr:
    """The first request/trace id written in the message, or null.

    ``str.extract(TRACE_ID_PATTERN, 1)`` without its capture group: the whole match is found by a DFA,
    then cut after its last quote, space, ``=`` or ``:`` (the key's ``\\b`` needs one of them before
    the id, whose characters are none of them).
    """
    whole = TRACE_ID_PATTERN.replace("([0-9A-Za-z]", "(?:[0-9A-Za-z]")
    return message.str.extract(whole, 0).str.replace(r"(?s)^.*[\"'\s=:]", "")


def _header_time_columns(columns: list[str]) -> tuple[str, ...]:
    for fields in TIME_FIELD_SETS:
        if all(name in columns for name in fields):
            return fields
    raise ValueError(f"header has no time fields: expected one of {TIME_FIELD_SETS}, got {columns}")


def parse_loghub(records: pl.DataFrame, source: SourceConfig) -> pl.DataFrame:
    """Parse records (``head``: first line, ``rest``: continuation text) with the source's Loghub header.

    Returns columns ``timestamp, level, host, message, trace_id, problem`` (``problem`` null when ok).
    """
    from logrca.parsers.ingest.header_format import compile_header, split_header

    header = compile_header(source.header or "")
    fields = split_header(records["head"], header)
    time_fields = _header_time_columns([c for c in fields.columns if c != "matched"])
    stamps = fields.select(pl.concat_str([pl.col(c) for c in time_fields], separator=" ").alias("t"))["t"]
    timestamp = parse_timestamps(
        stamps,
        timestamp_format=source.timestamp_format,
        timezone=source.timezone,
    )
    level_col = next((c for c in ("Level", "Severity", "Type") if c in fields.columns), None)
    host_col = next((c for c in ("Host", "Node", "Hostname") if c in fields.columns), None)
    out = pl.DataFrame(
        {
            "timestamp": timestamp,
            "level": normalise_levels(fields[level_col])
            if level_col
            else pl.Series([None] * fields.height, dtype=pl.Utf8),
            "host": fields[host_col] if host_col else pl.Series([None] * fields.height, dtype=pl.Utf8),
            "content": fields["Content"],
            "matched": fields["matched"],
            "stamp_text": stamps,
            "rest": records["rest"],
        }
    )
    return out.select(
        "timestamp",
        "level",
        "host",
        _join_rest(pl.col("content"), records["rest"]).alias("message"),
        extract_trace_id(pl.col("content")).alias("trace_id"),
        pl.when(~pl.col("matched"))
        .then(pl.lit("does not match the header format"))
        .when(pl.col("timestamp").is_null())
        .then(  # the text is built only when some row needs it (both branches are computed for every row)
            pl.lit("unparseable timestamp: ") + pl.col("stamp_text") if timestamp.null_count() else None
        )
        .otherwise(None)
        .alias("problem"),
    )


def _join_rest(message: pl.Expr, rest: pl.Series) -> pl.Expr:
    """The message with its continuation lines (``rest``), when a record has any."""
    if rest.null_count() == rest.len():
        return message
    return (
        pl.when(pl.col("rest").is_not_null() & (pl.col("rest") != ""))
        .then(message + "\n" + pl.col("rest"))
        .otherwise(message)
    )


def parse_jsonl(records: pl.DataFrame, source: SourceConfig) -> pl.DataFrame:
    """Parse one JSON object per record; field names come from ``source.json_fields``.

    Values are read as ``json.loads`` reads them (non-string values as their Python text). Rows
    whose fields polars' JSON reader gives alike (:func:`_plain_json_rows`, most rows of usual JSON
    logs) are decoded by polars on all threads; the others go through ``json.loads`` one by one.
    """
    import json

    names = source.json_fields
    schema = {key: pl.Utf8 for key in (*names, "problem")}
    heads = records["head"]
    plain = _plain_json_rows(heads, names)
    fast = _decode_plain_json(heads.filter(plain), names) if plain.any() else None
    if fast is None:  # no plain row, or one of them is not valid JSON: every row the Python way
        plain = pl.repeat(False, heads.len(), eager=True)
    rows: list[dict] = []
    for head in heads.filter(~plain).to_list():
        try:
            obj = json.loads(head)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
        except ValueError as error:
            rows.append({"problem": f"not valid JSON: {error}"})
            continue
        rows.append({key: _as_text(obj.get(field)) for key, field in names.items()} | {"problem": None})
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    if fast is not None and frame.is_empty():  # every row plain: already in line order
        frame = fast.select(list(schema))
    elif fast is not None:  # both parts back in line order
        is_plain, order = plain.to_numpy(), np.empty(heads.len(), dtype=np.int64)
        order[is_plain] = np.arange(fast.height)
        order[~is_plain] = fast.height + np.arange(frame.height)
        frame = pl.concat([fast.select(list(schema)), frame])[pl.Series(order)]
    frame = frame.with_columns(
        timestamp=_json_timestamps(frame["timestamp"], source),
        level=normalise_levels(frame["level"]),
        rest=records["rest"],
    )
    if (missing := frame["trace_id"].is_null()).any():  # only rows without the field look in the message
        rows = missing.arg_true()
        found = frame["message"].gather(rows).to_frame().select(extract_trace_id(pl.col("message")))
        frame = frame.with_columns(frame["trace_id"].scatter(rows, found["message"]))
    return frame.select(
        "timestamp",
        "level",
        "host",
        _join_rest(pl.col("message"), frame["rest"]).alias("message"),
        "trace_id",
        pl.col("service").alias("row_service"),
        pl.when(pl.col("problem").is_not_null())
        .then(pl.col("problem"))
        .when(pl.col("message").is_null())
        .then(pl.lit(f"missing field '{names['message']}'"))
        .when(pl.col("timestamp").is_null())
        .then(pl.lit(f"missing or unparseable field '{names['timestamp']}'"))
        .otherwise(None)
        .alias("problem"),
    )


def _json_timestamps(stamps: pl.Series, source: SourceConfig) -> pl.Series:
    """Numbers as epoch seconds/ms/µs/ns (by magnitude), text with the source's timestamp format."""
    numeric = stamps.cast(pl.Float64, strict=False)
    from_text = parse_timestamps(stamps, timestamp_format=source.timestamp_format, timezone=source.timezone)
    if numeric.null_count() == numeric.len():  # no number: text only
        return from_text
    scale = (
        pl.when(pl.col("e") > 1e17)
        .then(1e-3)
        .when(pl.col("e") > 1e14)
        .then(1.0)
        .when(pl.col("e") > 1e11)
        .then(1e3)
        .otherwise(1e6)
    )
    from_epoch = pl.DataFrame({"e": numeric}).select(
        (pl.col("e") * scale).cast(pl.Int64, strict=False).cast(pl.Datetime("us", "UTC"))
    )["e"]  # out of range: null (quarantined)
    return pl.select(pl.when(numeric.is_not_null()).then(from_epoch).otherwise(from_text)).to_series()


def _as_text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return repr(value)
    import json

    return json.dumps(value)
