"""Leave-one-dataset-out choice of logrca's template defaults over the labelled Loghub samples (Markdown out).

Candidates are every combination of a generic mask set (the mask groups offered cumulatively), a
similarity threshold, a tree depth and the split of clusters at few-word positions (off, or one of
five (words, lines) bounds, each with the shared-word check off, at 2 or at 1 word); nothing per
dataset; each sample gets only its Loghub header format. Every sample is mined with
every candidate by logrca's own pipeline (``logrca.parsers.evaluate.evaluate_parsing``). Then:

- in-sample: the candidate with the best mean GA over all samples (what the defaults should be);
- leave-one-out: for each sample, the candidate with the best mean GA over the *other* samples,
  scored on that sample (an estimate for log systems the defaults were not chosen on);
- drain3 tuned per dataset: plain drain3 with the benchmark's usual masks, sim_th and depth for
  that sample (``bench/loghub_masking/<System>.yaml``).

Ties go to the earlier candidate (fewer masks, then lower sim_th, lower depth, no split, the split
bounds in the order of ``SPLITS``, the shared-word check off first).

    .venv/bin/python bench/loghub_loo.py > /tmp/loo.md      # 960 settings: ~30 minutes on 2 loaded cores
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402

from logrca.commands.eval_parsing import build_configs  # noqa: E402
from logrca.parsers.evaluate import evaluate_parsing  # noqa: E402
from logrca.parsers.leave_one_out import (  # noqa: E402
    LabelledLog,
    best_candidate,
    leave_one_out,
    score_candidates,
)
from logrca.parsers.templates.masking import (  # noqa: E402
    IDENTIFIER_RULES,
    NUMBER_RULES,
    TIME_RULES,
    UNIT_RULES,
    WEB_RULES,
)
from logrca.parsers.templates.miner import TemplateConfig  # noqa: E402

# Mask groups are offered cumulatively, in this order (each set adds a group to the one before).
MASK_SETS = {
    "ids": IDENTIFIER_RULES,
    "ids+numbers": (*IDENTIFIER_RULES, *NUMBER_RULES),
    "ids+times+numbers": (*IDENTIFIER_RULES, *TIME_RULES, *NUMBER_RULES),
    "ids+times+units+numbers": (*IDENTIFIER_RULES, *TIME_RULES, *UNIT_RULES, *NUMBER_RULES),
    # URLs first: the IPv4 and host-name rules would otherwise cut a URL into pieces
    "web+ids+times+units+numbers": (*WEB_RULES, *IDENTIFIER_RULES, *TIME_RULES, *UNIT_RULES, *NUMBER_RULES),
}
SIM_THS = (0.4, 0.5, 0.6, 0.7)
DEPTHS = (4, 5, 6)
# (split_max_values, split_min_lines); 0 = no split. Then split_shared_words (0 = no check).
SPLITS = ((0, 2), (5, 2), (5, 5), (3, 10), (5, 1), (3, 1))
SHARED = (0, 2, 1)


def _split_name(values: int, lines: int, shared: int) -> str:
    if not values:
        return "split=off"
    return f"split={values}/{lines}" + (f" shared={shared}" if shared else "")


def candidates() -> dict[str, TemplateConfig]:
    """Every (mask set, sim_th, depth, split, shared-word check), in order of preference for ties."""
    grid = {}
    for masks, sim_th, depth, (values, lines), shared in itertools.product(
        MASK_SETS, SIM_THS, DEPTHS, SPLITS, SHARED
    ):
        if values == 0 and shared:
            continue  # the check only acts on a split
        name = f"{masks} sim_th={sim_th} depth={depth} {_split_name(values, lines, shared)}"
        grid[name] = TemplateConfig(
            masking=list(MASK_SETS[masks]),
            sim_th=sim_th,
            depth=depth,
            split_max_values=values,
            split_min_lines=lines,
            split_shared_words=shared,
        )
    return grid


def labelled_logs(loghub: Path, settings: Path) -> list[LabelledLog]:
    """Every ``<System>/`` with a log, corrected labels and a settings file (for its header format)."""
    logs = []
    for folder in sorted(p for p in loghub.iterdir() if p.is_dir()):
        system = folder.name
        log, truth = folder / f"{system}_2k.log", folder / f"{system}_2k.log_structured_corrected.csv"
        if not (log.exists() and truth.exists() and (settings / f"{system}.yaml").exists()):
            print(f"skipping {system}: missing log, labels or settings file", file=sys.stderr)
            continue
        _, _, fmt = build_configs(settings / f"{system}.yaml", None, None, default_masks=False)
        logs.append(LabelledLog(system, log, truth, fmt))
    return logs


def drain3_tuned(log: LabelledLog, settings: Path) -> float:
    """GA of plain drain3 with the sample's usual masks, sim_th and depth."""
    _, usual, _ = build_configs(settings / f"{log.name}.yaml", None, None, default_masks=False)
    report = evaluate_parsing(log.log, log.header_format, log.truth, usual, baseline_config=usual)
    return float(report["drain3"]["GA"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--loghub", type=Path, default=ROOT.parent / "shared" / "data" / "loghub")
    parser.add_argument("--settings", type=Path, default=ROOT / "bench" / "loghub_masking")
    parser.add_argument("--scores", type=Path, help="also write every (dataset, candidate) score here (CSV)")
    args = parser.parse_args()
    logs = labelled_logs(args.loghub, args.settings)
    grid = candidates()
    scores = score_candidates(logs, grid)
    if args.scores:
        scores.write_csv(args.scores)
    chosen = best_candidate(scores)
    in_sample = scores.filter(pl.col("candidate") == chosen["candidate"])
    loo = leave_one_out(scores)
    tuned = {log.name: drain3_tuned(log, args.settings) for log in logs}
    print(f"In-sample choice (best mean GA on all {len(logs)}): `{chosen['candidate']}`.\n")
    print(
        "| system | GA drain3 (tuned per dataset) | GA logrca defaults (in-sample) | GA logrca (leave-one-out) | chosen on the others |"
    )
    print("|---|---|---|---|---|")
    for log, (_, loo_choice, _, held_out) in zip(logs, loo.rows()):
        own = in_sample.filter(pl.col("dataset") == log.name)["GA"][0]
        print(f"| {log.name} | {tuned[log.name]:.3f} | {own:.3f} | {held_out:.3f} | {loo_choice} |")
    means = (sum(tuned.values()) / len(tuned), in_sample["GA"].mean(), loo["held_out"].mean())
    print("| **mean** | " + " | ".join(f"**{value:.3f}**" for value in means) + " | |")
    defaults = TemplateConfig()
    chosen_config = grid[chosen["candidate"]]
    same = all(
        getattr(defaults, key) == getattr(chosen_config, key)
        for key in ("masking", "sim_th", "depth", "split_max_values", "split_min_lines", "split_shared_words")
    )
    print(f"\nTemplateConfig() defaults {'are' if same else 'are NOT'} the in-sample choice.")


if __name__ == "__main__":
    main()
