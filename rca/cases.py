"""A labelled incident case folder: its description, the config that runs the pipeline on it, the label-free view.

Layout (see docs/rca.md)::

    <dataset>/normal/<name>/{logs,traces}/*.csv[.gz]      fault-free minutes (baseline), optional
    <dataset>/cases/<name>/case.json                      {"system", "alert_time"}
    <dataset>/cases/<name>/logs/*.csv[.gz]                CSV logs, message a JSON record (format csv-json)
    <dataset>/cases/<name>/traces/*.csv[.gz]              spans: TraceID, SpanID, ParentID, PodName, ...
    <dataset>/cases/<name>/metrics/*_metric.csv[.gz]      per-pod metrics, one row a minute
    <dataset>/cases/<name>/label.json                     the truth; never read here (see label_free_copy)

:func:`case_config` turns a case folder into a logrca config (sources of kind logs, spans and metrics,
the ``normal/`` folders as baseline sources, the window from the alert); the CLI runs the pipeline's
assets on it (:mod:`logrca.pipelines.case_run`).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from logrca.rca.template_variants import ID_MASKS

__all__ = ["LABEL_FILE", "case_config", "label_free_copy", "normal_folders", "read_case_description"]

LABEL_FILE = "label.json"


def _globs(folder: Path, stem: str = "") -> list[str]:
    return [str(folder / f"*{stem}.csv"), str(folder / f"*{stem}.csv.gz")]


def _parse_time(text: str, path: Path) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: 'alert_time' {text!r} is not an ISO time") from error
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def read_case_description(case_dir: Path) -> tuple[str, datetime]:
    """``(system, alert_time)`` from ``case_dir/case.json``; ValueError names the file and the fault."""
    meta_path = Path(case_dir) / "case.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{meta_path}: cannot read case description: {error}") from error
    if not isinstance(meta, dict) or "alert_time" not in meta:
        raise ValueError(f"{meta_path}: missing field 'alert_time'")
    system = str(meta.get("system") or Path(case_dir).parent.parent.name or "case")
    return system, _parse_time(meta["alert_time"], meta_path)


def normal_folders(case_dir: Path) -> list[Path]:
    """The fault-free folders of the case's dataset (``case_dir/../../normal/*``), possibly none."""
    root = Path(case_dir).parent.parent / "normal"
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def case_config(case_dir: Path, normal_dirs: list[Path] | None = None) -> dict:
    """The logrca config (as a mapping, before validation) that analyses one case folder.

    One daily partition holds the alert; the window runs from the alert to the case's last record;
    ``normal_dirs`` (default :func:`normal_folders`) are baseline sources, and without them the case's
    own minutes before the alert are the baseline. Templates mask request-scoped values
    (:data:`~logrca.rca.template_variants.ID_MASKS`); with spans the ranking does not walk the graph
    (``ranking.propagation`` 0: traces localise on their own).
    """
    from logrca.parsers.templates.masking import DEFAULT_MASKING_RULES

    case_dir = Path(case_dir).resolve()
    system, alert = read_case_description(case_dir)
    normal_dirs = (
        normal_folders(case_dir) if normal_dirs is None else [Path(d).resolve() for d in normal_dirs]
    )
    day = alert.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    sources = [{"name": "case-logs", "paths": _globs(case_dir / "logs"), "format": "csv-json"}]
    spans = [{"name": "case-spans", "paths": _globs(case_dir / "traces"), "format": "case-csv"}]
    if normal_dirs:
        logs = [g for d in normal_dirs for g in _globs(d / "logs")]
        traces = [g for d in normal_dirs for g in _globs(d / "traces")]
        sources.append({"name": "normal-logs", "paths": logs, "format": "csv-json", "role": "baseline"})
        spans.append({"name": "normal-spans", "paths": traces, "format": "case-csv", "role": "baseline"})
    masks = [rule.model_dump() for rule in DEFAULT_MASKING_RULES]
    return {
        "system": system,
        "partitions": "daily",
        "start": day.isoformat(),
        "end": (day + timedelta(days=1)).isoformat(),
        "baseline_partitions": 1,
        "sources": sources,
        "spans": spans,
        "metrics": [
            {"name": "case-metrics", "paths": _globs(case_dir / "metrics", "_metric"), "format": "case-csv"}
        ],
        "templates": {"masking": [*masks, *({"pattern": p, "mask_with": "*"} for p in ID_MASKS)]},
        "ranking": {"propagation": 0.0},
        "analysis": {"alert_time": alert.isoformat()},
    }


@contextlib.contextmanager
def label_free_copy(case_dir: Path) -> Iterator[Path]:
    """Copy a case folder without ``label.json`` into a fresh read-only temp folder and yield its path.

    The analysis gets only this path: the label is neither there nor reachable from it.
    """
    case_dir = Path(case_dir)
    with tempfile.TemporaryDirectory(prefix="logrca-case-") as tmp:
        target = Path(tmp) / "cases" / case_dir.name
        shutil.copytree(case_dir, target, ignore=shutil.ignore_patterns(LABEL_FILE), symlinks=False)
        for path in sorted(target.rglob("*"), reverse=True):
            path.chmod(0o555 if path.is_dir() else 0o444)
        target.chmod(0o555)
        try:
            yield target
        finally:
            for path in [target, *target.rglob("*")]:
                path.chmod(0o755 if path.is_dir() else 0o644)
