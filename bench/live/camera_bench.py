"""Camera relay benchmark: fps and glass-to-client latency through the real Daphne + Redis.

Starts redis-server, a test:clock stream at 1280x720, Daphne on a throwaway SQLite data dir,
and N websocket viewers (websocket-client threads that acknowledge each frame, like the page).
Latency is the viewer's clock minus the frame's capture time (the clock pattern's burned-in
timestamp, which the stream server also sends as X-Timestamp): one machine, one clock.

    .venv/bin/python -m bench.live.camera_bench --viewers 1 --viewers 10 --seconds 20
    .venv/bin/python -m bench.live.camera_bench --viewers 10 --browser-tabs 1 --browser-tabs 3
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import shutil
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import websocket

from bench.live.stack import (
    TOKEN_CODE,
    create_camera,
    django_setup,
    p95,
    stack,
    start_camera_source,
    stop,
)


def viewer(url: str, token: str, seconds: float, out: list) -> None:
    """Watch for `seconds` from the first frame (or from the first try, if none comes),
    acknowledging each frame like the page, and like the page connecting again when refused
    or dropped. Appends (fps, latencies, seqs, longest gap between frames in s, refusals and
    drops)."""
    latencies, seqs, started, last, gap, troubles = [], [], None, None, 0.0, 0
    first_try, ws = time.monotonic(), None
    while time.monotonic() - (started or first_try) < seconds:
        try:
            if ws is None:
                ws = websocket.create_connection(
                    url, subprotocols=["controlpanel", f"token.{token}"]
                )
                ws.settimeout(1)
            opcode, data = ws.recv_data()
        except websocket.WebSocketTimeoutException:
            continue  # no frame this second: the gap shows in `gap` and the fps
        except (websocket.WebSocketException, OSError):
            troubles, ws = troubles + 1, None  # refused (HTTP 403 or 500) or dropped
            time.sleep(1)
            continue
        if opcode != websocket.ABNF.OPCODE_BINARY:
            continue
        now = time.time() * 1000
        seq, captured = struct.unpack(">QQ", data[:16])
        ws.send(json.dumps({"type": "ack", "seq": seq}))
        if last is not None:
            gap = max(gap, time.monotonic() - last)
        last = time.monotonic()
        if started is None:
            started = time.monotonic()
            continue  # the first frame includes connection set-up
        latencies.append(now - captured)
        seqs.append(seq)
    if ws is not None:
        ws.close()
    elapsed = time.monotonic() - (started or first_try)
    out.append((len(seqs) / elapsed, latencies, seqs, gap, troubles))


def watch(url: str, token: str, count: int, seconds: float) -> list:
    """`count` viewers of one camera for `seconds`, at once: each one's (fps, latencies, seqs)."""
    results: list = []
    threads = [threading.Thread(target=viewer, args=(url, token, seconds, results))
               for _ in range(count)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def watch_elsewhere(url: str, token: str, count: int, seconds: float) -> Callable[[], list]:
    """`watch` in a process of its own, so that viewers and other clients of a benchmark do not
    share one interpreter lock; call the returned function for the results."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_watch_into, args=(queue, url, token, count, seconds))
    process.start()

    def results() -> list:
        out = queue.get(timeout=seconds + 120)
        process.join()
        return out

    return results


def _watch_into(queue, *args) -> None:
    queue.put(watch(*args))


def frames_summary(results: list) -> str:
    fps = min(r[0] for r in results)
    lat = sorted(x for r in results for x in r[1])
    drops = sum(r[2][-1] - r[2][0] + 1 - len(r[2]) for r in results if r[2])
    if not lat:
        return f"no frame reached any of the {len(results)} viewers"
    return (f"min fps per viewer {fps:.1f}, latency p50 {lat[len(lat) // 2]:.0f} ms, "
            f"p95 {p95(lat):.0f} ms, frames skipped {drops} of {sum(len(r[2]) for r in results) + drops}, "
            f"longest gap {max(r[3] for r in results):.1f} s"
            + (f", sockets refused or dropped {sum(r[4] for r in results)} times" if any(r[4] for r in results) else ""))  # fmt: skip


def rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:  # the process has ended
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def sample_rss(pids: dict[str, int], every: float, stop: threading.Event, out: list) -> None:
    """(seconds since start, {name: RSS MB}) every `every` seconds until `stop` is set."""
    started = time.monotonic()
    while not stop.wait(0 if not out else every):
        out.append((time.monotonic() - started, {name: rss_mb(pid) for name, pid in pids.items()}))


def rss_report(samples: list) -> None:
    """The RSS table, and growth from the first sample after warm-up to the last."""
    if len(samples) < 2:
        return
    names = list(samples[0][1])
    print("   t (s) " + " ".join(f"{name + ' MB':>12}" for name in names))
    step = max(1, len(samples) // 10)
    for t, values in samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else []):
        print(f"{t:8.0f} " + " ".join(f"{values[name]:12.1f}" for name in names))
    warm = next((s for s in samples if s[0] >= 60), samples[len(samples) // 4])
    for name in names:
        grown = samples[-1][1][name] - warm[1][name]
        peak = max(values[name] for _, values in samples)
        print(f"{name}: {warm[1][name]:.1f} MB at {warm[0]:.0f} s -> {samples[-1][1][name]:.1f} MB "
              f"at {samples[-1][0]:.0f} s ({grown:+.1f} MB), peak {peak:.1f} MB")  # fmt: skip


PAGE_OBSERVE = """() => {
  const img = document.querySelector("img.frame");
  const bench = window.__bench = { at: [], lat: [], seq: [] };
  new MutationObserver(() => {
    const now = Date.now();
    bench.at.push(now);
    bench.seq.push(Number(img.dataset.seq));
    bench.lat.push(now - Number(img.dataset.captured));
  }).observe(img, { attributes: true, attributeFilter: ["data-seq"] });
}"""


def browser_viewers(env: dict, base: str, camera_id: str, count: int, seconds: float) -> None:
    """`count` tabs of the camera page in one headless Chromium: what each tab showed, when."""
    from bench.live.browser import logged_in_page

    with logged_in_page(env, base) as first:
        pages = [first] + [first.context.new_page() for _ in range(count - 1)]
        for page in pages:
            page.goto(f"{base}/cameras/{camera_id}/")
            page.wait_for_function("document.querySelector('img.frame').dataset.seq !== undefined")
            page.evaluate(PAGE_OBSERVE)
        time.sleep(seconds)
        shown = [page.evaluate("() => window.__bench") for page in pages]
    fps = min(len(b["at"]) / ((b["at"][-1] - b["at"][0]) / 1000) for b in shown)
    lat = [x for b in shown for x in b["lat"]]
    drops = sum(b["seq"][-1] - b["seq"][0] + 1 - len(b["seq"]) for b in shown)
    print(f"Chromium tabs={count} 1280x720: min fps per tab {fps:.1f}, "
          f"latency p50 {sorted(lat)[len(lat) // 2]:.0f} ms, p95 {p95(lat):.0f} ms, "
          f"frames skipped {drops} of {sum(len(b['seq']) for b in shown) + drops}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--viewers", type=int, action="append")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--fps", type=float, default=30)
    parser.add_argument("--rss-every", type=float, default=10, help="seconds between RSS samples")
    parser.add_argument("--browser-tabs", type=int, action="append", default=[],
                        help="then the camera page in this many headless Chromium tabs")  # fmt: skip
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-live-")
    env, procs, base = stack(tmp)
    try:
        source_url = start_camera_source(procs, args.fps)
        token = django_setup(env, TOKEN_CODE).splitlines()[-1]
        camera_id = create_camera(env, source_url)
        url = base.replace("http", "ws") + f"/ws/cameras/{camera_id}/frames/"
        samples: list = []
        sampled = threading.Event()
        pids = {"daphne": procs[1].pid, "redis": procs[0].pid}
        sampler = threading.Thread(target=sample_rss, args=(pids, args.rss_every, sampled, samples))
        sampler.start()
        for count in args.viewers or [1, 10]:
            results = watch(url, token, count, args.seconds)
            print(f"viewers={count} 1280x720 source_fps={args.fps:g}: {frames_summary(results)}")
        for count in args.browser_tabs:
            browser_viewers(env, base, camera_id, count, args.seconds)
        sampled.set()
        sampler.join()
        rss_report(samples)
        print(
            f"bench process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB"
        )
    finally:
        stop(procs)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
