"""Nothing lost, and said: every line read is an event or a quarantined row of the partition its
place in the file puts it in, and file problems (empty, missing link target, cut gzip) are named."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from logrca.parsers.ingest.readers import read_source, read_sources
from logrca.parsers.ingest.sources import SourceConfig
from logrca.parsers.ingest.text_file import REASON_QUOTE_CHARS

JAVA_HEADER = "<Date> <Time> <Level> \\[<Thread>\\] <Component>: <Content>"
HDFS_HEADER = "<Date> <Time> <Pid> <Level> <Component>: <Content>"
HOUR_1 = (datetime(2026, 3, 10, 1, tzinfo=UTC), datetime(2026, 3, 10, 2, tzinfo=UTC))
HOUR_2 = (datetime(2026, 3, 10, 2, tzinfo=UTC), datetime(2026, 3, 10, 3, tzinfo=UTC))


def source(tmp_path, pattern="app.log*", header=JAVA_HEADER, **extra) -> SourceConfig:
    return SourceConfig(
        name="app", service="app", format="loghub", header=header, paths=[str(tmp_path / pattern)], **extra
    )


def accounted(result) -> None:
    stats = result.stats
    assert stats["lines_read"] == (
        stats["lines_in_events"] + stats["lines_quarantined"] + stats["lines_outside_window"]
    )
    for record in result.files:
        assert record["lines_read"] == (
            record["lines_in_events"] + record["lines_quarantined"] + record["lines_outside_window"]
        )


def test_garbage_lines_take_the_partition_of_the_last_parsed_line_before_them(tmp_path):
    log = tmp_path / "app.log"
    log.write_text(
        "2026-03-10 01:59:59,000 INFO  [main] c.App: last of hour one\n"
        "garbage one\n"
        "2026-03-10 02:00:01,000 INFO  [main] c.App: first of hour two\n"
        "garbage two\n"
    )
    os.utime(log, (0, 0))  # an mtime far from both hours must not matter
    first = read_source(source(tmp_path), window=HOUR_1, prune_files=False)
    second = read_source(source(tmp_path), window=HOUR_2, prune_files=False)
    assert first.quarantine["raw"].to_list() == ["garbage one"]
    assert second.quarantine["raw"].to_list() == ["garbage two"]
    for result in (first, second):
        accounted(result)
        assert result.files[0]["lines_outside_window"] == 2


def test_file_without_any_parsable_time_is_quarantined_whole_in_the_partition_run(tmp_path):
    log = tmp_path / "hdfs.log"
    log.write_text(
        "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_1 terminating\n"
        * 3
    )
    os.utime(log, (0, 0))  # mtime in 1970: before the window, yet the file must be read
    hdfs = source(tmp_path, "hdfs.log", header=HDFS_HEADER)
    result = read_source(hdfs, window=HOUR_2)
    assert result.events.height == 0
    assert result.quarantine.height == 3
    assert all("unparseable timestamp: 081109 203615" in r for r in result.quarantine["reason"])
    assert "no line parses" in result.files[0]["notes"][0]
    accounted(result)


def test_a_file_whose_lines_give_no_event_shows_in_the_files_account(tmp_path):
    (tmp_path / "hdfs.log").write_text("081109 203615 148 INFO dfs.X: y\n")
    (tmp_path / "empty.log").write_text("")
    merged, _ = read_sources([source(tmp_path, "*.log", header=HDFS_HEADER)], base_dir=tmp_path)
    from logrca.assets.ingest import silent_files

    assert silent_files(merged.files) == {str(tmp_path / "hdfs.log"): 1}  # an empty file is only noted


def test_empty_file_and_missing_link_target_are_named_not_skipped(tmp_path):
    (tmp_path / "app.log").write_text("")
    (tmp_path / "app.log.1").symlink_to(tmp_path / "rotated-away.log")
    result = read_source(source(tmp_path))
    notes = {os.path.basename(r["file"]): r["notes"] for r in result.files}
    assert notes["app.log"] == ["empty file"]
    assert "link target missing" in notes["app.log.1"][0]
    assert "rotated-away.log" in notes["app.log.1"][0]
    assert result.stats["files_missing"] == 1
    named = source(tmp_path, "app.log.1")  # named, not globbed: reported the same way, no exception
    assert "rotated-away.log" in read_source(named).files[0]["notes"][0]


def test_cut_last_line_of_a_truncated_gzip_is_quarantined_not_an_event(tmp_path):
    body = "".join(
        f"2026-03-10 01:00:{n % 60:02d},000 INFO  [main] c.App: block blk_{2473000 + n} served\n"
        for n in range(400)
    ).encode()
    packed = gzip.compress(body)
    (tmp_path / "app.log.1.gz").write_bytes(packed[: len(packed) * 2 // 3])
    result = read_source(source(tmp_path))
    cut = result.quarantine.filter(pl.col("reason").str.contains("cut off"))
    assert cut.height == 1
    cut_text = cut["raw"][0]
    assert cut_text and not cut_text.endswith("served")  # the partial line, as it was cut
    assert not result.events["message"].str.contains(cut_text.split(": ", 1)[-1] + "$").any()
    assert result.events["message"].str.ends_with("served").all()
    assert "truncated gzip" in result.files[0]["notes"][0]
    accounted(result)
    from logrca.assets.ingest import cut_short_files  # what raw_logs' every_file_read_to_its_end reads

    assert list(cut_short_files(result.files)) == [str(tmp_path / "app.log.1.gz")]
    assert cut_short_files(read_source(source(tmp_path, "*.log")).files) == {}


def test_reason_quotes_a_bounded_part_of_a_huge_line_while_raw_keeps_it_whole(tmp_path):
    huge = "9" * 50_000
    (tmp_path / "app.log").write_text(f"{huge} INFO [main] c.App: x\n")
    result = read_source(source(tmp_path))
    assert len(result.quarantine["reason"][0]) <= REASON_QUOTE_CHARS + 1
    assert len(result.quarantine["raw"][0]) > 50_000


def test_a_glob_that_matches_nothing_is_named_with_its_missing_folder(tmp_path):
    result = read_source(source(tmp_path, "landing/app/*.log"))
    assert result.stats["files"] == 0
    assert "no file matches this pattern" in result.files[0]["notes"][0]
    assert "does not exist" in result.files[0]["notes"][0]


def test_files_read_on_a_pool_give_what_one_thread_gives(tmp_path):
    """Files of several sources read largest first on 2-4 threads: same events, quarantine, counts, files.

    The sources mix sizes (so the pool's order differs from the config's), a rotated and a pruned
    file, garbage lines, a missing link target and a glob without a file.
    """
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    (tmp_path / "b" / "app.log.1").write_text(
        "".join(f"2026-03-10 01:{n % 60:02d}:00,000 INFO  [main] c.App: old {n}\n" for n in range(50))
    )
    (tmp_path / "b" / "app.log").write_text(
        "".join(
            f"2026-03-10 02:{n % 60:02d}:{n % 7:02d},000 WARN  [w-{n}] c.App: served {n}\ngarbage {n}\n"
            for n in range(3000)
        )
    )
    (tmp_path / "a" / "app.log").write_text(
        "".join(f"2026-03-10 02:00:{n % 60:02d},000 INFO  [main] c.App: small {n}\n" for n in range(40))
    )
    (tmp_path / "a" / "gone.log").symlink_to(tmp_path / "nowhere.log")
    old = tmp_path / "b" / "app.log.2"
    old.write_text("2026-03-10 00:10:00,000 INFO  [main] c.App: long ago\n")
    os.utime(old, (HOUR_1[0].timestamp() - 60, HOUR_1[0].timestamp() - 60))  # pruned from HOUR_2
    sources = [
        source(tmp_path, "a/*.log").model_copy(update={"name": "a"}),
        source(tmp_path, "b/app.log*").model_copy(update={"name": "b"}),
        source(tmp_path, "c/*.log").model_copy(update={"name": "c"}),
    ]
    one, one_per_source = read_sources(sources, base_dir=tmp_path, window=HOUR_2, threads=1)
    assert one.stats["files_skipped_outside_window"] == 1 and one.quarantine.height >= 3000
    for threads in (2, 4):
        many, per_source = read_sources(sources, base_dir=tmp_path, window=HOUR_2, threads=threads)
        assert many.events.equals(one.events) and many.quarantine.equals(one.quarantine)
        assert (many.stats, many.files, per_source) == (one.stats, one.files, one_per_source)


def _whole_head_rule(path, src, window) -> bool:
    """The pruning rule as first written: every record of the file's head parsed, then decided."""
    from logrca.parsers.ingest.files import iter_line_batches
    from logrca.parsers.ingest.text_file import sample_timestamps

    lines = next(iter(iter_line_batches(path, batch_bytes=64 << 10))).lines
    stamps = sample_timestamps(path, src, lines).drop_nulls()
    if not stamps.len():
        return True
    written = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    if written < window[0] and stamps.min() <= written:
        return False
    return stamps.min() < window[1]


def test_pruning_on_the_first_lines_decides_as_the_whole_head_does(tmp_path):
    """Heads whose first 64 lines settle the file, and heads they do not (garbage first, late times)."""
    from logrca.parsers.ingest.file_times import may_hold_window as _may_hold_window

    def line(hour: int, n: int) -> str:
        return f"2026-03-10 {hour:02d}:{n % 60:02d}:00,000 INFO  [main] c.App: line {n}\n"

    heads = {
        "inside": [line(2, n) for n in range(300)],
        "after": [line(3, n) for n in range(300)],
        "after_then_inside": [line(3, n) for n in range(100)] + [line(2, n) for n in range(200)],
        "garbage_then_inside": [f"garbage {n}\n" for n in range(100)] + [line(2, n) for n in range(200)],
        "garbage_then_after": [f"garbage {n}\n" for n in range(100)] + [line(3, n) for n in range(200)],
        "no_time": [f"garbage {n}\n" for n in range(300)],
        "before": [line(1, n) for n in range(300)],
    }
    src = source(tmp_path, "*.log")
    decisions = []
    for name, lines in heads.items():
        for older in (True, False):
            path = tmp_path / f"{name}-{older}.log"
            path.write_text("".join(lines))
            written = HOUR_2[0].timestamp() + (-60 if older else 7200)
            os.utime(path, (written, written))
            decisions.append((path.name, _may_hold_window(path, src, HOUR_2)))
            assert decisions[-1][1] == _whole_head_rule(path, src, HOUR_2), path.name
    assert {kept for _, kept in decisions} == {True, False}
    assert ("inside-True.log", True) in decisions  # dated after its mtime: judged by its times
    # the source's files looked at in one batch decide as each alone does
    from logrca.parsers.ingest.file_times import may_hold_windows

    paths = [tmp_path / name for name, _ in decisions]
    assert may_hold_windows(paths, src, HOUR_2) == [kept for _, kept in decisions]
    assert may_hold_windows(paths[::-1], src, HOUR_2) == [kept for _, kept in decisions][::-1]


def test_a_file_dated_after_its_mtime_is_read_not_pruned(tmp_path):
    """An mtime before the window skips a file only when its lines are not dated after that mtime.

    Copied without its times, touched, or written in another time zone than the one it is read in:
    its in-window lines are read, not skipped unnamed. A file whose lines all came before its mtime
    is still skipped.
    """
    copied = tmp_path / "app.log"
    copied.write_text(
        "".join(f"2026-03-10 02:{n:02d}:00,000 INFO  [main] c.App: copied {n}\n" for n in range(30))
    )
    os.utime(copied, (datetime(2020, 1, 1, tzinfo=UTC).timestamp(),) * 2)
    rotated = tmp_path / "app.log.1"
    rotated.write_text(
        "".join(f"2026-03-10 01:{n:02d}:00,000 INFO  [main] c.App: rotated {n}\n" for n in range(30))
    )
    os.utime(rotated, (HOUR_2[0].timestamp() - 60,) * 2)
    result = read_source(source(tmp_path), window=HOUR_2)
    assert result.stats["lines_in_events"] == 30 and result.stats["files_skipped_outside_window"] == 1
    assert [Path(record["file"]).name for record in result.files] == ["app.log"]
    accounted(result)


def test_a_quarantined_record_counts_every_line_it_holds(tmp_path):
    """A record whose time does not parse is one quarantine row that counts its continuation lines."""
    (tmp_path / "app.log").write_text(
        "2026-03-10 01:00:00,000 INFO  [main] c.App: fine\n"
        "2026-03-10 99:99:99,000 ERROR [main] c.App: bad time\n" + "\tat x.Y(Y.java:1)\n" * 3
    )
    trace = source(tmp_path, multiline={"start_pattern": r"^\d{4}-"})
    for window in (None, HOUR_1, HOUR_2):
        result = read_source(trace, window=window, prune_files=False)
        accounted(result)
        assert result.stats["lines_read"] == 5 and result.quarantine.height == (0 if window == HOUR_2 else 1)
    assert read_source(trace, window=HOUR_1).stats["lines_quarantined"] == 4


def test_lines_outside_every_partition_are_counted_apart_and_named(tmp_path):
    (tmp_path / "app.log").write_text(
        "2026-03-10 00:59:00,000 INFO  [main] c.App: before\ngarbage before\n"
        "2026-03-10 01:00:00,000 INFO  [main] c.App: inside\n"
        "2026-03-10 02:00:00,000 INFO  [main] c.App: after\n"
    )
    span = (HOUR_1[0], HOUR_1[1])
    result, _ = read_sources([source(tmp_path)], base_dir=tmp_path, window=HOUR_1, span=span)
    accounted(result)
    record = result.files[0]
    assert (record["lines_before_start"], record["lines_after_end"], record["lines_outside_window"]) == (
        2,
        1,
        3,
    )
    assert record["notes"] == [
        "2 lines before the configured start 2026-03-10 01:00 UTC: in no partition",
        "1 line after the configured end 2026-03-10 02:00 UTC: in no partition",
    ]
    open_end, _ = read_sources([source(tmp_path)], base_dir=tmp_path, window=HOUR_1, span=(span[0], None))
    assert (open_end.stats["lines_before_start"], open_end.stats["lines_after_end"]) == (2, 0)
