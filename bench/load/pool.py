"""One connection per request against a connection pool, for the web process (DATABASE_POOL).

    .venv/bin/python -m tests.tools.with_postgres -- .venv/bin/python -m bench.load.pool --requests 200

Two Daphnes on the same PostgreSQL database, one with DATABASE_POOL=0 and one with 1, asked in
turn (so the machine's load hits both alike) for the same list (`/api/users/`, 3 queries) with
an admin's token; p50 / p95 of each, and the database's backends afterwards.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.live.stack import PY, ROOT, TOKEN_CODE, django_setup, free_port, stack, stop, wait_http

BACKENDS_CODE = (
    "from django.db import connection; c = connection.cursor(); "
    "c.execute('select count(*) from pg_stat_activity where datname = current_database()'); "
    "print(c.fetchone()[0])"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("Run under tests.tools.with_postgres: the pool is PostgreSQL's.")
    tmp = tempfile.mkdtemp(prefix="bench-pool-")
    env, procs, _default = stack(tmp)
    try:
        token = django_setup(env, TOKEN_CODE).splitlines()[-1]
        bases = {}
        for pool in ("0", "1"):
            port = free_port()
            procs.append(subprocess.Popen(
                [shutil.which("daphne", path=os.path.dirname(PY)), "-b", "127.0.0.1", "-p",
                 str(port), "controlpanel.asgi:application"], cwd=ROOT,
                env=env | {"DATABASE_POOL": pool}, stdout=subprocess.DEVNULL,
                stderr=open(Path(tmp) / f"daphne-pool-{pool}.log", "w")))  # fmt: skip
            bases[pool] = f"http://127.0.0.1:{port}"
            wait_http(bases[pool] + "/healthz")

        def get(base: str) -> float:
            request = urllib.request.Request(
                base + "/api/users/", headers={"Authorization": f"Token {token}"}
            )
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=30) as answer:
                answer.read()
            return (time.perf_counter() - started) * 1000

        times: dict[str, list[float]] = {pool: [] for pool in bases}
        for base in bases.values():  # warm up: imports, the first connections
            for _ in range(5):
                get(base)
        print(f"load average at start {'/'.join(f'{x:.1f}' for x in os.getloadavg())}")
        for _ in range(args.requests):
            for pool, base in bases.items():
                times[pool].append(get(base))
        for pool, values in times.items():
            values.sort()
            print(f"DATABASE_POOL={pool}: {len(values)} requests, p50 "
                  f"{statistics.median(values):.1f} ms, p95 {values[int(len(values) * 0.95)]:.1f} ms")  # fmt: skip
        print("backends on the database afterwards (three Daphnes, this):",
              django_setup(env, BACKENDS_CODE).splitlines()[-1])  # fmt: skip
    finally:
        stop(procs)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
