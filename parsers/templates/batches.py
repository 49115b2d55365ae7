"""Mining in batches: a reader thread prepares the next batches while the miner works on the current one."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import polars as pl

from logrca.parsers.templates import miner as _templates

__all__ = ["first_batch_size", "mine_ahead", "mine_in_batches", "mine_template_batches", "prefetch"]

T = TypeVar("T")
DEFAULT_BATCH_ROWS = 100_000


def prefetch(items: Iterator[T], ahead: int = 2) -> Iterator[T]:
    """Produce up to ``ahead`` next items of ``items`` in a worker thread while the caller works on the current one.

    Meant for polars-heavy producers (reading, header splitting, masking), which release the GIL, so
    they overlap with Drain's Python work. At most ``ahead`` items wait (bounded memory). An error
    in the producer is raised here, at the item where it happened.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:  # one worker: the futures run in order
        pending = deque(pool.submit(next, items, None) for _ in range(max(1, ahead)))
        while (item := pending.popleft().result()) is not None:
            pending.append(pool.submit(next, items, None))
            yield item


def first_batch_size(batch_size: int) -> int:
    """Size of a stream's first batch: a quarter of the others.

    The first batch is where Drain's tree is learnt: most of its state-changing lines come there, and
    after each one the batch's messages on the changed nodes are matched again, so the work grows
    with the distinct messages in that batch. A smaller first batch also gets the miner going
    sooner while the reader prepares the next ones. (Measured with ``bench/bench_templates.py``:
    1M lines, 2 of 8 MiB first, 3–8% faster on the three inputs; results are the same for any batching.)
    """
    return max(1, batch_size // 4)


def mine_template_batches(
    batches: Iterable[pl.DataFrame],
    miner: _templates.TemplateMiner,
    *,
    with_params: bool = True,
    save_every: int | None = None,
) -> Iterator[pl.DataFrame]:
    """Mine a stream of frames one batch at a time (memory bounded by a few batches and Drain's state).

    Each batch is deduplicated and masked ahead on a worker thread (:func:`logrca.parsers.templates.miner.prepare_batch`
    reads no Drain state); the result per line is the same as :func:`logrca.parsers.templates.miner.mine_templates` on
    each batch in turn. Saves the state after every ``save_every`` batches and at the end when
    ``config.state_path`` is set.
    """
    done = 0
    for mined in mine_ahead(batches, miner, with_params=with_params):
        yield mined
        done += 1  # noqa: SIM113
        if miner.config.state_path is not None and save_every and done % save_every == 0:
            miner.save()
    if miner.config.state_path is not None:
        miner.save()


def mine_ahead(
    batches: Iterable[pl.DataFrame], miner: _templates.TemplateMiner, *, with_params: bool = True
) -> Iterator[pl.DataFrame]:
    """:func:`logrca.parsers.templates.miner.mine_templates` of each batch in turn, the next batches deduplicated and masked on a worker thread.

    Tokenizing stays on the caller's thread, which balances the two best when most messages are
    distinct (on repetitive logs the miner waits for the reader either way). Saves nothing.
    """
    prepared = (_templates.prepare_batch(batch, miner, tokenize=False) for batch in batches)
    for ready in prefetch(prepared):
        yield _templates.mine_templates(ready.events, miner, with_params=with_params, prepared=ready)


def mine_in_batches(
    events: pl.DataFrame,
    miner: _templates.TemplateMiner,
    *,
    with_params: bool = True,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> pl.DataFrame:
    """:func:`logrca.parsers.templates.miner.mine_templates` on a large frame, in batches of ``batch_rows`` rows.

    Same ``template_id`` per line as mining the frame at once (both equal drain3 fed line by line),
    and ``template`` is each cluster's template after the whole frame, as there. ``params`` are
    taken against the template at the end of the line's batch (a template that generalises later
    in the frame can hold more ``<*>``). Faster than one batch on large frames (the Drain heap and
    the leaves' match matrices stay small) and memory grows with the batch, not the frame. The
    state is not saved here.
    """
    if batch_rows < 1:
        raise ValueError(f"mine_in_batches: batch_rows must be >= 1, got {batch_rows}")
    if events.height <= batch_rows:
        return _templates.mine_templates(events, miner, with_params=with_params)
    starts = [0, *range(first_batch_size(batch_rows), events.height, batch_rows)]
    slices = (events.slice(start, end - start) for start, end in zip(starts, [*starts[1:], events.height]))
    parts = list(mine_ahead(slices, miner, with_params=with_params))
    final = miner.templates()
    # final template per batch, batches kept as chunks: one chunk of the whole frame (as a join makes)
    # writes to Parquet ~3x slower, its string views reaching into every batch's buffers
    final_template = pl.col("template_id").replace_strict(
        final["template_id"], final["template"], default=pl.col("template")
    )
    return pl.concat([part.with_columns(final_template.alias("template")) for part in parts], rechunk=False)
