"""Leave-one-dataset-out choice of template settings: choose on all labelled logs but one, score that one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from logrca.parsers.evaluate import evaluate_parsing
from logrca.parsers.templates.miner import TemplateConfig

__all__ = ["LabelledLog", "score_candidates", "leave_one_out", "best_candidate", "SCORE_SCHEMA"]

METRICS = ("GA", "PA", "FGA", "FTA")
SCORE_SCHEMA = {
    "dataset": pl.Utf8,
    "candidate": pl.Utf8,
    "rank": pl.Int64,
    **{metric: pl.Float64 for metric in METRICS},
}


@dataclass(frozen=True)
class LabelledLog:
    """A labelled log: the raw file, its labels (``LineId``, ``Content``, ``EventTemplate``) and header format."""

    name: str
    log: Path
    truth: Path
    header_format: str


def score_candidates(logs: Sequence[LabelledLog], candidates: Mapping[str, TemplateConfig]) -> pl.DataFrame:
    """Mine every log with every candidate setting (logrca's own pipeline) and score it.

    Parameters
    ----------
    logs : sequence of LabelledLog
    candidates : mapping of name to TemplateConfig
        In order of preference: ``rank`` is the position, and ties are broken towards the lower rank.

    Returns
    -------
    pl.DataFrame
        One row per (dataset, candidate): ``dataset``, ``candidate``, ``rank``, ``GA``, ``PA``,
        ``FGA``, ``FTA`` (:func:`logrca.parsers.evaluate.evaluate_parsing`).
    """
    rows = []
    for log in logs:
        for rank, (name, config) in enumerate(candidates.items()):
            report = evaluate_parsing(log.log, log.header_format, log.truth, config)["logrca"]
            rows.append((log.name, name, rank, *(float(report[metric]) for metric in METRICS)))
    return pl.DataFrame(rows, schema=SCORE_SCHEMA, orient="row")


def best_candidate(scores: pl.DataFrame, *, metric: str = "GA") -> dict[str, object]:
    """The candidate with the highest mean ``metric`` over the datasets in ``scores`` (ties: lowest rank).

    Returns ``{"candidate", "rank", "mean"}``.

    Raises
    ------
    ValueError
        When ``scores`` is empty, or a candidate was not scored on every dataset (names both).
    """
    if scores.height == 0:
        raise ValueError("best_candidate: no scores")
    datasets = scores["dataset"].n_unique()
    means = scores.group_by("candidate", "rank").agg(pl.col(metric).mean().alias("mean"), pl.len().alias("n"))
    incomplete = means.filter(pl.col("n") != datasets)
    if incomplete.height:
        raise ValueError(
            f"best_candidate: candidate(s) {sorted(incomplete['candidate'])} not scored on all {datasets} datasets"
        )
    best = means.sort(["mean", "rank"], descending=[True, False]).row(0, named=True)
    return {"candidate": best["candidate"], "rank": best["rank"], "mean": best["mean"]}


def leave_one_out(scores: pl.DataFrame, *, metric: str = "GA") -> pl.DataFrame:
    """For each dataset, the candidate best on all the others, and its score on the one left out.

    Parameters
    ----------
    scores : pl.DataFrame
        From :func:`score_candidates` (``dataset``, ``candidate``, ``rank`` and the metric).
    metric : str, default "GA"

    Returns
    -------
    pl.DataFrame
        One row per held-out ``dataset`` (sorted): ``candidate`` chosen on the others,
        ``mean_on_others`` (its mean there) and ``held_out`` (its ``metric`` on the dataset).

    Notes
    -----
    Nothing about the held-out dataset reaches the choice, so ``held_out`` estimates the metric on
    a log system the settings were not chosen on; its mean over the datasets is the figure to set
    against the in-sample one (:func:`best_candidate` on all datasets).

    Examples
    --------
    >>> scores = pl.DataFrame({"dataset": ["a", "a", "b", "b"], "candidate": ["x", "y", "x", "y"],
    ...                        "rank": [0, 1, 0, 1], "GA": [1.0, 0.5, 0.2, 0.9]})
    >>> leave_one_out(scores).rows()
    [('a', 'y', 0.9, 0.5), ('b', 'x', 1.0, 0.2)]
    """
    datasets = sorted(scores["dataset"].unique())
    if len(datasets) < 2:
        raise ValueError(f"leave_one_out: needs at least two datasets, got {datasets}")
    rows = []
    for held in datasets:
        chosen = best_candidate(scores.filter(pl.col("dataset") != held), metric=metric)
        score = scores.filter((pl.col("dataset") == held) & (pl.col("candidate") == chosen["candidate"]))
        if score.height != 1:
            raise ValueError(f"leave_one_out: candidate {chosen['candidate']!r} has no score on {held!r}")
        rows.append((held, chosen["candidate"], chosen["mean"], score[metric][0]))
    return pl.DataFrame(
        rows,
        schema={
            "dataset": pl.Utf8,
            "candidate": pl.Utf8,
            "mean_on_others": pl.Float64,
            "held_out": pl.Float64,
        },
        orient="row",
    )
