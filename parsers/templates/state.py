"""The template miner's persisted state: a JSON snapshot of Drain, the splits and the template ids,
written atomically and checked against the current settings on load."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from drain3.drain import Drain, LogCluster, Node

from logrca.parsers.templates.drain_bulk import numeric_wildcard
from logrca.parsers.templates.refine import ClusterSplitter
from logrca.parsers.templates.template_ids import TemplateIds, naming_text

__all__ = ["STATE_VERSION", "TemplateStateError", "miner_state", "write_state", "read_state"]

STATE_VERSION = 1


class TemplateStateError(RuntimeError):
    """The persisted template state cannot be used; the message names the file and how to rebuild."""


def miner_state(
    drain: Drain, *, settings: dict[str, Any], ids: TemplateIds, splitter: ClusterSplitter
) -> dict[str, Any]:
    """JSON-able snapshot: settings, cluster counter, clusters and the prefix tree."""
    # With an LRU bound, save least recently used first: loading inserts in this order, which
    # restores the eviction order (cachetools iterates in insertion order, not LRU order).
    lru_order = getattr(drain.id_to_cluster, "_LRUCache__order", None)
    ordered = (
        [drain.id_to_cluster.get(key) for key in lru_order] if lru_order is not None else list(drain.clusters)
    )
    clusters = [[c.cluster_id, list(c.log_template_tokens), c.size] for c in ordered]
    return {
        "version": STATE_VERSION,
        "settings": settings,
        "clusters_counter": drain.clusters_counter,
        "clusters": clusters,
        "template_ids": ids.pairs(),
        "tree": _node_to_json(drain.root_node),
        "splits": splitter.state(),
    }


def write_state(state: dict[str, Any], target: Path) -> Path:
    """Write ``state`` as JSON atomically (temp file in the same folder, fsync, ``os.replace``).

    The previous file is kept as ``<target>.bak``.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(state, stream, separators=(",", ":"))
            stream.flush()
            os.fsync(stream.fileno())
        if target.exists():
            shutil.copy2(target, target.with_name(target.name + ".bak"))
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return target


def read_state(
    path: str | Path, *, settings: dict[str, Any], drain: Drain, splitter: ClusterSplitter
) -> tuple[Drain, ClusterSplitter, TemplateIds]:
    """The state in ``path`` loaded into an empty ``drain`` and ``splitter``, and its template ids.

    ``settings`` (:meth:`logrca.parsers.templates.miner.TemplateConfig.drain_settings`) must equal
    those the state was written with.

    Raises
    ------
    TemplateStateError
        When the file is unreadable, corrupted, of another version, or was written with other
        mining settings; the message names the file and how to rebuild.
    """
    path = Path(path)
    how = (
        f"delete {path} to start afresh (template ids are then re-assigned) or restore "
        f"{path.name}.bak, then re-run mining over the logs to rebuild it"
    )
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TemplateStateError(f"{path}: template state is unreadable ({error}); {how}") from error
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        version = state.get("version") if isinstance(state, dict) else None
        raise TemplateStateError(
            f"{path}: not a logrca template state of version {STATE_VERSION} (found {version!r}); {how}"
        )
    settings = _jsonable(settings)
    if state.get("settings") != settings:
        raise TemplateStateError(
            f"{path}: written with other mining settings {state.get('settings')} than the current "
            f"{settings}; ids would not be comparable. {how}"
        )
    try:
        for cluster_id, tokens, size in state["clusters"]:
            cluster = LogCluster([str(t) for t in tokens], int(cluster_id))
            cluster.size = int(size)
            drain.id_to_cluster[cluster.cluster_id] = cluster
        drain.clusters_counter = int(state["clusters_counter"])
        drain.root_node = _node_from_json(state["tree"])
        splitter.load(state["splits"])
        ids = TemplateIds(state.get("template_ids", []))
        for cluster in drain.clusters:  # a state from before template ids: named after today's template
            ids.add(cluster.cluster_id, naming_text(cluster.get_template(), numeric_wildcard(drain)))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise TemplateStateError(
            f"{path}: template state is corrupted ({type(error).__name__}: {error}); {how}"
        ) from error
    return drain, splitter, ids


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _node_to_json(node: Node) -> dict[str, Any]:
    return {
        "ids": list(node.cluster_ids),
        "children": {key: _node_to_json(child) for key, child in node.key_to_child_node.items()},
    }


def _node_from_json(raw: dict[str, Any]) -> Node:
    node = Node()
    node.cluster_ids = [int(i) for i in raw["ids"]]
    node.key_to_child_node = {str(key): _node_from_json(child) for key, child in raw["children"].items()}
    return node
