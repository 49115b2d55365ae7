"""Per-dataset accuracy table (Markdown): plain drain3 vs logrca on every labelled Loghub sample.

For each ``<System>/`` under --loghub that has ``<System>_2k.log``, its
``*_structured_corrected.csv`` and a settings file ``bench/loghub_masking/<System>.yaml``:

- drain3 (defaults): drain3.TemplateMiner at logrca's default sim_th/depth (0.5, 6), the
  benchmark's usual masks;
- logrca (defaults): logrca's default sim_th/depth, logrca's generic masks then the file's;
- drain3 (usual): drain3 with the file's masks and sim_th/depth (what --baseline runs);
- logrca (usual): logrca's generic masks then the file's, the file's sim_th/depth.

logrca's defaults without any per-dataset mask, and how they were chosen: bench/loghub_loo.py.

Each logrca column is set against the drain3 column with the same settings.

    .venv/bin/python bench/loghub_table.py > /tmp/table.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from logrca.commands.eval_parsing import build_configs  # noqa: E402
from logrca.parsers.evaluate import evaluate_parsing  # noqa: E402
from logrca.parsers.templates.miner import TemplateConfig  # noqa: E402

METRICS = ("GA", "PA", "FGA", "FTA")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--loghub", type=Path, default=ROOT.parent / "shared" / "data" / "loghub")
    parser.add_argument("--settings", type=Path, default=ROOT / "bench" / "loghub_masking")
    args = parser.parse_args()
    columns = ("drain3 (defaults)", "logrca (defaults)", "drain3 (usual)", "logrca (usual)")
    print("| system | " + " | ".join(f"{m} {c}" for m in METRICS for c in columns) + " |")
    print("|---" * (1 + len(columns) * len(METRICS)) + "|")
    for folder in sorted(p for p in args.loghub.iterdir() if p.is_dir()):
        system = folder.name
        log, truth, settings = (
            folder / f"{system}_2k.log",
            folder / f"{system}_2k.log_structured_corrected.csv",
            args.settings / f"{system}.yaml",
        )
        if not (log.exists() and truth.exists() and settings.exists()):
            print(f"skipping {system}: missing log, labels or {settings}", file=sys.stderr)
            continue
        config, usual, fmt = build_configs(settings, None, None, default_masks=True)
        defaults = TemplateConfig()
        lib_defaults = TemplateConfig(masking=usual.masking)  # logrca's sim_th/depth, the usual masks
        config_defaults = config.model_copy(update={"sim_th": defaults.sim_th, "depth": defaults.depth})
        plain = evaluate_parsing(log, fmt, truth, config_defaults, baseline_config=lib_defaults)
        tuned = evaluate_parsing(log, fmt, truth, config, baseline_config=usual)
        cells = []
        for metric in METRICS:
            cells += [
                f"{plain['drain3'][metric]:.3f}",
                f"**{plain['logrca'][metric]:.3f}**",
                f"{tuned['drain3'][metric]:.3f}",
                f"**{tuned['logrca'][metric]:.3f}**",
            ]
        print(f"| {system} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
