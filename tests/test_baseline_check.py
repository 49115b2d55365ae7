"""A partition analysed before its earlier partitions ran gets a thinner baseline (or its own lines
before the alert): the ``baseline_complete`` check says so (WARN) and names the run that fixes it."""

from __future__ import annotations

from pipeline_support import copy_example, materialize_partition, pipeline_definitions

from logrca.pipelines.case_run import CASE_ASSETS
from logrca.run_summary import check_lines

UP_TO_ANALYSIS = CASE_ASSETS[: CASE_ASSETS.index("analysis_window") + 1]


def _check(defs, key: str, instance):
    result = materialize_partition(defs, UP_TO_ANALYSIS, key, instance)
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == "baseline_complete"]
    return check, {k: getattr(v, "value", v) for k, v in check.metadata.items()}


def test_a_partition_run_before_its_baseline_hours_warns_until_it_is_run_again(tmp_path, instance):
    root = copy_example(tmp_path / "shop")
    defs = pipeline_definitions(root / "logrca.yaml", data_dir=tmp_path / "data")

    # the incident hour first, on a fresh data folder (the sensor runs landed hours side by side)
    check, meta = _check(defs, "2026-03-10-02:00", instance)
    assert not check.passed and check.severity.value == "WARN"
    assert (meta["found"], meta["asked"], meta["baseline"]) == (0, 2, "before-alert")
    assert check.description.startswith("0 of 2 earlier partitions found (baseline_partitions: 2)")
    assert check.description.endswith("logrca run --partition 2026-03-10-02:00")
    shown = check_lines(check.check_name, check.severity.value, check.description)
    assert len(shown) == 3 and shown[-1].endswith("logrca run --partition 2026-03-10-02:00")
    assert all(len(line.replace("[red]", "").replace("[/red]", "")) <= 80 for line in shown)

    # the first partition of the span has no earlier one by design; the second has one
    check, meta = _check(defs, "2026-03-10-00:00", instance)
    assert check.passed and meta["found"] == 0
    assert meta["note"] == (
        "first partition of the configured span (start 2026-03-10 00:00 UTC): no earlier partition exists"
    )
    check, meta = _check(defs, "2026-03-10-01:00", instance)
    assert check.passed and meta["found"] == 1 and "only 1 earlier" in meta["note"]

    check, meta = _check(defs, "2026-03-10-02:00", instance)
    assert check.passed and (meta["found"], meta["baseline"]) == (2, "partitions") and "note" not in meta


def test_an_earlier_partition_without_change_events_warns_with_the_runs_that_add_them(tmp_path, instance):
    """Partitions mined by a version before ``log_changes`` give the baseline their lines, not their
    change events: the check names them and the runs that add them."""
    root = copy_example(tmp_path / "shop")
    defs = pipeline_definitions(root / "logrca.yaml", data_dir=tmp_path / "data")
    before = [name for name in UP_TO_ANALYSIS if name not in ("log_changes", "analysis_window")]
    materialize_partition(defs, before, "2026-03-10-00:00", instance)
    _check(defs, "2026-03-10-01:00", instance)  # with its log_changes
    check, meta = _check(defs, "2026-03-10-02:00", instance)
    assert not check.passed and check.severity.value == "WARN"
    assert meta["without_log_changes"] == ["2026-03-10-00:00"]
    assert check.description.endswith("logrca run -p 2026-03-10-00:00 -p 2026-03-10-02:00")
    shown = check_lines(check.check_name, check.severity.value, check.description)
    assert len(shown) <= 3 and all(
        len(line.replace("[red]", "").replace("[/red]", "")) <= 80 for line in shown
    )

    _check(defs, "2026-03-10-00:00", instance)  # the run the check names
    check, meta = _check(defs, "2026-03-10-02:00", instance)
    assert check.passed and "without_log_changes" not in meta
