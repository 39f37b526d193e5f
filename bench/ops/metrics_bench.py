"""How long one Prometheus scrape of `/metrics` takes on a panel that has been used a while.

    .venv/bin/python -m tests.tools.with_postgres -- \\
        .venv/bin/python -m bench.ops.metrics_bench --runs 10000 --images 100000 --scrapes 20

Migrates the database DATABASE_URL names (run it on a throwaway one: `tests.tools.with_postgres`
makes one), seeds it with `tests/tools/seed.py` (`--runs` runs with pods, 50 log lines each, events,
outputs; 100 rows of everything else) plus `--images` face images spread over the statuses, starts
a Redis of its own with some queued messages, then scrapes `/metrics` `--scrapes` times through
Django's test client (the view and the middleware as Daphne runs them, without the socket) and
prints the median and p95 wall time, the body's size, the series count, and the time of
each part of the collector alone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10000)
    parser.add_argument("--images", type=int, default=100000)
    parser.add_argument("--scrapes", type=int, default=20)
    args = parser.parse_args()

    data = tempfile.mkdtemp(prefix="metrics-bench-")
    port = 6390 + os.getpid() % 500
    redis = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--save", "",
                              "--dir", data], stdout=subprocess.DEVNULL)  # fmt: skip
    os.environ.update(CONTROLPANEL_DATA_DIR=data, REDIS_URL=f"redis://127.0.0.1:{port}/0",
                      METRICS_TOKEN="bench", ALLOWED_HOSTS="testserver")  # fmt: skip
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlpanel.settings")
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.test import Client

        from core.crypto import ensure_key_file
        from faces.models import FaceImage
        from tests.tools.seed import seed

        call_command("migrate", verbosity=0)
        ensure_key_file()
        started = time.monotonic()
        seed(runs=args.runs, rows=100)
        statuses = ["processed"] * 8 + ["pending", "failed"]
        FaceImage.objects.bulk_create(
            (FaceImage(source="volume", volume="v", path=f"{n}.jpg", status=statuses[n % 10])
             for n in range(args.images)), batch_size=5000,
        )  # fmt: skip
        print(f"seeded in {time.monotonic() - started:.1f} s")
        import redis as redis_client

        broker = redis_client.Redis(port=port)
        broker.rpush("celery", *[b"{}"] * 50)
        client = Client()
        times = []
        for _ in range(args.scrapes):
            begun = time.perf_counter()
            response = client.get("/metrics", headers={"Authorization": "Bearer bench"})
            times.append(time.perf_counter() - begun)
            assert response.status_code == 200
        from controlpanel.metrics import PanelCollector

        collector = PanelCollector()
        parts = {}
        for part in (collector._runs, collector._monitors, collector._cameras, collector._faces,
                     collector._breakers, collector._queues, collector._azure, collector._clusters):  # fmt: skip
            spent = []
            for _ in range(5):
                begun = time.perf_counter()
                list(part())
                spent.append(time.perf_counter() - begun)
            parts[part.__name__.strip("_")] = statistics.median(spent) * 1000
        print("per part, median of 5 (ms): "
              + ", ".join(f"{name} {ms:.0f}" for name, ms in parts.items()))  # fmt: skip
        body = response.content.decode()
        series = sum(1 for line in body.splitlines() if line and not line.startswith("#"))
        times.sort()
        p95 = times[max(0, round(len(times) * 0.95) - 1)]
        print(f"{args.scrapes} scrapes at {args.runs:,} runs, {args.images:,} face images: "
              f"median {statistics.median(times) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
              f"{len(body):,} bytes, {series} series; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    finally:
        redis.terminate()
        redis.wait()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
