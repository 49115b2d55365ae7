"""Log anomaly detection: new templates, rate changes, error bursts, rules; scores, not flags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from logrca.rca.detect import (
    ANOMALY_SCHEMA,
    DetectionConfig,
    RuleConfig,
    detect_anomalies,
    poisson_surprise,
    service_scores,
    two_sample_surprise,
)

T0 = datetime(2024, 3, 1, 10, tzinfo=UTC)
BASELINE = (T0, T0 + timedelta(minutes=10))
WINDOW = (T0 + timedelta(minutes=10), T0 + timedelta(minutes=20))


def _events() -> pl.DataFrame:
    rows = []
    for minute in range(20):
        t = T0 + timedelta(minutes=minute)
        for i in range(10):
            rows.append((t + timedelta(seconds=i), "checkout", "INFO", f"order {i} ok", 1, "order <*> ok"))
        if minute >= 10:  # the incident: a new error template in payments, checkout's rate doubles
            rows += [
                (
                    t + timedelta(seconds=30 + i),
                    "payments",
                    "ERROR",
                    f"card {i} declined",
                    2,
                    "card <*> declined",
                )
                for i in range(5)
            ]
            rows += [
                (t + timedelta(seconds=40 + i), "checkout", "INFO", f"order {i} ok", 1, "order <*> ok")
                for i in range(10)
            ]
    return pl.DataFrame(
        rows, schema=["timestamp", "service", "level", "message", "template_id", "template"], orient="row"
    )


def test_new_template_error_burst_and_rate_spike_are_scored():
    anomalies = detect_anomalies(_events(), window=WINDOW, baseline=BASELINE)
    assert anomalies.schema == pl.Schema(ANOMALY_SCHEMA)
    kinds = {(r["service"], r["kind"]) for r in anomalies.iter_rows(named=True)}
    assert kinds == {("payments", "new_template"), ("payments", "error_burst"), ("checkout", "rate_spike")}
    spike = anomalies.filter(pl.col("kind") == "rate_spike").row(0, named=True)
    assert spike["count_baseline"] == pytest.approx(100.0) and spike["count_window"] == 200
    # The baseline (as long as the window) is a sample too: the two-rate test, not the Poisson one.
    assert spike["score"] == pytest.approx(two_sample_surprise(200, 100, 1.0))
    assert spike["score"] < poisson_surprise(200, 100)
    new = anomalies.filter(pl.col("kind") == "new_template").row(0, named=True)
    assert new["first_seen"] == T0 + timedelta(minutes=10, seconds=30)
    assert new["sample"] == "card 0 declined"
    scores = service_scores(anomalies)
    assert scores["payments"] > scores["checkout"] > 0  # a half-weighted rate change ranks below a new error


def test_a_template_written_only_for_requests_the_baseline_never_saw_is_not_new():
    events = _events()
    unknown = pl.col("service") == "payments"  # as marked by logrca.rca.signals.traces.known_requests
    marked = events.with_columns((~unknown).alias("known_request"))
    kinds = {
        r["kind"] for r in detect_anomalies(marked, window=WINDOW, baseline=BASELINE).iter_rows(named=True)
    }
    assert "new_template" not in kinds and "error_burst" in kinds  # its errors still count
    half = events.with_columns((~unknown | (pl.col("message") != "card 0 declined")).alias("known_request"))
    new = detect_anomalies(half, window=WINDOW, baseline=BASELINE).filter(pl.col("kind") == "new_template")
    assert new["count_window"].to_list() == [40]  # only the lines of known request kinds count


def test_baseline_may_be_several_intervals_and_a_separate_frame():
    events = _events()
    baseline_rows = events.filter(pl.col("timestamp") < WINDOW[0])
    halves = [(T0, T0 + timedelta(minutes=5)), (T0 + timedelta(minutes=5), T0 + timedelta(minutes=10))]
    split = detect_anomalies(
        events.filter(pl.col("timestamp") >= WINDOW[0]),
        window=WINDOW,
        baseline=halves,
        baseline_events=baseline_rows,
    )
    whole = detect_anomalies(events, window=WINDOW, baseline=BASELINE)
    assert split.drop("first_seen").sort("kind").equals(whole.drop("first_seen").sort("kind"))


def test_no_baseline_still_scores_errors_and_rules():
    config = DetectionConfig(
        rules=[RuleConfig(name="declines", service="pay*", pattern=r"declined", min_count=3, score=7.5)]
    )
    anomalies = detect_anomalies(_events(), window=WINDOW, baseline=None, config=config)
    assert set(anomalies["kind"]) == {"error_burst", "rule"}
    rule = anomalies.filter(pl.col("kind") == "rule").row(0, named=True)
    assert (rule["service"], rule["score"], rule["count_window"], rule["template"]) == (
        "payments",
        7.5,
        50,
        "declines",
    )


def test_edge_cases_and_errors():
    events = _events()
    empty = detect_anomalies(
        events, window=(T0 - timedelta(hours=2), T0 - timedelta(hours=1)), baseline=BASELINE
    )
    assert empty.is_empty() and empty.schema == pl.Schema(ANOMALY_SCHEMA)
    with pytest.raises(ValueError, match=r"template_id"):
        detect_anomalies(events.drop("template_id"), window=WINDOW, baseline=BASELINE)
    with pytest.raises(ValueError, match="not after its start"):
        detect_anomalies(events, window=(WINDOW[1], WINDOW[0]), baseline=BASELINE)
    with pytest.raises(ValueError, match=r"rules\.0\.pattern\n.*not a valid regular expression"):
        DetectionConfig(rules=[{"name": "bad", "pattern": "("}])
    assert poisson_surprise(10, 10) == 0
    assert poisson_surprise(0, 8) == pytest.approx(-4.0)
    assert service_scores(empty) == {}


def test_two_sample_surprise_treats_the_baseline_as_a_sample():
    assert two_sample_surprise(100, 100, 1.0) == pytest.approx(0.0)
    assert two_sample_surprise(120, 100, 1.0) == pytest.approx(-two_sample_surprise(100, 120, 1.0))
    # A baseline a hundred times longer than the window is almost a known rate: the Poisson value.
    assert two_sample_surprise(200, 10_000, 0.01) == pytest.approx(poisson_surprise(200, 100), rel=0.02)
    # One partition against the one before: an hour-to-hour swing of +28% is chance, not a change.
    assert two_sample_surprise(195, 152, 1.0) < 3.0 < poisson_surprise(195, 152)
    assert two_sample_surprise(0, 0, 1.0) == 0.0


def test_a_template_unseen_in_a_short_baseline_is_judged_as_two_samples():
    events = _events()
    short = detect_anomalies(events, window=WINDOW, baseline=BASELINE)
    row = short.filter(pl.col("kind") == "new_template").row(0, named=True)
    # The baseline is as long as the window: its missing line weighs what the two-rate test says.
    assert row["score"] == pytest.approx(two_sample_surprise(50, 0, 1.0))
    assert row["score"] < poisson_surprise(50, DetectionConfig().prior_rate)
    # Without the rule (or with a baseline a hundred times the window) the prior's value stands.
    off = DetectionConfig(short_baseline_unseen=False)
    prior = detect_anomalies(events, window=WINDOW, baseline=BASELINE, config=off)
    assert prior.filter(pl.col("kind") == "new_template")["score"][0] == pytest.approx(
        poisson_surprise(50, off.prior_rate)
    )
    long = detect_anomalies(events, window=WINDOW, baseline=BASELINE, service_scale={"payments": 0.01})
    assert long.filter(pl.col("kind") == "new_template")["score"][0] == pytest.approx(
        poisson_surprise(50, off.prior_rate)
    )
    # Error bursts keep the prior: an error the baseline never showed is the fault's usual mark.
    burst = short.filter(pl.col("kind") == "error_burst").row(0, named=True)
    assert burst["score"] == pytest.approx(poisson_surprise(50, off.prior_rate))


def test_a_discounted_unseen_template_keeps_the_two_sample_cap():
    from logrca.rca.detect import discount_explained

    events = _events().with_columns(pl.format("t{}", pl.int_range(pl.len())).alias("trace_id"))
    found = detect_anomalies(events, window=WINDOW, baseline=BASELINE)
    window_lines = events.filter(pl.col("template_id") == 2)  # payments' 50 unseen lines, all in the window
    explained = window_lines.head(40).select(
        "trace_id", "service", "template_id", pl.col("timestamp").cast(pl.Datetime("us", "UTC")).alias("time")
    )
    kept = discount_explained(found, events, explained)
    row = kept.filter(pl.col("kind") == "new_template").row(0, named=True)
    assert row["count_window"] == 10
    # Ten lines left against a baseline as long as the window: the two-sample value, not the prior's 6.4.
    assert row["score"] == pytest.approx(two_sample_surprise(10, 0, 1.0))
    assert row["score"] < poisson_surprise(10, DetectionConfig().prior_rate)


def test_error_lines_are_those_of_the_level_or_of_the_pattern_on_unlevelled_lines():
    from logrca.rca.detect_rules import is_error_line

    levels = [None, "ERROR", "error", "INFO", "FATAL", "WARN"]
    messages = [None, "", "Timed out after 3s", "connection refused", "all good", "failures: 0", "Erreur"]
    frame = pl.DataFrame(
        [(level, message) for level in levels for message in messages],
        schema={"level": pl.Utf8, "message": pl.Utf8},
        orient="row",
    )
    config = DetectionConfig()
    by_level = pl.col("level").is_in(config.error_levels).fill_null(False)
    plain = by_level | (pl.col("level").is_null() & pl.col("message").str.contains(config.error_pattern))
    found = frame.select(new=is_error_line(config), plain=plain)
    # the same values, nulls included (a message-less line without a level is neither)
    assert found["new"].to_list() == found["plain"].to_list()
    assert found["new"].sum() > len(messages) and found["new"].null_count() == 1


def test_a_drop_to_one_line_reads_one_line():
    """The details are sentences a report quotes: "1 line vs 10.0 expected", not "1 lines"."""
    events = _events().filter(  # in the window checkout writes one line of its 10 a minute
        (pl.col("timestamp") < WINDOW[0]) | (pl.col("service") != "checkout")
    )
    one = _events().filter(pl.col("service") == "checkout", pl.col("timestamp") >= WINDOW[0]).head(1)
    anomalies = detect_anomalies(pl.concat([events, one]), window=WINDOW, baseline=BASELINE)
    drop = anomalies.filter(pl.col("kind") == "rate_drop").row(0, named=True)
    assert drop["count_window"] == 1 and drop["detail"].startswith("1 line vs 100.0 expected")


def _hour(minute_rates: dict[str, object]) -> pl.DataFrame:
    """An hour of baseline and an hour of window; ``minute_rates``: template -> lines a minute (a
    function of the window's minute), each template at 10 lines a minute in the baseline."""
    rows = []
    for minute in range(120):
        t = T0 + timedelta(minutes=minute)
        for number, (name, rate) in enumerate(minute_rates.items(), start=1):
            level = "ERROR" if name == "error" else "INFO"
            n = 10 if minute < 60 else rate(minute - 60)
            rows += [
                (t + timedelta(seconds=i), "svc", level, f"{name} {i}", number, f"{name} <*>")
                for i in range(n)
            ]
    return pl.DataFrame(
        rows, schema=["timestamp", "service", "level", "message", "template_id", "template"], orient="row"
    )


def test_a_rate_change_is_first_seen_where_it_began_not_at_the_window_start():
    """A template the baseline holds has lines from the window's first minute; its drop, spike or
    burst began later, and ``first_seen`` says when (within one bin of the window)."""
    events = _hour(
        {
            "drop": lambda m: 10 if m < 20 else 0,
            "spike": lambda m: 10 if m < 40 else 40,
            "error": lambda m: 10 if m < 30 else 30,
            "steady": lambda m: 10,
        }
    )
    window = (T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    found = detect_anomalies(events, window=window, baseline=(T0, T0 + timedelta(hours=1)))
    first = {(r["kind"], r["template"]): r["first_seen"] for r in found.iter_rows(named=True)}
    assert first[("rate_drop", "drop <*>")] == window[0] + timedelta(minutes=20)
    assert first[("rate_spike", "spike <*>")] == window[0] + timedelta(minutes=40)
    assert first[("error_burst", None)] == window[0] + timedelta(minutes=30)
    assert not any(template == "steady <*>" for _, template in first)


def test_a_rate_changed_from_the_window_start_has_its_first_line_there():
    events = _hour({"spike": lambda m: 40})
    window = (T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    found = detect_anomalies(events, window=window, baseline=(T0, T0 + timedelta(hours=1)))
    assert found.row(0, named=True)["first_seen"] == window[0]


def test_findings_of_equal_score_come_out_in_one_order():
    """Rows of equal score ordered by service, kind and template id: the report keeps each service's
    strongest few, and the incident's fingerprint must not depend on a group-by's order."""
    from logrca.rca.detect import strongest_first

    rows = [
        {"service": s, "kind": k, "template_id": t, "score": 5.0}
        for s, k, t in [
            ("b", "rate_spike", 2),
            ("a", "rate_spike", 9),
            ("a", "new_template", 3),
            ("a", "rate_spike", 1),
        ]
    ]
    frame = pl.DataFrame(rows).with_columns(pl.col("template_id").cast(pl.Int64))
    for seed in range(5):
        shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed)
        assert strongest_first(shuffled).rows() == [
            ("a", "new_template", 3, 5.0),
            ("a", "rate_spike", 1, 5.0),
            ("a", "rate_spike", 9, 5.0),
            ("b", "rate_spike", 2, 5.0),
        ]
