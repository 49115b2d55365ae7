"""Change events are found once per partition (``log_changes``) and put together by the analysis; the
analysis reads a partition's messages only where a line has no level (and the window's quoted lines:
tests/test_quoted_messages.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
from pipeline_support import copy_example, materialize_partition, pipeline_definitions

from logrca.assets.analysis import analysed_lines
from logrca.pipelines.case_run import CASE_ASSETS

#: Every asset up to the change events, and up to the analysis (a case run's, without the report).
MINED = CASE_ASSETS[: CASE_ASSETS.index("log_changes") + 1]
ANALYSED = [name for name in CASE_ASSETS if name != "rca_report"]


def _version_changes(frame: pl.DataFrame) -> list[tuple]:
    rows = frame.filter(pl.col("kind") == "version_change").select("timestamp", "service", "version")
    return rows.rows()


def test_the_analysis_puts_the_earlier_partitions_changes_beside_its_own(tmp_path):
    """The example's inventory starts v2.4.0 at 01:20: a change of partition 01:00 only, which the
    analysis of 02:00 (its baseline) still lists and weighs."""
    config_path = copy_example(tmp_path / "shop") / "logrca.yaml"
    data_dir = tmp_path / "data"
    defs = pipeline_definitions(config_path, data_dir=data_dir)
    materialize_partition(defs, MINED, "2026-03-10-01:00")
    materialize_partition(defs, ANALYSED, "2026-03-10-02:00")
    parquet = data_dir / "parquet"
    started = (datetime(2026, 3, 10, 1, 20, tzinfo=UTC), "inventory", "2.4.0")
    earlier = pl.read_parquet(parquet / "log_changes" / "2026-03-10-01:00.parquet")
    own = pl.read_parquet(parquet / "log_changes" / "2026-03-10-02:00.parquet")
    together = pl.read_parquet(parquet / "change_events" / "2026-03-10-02:00.parquet")
    assert started in _version_changes(earlier)
    assert started not in _version_changes(own)
    assert started in _version_changes(together)
    assert together.height == earlier.height + own.height
    assert together["timestamp"].is_sorted()


def _scans(tmp_path, frames: dict[str, pl.DataFrame]) -> dict[str, pl.LazyFrame]:
    for key, frame in frames.items():
        frame.write_parquet(tmp_path / f"{key}.parquet")
    return {key: pl.scan_parquet(tmp_path / f"{key}.parquet") for key in frames}


def _lines(levels: list[str | None], messages: list[str]) -> pl.DataFrame:
    times = [datetime(2026, 3, 10, 1, i, tzinfo=UTC) for i in range(len(levels))]
    return pl.DataFrame({"timestamp": times, "service": "api", "level": levels, "message": messages})


def test_an_earlier_partition_keeps_only_the_messages_of_lines_without_a_level(tmp_path):
    scans = _scans(
        tmp_path,
        {
            "2026-03-10-00:00": _lines(["INFO", None, "ERROR"], ["a", "FATAL: b", "c"]),
            "2026-03-10-01:00": _lines(["INFO", "WARN"], ["d", "e"]),
        },
    )
    read = analysed_lines(scans, "2026-03-10-01:00")
    assert read["2026-03-10-00:00"]["message"].to_list() == [None, "FATAL: b", None]
    assert read["2026-03-10-01:00"]["message"].to_list() == [None, None]  # its quoted lines come later
    whole = analysed_lines(scans, "2026-03-10-01:00", whole_window=True)  # a user rule searches them
    assert whole["2026-03-10-01:00"]["message"].to_list() == ["d", "e"]
    for frame in read.values():
        assert frame.columns == ["timestamp", "service", "level", "message"]
        assert frame.schema["message"] == pl.Utf8


def test_an_earlier_partition_whose_lines_all_have_a_level_reads_no_message(tmp_path):
    scans = _scans(
        tmp_path,
        {
            "2026-03-10-00:00": _lines(["INFO", "ERROR"], ["a", "b"]),
            "2026-03-10-01:00": _lines(["INFO"], ["c"]),
        },
    )
    read = analysed_lines(scans, "2026-03-10-01:00")
    assert read["2026-03-10-00:00"]["message"].to_list() == [None, None]
    assert read["2026-03-10-00:00"].columns == ["timestamp", "service", "level", "message"]
    # a partition without earlier ones comes as one scan, read the same way
    alone = scans["2026-03-10-01:00"]
    assert analysed_lines(alone, "2026-03-10-01:00")["message"].to_list() == [None]
    assert analysed_lines(alone, "2026-03-10-01:00", whole_window=True)["message"].to_list() == ["c"]
