"""CSV rows that the csv module and polars read alike, and the message out of a row's JSON record.

:func:`~logrca.parsers.ingest.csv_records.read_csv_json` reads runs of lines that are each one
well-formed record of the header's width (:func:`well_formed`) with polars (:func:`plain_batch`), the
other lines a record at a time with the csv module; :func:`message_of` and :func:`messages` take the line out of the message
column, one value or a column at a time.
"""

from __future__ import annotations

import json
import re

import polars as pl

from logrca.parsers.ingest.json_rows import JSON_SPACE, decode_plain_json, plain_json_rows
from logrca.parsers.ingest.sources import CsvOptions

__all__ = ["ROW_SCHEMA", "message_of", "messages", "plain_batch", "well_formed"]

#: The text columns of a file's data rows, before times and services are read.
ROW_SCHEMA = {
    "time": pl.Utf8,
    "message": pl.Utf8,
    "host": pl.Utf8,
    "service": pl.Utf8,
    "trace_id": pl.Utf8,
    "line_no": pl.Int64,
    "raw": pl.Utf8,
}


#: One CSV field as the csv module and polars read it alike: quoted (quotes inside doubled), or
#: unquoted without a quote, comma or line break.
FIELD = r'(?:"(?:[^"\r\n]|"")*"|[^",\r\n]*)'


def well_formed(text: pl.Series, width: int) -> pl.Series:
    """Which lines (``\\r`` stripped) are each one well-formed record of ``width`` fields (never a single field)."""
    if width < 2:  # one field: a blank line would pass for a record, and the csv module calls it empty
        return pl.repeat(False, text.len(), eager=True)
    return text.str.contains(f"^{FIELD}(?:,{FIELD}){{{width - 1}}}$")


def plain_batch(
    text: pl.Series, first_line_no: int, header: list[str], index: dict[str, int], options: CsvOptions
) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """``(rows, rows without a message)`` of the lines ``text`` read by polars; None when they hold a header row or polars reads another count of rows or fields.

    ``text`` holds lines without their ``\\r``, each one well-formed record of the header's width (the
    caller has found them so with :func:`well_formed`). ``index`` maps the header's names to their
    positions. Messages whose JSON record polars decodes as ``json.loads`` does
    (:func:`plain_json_rows`) are decoded by polars, the others by ``json.loads`` (:func:`messages`).
    The rows without a message (``line_no``, ``raw``) are the caller's to quarantine.
    """
    width = len(header)
    names = [f"c{i}" for i in range(width)]
    try:
        cells = pl.read_csv(
            text.str.join("\n").cast(pl.Binary).item() + b"\n",
            has_header=False,
            new_columns=names,
            infer_schema=False,
            empty_string_is_null=False,
            raise_if_empty=False,
        )
    except pl.exceptions.PolarsError:
        return None
    if cells.height != text.len() or cells.width != width:
        return None
    if cells.filter(pl.all_horizontal(pl.col(c) == v for c, v in zip(names, header))).height:
        return None  # a header row inside the file: counted the careful way

    def column(name: str | None) -> pl.Series:
        return cells[names[index[name]]] if name else pl.repeat(None, text.len(), dtype=pl.Utf8, eager=True)

    lines_out = messages(column(options.message_column), options)
    rows = pl.DataFrame(
        {
            "time": column(options.timestamp_column),
            "message": lines_out.str.strip_chars_end("\r\n"),
            "host": _empty_as_null(column(options.host_column)),
            "service": _empty_as_null(column(options.service_column)),
            "trace_id": _empty_as_null(column(options.trace_id_column)),
            "line_no": pl.int_range(first_line_no, first_line_no + text.len(), dtype=pl.Int64, eager=True),
            "raw": text,
        },
        schema=ROW_SCHEMA,
    )
    found = pl.col("message").is_not_null()
    return rows.filter(found), rows.filter(~found).select("line_no", "raw")


def _empty_as_null(values: pl.Series) -> pl.Series:
    return values.replace("", None) if values.dtype == pl.Utf8 else values


def messages(values: pl.Series, options: CsvOptions) -> pl.Series:
    """:func:`message_of` of every value: the JSON records polars reads alike decoded by polars, the rest by ``json.loads``."""
    key = options.message_json_key
    if key is None:
        return values
    quoted = re.escape(json.dumps(key)) + JSON_SPACE + ":" + JSON_SPACE + '"'
    plain = plain_json_rows(values, {"message": key}) & values.str.contains(quoted)
    decoded = decode_plain_json(values.filter(plain), {"message": key}) if plain.any() else None
    if decoded is None:
        plain = pl.repeat(False, values.len(), eager=True)
    out = pl.repeat(None, values.len(), dtype=pl.Utf8, eager=True)
    if decoded is not None:
        out = out.scatter(plain.arg_true(), decoded["message"])
    rest = (~plain).arg_true()
    if rest.len():
        out = out.scatter(
            rest, pl.Series([message_of(v, options) for v in values.gather(rest)], dtype=pl.Utf8)
        )
    return out


def message_of(value: str, options: CsvOptions) -> str | None:
    """The line in the message column (taken out of its JSON record when ``message_json_key`` is set)."""
    if options.message_json_key is None:
        return value
    try:
        record = json.loads(value)
        message = record[options.message_json_key] if isinstance(record, dict) else None
    except (json.JSONDecodeError, KeyError):
        return None
    return message if isinstance(message, str) else None
