"""Per-leaf template matrices: the templates of a Drain leaf as token ids or 64-bit hashes, for matching many messages at once."""

from __future__ import annotations

import numpy as np
import polars as pl
from drain3.drain import Drain, LogCluster, Node


class _LeafMatrix:
    """The templates of one leaf's clusters as a matrix of token ids (``<*>`` is 0)."""

    __slots__ = ("version", "cluster_ids", "row", "tokens", "literal", "params")

    def __init__(self, leaf: Node, drain: Drain, version: int, token_ids: dict[str, int]):
        self.version = version
        self.cluster_ids = list(leaf.cluster_ids)
        self.row = {cluster_id: row for row, cluster_id in enumerate(self.cluster_ids)}
        clusters = [drain.id_to_cluster.get(cluster_id) for cluster_id in self.cluster_ids]
        lengths = {len(c.log_template_tokens) for c in clusters if c is not None}
        width = lengths.pop() if len(lengths) == 1 and None not in clusters else -1
        rows = (
            [[_intern(token, token_ids) for token in c.log_template_tokens] for c in clusters]
            if width >= 0
            else []
        )
        self.tokens = (
            np.array(rows, dtype=np.int64).reshape(len(rows), max(width, 0))
            if width >= 0
            else np.zeros((0, 0), dtype=np.int64)
        )
        self.literal = self.tokens != 0
        self.params = (~self.literal).sum(axis=1)

    def append(self, cluster: LogCluster, version: int, token_ids: dict[str, int]) -> None:
        """A cluster was added at the end of this leaf: add its row."""
        row = np.array([[_intern(token, token_ids) for token in cluster.log_template_tokens]], dtype=np.int64)
        if row.shape[1] != self.tokens.shape[1]:
            self.version = -1  # rebuilt on next use
            return
        self.row[cluster.cluster_id] = len(self.cluster_ids)
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


class _LeafHashes:
    """A leaf's templates for vectorized matching: token hashes, literal mask, counts, the tokens."""

    __slots__ = (
        "templates",
        "cluster_ids",
        "width",
        "tokens",
        "hashes",
        "literal",
        "params",
        "literals",
        "literal_columns",
    )

    def __init__(
        self,
        cluster_ids: list[int],
        templates: list[tuple[str, ...]],
        tokens: pl.Series,
        hashes: np.ndarray,
        literal: np.ndarray,
    ):
        """``tokens`` (the templates' tokens end to end), their ``hashes`` and ``literal`` (not ``<*>``) come
        from :func:`hash_leaves`, which hashes the tokens of many leaves in one pass."""
        self.templates, self.cluster_ids = templates, cluster_ids
        self.width = len(templates[0])
        self.tokens = tokens
        shape = (len(templates), self.width)
        self.hashes = hashes.reshape(shape)
        self.literal = literal.reshape(shape)
        self.literals = self.literal.sum(axis=1)
        self.params = self.width - self.literals
        self.literal_columns = np.flatnonzero(self.literal.any(axis=0)).tolist()


def hash_leaves(drain: Drain, leaves: list[Node], cache: dict[int, _LeafHashes]) -> list[_LeafHashes | None]:
    """The templates of each leaf as 64-bit token hashes; None where a cluster is gone (LRU) or lengths differ.

    ``cache`` (id(leaf) -> hashes) is reused while a leaf holds the same template objects (a template
    change replaces the tuple) and updated; the leaves to (re)build are hashed together, in one polars
    call instead of one per leaf (thousands of templates make hundreds of leaves).
    """
    found: list[_LeafHashes | None] = []
    build: list[tuple[int, Node, list[tuple[str, ...]]]] = []
    for leaf in leaves:
        clusters = [drain.id_to_cluster.get(cluster_id) for cluster_id in leaf.cluster_ids]
        templates = [cluster.log_template_tokens for cluster in clusters if cluster is not None]
        cached = cache.get(id(leaf))
        if not templates or len(templates) != len(clusters):
            found.append(None)
        elif (
            cached is not None
            and len(cached.templates) == len(templates)
            and all(a is b for a, b in zip(cached.templates, templates))
        ):
            found.append(cached)
        elif len({len(template) for template in templates}) != 1:
            found.append(None)
        else:
            build.append((len(found), leaf, templates))
            found.append(None)
    if not build:
        return found
    tokens = pl.Series(
        [t for _, _, templates in build for template in templates for t in template], dtype=pl.Utf8
    )
    hashes = tokens.hash(seed=0).to_numpy()
    literal = (tokens != drain.param_str).to_numpy()
    start = 0
    for index, leaf, templates in build:
        end = start + len(templates) * len(templates[0])
        built = _LeafHashes(
            list(leaf.cluster_ids),
            templates,
            tokens.slice(start, end - start),
            hashes[start:end],
            literal[start:end],
        )
        found[index] = cache[id(leaf)] = built
        start = end
    return found


def _intern(token: str, token_ids: dict[str, int]) -> int:
    found = token_ids.get(token)
    if found is None:
        found = token_ids[token] = len(token_ids)
    return found
