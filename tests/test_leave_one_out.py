"""Leave-one-dataset-out: the held-out dataset never takes part in its own choice; ties go to the earlier candidate."""

from __future__ import annotations

import polars as pl
import pytest

from logrca.parsers.leave_one_out import LabelledLog, best_candidate, leave_one_out, score_candidates
from logrca.parsers.templates.miner import TemplateConfig


def _scores(table: dict[str, list[float]], datasets: list[str]) -> pl.DataFrame:
    rows = [
        (dataset, candidate, rank, value)
        for rank, (candidate, values) in enumerate(table.items())
        for dataset, value in zip(datasets, values)
    ]
    return pl.DataFrame(rows, schema=["dataset", "candidate", "rank", "GA"], orient="row")


def test_held_out_dataset_does_not_choose_for_itself():
    # "fit" is perfect on c only; "broad" is good on a and b. In-sample, "fit" wins on the mean
    # (0.73 vs 0.60) only through c; left out, c gets what a and b prefer.
    scores = _scores({"broad": [0.8, 0.8, 0.2], "fit": [0.6, 0.6, 1.0]}, ["a", "b", "c"])
    assert best_candidate(scores) == {"candidate": "fit", "rank": 1, "mean": pytest.approx(2.2 / 3)}
    loo = leave_one_out(scores)
    assert loo["dataset"].to_list() == ["a", "b", "c"]
    assert loo["candidate"].to_list() == ["fit", "fit", "broad"]
    assert loo["held_out"].to_list() == [0.6, 0.6, 0.2]
    assert loo["mean_on_others"].to_list() == pytest.approx([0.8, 0.8, 0.8])


def test_ties_go_to_the_earlier_candidate_and_gaps_are_errors():
    scores = _scores({"simple": [0.5, 0.5], "complex": [0.5, 0.5]}, ["a", "b"])
    assert leave_one_out(scores)["candidate"].to_list() == ["simple", "simple"]
    with pytest.raises(ValueError, match=r"\['complex'\] not scored on all 2 datasets"):
        best_candidate(scores.filter(~((pl.col("candidate") == "complex") & (pl.col("dataset") == "a"))))
    with pytest.raises(ValueError, match="at least two datasets"):
        leave_one_out(scores.filter(pl.col("dataset") == "a"))


def _labelled(tmp_path, name: str, contents: list[str], templates: list[str]) -> LabelledLog:
    log, truth = tmp_path / f"{name}.log", tmp_path / f"{name}.csv"
    log.write_text("".join(f"2024-01-01 INFO {content}\n" for content in contents))
    rows = [
        {"LineId": i, "Content": c, "EventTemplate": t}
        for i, (c, t) in enumerate(zip(contents, templates), 1)
    ]
    pl.DataFrame(rows).write_csv(truth)
    return LabelledLog(name, log, truth, "<Date> <Level> <Content>")


def test_scores_come_from_mining_each_log_with_each_candidate(tmp_path):
    # two events, two words apart in eight; a low threshold merges them, a high one keeps them apart
    verbs = {"in": "logged in to", "out": "logged out of"}
    contents = [
        f"user {user} {verbs[verb]} the main console" for verb in verbs for user in ("ann", "bob", "cid")
    ]
    templates = [f"user <*> {verbs[verb]} the main console" for verb in verbs for _ in range(3)]
    logs = [
        _labelled(tmp_path, "one", contents, templates),
        _labelled(tmp_path, "two", contents[:4], templates[:4]),
    ]
    # depth 3: the tree routes by the first token only, and no split on top, so the threshold alone decides
    candidates = {
        "merge": TemplateConfig(sim_th=0.2, depth=3, split_max_values=0),
        "keep": TemplateConfig(sim_th=0.7, depth=3, split_max_values=0),
    }
    scores = score_candidates(logs, candidates)
    assert scores.columns == ["dataset", "candidate", "rank", "GA", "PA", "FGA", "FTA"]
    one = scores.filter(pl.col("dataset") == "one")
    by_candidate = dict(zip(one["candidate"], one["GA"]))
    assert by_candidate == {"merge": 0.0, "keep": 1.0}
    assert leave_one_out(scores)["candidate"].to_list() == ["keep", "keep"]
