"""A batch through drain3's Drain: every distinct message matched at once (numpy), Drain called only for changes."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from drain3.drain import Drain, Node

from logrca.parsers.templates.dedup import dense_codes
from logrca.parsers.templates.drain_match import RoutedBatch
from logrca.parsers.templates.masking import select_in_parts

if TYPE_CHECKING:
    from logrca.parsers.templates.drain_feed import DrainFeeder

__all__ = ["BatchPlan", "assign_batch", "numeric_wildcard", "tokenize"]

_FEW = 512  # messages to match again below which the Python path is used
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
    # every whitespace run becomes one space (one select: polars splits on its threads too)
    expr = expr.str.replace_all(_IRREGULAR_SPACE, " ").str.strip_chars(" ").str.split(" ")
    tokens = select_in_parts(messages, expr).alias("tokens")
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


def assign_batch(
    feeder: DrainFeeder, distinct: pl.Series, codes: np.ndarray, plan: BatchPlan | None = None
) -> np.ndarray:
    """Cluster id per line, identical to ``Drain.add_log_message`` on every line in order.

    Parameters
    ----------
    feeder : DrainFeeder
        Holds the Drain state; updated as feeding every line would.
    distinct : pl.Series
        Distinct masked messages of the batch.
    codes : numpy.ndarray
        Per line, the index of its message in ``distinct``.
    plan : BatchPlan, optional
        Built beforehand from these same ``distinct`` and ``codes`` objects (e.g. on a reader
        thread); built here when missing or made from other objects.

    Notes
    -----
    1. Every distinct message is matched against the state at the start of the batch
       (:meth:`logrca.parsers.templates.drain_match.RoutedBatch.evaluate`). One that would come
       back ``"none"`` keeps that cluster while no node on its tree path changes (see
       :class:`logrca.parsers.templates.drain_feed.DrainFeeder`), so none of its lines is fed.
    2. The others wait in a heap at their first line. Lines are fed to Drain in line order; when a
       feed changes the state (cluster created, template changed, child added), the messages whose
       path holds a changed node, and those whose walk stopped at a node that just got a child, are
       routed and matched again (vectorized when many) for their lines after it: they either keep
       a cluster or wait in the heap at their next line.
    3. Each line takes the result of the last event of its message at or before it.
    """
    if plan is None or plan.distinct is not distinct or plan.codes is not codes:
        plan = BatchPlan(
            distinct,
            codes,
            feeder.drain.extra_delimiters,
            feeder.drain.max_node_depth,
            numeric_wildcard(feeder.drain),
        )
    return _Assignment(feeder, plan).run()


class _Assignment:
    """The state of one :func:`assign_batch`: events per message, the heap's generations, results to remember."""

    def __init__(self, feeder: DrainFeeder, plan: BatchPlan):
        self.feeder, self.distinct, self.codes = feeder, plan.distinct, plan.codes
        self.batch = RoutedBatch(feeder, plan)
        self.n, k = len(plan.codes), plan.distinct.len()
        self.generation = np.zeros(k, dtype=np.int64)  # a heap entry of an older generation is void
        self.waiting = np.zeros(k, dtype=bool)  # has a live heap entry
        self.stride = 2 * (self.n + 1) + 2
        self.keys: list[np.ndarray] = []  # event keys: message, line, before/after the line
        self.results: list[np.ndarray] = []  # cluster per event
        self.fed_clusters: list[int] = []
        self.remember: list[tuple[np.ndarray, ...]] = []  # (codes, leaf ids, leaf versions, clusters)
        self.distinct_list: list[str] = []  # Python strings, made on first use (many batches need none)
        self.token_cache: dict[int, list[str]] = {}

    def run(self) -> np.ndarray:
        """Feed the waiting messages in line order, re-matching after each state change; cluster id per line."""
        batch = self.batch
        heap = self.refresh(list(range(len(batch.codes_of_prefix))), -1)
        heapq.heapify(heap)
        while heap:
            position, code, entry_generation = heapq.heappop(heap)
            if entry_generation != self.generation[code]:
                continue
            cluster_id, changed, _path, bumped = self.feeder.feed(self.message_of(code))
            self.keys.append(np.array([code * self.stride + 2 * (position + 1)]))
            self.results.append(np.array([cluster_id]))
            self.fed_clusters.append(cluster_id)
            self.waiting[code] = False
            if changed:
                for entry in self.refresh(sorted(self.affected(code, bumped)), position):
                    heapq.heappush(heap, entry)
        return self.finish()

    def affected(self, code: int, bumped: list[Node]) -> set[int]:
        """Prefixes to match again after feeding ``code`` changed the state (the changed ones routed again)."""
        batch, feeder = self.batch, self.feeder
        affected: set[int] = {int(batch.prefix_of[code])}
        for node in bumped:  # leaves that got a cluster or a new template, <*> children passed by
            affected |= batch.node_prefixes.get(id(node), set())
        reroute = {int(batch.prefix_of[code])}
        for node in feeder.rerouted:
            reroute |= batch.node_prefixes.get(id(node), set())
        for node in feeder.grown:  # walks that stopped there may go on now
            reroute |= batch.stuck_at.pop(id(node), set())
        for p in reroute:
            batch.route(p)
        return affected | reroute

    def finish(self) -> np.ndarray:
        """Each line takes the last event of its message at or before it; sizes and remembered results updated."""
        batch, codes, stride = self.batch, self.codes, self.stride
        event_keys, event_clusters = np.concatenate(self.keys), np.concatenate(self.results)
        sort = np.argsort(event_keys, kind="stable")
        # needles in (message, line) order are sorted, which makes searchsorted several times faster
        line_keys = codes[batch.order] * stride + 2 * (batch.order + 1)
        ids = np.empty(self.n, dtype=np.int64)
        ids[batch.order] = event_clusters[sort][
            np.searchsorted(event_keys[sort], line_keys, side="right") - 1
        ]
        self.feeder.add_sizes(ids, np.asarray(self.fed_clusters, dtype=np.int64))
        if self.remember:
            self.feeder.remember(self.distinct, *(np.concatenate(part) for part in zip(*self.remember)))
        return ids

    def message_of(self, code: int) -> str:
        if not self.distinct_list:
            self.distinct_list.extend(self.distinct.to_list())
        return self.distinct_list[code]

    def tokens_of(self, code: int) -> list[str]:
        found = self.token_cache.get(code)
        if found is None:
            found = self.token_cache[code] = self.feeder.drain.get_content_as_tokens(self.message_of(code))
        return found

    def refresh(self, prefixes: list[int], position: int) -> list[tuple[int, int, int]]:
        """Match the messages of ``prefixes`` again for their lines after ``position``; returns new heap entries.

        A message either gets a result (an event) or waits in the heap at its next line; one that
        was already waiting keeps its entry (it was not fed since, so the entry is its next line).
        """
        batch = self.batch
        prefixes = [p for p in prefixes if len(batch.codes_of_prefix[p])]
        if not prefixes:
            return []
        codes_now = np.concatenate([batch.codes_of_prefix[p] for p in prefixes])
        following = (
            batch.next_lines(codes_now, position) if position >= 0 else batch.order[batch.starts[codes_now]]
        )
        later = following >= 0
        codes_now, following = codes_now[later], following[later]
        if not len(codes_now):
            return []
        leaves, leaf_index = self._leaves(prefixes, later)
        valid, clusters = self._match(codes_now, leaves, leaf_index, position)
        if valid.any():
            self.keys.append(codes_now[valid] * self.stride + 2 * (position + 1) + 1)
            self.results.append(clusters[valid])
        newly_waiting = ~valid & ~self.waiting[codes_now]
        self.generation[codes_now[valid | newly_waiting]] += 1  # older heap entries of these are void
        self.waiting[codes_now] = ~valid
        queued = codes_now[newly_waiting]
        return list(zip(following[newly_waiting].tolist(), queued.tolist(), self.generation[queued].tolist()))

    def _leaves(self, prefixes: list[int], later: np.ndarray) -> tuple[list[Node], np.ndarray]:
        """The distinct leaves of ``prefixes`` and, per message kept by ``later``, its leaf's index (-1: no leaf)."""
        leaves: list[Node] = []
        slot: dict[int, int] = {}
        prefix_slot = []
        for p in prefixes:
            leaf = self.batch.leaf_of_prefix[p]
            if leaf is None:
                prefix_slot.append(-1)
            else:
                prefix_slot.append(slot.setdefault(id(leaf), len(slot)))
                if len(leaves) < len(slot):
                    leaves.append(leaf)
        sizes = [len(self.batch.codes_of_prefix[p]) for p in prefixes]
        return leaves, np.repeat(np.array(prefix_slot, dtype=np.int64), sizes)[later]

    def _match(
        self, codes_now: np.ndarray, leaves: list[Node], leaf_index: np.ndarray, position: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per message: does feeding it now return ``"none"``, and with which cluster (remembered, one by one or vectorized)."""
        feeder = self.feeder
        routed = leaf_index >= 0
        valid = np.zeros(len(codes_now), dtype=bool)
        clusters = np.full(len(codes_now), -1, dtype=np.int64)
        leaf_ids = np.array([id(leaf) for leaf in leaves], dtype=np.int64)
        leaf_versions = np.array([feeder.version(leaf) for leaf in leaves], dtype=np.int64)
        if position < 0 and routed.any():  # batch start: results remembered from earlier batches
            valid, clusters = feeder.remembered(
                codes_now,
                np.where(routed, leaf_ids[leaf_index], -1),
                np.where(routed, leaf_versions[leaf_index], -1),
                self.distinct,
            )
        todo = routed & ~valid
        if todo.sum() <= _FEW:  # one by one is cheaper than the vectorized set-up
            for row in np.flatnonzero(todo).tolist():
                clusters[row] = feeder.peek(self.tokens_of(int(codes_now[row])), leaves[int(leaf_index[row])])
            valid = clusters >= 0
        else:
            valid[todo], clusters[todo] = self.batch.evaluate(codes_now[todo], leaf_index[todo], leaves)
        if valid.any():
            chosen = leaf_index[valid]
            self.remember.append((codes_now[valid], leaf_ids[chosen], leaf_versions[chosen], clusters[valid]))
        return valid, clusters


def assign_lines(
    feeder: DrainFeeder, distinct: Sequence[str] | pl.Series, codes: np.ndarray, plan: BatchPlan | None = None
) -> np.ndarray:
    """Cluster id per line: :func:`assign_batch`, or one feed per line when ``feeder.always_feed``.

    Parameters
    ----------
    feeder : DrainFeeder
    distinct : sequence of str or pl.Series
        Distinct masked messages of the batch.
    codes : numpy.ndarray of int
        Per line, in line order, the index of its message in ``distinct``.
    plan : BatchPlan, optional
        Tokens and prefixes of ``distinct`` built ahead.

    Returns
    -------
    numpy.ndarray of int64
        The cluster id ``Drain.add_log_message`` returns for each line when fed every line in order.
    """
    codes = np.asarray(codes, dtype=np.int64)
    if len(codes) == 0:
        return np.empty(0, dtype=np.int64)
    if feeder.always_feed:
        messages = distinct.to_list() if isinstance(distinct, pl.Series) else distinct
        return np.fromiter(
            (feeder.feed(messages[c])[0] for c in codes.tolist()), dtype=np.int64, count=len(codes)
        )
    series = distinct if isinstance(distinct, pl.Series) else pl.Series(list(distinct), dtype=pl.Utf8)
    return assign_batch(feeder, series, codes, plan)
