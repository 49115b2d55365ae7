"""Span readers: OTLP JSON (collector file exporter), Jaeger JSON and Zipkin JSON v2, on hand-written files."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import polars as pl
import pytest
from signal_support import Source, assert_accounted

from logrca.parsers.ingest import span_rows
from logrca.parsers.ingest.schema import SPAN_SCHEMA
from logrca.parsers.ingest.span_formats import read_jaeger_json, read_otlp_json, read_zipkin_json

FIXTURES = Path(__file__).parent / "fixtures" / "spans"
TRACE = "5b8efff798038103d269b633813fc60c"


def test_otlp_json_reads_spans_of_every_resource_with_service_host_parent_and_error():
    result = read_otlp_json(FIXTURES / "otlp.jsonl", Source("shop-spans"))
    assert_accounted(result, SPAN_SCHEMA)
    spans = {row["span_id"]: row for row in result.frame.iter_rows(named=True)}
    assert set(spans) == {"eee19b7ec3c1b174", "ae1fd4b6a0a4dc11", "0b2a7e49c15d3f80", "9f1c0e22d4a3b5c6"}
    root = spans["eee19b7ec3c1b174"]
    assert (root["service"], root["host"], root["parent_id"], root["error"]) == (
        "gateway",
        "gateway-6c9d-x7k2p",
        None,
        True,
    )
    assert root["trace_id"] == TRACE and root["duration_us"] == 360_000.0
    assert str(root["start"]) == "2026-03-10 01:00:00.120000+00:00"
    assert spans["ae1fd4b6a0a4dc11"]["host"] == "checkout-1"  # host.name when there is no pod
    assert spans["0b2a7e49c15d3f80"]["error"] is True  # STATUS_CODE_ERROR, times given as numbers
    assert spans["9f1c0e22d4a3b5c6"]["error"] is False  # status OK
    assert spans["9f1c0e22d4a3b5c6"]["parent_id"] == "0b2a7e49c15d3f80"


def test_otlp_json_quarantines_each_bad_record_with_its_line_place_and_reason():
    result = read_otlp_json(FIXTURES / "otlp.jsonl", Source("shop-spans"))
    reasons = dict(zip(result.quarantine["reason"], result.quarantine["line_no"]))
    assert reasons == {
        "line 3 resourceSpans[0].scopeSpans[0].spans[1]: span id '' is not a non-zero hex id of up to 16 digits": 3,
        "line 3 resourceSpans[0].scopeSpans[0].spans[2]: trace id '00000000000000000000000000000000' is not a "
        "non-zero hex id of up to 32 digits": 3,
        "line 3 resourceSpans[0].scopeSpans[0].spans[3]: ends before it starts": 3,
        "line 4: not JSON (Unterminated string starting at at column 331)": 4,
        "line 5 resourceSpans[0].scopeSpans[0].spans[0]: no service name": 5,
    }
    assert set(result.quarantine["system"]) == {"shop-spans"}
    assert (
        '"name":"fraud-score"'
        in result.quarantine.filter(pl.col("reason").str.contains("ends before"))["raw"][0]
    )
    assert result.stats == {"files": 1, "rows_read": 9, "rows_stored": 4, "rows_quarantined": 5}


def test_otlp_json_gzip_reads_the_same_and_a_cut_stream_keeps_what_came_before(tmp_path):
    plain = read_otlp_json(FIXTURES / "otlp.jsonl", Source("shop-spans"))
    packed = tmp_path / "traces.jsonl.gz"
    packed.write_bytes(gzip.compress((FIXTURES / "otlp.jsonl").read_bytes()))
    zipped = read_otlp_json(packed, Source("shop-spans"))
    assert zipped.frame.equals(plain.frame) and zipped.stats == plain.stats

    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(packed.read_bytes()[:-40])
    broken = read_otlp_json(cut, Source("shop-spans"))
    assert_accounted(broken, SPAN_SCHEMA)
    assert broken.frame.height >= 3  # the first line's spans survive
    assert broken.quarantine["reason"].str.contains("truncated gzip stream").any()
    from logrca.assets.signals import cut_short_rows  # what raw_spans' every_file_read_to_its_end reads

    assert list(cut_short_rows(broken.quarantine)) == [str(cut)]
    assert cut_short_rows(zipped.quarantine) == {}


def test_jaeger_json_follows_child_of_references_processes_and_pads_short_ids():
    result = read_jaeger_json(FIXTURES / "jaeger.json", Source("shop-spans"))
    assert_accounted(result, SPAN_SCHEMA)
    rows = {row["operation"]: row for row in result.frame.iter_rows(named=True)}
    assert set(rows) == {"POST /api/checkout", "POST /checkout", "POST /charge"}
    assert rows["POST /api/checkout"]["error"] and rows["POST /checkout"]["error"]  # error=true, otel ERROR
    assert not rows["POST /charge"]["error"]
    assert rows["POST /checkout"]["parent_id"] == "eee19b7ec3c1b174"
    assert rows["POST /charge"]["span_id"] == "09f1c0e22d4a3b5c"  # Jaeger drops leading zeros
    assert rows["POST /api/checkout"]["host"] == "gateway-6c9d-x7k2p"
    assert rows["POST /charge"]["duration_us"] == 2_760_000.0
    assert result.quarantine["reason"].to_list() == [
        "data[0].spans[3]: no duration (the span was never finished)",
        "data[0].spans[4]: process 'p9' is not among the trace's processes",
    ]
    assert result.quarantine["line_no"].is_null().all()


def test_zipkin_json_reads_lists_of_traces_and_quarantines_unfinished_or_unnamed_spans():
    result = read_zipkin_json(FIXTURES / "zipkin.json", Source("shop-spans"))
    assert_accounted(result, SPAN_SCHEMA)
    assert result.frame["service"].to_list() == ["gateway", "checkout", "payments"]
    assert result.frame["error"].to_list() == [True, False, False]  # the 'error' tag
    assert result.frame["host"].to_list() == ["10.1.2.3", "10.1.4.17", "fd00::17"]
    assert result.frame["parent_id"].to_list() == [None, "eee19b7ec3c1b174", "ae1fd4b6a0a4dc11"]
    assert result.quarantine["reason"].to_list() == [
        "[1][0]: no duration (the span was never finished)",
        "[1][1]: no service name",
        "[1][2]: span id '6f7a8b9c0d1e2f3g' is not a non-zero hex id of up to 16 digits",
        "[1][3]: a span must be a JSON object",
    ]


@pytest.mark.parametrize("reader", [read_jaeger_json, read_zipkin_json])
def test_a_file_that_is_not_json_is_one_quarantined_record(tmp_path, reader):
    broken = tmp_path / "export.json"
    broken.write_text('[{"traceId": "5b8efff798038103", "id": "eee19b7ec3c1b174",\n', encoding="utf-8")
    result = reader(broken, Source("shop-spans"))
    assert_accounted(result, SPAN_SCHEMA)
    assert result.frame.is_empty()
    assert result.stats["rows_quarantined"] == 1
    assert result.quarantine["reason"][0].startswith("file: not JSON (")


@pytest.mark.parametrize("reader", [read_otlp_json, read_jaeger_json, read_zipkin_json])
def test_an_empty_file_gives_empty_frames_with_the_schema(tmp_path, reader):
    empty = tmp_path / "empty.json"
    empty.write_text(
        "[]" if reader is read_zipkin_json else '{"data": []}' if reader is read_jaeger_json else ""
    )
    result = reader(empty, Source("shop-spans"))
    assert_accounted(result, SPAN_SCHEMA)
    assert result.frame.is_empty() and result.stats["rows_read"] == 0


def test_a_source_service_names_spans_whose_resource_does_not():
    result = read_otlp_json(FIXTURES / "otlp.jsonl", Source("inventory-spans", service="inventory"))
    assert_accounted(result, SPAN_SCHEMA)
    assert result.frame.filter(pl.col("operation") == "GET /stock")["service"].to_list() == ["inventory"]
    assert result.stats["rows_quarantined"] == 4


def _random_otlp_line(rng: random.Random, texts_only: bool) -> str:
    """One request of a few spans, each field now and then of a shape the checks must catch.

    With ``texts_only`` ids and names are strings or missing (never numbers), as the column checks take them.
    """

    def pick(good, *odd):
        if texts_only:
            odd = tuple(v for v in odd if v is None or isinstance(v, str)) or (good,)
        return rng.choice(odd) if rng.random() < 0.12 else good

    spans = []
    for _ in range(rng.randint(0, 6)):
        start = rng.randrange(1, 10**18)
        spans.append(
            {
                "traceId": pick(
                    f"{rng.getrandbits(128):032x}",
                    f"{rng.getrandbits(40):x}",
                    "ABCDEF12",
                    "0" * 32,
                    "xyz",
                    7,
                    None,
                    "é1",
                ),
                "spanId": pick(
                    f"{rng.getrandbits(64):016x}", f"{rng.getrandbits(30):X}", "0000", "", 12, "1" * 17
                ),
                "parentSpanId": pick(f"{rng.getrandbits(64):016x}", "", None, "zz", 5),
                "name": pick("GET /x", None, 3),
                "startTimeUnixNano": pick(str(start), start, " 12 ", "-5", "0", 1.5e9, True, None, "x"),
                "endTimeUnixNano": pick(
                    str(start + rng.randrange(10**9)), str(start - 1000), None, start + 5
                ),
                "status": pick({"code": rng.choice([0, 1, 2, "STATUS_CODE_ERROR"])}, "bad", {}),
            }
        )
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": pick("cart", "", None, 5)}}]}
    if rng.random() < 0.5:
        resource["attributes"].append(
            {"key": "k8s.pod.name", "value": {"stringValue": pick("cart-1", 42, "")}}
        )
    line = json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]})
    return pick(line, "{not json", json.dumps([1, 2]))


@pytest.mark.parametrize("seed", range(4))
def test_spans_checked_by_whole_columns_as_one_at_a_time(tmp_path, monkeypatch, seed):
    """Random OTLP files with bad ids, times, services and lines: the same spans, quarantine and counts both ways."""
    rng = random.Random(seed)
    path = tmp_path / "spans.jsonl"
    path.write_text("\n".join(_random_otlp_line(rng, texts_only=seed < 2) for _ in range(300)) + "\n")
    source = Source("shop-spans", service="fallback" if seed % 2 else None)
    checked_columns, by_columns_taken = span_rows._checked_columns, []

    def counted(*args):
        checked = checked_columns(*args)
        by_columns_taken.append(checked is not None)
        return checked

    monkeypatch.setattr(span_rows, "_checked_columns", counted)
    by_columns = read_otlp_json(path, source)
    assert by_columns_taken == [seed < 2]  # numbers among the ids send a file the one-span way
    monkeypatch.setattr(span_rows, "_checked_columns", lambda *args: None)
    one_by_one = read_otlp_json(path, source)
    assert by_columns.stats == one_by_one.stats
    assert by_columns.frame.equals(one_by_one.frame)
    assert by_columns.quarantine.equals(one_by_one.quarantine)
    assert by_columns.frame.height > 100 and by_columns.quarantine.height > 50


def test_a_field_of_another_type_sends_the_file_through_the_one_span_checks(tmp_path):
    """Ids written as numbers cannot be checked by text columns: the file is checked a span at a time."""
    spans = [
        {
            "traceId": TRACE,
            "spanId": f"{n:016x}",
            "name": "op",
            "startTimeUnixNano": "1000000",
            "endTimeUnixNano": "2000000",
        }
        for n in range(1, 4)
    ]
    spans[1]["spanId"] = 12
    line = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "a"}}]},
                "scopeSpans": [{"spans": spans}],
            }
        ]
    }
    path = tmp_path / "spans.jsonl"
    path.write_text(json.dumps(line) + "\n")
    columns = {
        name: [s.get(key) for s in spans] for name, key in (("trace_id", "traceId"), ("span_id", "spanId"))
    }
    assert columns["span_id"][1] == 12
    result = read_otlp_json(path, Source("shop-spans"))
    assert result.frame.height == 2
    assert result.quarantine["reason"].to_list() == [
        "line 1 resourceSpans[0].scopeSpans[0].spans[1]: span id 12 is not a non-zero hex id of up to 16 digits"
    ]
