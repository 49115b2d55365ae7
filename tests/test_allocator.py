"""logrca's setting for polars' allocator reaches jemalloc, and a user's own setting wins.

Each check runs a fresh interpreter: jemalloc reads ``_RJEM_MALLOC_CONF`` once, when polars loads.
"""

import os
import subprocess
import sys

from logrca import ALLOCATOR_CONF

#: What a fresh process hands jemalloc once logrca and then polars are imported.
_PRINT_CONF = "import logrca, os, polars; print(os.environ['_RJEM_MALLOC_CONF'])"


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    return subprocess.run(
        [sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True, check=True
    )


def _effective(conf: str) -> dict[str, str]:
    """jemalloc's reading of a conf string: later pairs override earlier ones."""
    return dict(pair.split(":", 1) for pair in conf.strip().split(",") if pair)


def test_the_decay_logrca_sets_is_what_polars_hands_jemalloc():
    handed = _effective(_python(_PRINT_CONF).stdout)
    assert handed["dirty_decay_ms"] == "5000"
    assert handed["muzzy_decay_ms"] == "5000"
    assert handed["narenas"] == str(len(os.sched_getaffinity(0)))


def test_jemalloc_accepts_and_applies_the_setting():
    # stats_print makes jemalloc report its options at exit: proof it parsed every pair.
    done = _python(
        "import polars as pl; pl.DataFrame({'a': range(1000)}).sum()",
        _RJEM_MALLOC_CONF=f"{ALLOCATOR_CONF},stats_print:true",
    )
    assert "Invalid conf" not in done.stderr
    assert "opt.dirty_decay_ms: 5000" in done.stderr
    assert "opt.muzzy_decay_ms: 5000" in done.stderr
    assert f"opt.narenas: {len(os.sched_getaffinity(0))}" in done.stderr


def test_a_setting_the_user_made_wins():
    handed = _effective(_python(_PRINT_CONF, _RJEM_MALLOC_CONF="dirty_decay_ms:1234").stdout)
    assert handed["dirty_decay_ms"] == "1234"
    assert handed["muzzy_decay_ms"] != "5000"  # polars' own, untouched


def test_an_empty_setting_leaves_polars_defaults():
    handed = _effective(_python(_PRINT_CONF, _RJEM_MALLOC_CONF="").stdout)
    assert "5000" not in handed.values()
    assert set(handed) == {"dirty_decay_ms", "muzzy_decay_ms"}
