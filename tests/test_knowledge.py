"""Knowledge base: runbooks and past incidents are parsed, validated and linked to a finding."""

from __future__ import annotations

import pytest

from logrca import PROJECT_ROOT
from logrca.rca.knowledge import KnowledgeError, link_knowledge, load_past_incidents, load_runbooks

KB = PROJECT_ROOT / "examples" / "shop" / "knowledge"


def test_runbooks_and_incidents_load():
    runbooks = load_runbooks(KB / "runbooks")
    assert {r["id"] for r in runbooks} >= {"inventory-bad-release", "db-connections"}
    rollback = next(r for r in runbooks if r["id"] == "inventory-bad-release")
    assert rollback["services"] == ["inventory"]
    assert [a["name"] for a in rollback["actions"]] == ["rollback-inventory", "replay-failed-orders"]
    incidents = load_past_incidents(KB / "incidents")
    assert {i["root_cause_service"] for i in incidents} >= {"inventory", "db"}


def test_linking_prefers_the_root_cause_runbook_and_counts_recurrences():
    linked = link_knowledge(
        root_cause="inventory",
        services=["inventory", "checkout"],
        texts=["Reservation for order <*> trace_id=<*>: 0 of <*> units of <*> reserved (stock cache <*>)"],
        runbooks=load_runbooks(KB / "runbooks"),
        past_incidents=load_past_incidents(KB / "incidents"),
    )
    assert linked["runbooks"][0]["id"] == "inventory-bad-release"
    assert linked["similar_incidents"][0]["root_cause_service"] == "inventory"
    assert linked["recurrences"] == 1
    unrelated = link_knowledge(
        root_cause="search",
        services=["search"],
        texts=["index rebuilt"],
        runbooks=load_runbooks(KB / "runbooks"),
        past_incidents=load_past_incidents(KB / "incidents"),
    )
    assert unrelated == {"runbooks": [], "similar_incidents": [], "recurrences": 0}


def test_malformed_runbook_names_file_and_field(tmp_path):
    (tmp_path / "bad.md").write_text(
        "---\nservices: db\nactions:\n  - name: x\n    kind: command\n---\nbody\n"
    )
    with pytest.raises(Exception, match="bad.md"):
        load_runbooks(tmp_path)
    (tmp_path / "bad.md").write_text("no front matter")
    with pytest.raises(KnowledgeError, match="front matter"):
        load_runbooks(tmp_path)
    (tmp_path / "bad.md").unlink()
    (tmp_path / "inc.yaml").write_text("title: no cause\n")
    with pytest.raises(KnowledgeError, match="root_cause_service"):
        load_past_incidents(tmp_path)


def test_runbooks_alone_do_not_read_past_incidents(tmp_path):
    """Indexing runbooks and routing incidents need only the runbooks: a broken past incident must not stop them."""
    from logrca.rca.knowledge import load_knowledge_base, load_knowledge_runbooks

    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "db.md").write_text("---\nid: db\nservices: [db]\n---\nRestart the pool.\n")
    (tmp_path / "incidents").mkdir()
    (tmp_path / "incidents" / "old.yaml").write_text("title: cause never confirmed\n")
    assert [r["id"] for r in load_knowledge_runbooks(tmp_path)] == ["db"]
    with pytest.raises(KnowledgeError, match="root_cause_service"):
        load_knowledge_base(tmp_path)
    (tmp_path / "flat").mkdir()  # a folder of runbooks without the runbooks/ subfolder
    (tmp_path / "flat" / "cache.md").write_text("---\nid: cache\n---\nFlush it.\n")
    assert [r["id"] for r in load_knowledge_runbooks(tmp_path / "flat")] == ["cache"]
    assert load_knowledge_runbooks(None) == []
