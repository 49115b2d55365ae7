"""Stage 1, parsing: files to events (``ingest/``), events to templates (``templates/``), and the
accuracy of template mining (``evaluate``). Imports nothing of logrca's other stages."""
