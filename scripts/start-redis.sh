#!/usr/bin/env bash
# Start a throwaway Redis broker for the dagster-celery executor on 127.0.0.1.
#
# Usage: scripts/start-redis.sh [PORT] [DIR]
#   PORT  TCP port (default 6379); DIR  folder for the pid and log file (default /tmp/logrca-redis-PORT).
# Installs Debian's redis-server when it is missing (needs root or sudo), then starts it daemonized,
# bound to 127.0.0.1 only, without persistence (no RDB snapshots, no AOF). Prints the broker URL.
# Stop it with: kill "$(cat DIR/redis.pid)"
set -euo pipefail

port="${1:-6379}"
dir="${2:-/tmp/logrca-redis-${port}}"

if ! command -v redis-server >/dev/null 2>&1; then
    echo "redis-server not found: installing Debian's package" >&2
    sudo_cmd=""
    if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y --no-install-recommends redis-server >&2 \
        || { $sudo_cmd apt-get update >&2 && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y --no-install-recommends redis-server >&2; }
fi

mkdir -p "$dir"
if [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then
    echo "redis already running on 127.0.0.1:${port} (pid $(cat "$dir/redis.pid"))" >&2
else
    redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes \
        --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" \
        --save "" --appendonly no
fi

# Wait until it answers (up to ~10 s).
for _ in $(seq 1 50); do
    if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
        echo "redis://127.0.0.1:${port}/0"
        exit 0
    fi
    sleep 0.2
done
echo "redis-server did not answer on 127.0.0.1:${port}; see $dir/redis.log" >&2
exit 1
