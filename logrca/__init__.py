"""logrca: log ingestion and root-cause analysis on Dagster, drain3, networkx and Elasticsearch."""

from pathlib import Path

__version__ = "0.1.0"

#: The checkout (or install) root: holds ``pyproject.toml``, ``examples/`` and the ``.cache/`` folder.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
