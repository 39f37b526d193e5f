"""Stream-server throughput on one core: 1280x720 footage with `--process lanes`.

    python -m bench.media_pipeline.stream [--seconds 10] [--process lanes] [--cpu 0]

Starts the real server (`python -m media_pipeline stream --fps 0`, i.e. as fast as it can)
pinned to one CPU, with one MJPEG viewer connected, and reads the frame counter from /metrics.
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
        deadline = t0 + seconds
        received = 0
        while time.monotonic() < deadline:
            received += len(viewer.read1(1 << 16))
        frames1, t1 = metric(base, "media_pipeline_frames_total"), time.monotonic()
        processing = metric(base, "media_pipeline_processing_ms_average")
        viewer.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    return {
        "source": source,
        "process": process,
        "cpu": cpu,
        "fps": round((frames1 - frames0) / (t1 - t0), 1),
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
