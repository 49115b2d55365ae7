"""Leave-one-case-out over the options grid, with and without the fault-free minutes, and both pooled.

Run: .venv/bin/python bench/bench_rca_loo.py ../shared/data/rca/trainticket [--save DIR | --saved DIR]

Each baseline runs the pipeline's own analysis (``logrca.rca.evaluate.evaluate_settings``) once per grid
setting and case (about 47 settings; ~15 min per baseline on 2 shared cores); ``--save DIR`` keeps the
ranks as JSON, ``--saved DIR`` reports from them again. Per baseline it prints what ``logrca eval rca
--loo`` prints; pooled, one method serves both baselines, so its options are chosen on both and a held-out
incident leaves with both of its runs (:func:`logrca.rca.loo.pool_baselines`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from logrca.pipelines.case_run import load_case_frames
from logrca.rca.evaluate import evaluate_settings, summarise
from logrca.rca.loo import default_grid, loo_report, pool_baselines


def _figures(row: dict) -> str:
    return f"AC@1 {row['AC@1']:.3f}  AC@3 {row['AC@3']:.3f}  Avg@5 {row['Avg@5']:.3f}"


def main(dataset: Path, *, save: Path | None = None, saved: Path | None = None) -> None:
    runs = []
    for use_normal, name in ((True, "normal"), (False, "before-alert")):
        if saved is not None:
            runs.append(json.loads((saved / f"{name}.json").read_text(encoding="utf-8")))
        else:
            runs.append(
                evaluate_settings(dataset, default_grid(), load=load_case_frames, use_normal=use_normal)
            )
        if save is not None:
            save.mkdir(parents=True, exist_ok=True)
            (save / f"{name}.json").write_text(json.dumps(runs[-1], default=str), encoding="utf-8")
    pooled, group = pool_baselines(*runs)
    for label, report in (
        ("with normal/", loo_report(runs[0])),
        ("without normal/", loo_report(runs[1])),
        ("pooled (options chosen on both)", loo_report(pooled, group=group)),
    ):
        print(f"== {label}")
        print(f"  in-sample                        {_figures(report['in_sample'])}")
        print(f"  leave-one-out, grid              {_figures(report['loo'])}")
        print(f"  leave-one-out, rules earn place  {_figures(report['loo_rules'])}")
        for suffix in ("|normal", "|before-alert") if "pooled" in label else ():
            rows = [row for row in report["cases"] if row["case"].endswith(suffix)]
            for key, name in (("loo_rank", "grid"), ("loo_rules_rank", "rules earn place")):
                print(f"    {suffix[1:]:13} LOO, {name:17} {_figures(summarise([row[key] for row in rows]))}")
        for kind, row in sorted(report["by_kind"].items()):
            print(
                f"  {kind:16} {row['n']:2}  in-sample {row['in_sample'][0]}/{row['in_sample'][1]}  "
                f"LOO {row['loo'][0]}/{row['loo'][1]}  rules-earn {row['loo_rules'][0]}/{row['loo_rules'][1]}"
            )
        for row in sorted(report["rules"], key=lambda r: (-r["changed"], r["rule"])):
            print(f"  {row['changed']:2} cases  {row['rule']}  {row['better']} worse: {row['worse']}")
        print(
            f"  {report['seconds_per_case']:.2f} s/case analysis (slowest baseline), load {report['load_seconds_per_case']:.2f} s"
        )


if __name__ == "__main__":
    args = sys.argv[1:]
    options = {flag: Path(args[args.index(flag) + 1]) for flag in ("--save", "--saved") if flag in args}
    main(
        Path(args[0] if args and not args[0].startswith("--") else "../shared/data/rca/trainticket"),
        save=options.get("--save"),
        saved=options.get("--saved"),
    )
