"""logrca: log ingestion and root-cause analysis on Dagster, drain3, networkx and Elasticsearch.

The stages live in folders beside this one in a checkout (``parsers/``, ``rca/``, ``incidents/``,
``assets/``, ``pipelines/``) and import as ``logrca.parsers`` ... ``logrca.pipelines``: the wheel
maps them under ``logrca/`` (``pyproject.toml``), and in a checkout this package's search path
also covers the checkout's root, so both import the same names. No bare ``parsers`` or ``rca``
package reaches a user's environment (docs/ARCHITECTURE.md, "Packaging").
"""

import os
from pathlib import Path

#: What logrca asks of polars' allocator (jemalloc): keep freed pages for 5 s before handing them
#: back to the kernel. polars' own build returns them after 0.5-1 s (``dirty_decay_ms:500,
#: muzzy_decay_ms:1000``), and a partition's stages free and allocate gigabytes seconds apart, so each
#: stage faulted the same memory in again: on a 3M-line hour, 2.8M page faults and a tenth of the wall
#: time (docs/scaling.md, "Memory: what the allocator keeps"). A process idle for 5 s still returns them.
#:
#: And one arena per core (``narenas``), not jemalloc's four per core: a page freed in one arena is
#: reused only by the threads of that arena, so with more arenas than polars' threads (one per core)
#: freed gigabytes sit where the next allocation does not look, and it faults fresh pages in. On a 3M-line
#: hour on 2 cores: ingest 7% faster, a quarter less system time, 3% less peak (bench/README.md,
#: "one arena per core").
ALLOCATOR_CONF = "dirty_decay_ms:5000,muzzy_decay_ms:5000,narenas:{cores}".format(
    cores=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
)
# Before anything imports polars: jemalloc reads the variable once, at its first allocation. A value
# the user set (even empty: polars' defaults) wins; child processes (executors, workers) inherit it.
os.environ.setdefault("_RJEM_MALLOC_CONF", ALLOCATOR_CONF)

__version__ = "0.1.0"

#: The checkout (or install) root: holds ``pyproject.toml``, ``examples/`` and the ``.cache/`` folder.
PROJECT_ROOT = Path(__file__).resolve().parents[1]

#: The stage folders, lowest first: each may import only the ones before it.
STAGES = ("parsers", "rca", "incidents", "assets", "pipelines")

if not (Path(__file__).parent / "parsers").is_dir() and (PROJECT_ROOT / "parsers" / "__init__.py").is_file():
    # A source checkout (an editable install or tests): the stage folders sit beside logrca/.
    __path__.append(str(PROJECT_ROOT))  # noqa: F821 - the package's own search path
