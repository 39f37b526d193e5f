"""Run page benchmark: what the page's 2-second refresh of a long run costs on the server.

Stores a run of `--lines` log lines (one in `--event-every` a pipeline progress event, one in
`--metric-every` an "Accuracy at step N: V" line the template declares), then times the pieces
the status fragment computes (`workloads.metrics.run_charts`) and the whole fragment as a
browser asks for it (`GET /runs/<id>/status/`, logged in, through Django's test client).

    .venv/bin/python -m bench.live.run_page_bench --lines 100000
    .venv/bin/python -m tests.tools.with_postgres -- .venv/bin/python -m bench.live.run_page_bench --lines 100000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--event-every", type=int, default=5)
    parser.add_argument("--metric-every", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="run-page-bench-")
    os.environ.setdefault("CONTROLPANEL_DATA_DIR", tmp)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlpanel.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("bootstrap_demo", stdout=open(os.devnull, "w"))
    run_id, user = _store(args)
    from django.test import Client

    from workloads.metrics import run_charts
    from workloads.models import Run

    run = Run.objects.get(pk=run_id)
    from django.core.cache import cache

    charts = _timed(args.repeat, lambda: (cache.clear(), run_charts(run)))
    cached = _timed(args.repeat, lambda: run_charts(run))
    client = Client()
    client.force_login(user)
    fragment = _timed(args.repeat, lambda: client.get(f"/runs/{run_id}/status/"))
    database = "PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite"
    print(json.dumps({
        "database": database, "lines": args.lines, "progress_events": args.lines // args.event_every,
        "metric_lines": args.lines // args.metric_every,
        "run_charts_ms": charts, "run_charts_cached_ms": cached, "status_fragment_ms": fragment,
        "series": [(c.series.name, len(c.series.points)) for c in run_charts(run)],
    }, indent=1))  # fmt: skip


def _store(args) -> tuple[int, object]:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from clusters.services import cluster_ensure_local
    from core.choices import Role
    from core.models import Profile
    from workloads.models import Run, RunEvent, RunLogLine, RunPod, WorkloadTemplate

    cluster, _ = cluster_ensure_local()
    run = Run.objects.create(
        template=WorkloadTemplate.objects.get(slug="gpu-job"), cluster=cluster, state="running",
        params={"metrics": ["Accuracy"]}, log_cursor=args.lines,
    )  # fmt: skip
    RunPod.objects.create(run=run, name="train-0", phase="Running")
    now = timezone.now()
    lines, events = [], []
    for cursor in range(1, args.lines + 1):
        if cursor % args.event_every == 0:
            data = {"event": "progress", "command": "lanes", "frame": cursor,
                    "frames": args.lines, "fps": 30.0}  # fmt: skip
            text = json.dumps(data)
            events.append(RunEvent(run=run, kind="progress", data=data, pod="train-0",
                                   time=now, log_cursor=cursor))  # fmt: skip
        elif cursor % args.metric_every == 1:
            text = f"Accuracy at step {cursor}: {cursor / args.lines:.4f}"
        else:
            text = f"step {cursor}: loss going down"
        lines.append(RunLogLine(run=run, cursor=cursor, pod="train-0", text=text, time=now))
    RunLogLine.objects.bulk_create(lines, batch_size=5000)
    RunEvent.objects.bulk_create(events, batch_size=5000)
    user = get_user_model().objects.create_user("bench-viewer", password="x" * 20)
    Profile.objects.update_or_create(user=user, defaults={"role": Role.VIEWER})
    return run.pk, user


def _timed(repeat: int, call) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"p50": round(statistics.median(times), 1), "max": round(times[-1], 1)}


if __name__ == "__main__":
    main()
