"""Loghub-style header formats: compile ``<Date> <Time> <Level>: <Content>`` and split lines with polars."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import polars as pl

from logrca.parsers.ingest.text_bytes import any_byte

__all__ = ["HeaderFormat", "compile_header", "split_header", "split_content"]

CONTENT_FIELD = "Content"
_FIELD_TOKEN = re.compile(r"<([^<>]*)>")
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
    pieces = _FIELD_TOKEN.split(fmt)  # literal, name, literal, name, ..., literal
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
    plain = _plain_layout(fmt.format)
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


@dataclass(frozen=True)
class _PlainLayout:
    """Regexes for lines of the plain layout of a header format (see :func:`_plain_layout`).

    ``capture`` matches a stripped line's header in the plain layout, one named group per field
    before ``<Content>``, and is one-pass (each character leaves one way to go on), so the regex
    engine captures without backtracking; ``header`` is the same part without groups, to cut
    ``<Content>`` off with a DFA.
    """

    capture: str
    header: str
    #: ``capture`` for lines of ASCII only, spelt with ASCII classes: the same matches on such lines
    #: (``\s`` is ``[\t-\r ]`` there), but a DFA small enough for the one-pass engine, which
    #: ``\s``'s Unicode class is not (2.7x faster on 1.45M lines of a Java header).
    ascii_capture: str


@functools.lru_cache(maxsize=64)
def _plain_layout(fmt: str) -> _PlainLayout | None:
    """The plain layout of a header format, or None when the format has none.

    The format qualifies when ``<Content>`` ends it after another field, every literal text between fields is
    non-empty and all its literal text is plain characters and spaces (no regex syntax beyond a
    ``\\`` before punctuation). A line is in the plain layout when each field before
    ``<Content>`` is non-empty text without whitespace or the first character of the literal text
    after it, each run of spaces of the format is whitespace followed by non-whitespace, and the
    line holds no newline.

    Notes
    -----
    On such a line the format's regex (every field ``.*?``, spaces ``\\s+``, leftmost-first) finds
    exactly the plain split, so the one-pass regex captures what ``extract_groups`` with the format's
    regex captures. The format's regex takes the highest-priority way to match and the plain split
    is one way, so at the first choice where they would differ the format's regex would take a
    shorter field or a longer run of whitespace. A shorter field ends where the literal after it
    starts, so the plain field would hold that literal's first character, which it does not; a
    longer run of whitespace would take the non-whitespace character that follows the run.
    """
    pieces = _FIELD_TOKEN.split(fmt)
    literals, names = pieces[0::2], pieces[1::2]
    if len(names) < 2 or names[-1] != CONTENT_FIELD or literals[-1].strip():
        return None
    texts = [_plain_literal(literal) for literal in literals[:-1]]
    if any(text is None for text in texts) or not all(texts[1:]):
        return None
    capture, header = ["^", _literal_regex(texts[0])], ["^", _literal_regex(texts[0])]
    ascii_capture = ["^", _literal_regex(texts[0], ascii=True)]
    for position, name in enumerate(names[:-1]):
        after = texts[position + 1]
        stop = "" if after[0] == " " else _hex(after[0])
        field = f"[^\\s{stop}]+"
        capture.append(f"(?P<{name}>{field})" + _literal_regex(after))
        header.append(field + _literal_regex(after))
        ascii_field = _ascii_non_space("" if after[0] == " " else after[0])
        ascii_capture.append(f"(?P<{name}>{ascii_field}+)" + _literal_regex(after, ascii=True))
    if texts[-1].endswith(" "):
        capture.append("[^\\s]")  # the run of spaces before <Content> takes all the whitespace
        ascii_capture.append(_ascii_non_space(""))
    return _PlainLayout(
        capture="".join(capture), header="".join(header), ascii_capture="".join(ascii_capture)
    )


def _plain_literal(literal: str) -> str | None:
    """Literal text with each run of spaces as one space, or None when it holds regex syntax."""
    out: list[str] = []
    index = 0
    while index < len(literal):
        char = literal[index]
        if char == "\\" and index + 1 < len(literal) and not literal[index + 1].isalnum():
            char, index = literal[index + 1], index + 1
            if char.isspace():
                return None  # an escaped space is one space, not a run: keep it exact
        elif char in _REGEX_SYNTAX or char.isspace() and char != " ":
            return None
        if not (char == " " and out and out[-1] == " "):
            out.append(char)
        index += 1
    return "".join(out)


_REGEX_SYNTAX = set("\\.^$*+?()[]{}|")


def _hex(char: str) -> str:
    return f"\\x{{{ord(char):x}}}"


def _literal_regex(text: str, *, ascii: bool = False) -> str:
    space = _ASCII_SPACE if ascii else "\\s"
    return "".join(f"{space}+" if char == " " else _hex(char) for char in text)


#: The ASCII characters of the regex engine's ``\s`` (Unicode White_Space): tab to carriage return, space.
_ASCII_SPACE = "[\\t-\\r ]"


def _ascii_non_space(stop: str) -> str:
    """``[^\\s{stop}]`` among ASCII characters, as a class of ASCII ranges."""
    keep = [code for code in range(128) if not (9 <= code <= 13 or code == 32 or chr(code) == stop)]
    starts = [code for code in keep if code - 1 not in keep]
    ends = [code for code in keep if code + 1 not in keep]
    ranges = (_hex(chr(a)) + (f"-{_hex(chr(b))}" if b > a else "") for a, b in zip(starts, ends))
    return "[" + "".join(ranges) + "]"


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
