"""Benchmark: plain drain3 (line by line) vs logrca template mining on the same >= 1M-line log.

Inputs (``--input``), all under one common header ``<Date> <Time> <Level> <Component>: <Content>``:

- ``randomised`` (default): the Loghub 2k samples interleaved at random with every digit run
  replaced by random digits of the same length (ids, counters, addresses vary; worst case: most
  lines are distinct even after masking);
- ``replicated``: the same without touching digits (steady-state logs that repeat);
- ``shop``: the example shop (``examples/shop/generate.py --hours H --rate R``) read with logrca's
  readers (JSON lines, syslog, Loghub headers; multi-line stack traces kept as continuation lines).

Each side runs in its own subprocess (so peak RSS is its own); both use the same masks and Drain
settings. Prints lines/s, the ratio, peak memory, and checks that both assign the same cluster id
to every line (so the grouping is identical).

    .venv/bin/python bench/bench_templates.py --lines 1000000 --input replicated
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADER = "<Date> <Time> <Level> <Component>: <Content>"
# Masks an ops team sets up (drain3's example config masks IDs, IPs, hex and numbers the same way),
# plus the generic masks logrca had as defaults when this benchmark was set up (UUID, IPv4, hex;
# kept fixed so that rounds stay comparable); the same on both sides.
MASKS = [r"blk_-?\d+", r"core\.\d+", r"\b\d+\b"]
GENERIC_MASKS = [
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
    r"(\d+\.){3}\d+",
    r"\b0[xX][0-9a-fA-F]+\b",
]
SIM_TH, DEPTH = 0.5, 4


def build_input(loghub: Path, target: Path, lines: int, seed: int = 7, perturb: bool = True) -> int:
    """Write ``lines`` sample lines under one header (digit runs randomised when ``perturb``); returns the count."""
    import polars as pl

    contents: list[tuple[str, str]] = []
    for truth in sorted(loghub.glob("*/*_2k.log_structured_corrected.csv")):
        system = truth.parent.name
        frame = pl.read_csv(truth, infer_schema=False)
        contents += [(system, content) for content in frame["Content"].fill_null("").to_list()]
    rng = random.Random(seed)
    digits = re.compile(r"\d+")
    levels = ["INFO", "INFO", "INFO", "WARN", "ERROR", "DEBUG"]
    written = 0
    with open(target, "w", encoding="utf-8") as out:
        while written < lines:
            chunk = []
            for _ in range(min(50_000, lines - written)):
                system, content = contents[rng.randrange(len(contents))]
                if perturb:
                    content = digits.sub(
                        lambda m: str(rng.randrange(10 ** len(m.group()))).zfill(len(m.group())), content
                    )
                second = written // 100
                chunk.append(
                    f"2024-05-{1 + second // 86400 % 28:02d} {second // 3600 % 24:02d}:{second // 60 % 60:02d}:{second % 60:02d},{written % 1000:03d} {rng.choice(levels)} {system}: {content}\n"
                )
                written += 1
            out.write("".join(chunk))
    return written


def build_shop_input(target: Path, lines: int, hours: int = 3, rate: float = 30.0) -> int:
    """Write up to ``lines`` lines of the generated example shop (all services, time order) under the common header."""
    import polars as pl

    from logrca.assets.config import load_config
    from logrca.parsers.ingest.readers import read_sources

    with tempfile.TemporaryDirectory(prefix="logrca-shop-") as tmp:
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "examples" / "shop" / "generate.py"),
                f"{tmp}/logs",
                "--hours",
                str(hours),
                "--rate",
                str(rate),
            ],
            check=True,
            capture_output=True,
        )
        config = load_config(ROOT / "examples" / "shop" / "logrca.yaml")
        result, _ = read_sources(config.sources, base_dir=Path(tmp))
    events = result.events.head(lines)
    text = events.select(
        pl.format(
            "{} {} {}: {}",
            pl.col("timestamp").dt.strftime("%Y-%m-%d %H:%M:%S,%3f"),
            pl.col("level").fill_null("INFO"),
            pl.col("service"),
            pl.col("message"),
        )
    ).to_series()
    written = 0
    with open(target, "w", encoding="utf-8") as out:
        for line in text.to_list():
            if written >= lines:
                break
            out.write(line + "\n")
            written += line.count("\n") + 1
    return written


def _config():
    from logrca.parsers.templates.masking import parse_masking_rules
    from logrca.parsers.templates.miner import TemplateConfig

    # no cluster splitting: the run checks that every line gets drain3's cluster id
    return TemplateConfig(
        masking=parse_masking_rules(MASKS + GENERIC_MASKS), sim_th=SIM_TH, depth=DEPTH, split_max_values=0
    )


def run_side(side: str, log_path: Path, ids_path: Path) -> dict:
    """Run one side in this process; write its per-line cluster ids to ``ids_path`` (Parquet)."""
    import polars as pl

    from logrca.parsers.evaluate import run_drain3_baseline, run_logrca
    from logrca.parsers.ingest.header_format import compile_header
    from logrca.parsers.templates.miner import TemplateMiner

    fmt, config = compile_header(HEADER), _config()
    started = time.perf_counter()
    drain_calls = None
    if side == "drain3":
        result, seconds = run_drain3_baseline(log_path, fmt, config)
        drain_calls = result.height
    else:
        miner = TemplateMiner(config)
        result, seconds = run_logrca(log_path, fmt, config, miner=miner)
        drain_calls = miner._feeder.calls
    peak_mib = _peak_rss_mib()  # before writing the ids (not part of the run)
    total = time.perf_counter() - started
    # drain3's cluster id per line on both sides (logrca's template_id is a stable hash naming it)
    result.select(pl.col("cluster_id" if side == "logrca" else "template_id").alias("cluster")).write_parquet(
        ids_path
    )
    return {
        "side": side,
        "lines": result.height,
        "seconds": seconds,
        "lines_per_second": result.height / seconds,
        "templates": int(result["template_id"].n_unique()),
        "peak_rss_mib": peak_mib,
        "wall_with_result_s": total,
        "drain_calls": drain_calls,
    }


def _peak_rss_mib() -> float:
    """Peak resident memory of this process (VmHWM; ``ru_maxrss`` would include the parent's before exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--loghub", type=Path, default=ROOT.parent / "shared" / "data" / "loghub")
    parser.add_argument(
        "--input",
        choices=["randomised", "replicated", "shop"],
        default="randomised",
        help="which input to build (see above)",
    )
    parser.add_argument("--no-perturb", action="store_true", help="same as --input replicated")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per side (alternating); best and median are reported"
    )
    parser.add_argument("--shop-hours", type=int, default=3)
    parser.add_argument("--shop-rate", type=float, default=30.0)
    parser.add_argument("--keep", type=Path, help="write the generated log here (default: a temp dir)")
    parser.add_argument("--side", choices=["drain3", "logrca"], help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ids", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def build(args: argparse.Namespace, log_path: Path) -> None:
    """Write the chosen input to ``log_path`` and say what it holds."""
    started = time.perf_counter()
    kind = "replicated" if args.no_perturb else args.input
    if kind == "shop":
        count = build_shop_input(log_path, args.lines, hours=args.shop_hours, rate=args.shop_rate)
        if count < args.lines:
            print(
                f"note: {args.shop_hours} shop hours at rate {args.shop_rate} hold only {count:,} lines, not the "
                f"{args.lines:,} asked for; raise --shop-hours (about {count / args.shop_hours:,.0f} lines per hour)"
            )
    else:
        count = build_input(args.loghub, log_path, args.lines, perturb=kind == "randomised")
    print(
        f"input: {kind}, {count:,} lines, {log_path.stat().st_size / 2**20:.0f} MiB, built in {time.perf_counter() - started:.1f}s"
    )


def run_sides(log_path: Path, tmp: Path, repeat: int) -> dict[str, list[dict]]:
    """Both sides ``repeat`` times, alternating, each in its own process."""
    runs: dict[str, list[dict]] = {"drain3": [], "logrca": []}
    for attempt in range(repeat):  # sides alternate, so load from other processes hits both
        for side in ("drain3", "logrca"):
            ids = tmp / f"{side}.parquet"
            out = subprocess.run(
                [sys.executable, __file__, "--side", side, "--log", str(log_path), "--ids", str(ids)],
                check=True,
                capture_output=True,
                text=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            runs[side].append(r)
            print(
                f"{side:7s} run {attempt + 1}: {r['lines_per_second']:>10,.0f} lines/s  {r['seconds']:7.2f}s  peak RSS "
                f"{r['peak_rss_mib']:5.0f} MiB  templates {r['templates']}  Drain calls {r['drain_calls']:,}"
            )
    return runs


def main() -> None:
    args = parse_args()
    if args.side:
        print(json.dumps(run_side(args.side, args.log, args.ids)))
        return

    import polars as pl

    with tempfile.TemporaryDirectory(prefix="logrca-bench-") as tmp:
        log_path = args.keep or Path(tmp) / "bench.log"
        build(args, log_path)
        runs = run_sides(log_path, Path(tmp), args.repeat)
        same = pl.read_parquet(Path(tmp) / "drain3.parquet")["cluster"].equals(
            pl.read_parquet(Path(tmp) / "logrca.parquet")["cluster"]
        )
        best = {side: max(r["lines_per_second"] for r in side_runs) for side, side_runs in runs.items()}
        median = {
            side: statistics.median(r["lines_per_second"] for r in side_runs)
            for side, side_runs in runs.items()
        }
        peak = {side: max(r["peak_rss_mib"] for r in side_runs) for side, side_runs in runs.items()}
        print(
            f"best of {args.repeat}: drain3 {best['drain3']:,.0f} lines/s, logrca {best['logrca']:,.0f} lines/s, "
            f"ratio {best['logrca'] / best['drain3']:.1f}x (median ratio {median['logrca'] / median['drain3']:.1f}x); "
            f"peak RSS drain3 {peak['drain3']:.0f} MiB, logrca {peak['logrca']:.0f} MiB; "
            f"identical cluster id on every line: {same}"
        )


if __name__ == "__main__":
    main()
