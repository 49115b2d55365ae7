#!/usr/bin/env bash
# README command 2 (and CI): install what the tests need, then run the whole test suite.
# The tests start their own Elasticsearch on 127.0.0.1:9250, Redis and Dagster processes as needed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
# The style is part of the build: the formatter and the linter configured in pyproject.toml.
.venv/bin/ruff format --check --quiet . || { echo "error: files not formatted; run .venv/bin/ruff format ." >&2; exit 1; }
.venv/bin/ruff check --quiet . || { echo "error: lint findings above; .venv/bin/ruff check --fix . mends most" >&2; exit 1; }
exec .venv/bin/pytest "$@"
