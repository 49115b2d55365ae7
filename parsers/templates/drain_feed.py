"""drain3's Drain fed one message at a time, reporting which tree nodes each feed changed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from drain3.drain import Drain, LogCluster, Node

from logrca.parsers.templates.drain_leaves import _LeafHashes, _LeafMatrix, hash_leaves

__all__ = ["DrainFeeder", "similarity"]


def similarity(template: Sequence[str], tokens: Sequence[str], param_str: str) -> tuple[int, int]:
    """(similar tokens, parameters) of a message against a template of its length, as ``get_seq_distance`` counts them."""
    similar = params = 0
    for template_token, token in zip(template, tokens):
        if template_token == param_str:
            params += 1
        elif template_token == token:
            similar += 1
    return similar, params


_MATRIX_MIN_CLUSTERS = 8  # below this, drain3's own loop is faster than numpy


class DrainFeeder:
    """Per-line Drain cluster ids, identical to ``Drain.add_log_message`` on every line, with few calls.

    Parameters
    ----------
    drain : drain3.drain.Drain
        Updated in place (clusters, templates, sizes) exactly as feeding every line would.
    always_feed : bool, default False
        Feed every line (needed with an LRU bound on clusters, where every feed refreshes the order).
    remember_limit : int, default 200_000
        Distinct messages whose last "none" result is kept for later batches (bounded memory).

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

    :meth:`feed` replays ``Drain.add_log_message`` and returns the nodes it changed (``bumped``,
    plus :attr:`grown`: nodes that got a child, :attr:`rerouted`: ``<*>`` children some messages no
    longer take); :meth:`peek` answers "would this message come back ``"none"``, with which
    cluster?" without changing anything. :func:`logrca.parsers.templates.drain_bulk.assign_batch` uses both to
    give every line of a batch its cluster while feeding only the lines that change the state.
    Matching within a leaf of many clusters runs on a token-id matrix (numpy) kept in step with the
    templates; the winner is the one drain3's loop picks.

    References
    ----------
    .. [1] P. He, J. Zhu, Z. Zheng, M. R. Lyu, "Drain: An Online Log Parsing Approach with Fixed
       Depth Tree", ICWS 2017; logpai/Drain3 ``drain3/drain.py`` 0.9.11 (``tree_search``,
       ``add_seq_to_prefix_tree``, ``add_log_message``), which this replays call for call.
    """

    def __init__(self, drain: Drain, *, always_feed: bool = False, remember_limit: int = 200_000):
        self.drain = drain
        self.always_feed = always_feed
        self._versions: dict[int, int] = {}  # id(node) -> version (nodes are never removed from the tree)
        self._hashes: dict[int, _LeafHashes] = {}  # id(leaf) -> its templates as token hashes
        # message -> cluster, valid while the leaf (id) keeps the version (results across batches)
        self._remembered = pl.DataFrame(
            schema={"message": pl.Utf8, "leaf": pl.Int64, "version": pl.Int64, "cluster": pl.Int64}
        )
        self.remember_limit = remember_limit
        self._remember_pause = 0  # batches left without remembering
        self.calls = 0  # Drain feeds made (for reports and benchmarks)
        self.reused = 0  # messages answered at a batch start by results remembered from earlier batches
        self.created: list[
            tuple[int, str]
        ] = []  # (cluster id, first template) of new clusters, read by the miner
        self.grown: list[Node] = []  # nodes that got a child in the last feed
        self.rerouted: list[Node] = []  # <*> children some messages no longer take since the last feed
        self._token_ids: dict[str, int] = {drain.param_str: 0}
        self._leaves: dict[int, _LeafMatrix] = {}  # id(leaf) -> its templates as a token-id matrix

    # -- one feed ------------------------------------------------------------------------
    def _path(self, tokens: Sequence[str]) -> tuple[Node, ...] | None:
        """The nodes ``Drain.tree_search`` walks for ``tokens`` (None where it finds no node)."""
        path, _ = self.route(tokens)
        return path

    def route(self, tokens: Sequence[str]) -> tuple[tuple[Node, ...] | None, Node | None]:
        """``(path, None)``, or ``(None, node)`` with the node where the walk found no child to take."""
        drain = self.drain
        count = len(tokens)
        node = drain.root_node.key_to_child_node.get(str(count))
        if node is None:
            return None, drain.root_node
        path = [node]
        if count == 0:
            return tuple(path), None
        depth = 1
        for token in tokens:
            if depth >= drain.max_node_depth or depth == count:
                break
            children = node.key_to_child_node
            child = children.get(token)
            if child is None:
                child = children.get(drain.param_str)
            if child is None:
                return None, node
            node = child
            path.append(node)
            depth += 1
        return tuple(path), None

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
        self.grown, self.rerouted = [], []
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
            self.created.append((cluster.cluster_id, " ".join(tokens)))
            drain.id_to_cluster[cluster.cluster_id] = cluster
            drain.add_seq_to_prefix_tree(drain.root_node, cluster)
            self.grown = [node for node, size in zip(walked, sizes) if len(node.key_to_child_node) != size]
            for node in self.grown:  # a child was added: messages with its token no longer take <*>
                self._bump(node.key_to_child_node.get(drain.param_str), bumped)
            self.rerouted = list(bumped)
            new_path = self._path(tokens)
            leaf = new_path[-1] if new_path else None
            matrix = self._leaves.get(id(leaf)) if leaf is not None else None
            fresh = matrix is not None and matrix.version == self._versions.get(id(leaf), 0)
            self._bump(leaf, bumped)  # its leaf got a cluster
            if (
                fresh
                and leaf.cluster_ids[:-1] == matrix.cluster_ids
                and leaf.cluster_ids[-1] == cluster.cluster_id
            ):
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
        matrix = self.leaf_matrix(leaf)
        if matrix is None:
            matrix = self._leaves[id(leaf)] = _LeafMatrix(leaf, drain, self.version(leaf), self._token_ids)
        if matrix.tokens.shape[1] != len(tokens):  # not a leaf of one token count: use drain3's loop
            return drain.fast_match(leaf.cluster_ids, tokens, drain.sim_th, False)
        token_ids = self._token_ids
        message = np.fromiter(
            (token_ids.get(token, -1) for token in tokens), dtype=np.int64, count=len(tokens)
        )
        similar = ((matrix.tokens == message) & matrix.literal).sum(axis=1)
        best = int(np.argmax(similar * (len(tokens) + 1) + matrix.params))
        if float(similar[best]) / len(tokens) >= drain.sim_th:
            return drain.id_to_cluster.get(matrix.cluster_ids[best])
        return None

    def peek(self, tokens: list[str], leaf: Node) -> int:
        """The cluster id feeding ``tokens`` (routed to ``leaf``) would return with ``"none"``, else -1. Changes nothing."""
        drain = self.drain
        if not tokens:
            cluster = drain.id_to_cluster.get(leaf.cluster_ids[0]) if leaf.cluster_ids else None
        elif len(leaf.cluster_ids) < _MATRIX_MIN_CLUSTERS:
            return self._peek_few(tokens, leaf)
        else:
            cluster = self._fast_match(leaf, tokens)
        if (
            cluster is None
            or tuple(drain.create_template(tokens, cluster.log_template_tokens))
            != cluster.log_template_tokens
        ):
            return -1
        return cluster.cluster_id

    def _peek_few(self, tokens: list[str], leaf: Node) -> int:
        """:meth:`peek` on a leaf of few clusters in one loop (``fast_match`` and ``create_template`` fused).

        Similar tokens and parameters are counted as ``get_seq_distance`` counts them (the leaf's
        templates have the message's token count); the first cluster with the largest pair wins;
        "none" holds when the message equals the template at every literal position, i.e. when
        similar + parameters equals the token count.
        """
        drain = self.drain
        param_str, clusters = drain.param_str, drain.id_to_cluster
        best, best_similar, best_params = None, -1, -1
        for cluster_id in leaf.cluster_ids:
            cluster = clusters.get(cluster_id)
            if cluster is None:
                continue
            similar, params = similarity(cluster.log_template_tokens, tokens, param_str)
            if similar > best_similar or (similar == best_similar and params > best_params):
                best, best_similar, best_params = cluster, similar, params
        if (
            best is None
            or float(best_similar) / len(tokens) < drain.sim_th
            or best_similar + best_params != len(tokens)
        ):
            return -1
        return best.cluster_id

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

    def leaf_matrix(self, leaf: Node) -> _LeafMatrix | None:
        """The leaf's token-id matrix when it is in step with the leaf's clusters and templates, else None."""
        matrix = self._leaves.get(id(leaf))
        if (
            matrix is None
            or matrix.version != self.version(leaf)
            or len(matrix.cluster_ids) != len(leaf.cluster_ids)
        ):
            return None
        return matrix

    def version(self, node: Node) -> int:
        """Version of a tree node (bumped whenever a feed changed what matching there gives)."""
        return self._versions.get(id(node), 0)

    def remember(
        self,
        distinct: pl.Series,
        codes: np.ndarray,
        leaf_ids: np.ndarray,
        versions: np.ndarray,
        clusters: np.ndarray,
    ) -> None:
        """Keep "message -> cluster, valid while its leaf keeps this version" for later batches (bounded).

        Several rows per message may come in (time order); the last one is kept.
        """
        if self._remember_pause > 0:  # recent batches hardly reused anything: not worth the bookkeeping
            self._remember_pause -= 1
            return
        last = len(codes) - 1 - np.unique(codes[::-1], return_index=True)[1]
        fresh = pl.DataFrame(
            {
                "message": distinct.gather(codes[last]),
                "leaf": leaf_ids[last],
                "version": versions[last],
                "cluster": clusters[last],
            }
        )
        kept = self._remembered.filter(~pl.col("message").is_in(fresh["message"].implode()))
        if kept.height + fresh.height > self.remember_limit:
            kept = kept.clear()
        self._remembered = pl.concat([kept, fresh.head(self.remember_limit)])

    def remembered(
        self, codes: np.ndarray, leaf_ids: np.ndarray, versions: np.ndarray, distinct: pl.Series
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per message (``distinct[codes]``): is a remembered result still valid (same leaf, same version)? And its cluster.

        Remembering pauses for seven batches when fewer than a fifth of the messages were remembered
        at all (messages that do not recur across batches: the join would be wasted).
        """
        valid = np.zeros(len(codes), dtype=bool)
        clusters = np.full(len(codes), -1, dtype=np.int64)
        if self._remembered.height == 0 or len(codes) == 0 or self._remember_pause > 0:
            return valid, clusters
        asked = pl.DataFrame({"message": distinct.gather(codes), "row": np.arange(len(codes))})
        found = asked.join(self._remembered, on="message", how="inner")
        if found.height:
            rows = found["row"].to_numpy()
            ok = (found["leaf"].to_numpy() == leaf_ids[rows]) & (
                found["version"].to_numpy() == versions[rows]
            )
            valid[rows[ok]] = True
            clusters[rows[ok]] = found["cluster"].to_numpy()[ok]
            self.reused += int(ok.sum())
        # pause when messages hardly come back, not when they come back to leaves that changed since
        # (while the tree is learnt): that batch's results are remembered under the new versions
        if found.height < 0.2 * len(codes):
            self._remember_pause = 7  # try again after seven batches
        return valid, clusters

    def add_sizes(self, ids: np.ndarray, fed: np.ndarray) -> None:
        """Every line adds one to its cluster's size; fed lines (``fed``: their clusters) already did."""
        extra = np.bincount(ids)
        if len(fed):
            extra[: int(fed.max()) + 1] -= np.bincount(fed)
        clusters = self.drain.id_to_cluster
        for cluster_id in np.flatnonzero(extra).tolist():
            cluster = clusters.get(cluster_id)
            if cluster is not None:
                cluster.size += int(extra[cluster_id])

    def leaf_hashes(self, leaves: list[Node]) -> list[_LeafHashes | None]:
        """The templates of each leaf as 64-bit token hashes (see :func:`~logrca.parsers.templates.drain_leaves.hash_leaves`)."""
        return hash_leaves(self.drain, leaves, self._hashes)

    def stats(self) -> dict[str, Any]:
        return {"calls": self.calls}
