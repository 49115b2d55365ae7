"""Cost as templates grow: lines/s of logrca's mining at 100, 1,000 and 10,000 templates (issue 17.3).

Users of Drain report that it slows to a crawl after millions of lines and thousands of templates
(logpai/logparser#33): every message is compared with every template of its tree leaf. This
benchmark builds, for each template count, a stream of ``--lines`` messages drawn uniformly from
that many generated templates (5-14 tokens; the first two tokens from 16 words each, so leaves
hold many templates, as with real component/verb prefixes; 1-3 numeric parameters per template),
and mines it with the pipeline's own path (``mine_in_batches`` with parameters, as ``log_templates``
does) in a fresh process per run: first a stream that learns the templates (each new template is a
Drain feed on any engine), then a second stream of the same templates with other numbers (steady
state: the cost the Drain complaint is about). Lines per CPU-second are printed beside lines/s, as
they hold up on a loaded machine. Plain drain3 (``add_log_message`` per line, same masks and
settings) runs on the same stream for comparison unless ``--no-drain3``. Runs alternate between
template counts, ``--repeat`` times; medians are reported, with the ratio of the fastest to the
slowest count (goal: steady state within 2x).

    .venv/bin/python bench/bench_template_count.py [--lines 300000] [--repeat 2] [--no-drain3]

``--lines 1000000 --no-drain3`` measures at the size of the Drain complaint (drain3 needs minutes
per pass there at 10,000 templates); report the 100k figure beside it (bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COUNTS = (100, 1_000, 10_000)
SIM_TH, DEPTH = 0.4, 4


def messages(templates: int, lines: int, draw: int = 0) -> list[str]:
    """``lines`` messages drawn uniformly from ``templates`` generated templates (the same for any ``draw``)."""
    import numpy as np

    rng = np.random.default_rng(5)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocabulary = ["".join(rng.choice(letters, size=int(rng.integers(3, 10)))) for _ in range(20_000)]
    heads, verbs = vocabulary[:16], vocabulary[16:32]
    shapes = []
    for _ in range(templates):
        width = int(rng.integers(5, 15))
        words = [heads[rng.integers(16)], verbs[rng.integers(16)]]
        words += [vocabulary[32 + rng.integers(len(vocabulary) - 32)] for _ in range(width - 2)]
        for slot in rng.choice(np.arange(2, width), size=int(rng.integers(1, 4)), replace=False):
            words[slot] = "{}"
        shapes.append(" ".join(words))
    rng = np.random.default_rng(100 + draw)
    picks = rng.integers(templates, size=lines)
    numbers = rng.integers(0, 100_000, size=(lines, 3)).tolist()
    return [shapes[pick].format(*row) for pick, row in zip(picks.tolist(), numbers)]


def _config():
    from logrca.parsers.templates.masking import DEFAULT_MASKING_RULES, parse_masking_rules
    from logrca.parsers.templates.miner import TemplateConfig

    return TemplateConfig(
        masking=parse_masking_rules([r"\b\d+\b"]) + list(DEFAULT_MASKING_RULES), sim_th=SIM_TH, depth=DEPTH
    )


def run_one(side: str, templates: int, lines: int) -> dict:
    """Mine a first stream (learning the templates), then a second one of the same templates; lines/s of both."""
    import polars as pl

    from logrca.parsers.evaluate import plain_drain3
    from logrca.parsers.templates.batches import mine_in_batches
    from logrca.parsers.templates.miner import TemplateMiner

    result = {"side": side, "templates": templates}
    miner = TemplateMiner(_config()) if side == "logrca" else plain_drain3(_config())
    for phase, draw in (("learning", 0), ("steady", 1)):
        stream = messages(templates, lines, draw)
        began, cpu = time.perf_counter(), time.process_time()
        if side == "logrca":
            found = mine_in_batches(pl.DataFrame({"message": stream}), miner)["template_id"].n_unique()
        else:
            found = len({miner.add_log_message(message)["cluster_id"] for message in stream})
        result[phase] = lines / (time.perf_counter() - began)
        result[f"{phase}_cpu"] = lines / (time.process_time() - cpu)  # lines per CPU-second: robust to load
        result[f"{phase}_found"] = found
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-drain3", action="store_true", help="time logrca only")
    parser.add_argument("--one", nargs=2, metavar=("SIDE", "TEMPLATES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]), args.lines)))
        return
    sides = ["logrca"] + ([] if args.no_drain3 else ["drain3"])
    runs: dict[tuple[str, int], list[dict]] = {}
    for attempt in range(args.repeat):  # counts and sides alternate, so load hits all of them
        for templates in COUNTS:
            for side in sides:
                command = [
                    sys.executable,
                    __file__,
                    "--lines",
                    str(args.lines),
                    "--one",
                    side,
                    str(templates),
                ]
                out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
                result = json.loads(out.strip().splitlines()[-1])
                runs.setdefault((side, templates), []).append(result)
                print(
                    f"run {attempt + 1} {side:6} {templates:>6,} templates: learning {result['learning']:>9,.0f} "
                    f"({result['learning_found']:,} found), steady {result['steady']:>9,.0f} lines/s; "
                    f"per CPU-s {result['learning_cpu']:,.0f} / {result['steady_cpu']:,.0f}",
                    flush=True,
                )
    report(runs, sides)


def report(runs: dict[tuple[str, int], list[dict]], sides: list[str]) -> None:
    """Medians per template count, and the fastest/slowest ratio per side and phase."""
    columns = [(side, phase) for side in sides for phase in ("learning", "steady")]
    print(f"\nmedian lines/s (lines per CPU-second in brackets)\n{'templates':>9}", end="")
    print("".join(f"{side + ' ' + phase:>24}" for side, phase in columns))

    def median(side: str, templates: int, key: str) -> float:
        return statistics.median(r[key] for r in runs[(side, templates)])

    for templates in COUNTS:
        cells = [
            f"{median(side, templates, phase):,.0f} ({median(side, templates, phase + '_cpu'):,.0f})"
            for side, phase in columns
        ]
        print(f"{templates:>9,}" + "".join(f"{cell:>24}" for cell in cells))
    for side, phase in columns:
        for key in (phase, phase + "_cpu"):
            rates = [median(side, templates, key) for templates in COUNTS]
            print(f"{side} {key}: fastest/slowest template count {max(rates) / min(rates):.2f}x")


if __name__ == "__main__":
    main()
