"""Replay drain3's Drain over a batch of lines, calling it only for the lines whose result can differ."""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Sequence
from typing import Any

import numpy as np
from drain3.drain import Drain, LogCluster, Node

__all__ = ["DrainFeeder"]

_MATRIX_MIN_CLUSTERS = 8  # below this, drain3's own loop is faster than numpy


class _LeafMatrix:
    """The templates of one leaf's clusters as a matrix of token ids (``<*>`` is 0)."""

    __slots__ = ("version", "cluster_ids", "tokens", "literal", "params")

    def __init__(self, leaf: Node, drain: Drain, version: int, token_ids: dict[str, int]):
        self.version = version
        self.cluster_ids = list(leaf.cluster_ids)
        clusters = [drain.id_to_cluster.get(cluster_id) for cluster_id in self.cluster_ids]
        lengths = {len(c.log_template_tokens) for c in clusters if c is not None}
        width = lengths.pop() if len(lengths) == 1 and None not in clusters else -1
        rows = [[_intern(token, token_ids) for token in c.log_template_tokens] for c in clusters] if width >= 0 else []
        self.tokens = np.array(rows, dtype=np.int64).reshape(len(rows), max(width, 0)) if width >= 0 else np.zeros((0, 0), dtype=np.int64)
        self.literal = self.tokens != 0
        self.params = (~self.literal).sum(axis=1)

    def append(self, cluster: LogCluster, version: int, token_ids: dict[str, int]) -> None:
        """A cluster was added at the end of this leaf: add its row."""
        row = np.array([[_intern(token, token_ids) for token in cluster.log_template_tokens]], dtype=np.int64)
        if row.shape[1] != self.tokens.shape[1]:
            self.version = -1  # rebuilt on next use
            return
        self.cluster_ids.append(cluster.cluster_id)
        self.tokens = np.vstack([self.tokens, row])
        self.literal = self.tokens != 0
        self.params = (~self.literal).sum(axis=1)
        self.version = version

    def update(self, cluster: LogCluster, version: int, token_ids: dict[str, int]) -> None:
        """A template of this leaf changed: rewrite its row."""
        row = self.cluster_ids.index(cluster.cluster_id)
        self.tokens[row] = [_intern(token, token_ids) for token in cluster.log_template_tokens]
        self.literal[row] = self.tokens[row] != 0
        self.params[row] = int((~self.literal[row]).sum())
        self.version = version


def _intern(token: str, token_ids: dict[str, int]) -> int:
    found = token_ids.get(token)
    if found is None:
        found = token_ids[token] = len(token_ids)
    return found


class DrainFeeder:
    """Per-line Drain cluster ids, identical to ``Drain.add_log_message`` on every line, with few calls.

    Parameters
    ----------
    drain : drain3.drain.Drain
        Updated in place (clusters, templates, sizes) exactly as feeding every line would.
    always_feed : bool, default False
        Feed every line (needed with an LRU bound on clusters, where every feed refreshes the order).
    memo_limit : int, default 500_000
        Distinct masked messages whose last result is remembered across batches (bounded memory).

    Notes
    -----
    Drain finds a message's cluster by walking its prefix tree (token count, then the first
    ``depth - 2`` tokens, falling back to the ``<*>`` child) to a leaf, then comparing the message
    with the templates of that leaf's clusters only [1]_. So the result of feeding a message depends
    on (a) the children of the nodes on its path, and (b) the clusters and templates of its leaf.
    Each tree node carries a version, bumped when

    - a cluster is added to it (leaf) or a template of one of its clusters changes (leaf);
    - a child is added to its parent and the node is the parent's ``<*>`` child (messages with the
      new child's token went through ``<*>`` before and now take the new child).

    A feed that returned ``"none"`` (no cluster created, no template changed) left the state as it
    was. Feeding the same message again while every node on its path keeps its version sees the same
    path, the same clusters and templates, hence returns the same cluster and again ``"none"``: the
    line is skipped, only the cluster's size is incremented. Any other feed is never reused.

    Within a batch the lines to feed are found without visiting every line: a heap holds, per
    message, the position of its next line that needs a feed (its first line, or its first line
    after one of its path nodes changed); messages remembered as ``"none"`` are registered at their
    path nodes and re-queued at their next occurrence when one of those nodes is bumped. Lines are
    then given the result of the last feed of their message at or before them (one vectorized
    ``searchsorted``). Feeding order is line order, so cluster ids are those of line-by-line drain3.

    References
    ----------
    .. [1] P. He, J. Zhu, Z. Zheng, M. R. Lyu, "Drain: An Online Log Parsing Approach with Fixed
       Depth Tree", ICWS 2017; logpai/Drain3 ``drain3/drain.py`` 0.9.11 (``tree_search``,
       ``add_seq_to_prefix_tree``, ``add_log_message``), which this replays call for call.
    """

    def __init__(self, drain: Drain, *, always_feed: bool = False, memo_limit: int = 500_000):
        self.drain = drain
        self.always_feed = always_feed
        self.memo_limit = memo_limit
        self._versions: dict[int, int] = {}  # id(node) -> version (nodes are never removed from the tree)
        self._memo: dict[str, tuple[int, tuple[Node, ...], tuple[int, ...]]] = {}  # message -> (cluster id, path, versions)
        self.calls = 0  # Drain feeds made (for reports and benchmarks)
        self._token_ids: dict[str, int] = {drain.param_str: 0}
        self._leaves: dict[int, _LeafMatrix] = {}  # id(leaf) -> its templates as a token-id matrix

    # -- one feed ------------------------------------------------------------------------
    def _path(self, tokens: Sequence[str]) -> tuple[Node, ...] | None:
        """The nodes ``Drain.tree_search`` walks for ``tokens`` (None where it finds no node)."""
        drain = self.drain
        count = len(tokens)
        node = drain.root_node.key_to_child_node.get(str(count))
        if node is None:
            return None
        path = [node]
        if count == 0:
            return tuple(path)
        depth = 1
        for token in tokens:
            if depth >= drain.max_node_depth or depth == count:
                break
            children = node.key_to_child_node
            node = children.get(token)
            if node is None:
                node = children.get(drain.param_str)
            if node is None:
                return None
            path.append(node)
            depth += 1
        return tuple(path)

    def _bump(self, node: Node | None, bumped: list[Node]) -> None:
        if node is not None:
            self._versions[id(node)] = self._versions.get(id(node), 0) + 1
            bumped.append(node)

    def feed(self, message: str) -> tuple[int, bool, tuple[Node, ...] | None, list[Node]]:
        """Feed one masked message as ``Drain.add_log_message`` does.

        Returns
        -------
        tuple
            ``(cluster_id, changed, path, bumped_nodes)``: ``changed`` is False for drain3's
            ``"none"``; ``path`` the nodes walked (to remember the result); ``bumped_nodes`` the
            nodes whose version was bumped by this feed.
        """
        drain = self.drain
        self.calls += 1
        tokens = drain.get_content_as_tokens(message)
        path = self._path(tokens)
        bumped: list[Node] = []
        cluster = None
        if path is not None:
            if not tokens:
                cluster = drain.id_to_cluster.get(path[-1].cluster_ids[0])
            else:
                cluster = self._fast_match(path[-1], tokens)
        if cluster is None:
            walked = self._insertion_walk(tokens)
            sizes = [len(node.key_to_child_node) for node in walked]
            drain.clusters_counter += 1
            cluster = LogCluster(tokens, drain.clusters_counter)
            drain.id_to_cluster[cluster.cluster_id] = cluster
            drain.add_seq_to_prefix_tree(drain.root_node, cluster)
            for node, size in zip(walked, sizes):
                if len(node.key_to_child_node) != size:  # a child was added: re-route through it
                    self._bump(node.key_to_child_node.get(drain.param_str), bumped)
            new_path = self._path(tokens)
            leaf = new_path[-1] if new_path else None
            matrix = self._leaves.get(id(leaf)) if leaf is not None else None
            fresh = matrix is not None and matrix.version == self._versions.get(id(leaf), 0)
            self._bump(leaf, bumped)  # its leaf got a cluster
            if fresh and leaf.cluster_ids[:-1] == matrix.cluster_ids and leaf.cluster_ids[-1] == cluster.cluster_id:
                matrix.append(cluster, self._versions[id(leaf)], self._token_ids)
            return cluster.cluster_id, True, None, bumped
        template = tuple(drain.create_template(tokens, cluster.log_template_tokens))
        cluster.size += 1
        drain.id_to_cluster[cluster.cluster_id]  # noqa: B018 - touch the LRU entry as drain3 does
        if template == cluster.log_template_tokens:
            return cluster.cluster_id, False, path, bumped
        leaf = self._leaves.get(id(path[-1]))
        fresh = leaf is not None and leaf.version == self._versions.get(id(path[-1]), 0)
        cluster.log_template_tokens = template
        self._bump(path[-1], bumped)
        if fresh:  # keep the leaf's matrix in step instead of rebuilding it
            leaf.update(cluster, self._versions[id(path[-1])], self._token_ids)
        return cluster.cluster_id, True, None, bumped

    def _fast_match(self, leaf: Node, tokens: list[str]) -> LogCluster | None:
        """``Drain.fast_match`` on a leaf, vectorized with numpy when the leaf holds many clusters.

        The winner is the first cluster with the largest (similar tokens, parameters) pair, as in
        drain3's loop (a later cluster replaces the best only when strictly better), and it must
        reach ``sim_th``. Similar tokens: positions where the template is not ``<*>`` and equals
        the message token.
        """
        drain = self.drain
        if len(leaf.cluster_ids) < _MATRIX_MIN_CLUSTERS:
            return drain.fast_match(leaf.cluster_ids, tokens, drain.sim_th, False)
        version = self._versions.get(id(leaf), 0)
        matrix = self._leaves.get(id(leaf))
        if matrix is None or matrix.version != version or len(matrix.cluster_ids) != len(leaf.cluster_ids):
            matrix = self._leaves[id(leaf)] = _LeafMatrix(leaf, drain, version, self._token_ids)
        if matrix.tokens.shape[1] != len(tokens):  # not a leaf of one token count: use drain3's loop
            return drain.fast_match(leaf.cluster_ids, tokens, drain.sim_th, False)
        token_ids = self._token_ids
        message = np.fromiter((token_ids.get(token, -1) for token in tokens), dtype=np.int64, count=len(tokens))
        similar = ((matrix.tokens == message) & matrix.literal).sum(axis=1)
        best = int(np.argmax(similar * (len(tokens) + 1) + matrix.params))
        if float(similar[best]) / len(tokens) >= drain.sim_th:
            return drain.id_to_cluster.get(matrix.cluster_ids[best])
        return None

    def _insertion_walk(self, tokens: Sequence[str]) -> list[Node]:
        """Existing nodes that ``add_seq_to_prefix_tree`` may add a child to, for a new cluster of ``tokens``."""
        drain = self.drain
        node = drain.root_node
        walked = [node]
        node = node.key_to_child_node.get(str(len(tokens)))
        depth = 1
        while node is not None and tokens and depth < drain.max_node_depth and depth < len(tokens):
            walked.append(node)
            children = node.key_to_child_node
            node = children.get(tokens[depth - 1], children.get(drain.param_str))
            depth += 1
        return walked

    def _valid(self, memo: tuple[int, tuple[Node, ...], tuple[int, ...]]) -> bool:
        versions = self._versions
        return all(versions.get(id(node), 0) == version for node, version in zip(memo[1], memo[2]))

    # -- a batch -------------------------------------------------------------------------
    def assign(self, distinct: Sequence[str], codes: np.ndarray) -> np.ndarray:
        """Cluster id per line.

        Parameters
        ----------
        distinct : sequence of str
            Distinct masked messages of the batch.
        codes : numpy.ndarray of int
            Per line, in line order, the index of its message in ``distinct``.

        Returns
        -------
        numpy.ndarray of int64
            The cluster id ``Drain.add_log_message`` returns for each line when fed every line in order.
        """
        codes = np.asarray(codes, dtype=np.int64)
        n, k = len(codes), len(distinct)
        if n == 0:
            return np.empty(0, dtype=np.int64)
        if self.always_feed:
            return np.fromiter((self.feed(distinct[c])[0] for c in codes.tolist()), dtype=np.int64, count=n)
        if len(self._memo) + k > self.memo_limit:
            self._memo.clear()
        # line positions grouped by message, in line order (radix sort when codes fit 16 bits)
        order = np.argsort(codes.astype(np.uint16), kind="stable") if k <= 65536 else np.argsort(codes * n + np.arange(n))
        starts = np.zeros(k + 1, dtype=np.int64)
        np.cumsum(np.bincount(codes, minlength=k), out=starts[1:])
        first = order[starts[:-1]]

        event_code: list[int] = []
        event_pos: list[int] = []
        event_cluster: list[int] = []
        members: dict[int, list[tuple[int, int]]] = {}  # id(node) -> [(code, generation)] remembered "none"
        generation = [0] * k
        heap: list[tuple[int, int]] = []
        memo, first_list = self._memo, first.tolist()

        def remember(code: int, cluster_id: int, path: tuple[Node, ...]) -> None:
            versions = tuple(self._versions.get(id(node), 0) for node in path)
            memo[distinct[code]] = (cluster_id, path, versions)
            for node in path:
                members.setdefault(id(node), []).append((code, generation[code]))

        def next_position(code: int, after: int) -> int | None:
            low, high = int(starts[code]), int(starts[code + 1])
            index = bisect.bisect_right(order, after, low, high)
            return int(order[index]) if index < high else None

        for code in range(k):
            known = memo.get(distinct[code])
            if known is not None and self._valid(known):
                event_code.append(code), event_pos.append(-1), event_cluster.append(known[0])
                for node in known[1]:
                    members.setdefault(id(node), []).append((code, 0))
            else:
                heap.append((first_list[code], code))
        heapq.heapify(heap)
        fed_count = 0
        while heap:
            position, code = heapq.heappop(heap)
            cluster_id, changed, path, bumped = self.feed(distinct[code])
            fed_count += 1
            event_code.append(code), event_pos.append(position), event_cluster.append(cluster_id)
            if not changed:
                remember(code, cluster_id, path)
                continue
            generation[code] += 1
            memo.pop(distinct[code], None)
            following = next_position(code, position)
            if following is not None:
                heapq.heappush(heap, (following, code))
            for node in bumped:
                for member, member_generation in members.pop(id(node), ()):
                    if generation[member] != member_generation:
                        continue  # already re-queued by another node of its path
                    generation[member] += 1
                    memo.pop(distinct[member], None)
                    following = next_position(member, position)
                    if following is not None:
                        heapq.heappush(heap, (following, member))
        return self._per_line(codes, order, starts, np.array(event_code), np.array(event_pos), np.array(event_cluster), fed_count)

    def _per_line(self, codes: np.ndarray, order: np.ndarray, starts: np.ndarray, event_code: np.ndarray,
                  event_pos: np.ndarray, event_cluster: np.ndarray, fed_count: int) -> np.ndarray:
        """Give every line the result of the last event of its message at or before it; fix cluster sizes."""
        n = len(codes)
        event_key = event_code * (n + 1) + (event_pos + 1)
        sort = np.argsort(event_key, kind="stable")
        event_key, event_cluster_sorted = event_key[sort], event_cluster[sort]
        line_key = codes * (n + 1) + (np.arange(n, dtype=np.int64) + 1)
        ids = event_cluster_sorted[np.searchsorted(event_key, line_key, side="right") - 1]
        # Every line adds one to its cluster's size; fed lines already did.
        fed = event_cluster[event_pos >= 0]
        extra = np.bincount(ids)
        extra[: int(fed.max()) + 1 if len(fed) else 0] -= np.bincount(fed)
        clusters = self.drain.id_to_cluster
        for cluster_id in np.flatnonzero(extra).tolist():
            cluster = clusters.get(cluster_id)
            if cluster is not None:
                cluster.size += int(extra[cluster_id])
        return ids

    def reset(self) -> None:
        """Forget remembered results (after the Drain state was replaced)."""
        self._memo.clear()
        self._versions.clear()

    def stats(self) -> dict[str, Any]:
        return {"calls": self.calls, "remembered": len(self._memo)}
