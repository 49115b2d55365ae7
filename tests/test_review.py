"""Weekly review: counts, recurring problems, time to detect/resolve trends, follow-ups, chart; learning from confirmed incidents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from finding_factory import make_finding

from logrca.incidents.record import build_incident
from logrca.incidents.review import (
    evaluate_confirmed,
    incident_frame,
    past_incident_entry,
    weekly_review,
    write_past_incident,
)
from logrca.rca.knowledge import link_knowledge, load_past_incidents

WEEK_END = datetime(2031, 3, 8, tzinfo=UTC)


def incidents() -> list[dict]:
    made = []
    # payments fails three times with the same template (two weeks), inventory once, gateway once
    for hour, service, template, delay in (
        (0, "payments", 7, 4),
        (30, "payments", 7, 6),
        (-150, "payments", 7, 10),
        (5, "inventory", 21, 2),
        (8, "gateway", 33, 20),
    ):
        finding = make_finding(
            hour=hour, service=service, templates=((template, f"error {template} <*>"),), delay_minutes=delay
        )
        made.append(build_incident(finding, now=datetime.fromisoformat(finding["detected_at"])))
    made[0].update(
        status="resolved",
        resolved_at=(datetime.fromisoformat(made[0]["detected_at"]) + timedelta(minutes=90)).isoformat(),
        confirmed_cause={"service": "payments"},
    )
    made[2].update(
        status="reviewed",
        resolved_at=(datetime.fromisoformat(made[2]["detected_at"]) + timedelta(minutes=30)).isoformat(),
        confirmed_cause={"service": "payments"},
    )
    made[3]["pending_deliveries"] = [{"event": "opened", "channel": "webhook", "target": "http://x"}]
    made[4]["confirmed_cause"] = {"service": "checkout"}  # ranked 2nd
    return made


def test_frame_measures_time_to_detect_and_resolve():
    frame = incident_frame(incidents())
    assert frame["ttd_minutes"].to_list() == [4.0, 6.0, 10.0, 2.0, 20.0]
    assert frame["ttr_minutes"].to_list()[:3] == [90.0, None, 30.0]
    assert frame["week"].to_list()[0] == "2031-W10"


def test_weekly_review_content():
    review = weekly_review(incidents(), week_end=WEEK_END, weeks=4)
    text = review.markdown
    assert review.stats["incidents_week"] == 4 and review.stats["incidents_range"] == 5
    assert review.stats["recurring_templates"] == 3  # template 7 (x3) and the callers' templates 100, 101
    assert review.stats["recurring_causes"] == 1
    assert "| payments | 3 |" in text  # same root cause, 3 incidents
    for heading in (
        "## By service",
        "## By category",
        "## By owner",
        "## Recurring problems",
        "## Time to detect and to resolve",
        "## Open follow-ups",
    ):
        assert heading in text
    assert "1 alert not delivered" in text and "resolved, review pending" in text
    assert review.stats["median_ttd_minutes"] == pytest.approx(5.0)
    trend_rows = [line for line in text.splitlines() if line.startswith("| 2031-W")]
    assert any(line.startswith("| 2031-W09 | 1 | 10.0 | 30.0 |") for line in trend_rows)
    assert review.chart_png.startswith(b"\x89PNG") and len(review.chart_png) > 5000


def test_empty_review_still_renders():
    review = weekly_review([], week_end=WEEK_END)
    assert "0 incidents this week" in review.markdown and review.chart_png.startswith(b"\x89PNG")


def test_confirmed_incidents_become_knowledge_and_evaluate(tmp_path):
    made = incidents()
    result = evaluate_confirmed(made)
    assert result["cases"] == 3
    assert result["AC@1"] == pytest.approx(2 / 3) and result["AC@3"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="not confirmed"):
        past_incident_entry(made[1])
    write_past_incident(made[0], tmp_path / "incidents")
    past = load_past_incidents(tmp_path / "incidents")
    assert past[0]["root_cause_service"] == "payments" and "error 7 <*>" in past[0]["templates"]
    linked = link_knowledge(
        root_cause="payments", services=["payments"], texts=["error 7 <*>"], runbooks=[], past_incidents=past
    )
    assert linked["similar_incidents"][0]["id"] == made[0]["incident_id"]


def test_archived_incidents_count_but_leave_the_follow_ups():
    from logrca.incidents.review import follow_ups

    made = incidents()
    before = follow_ups(incident_frame(made))
    assert made[3]["incident_id"] in before["incident_id"].to_list()  # still open, alert not delivered
    made[3]["status"] = "archived"  # e.g. a false alarm closed without review
    after = follow_ups(incident_frame(made))
    assert made[3]["incident_id"] not in after["incident_id"].to_list()
    assert after.height == before.height - 1
    assert (
        weekly_review(made, week_end=WEEK_END, weeks=4).stats["incidents_week"] == 4
    )  # archived still counts


def test_an_incident_a_rerun_replaced_after_a_person_moved_it_stays_a_follow_up_until_archived():
    """It no longer counts (an earlier analysis, not an incident) but someone still holds it."""
    from logrca.incidents.review import follow_ups

    made = incidents()
    made[1].update(status="acknowledged", withdrawn_at="2031-03-06T10:00:00+00:00")
    made[4].update(status="mitigated", superseded_by="INC-X")
    items = dict(follow_ups(incident_frame(made)).select("incident_id", "follow_up").iter_rows())
    assert items[made[1]["incident_id"]] == (
        "withdrawn (a re-run found no incident): archive it when done; still acknowledged"
    )
    assert items[made[4]["incident_id"]] == "superseded by INC-X: archive it when done; still mitigated"
    review = weekly_review(made, week_end=WEEK_END, weeks=4)
    assert review.stats["incidents_week"] == 2  # of the four this week, the two still standing
    assert review.stats["follow_ups"] == len(items) and "superseded by INC-X" in review.markdown
    for replaced in (made[1], made[4]):
        replaced["status"] = "archived"
    assert not {made[1]["incident_id"], made[4]["incident_id"]} & set(
        follow_ups(incident_frame(made))["incident_id"]
    )


@pytest.mark.parametrize("weeks", [1, 8])
def test_the_trend_shows_as_many_weeks_as_asked(weeks):
    """A review ending on a Thursday, with an incident on its Monday and one in the ninth ISO week before:
    one more ISO week was shown than asked for (the partial week at each end)."""
    thursday = datetime(2031, 3, 13, 9, tzinfo=UTC)
    made = [
        build_incident(make_finding(hour=h), now=thursday)
        for h in (-45 * 24, 24 * 7 + 3)  # Fri 2031-01-17 (8 weeks before, and 6 days) and Mon 2031-03-10
    ]
    review = weekly_review(made, week_end=thursday, weeks=weeks)
    trend_rows = [line for line in review.markdown.splitlines() if line.startswith("| 2031-W")]
    assert [row.split(" | ")[0] for row in trend_rows][-1] == "| 2031-W11"
    assert len(trend_rows) == weeks and review.stats["incidents_week"] == 1
    assert f"in the last {weeks} calendar week{'s' if weeks > 1 else ''};" in review.markdown
