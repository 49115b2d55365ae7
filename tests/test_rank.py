"""Ranking on a small hand-built incident where the quiet callee is the root cause."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import networkx as nx
import polars as pl

from logrca.rca.detect import ANOMALY_SCHEMA
from logrca.rca.rank import RANKING_SCHEMA, evidence_rows, rank_root_causes
from logrca.rca.signals.traces import EDGE_CHANGE_SCHEMA, SPAN_DEVIATION_SCHEMA

T0 = datetime(2024, 3, 1, 10, tzinfo=UTC)


def _shop() -> nx.DiGraph:
    graph = nx.DiGraph()
    for caller, callee in [
        ("gateway", "checkout"),
        ("checkout", "payments"),
        ("checkout", "inventory"),
        ("inventory", "db"),
    ]:
        graph.add_edge(caller, callee, sources={"declared"}, calls=0)
    return graph


def _anomaly(service, kind, score, seconds):
    return {
        "service": service,
        "kind": kind,
        "template_id": None,
        "template": None,
        "count_baseline": 0.0,
        "count_window": 10,
        "score": score,
        "first_seen": T0 + timedelta(seconds=seconds),
        "sample": "x",
        "detail": kind,
    }


def test_quiet_callee_whose_callers_fail_ranks_first():
    # checkout logs errors louder than anything payments shows; payments logs nothing wrong, but the calls
    # to it slowed and wait on the wire: the walk moves checkout's unexplained share into payments.
    anomalies = pl.DataFrame(
        [_anomaly("checkout", "error_burst", 12.0, 5), _anomaly("gateway", "error_burst", 9.0, 6)],
        schema=ANOMALY_SCHEMA,
    )
    edges = pl.DataFrame(
        [
            {
                "caller": "checkout",
                "callee": "payments",
                "kind": "latency_rise",
                "score": 6.0,
                "first_seen": T0 + timedelta(seconds=2),
                "detail": "calls slower",
            }
        ],
        schema=EDGE_CHANGE_SCHEMA,
    )
    waits = pl.DataFrame(
        [
            {
                "service": "payments",
                "metric": "call_gap",
                "score": 9.0,
                "first_seen": T0 + timedelta(seconds=3),
                "detail": "calls in or out waited longer",
            }
        ],
        schema=SPAN_DEVIATION_SCHEMA,
    )
    ranking = rank_root_causes(_shop(), anomalies, edge_changes=edges, span_deviations=waits)
    assert ranking.schema == pl.Schema(RANKING_SCHEMA)
    assert ranking["service"].to_list()[0] == "payments"
    top = ranking.row(0, named=True)
    assert top["path"] == ["payments", "checkout", "gateway"]
    assert top["first_anomalous"] == T0 + timedelta(seconds=2)
    assert "checkout -> payments" in top["explanation"]
    assert ranking["rank"].to_list() == list(range(1, ranking.height + 1))


def test_logs_only_loud_service_without_anomalous_callees_ranks_first():
    anomalies = pl.DataFrame(
        [_anomaly("inventory", "new_template", 8.0, 1), _anomaly("checkout", "error_burst", 5.0, 3)],
        schema=ANOMALY_SCHEMA,
    )
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


def test_every_service_is_ranked_and_quiet_ones_come_last():
    anomalies = pl.DataFrame([_anomaly("inventory", "new_template", 8.0, 1)], schema=ANOMALY_SCHEMA)
    ranking = rank_root_causes(_shop(), anomalies)
    assert ranking["service"].to_list()[0] == "inventory"
    assert sorted(ranking["service"].to_list()) == sorted(_shop().nodes)
    quiet = ranking.filter(pl.col("anomaly_score") == 0)
    assert (
        quiet.height == 4 and quiet["rank"].min() > ranking.filter(pl.col("anomaly_score") > 0)["rank"].max()
    )
    unrelated = quiet.filter(
        ~pl.col("service").is_in(["checkout", "gateway"])
    )  # not callers of inventory: no walk mass
    assert unrelated["score"].to_list() == [0.0, 0.0] and unrelated["service"].to_list() == ["db", "payments"]


def test_a_service_judged_against_its_own_usual_noise():
    # checkout is always this loud (the quiet stretch before the alert shows the same); inventory is not.
    anomalies = pl.DataFrame(
        [_anomaly("checkout", "new_template", 12.0, 1), _anomaly("inventory", "new_template", 8.0, 2)],
        schema=ANOMALY_SCHEMA,
    )
    assert rank_root_causes(_shop(), anomalies, propagation=0.0)["service"][0] == "checkout"
    noise = evidence_rows(
        pl.DataFrame([_anomaly("checkout", "new_template", 11.0, 0)], schema=ANOMALY_SCHEMA)
    )
    ranking = rank_root_causes(_shop(), anomalies, noise=noise, propagation=0.0)
    assert ranking["service"][0] == "inventory"


def test_idle_services_are_down_weighted():
    anomalies = pl.DataFrame(
        [_anomaly("db", "new_template", 9.0, 1), _anomaly("payments", "new_template", 7.0, 2)],
        schema=ANOMALY_SCHEMA,
    )
    assert rank_root_causes(_shop(), anomalies, propagation=0.0)["service"][0] == "db"
    ranking = rank_root_causes(
        _shop(), anomalies, active_services=["gateway", "checkout", "payments"], propagation=0.0
    )
    assert ranking["service"][0] == "payments"


def test_a_fault_that_began_before_the_alert_keeps_half_its_signal():
    # payments was already failing in the 'quiet' stretch before the alert (louder there than after): its
    # own noise may halve its score but not cancel it, so it still beats inventory's smaller fresh change.
    anomalies = pl.DataFrame(
        [_anomaly("payments", "new_template", 10.0, 1), _anomaly("inventory", "new_template", 4.0, 2)],
        schema=ANOMALY_SCHEMA,
    )
    noise = evidence_rows(
        pl.DataFrame([_anomaly("payments", "new_template", 16.0, 0)], schema=ANOMALY_SCHEMA)
    )
    assert rank_root_causes(_shop(), anomalies, noise=noise, propagation=0.0)["service"][0] == "payments"
    assert (
        rank_root_causes(_shop(), anomalies, noise=noise, propagation=0.0, noise_keep=0.0)["service"][0]
        == "inventory"
    )
