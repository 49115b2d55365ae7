"""Measure root-cause ranking on labelled case folders: AC@k and Avg@5, the analysis never seeing the label."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from logrca.rca.cases import LABEL_FILE, label_free_copy
from logrca.rca.options import AnalysisOptions

if TYPE_CHECKING:
    from logrca.rca.case_analysis import Case

__all__ = ["accuracy_at_k", "average_at_5", "evaluate_dataset", "evaluate_settings", "rank_of", "summarise"]


def rank_of(ranking: list[str], truth: str) -> int | None:
    """1-based rank of ``truth`` in ``ranking``, None when absent."""
    return ranking.index(truth) + 1 if truth in ranking else None


def accuracy_at_k(ranks: list[int | None], k: int) -> float:
    """AC@k: share of cases whose true service is among the first ``k`` (absent counts as a miss).

    References
    ----------
    .. [1] Pham, L. et al. *RCAEval: A Benchmark for Root Cause Analysis of Microservice Systems*, 2024.
    """
    if not ranks:
        return 0.0
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def average_at_5(ranks: list[int | None]) -> float:
    """Avg@5 = mean of AC@1..AC@5."""
    return sum(accuracy_at_k(ranks, k) for k in range(1, 6)) / 5


def _dataset(dataset_dir: Path, *, use_normal: bool) -> tuple[list[Path], list[Path]]:
    """The case folders (each with a label) and the fault-free folders (none unless ``use_normal``)."""
    cases_root = dataset_dir / "cases"
    if not cases_root.is_dir():
        raise ValueError(f"{dataset_dir}: no 'cases' folder (expected {cases_root})")
    normal_root = dataset_dir / "normal"
    normal_dirs = sorted(p for p in normal_root.iterdir() if p.is_dir()) if normal_root.is_dir() else []
    cases = sorted(p for p in cases_root.iterdir() if p.is_dir())
    if not cases:
        raise ValueError(f"{cases_root}: no case folders; an evaluation needs at least one labelled case")
    for case_dir in cases:
        if not (case_dir / LABEL_FILE).is_file():
            raise ValueError(f"{case_dir}: no {LABEL_FILE}; cannot evaluate")
    return cases, normal_dirs if use_normal else []


def _label(case_dir: Path) -> dict:
    """The case's label; read only after its analysis is done."""
    label_path = case_dir / LABEL_FILE
    label = json.loads(label_path.read_text(encoding="utf-8"))
    if "root_cause_service" not in label:
        raise ValueError(f"{label_path}: missing field 'root_cause_service'")
    return label


def summarise(ranks: list[int | None]) -> dict[str, float]:
    """``AC@1`` .. ``AC@5`` and ``Avg@5`` of ``ranks``, rounded to 4 places."""
    return {f"AC@{k}": round(accuracy_at_k(ranks, k), 4) for k in range(1, 6)} | {
        "Avg@5": round(average_at_5(ranks), 4)
    }


def evaluate_dataset(
    dataset_dir: Path,
    *,
    analyse: Callable[[Path, list[Path]], list[str]],
    on_case: Callable[[dict], None] | None = None,
    use_normal: bool = True,
) -> dict:
    """Rank every ``cases/*`` folder of ``dataset_dir`` and compare with its ``label.json`` afterwards.

    Parameters
    ----------
    dataset_dir : Path
        Folder with ``cases/`` (and optionally ``normal/``), see docs/rca.md.
    analyse : callable
        ``(label-free case dir, normal dirs) -> ranked services``: the CLI passes the pipeline's run
        (:func:`logrca.pipelines.case_run.run_case`). It receives a read-only copy of the case without
        ``label.json``.
    on_case : callable, optional
        Called with each case's result row as it finishes (progress display).
    use_normal : bool, default True
        False: ignore ``normal/`` and take each case's minutes before its alert as the baseline.

    Returns
    -------
    dict
        ``cases`` (per case: name, true_service, fault_type, rank, top5, seconds) and the overall
        ``n``, ``AC@1`` .. ``AC@5``, ``Avg@5`` and ``seconds_per_case``; ``baseline`` is ``"normal"``
        (fault-free folders, ``normal_folders`` of them) or ``"before-alert"`` (no ``normal/``: each case's
        own minutes before its alert).
    """
    dataset_dir = Path(dataset_dir)
    cases, normal_dirs = _dataset(dataset_dir, use_normal=use_normal)
    results = []
    for case_dir in cases:
        started = time.perf_counter()
        with label_free_copy(case_dir) as view:
            ranking = list(analyse(view, normal_dirs))
        seconds = time.perf_counter() - started
        label = _label(case_dir)
        row = {
            "case": case_dir.name,
            "true_service": label["root_cause_service"],
            "fault_type": label.get("fault_type"),
            "rank": rank_of(ranking, label["root_cause_service"]),
            "top5": ranking[:5],
            "seconds": round(seconds, 3),
        }
        results.append(row)
        if on_case:
            on_case(row)
    return {
        "dataset": str(dataset_dir),
        "n": len(results),
        **summarise([r["rank"] for r in results]),
        "seconds_per_case": round(sum(r["seconds"] for r in results) / max(len(results), 1), 3),
        "baseline": "normal" if normal_dirs else "before-alert",
        "normal_folders": len(normal_dirs),
        "cases": results,
    }


def evaluate_settings(
    dataset_dir: Path,
    settings: dict[str, AnalysisOptions],
    *,
    load: Callable[[Path, list[Path]], Case],
    use_normal: bool = True,
    on_case: Callable[[str], None] | None = None,
) -> dict:
    """Rank every case once per option setting, with the pipeline's own analysis (loaded and mined once per case).

    ``load`` gives a label-free case's frames as the pipeline's ingest and template assets make them
    (:func:`logrca.pipelines.case_run.load_case_frames`); each setting then runs :func:`analyse_case` on them.

    Returns
    -------
    dict
        ``ranks`` (setting -> case -> rank of the true service), ``cases`` (per case: name, true_service,
        fault_type), ``seconds`` (setting -> mean seconds of analysis per case, load and mining excluded)
        and ``load_seconds`` (mean load + template mining per case). The labels are read after every
        setting has ranked the case.
    """
    from logrca.rca.case_analysis import analyse_case

    cases, normal_dirs = _dataset(Path(dataset_dir), use_normal=use_normal)
    ranks: dict[str, dict[str, int | None]] = {name: {} for name in settings}
    spent = dict.fromkeys(settings, 0.0)
    rows, load_seconds = [], 0.0
    for case_dir in cases:
        started = time.perf_counter()
        with label_free_copy(case_dir) as view:
            case = load(view, normal_dirs)
        mined = (case.baseline_events, case.events)
        load_seconds += time.perf_counter() - started
        rankings = {}
        for name, options in settings.items():
            started = time.perf_counter()
            rankings[name] = analyse_case(case, options=options, templates=mined).ranking["service"].to_list()
            spent[name] += time.perf_counter() - started
        label = _label(case_dir)
        truth = label["root_cause_service"]
        rows.append({"case": case_dir.name, "true_service": truth, "fault_type": label.get("fault_type")})
        for name, ranking in rankings.items():
            ranks[name][case_dir.name] = rank_of(ranking, truth)
        if on_case:
            on_case(case_dir.name)
    n = max(len(cases), 1)
    return {
        "ranks": ranks,
        "cases": rows,
        "seconds": {name: round(s / n, 3) for name, s in spent.items()},
        "load_seconds": round(load_seconds / n, 3),
        "baseline": "normal" if normal_dirs else "before-alert",
    }
