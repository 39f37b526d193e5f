"""Log benchmark: a chatty run's lines stored the monitor's way (ingest.store_lines, batches of
the monitor's BATCH_LINES), read live by a websocket client through Daphne + Redis. Reports
lines/s stored, lines/s received, and p95 latency from storage time to the client.

    .venv/bin/python -m bench.live.log_bench --lines 50000
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import threading
import time
from datetime import datetime

import websocket

from bench.live.camera_bench import PY, ROOT, TOKEN_CODE, django_setup, p95, stack

BATCH_LINES = 500  # workloads.monitor.BATCH_LINES (not imported: that needs Django set up)

WRITER = """
import cProfile, pstats, sys, time
from clusters.runtimes.base import LogLine
from workloads.ingest import store_lines
from workloads.models import RunPod
run_id, total, batch = {run_id}, {total}, {batch}
pods = list(RunPod.objects.filter(run_id=run_id))
profile = cProfile.Profile() if {profile!r} else None
started = time.monotonic()
profile and profile.enable()
for n in range(0, total, batch):
    pod = pods[(n // batch) % len(pods)]
    lines = [LogLine(f"line {{n + i}} of a chatty run " + "x" * 60, pod.log_position + i + 1) for i in range(batch)]
    store_lines(run_id=run_id, pod_id=pod.pk, lines=lines, from_position=pod.log_position, local_outputs=False)
    pod.log_position += batch
elapsed = time.monotonic() - started
if profile:
    profile.disable()
    pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
print(total / elapsed)
"""

RUN_CODE = """
from clusters.services import cluster_ensure_local
from workloads.models import Run, RunPod, WorkloadTemplate
run = Run.objects.create(template=WorkloadTemplate.objects.get(slug='lane-detection'),
                         cluster=cluster_ensure_local()[0], state='running')
for name in ('pod-0', 'pod-1', 'pod-2'):
    RunPod.objects.create(run=run, name=name)
print(run.pk)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=50000)
    parser.add_argument("--batch", type=int, default=BATCH_LINES, help="lines per store_lines call")
    parser.add_argument("--profile", action="store_true", help="cProfile the writer (stderr)")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-logs-")
    env, procs, base = stack(tmp)
    try:
        token = django_setup(env, TOKEN_CODE).splitlines()[-1]
        run_id = int(django_setup(env, RUN_CODE).splitlines()[-1])
        ws = websocket.create_connection(base.replace("http", "ws") + f"/ws/runs/{run_id}/logs/",
                                         subprotocols=["controlpanel", f"token.{token}"])  # fmt: skip
        ws.settimeout(30)
        latencies, cursors = [], []
        first_at = None

        def read() -> None:
            nonlocal first_at
            while len(cursors) < args.lines:
                message = json.loads(ws.recv())
                if "type" in message:
                    continue
                now = time.time()
                first_at = first_at or now
                cursors.append(message["cursor"])
                latencies.append((now - datetime.fromisoformat(message["time"]).timestamp()) * 1000)
                if len(cursors) % 500 == 0:
                    ws.send(json.dumps({"type": "ack", "cursor": message["cursor"]}))

        reader = threading.Thread(target=read)
        reader.start()
        time.sleep(0.5)
        written = subprocess.run([PY, "manage.py", "shell", "-c", WRITER.format(run_id=run_id, total=args.lines, batch=args.batch, profile=args.profile)],
                                 cwd=ROOT, env=env, check=True, capture_output=True, text=True)  # fmt: skip
        reader.join()
        if args.profile:
            print(written.stderr)
        received_rate = len(cursors) / (time.time() - first_at)
        assert cursors == list(range(1, args.lines + 1)), "gap or duplicate"
        print(f"{args.lines} lines: stored {float(written.stdout.split()[-1]):.0f} lines/s, "
              f"received {received_rate:.0f} lines/s in order without gaps, "
              f"latency p50 {sorted(latencies)[len(latencies) // 2]:.0f} ms, p95 {p95(latencies):.0f} ms")  # fmt: skip
        ws.close()
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
