"""Log benchmark: a chatty run's lines from the process to a websocket client.

Default (`--source run`): a process on the local cluster prints lines stamped with the time it
printed them (`--rate` lines/s, 0 = as fast as it can, for `--seconds`); a real Celery worker
runs the run's monitor (the same task `make run` uses), which stores every line once and
publishes it; a websocket client reads `/ws/runs/<id>/logs/` through Daphne + Redis and
acknowledges like the page. Reports lines/s printed, stored and received, and latency
printed → stored → received (p50/p95).

`--source store`: no process and no monitor; batches go straight into `workloads.ingest.store_lines`
(the storing path alone, `--profile` to cProfile it).

    .venv/bin/python -m bench.live.log_bench --rate 5000 --seconds 20
    .venv/bin/python -m bench.live.log_bench --rate 20000 --seconds 10   # past what it can store
    .venv/bin/python -m bench.live.log_bench --rate 5000 --seconds 20 --browser   # into Chromium
    .venv/bin/python -m bench.live.log_bench --source store --lines 30000
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

import psutil
import websocket

from bench.live.browser import logged_in_page
from bench.live.stack import (
    CLEAR_DEMO_CODE,
    PY,
    ROOT,
    TOKEN_CODE,
    django_setup,
    p95,
    server_errors,
    stack,
    start_worker,
    stop,
)

BATCH_LINES = 500  # workloads.monitor.BATCH_LINES (not imported: that needs Django set up)

# What a chatty pod does: lines stamped with the time they were printed, written every 10 ms.
CHATTY = r"""
import sys, time
rate, seconds, pad = float(sys.argv[1]), float(sys.argv[2]), "x" * int(sys.argv[3])
n, start = 0, time.time()
while (now := time.time()) - start < seconds:
    due = int((now - start) * rate)
    chunk = []
    while n < due:
        n += 1
        chunk.append(f"line {n} printed {time.time():.6f} {pad}\n")
    sys.stdout.write("".join(chunk))
    sys.stdout.flush()
    time.sleep(0.01)
print(f"done after {n} lines", flush=True)
"""

# A run on the local cluster whose one pod is the chatty process (started the way the local
# runtime starts pods: through the launcher, output to the pod's log file).
RUN_CODE = """
import subprocess, sys
from workloads.tasks import run_monitor_task
from pathlib import Path
from django.conf import settings
from clusters.runtimes.local import _now_iso, _process_start_ticks, fresh_workdir
from clusters.services import cluster_ensure_local
from workloads.models import Run, WorkloadTemplate
run = Run.objects.create(template=WorkloadTemplate.objects.get(slug='lane-detection'),
                         cluster=cluster_ensure_local()[0], state='running')
workdir = fresh_workdir(Path(settings.LOCAL_DATA_ROOT), run.pk)
name = f'run-{{run.pk}}-0'
log, exit_file = workdir / 'logs' / f'{{name}}.log', workdir / 'logs' / f'{{name}}.exit'
print(run.pk, flush=True)
sys.stdin.readline()  # the viewer is connected: start the pod and hand it to a monitor, as submit does
with open(log, 'ab') as out:
    process = subprocess.Popen([sys.executable, '-m', 'clusters.runtimes.local_launcher', str(exit_file), '--',
                                sys.executable, '-c', {chatty!r}, '{rate}', '{seconds}', '{pad}'],
                               stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
Run.objects.filter(pk=run.pk).update(handle={{'runtime': 'local', 'workdir': str(workdir), 'endpoints': {{}},
    'pods': [{{'name': name, 'pid': process.pid, 'pid_start': _process_start_ticks(process.pid),
              'log': str(log), 'exit_file': str(exit_file), 'started_at': _now_iso(), 'inputs': []}}]}})
run_monitor_task.delay(run.pk)
"""

STORED_CODE = """
from django.db.models import Max, Min
from workloads.models import Run, RunLogLine
lines = RunLogLine.objects.filter(run_id={run_id})
span = lines.aggregate(first=Min('time'), last=Max('time'))
print(Run.objects.get(pk={run_id}).state, lines.count(), (span['last'] - span['first']).total_seconds())
"""

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
    lines = [LogLine(f"line {{n + i}} printed {{time.time():.6f}} " + "x" * 60, pod.log_position + i + 1) for i in range(batch)]
    store_lines(run_id=run_id, pod_id=pod.pk, lines=lines, from_position=pod.log_position, local_outputs=False)
    pod.log_position += batch
elapsed = time.monotonic() - started
if profile:
    profile.disable()
    pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
print(total / elapsed)
"""

STORE_RUN_CODE = """
from clusters.services import cluster_ensure_local
from workloads.models import Run, RunPod, WorkloadTemplate
run = Run.objects.create(template=WorkloadTemplate.objects.get(slug='lane-detection'),
                         cluster=cluster_ensure_local()[0], state='running')
for name in ('pod-0', 'pod-1', 'pod-2'):
    RunPod.objects.create(run=run, name=name)
print(run.pk)
"""


class Reader:
    """A websocket viewer of the run's log: what arrived, when, acknowledged every 200 lines.
    Like the page, it reconnects from its last cursor if the socket drops (`reconnects`)."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token  # the socket's URL without a query
        self.ws = self.connect(0)
        self.reconnects, self.drops = 0, []
        self.cursors: list[int] = []
        self.printed: list[float] = []  # ms: received - printed (from the line's text)
        self.stored: list[float] = []  # ms: received - stored (the line's `time`)
        self.printed_at: list[float] = []
        self.first_at = self.last_at = 0.0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def connect(self, after: int) -> websocket.WebSocket:
        ws = websocket.create_connection(
            f"{self.url}?after={after}", subprotocols=["controlpanel", f"token.{self.token}"]
        )
        ws.settimeout(60)
        return ws

    def read(self) -> None:
        while not self.done.is_set():
            try:
                self.receive()
                return
            except (websocket.WebSocketConnectionClosedException, ConnectionError) as exc:
                if self.done.is_set():
                    return
                self.reconnects += 1
                self.drops.append(str(exc) or type(exc).__name__)
                self.ws = self.connect(self.cursors[-1] if self.cursors else 0)
            except websocket.WebSocketTimeoutException:
                return

    def receive(self) -> None:
        while not self.done.is_set():
            opcode, data = self.ws.recv_data()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                raise websocket.WebSocketConnectionClosedException(f"closed by the server ({code})")
            message = json.loads(data)
            if "type" in message:
                continue
            now = time.time()
            self.first_at = self.first_at or now
            self.last_at = now
            self.cursors.append(message["cursor"])
            words = message["text"].split()
            if len(words) > 3 and words[2] == "printed":
                self.printed.append((now - float(words[3])) * 1000)
                self.printed_at.append(float(words[3]))
            stamp = datetime.fromisoformat(message["time"]).timestamp()
            self.stored.append((now - stamp) * 1000)
            if len(self.cursors) % 200 == 0:
                self.ws.send(json.dumps({"type": "ack", "cursor": message["cursor"]}))

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.cursors) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        self.done.set()
        self.ws.close()

    def rate(self) -> float:
        return len(self.cursors) / max(self.last_at - self.first_at, 1e-9)


class PageReader:
    """The run's page in Chromium: every row the page draws, when it drew it (Reader's fields)."""

    OBSERVE = """() => {
      const bench = window.__bench = { cursors: [], at: [], printed: [] };
      new MutationObserver((records) => {
        const now = Date.now();
        for (const record of records) for (const row of record.addedNodes) {
          if (!row.dataset || !row.dataset.cursor) continue;
          bench.cursors.push(Number(row.dataset.cursor));
          bench.at.push(now);
          const words = row.querySelector(".log-text").textContent.split(" ");
          bench.printed.push(words[2] === "printed" ? Number(words[3]) * 1000 : 0);
        }
      }).observe(document.querySelector("#live-log .log-lines"), { childList: true, subtree: true });
    }"""

    def __init__(self, page, url: str) -> None:
        self.page = page
        page.goto(url)
        page.locator("#live-log .live-state >> text=live").wait_for()
        page.evaluate(self.OBSERVE)
        self.cursors: list[int] = []
        self.printed: list[float] = []
        self.stored: list[float] = []  # the page does not show when a line was stored
        self.printed_at: list[float] = []
        self.first_at = self.last_at = 0.0

    def wait_for(self, count: int, timeout: float) -> None:
        self.page.wait_for_function(
            f"window.__bench.cursors.length >= {count}", timeout=timeout * 1000
        )
        bench = self.page.evaluate("() => window.__bench")
        self.cursors = bench["cursors"]
        pairs = [(at, printed / 1000) for at, printed in zip(bench["at"], bench["printed"], strict=True)
                 if printed]  # fmt: skip
        self.printed = [at - printed * 1000 for at, printed in pairs]
        self.printed_at = [printed for _at, printed in pairs]
        self.first_at, self.last_at = bench["at"][0] / 1000, bench["at"][-1] / 1000

    def rate(self) -> float:
        return len(self.cursors) / max(self.last_at - self.first_at, 1e-9)


def cpu_seconds(procs: list) -> dict[str, float]:
    """CPU time of each started process with its children (the worker's pool processes), and
    of Chromium when the page is the client."""

    def total(processes) -> float:
        return sum(p.cpu_times().user + p.cpu_times().system for p in processes)

    names = {0: "redis", 1: "daphne", 2: "worker"}
    spent = {}
    for index, proc in enumerate(procs):
        try:
            parent = psutil.Process(proc.pid)
            spent[names.get(index, str(index))] = total([parent, *parent.children(recursive=True)])
        except psutil.NoSuchProcess:
            continue
    browser = [p for p in psutil.Process().children(recursive=True) if "chrom" in p.name()]
    if browser:
        spent["chromium"] = total(browser)
    return spent


def order(cursors: list[int], expected: int) -> str:
    """Whether the client saw cursors 1..expected exactly once and in order, or what it missed."""
    if cursors == list(range(1, expected + 1)):
        return "every cursor once, in order"
    if cursors == list(range(1, len(cursors) + 1)):
        if len(cursors) >= expected:  # more were stored after we counted
            return f"every cursor once, in order (1..{len(cursors)})"
        return f"in order, no gap or duplicate, but only 1..{len(cursors)} of {expected} arrived"
    seen = next(i for i, cursor in enumerate(cursors, 1) if cursor != i)
    return f"GAP OR DUPLICATE: cursor {cursors[seen - 1]} came where {seen} was due"


def summary(reader: Reader, expected: int) -> str:
    printed = sorted(reader.printed)
    # Lines printed in the first 2 s also wait for the monitor to attach to the new pod.
    settled = sorted(lat for lat, at in zip(reader.printed, reader.printed_at, strict=True)
                     if at - reader.printed_at[0] >= 2)  # fmt: skip
    return (
        f"received {reader.rate():.0f} lines/s, "
        f"{order(reader.cursors, expected)}"
        + (f" (reconnected {reader.reconnects} times: {', '.join(sorted(set(reader.drops)))})"
           if getattr(reader, "reconnects", 0) else "") + "; "
        f"printed→client p50 {printed[len(printed) // 2]:.0f} ms p95 {p95(printed):.0f} ms "
        f"max {printed[-1]:.0f} ms (after the first 2 s: p95 {p95(settled) if settled else 0:.0f} ms)"
        + (f"; stored→client p50 {sorted(reader.stored)[len(reader.stored) // 2]:.0f} ms "
           f"p95 {p95(reader.stored):.0f} ms" if reader.stored else "")
    )  # fmt: skip


class ChattyRun:
    """A run whose pod is the chatty process: created at once, its pod started by `start()`
    (connect the viewers in between), followed by whichever worker serves the monitors queue."""

    def __init__(self, env: dict, rate: float, seconds: float, pad: int) -> None:
        self.env, self.seconds = env, seconds
        code = RUN_CODE.format(chatty=CHATTY, rate=rate, seconds=seconds, pad=pad)
        self.starter = subprocess.Popen([PY, "manage.py", "shell", "--no-imports", "-c", code], cwd=ROOT, env=env,
                                        text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
        self.run_id = int(self.starter.stdout.readline())

    def start(self) -> None:
        self.starter.communicate("go\n")

    def finished(self, timeout: float = 300) -> tuple[str, int, float]:
        """Once the run has ended (or after `timeout`): its state, the lines stored (the
        printed ones and the pod's last line) and the seconds from the first to the last."""
        deadline = time.monotonic() + timeout
        while True:
            state, stored, span = django_setup(
                self.env, STORED_CODE.format(run_id=self.run_id)
            ).split()[-3:]
            if state not in ("running", "submitted") or time.monotonic() > deadline:
                return state, int(stored), float(span)
            time.sleep(0.5)


def bench_run(args, env: dict, base: str, token: str, procs: list, page=None) -> None:
    django_setup(env, CLEAR_DEMO_CODE)
    start_worker(env, procs, "--concurrency", "1")  # the worker is up before the pod
    chatty = ChattyRun(env, args.rate, args.seconds, args.pad)
    if page is None:
        reader = Reader(base.replace("http", "ws") + f"/ws/runs/{chatty.run_id}/logs/", token)
    else:
        reader = PageReader(page, f"{base}/runs/{chatty.run_id}/")
    cpu_before = cpu_seconds(procs)
    chatty.start()
    time.sleep(args.seconds)
    state, printed, span = chatty.finished()
    reader.wait_for(printed, timeout=120)
    cpu = {name: spent - cpu_before.get(name, 0) for name, spent in cpu_seconds(procs).items()}
    print(f"run {state}: printed {printed - 1} lines in {args.seconds:g} s "
          f"({(printed - 1) / args.seconds:.0f} lines/s asked {args.rate:g}/s); "
          f"stored {printed / span:.0f} lines/s; " + summary(reader, printed))  # fmt: skip
    print(
        "CPU seconds over the run: "
        + ", ".join(f"{name} {spent:.1f}" for name, spent in cpu.items())
    )


def bench_store(args, env: dict, base: str, token: str) -> None:
    run_id = int(django_setup(env, STORE_RUN_CODE).splitlines()[-1])
    reader = Reader(base.replace("http", "ws") + f"/ws/runs/{run_id}/logs/", token)
    time.sleep(0.5)
    code = WRITER.format(run_id=run_id, total=args.lines, batch=args.batch, profile=args.profile)
    written = subprocess.run([PY, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True,
                             capture_output=True, text=True)  # fmt: skip
    reader.wait_for(args.lines, timeout=120)
    if args.profile:
        print(written.stderr)
    print(f"{args.lines} lines: stored {float(written.stdout.split()[-1]):.0f} lines/s; "
          + summary(reader, args.lines))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", choices=["run", "store"], default="run")
    parser.add_argument("--rate", type=float, default=5000, help="run: lines/s printed")
    parser.add_argument("--seconds", type=float, default=20, help="run: how long it prints")
    parser.add_argument("--pad", type=int, default=60, help="run: extra characters per line")
    parser.add_argument("--lines", type=int, default=30000, help="store: lines stored")
    parser.add_argument("--batch", type=int, default=BATCH_LINES, help="store: lines per call")
    parser.add_argument("--profile", action="store_true", help="store: cProfile the writer")
    parser.add_argument("--browser", action="store_true",
                        help="run: the client is the run's page in headless Chromium")  # fmt: skip
    args = parser.parse_args()
    if args.rate <= 0:
        parser.error("--rate must be above 0 (lines per second)")
    tmp = tempfile.mkdtemp(prefix="bench-logs-")
    env, procs, base = stack(tmp)
    try:
        token = django_setup(env, TOKEN_CODE).splitlines()[-1]
        if args.source == "run" and args.browser:
            with logged_in_page(env, base) as page:
                bench_run(args, env, base, token, procs, page)
        elif args.source == "run":
            bench_run(args, env, base, token, procs)
        else:
            bench_store(args, env, base, token)
    finally:
        errors = server_errors(tmp)  # before stopping: shutting down logs cancelled consumers
        stop(procs)
        if errors:
            print(f"Daphne logged:\n{errors}")
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
