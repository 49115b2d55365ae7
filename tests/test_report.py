"""Finding and Markdown report on hand-built frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from logrca.assets.reporting import _trace_lines
from logrca.rca.finding_ids import finding_id
from logrca.rca.report import build_finding, service_impact
from logrca.rca.report_render import render_report

T0 = datetime(2026, 3, 10, 2, tzinfo=UTC)
WINDOW = (T0, T0 + timedelta(hours=1))


def events(rows):
    return pl.DataFrame(
        rows,
        schema={
            "timestamp": pl.Datetime("us", "UTC"),
            "service": pl.Utf8,
            "level": pl.Utf8,
            "message": pl.Utf8,
            "trace_id": pl.Utf8,
            "template_id": pl.Int64,
            "template": pl.Utf8,
        },
        orient="row",
    )


def make_inputs():
    window = events(
        [
            (T0 + timedelta(minutes=20), "api", "INFO", "call stock id=1", "t1", 1, "call stock id=<*>"),
            (
                T0 + timedelta(minutes=20, seconds=1),
                "stock",
                "INFO",
                "0 units for id=1",
                "t1",
                7,
                "0 units for id=<*>",
            ),
            (
                T0 + timedelta(minutes=20, seconds=2),
                "api",
                "ERROR",
                "failed *bold* <x>",
                "t1",
                9,
                "failed <*>",
            ),
        ]
    )
    baseline = events(  # the baseline covers the 30 minutes before the window (as the analysis takes it)
        [
            (T0 - timedelta(minutes=30), "api", "INFO", "call stock id=2", "t0", 1, "call stock id=<*>"),
            (T0 - timedelta(microseconds=1), "web", "INFO", "page served", "t9", 3, "page served"),
        ]
    )
    anomalies = pl.DataFrame(
        {
            "service": ["stock", "api"],
            "kind": ["new_template", "error_burst"],
            "template_id": [7, None],
            "template": ["0 units for id=<*>", None],
            "count_baseline": [0.0, 0.0],
            "count_window": [1, 1],
            "score": [9.0, 6.0],
            "first_seen": [T0 + timedelta(minutes=20, seconds=1), T0 + timedelta(minutes=20, seconds=2)],
            "sample": ["0 units for id=1", "failed *bold* <x>"],
            "detail": ["new", "errors"],
        },
        schema_overrides={"template_id": pl.Int64},
    )
    ranking = pl.DataFrame(
        {
            "rank": [1, 2],
            "service": ["stock", "api"],
            "score": [0.7, 0.3],
            "first_anomalous": [T0 + timedelta(minutes=20, seconds=1), T0 + timedelta(minutes=20, seconds=2)],
            "anomaly_score": [1.0, 0.5],
            "path": [["stock", "api"], ["api"]],
            "explanation": ["new <*> template *x*", "errors"],
        }
    )
    return window, baseline, anomalies, ranking


def shop_finding(**extra) -> dict:
    """The finding of :func:`make_inputs` for system ``shop`` (``extra``: more of build_finding's
    arguments, or other ``anomalies`` / ``ranking``)."""
    window, baseline, anomalies, ranking = make_inputs()
    inputs = {
        "window_events": window,
        "baseline_events": baseline,
        "anomalies": anomalies,
        "ranking": ranking,
    }
    return build_finding(system="shop", window=WINDOW, **(inputs | extra))


def test_finding_has_the_incident_record_fields():
    finding = shop_finding(owners={"stock": "team-stock"}, detected_at=T0 + timedelta(hours=1))
    assert finding["finding_id"] == finding_id("shop", WINDOW)
    assert finding["root_cause"] == "stock" and finding["owner"] == "team-stock"
    assert (
        finding["window_start"] == "2026-03-10T02:20:01Z" and finding["window_end"] == "2026-03-10T02:20:02Z"
    )
    assert finding["trace_ids"] == ["t1"]
    assert [line.split()[1] for line in finding["reproduction"]["lines"]] == ["api", "stock", "api"]
    assert (
        finding["impact"]["api"]["errors_window"] == 1 and finding["impact"]["api"]["lines_baseline"] == 2.0
    )  # 1 line in 30 min, scaled to the 1-hour window
    assert finding["ranking"][0]["evidence"][0]["template"] == "0 units for id=<*>"


def test_reproduction_lines_from_a_scan_equal_those_of_the_messages():
    """The pipeline reads the window without ``message`` and the quoted request's lines by trace id."""
    window, baseline, anomalies, ranking = make_inputs()
    window = pl.concat([window, window.with_columns(pl.lit("t2").alias("trace_id"))])  # two requests
    common = {"system": "shop", "window": WINDOW, "baseline_events": baseline}
    common |= {"anomalies": anomalies, "ranking": ranking, "detected_at": T0 + timedelta(hours=1)}
    asked = []

    def trace_lines(trace_id):
        asked.append(trace_id)
        return window.filter(pl.col("trace_id") == trace_id).select(
            "timestamp", "service", "level", "message"
        )

    full = build_finding(window_events=window, **common)
    slim = build_finding(window_events=window.drop("message"), trace_lines=trace_lines, **common)
    assert asked == [full["trace_ids"][0]]
    assert len(full["reproduction"]["lines"]) == 3 and "0 units for id=1" in full["reproduction"]["lines"][1]
    assert slim == full


def test_trace_lines_of_the_partition_scan_stay_in_the_window():
    later = T0 + timedelta(minutes=50)
    scan = events(
        [
            (T0 + timedelta(minutes=5), "api", "INFO", "before the window", "t1", 1, "x"),
            (later, "api", "INFO", "second", "t1", 1, "x"),
            (later, "stock", "WARN", "first of the same instant", "t1", 2, "y"),
            (later, "api", "INFO", "another request", "t2", 1, "x"),
        ]
    ).lazy()
    lines = _trace_lines(scan, (T0 + timedelta(minutes=10), T0 + timedelta(hours=1)))("t1")
    assert lines.columns == ["timestamp", "service", "level", "message"]
    assert lines["message"].to_list() == ["second", "first of the same instant"]  # file order kept


def test_report_sections_and_escaping():
    finding = shop_finding()
    report = render_report(finding, title="RCA")
    for section in (
        "**Incident window:**",
        "## Ranked root-cause services",
        "## Evidence",
        "## Impact",
        "## Reproduction hints",
        "## Knowledge base",
    ):
        assert section in report
    assert "new &lt;\\*&gt; template \\*x\\*" in report  # explanation text cannot turn into italics or HTML
    assert "`stock`" in report


def test_report_tables_show_times_of_the_window_day_as_clock_times():
    finding = shop_finding()
    top = finding["ranking"][0]
    moment = datetime.fromisoformat(top["first_anomalous"].replace("Z", "+00:00"))
    rows = [line for line in render_report(finding).splitlines() if line.startswith("| 1 |")]
    assert f"| {moment:%H:%M:%S}.{moment.microsecond // 1000:03d} |" in rows[0]
    earlier = moment - timedelta(days=1)  # the day before the window: the date is kept
    finding["ranking"][0] = dict(top, first_anomalous=earlier.isoformat())
    rows = [line for line in render_report(finding).splitlines() if line.startswith("| 1 |")]
    assert f"| {earlier:%Y-%m-%d %H:%M:%S}." in rows[0]


def test_services_scored_zero_are_named_after_the_ranking_not_given_rows():
    finding = shop_finding()
    top = finding["ranking"][0]
    quiet = [dict(top, rank=k, service=f"quiet-{k}", score=0.00001, path=[]) for k in (2, 3)]
    finding["ranking"] = [top, *quiet]
    report = render_report(finding)
    assert [line.split("|")[2].strip() for line in report.splitlines() if line.startswith("| 1 |")] == [
        f"`{top['service']}`"
    ]
    assert "| `quiet-2` |" not in report and "Score 0.0000 (ranks 2–3): `quiet-2`, `quiet-3`." in report


def test_no_anomalies_no_finding():
    assert shop_finding(anomalies=make_inputs()[2].clear()) is None
    assert "No incident" in render_report(None)
    assert finding_id("s", WINDOW) != finding_id("s", (WINDOW[0], WINDOW[1] + timedelta(hours=1)))


@pytest.mark.parametrize("alert", [None, T0 + timedelta(minutes=20)])
def test_a_window_without_finding_has_the_finding_id_a_finding_of_it_would_have(alert):
    """The incidents step of a partition with no finding names the window as the report would have (its
    ``analysis_window`` asset, read back), so a re-run finding nothing finds what an earlier run filed."""
    from logrca.rca.finding_ids import window_identity
    from logrca.rca.windows import AnalysisConfig, described_window, window_frames

    events = pl.DataFrame({"timestamp": [T0 + timedelta(minutes=m, microseconds=7) for m in (5, 25, 41)]})
    events = events.with_columns(pl.col("timestamp").dt.replace_time_zone("UTC"))
    settings = {
        "settings": AnalysisConfig(alert_time=alert, window_lead=timedelta(minutes=2)),
        "partition_key": "2026-03-10-02:00",
        "partition_window": WINDOW,
        "events": events,
        "spans": pl.DataFrame(schema={"start": pl.Datetime("us", "UTC")}),
        "fault_free_events": events.clear(),
        "fault_free_spans": pl.DataFrame(schema={"start": pl.Datetime("us", "UTC")}),
    }
    frames = window_frames(**settings)
    reported = frames.window or WINDOW  # what rca_report gives build_finding
    assert (described_window(frames.describe()) or WINDOW) == reported
    named = window_identity("shop", described_window(frames.describe()) or WINDOW, named_until=WINDOW[1])
    assert named["finding_id"] == finding_id("shop", (reported[0], WINDOW[1]))
    assert named["analysis_window"][0] == (
        "2026-03-10T02:00:00Z" if alert is None else "2026-03-10T02:18:00Z"
    )
    if alert is None:  # the partition is the window: its id is what it always was
        assert named["finding_id"] == finding_id("shop", WINDOW)
    else:  # a late file moves the window's end (its last line), not the finding it names
        late = pl.concat([events, events.select(pl.col("timestamp") + timedelta(minutes=10))])
        later = window_frames(**(settings | {"events": late}))
        assert later.window[1] > reported[1]
        again = window_identity("shop", later.window, named_until=WINDOW[1])
        assert (
            again["finding_id"] == named["finding_id"]
            and again["analysis_window"] != named["analysis_window"]
        )


def test_report_names_its_incident_links_runbooks_and_lists_changes(tmp_path):
    from logrca.incidents.record import build_incident
    from logrca.rca.changes import detect_changes
    from logrca.rca.report_render import ReportOptions

    window, baseline, anomalies, ranking = make_inputs()
    changes = detect_changes(
        pl.DataFrame(
            {
                "timestamp": [T0 + timedelta(minutes=18)],
                "service": ["stock"],
                "message": ["Deployed stock 3.1.0"],
            }
        )
    )
    runbook = {
        "id": "stock-rollback",
        "title": "Roll back stock",
        "services": ["stock"],
        "keywords": ["units"],
        "category": None,
        "actions": [],
        "body": "1. Check the version\n2. Roll back",
        "path": str(tmp_path / "knowledge" / "runbooks" / "stock.md"),
    }
    finding = build_finding(
        system="shop", window=WINDOW, window_events=window, baseline_events=baseline, anomalies=anomalies,
        ranking=ranking, runbooks=[runbook], changes=changes,
    )  # fmt: skip
    assert finding["incident_id"] == build_incident(finding)["incident_id"]  # the id it is filed under
    assert finding["changes"][0]["kind"] == "deploy" and finding["changes"][0]["version"] == "3.1.0"
    quoted = render_report(
        finding, ReportOptions(title="RCA", runbook_texts={"stock-rollback": runbook["body"]})
    )
    assert (
        quoted.splitlines()[2]
        == f"**Incident:** `{finding['incident_id']}` (finding `{finding['finding_id']}`)  "
    )
    assert "](/" not in quoted and "**Roll back stock** (`stock-rollback`, text below)" in quoted
    assert "> 1. Check the version" in quoted
    assert "| deploy | 3.1.0 | Deployed stock 3.1.0 |" in quoted
    linked = render_report(
        finding,
        ReportOptions(
            runbook_url_base="https://git.example.com/ops/blob/main/",
            knowledge_dir=tmp_path / "knowledge",
            pictures=[("service map", "p-service-map.png")],
        ),
    )
    assert "[Roll back stock](https://git.example.com/ops/blob/main/runbooks/stock.md)" in linked
    assert "![service map](p-service-map.png)" in linked and "> 1. Check" not in linked


def test_detection_time_is_on_the_logs_clock():
    window, baseline, anomalies, ranking = make_inputs()
    inputs = dict(
        system="s", window=WINDOW, window_events=window, baseline_events=baseline, anomalies=anomalies
    )
    live = build_finding(**inputs, ranking=ranking, detected_at=WINDOW[1] + timedelta(minutes=2))
    replay = build_finding(**inputs, ranking=ranking, detected_at=WINDOW[1] + timedelta(days=260))
    assert live["detection_time"] == live["detected_at"] and not live["replay"]
    assert replay["replay"] and replay["detection_time"] == "2026-03-10T03:00:00Z"


def test_service_impact_counts_lines_and_error_lines_per_service_with_the_baseline_scaled():
    window = pl.DataFrame(
        {
            "service": ["api", "api", "api", "db", "cache", "api"],
            "level": ["INFO", "ERROR", None, "FATAL", "ERROR", "WARN"],
        }
    )
    baseline = pl.DataFrame(
        {"service": ["api"] * 4 + ["db"] * 2, "level": ["ERROR", "INFO", "INFO", None, "INFO", "ERROR"]}
    )
    impact = service_impact(window, baseline, ["api", "db", "web"], 0.5)
    assert impact == {
        "api": {"lines_window": 4, "errors_window": 1, "lines_baseline": 2.0, "errors_baseline": 0.5},
        "db": {"lines_window": 1, "errors_window": 1, "lines_baseline": 1.0, "errors_baseline": 0.5},
        "web": {"lines_window": 0, "errors_window": 0, "lines_baseline": 0.0, "errors_baseline": 0.0},
    }
    assert set(service_impact(window, None, ["cache"], 1.0)) == {"cache"}


def test_evidence_lists_one_signal_per_item_and_the_summary_names_the_strongest():
    """A ranked service's explanation is several signals joined by "; " (a quoted template may hold
    "; " too): the report lists them one per item, rounds expected counts to one decimal, and its
    summary names the signal of the highest score and points to the rest."""
    from logrca.rca.report_render import signals

    finding = shop_finding()
    top = finding["ranking"][0]
    top["explanation"] = (
        "log rate_drop (score 3.1): GET /a; b <*> — 18 lines vs 37.4 expected; "
        "trace trace_pattern (score 9.1): 23.0 of 32 traces deviate starting here; "
        "metric CpuUsage(m) (score 0.3): 10.7 vs its baseline median 9.5; "
        "anomalous callees it depends on: db"
    )
    assert (
        signals(top["explanation"])[0]
        == "log rate_drop (score 3.1): GET /a; b <*> — 18 lines vs 37.4 expected"
    )
    assert len(signals(top["explanation"])) == 4
    top["evidence"][0]["count_baseline"] = 37.40259740259741
    report = render_report(finding)
    summary = next(line for line in report.splitlines() if line.startswith("**Initial cause"))
    assert "trace trace\\_pattern (score 9.1)" in summary and "(and 3 more signals: see Evidence)" in summary
    assert (
        "- trace trace\\_pattern (score 9.1): 23.0 of 32 traces deviate starting here" in report.splitlines()
    )
    assert (
        "- log rate\\_drop (score 3.1): GET /a; b &lt;\\*&gt; — 18 lines vs 37.4 expected"
        in report.splitlines()
    )
    assert "| 37.4 |" in report and "37.402" not in report


def test_impact_scales_a_baseline_of_minutes_apart_by_the_time_they_cover():
    """Fault-free minutes of another day: the expected counts come from the ten minutes the two
    files cover, not from the day between the first baseline line and the window."""
    from logrca.rca.report import _baseline_scale

    day_before = datetime(2026, 3, 9, 10, tzinfo=UTC)
    rows = [
        (day_before + timedelta(minutes=start + m), f"normal-{start}.log")
        for start in (0, 600)
        for m in (0, 5)
    ]
    baseline = pl.DataFrame(rows, schema=["timestamp", "source_file"], orient="row").with_columns(
        pl.col("timestamp").dt.cast_time_unit("us")
    )
    window = (datetime(2026, 3, 10, 10, tzinfo=UTC), datetime(2026, 3, 10, 10, 20, tzinfo=UTC))
    assert _baseline_scale(baseline, window) == pytest.approx(2.0, rel=1e-6)


def test_a_fault_seen_only_in_spans_or_metrics_is_a_finding_when_it_stands_out():
    """A slow database changes no log line: with no log anomaly, a ranked service whose trace
    evidence reaches the detection threshold still makes a finding; a metric alone does not."""
    _, _, anomalies, ranking = make_inputs()
    ranking = ranking.with_columns(
        pl.Series("trace_score", [1.0, 0.5]), pl.Series("metric_score", [9.0, 0.0])
    )
    loud = ranking.with_columns(pl.Series("trace_score", [9.0, 0.5]))

    def finding(ranked):
        return shop_finding(anomalies=anomalies.clear(), ranking=ranked)

    found = finding(loud)
    assert found["root_cause"] == "stock" and found["affected_services"] == ["stock"]
    assert found["window_start"] == "2026-03-10T02:20:01Z" and found["window_end"] == "2026-03-10T03:00:00Z"
    assert finding(ranking) is None  # trace scores 1.0 and 0.5 (the metric's 9.0 felt by no request)


def test_a_window_without_incident_still_lists_its_changes():
    restart = {
        "timestamp": "2026-03-10T02:22:00+00:00",
        "service": "gateway",
        "kind": "restart",
        "version": None,
        "message": "Shutting down gateway: liveness probe failed",
    }
    report = render_report(None, changes=[restart, dict(restart, timestamp="2026-03-10T02:24:00+00:00")])
    assert report.startswith("# ") and "No incident" in report
    assert "| 02:22:00.000 | `gateway` | restart |" in report and "liveness probe failed" in report
    assert "| 02:24:00.000 |" in report
    assert "Changes" not in render_report(None) and "Changes" not in render_report(None, changes=[])
