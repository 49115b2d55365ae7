"""A batch's plan before it meets Drain's state: tokens as drain3 splits them, line order per message, tree routes."""

from __future__ import annotations

import numpy as np
import polars as pl
from drain3.drain import Drain

from logrca.parsers.templates.dedup import dense_codes
from logrca.parsers.templates.masking import select_in_parts

__all__ = ["BatchPlan", "numeric_wildcard", "single_spaced", "split_single_spaced", "tokenize"]

# a whitespace run that is not one plain space (Python's str.split() whitespace: \s plus U+001C..U+001F)
_IRREGULAR_SPACE = r"[\s\x1c-\x1f]{2,}|[\s\x1c-\x1f-- ]"


def tokenize(messages: pl.Series, extra_delimiters: tuple[str, ...] | list[str] = ()) -> pl.Series:
    """Tokens of each message exactly as ``Drain.get_content_as_tokens`` splits them, vectorized.

    Python's ``str.split()`` splits on Unicode White_Space plus the separators U+001C..U+001F,
    which the Rust ``\\s`` class lacks, so those are added to the class.
    """
    expr = pl.col("m")
    for delimiter in extra_delimiters:
        expr = expr.str.replace_all(delimiter, " ", literal=True)
    # one select: polars splits on its threads too
    return _no_empty_token(select_in_parts(messages, single_spaced(expr).str.split(" ")))


def single_spaced(text: pl.Expr) -> pl.Expr:
    """``text`` with every whitespace run as one space and none at the ends: ``" ".join(text.split())``."""
    return text.str.replace_all(_IRREGULAR_SPACE, " ").str.strip_chars(" ")


def split_single_spaced(spaced: pl.Series) -> pl.Series:
    """:func:`tokenize` (no extra delimiters) of text already :func:`single_spaced`: a split at the spaces."""
    return _no_empty_token(select_in_parts(spaced, pl.col("m").str.split(" ")))


def _no_empty_token(tokens: pl.Series) -> pl.Series:
    tokens = tokens.alias("tokens")
    empty = (
        tokens.list.first().str.len_bytes() == 0
    )  # drain3 gives no token, split gives [""] (the only way to get "")
    if empty.any():
        tokens = pl.select(
            pl.when(empty).then(pl.lit([], dtype=pl.List(pl.Utf8))).otherwise(tokens).alias("tokens")
        ).to_series()
    return tokens


def numeric_wildcard(drain: Drain) -> str | None:
    """What a token holding a digit walks as in ``drain``'s tree (its ``param_str``), or None when such tokens are keys too."""
    return drain.param_str if drain.parametrize_numeric_tokens else None


class BatchPlan:
    """What a batch needs before it meets Drain's state: tokens (flat, hashed), line order per message, token prefixes.

    Built from the distinct masked messages and the per-line codes only (Drain's settings, not its
    tree), so it can be built on another thread while the previous batch is being mined.
    """

    def __init__(
        self,
        distinct: pl.Series,
        codes: np.ndarray,
        extra_delimiters: tuple[str, ...] | list[str],
        max_node_depth: int,
        numeric_wildcard: str | None = None,
    ):
        self.distinct, self.codes = distinct, codes
        self.n, self.k = len(codes), distinct.len()
        tokens = tokenize(distinct, extra_delimiters)
        self.lengths = tokens.list.len().to_numpy().astype(np.int64)
        self.offsets = np.zeros(self.k + 1, dtype=np.int64)
        np.cumsum(self.lengths, out=self.offsets[1:])
        self.flat_tokens = (
            tokens.explode(empty_as_null=False).drop_nulls()
            if self.offsets[-1]
            else pl.Series([], dtype=pl.Utf8)
        )
        self.flat_hashes = self.flat_tokens.hash(seed=0).to_numpy()
        # lines grouped by message, in line order; sorted keys find a message's next line fast
        k, n = self.k, self.n
        self.order = (
            np.argsort(codes.astype(np.uint16), kind="stable")
            if k <= 65536
            else np.argsort(codes * n + np.arange(n))
        )
        counts = np.bincount(codes, minlength=k)
        self.starts = np.zeros(k + 1, dtype=np.int64)
        np.cumsum(counts, out=self.starts[1:])
        self.line_keys = codes[self.order] * (n + 1) + self.order
        self._group_routes(max_node_depth, numeric_wildcard)

    def _group_routes(self, max_node_depth: int, numeric_wildcard: str | None) -> None:
        """Group the messages by the part of them that decides their walk down Drain's tree (a "prefix").

        The walk depends on the token count and the first ``max_node_depth - 1`` tokens (fewer for
        short messages). ``numeric_wildcard`` is Drain's ``param_str`` when it runs with
        ``parametrize_numeric_tokens``: then no node has a child keyed by a token holding a digit,
        since ``add_seq_to_prefix_tree`` files such tokens under ``param_str``, so a token with a
        decimal digit (``\\d``, a subset of Python's ``isdigit``) walks exactly as ``param_str``
        does and is grouped as it. Messages that differ only in a leading id then share one prefix
        (routed once).
        """
        route_len = np.minimum(max_node_depth - 1, np.maximum(self.lengths - 1, 0))
        columns = [pl.Series("l", self.lengths)]
        for position in range(int(route_len.max(initial=0))):
            walks = route_len > position
            token = self.flat_tokens.gather(
                np.where(walks, self.offsets[:-1] + position, 0)
            )  # walks: the message has that token
            expr = pl.col("t")
            if numeric_wildcard is not None:
                expr = pl.when(expr.str.contains(r"\d")).then(pl.lit(numeric_wildcard)).otherwise(expr)
            columns.append(
                token.to_frame("t")
                .select(pl.when(pl.Series(walks)).then(expr))
                .to_series()
                .alias(f"t{position}")
            )
        heads = pl.DataFrame(columns)
        _, self.prefix_of, prefix_first = dense_codes(heads.to_struct("prefix"))
        firsts = heads[pl.Series(prefix_first)].rows()
        self.prefix_tokens = [(row[0], [token for token in row[1:] if token is not None]) for row in firsts]
        by_prefix = np.argsort(self.prefix_of, kind="stable")
        bounds = np.zeros(len(prefix_first) + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.prefix_of, minlength=len(prefix_first)), out=bounds[1:])
        self.codes_of_prefix = [by_prefix[bounds[p] : bounds[p + 1]] for p in range(len(prefix_first))]
