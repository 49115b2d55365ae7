"""Readers: formats, multi-line records, rotation and gzip, and bad input that must be kept, not dropped."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from logrca.parsers.ingest.files import resolve_paths
from logrca.parsers.ingest.readers import read_source, read_sources
from logrca.parsers.ingest.schema import EVENT_SCHEMA, QUARANTINE_SCHEMA
from logrca.parsers.ingest.sources import SourceConfig

JAVA_HEADER = "<Date> <Time> <Level> \\[<Thread>\\] <Component>: <Content>"


def java_source(tmp_path, **extra) -> SourceConfig:
    return SourceConfig(
        name="app",
        service="app",
        format="loghub",
        header=JAVA_HEADER,
        paths=[str(tmp_path / "app.log*")],
        **extra,
    )


def check_accounting(result) -> None:
    stats = result.stats
    assert stats["lines_read"] == stats["lines_in_events"] + stats["lines_quarantined"]


def _payments_source(path: str) -> SourceConfig:
    """A JSON-lines source of the payments service with every mapped field (the JSON tests' source)."""
    return SourceConfig(
        name="pay",
        service="payments",
        format="jsonl",
        paths=[path],
        json_fields={
            "timestamp": "ts",
            "level": "severity",
            "message": "msg",
            "trace_id": "trace",
            "host": "pod",
            "service": "service",
        },
    )


def test_loghub_header_lines_become_events_in_utc(tmp_path):
    (tmp_path / "app.log").write_text(
        "2026-03-10 01:00:00,100 INFO  [main] c.s.App: started trace_id=abcdef0123456789\n"
        "2026-03-10 01:00:01,250 WARNING [main] c.s.App: slow call\n"
    )
    result = read_source(java_source(tmp_path, timezone="Europe/Berlin"))
    events = result.events
    assert events.schema["timestamp"] == EVENT_SCHEMA["timestamp"]
    assert events["timestamp"].to_list() == [
        datetime(2026, 3, 10, 0, 0, 0, 100000, tzinfo=UTC),
        datetime(2026, 3, 10, 0, 0, 1, 250000, tzinfo=UTC),
    ]
    assert events["level"].to_list() == ["INFO", "WARN"]
    assert events["message"].to_list() == ["started trace_id=abcdef0123456789", "slow call"]
    assert events["trace_id"].to_list() == ["abcdef0123456789", None]
    assert events["line_no"].to_list() == [1, 2]
    check_accounting(result)


def test_stack_trace_lines_join_their_record(tmp_path):
    (tmp_path / "app.log").write_text(
        "2026-03-10 01:00:00,000 ERROR [main] c.s.App: boom\n"
        "java.lang.IllegalStateException: bad\n"
        "\tat c.s.App.run(App.java:1)\n"
        "2026-03-10 01:00:02,000 INFO  [main] c.s.App: next\n"
    )
    source = java_source(tmp_path, multiline={"start_pattern": r"^\d{4}-\d{2}-\d{2} "})
    result = read_source(source)
    assert result.events.height == 2
    assert (
        result.events["message"][0]
        == "boom\njava.lang.IllegalStateException: bad\n\tat c.s.App.run(App.java:1)"
    )
    assert result.stats["lines_in_events"] == 4
    check_accounting(result)


def test_multiline_record_across_batches_is_not_split(tmp_path):
    lines = []
    for n in range(300):
        lines.append(f"2026-03-10 01:00:{n % 60:02d},000 ERROR [main] c.s.App: failure {n}")
        lines += [f"\tat frame{n}.{k}(X.java:{k})" for k in range(5)]
    (tmp_path / "app.log").write_text("\n".join(lines) + "\n")
    source = java_source(tmp_path, multiline={"start_pattern": r"^\d{4}-\d{2}-\d{2} "})
    result = read_source(source, batch_bytes=4096)
    assert result.events.height == 300
    assert all(m.count("\n") == 5 for m in result.events["message"])
    check_accounting(result)


def test_rotated_and_gzipped_files_are_read_oldest_first(tmp_path):
    def line(hour):
        return f"2026-03-10 {hour:02d}:00:00,000 INFO  [main] c.s.App: hour {hour}\n"

    with gzip.open(tmp_path / "app.log.2.gz", "wt") as stream:
        stream.write(line(0))
    (tmp_path / "app.log.1").write_text(line(1))
    (tmp_path / "app.log").write_text(line(2))
    assert [p.name for p in resolve_paths([str(tmp_path / "app.log*")], tmp_path)] == [
        "app.log.2.gz",
        "app.log.1",
        "app.log",
    ]
    result = read_source(java_source(tmp_path))
    assert result.events["message"].to_list() == ["hour 0", "hour 1", "hour 2"]
    assert result.stats["files"] == 3


def test_malformed_and_non_utf8_lines_are_quarantined_with_reason_and_bytes(tmp_path):
    (tmp_path / "app.log").write_bytes(
        b"2026-03-10 01:00:00,000 INFO  [main] c.s.App: ok\n"
        b"this line has no header\n"
        b"2026-03-10 01:00:01,000 INFO  [main] c.s.App: Gr\xfc\xdf dich\n"
        b"2026-13-45 99:00:01,000 INFO  [main] c.s.App: impossible date\n"
    )
    result = read_source(java_source(tmp_path))
    assert result.events["message"].to_list() == ["ok"]
    quarantine = result.quarantine.sort("line_no")
    assert set(QUARANTINE_SCHEMA) <= set(quarantine.columns)
    assert quarantine["line_no"].to_list() == [2, 3, 4]
    reasons = quarantine["reason"].to_list()
    assert "header" in reasons[0]
    assert "utf-8" in reasons[1]
    assert "timestamp" in reasons[2]
    assert bytes.fromhex(quarantine["raw_hex"][1]).endswith(b"Gr\xfc\xdf dich")
    check_accounting(result)


def test_other_encodings_are_read_when_configured(tmp_path):
    (tmp_path / "app.log").write_bytes(
        "2026-03-10 01:00:00,000 INFO  [main] c.s.App: Grüß dich\n".encode("latin-1")
    )
    result = read_source(java_source(tmp_path, encoding="latin-1"))
    assert result.events["message"].to_list() == ["Grüß dich"]


def test_truncated_gzip_keeps_lines_before_the_cut_and_reports_it(tmp_path):
    body = "".join(
        f"2026-03-10 01:{n // 60:02d}:{n % 60:02d},000 INFO  [main] c.s.App: line {n}\n" for n in range(2000)
    ).encode()
    packed = gzip.compress(body)
    (tmp_path / "app.log.1.gz").write_bytes(packed[: len(packed) // 2])
    result = read_source(java_source(tmp_path))
    assert 0 < result.events.height < 2000
    assert result.stats["files_truncated"] == 1
    truncated = result.quarantine.filter(pl.col("reason").str.contains("truncated gzip"))
    assert truncated.height == 1
    # Lines read are all accounted for; the cut is reported, not counted as a line.
    check_accounting(result)


def test_huge_line_goes_to_quarantine_not_into_memory_blowup(tmp_path):
    huge = "x" * 5000
    (tmp_path / "app.log").write_text(
        f"2026-03-10 01:00:00,000 INFO  [main] c.s.App: {huge}\n2026-03-10 01:00:01,000 INFO  [main] c.s.App: ok\n"
    )
    result = read_source(java_source(tmp_path, max_line_bytes=2048))
    assert result.events["message"].to_list() == ["ok"]
    assert "longer than max_line_bytes" in result.quarantine["reason"][0]
    assert len(result.quarantine["raw"][0]) > 5000  # the full line is kept


def test_unordered_timestamps_are_sorted_and_counted(tmp_path):
    (tmp_path / "app.log").write_text(
        "2026-03-10 01:00:05,000 INFO  [main] c.s.App: third\n"
        "2026-03-10 01:00:01,000 INFO  [main] c.s.App: first\n"
        "2026-03-10 01:00:03,000 INFO  [main] c.s.App: second\n"
    )
    result = read_source(java_source(tmp_path))
    assert result.events["message"].to_list() == ["first", "second", "third"]
    assert result.stats["out_of_order"] == 2


def test_sources_are_merged_in_time_order_ties_in_source_order(tmp_path):
    # Two sources whose lines interleave in time: the merged events are sorted, a tie keeps the
    # sources' order; one source whose lines are in order comes back as it was read.
    (tmp_path / "a.log").write_text(
        "2026-03-10 01:00:01,000 INFO  [main] c.s.App: a1\n2026-03-10 01:00:03,000 INFO  [main] c.s.App: a3\n"
    )
    (tmp_path / "b.log").write_text(
        "2026-03-10 01:00:02,000 INFO  [main] c.s.App: b2\n2026-03-10 01:00:03,000 INFO  [main] c.s.App: b3\n"
    )
    a, b = (
        SourceConfig(
            name=n, service=n, format="loghub", header=JAVA_HEADER, paths=[str(tmp_path / f"{n}.log")]
        )
        for n in ("a", "b")
    )
    merged, _ = read_sources([a, b], base_dir=tmp_path, threads=1)
    assert merged.events["message"].to_list() == ["a1", "b2", "a3", "b3"]
    merged, _ = read_sources([b, a], base_dir=tmp_path, threads=1)
    assert merged.events["message"].to_list() == ["a1", "b2", "b3", "a3"]
    alone, _ = read_sources([a], base_dir=tmp_path, threads=1)
    assert alone.events["message"].to_list() == ["a1", "a3"]


def test_empty_source_gives_empty_frames_with_schema(tmp_path):
    (tmp_path / "app.log").write_text("")
    result = read_source(java_source(tmp_path))
    assert result.events.height == 0 and result.quarantine.height == 0
    assert result.stats["lines_read"] == 0
    glob_without_files = SourceConfig(
        name="none", service="x", format="loghub", header=JAVA_HEADER, paths=[str(tmp_path / "nothing*.log")]
    )
    assert read_source(glob_without_files).stats["files"] == 0


def test_missing_literal_file_is_a_clear_error(tmp_path):
    source = SourceConfig(
        name="gone", service="x", format="loghub", header=JAVA_HEADER, paths=[str(tmp_path / "gone.log")]
    )
    with pytest.raises(FileNotFoundError, match="gone.log"):
        read_source(source)


def test_json_lines_with_field_mapping_epoch_millis_and_a_broken_record(tmp_path):
    records = [
        {"ts": 1773104400000, "severity": "error", "msg": "payment failed", "trace": "req-12345678"},
        {"ts": 1773104401000, "severity": "info", "msg": "ok"},
    ]
    text = "\n".join(json.dumps(r) for r in records) + '\n{"ts": 1773104402000, "msg": "cut off\n'
    (tmp_path / "pay.log").write_text(text)
    source = _payments_source(str(tmp_path / "pay.log"))
    result = read_source(source)
    assert result.events["timestamp"][0] == datetime(2026, 3, 10, 1, 0, tzinfo=UTC)
    assert result.events["level"].to_list() == ["ERROR", "INFO"]
    assert result.events["service"].to_list() == ["payments", "payments"]
    assert result.events["trace_id"][0] == "req-12345678"
    assert result.quarantine.height == 1 and "JSON" in result.quarantine["reason"][0]
    check_accounting(result)


def test_syslog_rfc5424_and_rfc3164(tmp_path):
    (tmp_path / "inv.log").write_text(
        "<134>1 2026-03-10T01:00:00.500Z inv-1 inventory 3100 - - Reserved 2 units\n"
        "<131>Mar 10 01:00:01 inv-1 inventory[3100]: stock cache failed\n"
    )
    source = SourceConfig(name="inv", service="inventory", format="syslog", paths=[str(tmp_path / "inv.log")])
    result = read_source(source)
    events = result.events
    assert events["host"].to_list() == ["inv-1", "inv-1"]
    assert events["level"].to_list() == ["INFO", "ERROR"]
    assert events["message"].to_list() == ["Reserved 2 units", "stock cache failed"]
    assert events["timestamp"][0] == datetime(2026, 3, 10, 1, 0, 0, 500000, tzinfo=UTC)


def test_window_keeps_each_line_in_exactly_one_partition(tmp_path):
    (tmp_path / "app.log").write_text(
        "2026-03-10 00:59:59,000 INFO  [main] c.s.App: before\n"
        "garbage between\n"
        "2026-03-10 01:00:00,000 INFO  [main] c.s.App: inside\n"
        "2026-03-10 02:00:00,000 INFO  [main] c.s.App: after\n"
    )
    source = java_source(tmp_path)
    hour = lambda h: datetime(2026, 3, 10, h, tzinfo=UTC)  # noqa: E731
    first = read_source(source, window=(hour(0), hour(1)))
    second = read_source(source, window=(hour(1), hour(2)))
    assert first.events["message"].to_list() == ["before"] and second.events["message"].to_list() == [
        "inside"
    ]
    # The garbage line sits after 00:59:59 in the file, so it belongs to the first window only.
    assert first.quarantine.height == 1 and second.quarantine.height == 0


def _random_json_lines(seed: int, count: int, *, poison: bool) -> list[str]:
    """JSON lines mixing what polars and json.loads read alike with what they do not (see line_formats._plain_json_rows).

    ``poison`` adds lines that look plain but are not valid JSON for polars (NaN, two objects, single
    quotes): one of them sends the whole batch to json.loads.
    """
    import random

    rng = random.Random(seed)
    values = [
        '"ok"',
        '"a \\"quoted\\" b"',
        '"tab\\there"',
        '"caf\\u00e9"',
        '"x\\/y"',
        '"back\\\\slash"',
        "null",
        "0",
        "-7",
        "42",
        "12345678901234567890123",
        "1.5",
        "1e3",
        "-0",
        "true",
        "false",
        '{"msg": "inner"}',
        "[1, 2]",
        '""',
        '"trace_id=abcdef1234"',
        '"1773104400.5"',
        "1773104400000",
        "1773104400.25",
        '"2026-03-10T01:00:00Z"',
    ] + (["NaN"] if poison else [])
    keys = ["ts", "severity", "msg", "trace", "pod", "service", "other", "m\\u0073g"]
    lines = []
    for _ in range(count):
        pairs = [
            f'"{rng.choice(keys)}"{rng.choice(["", " "])}:{rng.choice(["", " ", chr(9)])}{rng.choice(values)}'
            for _ in range(rng.randint(0, 7))
        ]
        text = "{" + ", ".join(pairs) + "}"
        roll = rng.random()
        if roll < 0.04:
            text = text[: rng.randint(0, len(text) - 1)]  # cut off
        elif roll < 0.06:
            text += rng.choice([" x", "]", "  "] + ([' {"a": 1}'] if poison else []))
        elif roll < 0.08:
            text = rng.choice(
                ["[1, 2]", '"just a string"', "", "   ", "42"] + (["{'single': 'quotes'}"] if poison else [])
            )
        elif roll < 0.10:
            text = " " + text
        lines.append(text)
    return lines


@pytest.mark.parametrize(("seed", "poison"), [(1, False), (2, False), (3, True)])
def test_json_lines_read_by_polars_equal_json_loads(monkeypatch, seed, poison):
    """The vectorized JSON path gives exactly what json.loads gives, line by line (values, nulls, problems)."""
    from logrca.parsers.ingest import line_formats

    source = _payments_source("pay.log")
    lines = _random_json_lines(seed, 3000, poison=poison)
    records = pl.DataFrame(
        {"head": lines, "rest": [None] * len(lines)}, schema={"head": pl.Utf8, "rest": pl.Utf8}
    )
    decoded = []
    decode = line_formats._decode_plain_json
    monkeypatch.setattr(
        line_formats,
        "_decode_plain_json",
        lambda heads, names: decoded.append(decode(heads, names)) or decoded[-1],
    )
    fast = line_formats.parse_jsonl(records, source)
    plain = line_formats._plain_json_rows(records["head"], source.json_fields)
    assert 0.1 < plain.mean() < 0.9  # both kinds of rows are there
    assert (decoded[0] is None) == poison  # a line polars cannot read sends the batch to json.loads
    monkeypatch.setattr(
        line_formats, "_plain_json_rows", lambda heads, names: pl.repeat(False, heads.len(), eager=True)
    )
    assert_frame_equal(fast, line_formats.parse_jsonl(records, source))


def test_json_epoch_out_of_range_is_quarantined_not_a_crash(tmp_path):
    (tmp_path / "pay.log").write_text(
        '{"ts": 1773104400000, "msg": "ok"}\n{"ts": 12345678901234567890123, "msg": "far future"}\n'
    )
    source = _payments_source(str(tmp_path / "pay.log"))
    result = read_source(source)
    assert result.events["message"].to_list() == ["ok"]
    assert result.quarantine.height == 1 and "ts" in result.quarantine["reason"][0]
    check_accounting(result)


@pytest.mark.parametrize("gzipped", [False, True])
def test_a_files_time_range_is_the_earliest_and_latest_of_its_head_and_tail(tmp_path, gzipped):
    # the sensor's look at a file: head and tail parsed in one go give the times each parsed alone
    # gives, with stack traces cut at the tail's start, lines out of order inside the samples, and
    # a file small enough that its tail is its head
    from logrca.parsers.ingest.file_times import _head_and_tail, file_time_range
    from logrca.parsers.ingest.text_file import sample_timestamps

    lines = []
    for n in range(20_000):
        second = (n * 37) % 3600  # out of order
        lines.append(
            f"2026-03-10 01:{second // 60:02d}:{second % 60:02d},000 ERROR [main] c.s.App: failure {n}"
        )
        lines += [f"\tat frame{n}.{k}(X.java:{k})" for k in range(n % 4)]
    text = ("\n".join(lines) + "\n").encode()
    source = java_source(tmp_path, multiline={"start_pattern": r"^\d{4}-\d{2}-\d{2} "})
    for name, body in (("app.log", text), ("app.log.1", text[:1500])):
        path = tmp_path / (name + (".gz" if gzipped else ""))
        path.write_bytes(gzip.compress(body) if gzipped else body)
        head, tail = _head_and_tail(path, 4096)
        alone = pl.concat(
            [sample_timestamps(path, source, part) for part in (head, tail) if part]
        ).drop_nulls()
        assert file_time_range(path, source, sample_bytes=4096) == (alone.min(), alone.max())
        if name == "app.log" and not gzipped:  # (a gzip stream this size is one block: tail is head)
            assert len(head) + len(tail) < len(lines) and alone.len() > 20  # samples, not the file
