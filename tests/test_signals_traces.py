"""Wire-time signal on hand-built traces: the delayed pod takes the moved edges, its neighbours do not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from logrca.parsers.ingest.schema import SPAN_SCHEMA
from logrca.rca.signals.traces import SPAN_DEVIATION_SCHEMA, span_deviations
from logrca.rca.signals.wire_time import network_deviations
from logrca.rca.surprise import poisson_surprise, two_sample_surprise

T0 = datetime(2024, 3, 1, 10, tzinfo=UTC)
WINDOW = (T0 + timedelta(minutes=1), T0 + timedelta(minutes=2))


def _calls(edges: list[tuple[str, str, float]], *, minute: int, repeat: int = 5) -> pl.DataFrame:
    """Spans for ``repeat`` calls per edge: caller client span (callee work + gap) with the callee's span under it."""
    rows = []
    for i in range(repeat):
        for n, (caller, callee, gap_ms) in enumerate(edges):
            trace, start = f"t{minute}-{i}-{n}", T0 + timedelta(minutes=minute, seconds=i)
            work_us = 2000.0 + 100 * i
            rows.append(
                {
                    "trace_id": trace,
                    "span_id": "a",
                    "parent_id": None,
                    "service": caller,
                    "host": f"{caller}-1-x",
                    "operation": "HTTP GET",
                    "start": start,
                    "duration_us": work_us + gap_ms * 1000,
                    "error": None,
                }
            )
            rows.append(
                {
                    "trace_id": trace,
                    "span_id": "b",
                    "parent_id": "a",
                    "service": callee,
                    "host": f"{callee}-1-x",
                    "operation": f"/{callee}",
                    "start": start,
                    "duration_us": work_us,
                    "error": None,
                }
            )
    return pl.DataFrame(rows, schema=SPAN_SCHEMA)


EDGES = [
    ("gateway", "orders"),
    ("gateway", "users"),
    ("orders", "payments"),
    ("orders", "stock"),
    ("users", "stock"),
]


def _case(slow: dict[tuple[str, str], float]) -> tuple[pl.DataFrame, pl.DataFrame]:
    baseline = _calls([(a, b, 2.0) for a, b in EDGES], minute=0)
    window = _calls([(a, b, slow.get((a, b), 2.0)) for a, b in EDGES], minute=1)
    return window, baseline


def test_delayed_callee_takes_all_its_moved_edges():
    # stock answers 2 s late on both of its incoming edges; each caller shares only one of them
    spans, baseline = _case({("orders", "stock"): 2000.0, ("users", "stock"): 2000.0})
    found = network_deviations(spans, baseline, window=WINDOW)
    assert found.schema == pl.Schema(SPAN_DEVIATION_SCHEMA)
    assert found["service"].to_list() == ["stock"]  # the callers' shares are explained away
    assert found["score"][0] > 10
    assert "orders -> stock" in found["detail"][0] and "users -> stock" in found["detail"][0]


def test_pod_slow_on_its_outgoing_calls_beats_each_callee():
    # a starved orders pod sends late: both its outgoing edges moved, each callee has one moved edge
    spans, baseline = _case({("orders", "payments"): 500.0, ("orders", "stock"): 500.0})
    found = network_deviations(spans, baseline, window=WINDOW)
    assert found["service"][0] == "orders"
    assert set(found["service"].to_list()) == {"orders"}


def test_single_moved_edge_is_blamed_on_the_callee():
    spans, baseline = _case({("gateway", "users"): 800.0})
    assert network_deviations(spans, baseline, window=WINDOW)["service"].to_list() == ["users"]


def test_wobble_below_the_unit_and_empty_input_give_no_rows():
    spans, baseline = _case({("orders", "stock"): 2.5})  # 2 -> 2.5 ms on the wire: within noise
    assert network_deviations(spans, baseline, window=WINDOW).is_empty()
    empty = pl.DataFrame(schema=SPAN_SCHEMA)
    assert network_deviations(empty, baseline, window=WINDOW).schema == pl.Schema(SPAN_DEVIATION_SCHEMA)
    assert network_deviations(spans, empty, window=WINDOW).is_empty()


def test_a_baseline_that_already_holds_the_delay_is_replaced_by_the_typical_edge():
    # The baseline (the minutes before an alert) already holds a 2 s wait on users -> stock; the other edges
    # wait 1-4 ms. Against its own baseline the delay is invisible; against the typical edge it is not.
    gaps = {("gateway", "orders"): 1.0, ("gateway", "users"): 2.0, ("orders", "payments"): 3.0}
    gaps |= {("orders", "stock"): 4.0, ("users", "stock"): 2000.0}
    baseline = _calls([(a, b, gaps[(a, b)]) for a, b in EDGES], minute=0)
    spans = _calls([(a, b, gaps[(a, b)]) for a, b in EDGES], minute=1)
    assert network_deviations(spans, baseline, window=WINDOW, outlier_z=None).is_empty()
    found = network_deviations(spans, baseline, window=WINDOW)
    assert found["service"].to_list() == ["stock"] and found["score"][0] > 10
    # A baseline whose edges all wait alike has no outlier: nothing is replaced.
    spans, baseline = _case({})
    assert network_deviations(spans, baseline, window=WINDOW).is_empty()


def test_lines_of_request_kinds_the_baseline_never_saw_are_marked_unknown():
    from logrca.rca.signals.traces import known_requests

    baseline = _calls([("gateway", "orders", 2.0)], minute=0)
    spans = pl.concat(
        [
            _calls([("gateway", "orders", 2.0)], minute=1, repeat=1),
            _calls([("gateway", "users", 2.0)], minute=1, repeat=1).with_columns(
                pl.lit("t-new").alias("trace_id")
            ),
        ]
    )
    events = pl.DataFrame(
        {
            "trace_id": ["t1-0-0", "t-new", None, "t-other"],
            "service": ["orders", "users", "users", "users"],
            "template_id": [1, 2, 2, 2],
        }
    )
    marked = known_requests(events, spans, baseline)
    # orders' request kind (/orders) is in the baseline; users' (/users) is not; lines without a span stay known.
    assert marked["known_request"].to_list() == [True, False, True, True]
    assert known_requests(events, spans, baseline, min_visits=6)["known_request"].to_list()[:2] == [
        False,
        False,
    ]


def _requests(durations_ms: list[float], *, minute: int) -> pl.DataFrame:
    """One root span of ``orders`` per request (its exclusive time is its duration)."""
    return pl.DataFrame(
        [
            {
                "trace_id": f"r{minute}-{i}",
                "span_id": "a",
                "parent_id": None,
                "service": "orders",
                "host": "orders-1-x",
                "operation": "/orders",
                "start": T0 + timedelta(minutes=minute, seconds=i),
                "duration_us": ms * 1000,
                "error": None,
            }
            for i, ms in enumerate(durations_ms)
        ],
        schema=SPAN_SCHEMA,
    )


def test_a_short_baselines_p99_is_a_sample_too():
    baseline = _requests([10.0 + 0.1 * i for i in range(20)], minute=0)  # p99 of 20 requests ~ their largest
    wobble = _requests([10.0] * 34 + [12.5] * 6, minute=1)  # 6 of 40 just above it
    one_sample = span_deviations(wobble, baseline, window=WINDOW)
    assert one_sample["score"].to_list() == [pytest.approx(poisson_surprise(6, 0.5))]  # 4.3: reported
    assert span_deviations(wobble, baseline, window=WINDOW, two_sample=True).is_empty()
    # A real rise (every request slower) stays: 40 of 40 above the baseline's p99 (its largest) against 0 of 20.
    slow = _requests([25.0] * 40, minute=1)
    rows = span_deviations(slow, baseline, window=WINDOW, two_sample=True)
    assert rows["score"].to_list() == [pytest.approx(two_sample_surprise(40, 0, 2.0))]
    assert rows["score"][0] > 3.0


def test_self_times_computed_once_give_the_same_findings_and_request_scale():
    from logrca.rca.signals.traces import request_scale, self_times, window_self_times

    baseline = _requests([10.0 + 0.1 * i for i in range(20)], minute=0)
    spans = pl.concat([_requests([9.0] * 10, minute=0), _requests([25.0] * 40, minute=1)])  # 10 before WINDOW
    own = window_self_times(spans, baseline, WINDOW, self_times(baseline))
    assert own[0].height == 40 and own[1].height == 20  # the window's requests, then the baseline's
    again = window_self_times(spans, baseline, WINDOW)[0]  # rows in no fixed order (group_by)
    assert own[0].sort("trace_id").equals(again.sort("trace_id"))
    assert span_deviations(spans, baseline, window=WINDOW, own=own).equals(
        span_deviations(spans, baseline, window=WINDOW)
    )
    assert not span_deviations(spans, baseline, window=WINDOW).is_empty()
    assert request_scale(spans, baseline, window=WINDOW, own=own) == {"orders": 2.0}
    assert request_scale(spans, baseline, window=WINDOW) == {"orders": 2.0}


def test_a_service_that_served_no_request_in_the_window_is_compared_by_time():
    """Lines per request are undefined with no request: a service that stopped serving is left to the
    time ratio, so its silence is a rate drop instead of an expected count of zero."""
    from logrca.rca.signals.traces import request_scale

    baseline = _requests([10.0] * 20, minute=0)
    before_the_window = _requests([10.0] * 10, minute=0)
    assert request_scale(before_the_window, baseline, window=WINDOW) == {}
