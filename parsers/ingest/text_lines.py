"""One log file's bytes as decoded lines, a batch at a time: ``line_no, text, problem, raw_hex``.

polars' streaming CSV reader splits a plain UTF-8 file after a check of the whole file; other
files (gzip, other encodings, bytes that are not UTF-8) are read in blocks and decoded here, naming
each line that does not decode. :mod:`logrca.parsers.ingest.text_file` joins the lines into
records and parses them.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from logrca.parsers.ingest.files import GZIP_MAGIC, FileProblem, LineBatch, has_lone_cr, iter_line_batches
from logrca.parsers.ingest.sources import SourceConfig


def decode_batch(batch: LineBatch, source: SourceConfig) -> pl.DataFrame:
    """Decode a batch; undecodable or over-long lines get a ``problem`` and keep their bytes in hex.

    A UTF-8 (or ASCII) batch that decodes cleanly, the usual case, is decoded and split as one block
    and checked for length on the whole column; otherwise each line is decoded on its own.
    """
    codec = codecs.lookup(source.encoding).name
    if codec in ("utf-8", "ascii"):
        if codec == "ascii" and not batch.data.isascii():
            return decode_each(batch, source)
        try:  # polars checks the UTF-8 and splits the block itself (no Python string per line)
            block = pl.Series("text", [batch.data], dtype=pl.Binary).cast(pl.Utf8)
        except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError):
            return decode_each(batch, source)
        lines = block.str.split("\n").explode(empty_as_null=True).to_frame()  # a split is never empty
        text = pl.col("text").str.strip_suffix("\r") if b"\r" in batch.data else pl.col("text")
        return checked_lines(
            lines.select(
                pl.int_range(batch.first_line_no, batch.first_line_no + pl.len(), dtype=pl.Int64).alias(
                    "line_no"
                ),
                text,
            ),
            source,
        )
    return decode_each(batch, source)


def decode_each(batch: LineBatch, source: SourceConfig) -> pl.DataFrame:
    """:func:`decode_batch` with a Python list of lines (other encodings, or a batch holding undecodable bytes).

    The batch is decoded at once when it can be; otherwise line by line, naming each bad line.
    """
    codec = source.encoding
    try:
        texts = b"\n".join(batch.lines).decode(codec).split("\n")
        if len(texts) != len(batch.lines):
            raise UnicodeDecodeError(codec, b"", 0, 1, "line count changed")
        problems: list[str | None] = [None] * len(texts)
        hexes: list[str | None] = [None] * len(texts)
    except UnicodeDecodeError:
        texts, problems, hexes = [], [], []
        for raw in batch.lines:
            try:
                texts.append(raw.decode(codec))
                problems.append(None)
                hexes.append(None)
            except UnicodeDecodeError as error:
                texts.append(raw.decode(codec, errors="replace"))
                problems.append(
                    f"invalid {codec} at byte {error.start}: {raw[error.start : error.start + 4]!r}"
                )
                hexes.append(raw.hex())
    limit = source.max_line_bytes
    for i, raw in enumerate(batch.lines):
        if len(raw) > limit and problems[i] is None:
            problems[i] = f"line of {len(raw)} bytes is longer than max_line_bytes={limit}"
    n = len(texts)
    return pl.DataFrame(
        {
            "line_no": pl.int_range(batch.first_line_no, batch.first_line_no + n, eager=True, dtype=pl.Int64),
            "text": pl.Series(texts, dtype=pl.Utf8),
            "problem": pl.Series(problems, dtype=pl.Utf8),
            "raw_hex": pl.Series(hexes, dtype=pl.Utf8),
        }
    )


def checked_lines(lines: pl.DataFrame, source: SourceConfig) -> pl.DataFrame:
    """Decoded ``line_no, text`` with ``problem`` (a line over ``max_line_bytes``) and ``raw_hex`` (null)."""
    limit = source.max_line_bytes
    length = pl.col("text").str.len_bytes()
    return lines.select(
        "line_no",
        "text",
        pl.when(length > limit)
        .then(pl.format("line of {} bytes is longer than max_line_bytes={}", length, pl.lit(limit)))
        .alias("problem"),
        pl.lit(None, pl.Utf8).alias("raw_hex"),
    )


#: A byte the CSV reader splits fields on when it reads lines (one field per line, no quoting); a
#: file holding it is read the other way.
_NO_FIELDS = "\x1f"
#: Bytes of a line assumed when a batch's byte size becomes the reader's row count.
_LINE_BYTES_GUESS = 128
#: Bytes read at a time when a file is checked before polars reads it.
CHECK_BYTES = 8 << 20


def polars_reads(path: Path, source: SourceConfig) -> bool:
    """Whether polars' CSV reader can split the file into lines as :func:`decode_batch` would.

    It can when the source is UTF-8 and the file is plain (not gzip), not empty, valid UTF-8 without
    a byte-order mark (read in blocks instead, which drops the mark) and holds no
    :data:`_NO_FIELDS` byte and no lone ``\\r`` (a line end the reader would keep inside a line;
    ``\\r\\n`` and a ``\\r`` ending the file it reads as the blocks do). The file is checked whole first, because the reader would refuse a bad
    byte part-way and has by then given batches from after it (polars 1.44, streaming engine).
    Checking costs a read of the file (UTF-8 decoding only for blocks that are not ASCII).
    """
    if codecs.lookup(source.encoding).name != "utf-8":
        return False
    decoder = codecs.getincrementaldecoder("utf-8")()
    separator = _NO_FIELDS.encode()
    try:
        with path.open("rb") as raw:
            head = raw.read(3)
            if not head or head.startswith((GZIP_MAGIC, codecs.BOM_UTF8)):
                return False
            block = head + raw.read(CHECK_BYTES)
            while block:
                if block.endswith(b"\r"):  # is it a \r\n cut by the read? (the file's last \r is stripped)
                    block += raw.read(1)
                if separator in block or has_lone_cr(block):
                    return False
                if not block.isascii() or decoder.getstate()[0]:
                    decoder.decode(block)
                block = raw.read(CHECK_BYTES)
            decoder.decode(b"", final=True)
    except (OSError, UnicodeDecodeError):
        return False
    return True


def polars_lines(path: Path, source: SourceConfig, batch_bytes: int) -> Iterator[pl.DataFrame]:
    """The file's lines as :func:`decode_batch` gives them, split by polars' streaming CSV reader.

    One field per line (no separator, no quote character, empty lines kept as ``""``): the reader
    memory-maps the file and finds the line ends on all threads, several times faster than
    decoding and splitting blocks of bytes, in batches of about ``batch_bytes``. ``\\r\\n`` ends a
    line as ``\\n`` does, and a ``\\r`` before the file's end is dropped, as the batch decoder does.
    For a file :func:`polars_reads` accepts; bytes that are not UTF-8, written after that check,
    are read as U+FFFD.
    """
    scan = pl.scan_csv(
        path,
        has_header=False,
        separator=_NO_FIELDS,
        quote_char=None,
        schema={"text": pl.Utf8},
        empty_string_is_null=False,
        row_index_name="line_no",
        row_index_offset=1,
        encoding="utf8-lossy",
        glob=False,
    )
    for frame in scan.collect_batches(chunk_size=max(1, batch_bytes // _LINE_BYTES_GUESS)):
        yield checked_lines(frame.with_columns(pl.col("line_no").cast(pl.Int64)), source)


def decoded_batches(
    path: Path, source: SourceConfig, batch_bytes: int
) -> Iterator[pl.DataFrame | FileProblem]:
    """The file's lines decoded, a batch at a time, and its problems.

    polars splits the file when it can (:func:`polars_reads`, :func:`polars_lines`); otherwise it
    is read in blocks of bytes and decoded by :func:`decode_batch`, which names each line that is not
    UTF-8. A file polars refuses after the check (it changed in between) is read the second way when
    polars gave nothing yet, and otherwise ends with a :class:`FileProblem` naming the line.
    """
    if polars_reads(path, source):
        done = 0
        try:
            for frame in polars_lines(path, source, batch_bytes):
                yield frame
                done += frame.height
            return
        except pl.exceptions.PolarsError as error:
            if done:
                cause = str(error).splitlines()[0]
                reason = (
                    f"unreadable data (the file changed while read: {cause}): lines after {done} not read"
                )
                yield FileProblem(path, done + 1, reason)
                return
    for item in iter_line_batches(path, batch_bytes=batch_bytes):
        yield item if isinstance(item, FileProblem) else decode_batch(item, source)
