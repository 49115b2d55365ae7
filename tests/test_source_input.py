"""Source options and file quirks that used to pass load and then cost lines or fail mid-run."""

from __future__ import annotations

import gzip
import json
import os
from datetime import UTC, datetime

import pytest

from logrca.parsers.ingest.readers import read_source
from logrca.parsers.ingest.sources import SourceConfig


def test_partial_json_fields_keep_the_defaults_for_the_rest(tmp_path):
    record = {"ts": "2026-01-05T10:00:00Z", "msg": "started", "level": "warning", "host": "h1"}
    (tmp_path / "a.json").write_text(json.dumps(record) + "\n")
    source = SourceConfig(
        name="j",
        service="j",
        format="jsonl",
        paths=[str(tmp_path / "*.json")],
        json_fields={"message": "msg", "timestamp": "ts"},
    )
    assert source.json_fields["level"] == "level" and source.json_fields["timestamp"] == "ts"
    events = read_source(source).events
    assert events["timestamp"].to_list() == [datetime(2026, 1, 5, 10, tzinfo=UTC)]
    assert events["message"].to_list() == ["started"]
    assert events["level"].to_list() == ["WARN"] and events["host"].to_list() == ["h1"]


@pytest.mark.parametrize("gzipped", [False, True])
def test_a_byte_order_mark_does_not_cost_the_first_line(tmp_path, gzipped):
    text = "\ufeff2026-03-10 01:00:00,000 INFO [main] c.App: first\n2026-03-10 01:00:01,000 INFO [main] c.App: next\n"
    data = text.encode("utf-8")
    (tmp_path / "app.log").write_bytes(gzip.compress(data) if gzipped else data)
    source = SourceConfig(
        name="app",
        service="app",
        format="loghub",
        paths=[str(tmp_path / "app.log")],
        header="<Date> <Time> <Level> \\[<Thread>\\] <Component>: <Content>",
    )
    result = read_source(source)
    assert result.quarantine.height == 0
    assert result.events["message"].to_list() == ["first", "next"]
    assert result.events["line_no"].to_list() == [1, 2]


def test_syslog_lines_before_new_year_take_the_year_before_their_files_change(tmp_path):
    path = tmp_path / "sys.log"
    path.write_text(
        "<134>Dec 31 23:50:00 h1 app[1]: before midnight\n"
        "<134>Jan  1 00:09:00 h1 app[1]: after midnight\n"
        "<134>Jan  1 20:00:00 h1 app[1]: a clock a few hours ahead\n"
    )
    written = datetime(2026, 1, 1, 0, 10, tzinfo=UTC).timestamp()
    os.utime(path, (written, written))
    source = SourceConfig(name="s", service="s", format="syslog", paths=[str(path)])
    assert read_source(source).events["timestamp"].to_list() == [
        datetime(2025, 12, 31, 23, 50, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 9, tzinfo=UTC),
        datetime(2026, 1, 1, 20, 0, tzinfo=UTC),
    ]
