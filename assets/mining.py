"""Template mining: drain3 templates for every event, with ids stable across partitions and re-runs."""

import time

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetOut,
    MetadataValue,
    Output,
    multi_asset,
)

from logrca.assets.partitions import PartitionPlan
from logrca.assets.resources import PARQUET_WRITE, LogrcaConfigResource
from logrca.parsers.templates.batches import mine_in_batches
from logrca.parsers.templates.miner import TemplateMiner
from logrca.rca.markdown import frame_table


def miner_state_path(logrca: LogrcaConfigResource):
    """Where the miner state of this config's system lives (``templates.state_path`` or the data folder)."""
    config = logrca.load()
    return (
        config.resolve(config.templates.state_path)
        if config.templates.state_path
        else logrca.path("templates", f"{config.system}.drain3.json")
    )


def log_templates(
    context: AssetExecutionContext,
    logrca: LogrcaConfigResource,
    raw_logs: pl.DataFrame,
    baseline_logs: pl.DataFrame,
):
    """Events with their drain3 template id, template and parameters; the fault-free events first, same miner."""
    config = logrca.load()
    state_path = miner_state_path(logrca)
    started = time.perf_counter()
    with logrca.locked(f"templates-{config.system}"):
        miner = TemplateMiner(config.templates.model_copy(update={"state_path": state_path}))
        known_before = miner.templates().height
        baseline = mine_in_batches(baseline_logs, miner)  # the reference first, as a case's analysis reads it
        mined = mine_in_batches(raw_logs, miner)  # bounded batches, the next one masked ahead on a thread
        miner.save(state_path)
        known_after = miner.templates().height
    seconds = time.perf_counter() - started
    counts = (
        mined.group_by("template_id", "template").agg(pl.len().alias("lines")).sort("lines", descending=True)
    )
    yield Output(baseline, output_name="baseline_templates", metadata={"dagster/row_count": baseline.height})
    yield Output(
        mined,
        output_name="log_templates",
        metadata={
            "dagster/row_count": mined.height,
            "templates_in_partition": counts.height,
            "templates_known": known_after,
            "new_templates": known_after - known_before,
            "lines_per_second": round(mined.height / seconds) if seconds else 0,
            "state_file": str(state_path),
            "top_templates": MetadataValue.md(frame_table(counts, limit=15)),
        },
    )
    missing = int(mined["template_id"].null_count())
    yield AssetCheckResult(
        check_name="every_event_has_a_template",
        asset_key="log_templates",
        passed=missing == 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={"events_without_template": missing},
    )


def mining_assets(plan: PartitionPlan) -> list:
    """The assets of this module on the partitions of ``plan`` (built with the Definitions)."""
    outs = {
        "log_templates": AssetOut(io_manager_key="parquet_io", metadata=PARQUET_WRITE),
        "baseline_templates": AssetOut(
            io_manager_key="parquet_io",
            metadata=PARQUET_WRITE,
            description="Fault-free events (baseline_logs) with templates of the same miner.",
        ),
    }
    return [
        multi_asset(
            outs=outs,
            partitions_def=plan.partitions,
            group_name="logrca",
            name="log_templates",
            check_specs=[AssetCheckSpec("every_event_has_a_template", asset="log_templates")],
        )(log_templates),
    ]
