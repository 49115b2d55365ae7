"""The wheel installs one package, ``logrca``, with the stages under it: no bare ``parsers`` or ``rca``."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from logrca import PROJECT_ROOT, STAGES


def test_wheel_holds_only_the_logrca_package_and_imports_from_it(tmp_path):
    built = subprocess.run(
        [sys.executable, "-m", "uv", "build", "--wheel", "--out-dir", str(tmp_path / "dist"), "--quiet"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if built.returncode != 0:  # uv as a module is what scripts/setup.sh installs; fall back to the CLI
        built = subprocess.run(
            ["uv", "build", "--wheel", "--out-dir", str(tmp_path / "dist"), "--quiet"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("logrca-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "site")
    assert {name.split("/")[0] for name in names} == {"logrca", wheel.name.split("-py3")[0] + ".dist-info"}
    for stage in STAGES:
        assert f"logrca/{stage}/__init__.py" in names
    # Import from the unpacked wheel alone: the checkout is taken off the path first.
    probe = (
        "import sys, importlib.util;"
        f"sys.path = [p for p in sys.path if p.rstrip('/') != {str(PROJECT_ROOT)!r}];"
        f"sys.path.insert(0, {str(tmp_path / 'site')!r});"
        "import logrca, logrca.parsers.ingest.readers, logrca.incidents.store, logrca.pipelines.environment;"
        f"assert logrca.parsers.ingest.readers.__file__.startswith({str(tmp_path / 'site')!r});"
        "assert all(importlib.util.find_spec(s) is None for s in ('parsers', 'rca', 'incidents', 'assets', 'pipelines'))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
