"""The analysis reads the window without its messages but those of the lines detection may quote: what
it finds, samples included, is what it finds with every message read (``with_quoted_messages``)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from logrca.assets.analysis import analysed_lines, with_quoted_messages
from logrca.rca.detect import detect_anomalies
from logrca.rca.detect_rules import DetectionConfig, RuleConfig, quoted_rows, reads_every_message

T0 = datetime(2026, 3, 10, 1, tzinfo=UTC)
KEY = "2026-03-10-01:00"


def _partition(seed: int, n: int = 4000) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Lines of an hour (times in whole seconds: many ties) and their templates; later in the hour,
    new templates and more errors."""
    rng = random.Random(seed)
    rows, templates = [], []
    for i in range(n):
        late = i > n // 2
        template = rng.randrange(12 if late else 8)
        level = rng.choice(["INFO", "WARN", "ERROR", None] if late else ["INFO", "INFO", "WARN", None])
        second = rng.randrange(2400, 3600) if late else rng.randrange(0, 3600)
        text = rng.choice(["ok", "request failed", "timeout talking to db", "done"])
        rows.append((T0 + timedelta(seconds=second), f"svc{rng.randrange(3)}", level, f"{text} #{i}"))
        templates.append((template, f"template {template} <*>"))
    lines = pl.DataFrame(rows, schema=["timestamp", "service", "level", "message"], orient="row")
    lines = lines.with_columns(pl.col("timestamp").dt.cast_time_unit("us"))
    return lines, pl.DataFrame(templates, schema=["template_id", "template"], orient="row")


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("alert_minute", [None, 35])
def test_detection_on_the_quoted_messages_finds_what_it_finds_on_all_of_them(tmp_path, seed, alert_minute):
    lines, templates = _partition(seed)
    lines.write_parquet(tmp_path / "raw.parquet")
    scan = pl.scan_parquet(tmp_path / "raw.parquet")
    start = T0 + timedelta(minutes=alert_minute) if alert_minute else T0 + timedelta(minutes=30)
    window = (start, T0 + timedelta(hours=1))
    config = DetectionConfig(rules=[RuleConfig(name="errors", level="ERROR", min_count=3)], min_new_count=1)
    assert not reads_every_message(config)
    full = pl.concat([lines, templates], how="horizontal_extend")
    read = pl.concat([analysed_lines(scan, KEY), templates], how="horizontal_extend")
    assert read["message"].null_count() > 0.7 * read.height  # the levelled lines' are not read
    quoted = with_quoted_messages(read, window, scan, KEY)
    assert quoted["message"].null_count() > 0.5 * read.height
    baseline = (T0, start)
    found = detect_anomalies(full, window=window, baseline=baseline, config=config)
    assert found.height >= 5 and found["sample"].null_count() == 0
    assert set(found["kind"]) >= {"new_template", "error_burst", "rule"}
    assert_frame_equal(detect_anomalies(quoted, window=window, baseline=baseline, config=config), found)


def test_the_quoted_rows_are_the_first_of_each_service_template_and_level_ties_included():
    times = [T0 + timedelta(minutes=m) for m in (5, 5, 7, 1, 40, 41)]
    events = pl.DataFrame(
        {
            "timestamp": times,
            "service": ["a", "a", "a", "b", "a", "a"],
            "template_id": [1, 1, 1, 1, 1, 2],
            "level": ["INFO", "INFO", "INFO", "INFO", "INFO", None],
        }
    )
    window = (T0 + timedelta(minutes=30), T0 + timedelta(hours=1))
    # before the window: a's two tied first lines, b's; in it: a's template 1 and template 2
    assert quoted_rows(events, window).to_list() == [0, 1, 3, 4, 5]


def test_a_rule_with_a_pattern_reads_every_message():
    assert reads_every_message(DetectionConfig(rules=[RuleConfig(name="oom", pattern="OutOfMemory")]))
