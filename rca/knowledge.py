"""Knowledge base: runbooks (Markdown with YAML front matter) and past incidents, linked to a finding."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from logrca.parsers.ingest.secrets import Redactor

__all__ = [
    "KnowledgeError",
    "link_knowledge",
    "load_knowledge_base",
    "load_knowledge_runbooks",
    "load_past_incidents",
    "load_runbooks",
    "template_tokens",
]

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n?(.*)\Z", re.S)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{2,}")


class KnowledgeError(ValueError):
    """A runbook or past-incident file is malformed; the message names the file and the field."""


def _front_matter(path: Path) -> tuple[dict, str]:
    text = path.read_text(encoding="utf-8")
    match = _FRONT_MATTER.match(text)
    if not match:
        raise KnowledgeError(f"{path}: a runbook starts with YAML front matter between '---' lines")
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as error:
        raise KnowledgeError(f"{path}: front matter is not valid YAML: {error}") from error
    if not isinstance(meta, dict):
        raise KnowledgeError(f"{path}: front matter must be a mapping")
    return meta, match.group(2)


def _string_list(meta: dict, key: str, path: Path) -> list[str]:
    value = meta.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise KnowledgeError(f"{path}: {key}: expected a list of strings")
    return value


def load_runbooks(folder: Path | str | None, redactor: Redactor | None = None) -> list[dict]:
    """Read every ``*.md`` runbook under ``folder`` (recursively); ``redactor`` masks secrets in the
    bodies (quoted in reports, indexed, kept on incidents), not in the actions, which run as written.

    Front matter fields: ``id`` (default: file stem), ``title``, ``services`` (list), ``keywords``
    (words or phrases looked for in templates and sample lines), ``category``, ``actions`` (validated
    by :func:`logrca.rca.runbook_actions.parse_actions`). Returns dicts with keys ``id, title, services, keywords,
    category, actions, body, path``, sorted by id. A missing folder gives an empty list.
    """
    from logrca.rca.runbook_actions import parse_actions

    if folder is None or not Path(folder).is_dir():
        return []
    runbooks = []
    for path in sorted(Path(folder).rglob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        meta, body = _front_matter(path)
        runbooks.append(
            {
                "id": str(meta.get("id", path.stem)),
                "title": str(meta.get("title", path.stem.replace("-", " "))),
                "services": _string_list(meta, "services", path),
                "keywords": _string_list(meta, "keywords", path),
                "category": meta.get("category"),
                "actions": [a.model_dump() for a in parse_actions(meta.get("actions"), source=str(path))],
                "body": body.strip(),
                "path": str(path),
            }
        )
    if redactor is not None and runbooks:
        bodies = redactor.redact_texts([r["body"] for r in runbooks])
        runbooks = [r | {"body": body} for r, body in zip(runbooks, bodies, strict=True)]
    return sorted(runbooks, key=lambda r: r["id"])


#: A past incident's fields that name it or place it, kept as written; every other text is redacted.
_NAMING_FIELDS = ("id", "path", "root_cause_service", "date")


def _redacted_incidents(incidents: list[dict], redactor: Redactor) -> list[dict]:
    """``incidents`` with their free text (title, resolution, templates, any other string) redacted."""
    spots = [
        (i, key, k)
        for i, incident in enumerate(incidents)
        for key, value in incident.items()
        if key not in _NAMING_FIELDS
        for k, text in (enumerate(value) if isinstance(value, list) else [(None, value)])
        if isinstance(text, str)
    ]
    texts = [incidents[i][key] if k is None else incidents[i][key][k] for i, key, k in spots]
    for (i, key, k), text in zip(spots, redactor.redact_texts(texts), strict=True):
        if k is None:
            incidents[i][key] = text
        else:
            incidents[i][key][k] = text
    return incidents


def load_past_incidents(folder: Path | str | None, redactor: Redactor | None = None) -> list[dict]:
    """Read past incidents kept as YAML files (``incidents/*.yaml`` of the knowledge base); ``redactor``
    masks secrets in their free text (linked from reports, indexed, kept on incidents).

    Fields: ``id``, ``title``, ``root_cause_service``, ``services``, ``templates``, ``resolution``,
    ``date``. Confirmed incidents from the incident store use the same shape.
    """
    if folder is None or not Path(folder).is_dir():
        return []
    incidents = []
    for path in sorted(Path(folder).rglob("*.y*ml")):
        try:
            meta = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise KnowledgeError(f"{path}: not valid YAML: {error}") from error
        if not isinstance(meta, dict) or "root_cause_service" not in meta:
            raise KnowledgeError(
                f"{path}: root_cause_service: a past incident needs the confirmed root-cause service"
            )
        meta.setdefault("id", path.stem)
        meta["services"] = list(meta.get("services") or [meta["root_cause_service"]])
        meta["templates"] = list(meta.get("templates") or [])
        meta["path"] = str(path)
        incidents.append(meta)
    return _redacted_incidents(incidents, redactor) if redactor is not None else incidents


def load_knowledge_base(
    folder: Path | str | None, redactor: Redactor | None = None
) -> tuple[list[dict], list[dict]]:
    """Runbooks and past incidents of a knowledge-base folder.

    Runbooks are read from ``folder/runbooks`` (or from ``folder`` itself when it has no such
    subfolder), past incidents from ``folder/incidents``. No folder: two empty lists.
    """
    if folder is None:
        return [], []
    return load_knowledge_runbooks(folder, redactor), load_past_incidents(
        Path(folder) / "incidents", redactor
    )


def load_knowledge_runbooks(folder: Path | str | None, redactor: Redactor | None = None) -> list[dict]:
    """Only the runbooks of a knowledge-base folder (``folder/runbooks``, or ``folder`` itself without one).

    For callers that need no past incidents: a broken past-incident file does not stop them.
    """
    if folder is None:
        return []
    runbooks = Path(folder) / "runbooks"
    return load_runbooks(runbooks if runbooks.is_dir() else folder, redactor)


def template_tokens(texts: list[str]) -> set[str]:
    """Lower-case words of templates and lines, without masks (``<*>``) and numbers."""
    return {word.lower() for text in texts for word in _WORD.findall(text or "")}


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _matching_runbooks(
    root_cause: str | None, services: list[str], haystack: str, runbooks: list[dict]
) -> list[dict]:
    """Runbooks scored as in :func:`link_knowledge` (best first); ``haystack`` is the lower-cased evidence."""
    matched = []
    for runbook in runbooks:
        why, score = [], 0.0
        if root_cause and root_cause in runbook["services"]:
            score += 1.0
            why.append(f"covers {root_cause}")
        elif hit := sorted(set(services) & set(runbook["services"])):
            score += 0.5
            why.append(f"covers {', '.join(hit)}")
        keywords = [k for k in runbook["keywords"] if k.lower() in haystack]
        if keywords:
            score += min(1.0, 0.25 * len(keywords))
            why.append("mentions " + ", ".join(repr(k) for k in keywords))
        if score >= 1.0 or (score > 0 and keywords):
            matched.append(
                {
                    "id": runbook["id"],
                    "title": runbook["title"],
                    "path": runbook["path"],
                    "score": round(score, 3),
                    "why": "; ".join(why),
                    "actions": [a["name"] for a in runbook.get("actions", [])],
                }
            )
    matched.sort(key=lambda r: (-r["score"], r["id"]))
    return matched


def _similar_incidents(
    root_cause: str | None, words: set[str], past_incidents: list[dict], min_similarity: float
) -> list[dict]:
    """Past incidents at least ``min_similarity`` alike (most similar first); ``words`` of the evidence."""
    similar = []
    for incident in past_incidents:
        same_cause = 0.5 if root_cause and incident.get("root_cause_service") == root_cause else 0.0
        overlap = _jaccard(
            words, template_tokens(list(incident.get("templates", [])) + [incident.get("title", "")])
        )
        similarity = same_cause + 0.5 * overlap
        if similarity >= min_similarity:
            similar.append(
                {
                    "id": incident["id"],
                    "title": incident.get("title", ""),
                    "root_cause_service": incident.get("root_cause_service"),
                    "similarity": round(similarity, 3),
                    "resolution": incident.get("resolution", ""),
                    "date": str(incident.get("date", "")),
                }
            )
    similar.sort(key=lambda s: (-s["similarity"], s["id"]))
    return similar


def link_knowledge(
    *,
    root_cause: str | None,
    services: list[str],
    texts: list[str],
    runbooks: list[dict],
    past_incidents: list[dict],
    top: int = 3,
    min_similarity: float = 0.35,
) -> dict:
    """Find the runbooks and past incidents that match a finding.

    Parameters
    ----------
    root_cause : str or None
        Top-ranked service.
    services : list of str
        All anomalous services.
    texts : list of str
        Templates and sample lines of the evidence.

    Returns
    -------
    dict
        ``runbooks``: ``[{id, title, path, score, why, actions}]``; ``similar_incidents``:
        ``[{id, title, root_cause_service, similarity, resolution}]``; ``recurrences``: how many past
        incidents are similar (a recurring problem when above zero).

    Notes
    -----
    Runbook score = 1 if it names the root-cause service (0.5 for another affected service) plus
    0.25 per keyword found in the evidence text (at most 1). Past-incident similarity = 0.5 when the
    root-cause service is the same plus 0.5 x Jaccard overlap of evidence words and its template words.
    """
    matched = _matching_runbooks(root_cause, services, "\n".join(texts).lower(), runbooks)
    similar = _similar_incidents(root_cause, template_tokens(texts), past_incidents, min_similarity)
    return {"runbooks": matched[:top], "similar_incidents": similar[:top], "recurrences": len(similar)}
