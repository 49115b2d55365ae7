"""csv-json reader: Java stack-trace lines written as separate CSV rows join the record they continue."""

from __future__ import annotations

import gzip
import json
import random
from functools import partial

import polars as pl
import pytest

from logrca.parsers.ingest import csv_records, files
from logrca.parsers.ingest.csv_records import APP_LINE_HEAD, read_csv_json
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


def _random_row(rng: random.Random, i: int, csv_faults: bool) -> str:
    """A CSV row of the case format, well formed or not in one of the ways exported logs go wrong.

    Without ``csv_faults`` every row is a well-formed CSV record (its JSON, time or pod may still be bad).
    """
    heads = ["10:00:01.000 ERROR c.s.Api#12 ", "2024-01-01 10:00:01,5 [main] warn: ", "  10:00:01 INFO\t", ""]
    bodies = ['lookup "a,b" failed', "naïve ✓ done", "stack\n\tat x.Y(Y.java:1)", "ok\r", "", "x" * 40]
    line = rng.choice(heads) + rng.choice(bodies)
    record = {"log": line + rng.choice(["\n", "", "\r\n"]), "stream": "stdout"}
    kind = rng.randrange(24)
    if not csv_faults and 4 <= kind <= 11 and kind != 8:
        kind = 23
    if kind == 0:
        record = {"log": 12, "stream": "stdout"}  # not a string
    elif kind == 1:
        record = {"nolog": line}  # no such field
    text = json.dumps(record, ensure_ascii=rng.random() < 0.3)
    if kind == 2:
        text = text[:-1]  # not JSON
    elif kind == 3:
        text = text.replace('"log"', '"\\u006cog"')  # the key spelt with an escape
    quoted = '"' + text.replace('"', '""') + '"'
    ts = f"2024-01-01T10:00:{i % 60:02d}.{rng.randrange(10**6):06d}Z"
    pod = rng.choice(["api-1-x", "db-7f-y", "", "solo"])
    trace = rng.choice(["t1", "", '"t,2"'])
    row = f"{ts},0,10.0.0.1,{pod},server,{trace},s1,{quoted}"
    if kind == 4:
        row = row.replace(",server,", ",server,extra,")  # a field too many
    elif kind == 5:
        row = "not,a,row"
    elif kind == 6:
        row = ""  # an empty line
    elif kind == 7:
        row = HEADER  # files concatenated with their headers
    elif kind == 8:
        row = row.replace(ts, "yesterday")  # no readable time
    elif kind == 9:
        row = row.replace(",server,", ',ser""ver,')  # quotes inside an unquoted field
    elif kind == 10:
        row = row.replace(",server,", ',"ser\nver",')  # a quoted newline: one record on two lines
    elif kind == 11:  # inside a quoted field, a line that alone would be a record of its own
        row = row.replace(",server,", ',"ser\n2024-01-01T10:00:00Z,0,h,p,c,t,s,x\nver",')
    return row + ("\r" if rng.random() < 0.2 else "")


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("batch_lines", [3, 8, None])
def test_batches_read_by_polars_give_the_rows_the_csv_module_gives(tmp_path, monkeypatch, seed, batch_lines):
    """The same file read with polars' batches and record by record: the same events, quarantine and counts.

    Small batches mix the two ways in one file, with quoted newlines running across batches; odd seeds
    write only well-formed CSV records, so that whole files go the polars way.
    """
    rng = random.Random(seed)
    rows = [_random_row(rng, i, csv_faults=seed % 2 == 0) for i in range(600)]
    data = ("\n".join([HEADER, *rows]) + ("\n" if seed % 3 else "")).encode()
    data = data.replace("naïve".encode(), b"na\xffve", 3)  # a few bytes that are not UTF-8
    path = tmp_path / "00_log.csv.gz"
    path.write_bytes(gzip.compress(data))
    if batch_lines:  # batches of a few lines (the reader's are of 32 MB)
        monkeypatch.setattr(csv_records, "iter_line_batches", partial(_small_batches, size=batch_lines))
    source = _source(MultilineRule(start_pattern=CLOCK_HEAD) if seed < 2 else None)
    plain_batch, read_by_polars = csv_records.plain_batch, []

    def counted(lines, *args):
        rows = plain_batch(lines, *args)
        read_by_polars.append(0 if rows is None else len(lines))
        return rows

    monkeypatch.setattr(csv_records, "plain_batch", counted)
    fast = read_csv_json(path, source)
    monkeypatch.setattr(csv_records, "plain_batch", lambda *args: None)
    careful = read_csv_json(path, source)
    assert fast.stats == careful.stats
    assert fast.events.equals(careful.events)
    assert fast.quarantine.equals(careful.quarantine)
    assert fast.quarantine.height > 20 and fast.stats["lines_in_events"] > 250
    # the polars way was taken, between the broken records too, not only the careful one
    assert sum(read_by_polars) > (500 if seed % 2 else 100)


def _small_batches(path, batch_bytes, size):
    for batch in files.iter_line_batches(path, batch_bytes=batch_bytes):
        if isinstance(batch, files.FileProblem):
            yield batch
            continue
        for at in range(0, len(batch), size):
            yield files.LineBatch(path, batch.first_line_no + at, batch.lines[at : at + size])


def test_the_head_and_the_message_split_as_one_regex_with_the_rest_captured():
    """The head regex without its ``(?s:.*)`` tail: the same level, and the message is what follows it."""
    rng = random.Random(7)
    clocks = ["10:00:01.000", "[10:00:01]", "2024-01-01 10:00:01,5", "1:2:3", "", "x"]
    gaps = [" ", "  ", "\t", "", " [main] ", "\n"]
    levels = ["INFO", "warn", "[ERROR]", "Debugging", "FATAL:", "-", ""]
    tails = [" ", " - ", ": ", "", "\n"]
    rests = ["ok", "", "a\nb", "é ✓", "  x", "INFO again"]
    messages = pl.Series(
        [
            "".join(rng.choice(part) for part in (gaps, clocks, gaps, levels, tails, rests))
            for _ in range(3000)
        ]
    )
    whole = messages.str.extract_groups(APP_LINE_HEAD + r"((?s:.*))$")
    assert whole.struct.field("1").is_not_null().sum() > 300
    assert messages.str.extract(APP_LINE_HEAD, 1).equals(whole.struct.field("1"), check_names=False)
    rest = whole.struct.field("2").fill_null(messages)
    assert messages.str.replace(APP_LINE_HEAD, "").equals(rest, check_names=False)
