"""Template mining: drain3 templates for every event, with ids stable across partitions and re-runs."""

import shutil
import tempfile
import time
from pathlib import Path

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
from logrca.parsers.templates.batches import mine_to_files
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


#: Spill folders are named ``log_templates-<run id>-<random>``: the run that owns one is known.
SPILL_PREFIX = "log_templates-"
_RUN_ID_LENGTH = 36


def _remove_stale_spills(context: AssetExecutionContext, spill_root: Path) -> None:
    """Delete spill folders whose run is over (a killed step never reached its clean-up).

    A folder of a run still going (another partition, maybe on another worker) is left alone; the
    Dagster instance, shared by every worker, says which runs are.
    """
    for folder in spill_root.glob(f"{SPILL_PREFIX}*"):
        run_id = folder.name[len(SPILL_PREFIX) :][:_RUN_ID_LENGTH]
        run = context.instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            shutil.rmtree(folder, ignore_errors=True)
            context.log.info(f"removed {folder.name}: spill of a run that is over ({run_id})")


def log_templates(
    context: AssetExecutionContext,
    logrca: LogrcaConfigResource,
    raw_logs: pl.LazyFrame,
    baseline_logs: pl.LazyFrame,
):
    """Events with their drain3 template id, template and parameters; the fault-free events first, same miner.

    Streams: the events are read from their Parquet files a batch at a time, each mined batch is
    written to a spill folder, and the outputs are lazy scans of it that the IO manager sinks, so
    memory follows the batch (``mine_to_files``), not the partition.
    """
    config = logrca.load()
    state_path = miner_state_path(logrca)
    spill_root = logrca.path("spill")
    spill_root.mkdir(exist_ok=True)
    _remove_stale_spills(context, spill_root)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"{SPILL_PREFIX}{context.run.run_id}-", dir=spill_root) as spill:
        with logrca.locked(f"templates-{config.system}"):
            miner = TemplateMiner(config.templates.model_copy(update={"state_path": state_path}))
            known_before = miner.templates().height
            # the reference first, as a case's analysis reads it; the next batch masked ahead on a thread
            rows = config.templates.batch_size
            baseline = mine_to_files(baseline_logs, miner, Path(spill, "baseline"), batch_rows=rows)
            mined = mine_to_files(raw_logs, miner, Path(spill, "events"), batch_rows=rows)
            miner.save(state_path)
            known_after = miner.templates().height
        seconds = time.perf_counter() - started
        yield Output(
            baseline.events, output_name="baseline_templates", metadata={"dagster/row_count": baseline.rows}
        )
        yield Output(
            mined.events,
            output_name="log_templates",
            metadata={
                "dagster/row_count": mined.rows,
                "templates_in_partition": mined.lines_per_template.height,
                "templates_known": known_after,
                "new_templates": known_after - known_before,
                "lines_per_second": round(mined.rows / seconds) if seconds else 0,
                "state_file": str(state_path),
                "top_templates": MetadataValue.md(frame_table(mined.lines_per_template, limit=15)),
            },
        )
    yield AssetCheckResult(
        check_name="every_event_has_a_template",
        asset_key="log_templates",
        passed=mined.missing_ids == 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={"events_without_template": mined.missing_ids},
    )


def mining_assets(plan: PartitionPlan) -> list:
    """The assets of this module on the partitions of ``plan`` (built with the Definitions)."""
    outs = {
        # LazyFrame outputs: dagster-polars sinks them (streaming) instead of collecting a whole frame
        "log_templates": AssetOut(
            io_manager_key="parquet_io", metadata=PARQUET_WRITE, dagster_type=pl.LazyFrame
        ),
        "baseline_templates": AssetOut(
            io_manager_key="parquet_io",
            dagster_type=pl.LazyFrame,
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
