"""A batch through drain3's Drain: every distinct message matched at once (numpy), Drain called only for changes."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from drain3.drain import LogCluster, Node

from logrca.parsers.templates.drain_feed import similarity
from logrca.parsers.templates.drain_match import RoutedBatch
from logrca.parsers.templates.drain_plan import BatchPlan, numeric_wildcard, tokenize

if TYPE_CHECKING:
    from logrca.parsers.templates.drain_feed import DrainFeeder

__all__ = ["BatchPlan", "assign_batch", "numeric_wildcard", "tokenize"]

_FEW = 512  # messages to match again below which the Python path is used


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
        self.current = np.full(k, -1, dtype=np.int64)  # cluster of the message's last result
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
            self.current[code] = cluster_id
            if not changed:
                continue
            leaf = self._only_changed_leaf(code, bumped)
            if leaf is not None:
                entries = self.refresh_leaf(leaf, cluster_id, code, position)
            else:
                entries = self.refresh(sorted(self.affected(code, bumped)), position)
            for entry in entries:
                heapq.heappush(heap, entry)
        return self.finish()

    def _only_changed_leaf(self, code: int, bumped: list[Node]) -> Node | None:
        """The leaf of ``code`` when the last feed changed one cluster there and nothing else (no node grew)."""
        feeder = self.feeder
        if feeder.grown or feeder.rerouted or len(bumped) != 1:
            return None
        leaf = self.batch.leaf_of_prefix[int(self.batch.prefix_of[code])]
        return leaf if leaf is bumped[0] else None

    def refresh_leaf(
        self, leaf: Node, cluster_id: int, fed: int, position: int
    ) -> list[tuple[int, int, int]]:
        """:meth:`refresh` after a feed that only created or changed cluster ``cluster_id`` of ``leaf``.

        A message of the leaf that holds another cluster X (its last result, "none") keeps X unless
        the changed cluster now comes first in Drain's ``fast_match``: a larger (similar tokens,
        parameters) pair, or an equal one earlier in the leaf. The other clusters did not change, so
        comparing with that one cluster is exact. The fed message, the messages that held the
        changed cluster and those it now beats are matched again in full; waiting messages keep
        their heap entries (feeding them gives drain3's answer either way). With thousands of
        templates per leaf this is what keeps the cost of a state change flat.
        """
        batch = self.batch
        prefixes = [
            p
            for p in batch.node_prefixes.get(id(leaf), ())
            if batch.leaf_of_prefix[p] is leaf and len(batch.codes_of_prefix[p])
        ]
        if not prefixes:
            return []
        codes_now = np.concatenate([batch.codes_of_prefix[p] for p in prefixes])
        following = batch.next_lines(codes_now, position)
        idle = (following >= 0) & ~self.waiting[codes_now]
        holder = self.current[codes_now]
        redo = idle & ((holder == cluster_id) | (codes_now == fed) | (holder < 0))
        changed = self.feeder.drain.id_to_cluster.get(cluster_id)
        check = np.flatnonzero(idle & ~redo)
        beaten = (
            None if changed is None else self._beaten(changed, fed, holder[check], codes_now[check], leaf)
        )
        if beaten is not None:
            redo[check] = beaten
        else:
            for row in check.tolist():
                redo[row] = changed is None or self._beats(
                    changed, int(holder[row]), int(codes_now[row]), leaf
                )
        if not redo.any():
            return []
        codes_now, following = codes_now[redo], following[redo]
        leaf_index = np.zeros(len(codes_now), dtype=np.int64)
        return self._settle(codes_now, following, [leaf], leaf_index, position)

    def _beaten(
        self, challenger: LogCluster, fed: int, holders: np.ndarray, codes: np.ndarray, leaf: Node
    ) -> np.ndarray | None:
        """:meth:`_beats` for many messages at once on the leaf's token-id matrix; None when it cannot say.

        The challenger was just made from message ``fed`` (created from its tokens, or generalised
        with them), so its literal tokens are ``fed``'s there (checked), and the batch's token
        hashes compare them with every message at once. A message holds its cluster by a "none"
        result, so it equals that template at every literal: its (similar, parameters) pair there
        is (literals, ``<*>``) of the template, read from the matrix. A hash collision can only
        raise the challenger's count, so it can only send a message to be matched again in full.
        """
        batch, matrix = self.batch, self.feeder.leaf_matrix(leaf)
        width = len(challenger.log_template_tokens)
        if matrix is None or len(codes) == 0 or matrix.tokens.shape[1] != width or width == 0:
            return None
        mine, rows = matrix.row.get(challenger.cluster_id), [matrix.row.get(h, -1) for h in holders.tolist()]
        fed_tokens = self.tokens_of(fed)
        if mine is None or -1 in rows or len(fed_tokens) != width or (batch.lengths[codes] != width).any():
            return None
        literal = matrix.literal[mine]
        if any(
            a != b for a, b, lit in zip(challenger.log_template_tokens, fed_tokens, literal.tolist()) if lit
        ):
            return None
        start, theirs = int(batch.offsets[fed]), np.asarray(rows)
        tokens = batch.flat_hashes[batch.offsets[codes][:, None] + np.arange(width)]
        similar = ((tokens == batch.flat_hashes[start : start + width]) & literal).sum(axis=1)
        params, their_params = matrix.params[mine], matrix.params[theirs]
        their_similar = width - their_params
        first = (params > their_params) | ((params == their_params) & (mine < theirs))
        return (similar > their_similar) | ((similar == their_similar) & first)

    def _beats(self, challenger: LogCluster, holder_id: int, code: int, leaf: Node) -> bool:
        """Would ``fast_match`` on ``leaf`` now prefer ``challenger`` to the cluster ``holder_id`` for message ``code``?"""
        holder = self.feeder.drain.id_to_cluster.get(holder_id)
        tokens = self.tokens_of(code)
        if holder is None or not tokens:
            return True
        param_str = self.feeder.drain.param_str
        mine = similarity(challenger.log_template_tokens, tokens, param_str)
        theirs = similarity(holder.log_template_tokens, tokens, param_str)
        if mine != theirs:
            return mine > theirs
        order = leaf.cluster_ids
        return order.index(challenger.cluster_id) < order.index(holder_id)

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
        return self._settle(codes_now, following, leaves, leaf_index, position)

    def _settle(
        self,
        codes_now: np.ndarray,
        following: np.ndarray,
        leaves: list[Node],
        leaf_index: np.ndarray,
        position: int,
    ) -> list[tuple[int, int, int]]:
        """Match ``codes_now`` (next lines ``following``) on their leaves: an event each, or a heap entry."""
        valid, clusters = self._match(codes_now, leaves, leaf_index, position)
        if valid.any():
            self.keys.append(codes_now[valid] * self.stride + 2 * (position + 1) + 1)
            self.results.append(clusters[valid])
            self.current[codes_now[valid]] = clusters[valid]
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
