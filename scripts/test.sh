#!/usr/bin/env bash
# README command 2 (and CI): install what the tests need, then run the whole test suite.
# The tests start their own Elasticsearch on 127.0.0.1:9250, Redis and Dagster processes as needed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
exec .venv/bin/pytest "$@"
