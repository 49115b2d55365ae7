"""Template mining streamed batch by batch from Parquet to Parquet: same lines as the whole-frame path."""

from __future__ import annotations

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
    # change_events comes out of the analysis, which reads log_templates without its params column
    # (and the partition's fault-free spans, none here)
    selection += ["change_events", "baseline_spans"]
    stale = data_dir / "spill" / f"log_templates-{uuid.uuid4()}-killed"  # a run that is over, killed
    stale.mkdir(parents=True)
    (stale / "batch-0.parquet").write_bytes(b"left behind")
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
    assert pl.read_parquet(parquet / "log_templates" / f"{partition}.parquet").equals(events)
    assert pl.read_parquet(parquet / "baseline_templates" / f"{partition}.parquet").equals(baseline)
    params = pl.read_parquet(parquet / "log_parameters" / f"{partition}.parquet")
    assert params.columns == ["template_id", "params"] and params["template_id"].equals(events["template_id"])
    assert params["params"].equals(line_parameters(events["message"], events["template"], ()))
    assert not any(
        (data_dir / "spill").iterdir()
    )  # the batch files are gone once written, and the stale ones
    metadata = next(
        m.metadata
        for m in result.asset_materializations_for_node("log_templates")
        if m.asset_key.path == ["log_templates"]
    )
    assert metadata["dagster/row_count"].value == events.height
    assert metadata["templates_in_partition"].value == events["template_id"].n_unique()
    changes = pl.read_parquet(parquet / "change_events" / f"{partition}.parquet")
    assert ("inventory", "version_change", "2.4.0") in changes.select("service", "kind", "version").rows()
