"""Template ids that do not depend on the order partitions are mined in (logpai/Drain3#56).

drain3 numbers its clusters 1, 2, 3... in the order they are created, so partitions mined in
parallel (under the miner's lock, in whatever order the runs get it) number the same templates
differently from a sequential run. logrca keeps drain3's cluster ids inside (the grouping stays
drain3's own) and gives every cluster a **template id**: the first 63 bits of BLAKE2b of the
cluster's template at the end of the batch that created it (tokens joined by one space), tokens
holding a digit written as ``<*>`` when Drain parametrizes numeric tokens (its default: they are
parameters to its tree already). When that
id is taken by an earlier cluster (two clusters with the same template text, or a hash collision),
the text is hashed again with ``"\x00<k>"`` appended, k = 1, 2, ...; the pairs are persisted with
the miner state, so an id never changes once given, even when the template generalises later.

Why the end of the batch and not the first message: the first message of a cluster depends on which
partition is mined first (an unmasked order number, a user name), while by the end of the batch the
template has usually generalised over those parts (``Card declined for order <*> ...``), and a
number seen only once is written as ``<*>`` anyway. So the id
is the same in any mining order whenever Drain groups the same way and each template has settled
within the batch that created it; `tests/test_template_ids.py` checks a sequential, a reverse and a
four-way parallel fresh backfill. Where a template is still changing at the end of its first batch
(a template seen a handful of times), or Drain groups differently because of the order (drain3's
grouping is order-dependent), ids can still differ: the id names the template, it does not make
Drain order-independent. Ids also depend on where batches end, so they are compared between runs of
the pipeline (same batch sizes), not between differently batched runs; the Drain cluster behind an
id (``TemplateIds.clusters``) is what equals drain3's line by line.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import numpy as np

__all__ = ["TemplateIds", "naming_text", "stable_template_id"]

_DIGIT = re.compile(r"\d")


def naming_text(template: str, wildcard: str | None) -> str:
    """The text a template id hashes: ``template`` with every token holding a digit as ``wildcard``.

    ``wildcard`` is Drain's ``param_str`` when it runs with ``parametrize_numeric_tokens`` (such a
    token is a parameter to Drain's tree already), None to hash the template as it is.
    """
    if wildcard is None or not _DIGIT.search(template):
        return template
    return " ".join(wildcard if _DIGIT.search(token) else token for token in template.split(" "))


def stable_template_id(text: str, attempt: int = 0) -> int:
    """63-bit id of a template text (``attempt`` > 0 when the earlier ids are taken)."""
    data = text.encode("utf-8") if attempt == 0 else f"{text}\x00{attempt}".encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big") >> 1


class TemplateIds:
    """Drain cluster id <-> template id, in both directions; persisted with the miner state."""

    def __init__(self, pairs: Iterable[tuple[int, int]] = ()):
        self.of_cluster: dict[int, int] = {}
        self.cluster_of: dict[int, int] = {}
        for cluster_id, template_id in pairs:
            self.of_cluster[int(cluster_id)] = int(template_id)
            self.cluster_of[int(template_id)] = int(cluster_id)

    def add(self, cluster_id: int, template: str) -> int:
        """Name a new cluster after ``template``; returns its template id (unchanged when already named)."""
        found = self.of_cluster.get(cluster_id)
        if found is not None:
            return found
        attempt = 0
        while (candidate := stable_template_id(template, attempt)) in self.cluster_of:
            attempt += 1
        self.of_cluster[cluster_id], self.cluster_of[candidate] = candidate, cluster_id
        return candidate

    def pairs(self) -> list[list[int]]:
        """``[cluster id, template id]`` rows (JSON-able, in cluster order)."""
        return [[c, t] for c, t in sorted(self.of_cluster.items())]

    def lookup(self, cluster_ids: np.ndarray) -> np.ndarray:
        """Template id of each cluster id (every one must be named)."""
        return _translate(self.of_cluster, cluster_ids)

    def clusters(self, template_ids: np.ndarray) -> np.ndarray:
        """Drain cluster id of each template id (for comparing with drain3 line by line)."""
        return _translate(self.cluster_of, template_ids)


def _translate(mapping: dict[int, int], values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.int64)
    if not len(values):
        return values.copy()
    if not mapping:
        raise KeyError(f"ids without a counterpart: {sorted(set(values.tolist()))[:5]}")
    keys = np.fromiter(mapping.keys(), dtype=np.int64, count=len(mapping))
    targets = np.fromiter(mapping.values(), dtype=np.int64, count=len(mapping))
    order = np.argsort(keys)
    keys, targets = keys[order], targets[order]
    index = np.minimum(np.searchsorted(keys, values), len(keys) - 1)
    if not np.array_equal(keys[index], values):
        missing = sorted(set(values.tolist()) - set(mapping))[:5]
        raise KeyError(f"ids without a counterpart: {missing}")
    return targets[index]
