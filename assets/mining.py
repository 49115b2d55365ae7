"""Template mining: drain3 templates for every event, with ids stable across partitions and re-runs."""

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetOut,
    MetadataValue,
    Output,
    asset,
    multi_asset,
)

from logrca.assets.partitions import PartitionPlan
from logrca.assets.resources import PARQUET_PART_WRITE, PARQUET_WRITE, LogrcaConfigResource, parquet_parts
from logrca.parsers.templates.batches import frame_batches, mine_to_files, write_spill
from logrca.parsers.templates.miner import TEMPLATE_COLUMNS, TemplateMiner
from logrca.parsers.templates.parameters import line_parameters
from logrca.rca.markdown import frame_table


def miner_state_path(logrca: LogrcaConfigResource):
    """Where the miner state of this config's system lives (``templates.state_path`` or the data folder)."""
    config = logrca.load()
    return (
        config.resolve(config.templates.state_path)
        if config.templates.state_path
        else logrca.path("templates", f"{config.system}.drain3.json")
    )


#: Spill folders are named ``<asset>-<run id>-<random>``: the run that owns one is known.
SPILL_PREFIX = "log_templates-"
PARAMS_SPILL_PREFIX = "log_parameters-"
_RUN_ID_LENGTH = 36


#: A spill folder of a run the instance does not know is left this long (seconds) before it is removed.
UNKNOWN_RUN_SPILL_AGE = 24 * 3600


def _remove_stale_spills(context: AssetExecutionContext, spill_root: Path, prefix: str) -> None:
    """Delete spill folders whose run is over (a killed step never reached its clean-up).

    A folder of a run still going (another partition, maybe on another worker) is left alone; the
    Dagster instance, shared by every worker, says which runs are. A run it does not know may be
    another instance's on the same data folder (a command-line run beside the daemon): its folder
    is removed only once untouched for :data:`UNKNOWN_RUN_SPILL_AGE`.
    """
    for folder in spill_root.glob(f"{prefix}*"):
        run_id = folder.name[len(prefix) :][:_RUN_ID_LENGTH]
        run = context.instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            continue
        if run is None and time.time() - _last_touched(folder) < UNKNOWN_RUN_SPILL_AGE:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        context.log.info(f"removed {folder.name}: spill of a run that is over ({run_id})")


def _last_touched(folder: Path) -> float:
    """The latest modification time of ``folder`` and what is in it (0 when it is gone)."""
    try:
        return max(path.stat().st_mtime for path in [folder, *folder.rglob("*")])
    except OSError:
        return 0.0


@contextmanager
def _spill_folder(context: AssetExecutionContext, logrca: LogrcaConfigResource, prefix: str) -> Iterator[str]:
    """This run's spill folder ``<prefix><run id>-<random>`` under the data folder, removed on exit;
    the folders of runs that are over, left by killed steps, removed first."""
    spill_root = logrca.path("spill")
    spill_root.mkdir(exist_ok=True)
    _remove_stale_spills(context, spill_root, prefix)
    with tempfile.TemporaryDirectory(prefix=f"{prefix}{context.run.run_id}-", dir=spill_root) as spill:
        yield spill


#: What ``log_templates`` stores of each line: its template, row for row with ``raw_logs`` (same order,
#: same count), not a copy of the line. Readers put the two side by side (:func:`with_templates`).
STORED_COLUMNS = list(TEMPLATE_COLUMNS)
#: What mining reads of ``raw_logs``.
MINED_INPUTS = ["message"]

Frames = pl.DataFrame | pl.LazyFrame | dict[str, pl.DataFrame] | dict[str, pl.LazyFrame]


class StaleTemplates(ValueError):
    """``log_templates`` of a partition does not hold a row per line of its ``raw_logs``."""


def with_templates(lines: Frames, templates: Frames, partition_key: str | None = None) -> Frames:
    """Lines (``raw_logs``, ``baseline_logs``) beside their templates (``log_templates``, ``baseline_templates``).

    Both are one frame (one partition) or dicts by partition key, eager or lazy; a dict of lines
    may hold a partition not mined yet, which is left out (``partition_key`` picks the lines of a
    single templates frame). The columns are put side by side, row for row.

    Raises
    ------
    StaleTemplates
        When a partition's lines and templates differ in count: its ``raw_logs`` was read again
        after it was mined. The message names the partition and the step to re-run.
    """
    if isinstance(templates, dict):
        lines = lines if isinstance(lines, dict) else {partition_key: lines}
        return {key: _side_by_side(lines.get(key), frame, key) for key, frame in templates.items()}
    if isinstance(lines, dict):
        lines = lines.get(partition_key)
    return _side_by_side(lines, templates, partition_key)


def _side_by_side(lines, templates, key: str | None):
    counts = [row_count(lines), row_count(templates)]
    if counts[0] != counts[1]:
        where = f"partition {key}" if key else "the partition"
        raise StaleTemplates(
            f"{where}: {counts[0] if counts[0] is not None else 'no'} lines but {counts[1]} templates; its "
            "raw_logs was ingested again after it was mined: re-run log_templates for it "
            f"(logrca run -p {key or 'KEY'})"
        )
    return pl.concat([lines, templates], how="horizontal", strict=True)


def row_count(frame) -> int | None:
    """Rows of a frame (of a Parquet scan: from its metadata), or None when there is none."""
    if frame is None:
        return None
    return frame.height if isinstance(frame, pl.DataFrame) else frame.select(pl.len()).collect().item()


def log_templates(
    context: AssetExecutionContext,
    logrca: LogrcaConfigResource,
    raw_logs: pl.LazyFrame,
    baseline_logs: pl.LazyFrame,
):
    """Each line's drain3 template id and template, row for row with ``raw_logs``; the fault-free lines first, same miner.

    The parameters follow in ``log_parameters``, after the report: the analysis and the report do
    not read them, and they were a third of this step's work.

    Streams: the events are read from their Parquet files a batch at a time and each mined batch is
    written as a part file (``mine_to_files``), so memory follows the batch, not the partition. The
    folder of part files is the output: the IO manager moves it into place, and the partition is
    stored as ``<partition>.parquet/batch-NNNNNN.parquet``, read as one table. Only the template
    columns are stored (:data:`STORED_COLUMNS`): the line itself is ``raw_logs``' (:func:`with_templates`).
    """
    config = logrca.load()
    state_path = miner_state_path(logrca)
    started = time.perf_counter()
    with _spill_folder(context, logrca, SPILL_PREFIX) as spill:
        with logrca.locked(f"templates-{config.system}"):
            miner = TemplateMiner(config.templates.model_copy(update={"state_path": state_path}))
            known_before = miner.templates().height
            # the reference first, as a case's analysis reads it; the next batch masked ahead on a thread
            options = {
                "batch_rows": config.templates.batch_size,
                "with_params": False,
                "write_options": PARQUET_PART_WRITE,
                "columns": STORED_COLUMNS,
            }
            baseline = mine_to_files(baseline_logs, miner, Path(spill, "baseline"), **options)
            mined = mine_to_files(raw_logs, miner, Path(spill, "events"), **options)
            miner.save(state_path)
            known_after = miner.templates().height
        seconds = time.perf_counter() - started
        yield Output(
            parquet_parts(baseline.folder),
            output_name="baseline_templates",
            metadata={"dagster/row_count": baseline.rows},
        )
        yield Output(
            parquet_parts(mined.folder),
            output_name="log_templates",
            metadata={
                "dagster/row_count": mined.rows,
                "part_files": len(mined.files),
                "part_files_rewritten": mined.rewritten,
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


#: What ``log_parameters`` reads of ``raw_logs`` and ``log_templates`` side by side.
PARAMETER_INPUTS = ["template_id", "message", "template"]


def log_parameters(
    context: AssetExecutionContext,
    logrca: LogrcaConfigResource,
    raw_logs: pl.LazyFrame,
    log_templates: pl.LazyFrame,
):
    """Each line's parameters: its message's values where its template has ``<*>`` or a mask.

    Row for row with ``log_templates`` (same order, same count), with its ``template_id``; taken
    against the line's stored template (the cluster's template at the end of the partition). Runs
    after ``rca_report`` and, on one worker, after ``search_index`` too (lower priority), so the
    report does not wait for it, nor it for Elasticsearch; read a batch at a time and spilled like
    ``log_templates``, so memory follows the batch.
    """
    config = logrca.load()
    started, rows, files = time.perf_counter(), 0, []
    with _spill_folder(context, logrca, PARAMS_SPILL_PREFIX) as spill:
        lines = with_templates(raw_logs, log_templates, context.partition_key)
        total = row_count(log_templates)  # from the part files' metadata, not a column read
        batches = frame_batches(lines.select(PARAMETER_INPUTS), config.templates.batch_size, rows=total)
        for number, batch in enumerate(batches):
            params = line_parameters(batch["message"], batch["template"], config.templates.extra_delimiters)
            files.append(Path(spill, f"batch-{number:06d}.parquet"))
            write_spill(batch.select("template_id", params), files[-1])
            rows += batch.height
        seconds = time.perf_counter() - started
        yield Output(
            pl.scan_parquet(files),
            metadata={
                "dagster/row_count": rows,
                "lines_per_second": round(rows / seconds) if seconds else 0,
            },
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
            ins={
                "raw_logs": AssetIn(metadata={"columns": MINED_INPUTS}),
                "baseline_logs": AssetIn(metadata={"columns": MINED_INPUTS}),
            },
            check_specs=[AssetCheckSpec("every_event_has_a_template", asset="log_templates")],
        )(log_templates),
        asset(
            partitions_def=plan.partitions,
            group_name="logrca",
            io_manager_key="parquet_io",
            metadata=PARQUET_WRITE,
            dagster_type=pl.LazyFrame,
            ins={
                "raw_logs": AssetIn(metadata={"columns": MINED_INPUTS}),
                "log_templates": AssetIn(metadata={"columns": STORED_COLUMNS}),
            },
            # ordering only: the report first; below search_index when both are ready (Dagster's executors
            # take ready steps by dagster/priority), beside it on a second slot or worker
            deps=["rca_report"],
            op_tags={"dagster/priority": "-1"},
        )(log_parameters),
    ]
