"""Ingest: log files (rotated, gzipped, several formats, multi-line records) to event and quarantine frames."""
