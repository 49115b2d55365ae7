"""The csv-json reader and span CSV reader on the case format, the case config, the label-free view, the method on frames."""

from __future__ import annotations

import gzip
import json
from datetime import UTC
from pathlib import Path

import polars as pl
import pytest

from logrca.parsers.ingest.case_csv import read_case_csv_spans
from logrca.parsers.ingest.csv_records import read_csv_json
from logrca.parsers.ingest.sources import SourceConfig, SpanSourceConfig
from logrca.rca.cases import LABEL_FILE, case_config, label_free_copy, read_case_description

HEADER = "Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log"


def _log_row(ts: str, pod: str, trace: str, line: str) -> str:
    record = json.dumps({"log": line + "\n", "stream": "stdout", "time": ts}).replace('"', '""')
    return f'{ts},0,10.0.0.1,{pod},server,{trace},s1,"{record}"'


def _source() -> SourceConfig:
    return SourceConfig(name="shop", paths=["*"], format="csv-json")


def test_reader_handles_gzip_repeated_headers_and_out_of_order_rows(tmp_path):
    rows = [
        HEADER,
        _log_row(
            "2024-03-01T10:00:05.5Z",
            "pay-7f9c-x2x",
            "t1",
            "18:00:05.500 ERROR  p.Pay#12 TraceID: t1 charge failed",
        ),
        _log_row(
            "2024-03-01T10:00:01.25Z",
            "pay-7f9c-x2x",
            "t1",
            "18:00:01.250 INFO  p.Pay#10 TraceID: t1 charge start",
        ),
        HEADER,  # a second file's header inside the stream
        _log_row("2024-03-01T10:00:03Z", "front-end-5d-aa", "t2", "18:00:03.000 WARN  f.Web#1 slow"),
        "not,a,valid,row",
        _log_row("2024-03-01T10:00:04Z", "front-end-5d-aa", "t3", "plain line without level").replace(
            '{""log""', '{""nolog""'
        ),
    ]
    path = tmp_path / "logs.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    result = read_csv_json(path, _source())
    events = result.events
    assert events["timestamp"].is_sorted()
    assert events["service"].to_list() == ["pay", "front-end", "pay"]
    assert events["level"].to_list() == ["INFO", "WARN", "ERROR"]
    assert events["message"][0] == "p.Pay#10 TraceID: t1 charge start"
    assert events["line_no"].to_list() == [3, 5, 2]
    assert result.stats["header_rows"] == 2
    assert (
        result.stats["lines_read"] == result.stats["lines_in_events"] + result.stats["lines_quarantined"] == 5
    )
    reasons = dict(
        zip(result.quarantine["line_no"].to_list(), result.quarantine["reason"].to_list(), strict=True)
    )
    assert "expected 8 fields, found 4" in reasons[6]
    assert "'log'" in reasons[7]


def test_reader_names_missing_columns(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("Time,Message\n2024-01-01T00:00:00Z,hello\n")
    with pytest.raises(ValueError, match=r"bad.csv:1: .*lacks column"):
        read_csv_json(path, _source())


def test_reader_quarantines_unreadable_time(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(HEADER + "\n" + _log_row("yesterday", "a-b-c", "t", "10:00:00 INFO x") + "\n")
    result = read_csv_json(path, _source())
    assert result.events.is_empty()
    assert "unreadable time" in result.quarantine["reason"][0]


def _write_case(root: Path) -> Path:
    case = root / "cases" / "c1"
    for sub in ("logs", "traces"):
        (case / sub).mkdir(parents=True)
    (case / "case.json").write_text(json.dumps({"system": "shop", "alert_time": "2024-03-01T10:00:02Z"}))
    (case / LABEL_FILE).write_text(json.dumps({"root_cause_service": "pay"}))
    (case / "logs" / "a_log.csv").write_text(
        "\n".join([HEADER, _log_row("2024-03-01T10:00:03Z", "pay-7f-x", "t", "10:00:03 INFO ok")]) + "\n"
    )
    (case / "traces" / "a_trace.csv").write_text(
        "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration\n"
        "t,s2,s1,pay-7f-x,/charge,1709287203100000000,0,800\n"
        "t,s1,root,front-5d-y,/buy,1709287203000000000,0,1000\n"
    )
    return case


def test_case_config_without_normal_minutes_has_no_baseline_sources(tmp_path):
    config = case_config(_write_case(tmp_path), normal_dirs=[])
    assert config["system"] == "shop" and config["analysis"]["alert_time"].startswith("2024-03-01T10:00:02")
    assert [s["name"] for s in config["sources"]] == ["case-logs"]
    assert all(s.get("role", "window") == "window" for s in config["spans"])


def test_label_free_copy_hides_the_label_and_is_read_only(tmp_path):
    case_dir = _write_case(tmp_path)
    with label_free_copy(case_dir) as view:
        assert not (view / LABEL_FILE).exists()
        assert not list(view.parent.parent.rglob(LABEL_FILE))
        assert (view / "case.json").is_file()
        assert all(
            not p.stat().st_mode & 0o222 for p in [view, *view.rglob("*")]
        )  # read-only (root may still write)
        assert read_case_description(view)[0] == "shop"
    assert (case_dir / LABEL_FILE).is_file()


def _span_source() -> SpanSourceConfig:
    return SpanSourceConfig(name="traces", paths=["*"], format="case-csv")


def test_read_spans_marks_roots(tmp_path):
    spans, quarantine, stats = read_case_csv_spans(
        _write_case(tmp_path) / "traces" / "a_trace.csv", _span_source()
    )
    assert spans.sort("span_id")["parent_id"].to_list() == [None, "s1"]
    assert spans["duration_us"].to_list() == [800.0, 1000.0]
    assert quarantine.is_empty() and stats["rows_read"] == stats["rows_stored"] == 2


def test_read_spans_quarantines_rows_it_cannot_place_with_the_reason(tmp_path):
    path = tmp_path / "a_trace.csv"
    path.write_text(
        "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration\n"
        "t1,s1,root,api-5f9c7-x2x,GET,1700000000000000000,0,1000\n"
        "t1,s2,s1,db-5f9c7-x2x,SELECT,not-a-time,0,800\n"
        "t1,s3,s1,db-5f9c7-x2x,SELECT,1700000000000100000,0,\n",
        encoding="utf-8",
    )
    spans, quarantine, stats = read_case_csv_spans(path, _span_source())
    assert spans["span_id"].to_list() == ["s1"]
    assert quarantine["line_no"].to_list() == [3, 4]
    assert quarantine["reason"].to_list() == [
        "StartTimeUnixNano is not an integer",
        "Duration is not a number",
    ]
    assert quarantine["raw"][0].startswith("t1,s2,s1,db-5f9c7-x2x,SELECT,not-a-time")
    assert stats == {"files": 1, "rows_read": 3, "rows_stored": 1, "rows_quarantined": 2}


def test_list_length_variants_are_one_statement_and_other_changes_are_not():
    from logrca.rca.template_variants import list_variant_of, merge_list_variants

    head = [
        "o.s.Impl#65",
        "TraceID:",
        "<*>",
        "[getSold][info",
        "is:",
        "Info{sold=[Ticket(seat=<*>,",
        "from=a,",
        "to=b),",
    ]
    unit = ["Ticket(seat=<*>,", "from=a,", "to=b),"]
    two = head + unit[:-1] + ["to=b)]}]"]
    four = head + unit * 2 + unit[:-1] + ["to=b)]}]"]
    assert list_variant_of(four, two) and list_variant_of(two, four)
    # A longer exception message is not a repeated element; nor is a free-text tail of wildcards.
    error = ["Servlet.service()", "threw", "exception", "[Request", "failed;", "nested", "exception", "is"]
    assert not list_variant_of(
        error + ["Timeout]"], error + ["java.lang.IllegalStateException:", "no", "route]"]
    )
    assert not list_variant_of(
        ["<*>", "TraceID:", "<*>", "Route", "By", "<*>"],
        ["<*>", "TraceID:", "<*>", "Route", "By", "<*>", "<*>", "<*>"],
    )
    assert not list_variant_of(two, two)
    assert not list_variant_of(
        ["a", "b", "c", "d"], ["a", "b", "c", "x", "y", "z", "w", "v", "u", "t", "s", "r", "q"], max_period=16
    )  # unit longer than the prefix
    # A template the miner generalised further (a wildcard for the code location) is the same statement.
    assert list_variant_of(["<*>"] + four[1:], two)

    three = head + unit + unit[:-1] + ["to=b)]}]"]
    base = pl.DataFrame(
        {
            "service": ["order", "order", "order", "order", "seat"],
            "template_id": [1, 1, 5, 2, 3],
            "template": [" ".join(two), " ".join(two), " ".join(three), "other line <*> here", " ".join(two)],
        }
    )
    case = pl.DataFrame(
        {
            "service": ["order", "order", "order", "pay"],
            "template_id": [1, 9, 10, 9],
            "template": [" ".join(two), " ".join(four), "Servlet threw an exception", " ".join(four)],
        }
    )
    merged_base, merged = merge_list_variants(base, case)
    # order's lists of 2, 3 and 4 tickets are one statement, named after its most frequent baseline template;
    # pay has no such template in the baseline (a list variant only across services): still new.
    assert merged["template_id"].to_list() == [1, 1, 10, 9]
    assert merged_base["template_id"].to_list() == [1, 1, 1, 2, 3]
    assert merged["template"][1] == " ".join(two)
    empty_base, same = merge_list_variants(base.head(0), case)
    assert empty_base.is_empty() and same.equals(case)


def _hand_built_case(delay_ms: float):
    """``a`` calls ``b`` 20 times a minute; two fault-free minutes an hour apart, then 60 s before and 60 s after
    the alert in which ``b`` answers ``delay_ms`` late (already before the alert: the fault's onset)."""
    from datetime import datetime, timedelta

    from logrca.parsers.ingest.schema import EVENT_SCHEMA, SPAN_SCHEMA
    from logrca.rca.case_analysis import Case
    from logrca.rca.template_variants import mine_case_templates

    t0 = datetime(2024, 5, 1, 8, tzinfo=UTC)
    alert = t0 + timedelta(hours=2, minutes=1)

    def minute(start, gap_ms, tag):
        spans, logs = [], []
        for i in range(20):
            trace, at = f"{tag}{i}", start + timedelta(seconds=3 * i)
            work = 2000.0 + 50 * (i % 5)
            spans += [
                {
                    "trace_id": trace,
                    "span_id": "a",
                    "parent_id": None,
                    "service": "a",
                    "host": "a-1-x",
                    "operation": "/a",
                    "start": at,
                    "duration_us": work + gap_ms * 1000 + 500,
                    "error": None,
                },
                {
                    "trace_id": trace,
                    "span_id": "b",
                    "parent_id": "a",
                    "service": "b",
                    "host": "b-1-x",
                    "operation": "/b",
                    "start": at,
                    "duration_us": work,
                    "error": None,
                },
            ]
            logs += [
                {
                    "timestamp": at,
                    "system": "t",
                    "service": s,
                    "host": f"{s}-1-x",
                    "level": "INFO",
                    "message": f"{s} served order {i}",
                    "trace_id": trace,
                    "source_file": f"{tag}.csv",
                    "line_no": i,
                }
                for s in ("a", "b")
            ]
        return spans, logs

    parts = [
        minute(t0, 2.0, "n1-"),
        minute(t0 + timedelta(hours=1), 2.0, "n2-"),
        minute(alert - timedelta(seconds=60), delay_ms, "pre-"),
        minute(alert, delay_ms, "win-"),
    ]
    frame = lambda rows, schema: pl.DataFrame(rows, schema=schema)  # noqa: E731
    baseline_events, events = mine_case_templates(
        [frame(parts[0][1] + parts[1][1], EVENT_SCHEMA), frame(parts[2][1] + parts[3][1], EVENT_SCHEMA)]
    )
    return Case(
        name="hand",
        system="t",
        alert_time=alert,
        events=events,
        baseline_events=baseline_events,
        spans=frame(parts[2][0] + parts[3][0], SPAN_SCHEMA),
        baseline_spans=frame(parts[0][0] + parts[1][0], SPAN_SCHEMA),
        metrics=pl.DataFrame(),
    )


def test_a_delay_already_there_before_the_alert_is_not_taken_as_noise_when_fault_free_minutes_lack_it():
    from logrca.rca.case_analysis import analyse_case
    from logrca.rca.options import AnalysisOptions, OptionsError

    case = _hand_built_case(2000.0)
    window_gap = analyse_case(case).span_deviations.filter(pl.col("metric") == "call_gap")
    assert window_gap["service"].to_list() == ["b"] and window_gap["score"][0] > 10

    def gap_noise(**noise_options):
        options = AnalysisOptions().changed({f"noise.{k}": v for k, v in noise_options.items()})
        noise = analyse_case(case, options=options).noise
        return (
            noise.filter((pl.col("service") == "b") & (pl.col("signal") == "trace_call_gap"))["score"].max()
            or 0.0
        )

    # Judged only against its own pre-alert stretch, the delay looks like b's usual noise ...
    assert gap_noise(source="before-alert") > 10
    # ... but the fault-free minutes, judged against each other, show b's wire time never moves: it is an onset.
    assert gap_noise(source="confirmed") == 0.0
    assert gap_noise() > 10  # the default: the confirmation rested on one case (docs/rca.md)
    # A baseline cut from the case itself (no normal/ minutes) cannot confirm anything: the pre-alert noise stays.
    from dataclasses import replace

    case = replace(case, baseline_source="before-alert")
    assert gap_noise() > 10
    with pytest.raises(OptionsError, match="noise.source"):
        gap_noise(source="yesterday")


def test_confirmed_noise_keeps_pre_alert_noise_of_signals_it_does_not_confirm():
    from logrca.rca.case_analysis import _confirmed_noise

    def rows(data):
        return pl.DataFrame(
            data, schema={"service": pl.Utf8, "signal": pl.Utf8, "score": pl.Float64}, orient="row"
        )

    quiet = rows([("a", "trace_call_gap", 12.0), ("a", "log_behaviour", 8.0), ("b", "trace_call_gap", 5.0)])
    fault_free = rows([("b", "trace_call_gap", 3.0), ("a", "log_behaviour", 1.0)])
    got = {(s, g): v for s, g, v in _confirmed_noise(quiet, fault_free, ("trace_call_gap",)).iter_rows()}
    assert got == {("a", "trace_call_gap"): 0.0, ("a", "log_behaviour"): 8.0, ("b", "trace_call_gap"): 3.0}
    every = {(s, g): v for s, g, v in _confirmed_noise(quiet, fault_free, None).iter_rows()}
    assert every[("a", "log_behaviour")] == 1.0
