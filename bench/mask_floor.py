"""Masking floor: logrca's masking (polars, all threads) vs the Rust ``regex`` crate on one thread.

Both deduplicate each batch of messages and mask the distinct ones with the same rules (the masks of
``bench_templates.py`` plus logrca's defaults), applied in order as drain3 applies them. The Rust
side (``bench/mask_floor``, built with cargo on first use) is the engine polars runs, without
polars around it, so its time is about the least exact masking can cost per core. Prints both
times and their ratio; set them against the 20x budget of ``bench_templates.py`` (0.5 s per million
lines when drain3 does 100k lines/s).

    .venv/bin/python bench/mask_floor.py --input randomised [--lines 1000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

BATCH_LINES = 81_000  # about what an 8 MiB batch of bench_templates.py holds


def polars_side(messages_path: Path, rules) -> dict:
    import polars as pl

    from logrca.parsers.templates.dedup import dense_codes
    from logrca.parsers.templates.masking import Masker

    messages = pl.read_lines(messages_path.read_bytes())["line"]
    masker = Masker(rules)
    dedup_s = mask_s = 0.0
    distinct = masked_bytes = 0
    for start in range(0, messages.len(), BATCH_LINES):
        part = messages.slice(start, BATCH_LINES)
        began = time.perf_counter()
        raw, _, _ = dense_codes(part)
        dedup_s += time.perf_counter() - began
        began = time.perf_counter()
        masked = masker.mask_series(raw)
        mask_s += time.perf_counter() - began
        distinct += raw.len()
        masked_bytes += int(masked.str.len_bytes().sum())
    return {
        "lines": messages.len(),
        "distinct": distinct,
        "dedup_s": dedup_s,
        "mask_s": mask_s,
        "masked_bytes": masked_bytes,
    }


def rust_side(messages_path: Path, rules) -> dict:
    import shutil

    crate = ROOT / "bench" / "mask_floor"
    if shutil.which("cargo") is None:
        sys.exit(
            "mask_floor: the Rust side needs cargo (install Rust with rustup); the polars side alone proves nothing here"
        )
    subprocess.run(["cargo", "build", "--release", "--quiet", "--locked"], cwd=crate, check=True)
    binary = crate / "target" / "release" / "mask_floor"
    out = subprocess.run(
        [str(binary), str(messages_path), "--batch", str(BATCH_LINES), *[rule.pattern for rule in rules]],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--input",
        choices=["randomised", "replicated", "shop"],
        default="randomised",
        help="as in bench_templates.py",
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--loghub", type=Path, default=ROOT.parent / "shared" / "data" / "loghub")
    args = parser.parse_args()

    import polars as pl
    from bench_templates import HEADER, _config, build_input, build_shop_input

    from logrca.parsers.ingest.header_format import compile_header, split_content

    rules = list(_config().masking)
    with tempfile.TemporaryDirectory() as tmp:
        log, messages_path = Path(tmp) / "bench.log", Path(tmp) / "messages.txt"
        if args.input == "shop":
            build_shop_input(log, args.lines)
        else:
            build_input(args.loghub, log, args.lines, perturb=args.input == "randomised")
        lines = pl.read_lines(log.read_bytes())["line"]
        content = split_content(lines, compile_header(HEADER))["Content"].fill_null("")
        # one message per line (no message holds a newline here: split_content works on single lines)
        messages_path.write_text("\n".join(content.to_list()) + "\n", encoding="utf-8")
        polars = polars_side(messages_path, rules)
        rust = rust_side(messages_path, rules)
    print(
        f"input: {args.input}, {polars['lines']:,} lines, {polars['distinct']:,} distinct per {BATCH_LINES:,}-line batch in all"
    )
    print(
        f"polars (logrca, {pl.thread_pool_size()} threads): dedup {polars['dedup_s']:.3f} s, mask {polars['mask_s']:.3f} s"
    )
    print(f"rust regex (1 thread):       dedup {rust['dedup_s']:.3f} s, mask {rust['mask_s']:.3f} s")
    print(f"mask time ratio polars / rust-1-thread: {polars['mask_s'] / max(rust['mask_s'], 1e-9):.2f}")
    same = (polars["distinct"], polars["masked_bytes"]) == (rust["distinct"], rust["masked_bytes"])
    print(f"same distinct count and masked bytes on both sides (same work): {same}")


if __name__ == "__main__":
    main()
