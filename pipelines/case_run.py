"""Run the pipeline's assets on one incident case folder, in-process on a Dagster instance.

``logrca rca CASE_DIR`` and ``logrca eval rca DATASET`` go through here: the case folder becomes a
config (:func:`logrca.rca.cases.case_config`), its partition is materialized from ingestion to the
report, and the ranking is read from the ``root_causes`` output. There is no other analysis path.
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import yaml
from dagster import DagsterInstance, materialize

from logrca.assets.config import load_config
from logrca.assets.mining import with_templates
from logrca.assets.partitions import partitions_for
from logrca.pipelines.definitions import build_definitions
from logrca.pipelines.environment import deployment_from_env
from logrca.rca.case_analysis import Case
from logrca.rca.cases import case_config
from logrca.rca.report import change_entries
from logrca.rca.windows import described_window, window_frames

__all__ = ["CASE_ASSETS", "LOAD_ASSETS", "CaseRun", "load_case_frames", "run_case"]

#: What a case run materializes: every partitioned asset up to the report (no Elasticsearch, no incidents).
CASE_ASSETS = [
    "raw_logs",
    "baseline_logs",
    "quarantined_lines",
    "raw_spans",
    "baseline_spans",
    "quarantined_spans",
    "raw_metrics",
    "quarantined_metrics",
    "log_templates",
    "baseline_templates",
    "log_changes",
    "analysis_window",
    "anomalies",
    "signal_deviations",
    "service_graph",
    "root_causes",
    "change_events",
    "rca_report",
]


#: What :func:`load_case_frames` materializes: ingestion and templates, the analysis's inputs.
LOAD_ASSETS = [name for name in CASE_ASSETS[: CASE_ASSETS.index("log_templates")]] + [
    "log_templates",
    "baseline_templates",
]
_LOAD_OUTPUTS = (
    ("ingest_logs", "raw_logs"),
    ("ingest_logs", "baseline_logs"),
    ("log_templates", "log_templates"),
    ("log_templates", "baseline_templates"),
    ("ingest_spans", "raw_spans"),
    ("ingest_spans", "baseline_spans"),
    ("ingest_metrics", "raw_metrics"),
)


@dataclass
class CaseRun:
    """What one case's run produced: the ranking, the report's finding, the window and the run's counts."""

    name: str
    system: str
    run_id: str
    ranking: pl.DataFrame
    finding: dict | None
    window: dict
    quarantined: dict[str, int]
    #: the change events of the window (what a report without finding lists)
    changes: list[dict]


#: Dagster's console logger at warnings: the per-step debug events stay on the instance, off the terminal.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _output(result, node: str, name: str):
    value = result.output_for_node(node, name)  # streamed outputs (log_templates) load as a scan
    return value.collect() if isinstance(value, pl.LazyFrame) else value


@contextmanager
def _materialized(case_dir: Path, normal_dirs: list[Path] | None, instance, selection: list[str]):
    """Materialize ``selection`` for the case's partition; yields ``(config, result)`` while its files exist."""
    mapping = case_config(case_dir, normal_dirs)
    with tempfile.TemporaryDirectory(prefix="logrca-case-run-") as tmp:
        config_path = Path(tmp) / "logrca.yaml"
        config_path.write_text(yaml.safe_dump(mapping, sort_keys=False), encoding="utf-8")
        deployment = deployment_from_env(
            {
                "LOGRCA_CONFIG": str(config_path),
                "LOGRCA_DATA_DIR": str(Path(tmp) / "data"),
                "LOGRCA_EXECUTOR": "in_process",
            }
        )
        config = load_config(config_path)
        defs = build_definitions(config, deployment)
        result = materialize(
            defs.assets,
            selection=selection,
            partition_key=partitions_for(config).get_partition_keys()[0],
            resources=defs.resources,
            instance=instance or DagsterInstance.ephemeral(),
            raise_on_error=False,
            run_config=QUIET_LOGS,
            tags={"logrca/case": Path(case_dir).name},
        )
        if not result.success:
            failures = [e.message or "" for e in result.all_events if e.is_step_failure]
            raise ValueError(f"{case_dir}: the pipeline run failed: {'; '.join(failures)[:600]}")
        yield config, result


def run_case(
    case_dir: Path, *, normal_dirs: list[Path] | None = None, instance: DagsterInstance | None = None
) -> CaseRun:
    """Materialize the case's partition on ``instance`` (default: a fresh ephemeral one) in a temp folder.

    Raises
    ------
    ValueError
        The case folder cannot be described (``case.json``) or a step of the run failed (its message).
    """
    case_dir = Path(case_dir)
    with _materialized(case_dir, normal_dirs, instance, CASE_ASSETS) as (config, result):
        quarantined = {
            name: _output(result, node, name).height
            for node, name in (
                ("ingest_logs", "quarantined_lines"),
                ("ingest_spans", "quarantined_spans"),
                ("ingest_metrics", "quarantined_metrics"),
            )
        }
        window = _output(result, "analyse", "analysis_window")
        return CaseRun(
            name=case_dir.name,
            system=config.system,
            run_id=result.run_id,
            ranking=_output(result, "analyse", "root_causes"),
            finding=result.output_for_node("rca_report"),
            window=window,
            quarantined=quarantined,
            changes=change_entries(
                _output(result, "analyse", "change_events"), window=described_window(window)
            ),
        )


def load_case_frames(
    case_dir: Path, normal_dirs: list[Path] | None = None, *, instance: DagsterInstance | None = None
) -> Case:
    """The frames the ``analyse`` asset would get for the case: ingest and templates materialized, window cut.

    For an evaluation that runs many option settings of :func:`logrca.rca.case_analysis.analyse_case`
    on one case (``logrca eval rca --loo``): it ingests and mines once, as the pipeline does.
    """
    case_dir = Path(case_dir)
    with _materialized(case_dir, normal_dirs, instance, LOAD_ASSETS) as (config, result):
        out = {name: _output(result, node, name) for node, name in _LOAD_OUTPUTS}
        # the lines beside their templates, as the analyse asset reads them
        out["log_templates"] = with_templates(out["raw_logs"], out["log_templates"])
        out["baseline_templates"] = with_templates(out["baseline_logs"], out["baseline_templates"])
        start, end = config.start, config.end
        frames = window_frames(
            config.analysis,
            partition_key=partitions_for(config).get_partition_keys()[0],
            partition_window=(start, end),
            events=out["log_templates"],
            spans=out["raw_spans"],
            fault_free_events=out["baseline_templates"],
            fault_free_spans=out["baseline_spans"],
        )
        return frames.case(
            name=case_dir.name,
            system=config.system,
            metrics=out["raw_metrics"],
            partition_window=(start, end),
        )
