#!/usr/bin/env bash
# Starts the panel's Redis on REDIS_PORT (default 6379), unless one already answers there.
set -euo pipefail
port="${REDIS_URL:-redis://127.0.0.1:6379/0}"
port="${port##*:}"; port="${port%%/*}"
if redis-cli -p "$port" ping >/dev/null 2>&1; then
  echo "Redis already answers on port $port: using it."
  exec sleep infinity
fi
mkdir -p var/redis
exec redis-server --bind 127.0.0.1 --port "$port" --dir var/redis --save 60 1 --appendonly no
