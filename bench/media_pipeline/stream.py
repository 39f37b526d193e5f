"""Stream-server throughput on one core: 1280x720 footage with `--process lanes`.

    python -m bench.media_pipeline.stream [--seconds 10] [--process lanes] [--cpu 0]

Starts the real server (`python -m media_pipeline stream --fps 0`, i.e. as fast as it can)
pinned to one CPU, with one MJPEG viewer connected, and reads the frame counter from /metrics
and the server's CPU time from /proc (on a shared machine the wall-clock rate shows how much of
the core others left; CPU time per frame does not depend on them).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

from bench.media_pipeline.common import clip_720p


def metric(base: str, name: str) -> float:
    with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    raise KeyError(name)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(source: str, process: str, seconds: float, cpu: int) -> dict[str, object]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "media_pipeline", "stream", "--source", source, "--process", process,
               "--fps", "0", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    server = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),  # noqa: PLW1509 - simple fork, no threads yet
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                metric(base, "media_pipeline_frames_total")
                break
            except OSError:
                time.sleep(0.05)
        viewer = urllib.request.urlopen(base + "/stream.mjpg", timeout=10)
        time.sleep(1.0)  # warm-up
        frames0, t0 = metric(base, "media_pipeline_frames_total"), time.monotonic()
        cpu0 = cpu_seconds(server.pid)
        deadline = t0 + seconds
        received = 0
        while time.monotonic() < deadline:
            received += len(viewer.read1(1 << 16))
        frames1, t1 = metric(base, "media_pipeline_frames_total"), time.monotonic()
        cpu1 = cpu_seconds(server.pid)
        processing = metric(base, "media_pipeline_processing_ms_average")
        viewer.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    frames = frames1 - frames0
    cpu_ms = (cpu1 - cpu0) * 1000 / frames if frames else None
    return {
        "source": source,
        "process": process,
        "cpu": cpu,
        "fps": round(frames / (t1 - t0), 1),
        # The server's own CPU time per frame (decode, lanes, overlay, JPEG, serving): what one
        # core gives when nothing else runs on it, whatever the machine's load.
        "cpu_ms_per_frame": round(cpu_ms, 2) if cpu_ms else None,
        "fps_on_a_free_core": round(1000 / cpu_ms, 1) if cpu_ms else None,
        "load_average_after": round(os.getloadavg()[0], 2),
        "processing_and_jpeg_ms_average": processing,
        "viewer_mbit_s": round(received * 8 / (t1 - t0) / 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--process", default="lanes")
    parser.add_argument("--cpu", type=int, default=0)
    args = parser.parse_args()
    source = f"file:{clip_720p()}"
    print(json.dumps(measure(source, args.process, args.seconds, args.cpu), indent=2))


if __name__ == "__main__":
    main()
