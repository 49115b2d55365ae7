"""A batch through drain3's Drain: every distinct message matched at once (numpy), Drain called only for changes."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from drain3.drain import Drain, Node

from logrca.parsers.templates.dedup import dense_codes
from logrca.parsers.templates.masking import select_in_parts

if TYPE_CHECKING:
    from logrca.parsers.templates.drain_feed import DrainFeeder, _LeafHashes

__all__ = ["BatchPlan", "assign_batch", "numeric_wildcard", "tokenize"]

_FEW = 512  # messages to match again below which the Python path is used
_CHUNK_CELLS = 4_000_000  # messages x clusters x tokens compared at once (bounded memory)
# a whitespace run that is not one plain space (Python's str.split() whitespace: \s plus U+001C..U+001F)
_IRREGULAR_SPACE = r"[\s\x1c-\x1f]{2,}|[\s\x1c-\x1f-- ]"
_SMALL_CELLS = 50_000  # leaves with fewer messages x clusters x tokens are matched together (one numpy pass)


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


class _Batch:
    """A :class:`BatchPlan` routed through Drain's tree: the leaf of every prefix, kept up to date while feeding."""

    def __init__(self, feeder: DrainFeeder, plan: BatchPlan):
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
        drain = self.feeder.drain
        checks: list[tuple[np.ndarray, ...]] = []
        templates: list[pl.Series] = []
        template_base = 0
        by_leaf = np.argsort(leaf_index, kind="stable")
        bounds = np.zeros(len(leaves) + 1, dtype=np.int64)
        np.cumsum(np.bincount(leaf_index, minlength=len(leaves)), out=bounds[1:])
        small: list[tuple[np.ndarray, _LeafHashes]] = []
        small_cells = 0
        for index, leaf in enumerate(leaves):
            rows = by_leaf[bounds[index] : bounds[index + 1]]
            if not len(rows):
                continue
            width = int(self.lengths[codes[rows[0]]])
            if width == 0:
                cluster = drain.id_to_cluster.get(leaf.cluster_ids[0]) if leaf.cluster_ids else None
                if cluster is not None:
                    valid[rows], clusters[rows] = True, cluster.cluster_id
                continue
            matrix = self.feeder.leaf_hashes(leaf)
            if matrix is None or matrix.width != width:
                continue  # Drain decides
            if len(rows) * len(matrix.cluster_ids) * width <= _SMALL_CELLS:
                small.append((rows, matrix))  # matched below with the other small leaves at once
                small_cells += len(rows) * len(matrix.cluster_ids) * width
                if small_cells >= _CHUNK_CELLS:
                    template_base = self._match_small(codes, small, checks, templates, template_base)
                    small, small_cells = [], 0
                continue
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
            none = (similar / width >= drain.sim_th) & (similar == matrix.literals[best])
            if not none.any():
                continue
            rows, best, positions = rows[none], best[none], positions[none]
            literal = matrix.literal[best]  # to verify on the strings where the winner has literals
            checks.append(
                (
                    rows,
                    np.asarray(matrix.cluster_ids, dtype=np.int64)[best],
                    positions[literal],
                    (best[:, None] * width + np.arange(width))[literal] + template_base,
                    np.nonzero(literal)[0],
                )
            )
            templates.append(matrix.tokens)
            template_base += matrix.tokens.len()
        if small:
            template_base = self._match_small(codes, small, checks, templates, template_base)
        if checks:
            got = self.flat_tokens.gather(np.concatenate([check[2] for check in checks]))
            want = pl.concat(templates).gather(np.concatenate([check[3] for check in checks]))
            mismatch = (got != want).to_numpy()
            row_base = 0
            for rows, cluster_ids, _, _, owner in checks:
                count = len(owner)
                bad = np.bincount(owner[mismatch[row_base : row_base + count]], minlength=len(rows)) > 0
                row_base += count
                valid[rows[~bad]] = True
                clusters[rows[~bad]] = cluster_ids[~bad]
        return valid, clusters

    def _match_small(
        self,
        codes: np.ndarray,
        small: list[tuple[np.ndarray, _LeafHashes]],
        checks: list[tuple[np.ndarray, ...]],
        templates: list[pl.Series],
        template_base: int,
    ) -> int:
        """:meth:`evaluate` for many small leaves at once: every (message, template of its leaf) pair is one flat segment.

        Same result as the per-leaf loop (first template with the largest (similar, parameters)
        pair per message, then the "none" test); adds one entry to ``checks`` for the string check
        and returns the new ``template_base``.
        """
        drain = self.feeder.drain
        rows = np.concatenate([leaf_rows for leaf_rows, _ in small])
        per_leaf = np.array([len(m.cluster_ids) for _, m in small], dtype=np.int64)
        leaf_width = np.array([m.width for _, m in small], dtype=np.int64)
        # per template (all leaves): start of its tokens in the flat arrays, width, literal count, params, cluster
        tpl_width = np.repeat(leaf_width, per_leaf)
        tpl_start = np.zeros(len(tpl_width), dtype=np.int64)
        np.cumsum(tpl_width[:-1], out=tpl_start[1:])
        tpl_hash = np.concatenate([m.hashes.ravel() for _, m in small])
        tpl_literal = np.concatenate([m.literal.ravel() for _, m in small])
        tpl_literals = np.concatenate([m.literals for _, m in small])
        tpl_params = np.concatenate([m.params for _, m in small])
        tpl_cluster = np.concatenate([np.asarray(m.cluster_ids, dtype=np.int64) for _, m in small])
        leaf_first_tpl = np.zeros(len(small), dtype=np.int64)
        np.cumsum(per_leaf[:-1], out=leaf_first_tpl[1:])
        row_leaf = np.repeat(np.arange(len(small)), [len(leaf_rows) for leaf_rows, _ in small])
        width = leaf_width[row_leaf]
        message_start = self.offsets[codes[rows]]
        # pairs (message, template of its leaf), templates of a message contiguous and in leaf order
        pairs_of_row = per_leaf[row_leaf]
        pair_row = np.repeat(np.arange(len(rows)), pairs_of_row)
        row_first_pair = np.zeros(len(rows), dtype=np.int64)
        np.cumsum(pairs_of_row[:-1], out=row_first_pair[1:])
        pair_tpl = leaf_first_tpl[row_leaf][pair_row] + np.arange(len(pair_row)) - row_first_pair[pair_row]
        # cells (pair, position)
        pair_width = tpl_width[pair_tpl]
        cell_pair = np.repeat(np.arange(len(pair_row)), pair_width)
        pair_first_cell = np.zeros(len(pair_row), dtype=np.int64)
        np.cumsum(pair_width[:-1], out=pair_first_cell[1:])
        position = np.arange(len(cell_pair)) - pair_first_cell[cell_pair]
        tpl_cell = tpl_start[pair_tpl][cell_pair] + position
        hit = (
            self.flat_hashes[message_start[pair_row][cell_pair] + position] == tpl_hash[tpl_cell]
        ) & tpl_literal[tpl_cell]
        similar_pair = np.bincount(cell_pair, weights=hit, minlength=len(pair_row)).astype(np.int64)
        score = similar_pair * (width[pair_row] + 1) + tpl_params[pair_tpl]
        best_score = np.maximum.reduceat(score, row_first_pair)
        first_best = np.minimum.reduceat(
            np.where(score == best_score[pair_row], np.arange(len(score)), len(score)), row_first_pair
        )
        best, similar = pair_tpl[first_best], similar_pair[first_best]
        none = (similar / width >= drain.sim_th) & (similar == tpl_literals[best])
        if none.any():
            rows, best, width, message_start = rows[none], best[none], width[none], message_start[none]
            owner = np.repeat(np.arange(len(rows)), width)
            row_first_cell = np.zeros(len(rows), dtype=np.int64)
            np.cumsum(width[:-1], out=row_first_cell[1:])
            position = np.arange(len(owner)) - row_first_cell[owner]
            tpl_cell = tpl_start[best][owner] + position
            literal = tpl_literal[tpl_cell]
            checks.append(
                (
                    rows,
                    tpl_cluster[best],
                    (message_start[owner] + position)[literal],
                    tpl_cell[literal] + template_base,
                    owner[literal],
                )
            )
            templates.append(pl.concat([m.tokens for _, m in small]))
            template_base += int(tpl_width.sum())
        return template_base


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
       (:meth:`_Batch.evaluate`). One that would come back ``"none"`` keeps that cluster while no
       node on its tree path changes (see :class:`logrca.parsers.templates.drain_feed.DrainFeeder`), so none of its
       lines is fed.
    2. The others wait in a heap at their first line. Lines are fed to Drain in line order; when a
       feed changes the state (cluster created, template changed, child added), the messages whose
       path holds a changed node, and those whose walk stopped at a node that just got a child, are
       routed and matched again (vectorized when many) for their lines after it: they either keep
       a cluster or wait in the heap at their next line.
    3. Each line takes the result of the last event of its message at or before it.
    """
    n, k = len(codes), distinct.len()
    if plan is None or plan.distinct is not distinct or plan.codes is not codes:
        plan = BatchPlan(
            distinct,
            codes,
            feeder.drain.extra_delimiters,
            feeder.drain.max_node_depth,
            numeric_wildcard(feeder.drain),
        )
    batch = _Batch(feeder, plan)
    generation = np.zeros(k, dtype=np.int64)
    waiting = np.zeros(k, dtype=bool)  # has a live heap entry
    stride = 2 * (n + 1) + 2
    keys: list[np.ndarray] = []
    results: list[np.ndarray] = []
    fed_clusters: list[int] = []

    remember: list[
        tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    ] = []  # (codes, leaf ids, leaf versions, clusters)

    def record(event_codes: np.ndarray, position: int, after: int, clusters: np.ndarray) -> None:
        keys.append(event_codes * stride + 2 * (position + 1) + after)
        results.append(clusters)

    def refresh(prefixes: list[int], position: int) -> list[tuple[int, int, int]]:
        """Match the messages of ``prefixes`` again for their lines after ``position``; returns new heap entries.

        A message either gets a result (an event) or waits in the heap at its next line; one that
        was already waiting keeps its entry (it was not fed since, so the entry is its next line).
        """
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
        leaves: list[Node] = []
        slot: dict[int, int] = {}
        prefix_slot = []
        for p in prefixes:
            leaf = batch.leaf_of_prefix[p]
            if leaf is None:
                prefix_slot.append(-1)
            else:
                prefix_slot.append(slot.setdefault(id(leaf), len(slot)))
                if len(leaves) < len(slot):
                    leaves.append(leaf)
        leaf_index = np.repeat(
            np.array(prefix_slot, dtype=np.int64), [len(batch.codes_of_prefix[p]) for p in prefixes]
        )[later]
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
                distinct,
            )
        todo = routed & ~valid
        if todo.sum() <= _FEW:  # one by one is cheaper than the vectorized set-up
            for row in np.flatnonzero(todo).tolist():
                clusters[row] = feeder.peek(tokens_of(int(codes_now[row])), leaves[int(leaf_index[row])])
            valid = clusters >= 0
        else:
            valid[todo], clusters[todo] = batch.evaluate(codes_now[todo], leaf_index[todo], leaves)
        if valid.any():
            remember.append(
                (
                    codes_now[valid],
                    leaf_ids[leaf_index[valid]],
                    leaf_versions[leaf_index[valid]],
                    clusters[valid],
                )
            )
            record(codes_now[valid], position, 1, clusters[valid])
        newly_waiting = ~valid & ~waiting[codes_now]
        changed = codes_now[valid | newly_waiting]
        generation[changed] += 1  # older heap entries of these messages are void
        waiting[codes_now] = ~valid
        queued = codes_now[newly_waiting]
        return list(zip(following[newly_waiting].tolist(), queued.tolist(), generation[queued].tolist()))

    distinct_list: list[str] = []  # Python strings, made on first use (many batches need none)

    def message_of(code_now: int) -> str:
        if not distinct_list:
            distinct_list.extend(distinct.to_list())
        return distinct_list[code_now]

    token_cache: dict[int, list[str]] = {}

    def tokens_of(code_now: int) -> list[str]:
        found = token_cache.get(code_now)
        if found is None:
            found = token_cache[code_now] = feeder.drain.get_content_as_tokens(message_of(code_now))
        return found

    heap = refresh(list(range(len(batch.codes_of_prefix))), -1)
    heapq.heapify(heap)
    while heap:
        position, code, entry_generation = heapq.heappop(heap)
        if entry_generation != generation[code]:
            continue
        cluster_id, changed, _path, bumped = feeder.feed(message_of(code))
        keys.append(np.array([code * stride + 2 * (position + 1)])), results.append(np.array([cluster_id]))
        fed_clusters.append(cluster_id)
        waiting[code] = False
        if not changed:
            continue
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
        affected |= reroute
        for entry in refresh(sorted(affected), position):
            heapq.heappush(heap, entry)
    event_keys, event_clusters = np.concatenate(keys), np.concatenate(results)
    sort = np.argsort(event_keys, kind="stable")
    # needles in (message, line) order are sorted, which makes searchsorted several times faster
    line_keys = codes[batch.order] * stride + 2 * (batch.order + 1)
    ids = np.empty(n, dtype=np.int64)
    ids[batch.order] = event_clusters[sort][np.searchsorted(event_keys[sort], line_keys, side="right") - 1]
    feeder.add_sizes(ids, np.asarray(fed_clusters, dtype=np.int64))
    if remember:
        feeder.remember(distinct, *(np.concatenate(part) for part in zip(*remember)))
    return ids


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
