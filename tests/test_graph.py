"""The service graph from spans, a topology file and trace ids in logs."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from logrca.parsers.ingest.schema import SPAN_SCHEMA
from logrca.rca.graph import load_topology, service_dependency_graph, span_calls

T0 = datetime(2024, 3, 1, 10, tzinfo=UTC)


def _spans(rows):
    return pl.DataFrame(
        [
            dict(
                zip(
                    [
                        "trace_id",
                        "span_id",
                        "parent_id",
                        "service",
                        "host",
                        "operation",
                        "start",
                        "duration_us",
                        "error",
                    ],
                    r,
                    strict=True,
                )
            )
            for r in rows
        ],
        schema=SPAN_SCHEMA,
    )


def test_graph_from_spans_links_parent_to_child_on_another_service():
    spans = _spans(
        [
            ("t1", "a", None, "gateway", "gw-1", "/buy", T0, 1000.0, None),
            ("t1", "b", "a", "gateway", "gw-1", "HTTP POST", T0, 900.0, None),  # local child: no edge
            ("t1", "c", "b", "checkout", "co-1", "/checkout", T0, 800.0, None),
            ("t1", "d", "c", "payments", "pay-1", "/pay", T0, 300.0, None),
            ("t2", "e", None, "gateway", "gw-1", "/buy", T0, 1000.0, None),
            ("t2", "f", "e", "checkout", "co-1", "/checkout", T0, 700.0, None),
            (
                "t2",
                "g",
                "x-missing",
                "payments",
                "pay-1",
                "/pay",
                T0,
                1.0,
                None,
            ),  # parent not recorded: no edge
        ]
    )
    graph = service_dependency_graph(spans=spans)
    assert sorted(graph.edges) == [("checkout", "payments"), ("gateway", "checkout")]
    assert graph["gateway"]["checkout"] == {"sources": {"traces"}, "calls": 2}
    assert graph["checkout"]["payments"]["calls"] == 1
    calls = span_calls(spans)
    assert set(calls.columns) >= {"caller", "callee", "duration_us"}


def test_topology_file_and_errors(tmp_path):
    path = tmp_path / "topology.yaml"
    path.write_text(
        "services:\n  gateway: {calls: [checkout]}\n  checkout: {calls: [payments, inventory]}\n  db:\n"
    )
    graph = service_dependency_graph(topology=path)
    assert sorted(graph.edges) == [
        ("checkout", "inventory"),
        ("checkout", "payments"),
        ("gateway", "checkout"),
    ]
    assert graph["gateway"]["checkout"]["sources"] == {"declared"}
    assert "db" in graph
    path.write_text("services:\n  gateway: {calls: checkout}\n")
    with pytest.raises(ValueError, match="services.gateway.calls"):
        load_topology(path)


def test_calls_inferred_from_trace_ids_in_logs_when_nothing_else_is_known():
    rows = []
    for i in range(3):
        t = T0 + timedelta(seconds=i)
        rows += [
            {"timestamp": t, "service": "gateway", "trace_id": f"r{i}", "message": "in"},
            {
                "timestamp": t + timedelta(milliseconds=1),
                "service": "checkout",
                "trace_id": f"r{i}",
                "message": "in",
            },
            {
                "timestamp": t + timedelta(milliseconds=2),
                "service": "payments",
                "trace_id": f"r{i}",
                "message": "pay",
            },
            {
                "timestamp": t + timedelta(milliseconds=3),
                "service": "checkout",
                "trace_id": f"r{i}",
                "message": "out",
            },
            {
                "timestamp": t + timedelta(milliseconds=4),
                "service": "gateway",
                "trace_id": f"r{i}",
                "message": "out",
            },
        ]
    graph = service_dependency_graph(events=pl.DataFrame(rows))
    assert sorted(graph.edges) == [("checkout", "payments"), ("gateway", "checkout")]
    assert graph["checkout"]["payments"] == {"sources": {"inferred"}, "calls": 3}


def _enclosure_calls(rows: list[dict]) -> dict[tuple[str, str], int]:
    """The rule of inferred calls spelt as a loop over traces (the test's oracle)."""
    stretches: dict[str, dict[str, list]] = {}
    for row in rows:
        span = stretches.setdefault(row["trace_id"], {}).setdefault(row["service"], [row["timestamp"]] * 2)
        span[0], span[1] = min(span[0], row["timestamp"]), max(span[1], row["timestamp"])
    calls: dict[tuple[str, str], int] = {}
    for services in stretches.values():
        ordered = sorted(services.items(), key=lambda kv: (kv[1][0], -kv[1][1].timestamp(), kv[0]))
        for i, (callee, (first, last)) in enumerate(ordered[1:], start=1):
            enclosing = [name for name, (f, la) in ordered[:i] if f <= first and la >= last]
            caller = enclosing[-1] if enclosing else ordered[0][0]
            calls[(caller, callee)] = calls.get((caller, callee), 0) + 1
    return calls


def _inferred(events: pl.DataFrame) -> dict[tuple[str, str], int]:
    graph = service_dependency_graph(events=events)
    assert all(data["sources"] == {"inferred"} for *_, data in graph.edges(data=True))
    return {(u, v): data["calls"] for u, v, data in graph.edges(data=True)}


@pytest.mark.parametrize("seed", range(5))
def test_inferred_calls_follow_the_enclosure_rule_on_random_traces(seed):
    """Random traces of up to six services, with ties in start and end times, against the oracle."""
    rng = random.Random(seed)
    services = ["gateway", "auth", "cart", "checkout", "payments", "search"]
    rows = []
    for trace in range(300):
        for _ in range(rng.randint(1, 12)):
            rows.append(
                {
                    "timestamp": T0 + timedelta(milliseconds=rng.randint(0, 20)),
                    "service": rng.choice(services[: rng.randint(1, 6)]),
                    "trace_id": f"t{trace}",
                }
            )
    rows.append({"timestamp": T0, "service": "gateway", "trace_id": None})
    # requests that logged one line each (most of them: the lone lines are filtered out before grouping)
    rows += [{"timestamp": T0, "service": services[i % 6], "trace_id": f"lone{i}"} for i in range(3000)]
    rng.shuffle(rows)
    expected = _enclosure_calls([r for r in rows if r["trace_id"] is not None])
    assert expected and sum(expected.values()) > 300  # traces of several services, not only the trivial ones
    assert _inferred(pl.DataFrame(rows)) == expected


def test_a_longer_stretch_starting_with_another_encloses_it():
    """gateway and auth begin together; gateway lasts longer, so it calls auth (not the other way)."""
    rows = [
        {"timestamp": T0, "service": "auth", "trace_id": "r"},
        {"timestamp": T0, "service": "gateway", "trace_id": "r"},
        {"timestamp": T0 + timedelta(milliseconds=1), "service": "auth", "trace_id": "r"},
        {"timestamp": T0 + timedelta(milliseconds=5), "service": "gateway", "trace_id": "r"},
    ]
    assert _inferred(pl.DataFrame(rows)) == {("gateway", "auth"): 1}
