"""The whole-batch paths of ingest give what the line-by-line ones give (decode, timestamp formats)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import polars as pl
import pytest

from logrca.parsers.ingest import line_formats
from logrca.parsers.ingest.files import LineBatch, iter_line_batches
from logrca.parsers.ingest.line_formats import parse_timestamps
from logrca.parsers.ingest.sources import SourceConfig
from logrca.parsers.ingest.text_lines import decode_batch, decode_each


def _source(**extra) -> SourceConfig:
    return SourceConfig(
        name="app", service="app", format="loghub", header="<Timestamp> <Content>", paths=["x"], **extra
    )


def test_a_batch_decoded_as_one_block_equals_the_line_by_line_decode(tmp_path: Path):
    rng = random.Random(3)
    words = ["INFO", "ok", "é", "日本", "\r", "x" * 400, "", "\t"]
    lines = ["".join(rng.choice(words) for _ in range(rng.randint(0, 6))) for _ in range(3000)]
    path = tmp_path / "app.log"
    text = "\r\n".join(lines[:10]) + "\n" + "\n".join(lines[10:])
    path.write_bytes(text.encode())
    source = _source(max_line_bytes=1024)
    batches = [b for b in iter_line_batches(path, batch_bytes=4096) if isinstance(b, LineBatch)]
    # a "\r" inside a line ends it (as Python's universal newlines have it), one ending the file does not
    assert sum(len(b) for b in batches) == len(re.split(r"\r\n|\n|\r(?!$)", text))
    for batch in batches:
        fast, slow = decode_batch(batch, source), decode_each(batch, source)
        assert fast.equals(slow), batch.first_line_no
    assert any(decode_batch(b, source)["problem"].is_not_null().any() for b in batches)  # long lines seen


def test_a_batch_with_undecodable_bytes_names_each_bad_line(tmp_path: Path):
    path = tmp_path / "app.log"
    path.write_bytes(b"INFO fine\nINFO bad \xff\xfe here\r\nINFO fine again\n")
    (batch,) = [b for b in iter_line_batches(path) if isinstance(b, LineBatch)]
    decoded = decode_batch(batch, _source())
    assert decoded["problem"].to_list()[0] is None and decoded["problem"].to_list()[2] is None
    assert decoded["problem"][1].startswith("invalid utf-8 at byte 9")
    assert decoded["raw_hex"][1] == b"INFO bad \xff\xfe here".hex()


def _exhaustive(text: pl.Series, timezone: str = "UTC") -> pl.Series:
    """parse_timestamps with the sample shortcut and the fixed-width format switched off (every format
    tried on the column)."""
    saved, fixed = line_formats.TIMESTAMP_SAMPLE, line_formats._fixed_width
    line_formats.TIMESTAMP_SAMPLE, line_formats._fixed_width = 10**12, lambda *_: None
    try:
        return parse_timestamps(text, timestamp_format=None, timezone=timezone)
    finally:
        line_formats.TIMESTAMP_SAMPLE, line_formats._fixed_width = saved, fixed


@pytest.mark.parametrize(
    "values",
    [
        ["2026-03-10 01:00:00,017"] * 3000,
        ["2026-03-10T01:00:00.054Z"] * 2000 + [None] * 10,
        ["2026-03-10 01:00:00"] * 1500 + ["10/Mar/2026:01:00:00 +0100"] * 1500,  # sample reads only the first
        ["2026-03-10 01:00:00"] * 1500 + ["garbage"] * 3,
        ["Tue Mar 10 01:00:00 2026"] * 1200
        + ["2026-03-10 01:00:00"] * 1300,  # the second format wins by count
    ],
)
def test_the_format_chosen_on_a_sample_gives_what_trying_every_format_gives(values):
    text = pl.Series("t", values, dtype=pl.Utf8)
    for timezone in ("UTC", "Europe/Berlin"):
        fast = parse_timestamps(text, timestamp_format=None, timezone=timezone)
        assert fast.equals(_exhaustive(text, timezone)), values[0]


def _stamps(fmt: str, n: int = 3000, start: str = "2026-03-29 00:00:00") -> list[str]:
    """``n`` distinct times over four hours from ``start``, written with the strftime format ``fmt``."""
    from datetime import datetime, timedelta

    begin, rng = datetime.fromisoformat(start), random.Random(fmt)
    return [(begin + timedelta(microseconds=rng.randrange(4 * 3600 * 10**6))).strftime(fmt) for _ in range(n)]


def _nano_stamps(n: int = 3000) -> list[str]:
    """Times as Go's RFC3339Nano writes them: nanoseconds without their trailing zeros (no dot for none)."""
    rng = random.Random(7)
    out = []
    for value in _stamps("%Y-%m-%dT%H:%M:%S", n):
        nanos = rng.choice(
            [0, rng.randrange(10**9), rng.randrange(1000) * 10**6, rng.randrange(10**9) // 10 * 10]
        )
        fraction = f"{nanos:09d}".rstrip("0")
        out.append(value + (f".{fraction}" if fraction else "") + "Z")
    return out


@pytest.mark.parametrize(
    "values",
    [
        _stamps("%Y-%m-%d %H:%M:%S,%f", start="2026-03-10 00:00:00"),  # six digits after a comma
        [v[:-3] for v in _stamps("%Y-%m-%d %H:%M:%S.%f")],  # three digits; crosses Berlin's DST gap
        [v[:-3] + "Z" for v in _stamps("%Y-%m-%dT%H:%M:%S.%f")],
        [v + "000" for v in _stamps("%Y-%m-%dT%H:%M:%S.%f")],  # nine digits
        _stamps("%Y-%m-%d %H:%M:%S"),
        _stamps("%Y-%m-%d %H:%M:%S.%f")[:2000] + [v[:-3] for v in _stamps("%Y-%m-%d %H:%M:%S.%f")][:1500],
        [f" {v} " for v in _stamps("%Y-%m-%d %H:%M:%S,%f")],  # spaces around: stripped by the formats
        _stamps("%Y-%m-%d %H:%M:%S.%f") + ["2026-03-10 01:00:00.1234567", None],  # one of another width
        _stamps("%Y-%m-%dT%H:%M:%S.%f") + ["2026-03-10T01:00:00.123456+01:00"],
        [v[:-3] + "Z" for v in _stamps("%Y-%m-%dT%H:%M:%S.%f", n=40)],  # a file's head, as pruning reads it
        _nano_stamps(),  # RFC 3339 with nanoseconds, trailing zeros dropped (fractions of 0-9 digits)
        [v.removesuffix("Z") for v in _nano_stamps()],  # the same without a zone: local times, DST gap
        _nano_stamps() + ["2026-03-29T02:30:00.5"],  # one value without the Z: the formats decide
        _nano_stamps() + ["2026-03-29T02:30:00.1234567891Z"],  # ten digits: the formats decide
        _stamps("%Y-%m-%d %H:%M:%S,%f")[:500] + _stamps("%Y-%m-%d %H:%M:%S"),  # some without a fraction
    ],
)
def test_the_fixed_width_format_of_a_sample_gives_what_trying_every_format_gives(values):
    """A column whose sample has one ISO shape is parsed with a fixed-width fraction (``.%3f``); the
    result is what every format tried in turn gives, or the formats run (other widths, zones, spaces)."""
    text = pl.Series("t", values, dtype=pl.Utf8)
    for timezone in ("UTC", "Europe/Berlin"):
        fast = parse_timestamps(text, timestamp_format=None, timezone=timezone)
        assert fast.equals(_exhaustive(text, timezone)), (values[0], timezone)
        assert fast.null_count() <= len(values) / 100 or timezone != "UTC"


def test_a_sample_of_one_iso_shape_picks_its_fixed_width_format():
    from logrca.parsers.ingest.line_formats import _fixed_width

    assert _fixed_width(pl.Series(_stamps("%Y-%m-%dT%H:%M:%S.%fZ")), "UTC") is not None
    assert _fixed_width(pl.Series(_stamps("%Y-%m-%d %H:%M:%S,%f")), "UTC") is not None
    assert _fixed_width(pl.Series(_nano_stamps()), "UTC") is not None  # fractions of any length, or none
    some_without = _stamps("%Y-%m-%d %H:%M:%S,%f")[:500] + _stamps("%Y-%m-%d %H:%M:%S")
    assert _fixed_width(pl.Series(some_without), "UTC") is not None
    two_shapes = _stamps("%Y-%m-%dT%H:%M:%S")[:500] + _stamps("%Y-%m-%d %H:%M:%S")
    assert _fixed_width(pl.Series(two_shapes), "UTC") is None
    two_fractions = _stamps("%Y-%m-%d %H:%M:%S,%f")[:500] + _stamps("%Y-%m-%d %H:%M:%S.%f")
    assert _fixed_width(pl.Series(two_fractions), "UTC") is None
    assert _fixed_width(pl.Series(_stamps("%d/%b/%Y:%H:%M:%S")), "UTC") is None


def _exact_plain_json_rows(heads: pl.Series, names: dict[str, str]) -> pl.Series:
    """The plain-row test as it was written before the cheap checks: every check on every row."""
    import json
    import re

    from logrca.parsers.ingest.json_rows import JSON_INT, JSON_NUMBER, JSON_SPACE

    space, number, integer = JSON_SPACE, JSON_NUMBER, JSON_INT
    checks = [
        pl.col("m").str.contains(f"^{space}\\{{"),
        pl.col("m").str.contains(f"\\}}{space}$"),
        pl.col("m").str.contains(r"[\x00-\x1f]|\\[u/]").not_(),
    ]
    for field in dict.fromkeys(names.values()):
        key = re.escape(json.dumps(field)) + space + ":"
        only_time = all(role == "timestamp" for role, name in names.items() if name == field)
        value = f'{key}{space}(?:"|(?:null|{number if only_time else integer}){space}[,}}])'
        count = pl.col("m").str.count_matches(key)
        checks.append((count == 0) | ((count == 1) & pl.col("m").str.contains(value)))
    return heads.to_frame("m").select(pl.all_horizontal(checks).fill_null(False)).to_series()


@pytest.mark.parametrize("tab", ["\t", " "])
def test_plain_json_rows_are_the_rows_every_exact_check_passes(tab):
    """Differential: the cheap checks plus the exact ones on the rows they leave out pick the same rows
    as every exact check on every row, with and without control characters in the column."""
    from test_readers import _payments_source, _random_json_lines

    names = _payments_source("pay.log").json_fields
    heads = pl.Series([line.replace("\t", tab) for line in _random_json_lines(5, 4000, poison=True)])
    expected = _exact_plain_json_rows(heads, names)
    assert 0.1 < expected.mean() < 0.9
    assert _no_control(heads) == (tab == " ")
    assert line_formats._plain_json_rows(heads, names).equals(expected)


def _no_control(text: pl.Series) -> bool:
    from logrca.parsers.ingest.text_bytes import any_byte

    return not any_byte(text, below=0x20)


def test_control_characters_are_found_in_slices_and_chunks():
    clean, dirty = pl.Series(["{}", "a" * 40, "b"]), pl.Series(["x", "tab\there", "y"])
    assert _no_control(clean)
    assert not _no_control(dirty)
    both = pl.concat([clean, dirty], rechunk=False)
    assert not _no_control(both)
    assert _no_control(both.slice(0, 4)) and _no_control(both.slice(5))
    assert not _no_control(pl.concat([clean, dirty]).slice(2, 3))
    from logrca.parsers.ingest.text_bytes import any_byte

    assert any_byte(pl.Series(["a", "é"]), at_least=0x80) and not any_byte(
        pl.Series(["a", None]), at_least=0x80
    )


def test_time_text_rewrites_equal_the_capturing_regexes():
    """Differential: the comma before a fraction and a closing ``Z`` are rewritten as the regexes with
    capture groups rewrite them, on values where the first comma or the ``Z`` is elsewhere too."""
    rng = random.Random(13)
    parts = ["2026-03-10 ", "01:00:00", ",", "5", "Z", "é", "Mon, ", "12:3", " ", "7", "+01:00", "01:00:00,1"]
    values = ["".join(rng.choice(parts) for _ in range(rng.randint(0, 5))) for _ in range(4000)]
    values += ["2026-03-10 01:00:00,017", "2026-03-10T01:00:00.054Z", "é 01:00:00,5Z", None]
    text = pl.Series(values, dtype=pl.Utf8)
    commas = text.str.replace(r"(\d{2}:\d{2}:\d{2}),(\d)", "$1.$2")
    assert line_formats._comma_as_dot(text).equals(commas)
    assert line_formats._z_as_offset(text).equals(text.str.replace(r"(\d)Z$", "$1+00:00"))
    assert (commas != text).sum() > 500 and (text.str.ends_with("Z")).sum() > 200
    assert line_formats._comma_as_dot(pl.Series(["a", None])).to_list() == ["a", None]


def test_trace_ids_found_without_the_capture_group_equal_the_group():
    """Differential: the id cut from the whole match is the pattern's capture group."""
    rng = random.Random(17)
    keys = ["trace_id", "TraceID", "request-id", "req_id", "x-request-id", "traceid", "my_trace_id", "trace"]
    seps = ["=", ": ", '":"', "='", " ", "", "\n", "\t= ", "-", "=="]
    ids = ["abcdef12", "0123456789abcdef", "ab-cd-ef-12", "short", "é12345678", "-abcdefgh", "X" * 40]
    messages = [
        " ".join(
            rng.choice(["ok", "x", *keys]) + rng.choice(seps) + rng.choice(ids)
            for _ in range(rng.randint(0, 3))
        )
        for _ in range(4000)
    ] + [None]
    text = pl.Series(messages, dtype=pl.Utf8)
    expected = text.str.extract(line_formats.TRACE_ID_PATTERN, 1)
    assert text.to_frame("m").select(line_formats.extract_trace_id(pl.col("m")))["m"].equals(expected)
    assert expected.drop_nulls().len() > 1000


def test_levels_normalised_once_per_distinct_value_as_row_by_row():
    from logrca.parsers.ingest.schema import normalise_level, normalise_levels

    rng = random.Random(19)
    raw = [
        "INFO",
        "info ",
        "warning",
        "W",
        "E",
        "fatal",
        "Trace",
        "",
        "x",
        None,
        "ERROR",
        " debug",
        "50",
        "3",
    ]
    for size in (5, 4000):  # few rows (per row) and many (per distinct value)
        levels = pl.Series("Level", [rng.choice(raw) for _ in range(size)], dtype=pl.Utf8)
        expected = levels.to_frame().select(normalise_level(pl.col("Level")))["Level"]
        assert normalise_levels(levels).equals(expected)


def test_numeric_levels_of_node_json_loggers_are_levels(tmp_path):
    """pino and bunyan write the level as a number: 50 is an error, 30 info; other numbers stay null."""
    from logrca.parsers.ingest.readers import read_source
    from logrca.parsers.ingest.sources import SourceConfig

    log = tmp_path / "app.log"
    log.write_text(
        "".join(
            f'{{"level":{level},"time":{1773108000000 + n},"msg":"m{n}"}}\n'
            for n, level in enumerate((10, 20, 30, 40, 50, 60, 35, '"error"'))
        )
    )
    fields = {"timestamp": "time", "level": "level", "message": "msg", "service": "service", "host": "host"}
    fields["trace_id"] = "trace_id"
    source = SourceConfig(name="app", service="app", format="jsonl", paths=[str(log)], json_fields=fields)
    levels = read_source(source).events["level"].to_list()
    assert levels == ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", None, "ERROR"]


def _result_frames(result) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    return result.events, result.quarantine, result.stats


def _random_log(rng: random.Random, lines: int, *, extra: list[bytes] = ()) -> bytes:
    """Log lines with a header, blank lines, ``\\r\\n`` (and a ``\\r`` ending the file), non-ASCII,
    over-long lines and stack-trace continuations; ``extra`` lines are put in at random places. No
    lone ``\\r`` inside: it ends a line, and sends the file to the block decoder."""
    pieces = []
    for i in range(lines):
        kind = rng.random()
        if kind < 0.05:
            pieces.append(b"")
        elif kind < 0.1:
            pieces.append(b"    at com.example.Thing.run(Thing.java:%d)" % i)
        elif kind < 0.12:
            pieces.append(b"2026-03-10 01:00:00 INFO " + b"x" * 1100)
        else:
            word = rng.choice([b"ok", "é日本".encode(), b"a|b", b"id=42", b"\t"])
            pieces.append(b"2026-03-10 01:%02d:%02d INFO line %d %s" % (i // 60 % 60, i % 60, i, word))
        if rng.random() < 0.05:
            pieces[-1] += b"\r"
    for line in extra:
        pieces.insert(rng.randrange(len(pieces)), line)
    end = rng.choice([b"", b"\n", b"\r\n", b"\r"])
    return b"\n".join(pieces) + (b"\n" if end == b"\r" and pieces[-1].endswith(b"\r") else end)


def _both_ways(path: Path, source: SourceConfig, batch_bytes: int, monkeypatch) -> tuple:
    from logrca.parsers.ingest import text_file, text_lines

    fast = _result_frames(text_file.read_text_file(path, source, batch_bytes=batch_bytes))
    with monkeypatch.context() as patch:
        patch.setattr(text_lines, "polars_reads", lambda *_: False)
        slow = _result_frames(text_file.read_text_file(path, source, batch_bytes=batch_bytes))
    return fast, slow


def _assert_same(fast: tuple, slow: tuple) -> None:
    assert fast[0].equals(slow[0]) and fast[1].equals(slow[1]) and fast[2] == slow[2]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("batch_bytes", [2048, 1 << 25])
@pytest.mark.parametrize("multiline", [False, True])
def test_lines_split_by_polars_read_as_the_batch_decoder_reads_them(
    tmp_path, monkeypatch, seed, batch_bytes, multiline
):
    """Differential: a plain UTF-8 file split by polars' CSV reader gives the events, quarantine and
    counts that decoding blocks of bytes gives (blank lines, \\r\\n, a \\r ending the file, over-long
    lines, the last line with or without an ending, records across batches)."""
    from logrca.parsers.ingest import text_lines

    path = tmp_path / "app.log"
    path.write_bytes(_random_log(random.Random(seed), 3000))
    extra = {"multiline": {"start_pattern": r"^\d{4}-\d{2}-\d{2} "}} if multiline else {}
    source = SourceConfig(
        name="app",
        service="app",
        format="loghub",
        header="<Date> <Time> <Level> <Content>",
        paths=["x"],
        max_line_bytes=1024,
        **extra,
    )
    assert text_lines.polars_reads(path, source)
    assert sum(1 for _ in text_lines.polars_lines(path, source, batch_bytes)) >= (
        2 if batch_bytes < 4096 else 1
    )
    fast, slow = _both_ways(path, source, batch_bytes, monkeypatch)
    _assert_same(fast, slow)
    assert fast[2]["lines_quarantined"] > 0 and fast[2]["events"] > 1000


@pytest.mark.parametrize(
    "extra, bom",
    [
        ([b"2026-03-10 01:00:00 INFO unit \x1f separator"], False),
        ([b"2026-03-10 01:00:00 INFO bad \xff\xfe byte"], False),
        ([b"2026-03-10 01:00:00 INFO cut \xe6\x97"], False),  # a three-byte character cut short
        ([], True),  # a byte-order mark
    ],
)
def test_a_file_polars_would_read_otherwise_is_decoded_in_blocks(tmp_path, monkeypatch, extra, bom):
    """Files the CSV reader would refuse part-way, or read differently, are checked first and read
    by the block decoder (which names each line that is not UTF-8)."""
    import codecs

    from logrca.parsers.ingest import text_lines

    data = _random_log(random.Random(7), 2000, extra=extra)
    path = tmp_path / "app.log"
    path.write_bytes(codecs.BOM_UTF8 + data if bom else data)
    source = SourceConfig(
        name="app", service="app", format="loghub", header="<Date> <Time> <Level> <Content>", paths=["x"]
    )
    assert not text_lines.polars_reads(path, source)
    path.write_bytes(data.replace(extra[0], b"2026-03-10 01:00:00 INFO fine") if extra else data)
    assert text_lines.polars_reads(path, source)  # the same file without the bad bytes
    path.write_bytes(codecs.BOM_UTF8 + data if bom else data)
    fast, slow = _both_ways(path, source, 4096, monkeypatch)
    _assert_same(fast, slow)
    if extra and b"\x1f" not in extra[0]:
        assert fast[1]["reason"].str.starts_with("invalid utf-8").sum() == 1


def test_a_character_split_across_check_blocks_is_valid(tmp_path, monkeypatch):
    from logrca.parsers.ingest import text_lines

    monkeypatch.setattr(text_lines, "CHECK_BYTES", 5)
    path = tmp_path / "app.log"
    path.write_bytes("2026-03-10 01:00:00 INFO é日本 ok\n".encode() * 3)
    source = SourceConfig(
        name="app", service="app", format="loghub", header="<Date> <Time> <Level> <Content>", paths=["x"]
    )
    assert text_lines.polars_reads(path, source)


def test_a_refusal_after_some_batches_ends_the_file_with_a_problem(tmp_path, monkeypatch):
    """A file that changes between the check and polars' read so that polars refuses it part-way is
    not read on from a line polars may have got wrong: the lines given stand and the file ends with
    a problem naming where; the counts still add up."""
    from logrca.parsers.ingest import text_file, text_lines

    path = tmp_path / "app.log"
    path.write_bytes(_random_log(random.Random(11), 3000))
    source = SourceConfig(
        name="app", service="app", format="loghub", header="<Date> <Time> <Level> <Content>", paths=["x"]
    )
    real = text_lines.polars_lines

    def refuses_later(*args):
        batches = real(*args)
        yield next(batches)
        yield next(batches)
        raise pl.exceptions.ComputeError("found more fields than defined in 'Schema'")

    monkeypatch.setattr(text_lines, "polars_lines", refuses_later)
    got = list(text_lines.decoded_batches(path, source, 2048))
    assert len(got) == 3 and isinstance(got[2], text_lines.FileProblem)
    assert got[2].line_no == got[1]["line_no"][-1] + 1
    assert got[2].reason.startswith("unreadable data (the file changed while read: found more fields")
    result = text_file.read_text_file(path, source, batch_bytes=2048)
    stats = result.stats
    assert stats["lines_read"] == got[0].height + got[1].height
    assert stats["lines_read"] == stats["lines_in_events"] + stats["lines_quarantined"]
