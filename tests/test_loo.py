"""Leave-one-case-out choice of options on hand-written ranks: it chooses on the training cases only."""

from __future__ import annotations

from pathlib import Path

import pytest

from logrca.rca.loo import choose_setting, leave_one_out, loo_report, rule_effects, rules_earn_their_place

FIXTURE = Path(__file__).parent / "fixtures" / "rca" / "mini"


def test_the_held_out_case_cannot_sway_the_choice():
    # d alone would rather have "alt" (rank 1 instead of 9); the three others prefer the default.
    ranks = {
        "default": {"a": 1, "b": 1, "c": 1, "d": 9},
        "alt": {"a": 3, "b": 3, "c": 3, "d": 1},
    }
    result = leave_one_out(ranks, ["default", "alt"])
    assert [f.chosen for f in result["folds"]] == ["default"] * 4
    assert [f.rank for f in result["folds"]] == [1, 1, 1, 9]
    assert result["AC@1"] == 0.75 and result["in_sample"]["AC@1"] == 0.75
    # Whatever the held-out case's ranks are, the choice made without it is the same.
    for d_ranks in ({"default": 9, "alt": 1}, {"default": 1, "alt": 1}, {"default": None, "alt": None}):
        changed = {name: {**rows, "d": d_ranks[name]} for name, rows in ranks.items()}
        assert choose_setting(changed, ["a", "b", "c"], ["default", "alt"]) == "default"


def test_ties_go_by_avg5_then_to_the_first_preferred_setting():
    ranks = {"default": {"a": 1, "b": 5}, "alt": {"a": 1, "b": 2}, "same": {"a": 1, "b": 5}}
    assert choose_setting(ranks, ["a", "b"], ["default", "alt", "same"]) == "alt"  # AC@1 ties, Avg@5 higher
    assert choose_setting(ranks, ["a", "b"], ["same", "default"]) == "same"  # a full tie: preference order
    assert choose_setting(ranks, ["a"], ["default", "alt", "same"]) == "default"
    with pytest.raises(ValueError, match="no settings"):
        choose_setting(ranks, ["a"], [])


def test_a_rule_only_its_held_out_case_needs_is_dropped_in_that_fold():
    ranks = {
        "default": {"a": 1, "b": 1, "c": 1},
        "without one-case rule": {"a": 1, "b": 1, "c": 4},  # carried by c alone
        "without two-case rule": {"a": 3, "b": 3, "c": 1},  # carried by a and b
        "without idle rule": {"a": 1, "b": 1, "c": 1},  # changes nothing
    }
    strict = rules_earn_their_place(ranks)
    by_case = {f["case"]: f for f in strict["folds"]}
    assert by_case["c"]["rank"] == 4 and "one-case rule" in by_case["c"]["dropped"]
    assert by_case["a"]["rank"] == 1 and "two-case rule" not in by_case["a"]["dropped"]
    # A rule that changes nothing never earns a place.
    assert all("idle rule" in f["dropped"] for f in strict["folds"])
    assert strict["AC@1"] == pytest.approx(2 / 3, abs=1e-4)
    effects = {row["rule"]: row for row in rule_effects(ranks)}
    assert effects["one-case rule"]["changed"] == 1 and effects["one-case rule"]["better"] == ["c: 1 -> 4"]
    assert effects["two-case rule"]["changed"] == 2 and effects["idle rule"]["changed"] == 0


def test_loo_report_on_the_real_analysis_of_a_tiny_case():
    from logrca.rca.evaluate import evaluate_settings
    from logrca.rca.options import AnalysisOptions

    settings = {
        "default": AnalysisOptions(),
        "without trace-pattern signal": AnalysisOptions().changed({"patterns.enabled": False}),
    }
    from logrca.pipelines.case_run import load_case_frames

    evaluated = evaluate_settings(FIXTURE, settings, load=load_case_frames)
    assert evaluated["ranks"]["default"] == {"c1": 1}
    report = loo_report(evaluated)
    assert report["in_sample"]["AC@1"] == 1.0 and report["settings"] == 2
    assert report["by_kind"] and report["cases"][0]["true_service"] == "ts-a-service"


def test_pooled_baselines_leave_an_incident_out_with_all_of_its_runs():
    from logrca.rca.loo import pool_baselines

    def run(baseline, ranks):
        cases = [{"case": c, "true_service": "s", "fault_type": "return"} for c in ranks["default"]]
        return {
            "ranks": ranks,
            "cases": cases,
            "seconds": dict.fromkeys(ranks, 1.0),
            "load_seconds": 1.0,
            "baseline": baseline,
        }

    # "rule" matters for x only, once with each baseline: pooled, it is still x's own rule.
    with_normal = run("normal", {"default": {"x": 1, "y": 1}, "without rule": {"x": 5, "y": 1}})
    without = run("before-alert", {"default": {"x": 1, "y": 2}, "without rule": {"x": 4, "y": 2}})
    pooled, group = pool_baselines(with_normal, without)
    assert sorted(pooled["ranks"]["default"]) == ["x|before-alert", "x|normal", "y|before-alert", "y|normal"]
    strict = rules_earn_their_place(pooled["ranks"], group=group)
    assert {f["case"]: f["rank"] for f in strict["folds"]}["x|normal"] == 5  # y's runs cannot justify it
    # Without the grouping, x's other run would vouch for the rule in x's fold.
    alone = rules_earn_their_place(pooled["ranks"])
    assert {f["case"]: f["rank"] for f in alone["folds"]}["x|normal"] == 1
    assert loo_report(pooled, group=group)["by_kind"]["return"]["n"] == 4
