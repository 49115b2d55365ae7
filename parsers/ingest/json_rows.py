"""Which JSON lines polars' decoder reads exactly as ``json.loads`` does, and reading those with polars.

:func:`~logrca.parsers.ingest.line_formats.parse_jsonl` sends the other rows through ``json.loads``.
"""

from __future__ import annotations

import polars as pl

from logrca.parsers.ingest.text_bytes import any_byte
from logrca.parsers.templates.masking import select_in_parts

JSON_SPACE = r"[ \t\r\n]*"  # JSON's whitespace
JSON_INT = r"(?:0|-?[1-9][0-9]{0,17})"  # an integer both json.loads (repr) and polars turn into the same text
JSON_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"  # any number (its text may differ, its float does not)


def plain_json_rows(heads: pl.Series, names: dict[str, str]) -> pl.Series:
    """Rows that polars' JSON reader decodes exactly as ``json.loads`` + ``line_formats._as_text`` do (Boolean, per row).

    A row is plain when it is one object (``{`` ... ``}``) without ``\\u`` or ``\\/`` escapes (which
    could spell a field's key another way) and without raw control characters (polars rejects them
    inside strings, which would send the whole batch to json.loads), and each
    field of ``names`` appears at most once as a key (at any depth; of duplicates json.loads keeps
    the last, polars the first) with a string, ``null`` or small integer value (other values are
    turned into text differently; any number for the timestamp, which is only read as a number).
    In valid JSON a quoted name followed by ``:`` is always a key, as quotes inside strings are
    escaped. Other rows, and all rows when a plain row is not valid JSON, take ``json.loads``.
    """
    # Cheap checks first, each implying its exact form (``{`` first implies JSON space then ``{``, and
    # the control characters are looked for per row only when the column holds one); rows they
    # leave out take the exact checks, so the plain rows are the same.
    quick = [pl.col("m").str.starts_with("{"), pl.col("m").str.ends_with("}"), *_json_key_checks(names)]
    quick.append(pl.col("m").str.contains(r"\\[u/]" if not any_byte(heads, below=0x20) else _JSON_ODD).not_())
    plain = select_in_parts(heads, pl.all_horizontal(quick).fill_null(False))
    if not plain.all():
        rows = (~plain).arg_true()
        exact = [
            pl.col("m").str.contains(f"^{JSON_SPACE}\\{{"),
            pl.col("m").str.contains(f"\\}}{JSON_SPACE}$"),
            pl.col("m").str.contains(_JSON_ODD).not_(),
            *_json_key_checks(names),
        ]
        plain = plain.scatter(
            rows, select_in_parts(heads.gather(rows), pl.all_horizontal(exact).fill_null(False))
        )
    return plain


_JSON_ODD = r"[\x00-\x1f]|\\[u/]"  # raw control characters, or escapes that could spell a key another way


def _json_key_checks(names: dict[str, str]) -> list[pl.Expr]:
    """Per field of ``names``: absent as a key, or a key once with a value read alike (see :func:`plain_json_rows`)."""
    import json
    import re

    checks = []
    for field in dict.fromkeys(names.values()):
        key = re.escape(json.dumps(field)) + JSON_SPACE + ":"
        only_time = all(role == "timestamp" for role, name in names.items() if name == field)
        number = JSON_NUMBER if only_time else JSON_INT
        count = pl.col("m").str.count_matches(key)
        simple = pl.col("m").str.contains(f'{key}{JSON_SPACE}(?:"|(?:null|{number}){JSON_SPACE}[,}}])')
        # absent, or once with a plain value: a plain value implies the key, so `count == simple` says it
        # with the count computed once (an eager select does not share repeated subexpressions)
        checks.append(count == simple.cast(pl.UInt32))
    return checks


def decode_plain_json(heads: pl.Series, names: dict[str, str]) -> pl.DataFrame | None:
    """The ``names`` fields of plain rows (see :func:`plain_json_rows`) decoded by polars; None when one is not valid JSON."""
    fields = list(dict.fromkeys(names.values()))
    # polars' NDJSON reader decodes as ``str.json_decode`` does (the same deserializer: the same text
    # for numbers, the same errors), at two to four times its speed, even counting the join. Plain
    # rows hold no raw control character, so each is one line of the joined text.
    text = heads.str.join("\n").cast(pl.Binary).item()
    try:
        decoded = pl.read_ndjson(text, schema={field: pl.Utf8 for field in fields})
    except pl.exceptions.PolarsError:
        return None
    if decoded.height != heads.len():  # one row per line, or not plain after all
        return None
    return decoded.select(
        *[pl.col(field).alias(key) for key, field in names.items()],
        pl.lit(None, dtype=pl.Utf8).alias("problem"),
    )
