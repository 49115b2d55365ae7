"""What the run summary says after ingest, from a real run of the ingest assets on small files: every
line read is counted (a quarantined record by its lines), lines in no partition and files that give
no event fail the run by name, and every damaged or skipped file is named or counted."""

from __future__ import annotations

import gzip
import os
import re
from datetime import UTC, datetime

from pipeline_support import pipeline_definitions

from logrca.run_summary import summarize_run

KEY = "2026-03-10-01:00"
HEADER = "<Date> <Time> <Level> \\\\[<Thread>\\\\] <Component>: <Content>"


def line(minute: int, text: str = "served", hour: int = 1) -> str:
    return f"2026-03-10 {hour:02d}:{minute % 60:02d}:00,000 INFO  [main] c.App: request {text}\n"


def config(tmp_path, paths: str = "logs/*.log*", multiline: bool = False):
    """One hourly partition, 01:00-02:00, over the files of ``logs/``."""
    (tmp_path / "logs").mkdir(exist_ok=True)
    rule = "\n    multiline: {start_pattern: '^\\d{4}-'}" if multiline else ""
    path = tmp_path / "logrca.yaml"
    path.write_text(
        "system: trial\nstart: 2026-03-10T01:00:00Z\nend: 2026-03-10T02:00:00Z\nsources:\n"
        f'  - name: app\n    service: app\n    format: loghub\n    header: "{HEADER}"\n'
        f'    paths: ["{paths}"]{rule}\n'
    )
    return path


def summary(path, tmp_path) -> tuple[list[str], bool]:
    """The summary lines (markup removed) and success of a run of the ingest assets for KEY."""
    from dagster import materialize

    defs = pipeline_definitions(path, data_dir=tmp_path / "data")
    result = materialize(
        defs.assets,
        selection=["raw_logs", "quarantined_lines"],
        partition_key=KEY,
        resources=defs.resources,
        raise_on_error=False,
    )
    lines, ok = summarize_run(result, KEY, verbose=False, log_dir=tmp_path / "logs-of-run")
    plain = [re.sub(r"\[/?(red|yellow|bold)\]", "", text) for text in lines]
    assert all(len(text) <= 80 for text in plain[1:]), plain
    return plain, ok


def after(lines: list[str], start: str) -> str:
    """The line holding ``start`` and its wrapped continuation lines, joined."""
    at = next(i for i, text in enumerate(lines) if start in text)
    rest = [text for text in lines[at + 1 :]]
    more = next((i for i, text in enumerate(rest) if not text.startswith("    ")), len(rest))
    return " ".join(text.strip() for text in [lines[at], *rest[:more]])


def test_a_quarantined_record_counts_its_lines_and_the_account_balances(tmp_path):
    """A record with a bad time and three continuation lines, and a trace longer than max_lines."""
    path = config(tmp_path, multiline=True)
    trace = [f"\tat com.shop.F{n}.m(F.java:{n})\n" for n in range(600)]
    (tmp_path / "logs" / "a.log").write_text(
        "".join(line(n) for n in range(20))
        + "2026-03-10 99:99:99,000 ERROR [main] c.App: bad time\n"
        + "\tat x.Y(Y.java:1)\n" * 3
        + line(30, "boom")
        + "".join(trace)
        + "".join(line(n) for n in range(40, 60))
    )
    lines, ok = summary(path, tmp_path)
    # 20 + 1 + 500 (the trace's first record) + 20 lines in events; 4 + 101 lines of two rows quarantined
    assert "  app logs/a.log: 645 read = 540 in events + 105 quarantined" in lines, lines
    assert ok, lines


def test_lines_before_the_start_or_after_the_end_are_named_and_warned_of(tmp_path):
    """The config's span leaves them out: named and counted, a warning, not a failed run."""
    path = config(tmp_path)
    (tmp_path / "logs" / "a.log").write_text(
        "".join(line(n, hour=0) for n in range(50, 60))
        + "".join(line(n) for n in range(30))
        + "".join(line(n, hour=2) for n in range(5))
    )
    lines, ok = summary(path, tmp_path)
    assert ok, lines
    assert "  app logs/a.log: 45 read = 30 in events + 0 quarantined" in lines, lines
    assert "    10 lines before the configured start 2026-03-10 01:00 UTC: in no partition" in lines
    assert "    5 lines after the configured end 2026-03-10 02:00 UTC: in no partition" in lines
    failed = after(lines, "check every_line_in_a_partition failed (WARN)")
    assert "a.log: 10 lines before the configured start, 5 lines after the configured end" in failed
    assert not any("other partitions" in text for text in lines)


def test_a_file_where_no_line_parses_fails_the_run_though_its_source_parses(tmp_path):
    """UTF-16, blank lines and binary data beside a file that parses; an empty file is only noted."""
    path = config(tmp_path)
    logs = tmp_path / "logs"
    (logs / "a.log").write_text("".join(line(n) for n in range(10)))
    (logs / "b.log").write_bytes("".join(line(n) for n in range(10)).encode("utf-16"))
    (logs / "blank.log").write_text("\n\n\n")
    (logs / "binary.log").write_bytes(bytes(range(256)) * 8)
    (logs / "empty.log").write_text("")
    lines, ok = summary(path, tmp_path)
    assert not ok
    failed = after(lines, "check every_file_gives_events failed (ERROR):")
    for name in ("b.log", "blank.log: 3 lines read, none parsed", "binary.log"):
        assert name in failed, (name, lines)
    assert "a.log" not in failed and "empty.log" not in failed
    assert "    empty file" in lines


def test_every_damaged_file_is_named_and_skipped_files_are_counted(tmp_path):
    path = config(tmp_path)
    logs = tmp_path / "logs"
    packed = gzip.compress("".join(line(n, f"job {n} of the nightly batch") for n in range(60)).encode())
    names = [f"application-server-{n}.log.{n}.gz" for n in range(1, 4)]
    for name in names:
        (logs / name).write_bytes(packed[: len(packed) // 2])
    (logs / "a.log").write_text("".join(line(n) for n in range(10)))
    for n in range(2):  # last written before the partition: not read
        old = logs / f"old.log.{n}"
        old.write_text(line(10, hour=0))
        written = datetime(2026, 3, 10, 0, 30, tzinfo=UTC).timestamp()
        os.utime(old, (written, written))
    lines, ok = summary(path, tmp_path)
    assert not ok
    failed = after(lines, "check every_file_read_to_its_end failed (ERROR):")
    for name in names:
        assert f"{name}: truncated gzip stream" in failed, lines
    assert "  2 files not read: written before this partition or starting after it" in lines


def test_a_source_whose_folder_does_not_exist_fails_the_run_by_name(tmp_path):
    """A misspelt folder reads nothing: not 'ok · 0 events', but a failed check naming it."""
    path = config(tmp_path, paths="logz/*.log")
    lines, ok = summary(path, tmp_path)
    assert not ok
    failed = after(lines, "check every_source_folder_exists failed (ERROR)")
    assert f"source app: {tmp_path / 'logz'} does not exist" in failed.replace("\n", " ")


def _two_sources(tmp_path):
    """Sources ``app`` and ``db`` over 01:00-03:00 (two hourly partitions)."""
    for folder in ("app", "db"):
        (tmp_path / folder).mkdir(exist_ok=True)
    path = tmp_path / "logrca.yaml"
    path.write_text(
        "system: trial\nstart: 2026-03-10T01:00:00Z\nend: 2026-03-10T03:00:00Z\nsources:\n"
        + "".join(
            f'  - name: {name}\n    service: {name}\n    format: loghub\n    header: "{HEADER}"\n'
            f'    paths: ["{name}/*.log"]\n'
            for name in ("app", "db")
        )
    )
    return path


def _summary_of(path, tmp_path, key: str, instance) -> tuple[list[str], bool]:
    from dagster import materialize

    defs = pipeline_definitions(path, data_dir=tmp_path / "data")
    result = materialize(
        defs.assets, selection=["raw_logs"], partition_key=key, resources=defs.resources, instance=instance
    )
    lines, ok = summarize_run(result, key, verbose=False, log_dir=tmp_path / "logs-of-run")
    return [re.sub(r"\[/?(red|yellow|bold)\]", "", text) for text in lines], ok


def test_a_source_that_falls_silent_is_warned_of_and_so_is_an_hour_without_any_event(tmp_path):
    """Silence read as health: a shipper that stopped left 'ok · 0 events' and exit 0."""
    from dagster import DagsterInstance

    path = _two_sources(tmp_path)
    (tmp_path / "app" / "a.log").write_text("".join(line(n) for n in range(30)) + line(1, hour=2))
    (tmp_path / "db" / "d.log").write_text("".join(line(n) for n in range(20)))  # nothing after 01:59
    with DagsterInstance.ephemeral() as instance:
        first, ok = _summary_of(path, tmp_path, "2026-03-10-01:00", instance)
        assert ok and not any("every_source_gives_events" in text for text in first), first
        second, ok = _summary_of(path, tmp_path, "2026-03-10-02:00", instance)
        assert ok, second  # a warning: a source may be quiet for an hour
        warned = after(second, "check every_source_gives_events failed (WARN)")
        assert "db: 20 events in 2026-03-10-01:00, none in this one" in warned and "app" not in warned
    (tmp_path / "app" / "a.log").write_text("")
    (tmp_path / "db" / "d.log").write_text("")
    with DagsterInstance.ephemeral() as instance:  # nothing before it to compare with: the hour is empty
        empty, ok = _summary_of(path, tmp_path, "2026-03-10-01:00", instance)
        assert "no event from any of the 2 sources in this partition" in after(
            empty, "check every_source_gives_events failed (WARN)"
        )
