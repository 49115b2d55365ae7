"""Signals beside the logs: span latency and errors, wire time, pod metrics, trace-pattern attribution."""
