#!/usr/bin/env bash
# README command 1: install everything, start the local Elasticsearch, generate the bundled example
# shop's logs and run the main job over its three hourly partitions. Re-running is safe.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/dagster_home}"
.venv/bin/logrca es start
.venv/bin/python examples/shop/generate.py
.venv/bin/logrca run --config examples/shop/logrca.yaml
cat <<MSG

Done. The incident report is in data_out/reports/shop/; search it with
  .venv/bin/logrca search "payments cpu"
and browse the assets and the report in the Dagster UI:
  DAGSTER_HOME=$DAGSTER_HOME .venv/bin/dagster dev     # then open http://127.0.0.1:3000
MSG
