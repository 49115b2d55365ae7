"""Dense codes of a polars Series: its distinct values, per row the index of its value, each value's first row."""

from __future__ import annotations

import numpy as np
import polars as pl

__all__ = ["dense_codes"]


def dense_codes(values: pl.Series) -> tuple[pl.Series, np.ndarray, np.ndarray]:
    """Distinct values of a Series (Utf8, List(Utf8) or a Struct of such), per row the index of its value among them, and each value's first row.

    Rows are grouped by a 64-bit hash and checked against their group's first value; on a hash
    collision (any row differing from it) the grouping falls back to an exact join.
    """
    hashes = values.hash().to_numpy()
    first, codes = _unique_hashes(hashes)
    distinct = values.gather(first)
    if values.eq_missing(distinct.gather(codes)).all():  # nulls equal nulls (as in grouping)
        return distinct, codes.astype(np.int64, copy=False), first
    frame = values.to_frame("_value").with_row_index("_row")
    firsts = frame.group_by("_value", maintain_order=True).agg(pl.col("_row").first()).with_row_index("_code")
    codes = frame.join(firsts.select("_value", "_code"), on="_value", how="left", maintain_order="left")[
        "_code"
    ]
    return firsts["_value"], codes.to_numpy().astype(np.int64), firsts["_row"].to_numpy().astype(np.int64)


def _unique_hashes(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(hashes, return_index=True, return_inverse=True)[1:]``, about 3x faster.

    An unstable sort (introsort/radix) groups equal hashes; each group's first row is the
    smallest row in it (``np.minimum.at``), so no stable sort is needed.
    """
    if len(hashes) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    order = np.argsort(hashes)
    ordered = hashes[order]
    starts = np.empty(len(ordered), dtype=bool)
    starts[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    group = np.cumsum(starts) - 1
    codes = np.empty(len(hashes), dtype=np.int64)
    codes[order] = group
    first = np.full(int(group[-1]) + 1, len(hashes), dtype=np.int64)
    np.minimum.at(first, group, order)
    return first, codes
