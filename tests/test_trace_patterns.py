"""Trace-level attribution on hand-built traces: where a deviation starts, the response rule, rare patterns."""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from logrca.parsers.ingest.schema import SPAN_SCHEMA
from logrca.rca.signals.patterns import baseline_patterns
from logrca.rca.signals.trace_patterns import (
    attribute_deviations,
    pattern_model,
    service_visits,
    trace_pattern_deviations,
    trace_pattern_signal,
    visit_events,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
ALERT = T0 + timedelta(minutes=10)
LOG_SCHEMA = {
    "timestamp": pl.Datetime("us", "UTC"),
    "service": pl.Utf8,
    "trace_id": pl.Utf8,
    "template_id": pl.Int64,
}


def _trace(i: int, start: datetime, *, caller_logs=(1,), callee_logs=(2,), callee_after_ms: int = 0):
    """Gateway ``gw`` -> ``a /order`` -> ``b /price``; ``a`` logs ``caller_logs`` after ``b`` answered."""
    tid = f"t{i}"
    us = lambda ms: start + timedelta(milliseconds=ms)  # noqa: E731
    spans = [
        (tid, f"{tid}g", None, "gw", "gw-1", "/*", us(0), 100_000.0),
        (tid, f"{tid}a", f"{tid}g", "a", "a-1", "/order", us(1), 90_000.0),
        (tid, f"{tid}ah", f"{tid}a", "a", "a-1", "HTTP POST", us(2), 50_000.0),
        (tid, f"{tid}b", f"{tid}ah", "b", "b-1", "/price", us(3), 40_000.0),
    ]
    logs = [(us(10), "b", tid, t) for t in callee_logs] + [
        (us(60 + callee_after_ms), "a", tid, t) for t in caller_logs
    ]
    return spans, logs


def _frames(traces):
    spans = [s for t in traces for s in t[0]]
    logs = [entry for t in traces for entry in t[1]]
    span_frame = pl.DataFrame(
        [dict(zip(SPAN_SCHEMA, (*s, None), strict=True)) for s in spans], schema=SPAN_SCHEMA
    )
    return span_frame, pl.DataFrame(logs, schema=LOG_SCHEMA, orient="row")


def _normal(n=12):
    return _frames([_trace(i, T0 + timedelta(seconds=i)) for i in range(n)])


def test_visits_group_local_spans_and_place_logs():
    spans, logs = _normal(1)
    visits, members = service_visits(spans)
    assert sorted(visits["service"].to_list()) == ["a", "b", "gw"]
    assert dict(members.select("span_id", "visit_id").iter_rows())["t0ah"] == "t0a"
    parent = dict(visits.select("visit_id", "parent_visit").iter_rows())
    assert parent["t0b"] == "t0a" and parent["t0a"] == "t0g" and parent["t0g"] is None
    events = visit_events(visits, members, logs)
    kinds = set(events.filter(pl.col("visit_id") == "t0a")["event"].to_list())
    assert kinds == {"call b /price", "span HTTP POST", "log 1"}
    assert set(events.filter(pl.col("visit_id") == "t0b")["event"].to_list()) == {"log 2"}


def test_loud_caller_explained_by_its_callee_is_demoted():
    base_spans, base_logs = _normal()
    # After the alert the callee logs an error template and the caller, as a result, a new line too.
    window = _frames(
        [
            _trace(100 + i, ALERT + timedelta(seconds=i), caller_logs=(1, 8), callee_logs=(9,))
            for i in range(5)
        ]
    )
    votes = trace_pattern_deviations(
        window[0], base_spans, window[1], base_logs, window=(ALERT, ALERT + timedelta(minutes=1))
    )
    by_service = dict(votes.select("service", "votes").iter_rows())
    assert by_service["b"] == pytest.approx(5.0)
    assert by_service["a"] == 0.0 and by_service["gw"] == 0.0


def test_caller_deviating_alone_is_blamed_without_the_response_rule():
    base_spans, base_logs = _normal()
    window = _frames([_trace(100 + i, ALERT + timedelta(seconds=i), caller_logs=(8,)) for i in range(4)])
    votes = trace_pattern_deviations(
        window[0], base_spans, window[1], base_logs, window=(ALERT, ALERT + timedelta(minutes=1))
    )
    assert dict(votes.select("service", "votes").iter_rows())["a"] == pytest.approx(4.0)


def test_response_rule_blames_the_callee_whose_answer_precedes_the_caller_deviation():
    base_spans, base_logs = _normal()
    # b's own events look normal; a logs a new template right after b's response (b ends at 43 ms, a logs at 60 ms).
    spans, logs = _frames([_trace(100 + i, ALERT + timedelta(seconds=i), caller_logs=(8,)) for i in range(4)])
    model_visits, members = service_visits(base_spans)
    model = pattern_model(model_visits, visit_events(model_visits, members, base_logs))
    visits, members = service_visits(spans)
    events = visit_events(visits, members, logs)
    blamed = attribute_deviations(visits, events, model, hand_off=True)
    assert set(blamed["service"].to_list()) == {"b"}
    assert "right after its response" in blamed["detail"][0]
    assert set(attribute_deviations(visits, events, model, hand_off=False)["service"].to_list()) == {"a"}


def test_response_rule_keeps_the_blame_when_the_callee_itself_deviates():
    base_spans, base_logs = _normal()
    spans, logs = _frames(
        [_trace(100 + i, ALERT + timedelta(seconds=i), caller_logs=(8,), callee_logs=(9,)) for i in range(3)]
    )
    model_visits, members = service_visits(base_spans)
    model = pattern_model(model_visits, visit_events(model_visits, members, base_logs))
    visits, members = service_visits(spans)
    assert set(
        attribute_deviations(visits, visit_events(visits, members, logs), model, hand_off=True)[
            "service"
        ].to_list()
    ) == {"b"}


def test_missing_expected_log_deviates_and_rare_normal_patterns_do_not_count_as_normal():
    spans, logs = _normal()
    # One normal visit of b lost its log line (a one-off): that pattern is rare, not normal.
    logs = logs.filter(~((pl.col("trace_id") == "t0") & (pl.col("service") == "b")))
    window = _frames([_trace(100 + i, ALERT + timedelta(seconds=i), callee_logs=()) for i in range(6)])
    votes = trace_pattern_deviations(
        window[0], spans, window[1], logs, window=(ALERT, ALERT + timedelta(minutes=1))
    )
    rows = {r["service"]: r for r in votes.iter_rows(named=True)}
    assert rows["b"]["votes"] == pytest.approx(6.0)
    assert rows["b"]["expected"] == pytest.approx(
        6 * 1 / 12
    )  # leave-one-out: 1 of 12 normal visits looks rare
    kept = trace_pattern_deviations(
        window[0], spans, window[1], logs, window=(ALERT, ALERT + timedelta(minutes=1)), rare_count=0
    )
    assert dict(kept.select("service", "votes").iter_rows())["b"] == 0.0


def _onset_before_the_alert():
    """Three traces with a new log (8) in ``a`` just before the alert and three just after; and those after."""
    before = _frames(
        [_trace(50 + i, ALERT - timedelta(seconds=30 - i), caller_logs=(1, 8)) for i in range(3)]
    )
    after = _frames([_trace(100 + i, ALERT + timedelta(seconds=i), caller_logs=(1, 8)) for i in range(3)])
    return pl.concat([before[0], after[0]]), pl.concat([before[1], after[1]]), after


def test_pre_alert_stretch_is_not_taken_as_normal():
    base_spans, base_logs = _normal()
    spans, logs, after = _onset_before_the_alert()
    window = (ALERT, ALERT + timedelta(minutes=1))
    # The pattern that began before the alert is the fault's onset, not normal.
    votes = trace_pattern_deviations(spans, base_spans, logs, base_logs, window=window)
    assert dict(votes.select("service", "votes").iter_rows())["a"] == pytest.approx(3.0)
    # The old rule (the pre-alert stretch is normal too) takes it as normal.
    assert (
        trace_pattern_deviations(spans, base_spans, logs, base_logs, window=window, pre_alert_normal=True)[
            "votes"
        ].sum()
        == 0.0
    )
    thin_spans, thin_logs = _normal(3)
    more_before = _frames(
        [_trace(50 + i, ALERT - timedelta(seconds=40 - i), caller_logs=(1, 8)) for i in range(6)]
    )
    spans, logs = pl.concat([more_before[0], after[0]]), pl.concat([more_before[1], after[1]])
    # A baseline too thin to judge (3 visits < min_visits) judges nothing; the pre-alert visits do not fill it in.
    assert trace_pattern_deviations(spans, thin_spans, logs, thin_logs, window=window)["votes"].sum() == 0.0


def test_patterns_built_once_judge_every_window_as_patterns_built_per_window():
    """One case judges its window and the stretch before it against the same baseline patterns."""
    base_spans, base_logs = _normal()
    spans, logs, _ = _onset_before_the_alert()
    model = baseline_patterns(base_spans, base_logs)
    for window in [(ALERT, ALERT + timedelta(minutes=1)), (ALERT - timedelta(minutes=1), ALERT)]:
        built = trace_pattern_deviations(spans, base_spans, logs, base_logs, window=window)
        assert built["votes"].sum() == pytest.approx(3.0)
        given = trace_pattern_deviations(spans, base_spans, logs, base_logs, window=window, model=model)
        assert given.sort("service").equals(built.sort("service"))  # rows come in group order
    # with the stretch before the window taken as normal, the patterns depend on the window
    assert baseline_patterns(base_spans, base_logs, pre_alert_normal=True) is None


def test_a_log_line_written_once_where_it_was_written_twice_deviates():
    base_spans, base_logs = _frames(
        [_trace(i, T0 + timedelta(seconds=i), callee_logs=(2, 2)) for i in range(12)]
    )
    window = _frames([_trace(100 + i, ALERT + timedelta(seconds=i), callee_logs=(2,)) for i in range(5)])
    span = (ALERT, ALERT + timedelta(minutes=1))
    counted = trace_pattern_deviations(window[0], base_spans, window[1], base_logs, window=span)
    assert dict(counted.select("service", "votes").iter_rows())["b"] == pytest.approx(5.0)
    assert dict(
        trace_pattern_deviations(
            window[0], base_spans, window[1], base_logs, window=span, multiplicity="count"
        )
        .select("service", "votes")
        .iter_rows()
    )["b"] == pytest.approx(5.0)
    rows = trace_pattern_signal(window[0], base_spans, window[1], base_logs, window=span)
    assert rows["service"].to_list() == ["b"] and "count never seen: log 2 x1" in rows["detail"][0]
    # As a set of event kinds nothing changed.
    assert (
        trace_pattern_deviations(
            window[0], base_spans, window[1], base_logs, window=span, multiplicity="set"
        )["votes"].sum()
        == 0.0
    )
    # Power-of-two classes: 3 and 4 repetitions of a loop are one class.
    base_spans, base_logs = _frames(
        [_trace(i, T0 + timedelta(seconds=i), callee_logs=(2,) * 4) for i in range(12)]
    )
    window = _frames([_trace(100 + i, ALERT + timedelta(seconds=i), callee_logs=(2,) * 3) for i in range(5)])
    assert (
        trace_pattern_deviations(window[0], base_spans, window[1], base_logs, window=span)["votes"].sum()
        == 0.0
    )
    assert (
        trace_pattern_deviations(
            window[0], base_spans, window[1], base_logs, window=span, multiplicity="count"
        )["votes"].sum()
        == 5.0
    )
    with pytest.raises(ValueError, match="multiplicity"):
        trace_pattern_deviations(window[0], base_spans, window[1], base_logs, window=span, multiplicity="bag")


def test_signal_rows_score_the_origin_only_and_empty_input():
    base_spans, base_logs = _normal()
    window = _frames(
        [
            _trace(100 + i, ALERT + timedelta(seconds=i), caller_logs=(1, 8), callee_logs=(9,))
            for i in range(5)
        ]
    )
    rows = trace_pattern_signal(
        window[0], base_spans, window[1], base_logs, window=(ALERT, ALERT + timedelta(minutes=1))
    )
    assert (
        rows["service"].to_list() == ["b"]
        and rows["metric"].to_list() == ["trace_pattern"]
        and rows["score"][0] > 2
    )
    empty = trace_pattern_signal(
        pl.DataFrame(schema=SPAN_SCHEMA), base_spans, None, base_logs, window=(ALERT, ALERT)
    )
    assert empty.is_empty() and "score" in empty.columns


def _explained(window, base_spans, base_logs):
    found: list = []
    trace_pattern_deviations(
        window[0],
        base_spans,
        window[1],
        base_logs,
        window=(ALERT, ALERT + timedelta(minutes=1)),
        explained=found,
    )
    return found[0]


def test_caller_lines_after_a_deviating_callee_are_explained_and_earlier_ones_are_not():
    base_spans, base_logs = _normal()
    # b logs a new template at 10 ms; a logs template 8 at 60 ms (after b) in traces 100-104, and at 5 ms
    # (before b could have answered anything) in traces 200-202.
    after = [
        _trace(100 + i, ALERT + timedelta(seconds=i), caller_logs=(8,), callee_logs=(9,)) for i in range(5)
    ]
    before = [
        _trace(
            200 + i,
            ALERT + timedelta(seconds=10 + i),
            caller_logs=(8,),
            callee_logs=(9,),
            callee_after_ms=-55,
        )
        for i in range(3)
    ]
    explained = _explained(_frames(after + before), base_spans, base_logs)
    assert set(explained["service"].to_list()) == {"a"}
    assert sorted(explained["trace_id"].to_list()) == [f"t{100 + i}" for i in range(5)]
    assert set(explained["template_id"].to_list()) == {8}


def test_discount_removes_the_explained_part_of_a_caller_log_finding():
    from logrca.rca.detect import DetectionConfig, detect_anomalies, discount_explained

    base_spans, base_logs = _normal()
    after = [
        _trace(100 + i, ALERT + timedelta(seconds=i), caller_logs=(8,), callee_logs=(9,)) for i in range(5)
    ]
    alone = [_trace(300 + i, ALERT + timedelta(seconds=20 + i), caller_logs=(7,)) for i in range(6)]
    spans, logs = _frames(after + alone)
    explained = _explained((spans, logs), base_spans, base_logs)

    def as_events(frame):
        return frame.with_columns(
            pl.lit("INFO").alias("level"),
            pl.format("line {}", "template_id").alias("message"),
            pl.format("tpl {}", "template_id").alias("template"),
        )

    window = (ALERT, ALERT + timedelta(minutes=1))
    # The hand-built baseline (12 s) is a fifth of the window: judged as two samples, 5 unseen lines would
    # not count as new at all; this test is about the discount, so the prior alone judges them.
    config = DetectionConfig(short_baseline_unseen=False)
    found = detect_anomalies(
        as_events(logs),
        window=window,
        baseline=[(T0, T0 + timedelta(seconds=12))],
        config=config,
        baseline_events=as_events(base_logs),
    )
    new = {
        (s, t)
        for s, t, k in found.select("service", "template_id", "kind").iter_rows()
        if k == "new_template"
    }
    assert {("a", 8), ("a", 7), ("b", 9)} <= new
    kept = discount_explained(found, as_events(logs), explained, config)
    left = {
        (s, t) for s, t, k in kept.select("service", "template_id", "kind").iter_rows() if k == "new_template"
    }
    # a's template 8 was written only after b deviated in the same traces: b's doing. a's template 7 (its own,
    # in traces where b is normal) and b's own new template stay.
    assert ("a", 8) not in left and ("a", 7) in left and ("b", 9) in left
    assert discount_explained(found, as_events(logs), explained.head(0), config).equals(found)


def test_explanations_name_the_template_behind_a_log_event():
    from logrca.rca.signals.trace_patterns import _name_templates

    frame = pl.DataFrame(
        {"template_id": [4, 9], "template": ["[getTickets][Calculate distance] <*>", "other"]}
    )
    assert (
        _name_templates("count never seen: log 4 x1, log 7 x2", frame, None)
        == 'count never seen: log 4 "[getTickets][Calculate distance] <*>" x1, log 7 x2'
    )
    assert _name_templates("new span HTTP GET", frame) == "new span HTTP GET"
