"""A batch's messages routed through Drain's tree and matched against their leaves' templates at once (numpy)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from drain3.drain import Node

if TYPE_CHECKING:
    from logrca.parsers.templates.drain_feed import DrainFeeder
    from logrca.parsers.templates.drain_leaves import _LeafHashes

__all__ = ["RoutedBatch"]

_CHUNK_CELLS = 4_000_000  # messages x clusters x tokens compared at once (bounded memory)
# leaves with fewer messages x clusters x tokens are matched together (one numpy pass): the flat pass
# saves the per-leaf numpy rounds but costs several times more per cell (its index arrays are per
# cell), so larger leaves go one by one. Crossover measured at ~5-7k cells (bench/README.md,
# "Cost as templates grow"); at 50k, 10,000 templates' steady state spent 6x longer matching
_SMALL_CELLS = 6_000


@dataclass
class _Checks:
    """Winners that hash equality calls "none", waiting for the check on the strings.

    Each entry: (rows, cluster id per row, message token positions, template token positions,
    owning row of each position); template positions index the concatenation of ``templates``.
    """

    entries: list[tuple[np.ndarray, ...]] = field(default_factory=list)
    templates: list[pl.Series] = field(default_factory=list)
    base: int = 0  # template tokens held so far

    def add(self, entry: tuple[np.ndarray, ...], tokens: pl.Series, width: int) -> None:
        self.entries.append(entry)
        self.templates.append(tokens)
        self.base += width

    def confirm(self, flat_tokens: pl.Series, valid: np.ndarray, clusters: np.ndarray) -> None:
        """Mark valid the rows whose winner equals the message on the strings at every literal position."""
        if not self.entries:
            return
        got = flat_tokens.gather(np.concatenate([entry[2] for entry in self.entries]))
        want = pl.concat(self.templates).gather(np.concatenate([entry[3] for entry in self.entries]))
        mismatch = (got != want).to_numpy()
        row_base = 0
        for rows, cluster_ids, _, _, owner in self.entries:
            count = len(owner)
            bad = np.bincount(owner[mismatch[row_base : row_base + count]], minlength=len(rows)) > 0
            row_base += count
            valid[rows[~bad]] = True
            clusters[rows[~bad]] = cluster_ids[~bad]


class RoutedBatch:
    """A :class:`~logrca.parsers.templates.drain_bulk.BatchPlan` routed through Drain's tree: the leaf of every prefix, kept up to date while feeding."""

    def __init__(self, feeder: DrainFeeder, plan):
        """``plan`` is a :class:`~logrca.parsers.templates.drain_bulk.BatchPlan` (not imported: drain_bulk imports this module)."""
        self.feeder = feeder
        self.__dict__.update(
            {name: value for name, value in vars(plan).items() if name not in ("distinct", "codes")}
        )
        count = len(plan.prefix_tokens)
        self.leaf_of_prefix: list[Node | None] = [None] * count
        self.node_prefixes: dict[int, set[int]] = {}
        self.stuck_at: dict[int, set[int]] = {}  # id(node) -> prefixes whose walk stops there (no leaf)
        for p in range(count):
            self.route(p)

    def route(self, p: int) -> bool:
        """Walk the tree for prefix ``p``; True when its leaf changed."""
        count, head = self.prefix_tokens[p]
        path, stuck = self.feeder.route(head + [""] * (count - len(head)))
        old = self.leaf_of_prefix[p]
        self.leaf_of_prefix[p] = None if path is None else path[-1]
        if path is None:
            self.stuck_at.setdefault(id(stuck), set()).add(p)
        else:
            for node in path:
                self.node_prefixes.setdefault(id(node), set()).add(p)
        return old is not self.leaf_of_prefix[p]

    def next_lines(self, codes: np.ndarray, after: int) -> np.ndarray:
        """Per message, its first line after position ``after`` (-1 when none)."""
        index = np.searchsorted(self.line_keys, codes * (self.n + 1) + after, side="right")
        inside = index < self.starts[codes + 1]
        return np.where(inside, self.order[np.minimum(index, self.n - 1)], -1)

    def evaluate(
        self, codes: np.ndarray, leaf_index: np.ndarray, leaves: list[Node]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Would feeding each message now return ``"none"``? And the cluster it would get.

        ``leaf_index`` gives, per message, its leaf in ``leaves``.

        Notes
        -----
        Per leaf, the message's tokens are compared with every template of the leaf at once on
        64-bit token hashes: similar tokens (template literal equal to the message token), then the
        first cluster with the largest (similar, parameters) pair, as ``Drain.fast_match``.
        A message is "none" when that cluster reaches ``sim_th`` and the message equals its template
        at every literal position. Hash equality is then checked on the strings, so a collision can
        only send a message to Drain, never give it a wrong cluster: a collision only raises
        similarities, so a winner whose similarity is confirmed exact is the true winner.
        """
        valid = np.zeros(len(codes), dtype=bool)
        clusters = np.full(len(codes), -1, dtype=np.int64)
        checks = _Checks()
        by_leaf = np.argsort(leaf_index, kind="stable")
        bounds = np.zeros(len(leaves) + 1, dtype=np.int64)
        np.cumsum(np.bincount(leaf_index, minlength=len(leaves)), out=bounds[1:])
        small: list[tuple[np.ndarray, _LeafHashes]] = []
        small_cells = 0
        present = np.flatnonzero(bounds[1:] > bounds[:-1]).tolist()
        hashed = dict(zip(present, self.feeder.leaf_hashes([leaves[index] for index in present])))
        for index, leaf in enumerate(leaves):
            rows = by_leaf[bounds[index] : bounds[index + 1]]
            if not len(rows):
                continue
            width = int(self.lengths[codes[rows[0]]])
            if width == 0:
                cluster = (
                    self.feeder.drain.id_to_cluster.get(leaf.cluster_ids[0]) if leaf.cluster_ids else None
                )
                if cluster is not None:
                    valid[rows], clusters[rows] = True, cluster.cluster_id
                continue
            matrix = hashed[index]
            if matrix is None or matrix.width != width:
                continue  # Drain decides
            cells = len(rows) * len(matrix.cluster_ids) * width
            if cells > _SMALL_CELLS:
                self._match_leaf(codes, rows, matrix, checks)
                continue
            small.append((rows, matrix))  # matched below with the other small leaves at once
            small_cells += cells
            if small_cells >= _CHUNK_CELLS:
                self._match_small(codes, small, checks)
                small, small_cells = [], 0
        if small:
            self._match_small(codes, small, checks)
        checks.confirm(self.flat_tokens, valid, clusters)
        return valid, clusters

    def _match_leaf(self, codes: np.ndarray, rows: np.ndarray, matrix: _LeafHashes, checks: _Checks) -> None:
        """:meth:`evaluate` for the messages ``rows`` of one large leaf, in chunks of bounded memory."""
        width = matrix.width
        positions = self.offsets[codes[rows]][:, None] + np.arange(width)
        message = self.flat_hashes[positions]
        step = max(1, _CHUNK_CELLS // max(1, len(matrix.cluster_ids) * width))
        best = np.empty(len(rows), dtype=np.int64)
        similar = np.empty(len(rows), dtype=np.int64)
        for start in range(0, len(rows), step):
            chunk = message[start : start + step]
            sims = np.zeros((len(chunk), len(matrix.cluster_ids)), dtype=np.int32)
            for position in matrix.literal_columns:  # positions where some template has a literal
                sims += (chunk[:, position, None] == matrix.hashes[None, :, position]) & matrix.literal[
                    None, :, position
                ]
            winner = np.argmax(sims * (width + 1) + matrix.params[None, :], axis=1)
            best[start : start + step] = winner
            similar[start : start + step] = sims[np.arange(len(chunk)), winner]
        none = (similar / width >= self.feeder.drain.sim_th) & (similar == matrix.literals[best])
        if not none.any():
            return
        rows, best, positions = rows[none], best[none], positions[none]
        literal = matrix.literal[best]  # to verify on the strings where the winner has literals
        entry = (
            rows,
            np.asarray(matrix.cluster_ids, dtype=np.int64)[best],
            positions[literal],
            (best[:, None] * width + np.arange(width))[literal] + checks.base,
            np.nonzero(literal)[0],
        )
        checks.add(entry, matrix.tokens, matrix.tokens.len())

    def _match_small(
        self, codes: np.ndarray, small: list[tuple[np.ndarray, _LeafHashes]], checks: _Checks
    ) -> None:
        """:meth:`evaluate` for many small leaves at once: every (message, template of its leaf) pair is one flat segment.

        Same result as the per-leaf loop (first template with the largest (similar, parameters)
        pair per message, then the "none" test); adds one entry to ``checks`` for the string check.
        """
        tpl = _FlatTemplates(small)
        rows = np.concatenate([leaf_rows for leaf_rows, _ in small])
        row_leaf = np.repeat(np.arange(len(small)), [len(leaf_rows) for leaf_rows, _ in small])
        width = tpl.leaf_width[row_leaf]
        message_start = self.offsets[codes[rows]]
        # pairs (message, template of its leaf), templates of a message contiguous and in leaf order
        pairs_of_row = tpl.per_leaf[row_leaf]
        pair_row = np.repeat(np.arange(len(rows)), pairs_of_row)
        row_first_pair = _starts(pairs_of_row)
        pair_tpl = tpl.leaf_first[row_leaf][pair_row] + np.arange(len(pair_row)) - row_first_pair[pair_row]
        # cells (pair, position)
        cell_pair = np.repeat(np.arange(len(pair_row)), tpl.width[pair_tpl])
        position = np.arange(len(cell_pair)) - _starts(tpl.width[pair_tpl])[cell_pair]
        tpl_cell = tpl.start[pair_tpl][cell_pair] + position
        hit = (
            self.flat_hashes[message_start[pair_row][cell_pair] + position] == tpl.hashes[tpl_cell]
        ) & tpl.literal[tpl_cell]
        similar_pair = np.bincount(cell_pair, weights=hit, minlength=len(pair_row)).astype(np.int64)
        score = similar_pair * (width[pair_row] + 1) + tpl.params[pair_tpl]
        best_score = np.maximum.reduceat(score, row_first_pair)
        first_best = np.minimum.reduceat(
            np.where(score == best_score[pair_row], np.arange(len(score)), len(score)), row_first_pair
        )
        best, similar = pair_tpl[first_best], similar_pair[first_best]
        none = (similar / width >= self.feeder.drain.sim_th) & (similar == tpl.literals[best])
        if not none.any():
            return
        rows, best, width, message_start = rows[none], best[none], width[none], message_start[none]
        owner = np.repeat(np.arange(len(rows)), width)
        position = np.arange(len(owner)) - _starts(width)[owner]
        tpl_cell = tpl.start[best][owner] + position
        literal = tpl.literal[tpl_cell]
        entry = (
            rows,
            tpl.cluster[best],
            (message_start[owner] + position)[literal],
            tpl_cell[literal] + checks.base,
            owner[literal],
        )
        checks.add(entry, pl.concat([m.tokens for _, m in small]), int(tpl.width.sum()))


def _starts(lengths: np.ndarray) -> np.ndarray:
    """Start of each segment when segments of ``lengths`` are laid end to end."""
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return starts


class _FlatTemplates:
    """The templates of several leaves laid end to end: per template its token start, width, literals, params, cluster."""

    def __init__(self, small: list[tuple[np.ndarray, _LeafHashes]]):
        self.per_leaf = np.array([len(m.cluster_ids) for _, m in small], dtype=np.int64)
        self.leaf_width = np.array([m.width for _, m in small], dtype=np.int64)
        self.leaf_first = _starts(self.per_leaf)
        self.width = np.repeat(self.leaf_width, self.per_leaf)
        self.start = _starts(self.width)
        self.hashes = np.concatenate([m.hashes.ravel() for _, m in small])
        self.literal = np.concatenate([m.literal.ravel() for _, m in small])
        self.literals = np.concatenate([m.literals for _, m in small])
        self.params = np.concatenate([m.params for _, m in small])
        self.cluster = np.concatenate([np.asarray(m.cluster_ids, dtype=np.int64) for _, m in small])
