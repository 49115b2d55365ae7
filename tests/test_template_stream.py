"""Template mining streamed batch by batch from Parquet to Parquet: same lines as the whole-frame path."""

from __future__ import annotations

import os
import time
import uuid

import polars as pl
import pytest
import yaml
from pipeline_support import copy_example, materialize_partition, pipeline_definitions
from test_templates import sample

from logrca.assets.config import load_config
from logrca.parsers.templates.batches import batch_bounds, frame_batches, mine_in_batches, mine_to_files
from logrca.parsers.templates.miner import TemplateMiner
from logrca.parsers.templates.parameters import line_parameters


def test_batch_bounds_cover_the_rows_once_with_a_small_first_batch():
    assert batch_bounds(0, 100) == [(0, 0)]  # one empty batch: the result still has its columns
    assert batch_bounds(100, 100) == [(0, 100)]
    assert batch_bounds(450, 100) == [(0, 25), (25, 125), (125, 225), (225, 325), (325, 425), (425, 450)]
    with pytest.raises(ValueError, match="batch_rows"):
        batch_bounds(10, 0)


def test_frame_batches_of_a_parquet_scan_are_read_one_batch_at_a_time(tmp_path):
    path = tmp_path / "events.parquet"
    pl.DataFrame({"line_no": range(1000)}).write_parquet(path, row_group_size=64)
    batches = frame_batches(pl.scan_parquet(path), 300)
    first = next(batches)
    assert isinstance(first, pl.DataFrame) and first.height == 75  # only the first slice is collected
    rest = list(batches)
    assert [b.height for b in rest] == [300, 300, 300, 25]
    assert pl.concat([first, *rest])["line_no"].to_list() == list(range(1000))


@pytest.mark.parametrize("system", ["OpenSSH", "HDFS", "Apache"])
def test_mine_to_files_gives_the_lines_mine_in_batches_gives(shared_data, tmp_path, system):
    """Ids, final templates and parameters line for line, from a lazy Parquet scan, several batches."""
    messages, config = sample(shared_data, system)
    events = pl.DataFrame({"message": messages, "line_no": range(1, len(messages) + 1)})
    events.write_parquet(tmp_path / "events.parquet")
    expected = mine_in_batches(events, TemplateMiner(config), batch_rows=300)
    miner = TemplateMiner(config)
    streamed = mine_to_files(
        pl.scan_parquet(tmp_path / "events.parquet"), miner, tmp_path / "spill", batch_rows=300
    )
    got = streamed.events.collect()
    assert got.equals(expected)
    assert streamed.rows == len(messages) and streamed.missing_ids == 0
    assert len(list((tmp_path / "spill").glob("*.parquet"))) == 8  # 75 + 6 x 300 + 125 rows
    lines = expected.group_by("template_id", "template").agg(pl.len().alias("lines"))
    assert streamed.lines_per_template.sort("template_id").equals(
        lines.select("template_id", "template", pl.col("lines").cast(pl.UInt32)).sort("template_id")
    )
    assert streamed.lines_per_template["lines"].is_sorted(descending=True)
    assert streamed.folder == tmp_path / "spill" and len(streamed.files) == 8


def test_only_part_files_whose_templates_changed_later_are_written_again(shared_data, tmp_path):
    """A fresh miner generalises templates of early batches later, and those part files get the final
    ones; a miner that has seen these lines before (templates settled) writes every part file once."""
    messages, config = sample(shared_data, "OpenSSH")
    events = pl.DataFrame({"message": messages, "line_no": range(1, len(messages) + 1)})
    miner = TemplateMiner(config)
    fresh = mine_to_files(events.lazy(), miner, tmp_path / "fresh", batch_rows=300, with_params=False)
    assert 0 < fresh.rewritten < len(fresh.files)
    expected = mine_in_batches(events, TemplateMiner(config), batch_rows=300, with_params=False)
    assert fresh.events.collect().equals(expected)
    settled = mine_to_files(events.lazy(), miner, tmp_path / "settled", batch_rows=300, with_params=False)
    assert settled.rewritten == 0
    final = miner.templates().select("template_id", pl.col("template").alias("final"))
    got = settled.events.collect().join(final, on="template_id", how="left")
    assert got.height == len(messages) and got.filter(pl.col("template") != pl.col("final")).is_empty()


def test_the_io_manager_moves_part_files_into_place_over_an_earlier_output(tmp_path):
    """A folder of part files becomes the partition's output by a rename, over an earlier single file
    or folder, and its frame then scans them there (Dagster's in-process result holds it); a frame
    written later over a folder replaces it with a file."""
    from dagster import build_output_context
    from upath import UPath

    from logrca.assets.resources import BoundedParquetIOManager, parquet_parts

    manager = BoundedParquetIOManager(base_dir=str(tmp_path / "parquet"))
    context = build_output_context(definition_metadata={"compression": "zstd"}, dagster_type=None)
    target = UPath(tmp_path / "parquet" / "p.parquet")
    target.parent.mkdir(parents=True)
    pl.DataFrame({"line_no": [0]}).write_parquet(target)  # an earlier run's single file
    for run in range(2):  # over the file, then over the folder the first move left
        folder = tmp_path / f"spill-{run}"
        folder.mkdir()
        for number in range(3):
            pl.DataFrame({"line_no": [run, number]}).write_parquet(folder / f"batch-{number:06d}.parquet")
        frame = parquet_parts(folder)
        manager.sink_df_to_path(context, frame, target)
        assert not folder.exists() and sorted(p.name for p in target.parent.iterdir()) == ["p.parquet"]
        assert pl.read_parquet(target)["line_no"].to_list() == [run, 0, run, 1, run, 2]
        assert frame.collect()["line_no"].to_list() == [run, 0, run, 1, run, 2]  # the frame follows its files
    manager.write_df_to_path(context, pl.DataFrame({"line_no": [7]}), target)
    assert target.is_file() and pl.read_parquet(target)["line_no"].to_list() == [7]


def test_mine_to_files_of_no_events_keeps_the_columns(shared_data, tmp_path):
    messages, config = sample(shared_data, "OpenSSH")
    empty = pl.DataFrame({"message": messages[:0], "line_no": pl.Series([], dtype=pl.Int64)})
    streamed = mine_to_files(empty.lazy(), TemplateMiner(config), tmp_path / "spill")
    assert streamed.rows == 0 and streamed.lines_per_template.height == 0
    assert streamed.events.collect().columns == mine_in_batches(empty, TemplateMiner(config)).columns


def test_the_asset_writes_what_the_whole_partition_path_gives(tmp_path):
    """The ``log_templates`` asset (streamed) against mining the loaded partition whole with a fresh
    miner, and ``log_parameters`` row for row against its stored templates."""
    config_path = copy_example(tmp_path / "shop") / "logrca.yaml"
    config = yaml.safe_load(config_path.read_text())
    config.setdefault("templates", {})["batch_size"] = 4_000  # several batches: the spill and its sink
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    data_dir = tmp_path / "data"
    partition = "2026-03-10-01:00"
    selection = ["raw_logs", "quarantined_lines", "baseline_logs", "log_templates", "baseline_templates"]
    selection += ["log_parameters"]
    # change_events comes out of the analysis, which reads log_templates without its params column,
    # the partition's change events (log_changes) and its fault-free spans (none here)
    selection += ["log_changes", "change_events", "baseline_spans"]
    stale = data_dir / "spill" / f"log_templates-{uuid.uuid4()}-killed"  # a run that is over, killed
    stale.mkdir(parents=True)
    (stale / "batch-0.parquet").write_bytes(b"left behind")
    for path in (stale / "batch-0.parquet", stale):  # untouched for two days (its run is unknown here)
        os.utime(path, (time.time() - 2 * 86400,) * 2)
    young = data_dir / "spill" / f"log_templates-{uuid.uuid4()}-another-instance"
    young.mkdir()
    result = materialize_partition(pipeline_definitions(config_path, data_dir=data_dir), selection, partition)
    parquet = data_dir / "parquet"
    miner = TemplateMiner(load_config(config_path).templates)
    whole = {
        name: mine_in_batches(
            pl.read_parquet(parquet / name / f"{partition}.parquet"),
            miner,
            batch_rows=4_000,
            with_params=False,
        )
        for name in ("baseline_logs", "raw_logs")  # in the asset's order: the fault-free events first
    }
    baseline, events = whole["baseline_logs"], whole["raw_logs"]
    assert events.height > 10_000
    # only the templates are stored, row for row with the lines (not a copy of them)
    stored_columns = ["template_id", "template"]
    assert pl.read_parquet(parquet / "log_templates" / f"{partition}.parquet").equals(
        events.select(stored_columns)
    )
    assert pl.read_parquet(parquet / "baseline_templates" / f"{partition}.parquet").equals(
        baseline.select(stored_columns)
    )
    params = pl.read_parquet(parquet / "log_parameters" / f"{partition}.parquet")
    assert params.columns == ["template_id", "params"] and params["template_id"].equals(events["template_id"])
    assert params["params"].equals(line_parameters(events["message"], events["template"], ()))
    # the batch files are gone once moved into place, and the stale ones; a young folder of a run this
    # instance does not know (another instance's, maybe) is left
    assert [path.name for path in (data_dir / "spill").iterdir()] == [young.name]
    metadata = next(
        m.metadata
        for m in result.asset_materializations_for_node("log_templates")
        if m.asset_key.path == ["log_templates"]
    )
    assert metadata["dagster/row_count"].value == events.height
    assert metadata["templates_in_partition"].value == events["template_id"].n_unique()
    # stored as the part files, moved into place (not read and written again)
    stored = parquet / "log_templates" / f"{partition}.parquet"
    assert stored.is_dir() and len(list(stored.glob("batch-*.parquet"))) == metadata["part_files"].value > 1
    assert 0 <= metadata["part_files_rewritten"].value <= metadata["part_files"].value
    assert metadata["dagster/column_schema"].schema.columns  # read from the folder where it lies now
    changes = pl.read_parquet(parquet / "change_events" / f"{partition}.parquet")
    assert ("inventory", "version_change", "2.4.0") in changes.select("service", "kind", "version").rows()


def test_a_failed_move_leaves_the_earlier_output_in_place(tmp_path):
    from logrca.assets.resources import _replace

    target = tmp_path / "p.parquet"
    pl.DataFrame({"line_no": [1]}).write_parquet(target)
    with pytest.raises(FileNotFoundError):
        _replace(tmp_path / "gone", target)  # nothing to move: the rename fails
    assert pl.read_parquet(target)["line_no"].to_list() == [1]
    assert [path.name for path in tmp_path.iterdir()] == ["p.parquet"]


def test_lines_and_templates_side_by_side_or_a_message_naming_the_stale_partition():
    """``log_templates`` stores the templates only; readers put ``raw_logs`` beside them, eager or lazy,
    one partition or a dict of them (a partition of lines not mined yet is left out). Counts that
    differ (raw_logs read again after mining) stop with the partition and the step to re-run."""
    from logrca.assets.mining import StaleTemplates, with_templates

    lines = {key: pl.DataFrame({"message": [f"{key} a", f"{key} b"]}) for key in ("h0", "h1", "h2")}
    templates = {
        key: pl.DataFrame({"template_id": [1, 2], "template": ["<*> a", "<*> b"]}) for key in ("h0", "h1")
    }
    joined = with_templates(lines, templates, "h1")
    assert sorted(joined) == ["h0", "h1"] and joined["h1"].columns == ["message", "template_id", "template"]
    assert joined["h1"]["message"].to_list() == ["h1 a", "h1 b"]
    lazy = with_templates({k: v.lazy() for k, v in lines.items()}, templates["h1"].lazy(), "h1")
    assert lazy.collect().equals(joined["h1"])
    with pytest.raises(StaleTemplates, match=r"partition h1: 3 lines but 2 templates.*re-run log_templates"):
        with_templates(lines | {"h1": pl.DataFrame({"message": ["x", "y", "z"]})}, templates, "h1")
    with pytest.raises(StaleTemplates, match="partition h3: no lines but 2 templates"):
        with_templates(lines, {"h3": templates["h0"]}, "h3")


def test_analysis_stops_on_lines_ingested_again_after_mining(tmp_path):
    """A partition's raw_logs rewritten after its templates were mined: the analysis fails, naming it."""
    config_path = copy_example(tmp_path / "shop") / "logrca.yaml"
    data_dir, partition = tmp_path / "data", "2026-03-10-01:00"
    defs = pipeline_definitions(config_path, data_dir=data_dir)
    selection = ["raw_logs", "quarantined_lines", "baseline_logs", "log_templates", "baseline_templates"]
    materialize_partition(defs, selection + ["raw_spans", "baseline_spans", "quarantined_spans"], partition)
    stored = data_dir / "parquet" / "raw_logs" / f"{partition}.parquet"
    lines = pl.read_parquet(stored)
    pl.concat([lines, lines.head(1)]).write_parquet(stored)  # one line more than was mined
    from dagster import materialize

    result = materialize(
        defs.assets,
        selection=["change_events"],
        partition_key=partition,
        resources=defs.resources,
        raise_on_error=False,
    )
    failures = [e.event_specific_data.error for e in result.all_events if e.is_step_failure]
    causes = [error.cause.message if error.cause else error.message for error in failures]
    assert not result.success and len(causes) == 1
    assert (
        f"StaleTemplates: partition {partition}: {lines.height + 1} lines but {lines.height} templates"
        in causes[0]
    )
    assert "re-run log_templates" in causes[0]
