"""Measure root-cause ranking on labelled case folders: AC@k and Avg@5, the analysis never seeing the label."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from logrca.rca.cases import LABEL_FILE, label_free_copy, load_case

__all__ = ["accuracy_at_k", "average_at_5", "evaluate_dataset", "rank_of"]


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


def _default_analyse(case_dir: Path, normal_dirs: list[Path]) -> list[str]:
    from logrca.rca.case_analysis import analyse_case

    return analyse_case(load_case(case_dir, normal_dirs=normal_dirs)).ranking["service"].to_list()


def evaluate_dataset(
    dataset_dir: Path,
    *,
    analyse: Callable[[Path, list[Path]], list[str]] | None = None,
    on_case: Callable[[dict], None] | None = None,
) -> dict:
    """Rank every ``cases/*`` folder of ``dataset_dir`` and compare with its ``label.json`` afterwards.

    Parameters
    ----------
    dataset_dir : Path
        Folder with ``cases/`` (and optionally ``normal/``), see docs/rca.md.
    analyse : callable, optional
        ``(label-free case dir, normal dirs) -> ranked services``; default: the full logrca analysis.
        It receives a read-only copy of the case without ``label.json``.
    on_case : callable, optional
        Called with each case's result row as it finishes (progress display).

    Returns
    -------
    dict
        ``cases`` (per case: name, true_service, fault_type, rank, top5, seconds) and the overall
        ``n``, ``AC@1`` .. ``AC@5``, ``Avg@5`` and ``seconds_per_case``; ``baseline`` is ``"normal"``
        (fault-free folders, ``normal_folders`` of them) or ``"before-alert"`` (no ``normal/``: each case's
        own minutes before its alert).
    """
    dataset_dir = Path(dataset_dir)
    cases_root = dataset_dir / "cases"
    if not cases_root.is_dir():
        raise ValueError(f"{dataset_dir}: no 'cases' folder (expected {cases_root})")
    normal_root = dataset_dir / "normal"
    normal_dirs = sorted(p for p in normal_root.iterdir() if p.is_dir()) if normal_root.is_dir() else []
    analyse = analyse or _default_analyse
    case_dirs = sorted(p for p in cases_root.iterdir() if p.is_dir())
    if not case_dirs:
        raise ValueError(f"{cases_root}: no case folders; an evaluation needs at least one labelled case")
    results = []
    for case_dir in case_dirs:
        label_path = case_dir / LABEL_FILE
        if not label_path.is_file():
            raise ValueError(f"{case_dir}: no {LABEL_FILE}; cannot evaluate")
        started = time.perf_counter()
        with label_free_copy(case_dir) as view:
            ranking = list(analyse(view, normal_dirs))
        seconds = time.perf_counter() - started
        label = json.loads(label_path.read_text(encoding="utf-8"))  # read only after the analysis is done
        if "root_cause_service" not in label:
            raise ValueError(f"{label_path}: missing field 'root_cause_service'")
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
    ranks = [r["rank"] for r in results]
    summary = {f"AC@{k}": round(accuracy_at_k(ranks, k), 4) for k in range(1, 6)}
    return {
        "dataset": str(dataset_dir),
        "n": len(results),
        **summary,
        "Avg@5": round(average_at_5(ranks), 4),
        "seconds_per_case": round(sum(r["seconds"] for r in results) / max(len(results), 1), 3),
        "baseline": "normal" if normal_dirs else "before-alert",
        "normal_folders": len(normal_dirs),
        "cases": results,
    }
