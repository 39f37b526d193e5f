#!/usr/bin/env bash
# Runs the given command once Redis answers (the Procfile starts everything at once).
url="${REDIS_URL:-redis://127.0.0.1:6379/0}"
port="${url##*:}"; port="${port%%/*}"
for _ in $(seq 1 50); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && exec "$@"
  sleep 0.2
done
echo "Redis did not answer on port $port within 10 s; see the redis process output above." >&2
exit 1
