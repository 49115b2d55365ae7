"""Loghub-style header formats: compile ``<Date> <Time> <Level>: <Content>`` and split lines with polars."""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from logrca.parsers.ingest.header_layout import CONTENT_FIELD, FIELD_TOKEN, plain_layout
from logrca.parsers.ingest.text_bytes import any_byte

__all__ = ["HeaderFormat", "compile_header", "split_header", "split_content"]

_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class HeaderFormat:
    """A compiled header format.

    Attributes
    ----------
    format : str
        The format string as written, e.g. ``<Date> <Time> <Level> <Component>: <Content>``.
    pattern : str
        Anchored regular expression with one named group per field (valid for Python ``re`` and
        the Rust ``regex`` engine polars uses).
    fields : tuple of str
        Field names in the order they appear.
    """

    format: str
    pattern: str
    fields: tuple[str, ...]

    def match(self, line: str) -> dict[str, str | None] | None:
        """Split one line (Python ``re``; for a single line or tests). None when it does not match."""
        found = re.match(self.pattern, line.strip())
        return None if found is None else found.groupdict()


def _literal_to_regex(literal: str) -> str:
    """Turn the literal text between fields into regex: runs of spaces match any whitespace run,
    capturing groups become non-capturing (so only fields are captured), escapes stay as written."""
    out: list[str] = []
    index = 0
    while index < len(literal):
        char = literal[index]
        if char == "\\" and index + 1 < len(literal):
            out.append(literal[index : index + 2])
            index += 2
            continue
        if char == " ":
            while index < len(literal) and literal[index] == " ":
                index += 1
            out.append(r"\s+")
            continue
        if char == "(" and not literal.startswith("(?", index):
            out.append("(?:")
        else:
            out.append(char)
        index += 1
    return "".join(out)


def compile_header(fmt: str) -> HeaderFormat:
    """Compile a Loghub header format into a regex with one named group per field.

    Parameters
    ----------
    fmt : str
        ``<Name>`` is a field; everything else is literal text written as regex (so ``\\[`` is a
        bracket and ``(\\[<PID>\\])?`` an optional part). Runs of spaces match any whitespace.

    Returns
    -------
    HeaderFormat

    Raises
    ------
    ValueError
        Naming the problem: no ``<Content>`` field, a field name that is empty/invalid/repeated,
        an unbalanced ``<`` or ``>``, or literal text that is not a valid regex.

    Notes
    -----
    Every field is ``.*?`` (the shortest text for which the rest of the format still matches) and
    the pattern is anchored at both ends, as the Loghub benchmark's ``generate_logformat_regex``
    writes it: a field may hold spaces (``<Program> - <Content>`` reads ``svchost.exe *64 - ok``
    with ``Program`` = ``svchost.exe *64``) and may be empty. ``Content`` ending the format takes
    the rest of the line. Lines are matched after stripping surrounding whitespace, as in the
    benchmark.

    References
    ----------
    .. [1] P. He et al., "Drain: An Online Log Parsing Approach with Fixed Depth Tree", ICWS 2017;
       format handling as in logpai/logparser.

    Examples
    --------
    >>> compile_header("<Date> <Time> <Level>: <Content>").fields
    ('Date', 'Time', 'Level', 'Content')
    """
    if not isinstance(fmt, str) or not fmt.strip():
        raise ValueError("header format is empty; expected e.g. '<Date> <Time> <Level>: <Content>'")
    pieces = FIELD_TOKEN.split(fmt)  # literal, name, literal, name, ..., literal
    literals, names = pieces[0::2], pieces[1::2]
    _check_fields(fmt, literals, names)
    pattern = _header_pattern(literals, names)
    _check_pattern(fmt, pattern)
    return HeaderFormat(format=fmt, pattern=pattern, fields=tuple(names))


def _check_fields(fmt: str, literals: list[str], names: list[str]) -> None:
    """Raise ValueError for an unbalanced ``<``/``>``, a bad or repeated field name, or no ``<Content>``."""
    for position, literal in enumerate(literals):
        if "<" in literal or ">" in literal:
            raise ValueError(
                f"header format {fmt!r}: unbalanced '<' or '>' in {literal!r} "
                f"(near field {position}); fields are written <Name>"
            )
    seen: set[str] = set()
    for name in names:
        if not _FIELD_NAME.match(name):
            raise ValueError(
                f"header format {fmt!r}: field name {name!r} must be letters, digits or '_' (not starting with a digit)"
            )
        if name in seen:
            raise ValueError(f"header format {fmt!r}: field <{name}> appears twice")
        seen.add(name)
    if CONTENT_FIELD not in seen:
        raise ValueError(f"header format {fmt!r} has no <Content> field; the message text needs one")


def _header_pattern(literals: list[str], names: list[str]) -> str:
    """The anchored regex: literal text between fields, one ``.*?`` named group per field."""
    regex_parts = ["^"]
    for position, name in enumerate(names):
        regex_parts.append(_literal_to_regex(literals[position]))
        following = literals[position + 1]
        is_last = position == len(names) - 1 and following.strip() == ""
        # Content ending the format is written ``.*``: before ``$`` it matches what ``.*?`` does.
        group = ".*" if name == CONTENT_FIELD and is_last else ".*?"
        regex_parts.append(f"(?P<{name}>{group})")
    regex_parts.append(_literal_to_regex(literals[-1]).removesuffix(r"\s+"))
    regex_parts.append("$")
    return "".join(regex_parts)


def _check_pattern(fmt: str, pattern: str) -> None:
    """Raise ValueError when Python ``re`` or polars (Rust ``regex``) cannot compile ``pattern``."""
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValueError(
            f"header format {fmt!r}: literal text is not a valid regex ({error}); escape [ ] ( ) with a backslash"
        ) from error
    try:
        pl.Series([""], dtype=pl.Utf8).str.contains(pattern)
    except pl.exceptions.PolarsError as error:
        raise ValueError(
            f"header format {fmt!r}: regex {pattern!r} is not supported by polars ({error})"
        ) from error


def split_header(lines: pl.Series, fmt: HeaderFormat) -> pl.DataFrame:
    """Split raw lines into header fields, vectorized (polars ``str.extract_groups``).

    Parameters
    ----------
    lines : pl.Series
        Raw lines (Utf8), without line terminators; surrounding whitespace is ignored.
    fmt : HeaderFormat
        From :func:`compile_header`.

    Returns
    -------
    pl.DataFrame
        One Utf8 column per field (in format order) and ``matched: Boolean``. Every input line
        gives one row, in order; a line that does not match has ``matched=False`` and null fields
        (nothing is dropped). An optional field that is absent is null.

    Examples
    --------
    >>> fmt = compile_header("<Level>: <Content>")
    >>> split_header(pl.Series(["INFO: ok", "garbage"]), fmt).rows()
    [('INFO', 'ok', True), (None, None, False)]
    """
    if lines.dtype != pl.Utf8:
        raise TypeError(f"split_header: `lines` must be a Utf8 Series, got {lines.dtype}")
    schema = {name: pl.Utf8 for name in fmt.fields} | {"matched": pl.Boolean}
    if lines.len() == 0:
        return pl.DataFrame(schema=schema)
    stripped = lines.str.strip_chars()
    plain = plain_layout(fmt.format)
    if plain is None:
        return _split_exact(stripped, fmt)
    # Lines in the plain layout take a capturing regex a one-pass engine runs; the others, the exact one.
    capture = plain.capture if any_byte(stripped, at_least=0x80) else plain.ascii_capture
    parts = stripped.to_frame("m").select(
        pl.col("m").str.extract_groups(capture).alias("fields"),
        pl.col("m").str.replace(plain.header, "").alias(CONTENT_FIELD),
        pl.col("m").str.contains("\n", literal=True).alias("newline"),
    )
    fields = parts["fields"].struct.unnest()
    is_plain = fields[fmt.fields[0]].is_not_null() & ~parts["newline"]
    frame = pl.DataFrame([*fields.get_columns(), parts[CONTENT_FIELD], is_plain.alias("matched")]).select(
        *fmt.fields, "matched"
    )
    if is_plain.all():
        return frame
    rows = (~is_plain).arg_true()
    exact = _split_exact(stripped.gather(rows), fmt)
    return frame.with_columns(frame[name].scatter(rows, exact[name]) for name in (*fmt.fields, "matched"))


def _split_exact(stripped: pl.Series, fmt: HeaderFormat) -> pl.DataFrame:
    """:func:`split_header` with the format's capturing regex (any line, any format)."""
    # Content always takes part in a match (possibly as ""), so a null Content means no match.
    frame = (
        pl.DataFrame({"_line": stripped})
        .select(pl.col("_line").str.extract_groups(fmt.pattern).alias("_fields"))
        .unnest("_fields")
    )
    return frame.select(
        *[pl.col(name).cast(pl.Utf8) for name in fmt.fields],
        pl.col(CONTENT_FIELD).is_not_null().alias("matched"),
    )


def split_content(lines: pl.Series, fmt: HeaderFormat) -> pl.DataFrame:
    """Only the ``Content`` field and ``matched`` of :func:`split_header`, several times faster.

    Parameters
    ----------
    lines : pl.Series
        Raw lines (Utf8); surrounding whitespace is ignored.
    fmt : HeaderFormat
        From :func:`compile_header`.

    Returns
    -------
    pl.DataFrame
        ``Content`` (Utf8, null when the line does not match) and ``matched`` (Boolean), equal to
        those columns of :func:`split_header`.

    Notes
    -----
    When ``<Content>`` ends the format, the header part before it is removed with one regex
    *without* capture groups (``str.replace``), which the Rust engine runs on its fast DFA, while
    ``extract_groups`` needs the slower capturing engine. Under leftmost-first semantics the full
    pattern chooses the first header match for which ``(?P<Content>.*)$`` matches, and that always
    matches the rest of a line without a newline, so both give the same split. Lines holding a
    newline (joined multi-line records), formats whose header can match the empty string and
    formats with text after ``<Content>`` go through :func:`split_header`.

    Examples
    --------
    >>> split_content(pl.Series(["INFO: ok", "garbage"]), compile_header("<Level>: <Content>")).rows()
    [('ok', True), (None, False)]
    """
    if lines.dtype != pl.Utf8:
        raise TypeError(f"split_content: `lines` must be a Utf8 Series, got {lines.dtype}")
    prefix = _header_prefix(fmt)
    if prefix is None or lines.len() == 0:
        return split_header(lines, fmt).select(CONTENT_FIELD, "matched")
    # one frame-level select: polars runs it on its thread pool (the Series methods run on one thread)
    stripped = pl.col("line").str.strip_chars()
    parts = lines.to_frame("line").select(
        stripped.str.replace(prefix, "").alias(CONTENT_FIELD), stripped.str.len_bytes().alias("length")
    )
    content = parts[CONTENT_FIELD]
    matched = (content.str.len_bytes() < parts["length"]).alias("matched")
    if not matched.all():
        content = content.scatter((~matched).arg_true(), None)
    frame = pl.DataFrame({CONTENT_FIELD: content, "matched": matched})
    multiline = lines.str.contains("\n", literal=True)
    if multiline.any():
        rows = multiline.arg_true()
        exact = split_header(lines.gather(rows), fmt)
        frame = frame.with_columns(
            frame[CONTENT_FIELD].scatter(rows, exact[CONTENT_FIELD]),
            frame["matched"].scatter(rows, exact["matched"]),
        )
    return frame


def _header_prefix(fmt: HeaderFormat) -> str | None:
    """The pattern's part before ``<Content>`` without capture groups, or None when the fast path does not apply."""
    marker = f"(?P<{CONTENT_FIELD}>.*)$"
    if not fmt.pattern.endswith(marker):
        return None
    prefix = re.sub(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>", "(?:", fmt.pattern[: -len(marker)])
    if re.match(prefix, "") is not None:
        return None
    return prefix
