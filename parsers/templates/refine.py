"""Splitting Drain clusters whose variable positions hold a few words: one event per word, ids stable across batches."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import polars as pl

__all__ = ["ClusterSplitter", "SPLIT_ID_BASE"]

#: Ids of the extra groups a split makes start here, far above any Drain cluster id.
SPLIT_ID_BASE = 1 << 32
_WORD = re.compile(r"[A-Za-z][A-Za-z_\-]*[.,;:]?\Z")
_PARAM = "<*>"


class ClusterSplitter:
    """Split a Drain cluster at the variable positions whose values are a few words.

    Drain merges messages that agree on enough tokens, so events differing in one word
    (``VM Paused`` / ``VM Resumed``, ``Failed password`` / ``Failed none``) share a cluster
    whose template has ``<*>`` there. When a cluster is first mined, each of its variable
    positions whose values are all words (letters, ``_``, ``-``; no digit, no mask), between 2
    and ``max_values`` of them, each on at least ``min_lines`` lines, becomes a split position:
    lines with other words there get other groups. Unless ``shared_words`` of those words also
    fill a variable position of another cluster first mined in the same batch: words that several
    events take as a value (user names in ``session opened for user cyrus`` and ``session closed
    for user cyrus``) are variables, while the words that tell events apart (``Paused``/``Resumed``)
    belong to one event.

    Parameters
    ----------
    max_values : int
        Most distinct words at a position for it to split (0 turns splitting off).
    min_lines : int
        Fewest lines each word needs.
    shared_words : int
        A position with at least this many words also held by a variable position of another
        cluster is not split (0 turns the check off).

    Notes
    -----
    Ids are stable: a cluster's split positions are decided once, in the batch where it is first
    seen, and never revisited; every group gets an id from :data:`SPLIT_ID_BASE` up in order of
    its first line (the miner names it by the hash of its own template, so which word came first
    does not matter), and a word seen later gets a new id. So re-running the same batches gives the same ids, and mining a later
    batch never changes the id a mined line got. All of it is in :meth:`state`.
    """

    def __init__(self, *, max_values: int, min_lines: int, shared_words: int = 0):
        self.max_values, self.min_lines, self.shared_words = max_values, min_lines, shared_words
        self.positions: dict[int, tuple[int, ...]] = {}  # decided clusters -> split positions
        self.groups: dict[tuple[int, tuple[str, ...]], int] = {}  # (cluster, words) -> group id
        self.members: dict[int, tuple[int, tuple[str, ...]]] = {}  # group id -> (cluster, words)
        self.sizes: dict[int, int] = {}  # group id -> lines
        self.next_id = SPLIT_ID_BASE

    def split(
        self,
        ids: np.ndarray,
        masked: pl.Series,
        line_codes: np.ndarray,
        template_of: Callable[[int], str | None],
        *,
        extra_delimiters: Sequence[str] = (),
    ) -> np.ndarray:
        """Group id per line: ``ids`` (Drain cluster per line) with the split clusters' lines regrouped.

        ``masked`` holds the distinct masked messages and ``line_codes`` each line's index there;
        they are tokenized as Drain does (``extra_delimiters`` become spaces, then whitespace splits).
        """
        if self.max_values == 0 or len(ids) == 0:
            return ids
        key = line_codes.astype(np.int64) * (int(ids.max()) + 1) + ids
        _, first, pair_of_line, counts = np.unique(
            key, return_index=True, return_inverse=True, return_counts=True
        )
        order = np.argsort(first, kind="stable")  # pairs in order of their first line
        pair_cluster, pair_code = ids[first].tolist(), line_codes[first].tolist()
        new = {c for c in set(pair_cluster) if c not in self.positions}
        if not new and not any(self.positions.get(c) for c in set(pair_cluster)):
            return ids
        tokens: dict[int, list[str]] = {}
        for pair in order.tolist():
            if pair_cluster[pair] in new or self.positions.get(pair_cluster[pair]):
                message = masked[pair_code[pair]]
                for delimiter in extra_delimiters:
                    message = message.replace(delimiter, " ")
                tokens[pair] = message.split()
        templates = {c: (template_of(c) or "").split(" ") for c in {pair_cluster[p] for p in tokens}}
        self._decide(new, templates, tokens, pair_cluster, counts)
        pair_ids = np.array(pair_cluster, dtype=np.int64)
        for pair in order.tolist():
            cluster = pair_cluster[pair]
            positions = self.positions.get(cluster)
            if positions and len(tokens[pair]) == len(templates[cluster]):
                group = self._group(cluster, tuple(tokens[pair][p] for p in positions))
                pair_ids[pair] = group
                self.sizes[group] = self.sizes.get(group, 0) + int(counts[pair])
        return pair_ids[pair_of_line.reshape(-1)]

    def _decide(
        self,
        new: set[int],
        templates: dict[int, list[str]],
        tokens: dict[int, list[str]],
        pair_cluster: list[int],
        counts: np.ndarray,
    ) -> None:
        """Fix the split positions of the clusters seen for the first time (see the class Notes)."""
        values: dict[int, dict[int, dict[str, int]]] = {c: {} for c in new}
        for pair, words in tokens.items():
            cluster = pair_cluster[pair]
            if cluster not in new:
                continue
            template = templates[cluster]
            for position, token in enumerate(template):
                if token == _PARAM:
                    word = words[position] if len(words) == len(template) else _PARAM
                    seen = values[cluster].setdefault(position, {})
                    seen[word] = seen.get(word, 0) + int(counts[pair])
        for cluster in sorted(new):
            self.positions[cluster] = tuple(
                position
                for position, seen in sorted(values[cluster].items())
                if 2 <= len(seen) <= self.max_values
                and all(_WORD.match(word) for word in seen)
                and min(seen.values()) >= self.min_lines
                and not self._shared(seen.keys(), cluster, values)
            )

    def _shared(
        self, words: Iterable[str], cluster: int, values: dict[int, dict[int, dict[str, int]]]
    ) -> bool:
        """True when ``shared_words`` of ``words`` also fill one variable position of another new cluster."""
        if self.shared_words == 0:
            return False
        words = set(words)
        return any(
            len(words.intersection(seen)) >= self.shared_words
            for other, positions in values.items()
            if other != cluster
            for seen in positions.values()
        )

    def _group(self, cluster: int, words: tuple[str, ...]) -> int:
        group = self.groups.get((cluster, words))
        if group is None:
            group, self.next_id = self.next_id, self.next_id + 1
            self.groups[(cluster, words)] = group
            self.members[group] = (cluster, words)
        return group

    def cluster_of(self, group: int) -> int:
        """The Drain cluster a group id belongs to (itself when not a split group)."""
        return self.members[group][0] if group in self.members else group

    def lines_split_off(self) -> dict[int, int]:
        """Per split cluster, the lines its other groups took (the cluster id keeps the rest)."""
        taken: dict[int, int] = {}
        for group, size in self.sizes.items():
            taken[self.cluster_of(group)] = taken.get(self.cluster_of(group), 0) + size
        return taken

    def template(self, group: int, template_of: Callable[[int], str | None]) -> str | None:
        """The template of a group: its cluster's template with the group's words in place."""
        if group not in self.members:
            return template_of(group)
        cluster, words = self.members[group]
        template = template_of(cluster)
        if template is None:
            return None
        tokens = template.split(" ")
        for position, word in zip(self.positions[cluster], words):
            tokens[position] = word
        return " ".join(tokens)

    def state(self) -> dict[str, Any]:
        """JSON-able: decided positions, groups, sizes and the next id."""
        return {
            "positions": [[cluster, list(p)] for cluster, p in self.positions.items()],
            "groups": [[cluster, list(words), group] for (cluster, words), group in self.groups.items()],
            "sizes": [[group, size] for group, size in self.sizes.items()],
            "next_id": self.next_id,
        }

    def load(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state` (raises KeyError/TypeError/ValueError on a malformed one)."""
        self.positions = {int(c): tuple(int(p) for p in ps) for c, ps in state["positions"]}
        self.groups = {(int(c), tuple(str(w) for w in ws)): int(g) for c, ws, g in state["groups"]}
        self.members = {group: key for key, group in self.groups.items()}
        self.sizes = {int(g): int(n) for g, n in state["sizes"]}
        self.next_id = int(state["next_id"])
