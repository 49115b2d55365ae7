"""Leave-one-case-out choice of the analysis options, and what each rule of the method carries.

The ranks come from :func:`logrca.rca.evaluate.evaluate_settings` (the pipeline's own analysis, one run
per option setting and case); everything here is pure bookkeeping on those ranks, so it is tested on
hand-written ranks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from logrca.rca.evaluate import accuracy_at_k, average_at_5, summarise
from logrca.rca.options import AnalysisOptions

__all__ = [
    "RULES",
    "Fold",
    "choose_setting",
    "default_grid",
    "leave_one_out",
    "loo_report",
    "pool_baselines",
    "rule_effects",
    "rules_earn_their_place",
]

Ranks = Mapping[str, Mapping[str, int | None]]  # setting -> case -> rank of the true service

#: Each rule (a fix or signal of the method) and the options that switch it off.
RULES: dict[str, dict] = {
    "list-length variants merged": {"merge_variants": False},
    "trace-pattern signal": {"patterns.enabled": False},
    "callers' lines explained by a deviating callee": {"patterns.discount": False},
    "patterns from the baseline only (pre-alert stretch not normal)": {"patterns.pre_alert_normal": True},
    "counts in visit patterns": {"patterns.multiplicity": "set"},
    "own-noise calibration": {"noise.weight": 0.0},
    "own-noise floor (keep half)": {"noise.keep": 0.0},
    "idle services down-weighted": {"ranking.idle_weight": 1.0},
    "wire-time baseline outliers judged against the typical edge": {"traces.wire_outlier_z": None},
    "new templates only from request kinds the baseline saw": {"traces.known_request_visits": 0},
    "log rates per request": {"traces.per_request_rates": False},
    "unseen lines judged as two samples (short baselines)": {"detection.short_baseline_unseen": False},
    "exclusive-time tail judged as two samples (short baselines)": {"traces.short_baseline_tail": False},
    "signal: log behaviour": {"ranking.signal_weights": {"log_behaviour": 0.0}},
    "signal: log rate": {"ranking.signal_weights": {"log_rate": 0.0}},
    "signal: exclusive time": {"ranking.signal_weights": {"trace_span_self_time": 0.0}},
    "signal: wire time": {"ranking.signal_weights": {"trace_call_gap": 0.0}},
    "signal: trace patterns (fused)": {"ranking.signal_weights": {"trace_trace_pattern": 0.0}},
    "signal: CPU metrics": {"ranking.signal_weights": {"metric": 0.0}},
}

#: Other values tried for each threshold and weight, one at a time around the defaults.
VALUES: dict[str, tuple] = {
    "noise.source": ("confirmed", "both"),
    "noise.weight": (0.25, 1.0),
    "noise.keep": (0.25, 0.75),
    "traces.wire_unit": (0.25, 1.0),
    "traces.wire_caller_weight": (0.8, 1.0),
    "traces.wire_outlier_z": (2.5, 4.0),
    "traces.known_request_visits": (3,),
    "ranking.idle_weight": (0.1, 0.6),
    "ranking.propagation": (0.25,),
    "patterns.min_visits": (3, 8),
    "patterns.rare_count": (1, 3),
    "patterns.multiplicity": ("count",),
    "patterns.hand_off": (True,),
    "metrics.spread_floor": (0.05, 0.2),
    "detection.min_score": (2.0, 4.0),
    "traces.quantile": (0.95,),
    "variant_max_period": (4, 16),
}


def default_grid(base: AnalysisOptions | None = None) -> dict[str, AnalysisOptions]:
    """The settings the leave-one-out chooses among, in order of preference: ``base`` first, then each
    rule switched off (:data:`RULES`), then each threshold or weight moved one step (:data:`VALUES`)."""
    base = base or AnalysisOptions()
    grid = {"default": base}
    for rule, change in RULES.items():
        grid[f"without {rule}"] = base.changed(change)
    for path, values in VALUES.items():
        for value in values:
            grid[f"{path}={value}"] = base.changed({path: value})
    return grid


def _score(ranks: Mapping[str, int | None], cases: Sequence[str]) -> tuple[float, float]:
    chosen = [ranks.get(c) for c in cases]
    return accuracy_at_k(chosen, 1), average_at_5(chosen)


def choose_setting(ranks: Ranks, training: Sequence[str], preference: Sequence[str]) -> str:
    """The setting with the best AC@1 on ``training`` cases, ties by Avg@5, then the first in ``preference``.

    Only the ``training`` cases' ranks are read, so a held-out case cannot sway the choice.
    """
    if not preference:
        raise ValueError("choose_setting: no settings to choose from")
    best = max(enumerate(preference), key=lambda item: (*_score(ranks[item[1]], training), -item[0]))
    return best[1]


@dataclass(frozen=True)
class Fold:
    """One held-out case: the setting chosen on the others and the held-out case's rank under it."""

    case: str
    chosen: str
    rank: int | None


def _training(cases: list[str], held_out: str, group: Callable[[str], str] | None) -> list[str]:
    """Every case but ``held_out`` and the others of its group (the same incident under another baseline)."""
    key = group or (lambda case: case)
    return [c for c in cases if key(c) != key(held_out)]


def leave_one_out(
    ranks: Ranks, preference: Sequence[str], *, group: Callable[[str], str] | None = None
) -> dict:
    """Leave each case out, choose the setting on the rest (:func:`choose_setting`), rank the case under it.

    With ``group``, the cases of the held-out case's group are left out with it (:func:`pool_baselines`).

    Returns
    -------
    dict
        ``folds`` (:class:`Fold` per case), the LOO ``AC@1`` .. ``AC@5`` and ``Avg@5`` of the held-out
        ranks, and ``in_sample`` (the same figures of the first setting of ``preference`` on all cases).
    """
    cases = sorted(ranks[preference[0]])
    folds = []
    for held_out in cases:
        chosen = choose_setting(ranks, _training(cases, held_out, group), preference)
        folds.append(Fold(held_out, chosen, ranks[chosen].get(held_out)))
    return {
        "folds": folds,
        **summarise([f.rank for f in folds]),
        "in_sample": summarise([ranks[preference[0]].get(c) for c in cases]),
    }


def rule_effects(ranks: Ranks, *, default: str = "default", prefix: str = "without ") -> list[dict]:
    """Per rule (settings named ``prefix + rule``): the cases whose rank changes when the rule is off.

    Returns rows ``rule, changed`` (number of cases), ``better`` / ``worse`` (cases whose rank the rule
    improves / worsens, as ``case: rank with -> rank without``). A rule that changes one case only rests
    on that case.
    """
    base = ranks[default]
    rows = []
    for name, without in ranks.items():
        if not name.startswith(prefix):
            continue
        better, worse = [], []
        for case, rank in sorted(base.items()):
            other = without.get(case)
            if other == rank:
                continue
            line = f"{case}: {rank} -> {other}"
            (better if _key(rank) < _key(other) else worse).append(line)
        rows.append(
            {
                "rule": name[len(prefix) :],
                "changed": len(better) + len(worse),
                "better": better,
                "worse": worse,
            }
        )
    return rows


def rules_earn_their_place(
    ranks: Ranks,
    *,
    default: str = "default",
    prefix: str = "without ",
    group: Callable[[str], str] | None = None,
) -> dict:
    """Leave-one-out where every rule must win its place on the other cases, else it is dropped.

    For each held-out case and each rule (settings named ``prefix + rule``), :func:`choose_setting`
    decides between the method without the rule and with it on the remaining cases, preferring the
    simpler method (without it) on a tie. The held-out case is then ranked as the worst of the ranks it
    gets without each rule so dropped (its default rank when none is dropped or none changes it). A rule
    that only its held-out case needs is thus dropped in that case's fold: "no rule carried by a single
    case" as a measurement.

    Returns
    -------
    dict
        ``folds`` (per case: ``case``, ``dropped`` rules, ``rank``) and the ``AC@1`` .. ``Avg@5`` of those ranks.
    """
    base = ranks[default]
    cases = sorted(base)
    rules = [name for name in ranks if name.startswith(prefix)]
    folds = []
    for held_out in cases:
        training = _training(cases, held_out, group)
        dropped = [r for r in rules if choose_setting(ranks, training, [r, default]) == r]
        worst = max((ranks[r].get(held_out) for r in dropped), key=_key, default=base.get(held_out))
        rank = worst if _key(worst) > _key(base.get(held_out)) else base.get(held_out)
        folds.append({"case": held_out, "dropped": [r[len(prefix) :] for r in dropped], "rank": rank})
    return {"folds": folds, **summarise([f["rank"] for f in folds])}


def pool_baselines(*evaluated: dict) -> tuple[dict, Callable[[str], str]]:
    """Ranks of several :func:`logrca.rca.evaluate.evaluate_settings` runs (e.g. with and without
    ``normal/``) as one set of cases ``case|baseline``, and the ``group`` that keeps an incident's runs together.

    One method serves both baselines, so its options are chosen on both; the held-out incident leaves
    with all of its runs, so the choice never sees it.
    """
    settings = set.intersection(*(set(e["ranks"]) for e in evaluated))
    order = [name for name in evaluated[0]["ranks"] if name in settings]
    ranks = {
        name: {f"{case}|{e['baseline']}": rank for e in evaluated for case, rank in e["ranks"][name].items()}
        for name in order
    }
    cases = [{**row, "case": f"{row['case']}|{e['baseline']}"} for e in evaluated for row in e["cases"]]
    pooled = {
        "ranks": ranks,
        "cases": cases,
        "seconds": {n: max(e["seconds"][n] for e in evaluated) for n in order},
        "load_seconds": max(e["load_seconds"] for e in evaluated),
        "baseline": "+".join(e["baseline"] for e in evaluated),
    }
    return pooled, lambda case: case.split("|")[0]


def loo_report(
    evaluated: dict, preference: Sequence[str] | None = None, *, group: Callable[[str], str] | None = None
) -> dict:
    """Everything ``logrca eval rca --loo`` prints, from :func:`logrca.rca.evaluate.evaluate_settings`.

    ``in_sample`` (the default options on every case), ``loo`` (:func:`leave_one_out` over the grid,
    ties to the default), ``loo_rules`` (:func:`rules_earn_their_place`), ``by_kind`` (per fault type:
    cases, in-sample and LOO hits at 1 and 3), ``rules`` (:func:`rule_effects`) and the seconds.
    """
    ranks = evaluated["ranks"]
    preference = list(preference or ranks)
    loo = leave_one_out(ranks, preference, group=group)
    strict = rules_earn_their_place(ranks, default=preference[0], group=group)
    kinds: dict[str, dict] = {}
    held = {f.case: f.rank for f in loo["folds"]}
    strict_held = {f["case"]: f["rank"] for f in strict["folds"]}
    for row in evaluated["cases"]:
        kind = kinds.setdefault(
            str(row["fault_type"]), {"n": 0, "in_sample": [0, 0], "loo": [0, 0], "loo_rules": [0, 0]}
        )
        kind["n"] += 1
        for key, rank in (
            ("in_sample", ranks[preference[0]].get(row["case"])),
            ("loo", held.get(row["case"])),
            ("loo_rules", strict_held.get(row["case"])),
        ):
            kind[key][0] += int(_key(rank) <= 1)
            kind[key][1] += int(_key(rank) <= 3)
    return {
        "baseline": evaluated.get("baseline"),
        "settings": len(ranks),
        "in_sample": loo["in_sample"],
        "loo": {k: v for k, v in loo.items() if k not in ("folds", "in_sample")},
        "loo_choices": {f.case: f.chosen for f in loo["folds"] if f.chosen != preference[0]},
        "loo_rules": {k: v for k, v in strict.items() if k != "folds"},
        "loo_rules_dropped": {f["case"]: f["dropped"] for f in strict["folds"] if f["dropped"]},
        "by_kind": kinds,
        "rules": rule_effects(ranks, default=preference[0]),
        "cases": [
            {
                **row,
                "rank": ranks[preference[0]].get(row["case"]),
                "loo_rank": held.get(row["case"]),
                "loo_rules_rank": strict_held.get(row["case"]),
            }
            for row in evaluated["cases"]
        ],
        "seconds_per_case": evaluated["seconds"].get(preference[0]),
        "load_seconds_per_case": evaluated.get("load_seconds"),
    }


def _key(rank: int | None) -> float:
    return float("inf") if rank is None else rank
