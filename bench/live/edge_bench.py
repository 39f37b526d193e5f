"""Cameras at the edge: an Akri broker to 10 viewers, and a 16-camera wall (48 streams).

    .venv/bin/python -m bench.live.edge_bench akri --viewers 10 --seconds 30
    .venv/bin/python -m bench.live.edge_bench wall --cameras 16 --viewers-per-camera 3 --seconds 60

`akri`: `media_pipeline akri-broker --source "test:clock?width=1280&height=720" --fps 30`, read by
`media_pipeline stream --source akri://...` (what the panel runs next to a broker; it passes the
broker's JPEGs through untouched), relayed through Daphne + Redis to N websocket viewers.
Latency: viewer's clock minus the time the stream took the frame from the broker (one machine,
one clock; the broker→stream hop, a GetFrame answered as soon as the frame exists, is left out).

`wall`: bench/live/jpeg_sources.py serves the cameras' JPEGs (encoded once) at 15 fps, each
camera watched by 3 viewers in two client processes. Latency: viewer's clock minus the send
time the source stamps on each part. CPU of every process (sources, Daphne, Redis, clients) is
measured from /proc over the measuring window; RSS of Daphne and Redis is sampled throughout.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import threading
import time

from bench.live.camera_bench import frames_summary, rss_report, sample_rss, watch
from bench.live.stack import (
    PY,
    ROOT,
    TOKEN_CODE,
    create_camera,
    django_setup,
    free_port,
    stack,
    stop,
    wait_http,
)

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its reaped children, in seconds."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


def cpu_report(before: dict[str, float], pids: dict[str, int], elapsed: float) -> str:
    used = {name: (cpu_seconds(pid) - before[name]) / elapsed * 100 for name, pid in pids.items()}
    return ", ".join(f"{name} {value:.0f}%" for name, value in used.items()) + (
        f" (of one core; {sum(used.values()):.0f}% in all of 200%)"
    )


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"machine load average {one:.1f} / {five:.1f} / {fifteen:.1f} (1/5/15 min, 2 cores)"


def akri(args) -> None:
    tmp = tempfile.mkdtemp(prefix="bench-edge-")
    env, procs, base = stack(tmp)
    try:
        broker_port, stream_port = free_port(), free_port()
        procs.append(subprocess.Popen(
            [PY, "-m", "media_pipeline", "akri-broker", "--source", "test:clock?width=1280&height=720",
             "--host", "127.0.0.1", "--port", str(broker_port), "--fps", f"{args.fps:g}"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        time.sleep(1.0)
        procs.append(subprocess.Popen(
            [PY, "-m", "media_pipeline", "stream", "--source", f"akri://127.0.0.1:{broker_port}",
             "--host", "127.0.0.1", "--port", str(stream_port), "--fps", "0"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        wait_http(f"http://127.0.0.1:{stream_port}/healthz")
        token = django_setup(env, TOKEN_CODE).splitlines()[-1]
        camera_id = create_camera(env, f"http://127.0.0.1:{stream_port}/stream.mjpg")
        url = base.replace("http", "ws") + f"/ws/cameras/{camera_id}/frames/"
        pids = {"redis": procs[0].pid, "daphne": procs[1].pid, "broker": procs[2].pid,
                "stream": procs[3].pid}  # fmt: skip
        watch(url, token, 1, 3)  # warm up: the relay's pull is running
        before, started = {n: cpu_seconds(p) for n, p in pids.items()}, time.monotonic()
        results = watch(url, token, args.viewers, args.seconds)
        elapsed = time.monotonic() - started
        print(f"akri broker 1280x720 at {args.fps:g} fps -> {args.viewers} viewers: "
              f"{frames_summary(results)}")  # fmt: skip
        print(f"CPU: {cpu_report(before, pids, elapsed)}, viewers in the bench process")
        print(load_line())
    finally:
        stop(procs)
        shutil.rmtree(tmp, ignore_errors=True)


def wall(args) -> None:
    tmp = tempfile.mkdtemp(prefix="bench-edge-")
    env, procs, base = stack(tmp)
    try:
        port = free_port()
        procs.append(subprocess.Popen(
            [PY, "-m", "bench.live.jpeg_sources", "--cameras", str(args.cameras), "--fps",
             f"{args.fps:g}", "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL))  # fmt: skip
        time.sleep(3)  # encoding the 30 frames once
        token = django_setup(env, TOKEN_CODE).splitlines()[-1]
        cameras = [create_camera(env, f"http://127.0.0.1:{port}/cam/{i}.mjpg", name=f"wall-{i}")
                   for i in range(args.cameras)]  # fmt: skip
        ws = base.replace("http", "ws")
        urls = [f"{ws}/ws/cameras/{c}/frames/" for c in cameras]
        pids = {"redis": procs[0].pid, "daphne": procs[1].pid, "sources": procs[2].pid}
        samples: list = []
        sampled = threading.Event()
        sampler = threading.Thread(
            target=sample_rss, args=({"daphne": pids["daphne"], "redis": pids["redis"]},
                                     args.rss_every, sampled, samples))  # fmt: skip
        sampler.start()
        # Two client processes (each a share of the cameras' viewers), so the clients do not
        # share one interpreter lock.
        halves = [urls[: len(urls) // 2], urls[len(urls) // 2 :]]
        clients = [
            _wall_clients(half, token, args.viewers_per_camera, args.seconds) for half in halves
        ]
        time.sleep(5)  # connected and relaying: measure CPU from here
        before = {n: cpu_seconds(p) for n, p in pids.items()}
        client_pids = {f"clients-{i}": c[1] for i, c in enumerate(clients)}
        before |= {n: cpu_seconds(p) for n, p in client_pids.items()}
        started = time.monotonic()
        time.sleep(max(1.0, args.seconds - 10))
        elapsed = time.monotonic() - started
        cpu = cpu_report(before, pids | client_pids, elapsed)
        load = load_line()
        results = [r for c in clients for r in c[0]()]
        sampled.set()
        sampler.join()
        print(f"wall {args.cameras} cameras x {args.viewers_per_camera} viewers = "
              f"{len(results)} streams, 1280x720 at {args.fps:g} fps: {frames_summary(results)}")  # fmt: skip
        print(f"CPU: {cpu}")
        print(load)
        rss_report(samples)
    finally:
        stop(procs)
        shutil.rmtree(tmp, ignore_errors=True)


def _wall_clients(urls: list[str], token: str, per_camera: int, seconds: float):
    """One process watching every camera in `urls` with `per_camera` viewers each; returns
    (results getter, pid)."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_watch_many, args=(queue, urls, token, per_camera, seconds))
    process.start()

    def results() -> list:
        out = queue.get(timeout=seconds + 120)
        process.join()
        return out

    return results, process.pid


def _watch_many(queue, urls: list[str], token: str, per_camera: int, seconds: float) -> None:
    from bench.live.camera_bench import viewer

    out: list = []
    threads = [threading.Thread(target=viewer, args=(url, token, seconds, out))
               for url in urls for _ in range(per_camera)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    modes = parser.add_subparsers(dest="mode", required=True)
    one = modes.add_parser("akri")
    one.add_argument("--viewers", type=int, default=10)
    one.add_argument("--fps", type=float, default=30)
    one.add_argument("--seconds", type=float, default=30)
    many = modes.add_parser("wall")
    many.add_argument("--cameras", type=int, default=16)
    many.add_argument("--viewers-per-camera", type=int, default=3)
    many.add_argument("--fps", type=float, default=15)
    many.add_argument("--seconds", type=float, default=60)
    many.add_argument("--rss-every", type=float, default=10)
    args = parser.parse_args()
    akri(args) if args.mode == "akri" else wall(args)


if __name__ == "__main__":
    main()
