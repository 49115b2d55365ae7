"""Mining in batches: a reader thread prepares the next batches while the miner works on the current one."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import polars as pl

from logrca.parsers.templates import miner as _templates

__all__ = [
    "MinedFiles",
    "batch_bounds",
    "first_batch_size",
    "frame_batches",
    "mine_ahead",
    "mine_in_batches",
    "mine_template_batches",
    "mine_to_files",
    "prefetch",
    "write_spill",
]

T = TypeVar("T")
DEFAULT_BATCH_ROWS = _templates.DEFAULT_BATCH_ROWS


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
    for mined, params in _mine_ahead_later(batches, miner, with_params=with_params):
        yield mined if params is None else mined.with_columns(params())


def _mine_ahead_later(
    batches: Iterable[pl.DataFrame], miner: _templates.TemplateMiner, *, with_params: bool
) -> Iterator[tuple[pl.DataFrame, Callable[[], pl.Series] | None]]:
    """:func:`mine_ahead` with each batch's ``params`` left to a job (:func:`logrca.parsers.templates.miner.mine_templates_later`)."""
    prepared = (_templates.prepare_batch(batch, miner, tokenize=False) for batch in batches)
    for ready in prefetch(prepared):
        yield _templates.mine_templates_later(ready.events, miner, with_params=with_params, prepared=ready)


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
    parts = list(mine_ahead(frame_batches(events, batch_rows), miner, with_params=with_params))
    # final template per batch, batches kept as chunks: one chunk of the whole frame (as a join makes)
    # writes to Parquet ~3x slower, its string views reaching into every batch's buffers
    final_template = _final_template(miner.templates())
    return pl.concat([part.with_columns(final_template) for part in parts], rechunk=False)


def batch_bounds(height: int, batch_rows: int) -> list[tuple[int, int]]:
    """``(start, end)`` of the batches :func:`mine_in_batches` cuts ``height`` rows into.

    One batch when the rows fit in ``batch_rows`` (also for no rows, so the result has a schema);
    otherwise a first batch of :func:`first_batch_size` and ``batch_rows`` after it. Every batched
    path cuts alike, so a line gets the same template id and parameters whichever path mined it.
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")
    if height <= batch_rows:
        return [(0, height)]
    starts = [0, *range(first_batch_size(batch_rows), height, batch_rows)]
    return list(zip(starts, [*starts[1:], height]))


def frame_batches(
    events: pl.DataFrame | pl.LazyFrame, batch_rows: int = DEFAULT_BATCH_ROWS, *, rows: int | None = None
) -> Iterator[pl.DataFrame]:
    """The batches of :func:`batch_bounds`, each collected only when asked for.

    A ``LazyFrame`` over Parquet is read one slice at a time (the scan skips the row groups before
    the slice), so memory holds a batch, not the frame. ``rows``: the frame's rows when known (a
    count of two scans put side by side reads a whole column of one of them).
    """
    for start, end in batch_bounds(_height(events) if rows is None else rows, batch_rows):
        yield _collected(events.slice(start, end - start))


@dataclass(frozen=True)
class MinedFiles:
    """Events mined batch by batch onto disk: the part files, their scan and what was counted on the way."""

    #: The events with ``template_id``, ``template`` (each cluster's template after the last batch) and,
    #: ``with_params``, ``params``: a scan of ``files``, which hold them in line order.
    events: pl.LazyFrame
    rows: int
    #: ``template_id``, ``template``, ``lines``: lines per template of these events, most lines first.
    lines_per_template: pl.DataFrame
    #: Lines that got no template id (0 unless the miner failed a line).
    missing_ids: int
    #: The folder of part files (``batch-NNNNNN.parquet``, one per batch, in line order).
    folder: Path
    files: tuple[Path, ...]
    #: Part files written again because a template of theirs changed in a later batch.
    rewritten: int


def mine_to_files(
    events: pl.DataFrame | pl.LazyFrame,
    miner: _templates.TemplateMiner,
    folder: Path,
    *,
    with_params: bool = True,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    write_options: dict | None = None,
    columns: list[str] | None = None,
) -> MinedFiles:
    """:func:`mine_in_batches`, each mined batch written to a part file in ``folder``: memory follows the batch.

    The input is read one batch at a time (:func:`frame_batches`), so a ``LazyFrame`` over the
    partition's Parquet file is never loaded whole. The part files hold the lines :func:`mine_in_batches`
    gives (same batch ends), in line order: together they are the output, to be read or moved into
    place as they are, not rewritten. A batch is written with the templates its clusters had then; at
    the end, only the part files holding a template that changed in a later batch are written again
    with each cluster's final template (in steady state, none: a system's templates settle after
    its first hours). ``write_options`` are ``polars.DataFrame.write_parquet``'s (default
    :data:`SPILL_WRITE`). ``columns`` are the columns the part files hold (default: all of the mined
    lines'; the pipeline keeps only the template columns, row for row with the lines it read). The
    state is not saved here.
    """
    if batch_rows < 1:
        raise ValueError(f"mine_to_files: batch_rows must be >= 1, got {batch_rows}")
    options = SPILL_WRITE if write_options is None else write_options
    folder.mkdir(parents=True, exist_ok=True)
    files, seen, rows, missing = [], [], 0, 0
    # a batch gets its parameters (if asked) and is written on a thread while the next one is mined (the
    # parameters are polars' work, which releases the GIL, and need no Drain state); one batch at a
    # time, so at most one mined batch waits
    with ThreadPoolExecutor(max_workers=1) as writer:
        written = None
        mined = _mine_ahead_later(frame_batches(events, batch_rows), miner, with_params=with_params)
        for number, (part, params) in enumerate(mined):
            seen.append(_templates_seen(part))
            rows, missing = rows + part.height, missing + _missing(part)
            if written is not None:
                written.result()
            files.append(folder / f"batch-{number:06d}.parquet")
            written = writer.submit(_write_part, part, params, files[-1], options, columns)
        if written is not None:
            written.result()
    final = miner.templates()
    stale = [path for path, pairs in zip(files, seen) if _changed_since(pairs, final)]
    for path in stale:
        _write_final_templates(path, final, options)
    return MinedFiles(
        events=pl.scan_parquet(files),
        rows=rows,
        lines_per_template=_lines_per_template(seen, final),
        missing_ids=missing,
        folder=folder,
        files=tuple(files),
        rewritten=len(stale),
    )


#: Parquet options of part files written for reading back (lz4: the cheapest to write and read of
#: those measured, IPC plain or lz4 included).
SPILL_WRITE = {"compression": "lz4", "statistics": False}


def write_spill(frame: pl.DataFrame, path: Path) -> None:
    """One batch of a spill folder: Parquet lz4 without statistics, the cheapest to write and read back."""
    frame.write_parquet(path, **SPILL_WRITE)


def _write_part(
    mined: pl.DataFrame,
    params: Callable[[], pl.Series] | None,
    path: Path,
    options: dict,
    columns: list[str] | None = None,
) -> None:
    part = mined if params is None else mined.with_columns(params())
    (part if columns is None else part.select(columns)).write_parquet(path, **options)


def _templates_seen(part: pl.DataFrame) -> pl.DataFrame:
    """A mined batch's ``template_id``, its ``lines``, the ``template`` written, and how many texts it had."""
    return part.group_by("template_id").agg(
        pl.len().alias("lines"), pl.col("template").first(), pl.col("template").n_unique().alias("texts")
    )


def _changed_since(seen: pl.DataFrame, final: pl.DataFrame) -> bool:
    """Whether a batch's written templates (``seen``) differ from the clusters' ``final`` ones."""
    now = seen.with_columns(_final_template(final).alias("_final"))
    return bool(
        now.select((pl.col("texts") > 1) | pl.col("template").ne_missing(pl.col("_final"))).to_series().any()
    )


def _write_final_templates(path: Path, final: pl.DataFrame, options: dict) -> None:
    """Write a part file again with each cluster's ``final`` template (line order kept)."""
    temporary = path.with_suffix(".final")
    pl.read_parquet(path).with_columns(_final_template(final)).write_parquet(temporary, **options)
    temporary.replace(path)


def _height(events: pl.DataFrame | pl.LazyFrame) -> int:
    """Rows of ``events`` (of a Parquet scan: from the file's metadata)."""
    return events.height if isinstance(events, pl.DataFrame) else events.select(pl.len()).collect().item()


def _collected(events: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    return events if isinstance(events, pl.DataFrame) else events.collect()


def _missing(mined: pl.DataFrame) -> int:
    return mined["template_id"].null_count()


def _lines_per_template(counts: list[pl.DataFrame], final: pl.DataFrame) -> pl.DataFrame:
    """``template_id, template, lines`` summed over the batches' counts, most lines first."""
    return (
        pl.concat(counts)
        .group_by("template_id")
        .agg(pl.col("lines").sum())
        .join(final.select("template_id", "template"), on="template_id", how="left")
        .select("template_id", "template", "lines")
        .sort("lines", "template_id", descending=[True, False])
    )


def _final_template(final: pl.DataFrame) -> pl.Expr:
    """``template`` replaced by each cluster's template in ``final`` (``miner.templates()`` at the end)."""
    return (
        pl.col("template_id")
        .replace_strict(final["template_id"], final["template"], default=pl.col("template"))
        .alias("template")
    )
