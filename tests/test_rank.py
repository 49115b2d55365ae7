"""Ranking on a small hand-built incident where the quiet callee is the root cause."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import networkx as nx
import polars as pl

from rca.detect import ANOMALY_SCHEMA
from rca.rank import RANKING_SCHEMA, rank_root_causes
from rca.signals_traces import EDGE_CHANGE_SCHEMA, SPAN_DEVIATION_SCHEMA

T0 = datetime(2024, 3, 1, 10, tzinfo=timezone.utc)


def _shop() -> nx.DiGraph:
    graph = nx.DiGraph()
    for caller, callee in [("gateway", "checkout"), ("checkout", "payments"), ("checkout", "inventory"), ("inventory", "db")]:
        graph.add_edge(caller, callee, sources={"declared"}, calls=0)
    return graph


def _anomaly(service, kind, score, seconds):
    return {"service": service, "kind": kind, "template_id": None, "template": None, "count_baseline": 0.0, "count_window": 10,
            "score": score, "first_seen": T0 + timedelta(seconds=seconds), "sample": "x", "detail": kind}


def test_quiet_callee_whose_callers_fail_ranks_first():
    # checkout logs errors louder than anything payments shows; payments logs nothing wrong, but the calls
    # to it slowed and wait on the wire: the walk moves checkout's unexplained share into payments.
    anomalies = pl.DataFrame([_anomaly("checkout", "error_burst", 12.0, 5), _anomaly("gateway", "error_burst", 9.0, 6)], schema=ANOMALY_SCHEMA)
    edges = pl.DataFrame([{"caller": "checkout", "callee": "payments", "kind": "latency_rise", "score": 6.0,
                           "first_seen": T0 + timedelta(seconds=2), "detail": "calls slower"}], schema=EDGE_CHANGE_SCHEMA)
    waits = pl.DataFrame([{"service": "payments", "metric": "call_gap", "score": 9.0, "first_seen": T0 + timedelta(seconds=3),
                           "detail": "calls in or out waited longer"}], schema=SPAN_DEVIATION_SCHEMA)
    ranking = rank_root_causes(_shop(), anomalies, edge_changes=edges, span_deviations=waits)
    assert ranking.schema == pl.Schema(RANKING_SCHEMA)
    assert ranking["service"].to_list()[0] == "payments"
    top = ranking.row(0, named=True)
    assert top["path"] == ["payments", "checkout", "gateway"]
    assert top["first_anomalous"] == T0 + timedelta(seconds=2)
    assert "checkout -> payments" in top["explanation"]
    assert ranking["rank"].to_list() == list(range(1, ranking.height + 1))


def test_logs_only_loud_service_without_anomalous_callees_ranks_first():
    anomalies = pl.DataFrame([_anomaly("inventory", "new_template", 8.0, 1), _anomaly("checkout", "error_burst", 5.0, 3)], schema=ANOMALY_SCHEMA)
    ranking = rank_root_causes(_shop(), anomalies)
    assert ranking["service"].to_list()[:2] == ["inventory", "checkout"]
    assert ranking.row(0, named=True)["path"] == ["inventory", "checkout", "gateway"]


def test_empty_and_unknown_signal():
    empty = rank_root_causes(_shop(), pl.DataFrame(schema=ANOMALY_SCHEMA))
    assert empty.is_empty() and empty.schema == pl.Schema(RANKING_SCHEMA)
    try:
        rank_root_causes(_shop(), pl.DataFrame(schema=ANOMALY_SCHEMA), latency=1)
    except TypeError as error:
        assert "latency" in str(error)
    else:
        raise AssertionError("unknown signal accepted")
