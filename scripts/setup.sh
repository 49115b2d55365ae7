#!/usr/bin/env bash
# Install everything logrca needs, idempotently: uv, the locked Python environment (.venv), and with
# --test also the tools the test suite runs for real (Debian's chromium and redis-server).
# Elasticsearch itself is fetched from Maven Central on first `logrca es start` into .cache/.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test_tools=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test_tools=1 ;;
    -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

UV_VERSION=0.13.8
if [ "$(python3 -m uv --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  echo "== installing uv $UV_VERSION (from PyPI)" >&2
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "uv==$UV_VERSION"
fi

echo "== Python environment from uv.lock" >&2
python3 -m uv sync --frozen --all-extras --quiet

for tool in java mvn; do
  command -v "$tool" >/dev/null 2>&1 || { echo "error: '$tool' is needed to fetch and run the local Elasticsearch (or set LOGRCA_ES_URL to your cluster)" >&2; exit 1; }
done

if [ "$want_test_tools" = 1 ]; then
  missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium fonts-dejavu-core)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== Debian packages for the tests: ${missing[*]}" >&2
    sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
echo "== setup done" >&2
