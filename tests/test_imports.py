"""The layout holds: every module imports alone, imports run one way between stages, and no cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx

from logrca import PROJECT_ROOT, STAGES

#: Stages from the bottom up: the package root (``logrca/__init__.py``: paths and the stage names)
#: under all, the CLI (the rest of ``logrca/``) on top of them all.
ORDER = {name: rank for rank, name in enumerate(("root", *STAGES, "cli"))}


def _modules() -> dict[str, Path]:
    found = {}
    for folder in (*STAGES, "logrca"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
            name = ".".join(("logrca", *parts[1:]) if folder == "logrca" else ("logrca", *parts))
            found[name.removesuffix(".__init__")] = path
    return found


def _stage(module: str) -> str:
    if module == "logrca":
        return "root"
    part = module.split(".")[1] if module.count(".") else ""
    return part if part in STAGES else "cli"


def _imports(path: Path, known: set[str]) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            candidates = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        names.update(c for c in candidates if c in known)
    return names


def test_imports_run_one_way_between_stages_and_never_in_a_circle():
    modules = _modules()
    assert "logrca.parsers.ingest.readers" in modules and "logrca.incidents.store" in modules
    graph = nx.DiGraph()
    upward = []
    for module, path in modules.items():
        for target in _imports(path, set(modules)):
            graph.add_edge(module, target)
            if ORDER[_stage(target)] > ORDER[_stage(module)]:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports from a lower stage up to a higher one:\n" + "\n".join(sorted(upward))
    cycles = [c for c in nx.simple_cycles(graph) if not all(m.rsplit(".", 1)[0] in c for m in c)]
    assert not cycles, f"import cycles: {cycles}"


def test_each_domain_module_imports_alone():
    modules = [m for m in _modules() if _stage(m) in ("parsers", "rca", "incidents") and m.count(".") >= 2]
    assert "logrca.parsers.templates.batches" in modules and "logrca.parsers.evaluate" in modules
    failed = []
    for start in range(0, len(modules), 4):  # four fresh interpreters at a time
        group = modules[start : start + 4]
        procs = {
            m: subprocess.Popen(
                [sys.executable, "-c", f"import {m}"], cwd=PROJECT_ROOT, stderr=subprocess.PIPE, text=True
            )
            for m in group
        }
        for module, proc in procs.items():
            error = proc.communicate(timeout=300)[1]
            if proc.returncode:
                failed.append(f"{module}: {(error.strip().splitlines() or ['?'])[-1]}")
    assert not failed, "modules that fail to import on their own:\n" + "\n".join(failed)


def test_domain_stages_never_import_dagster():
    offenders = [
        module
        for module, path in _modules().items()
        if _stage(module) in ("parsers", "rca", "incidents")
        and any(name == "dagster" or name.startswith("dagster.") for name in _all_imports(path))
    ]
    assert not offenders, f"domain modules that import dagster: {offenders}"


def _all_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names
