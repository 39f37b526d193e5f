"""Load benchmark: 50 API clients (locust) against the real panel on PostgreSQL with 10,000 runs,
while 10 viewers watch a camera and a run logs 5,000 lines/s.

    .venv/bin/python -m bench.load                        # both phases, the numbers in BENCHMARKS.md
    .venv/bin/python -m bench.load --phase lists --list-seconds 30
    .venv/bin/python -m bench.load --users 50 --seconds 60 --runs 10000

Without a PostgreSQL `DATABASE_URL` it starts a throwaway server (`tests.tools.with_postgres`).
The panel: Redis, one Daphne, a Celery worker for submissions (`-Q celery`, 2 processes) and one
for run monitors (`-Q monitors`, threads), as `make run` starts them; the database seeded with
`tests.tools.seed` (10,000 runs with pods, log lines, events, outputs and face results, and 100
rows of every other list).

1. `lists`: a few clients (`ListReader`) read every list of the API in turn (the lists are
   the schema's `*_list` operations, plus a run's log), nothing else running.
2. `mixed`: `--users` clients (4 operators to 1 admin: `OperatorClient`, `AdminClient`) list,
   read and create runs for `--seconds`, while `--viewers` websocket clients watch a camera
   (the media pipeline's 1280x720 test clock at 30 fps, through the camera relay) and a run on
   the local cluster prints `--rate` lines/s that a websocket client follows from cursor 0.
   The runs the clients create are lane detections on `refusing`, a Kubernetes cluster record
   whose API server address refuses connections: each is submitted by the worker and fails at
   once ("could not start"), so the load costs the panel, not workloads, CPU.

Reported: per call, requests, failures, p50/p95/max (locust); HTTP statuses (5xx counted
apart); the log client's lines (every cursor once, in order, or the gap); each camera
viewer's fps and latency; the created runs' final states; CPU seconds per process.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import psutil

from bench.live.camera_bench import frames_summary, watch_elsewhere
from bench.live.log_bench import ChattyRun, Reader, summary
from bench.live.stack import (
    CLEAR_DEMO_CODE,
    PY,
    ROOT,
    create_camera,
    django_setup,
    free_port,
    server_errors,
    stack,
    start_camera_source,
    start_worker,
    stop,
)

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
# Lists that ask Azure (the share's files) or need arguments (the versions of a region).
# Lists answered by a cluster's or Azure's API rather than the panel's database (the explorer
# proxies the Kubernetes API server; the seeded clusters have none): bench/explorer measures those.
NOT_MEASURED = {
    "aks_versions_list",
    "file_shares_files_list",
    "clusters_namespaces_objects_list",
    "clusters_objects_list",
}

# API clients sign in with tokens of their own; the runs they create go to a cluster whose API
# server refuses connections (a port nothing listens on), so each fails fast in the worker.
SETUP_CODE = """
import json
from clusters.models import Cluster
from clusters.services import credential_create
from core.choices import Role
from core.services import SYSTEM, token_create, user_create
from workloads.models import Run, WorkloadTemplate
kubeconfig = '''apiVersion: v1
kind: Config
clusters: [{{name: refusing, cluster: {{server: "https://127.0.0.1:{port}", insecure-skip-tls-verify: true}}}}]
users: [{{name: bench, user: {{token: bench-token}}}}]
contexts: [{{name: refusing, context: {{cluster: refusing, user: bench, namespace: bench}}}}]
current-context: refusing
'''
credential = credential_create(actor=SYSTEM, name='refusing', kind='kubeconfig', kubeconfig=kubeconfig)
Cluster.objects.create(name='refusing', kind='kubernetes', credential=credential, namespace='bench')
tokens = {{}}
for role, count in (('operator', {operators}), ('admin', {admins})):
    tokens[role] = [token_create(actor=SYSTEM, name='load', user=user_create(
        actor=SYSTEM, username=f'load-{{role}}-{{n}}', email='', password=None, role=role))[1]
        for n in range(count)]
ids = list(Run.objects.order_by('pk').values_list('pk', flat=True))
print(json.dumps({{'tokens': tokens, 'run_ids': [ids[0], ids[-1]], 'run_pages': len(ids) // 50,
                  'templates': list(WorkloadTemplate.objects.values_list('slug', flat=True)[:20]),
                  'cluster': 'refusing'}}))
"""

CREATED_CODE = """
import json
from django.db.models import Count
from workloads.models import Run
runs = Run.objects.filter(cluster__name='refusing')
print(json.dumps({'states': dict(runs.values_list('state').annotate(n=Count('id'))),
                  'error': (runs.exclude(error='').values_list('error', flat=True).first() or '')[:160]}))
"""


def api_lists(base: str, token: str) -> list[tuple[str, str]]:
    """(templated path, URL) of every list operation in the OpenAPI schema, ids filled with
    the first row of the parent list."""

    def get(url: str):
        request = urllib.request.Request(base + url, headers={"Authorization": f"Token {token}"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)

    schema = get("/api/schema/?format=json")
    lists = []
    for path, operations in schema["paths"].items():
        op_id = operations.get("get", {}).get("operationId", "")
        if not (op_id.endswith("_list") or op_id == "runs_logs_retrieve") or op_id in NOT_MEASURED:
            continue
        url = path
        if "{" in path:
            parent = path.split("{")[0]
            url = path.replace("{id}", str(get(parent)["results"][0]["id"]))
        lists.append((path, url))
    return lists


def run_locust(tmp: str, base: str, config: dict, users: int, seconds: float, classes: list[str],
               wait: str, label: str) -> subprocess.Popen:  # fmt: skip
    """Start locust headless, in a process of its own (its gevent patching stays out of this
    one); `locust_results(tmp, label)` reads what it measured once it has ended."""
    config_file, status_file = Path(tmp) / f"{label}.json", Path(tmp) / f"{label}-status.json"
    config_file.write_text(json.dumps(config))
    env = dict(
        os.environ, LOAD_CONFIG=str(config_file), LOAD_STATUS=str(status_file), LOAD_WAIT=wait
    )
    return subprocess.Popen(
        [os.path.join(os.path.dirname(PY), "locust"), "-f", str(LOCUSTFILE), "--headless", "--host", base,
         "-u", str(users), "-r", str(users), "-t", f"{seconds:g}s", "--stop-timeout", "10",
         "--csv", str(Path(tmp) / label), "--only-summary", "--loglevel", "WARNING", *classes],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(Path(tmp) / f"{label}.log", "w"),
    )  # fmt: skip


def locust_results(tmp: str, label: str) -> tuple[list[dict], Counter]:
    with open(Path(tmp) / f"{label}_stats.csv") as handle:
        rows = list(csv.DictReader(handle))
    status_file = Path(tmp) / f"{label}-status.json"
    statuses = Counter(json.loads(status_file.read_text())) if status_file.exists() else Counter()
    return rows, statuses


def report_calls(rows: list[dict], statuses: Counter, seconds: float) -> int:
    """Print the calls' table and the statuses; returns how many answers came."""
    print(f"{'call':<44} {'requests':>8} {'fails':>5} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}")
    for row in sorted(rows, key=lambda r: (r["Name"] == "Aggregated", r["Name"])):
        print(f"{row['Name']:<44} {row['Request Count']:>8} {row['Failure Count']:>5} {row['50%']:>7} "
              f"{row['95%']:>7} {float(row['Max Response Time']):>7.0f}")  # fmt: skip
    total = sum(statuses.values())
    server_errors = sum(n for key, n in statuses.items() if key.rsplit(" ", 1)[-1].startswith("5"))
    by_code = Counter()
    for key, n in statuses.items():
        by_code[key.rsplit(" ", 1)[-1]] += n
    print(f"{total} answers in {seconds:g} s ({total / seconds:.0f}/s): "
          + ", ".join(f"{code} x{n}" for code, n in sorted(by_code.items()))
          + f"; 5xx: {server_errors}")  # fmt: skip
    for key, n in sorted(statuses.items()):
        if not key.rsplit(" ", 1)[-1].startswith("2"):
            print(f"  {key}: {n}")
    return total


def cpu_seconds(named: dict[str, int]) -> dict[str, float]:
    """CPU time of each named process with its children, live or ended (a worker's pool,
    PostgreSQL's backends)."""
    spent = {}
    for name, pid in named.items():
        try:
            parent = psutil.Process(pid)
            ended = parent.cpu_times().children_user + parent.cpu_times().children_system
            spent[name] = ended + sum(p.cpu_times().user + p.cpu_times().system
                                      for p in [parent, *parent.children(recursive=True)])  # fmt: skip
        except psutil.NoSuchProcess:
            continue
    return spent


def postgres_pid() -> int | None:
    """The PostgreSQL server DATABASE_URL points at, if it runs on this machine."""
    port = os.environ["DATABASE_URL"].rsplit(":", 1)[-1].split("/")[0]
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and "-p" in cmdline and port in cmdline:
            return proc.pid
    return None


def phase_lists(args, tmp: str, base: str, procs: list, config: dict) -> None:
    print(
        f"\n--- lists: {args.list_users} clients read every list in turn for {args.list_seconds:g} s"
    )
    config = {**config, "lists": api_lists(base, config["tokens"]["admin"][0])}
    # Each list once before the clock starts: the first answer of an endpoint in a new web
    # process pays for its imports and caches, and with ~10 calls per list it would be the p95.
    for _path, url in config["lists"]:
        request = urllib.request.Request(
            base + url, headers={"Authorization": f"Token {config['tokens']['admin'][0]}"}
        )
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(request, timeout=60).close()
    named = {"daphne": procs[1].pid, **({"postgres": postgres_pid()} if postgres_pid() else {})}
    before = cpu_seconds(named)
    locust = run_locust(
        tmp, base, config, args.list_users, args.list_seconds, ["ListReader"], args.wait, "lists"
    )
    time.sleep(args.list_seconds - 0.5)
    after = cpu_seconds(named)
    locust.wait()
    answers = report_calls(*locust_results(tmp, "lists"), args.list_seconds)
    # CPU per answer depends far less on what else the machine runs than the latencies do.
    print("CPU per answer: " + ", ".join(
        f"{name} {(after[name] - before[name]) * 1000 / max(answers, 1):.1f} ms" for name in after))  # fmt: skip


def phase_mixed(args, tmp: str, env: dict, base: str, procs: list, config: dict) -> None:
    print(f"\n--- mixed: {args.users} API clients, {args.viewers} camera viewers, a run printing "
          f"{args.rate:g} lines/s, {args.seconds:g} s")  # fmt: skip
    start_worker(env, procs, "-Q", "celery", "--concurrency", "2", "--hostname=worker@%h")
    start_worker(
        env,
        procs,
        "-Q",
        "monitors",
        "--pool",
        "threads",
        "--concurrency",
        "8",
        "--hostname=monitor@%h",
    )
    camera_id = create_camera(env, start_camera_source(procs, 30), name="load")
    token = config["tokens"]["admin"][0]
    chatty = ChattyRun(env, args.rate, args.seconds, 60)
    reader = Reader(base.replace("http", "ws") + f"/ws/runs/{chatty.run_id}/logs/", token)
    named = {"daphne": procs[1].pid, "worker": procs[2].pid, "monitor": procs[3].pid,
             "redis": procs[0].pid, "camera source": procs[4].pid}  # fmt: skip
    if postgres_pid():
        named["postgres"] = postgres_pid()
    cpu_before = cpu_seconds(named)
    ramp = 2.0  # locust starts every client within a second; the rest starts when they all run
    locust = run_locust(tmp, base, config, args.users, args.seconds + ramp, ["OperatorClient", "AdminClient"],
                        args.wait, "mixed")  # fmt: skip
    named["locust"] = locust.pid
    time.sleep(ramp)
    url = base.replace("http", "ws") + f"/ws/cameras/{camera_id}/frames/"
    frames = watch_elsewhere(url, token, args.viewers, args.seconds)
    chatty.start()
    # CPU over the load window, taken just before locust (and its share) ends.
    time.sleep(args.seconds - 0.5)
    cpu_after, window = cpu_seconds(named), args.seconds - 0.5 + ramp
    locust.wait()
    frames = frames()
    state, printed, _span = chatty.finished(timeout=args.drain)
    reader.wait_for(printed, timeout=args.drain)
    report_calls(*locust_results(tmp, "mixed"), args.seconds + ramp)
    print(f"log: run {state} ({printed} lines stored); the client {summary(reader, printed)}")
    print(f"camera: {args.viewers} viewers, {frames_summary(frames)}")
    deadline = time.monotonic() + 60
    while True:  # the last runs created may still be in the worker's queue
        created = json.loads(django_setup(env, CREATED_CODE).splitlines()[-1])
        if not {"pending", "submitted"} & set(created["states"]) or time.monotonic() > deadline:
            break
        time.sleep(1)
    print(f"runs created on `refusing`: {created['states']} (error: {created['error']!r})")
    print(f"CPU seconds over the {window:.0f} s of load: " + ", ".join(
        f"{name} {cpu_after[name] - cpu_before.get(name, 0):.1f}" for name in cpu_after))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phase", choices=["lists", "mixed", "both"], default="both")
    parser.add_argument("--users", type=int, default=50, help="mixed: API clients")
    parser.add_argument("--seconds", type=float, default=60, help="mixed: how long")
    parser.add_argument("--viewers", type=int, default=10, help="mixed: camera viewers")
    parser.add_argument("--rate", type=float, default=5000, help="mixed: log lines/s of the run")
    parser.add_argument(
        "--wait", default="0.5,1.5", help="seconds a client waits between calls (min,max)"
    )
    parser.add_argument("--drain", type=float, default=300,
                        help="mixed: seconds to wait afterwards for the log to be stored and delivered")  # fmt: skip
    parser.add_argument("--list-users", type=int, default=5, help="lists: clients")
    parser.add_argument("--list-seconds", type=float, default=30, help="lists: how long")
    parser.add_argument("--runs", type=int, default=10000, help="runs seeded")
    parser.add_argument("--rows", type=int, default=100, help="rows seeded in every other list")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("No PostgreSQL DATABASE_URL: starting a throwaway server (tests.tools.with_postgres)")
        return subprocess.call([PY, "-m", "tests.tools.with_postgres", "--", PY, "-m", "bench.load", *sys.argv[1:]],
                               cwd=ROOT)  # fmt: skip
    tmp = tempfile.mkdtemp(prefix="bench-load-")
    env, procs, base = stack(tmp)
    try:
        django_setup(env, CLEAR_DEMO_CODE)
        seeded = subprocess.run([PY, "-m", "tests.tools.seed", "--runs", str(args.runs), "--rows", str(args.rows)],
                                cwd=ROOT, env=env, check=True, capture_output=True, text=True)  # fmt: skip
        print(seeded.stdout.strip())
        operators = args.users * 4 // 5 + 1
        code = SETUP_CODE.format(
            port=free_port(), operators=operators, admins=args.users - operators + 2
        )
        config = json.loads(django_setup(env, code).splitlines()[-1])
        print(f"{len(config['tokens']['operator'])} operator and {len(config['tokens']['admin'])} admin "
              f"tokens; runs {config['run_ids'][0]}..{config['run_ids'][1]}; machine: {os.cpu_count()} cores, "
              f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")  # fmt: skip
        if args.phase in ("lists", "both"):
            phase_lists(args, tmp, base, procs, config)
        if args.phase in ("mixed", "both"):
            phase_mixed(args, tmp, env, base, procs, config)
        print(f"load average at the end {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        logged = server_errors(tmp)  # before stopping: shutting down logs cancelled consumers
        stop(procs)
        errors = Counter(next((line for line in reversed(block.splitlines()) if re.match(r"[\w.]+(Error|Exception)\b", line)), "?")
                         for block in logged.split("Traceback")[1:])  # fmt: skip
        for error, count in errors.most_common():
            print(f"Daphne logged {count}x: {error}")
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
