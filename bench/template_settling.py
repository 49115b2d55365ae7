"""How often ``log_templates`` writes a part file again: a template of an earlier batch changed later.

``mine_to_files`` writes each mined batch as a part file with its clusters' templates of that moment
and, at the end, writes again only the part files holding a template that changed in a later batch
(docs/scaling.md, "Template mining streams"). This mines the TrainTicket cases (``../shared``) one
after another with one miner, as consecutive partitions of one system, through ``mine_to_files``
itself, and prints per case its lines, batches and the part files written again.

Usage: ``.venv/bin/python bench/template_settling.py [--batch-rows 5000] [--cases DIR]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import logrca  # noqa: E402, F401 - before polars, as in logrca's own processes (its allocator setting)

CASES = ROOT.parent / "shared" / "data" / "rca" / "trainticket" / "cases"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-rows", type=int, default=5000)
    parser.add_argument("--cases", type=Path, default=CASES)
    args = parser.parse_args()

    from logrca.assets.config import LogrcaConfig
    from logrca.parsers.ingest.readers import read_sources
    from logrca.parsers.templates.batches import mine_to_files
    from logrca.parsers.templates.miner import TemplateMiner
    from logrca.rca.cases import case_config

    miner, changed = None, 0
    cases = sorted(path for path in args.cases.iterdir() if path.is_dir())
    print(f"{'case':<18}{'lines':>8}{'batches':>9}{'rewritten':>11}")
    with tempfile.TemporaryDirectory() as spill:
        for number, case in enumerate(cases):
            config = LogrcaConfig.model_validate(case_config(case, normal_dirs=[]))
            miner = miner or TemplateMiner(config.templates.model_copy(update={"state_path": None}))
            window = [source for source in config.sources if source.role == "window"]
            events = read_sources(window, base_dir=case)[0].events
            folder = Path(spill, f"case-{number:03d}")
            mined = mine_to_files(events, miner, folder, batch_rows=args.batch_rows, with_params=False)
            changed += mined.rewritten > 0
            print(f"{case.name:<18}{mined.rows:>8,}{len(mined.files):>9}{mined.rewritten:>11}")
    print(f"cases with a part file written again: {changed} of {len(cases)}")


if __name__ == "__main__":
    main()
