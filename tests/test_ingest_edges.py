"""Edges of ingest that users met: lines ended by a lone ``\\r``, local times in a daylight-saving
gap, symbolic link loops among the source files."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime

import polars as pl
import pytest

from logrca.parsers.ingest.files import LineBatch, iter_line_batches
from logrca.parsers.ingest.line_formats import parse_timestamps
from logrca.parsers.ingest.readers import read_source
from logrca.parsers.ingest.sources import SourceConfig
from logrca.parsers.ingest.text_lines import decode_batch

JAVA_HEADER = "<Date> <Time> <Level> \\[<Thread>\\] <Component>: <Content>"


def _source(**extra) -> SourceConfig:
    return SourceConfig(
        name="app", service="app", format="loghub", header="<Timestamp> <Content>", paths=["x"], **extra
    )


def java_source(tmp_path, pattern="app.log*", **extra) -> SourceConfig:
    return SourceConfig(
        name="app",
        service="app",
        format="loghub",
        header=JAVA_HEADER,
        paths=[str(tmp_path / pattern)],
        **extra,
    )


def accounted(result) -> None:
    stats = result.stats
    assert stats["lines_read"] == stats["lines_in_events"] + stats["lines_quarantined"]


def _mixed_endings(lines: list[str]) -> bytes:
    """``lines`` ended in turn by ``\\r``, ``\\n`` and ``\\r\\n`` (a blank line between two ``\\r``)."""
    endings = ["\r", "\n", "\r\n"]
    return "".join(line + endings[n % 3] for n, line in enumerate(lines)).encode()


@pytest.mark.parametrize("block", [1, 2, 3, 7])
def test_a_lone_carriage_return_ends_a_line_in_every_block_split(tmp_path, monkeypatch, block):
    """A lone ``\\r`` ends a line as Python's universal newlines do, a ``\\r\\n`` split between two
    blocks read stays one line end, and each line keeps its number."""
    from logrca.parsers.ingest import files

    data = _mixed_endings(["a", "", "b", "c", "", "", "d"]) + b"\r\re"
    path = tmp_path / "app.log"
    path.write_bytes(data)
    monkeypatch.setattr(
        files, "_plain_blocks", lambda p: (data[i : i + block] for i in range(0, len(data), block))
    )
    batches = [b for b in iter_line_batches(path, batch_bytes=1) if isinstance(b, LineBatch)]
    got = [line.decode() for b in batches for line in b.lines]
    assert got == data.decode().splitlines()
    numbers = [b.first_line_no + i for b in batches for i in range(len(b))]
    assert numbers == list(range(1, len(got) + 1))
    decoded = pl.concat([decode_batch(b, _source()) for b in batches])
    assert decoded["text"].to_list() == got and decoded["line_no"].to_list() == numbers


def test_a_file_with_a_lone_carriage_return_is_read_by_the_block_decoder(tmp_path, monkeypatch):
    """polars' reader would keep a lone ``\\r`` inside a line: such a file is read the other way; a
    ``\\r\\n`` split between two checked blocks, or a ``\\r`` ending the file, keeps polars' path."""
    from logrca.parsers.ingest import text_lines

    monkeypatch.setattr(text_lines, "CHECK_BYTES", 5)
    source = _source()
    path = tmp_path / "app.log"
    for data, polars_reads in [
        (b"2026-03-10 01:00:00 one\r\n2026-03-10 01:00:01 two\r\n", True),
        (b"2026-03-10 01:00:00 one\n2026-03-10 01:00:01 two\r", True),
        (b"2026-03-10 01:00:00 one\r2026-03-10 01:00:01 two\n", False),
        (b"2026-03-10 01:00:00 one\n2026-03-10 01:00:01 two\r\r", False),
    ]:
        path.write_bytes(data)
        assert text_lines.polars_reads(path, source) is polars_reads, data


@pytest.mark.parametrize("gzipped", [False, True])
@pytest.mark.parametrize("mixed", [False, True])
def test_lines_ended_by_a_lone_carriage_return_are_lines(tmp_path, gzipped, mixed):
    """Old Mac files (and some Windows tools) end lines in a lone \\r: ten such lines are ten
    events, numbered as Python's universal newlines count them, alone or mixed with \\n and \\r\\n."""
    lines = [f"2026-03-10 01:00:0{n},000 INFO  [main] c.s.App: line {n}" for n in range(10)]
    endings = ["\r", "\n", "\r\n"] if mixed else ["\r"]
    text = "".join(line + endings[n % len(endings)] for n, line in enumerate(lines))
    data = text.encode()
    path = tmp_path / ("app.log.1.gz" if gzipped else "app.log")
    path.write_bytes(gzip.compress(data) if gzipped else data)
    result = read_source(java_source(tmp_path))
    assert result.events["message"].to_list() == [f"line {n}" for n in range(10)]
    assert result.events["line_no"].to_list() == list(range(1, 11))
    assert result.quarantine.height == 0
    accounted(result)


@pytest.mark.parametrize(
    ("zone", "text", "timestamp_format", "utc"),
    [  # the clock jumped over these wall times: each is read as it plus the gap (java.time, zoneinfo)
        ("Europe/Berlin", "2026-03-29 02:30:00", None, datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
        (
            "Europe/Berlin",
            "2026-03-29T02:00:00.250",
            None,
            datetime(2026, 3, 29, 1, 0, 0, 250000, tzinfo=UTC),
        ),
        (
            "Europe/Berlin",
            "29/03/2026 02:59:59",
            "%d/%m/%Y %H:%M:%S",
            datetime(2026, 3, 29, 1, 59, 59, tzinfo=UTC),
        ),
        ("America/New_York", "2026-03-08 02:15:00", None, datetime(2026, 3, 8, 7, 15, tzinfo=UTC)),
        ("Australia/Lord_Howe", "2026-10-04 02:15:00", None, datetime(2026, 10, 3, 15, 45, tzinfo=UTC)),
        # fall-back: a wall time seen twice is the first (summer) one, as before
        ("Europe/Berlin", "2026-10-25 02:30:00", None, datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
    ],
)
def test_a_local_time_in_the_spring_forward_gap_is_shifted_forward_by_the_gap(
    zone, text, timestamp_format, utc
):
    """A wall time the clock jumped over is real data (a line written by a clock not yet moved on):
    it is read with the offset before the gap, i.e. shifted forward by the gap, not quarantined."""
    column = pl.Series("t", [text[:10] + text[10] + "01:00:00" + text[19:], text])  # a time before the gap
    parsed = parse_timestamps(column, timestamp_format=timestamp_format, timezone=zone)
    assert parsed.null_count() == 0
    assert parsed[-1] == utc


def test_a_log_line_in_the_spring_forward_gap_is_an_event(tmp_path):
    (tmp_path / "app.log").write_text(
        "2026-03-29 01:59:59,000 INFO  [main] c.s.App: before\n"
        "2026-03-29 02:30:00,000 INFO  [main] c.s.App: in the gap\n"
        "2026-03-29 03:00:00,000 INFO  [main] c.s.App: after\n"
    )
    result = read_source(java_source(tmp_path, timezone="Europe/Berlin"))
    assert result.quarantine.height == 0
    times = dict(zip(result.events["message"], result.events["timestamp"], strict=True))
    assert times["in the gap"] == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST
    accounted(result)


def test_a_symbolic_link_loop_is_named_as_a_loop_not_a_missing_target(tmp_path):
    (tmp_path / "app.log").write_text("2026-03-10 01:00:00,000 INFO  [main] c.s.App: ok\n")
    (tmp_path / "app.log.1").symlink_to(tmp_path / "app.log.2")
    (tmp_path / "app.log.2").symlink_to(tmp_path / "app.log.1")
    (tmp_path / "app.log.3").symlink_to("app.log.3")
    result = read_source(java_source(tmp_path))
    notes = {os.path.basename(r["file"]): r["notes"] for r in result.files}
    end = " (the links lead back round; no file at the end)"
    assert notes["app.log.1"] == [f"symbolic link loop: app.log.1 -> {tmp_path / 'app.log.2'}{end}"]
    assert notes["app.log.3"] == [f"symbolic link loop: app.log.3 -> app.log.3{end}"]
    assert notes["app.log.2"][0].startswith("symbolic link loop: app.log.2 -> ")
    assert result.stats["files_missing"] == 3 and result.events.height == 1
    named = java_source(tmp_path, "app.log.1")  # named, not globbed: reported the same way
    assert read_source(named).files[0]["notes"][0].startswith("symbolic link loop: app.log.1")
