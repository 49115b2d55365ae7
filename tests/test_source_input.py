"""Source options and file quirks that used to pass load and then cost lines or fail mid-run."""

from __future__ import annotations

import json
from datetime import UTC, datetime

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
