"""logrca: log ingestion and root-cause analysis on Dagster, drain3, networkx and Elasticsearch.

The stages live in folders beside this one in a checkout (``parsers/``, ``rca/``, ``incidents/``,
``assets/``, ``pipelines/``) and import as ``logrca.parsers`` ... ``logrca.pipelines``: the wheel
maps them under ``logrca/`` (``pyproject.toml``), and in a checkout this package's search path
also covers the checkout's root, so both import the same names. No bare ``parsers`` or ``rca``
package reaches a user's environment (docs/ARCHITECTURE.md, "Packaging").
"""

from pathlib import Path

__version__ = "0.1.0"

#: The checkout (or install) root: holds ``pyproject.toml``, ``examples/`` and the ``.cache/`` folder.
PROJECT_ROOT = Path(__file__).resolve().parents[1]

#: The stage folders, lowest first: each may import only the ones before it.
STAGES = ("parsers", "rca", "incidents", "assets", "pipelines")

if not (Path(__file__).parent / "parsers").is_dir() and (PROJECT_ROOT / "parsers" / "__init__.py").is_file():
    # A source checkout (an editable install or tests): the stage folders sit beside logrca/.
    __path__.append(str(PROJECT_ROOT))  # noqa: F821 - the package's own search path
