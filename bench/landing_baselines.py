"""What ``bench_landing.py`` compares the landed hour with, on the same lines in the same run.

Plain drain3 (the issue's baseline: the landing pipeline against drain3 alone) and logrca's own
mining core (the ``log_templates`` stage against the engine it runs). Both read the lines the
pipeline stored for the partition (``raw_logs``) and time mining only.
"""

from __future__ import annotations

import time
from pathlib import Path


def drain3_lines_per_second(data_dir: Path, partition: str, config_path: Path) -> tuple[int, float]:
    """Plain drain3 over the messages of ``partition`` as the pipeline read them; returns (lines, seconds)."""
    import polars as pl

    from logrca.assets.config import load_config
    from logrca.parsers.evaluate import plain_drain3

    (parquet,) = (data_dir / "parquet" / "raw_logs").glob(f"{partition}*.parquet")
    messages = pl.read_parquet(parquet, columns=["message"])["message"].fill_null("").to_list()
    miner = plain_drain3(load_config(config_path).templates)
    began = time.perf_counter()
    for message in messages:
        miner.add_log_message(message)
    return len(messages), time.perf_counter() - began


def core_lines_per_second(data_dir: Path, partition: str, config_path: Path) -> tuple[int, float]:
    """logrca's mining core over ``partition``'s events as the pipeline read them; returns (lines, seconds).

    The stage's miner had mined the partitions before it: a miner without a state file mines those
    first (untimed), then the partition is timed, in memory (``mine_in_batches``, the stage's batch
    size, without parameters as the stage), with no Parquet read or part file written.
    """
    import polars as pl

    from logrca.assets.config import load_config
    from logrca.parsers.templates.batches import mine_in_batches
    from logrca.parsers.templates.miner import TemplateMiner

    settings = load_config(config_path).templates.model_copy(update={"state_path": None})
    miner = TemplateMiner(settings)
    files = sorted((data_dir / "parquet" / "raw_logs").glob("*.parquet"))
    for earlier in (path for path in files if path.name < partition):
        mine_in_batches(pl.read_parquet(earlier), miner, with_params=False, batch_rows=settings.batch_size)
    (parquet,) = (path for path in files if path.name.startswith(partition))
    events = pl.read_parquet(parquet)
    began = time.perf_counter()
    mine_in_batches(events, miner, with_params=False, batch_rows=settings.batch_size)
    return events.height, time.perf_counter() - began
