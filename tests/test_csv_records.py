"""csv-json reader: Java stack-trace lines written as separate CSV rows join the record they continue."""

from __future__ import annotations

import gzip
import json

import polars as pl

from logrca.parsers.ingest.csv_records import read_csv_json
from logrca.parsers.ingest.sources import MultilineRule, SourceConfig

HEADER = "Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log"
CLOCK_HEAD = r"^\d{2}:\d{2}:\d{2}"


def _row(ts: str, pod: str, line: str) -> str:
    record = json.dumps({"log": line + "\n", "stream": "stdout", "time": ts}).replace('"', '""')
    return f'{ts},0,10.0.0.1,{pod},server,t1,s1,"{record}"'


def _write(tmp_path, rows):
    path = tmp_path / "00_log.csv.gz"
    path.write_bytes(gzip.compress(("\n".join([HEADER, *rows]) + "\n").encode()))
    return path


def _source(multiline: MultilineRule | None) -> SourceConfig:
    return SourceConfig(name="shop", paths=["*"], format="csv-json", multiline=multiline)


ROWS = [
    # out of time order, two pods interleaved; the stack trace of api's ERROR arrives as three rows
    _row("2024-01-01T10:00:01.000003Z", "api-1-x", "\tat com.shop.Api.get(Api.java:12)"),
    _row("2024-01-01T10:00:01.000000Z", "api-1-x", "10:00:01.000 ERROR c.s.Api#12 lookup failed"),
    _row("2024-01-01T10:00:01.000001Z", "db-1-x", "10:00:01.001 INFO  c.s.Db#3 query ok"),
    _row(
        "2024-01-01T10:00:01.000002Z",
        "api-1-x",
        "java.lang.IllegalStateException: No instances available for db",
    ),
    _row("2024-01-01T10:00:01.000004Z", "api-1-x", "\tat com.shop.Main.run(Main.java:5)"),
    _row("2024-01-01T10:00:02.000000Z", "api-1-x", "10:00:02.000 INFO  c.s.Api#20 served"),
    _row(
        "2024-01-01T10:00:00.500000Z", "db-1-x", "\tat orphan.Frame(X.java:1)"
    ),  # continues nothing before it
]


def test_stack_trace_rows_join_their_record_and_nothing_is_lost(tmp_path):
    path = _write(tmp_path, ROWS)
    joined = read_csv_json(path, _source(MultilineRule(start_pattern=CLOCK_HEAD)))
    events = joined.events
    api = events.filter(pl.col("service") == "api")
    assert api.height == 2
    error = api.row(0, named=True)
    assert error["level"] == "ERROR"
    assert error["message"].split("\n") == [
        "c.s.Api#12 lookup failed",
        "java.lang.IllegalStateException: No instances available for db",
        "\tat com.shop.Api.get(Api.java:12)",
        "\tat com.shop.Main.run(Main.java:5)",
    ]
    assert api["message"][1] == "c.s.Api#20 served" and api["level"][1] == "INFO"
    # the orphan stays an event of its own; db's own line is not glued to api's trace
    assert sorted(events.filter(pl.col("service") == "db")["message"].to_list()) == [
        "\tat orphan.Frame(X.java:1)",
        "c.s.Db#3 query ok",
    ]
    assert joined.stats["continuation_rows_joined"] == 3
    assert (
        joined.stats["lines_read"]
        == len(ROWS)
        == joined.stats["lines_in_events"] + joined.stats["lines_quarantined"]
    )
    # without the rule every row is its own event, as before
    plain = read_csv_json(path, _source(None))
    assert plain.events.height == len(ROWS) and plain.stats["continuation_rows_joined"] == 0


def test_records_are_cut_at_max_lines(tmp_path):
    rows = [_row("2024-01-01T10:00:01.000000Z", "api-1-x", "10:00:01.000 ERROR c.s.Api#12 boom")]
    rows += [_row(f"2024-01-01T10:00:01.00000{i}Z", "api-1-x", f"\tat frame{i}") for i in range(1, 6)]
    events = read_csv_json(
        _write(tmp_path, rows), _source(MultilineRule(start_pattern=CLOCK_HEAD, max_lines=3))
    ).events
    assert events.height == 2
    assert (
        events["message"][0].count("\n") == 2
        and events["message"][1] == "\tat frame3\n\tat frame4\n\tat frame5"
    )
