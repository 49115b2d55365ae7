"""Stage 2, analysis: detection, the service graph, the ranking, the report, the knowledge base and the
search index; ``signals/`` holds the trace and metric signals, ``cases``/``evaluate`` the case folders.
Imports only :mod:`logrca.parsers`."""
