"""Every domain module imports on its own, in a fresh interpreter (an import cycle can hide behind the order tests import in)."""

from __future__ import annotations

import subprocess
import sys

from logrca import PROJECT_ROOT


def test_each_parsers_and_rca_module_imports_alone():
    modules = [f"{path.parent.name}.{path.stem}" for package in ("parsers", "rca") for path in sorted((PROJECT_ROOT / package).glob("*.py"))
               if path.stem != "__init__"]
    assert "parsers.batches" in modules and "rca.eval_parsing" in modules
    failed = []
    for start in range(0, len(modules), 4):  # four fresh interpreters at a time
        group = modules[start : start + 4]
        procs = {m: subprocess.Popen([sys.executable, "-c", f"import {m}"], cwd=PROJECT_ROOT, stderr=subprocess.PIPE, text=True) for m in group}
        for module, proc in procs.items():
            error = proc.communicate(timeout=300)[1]
            if proc.returncode:
                failed.append(f"{module}: {(error.strip().splitlines() or ['?'])[-1]}")
    assert not failed, "modules that fail to import on their own:\n" + "\n".join(failed)
