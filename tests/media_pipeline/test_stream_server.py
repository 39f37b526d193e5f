"""The stream server as a viewer and Prometheus see it: real HTTP, real JPEG frames."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import numpy as np
import pytest

from media_pipeline.patterns import read_clock
from media_pipeline.sources import MjpegHttpSource, SourceError, open_source
from tests.conftest import wait_for

from .conftest import DATA, ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 10) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


@contextmanager
def stream_server(*args: str) -> Iterator[tuple[str, subprocess.Popen]]:
    if "--port-fixed" in args:  # a server that must come back on the same address
        at = args.index("--port-fixed")
        port, args = int(args[at + 1]), args[:at] + args[at + 2 :]
    else:
        port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "media_pipeline", "stream", "--host", "127.0.0.1", "--port", str(port), *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        start = json.loads(process.stdout.readline())
        assert start["event"] == "start" and start["port"] == port
        for _ in range(100):  # until the first frame is published
            if get(base + "/healthz")[0] == 200:
                break
            time.sleep(0.05)
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=20)


def mjpeg_frames(url: str, count: int) -> list[np.ndarray]:
    source = MjpegHttpSource(url)
    try:
        return [source.read() for _ in range(count)]
    finally:
        source.close()


@pytest.mark.smoke
@pytest.mark.live
def test_serves_mjpeg_snapshot_health_and_metrics():
    with stream_server("--source", "test:clock", "--fps", "30") as (base, process):
        status, kind, body = get(base + "/snapshot.jpg")
        assert status == 200 and kind == "image/jpeg"
        snapshot = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        assert snapshot.shape == (480, 640, 3)
        number, captured = read_clock(snapshot)
        assert abs(time.time() - captured) < 5  # the burned-in wall clock decodes

        frames = mjpeg_frames(base + "/stream.mjpg", 5)
        numbers = [read_clock(f)[0] for f in frames]
        assert numbers == sorted(numbers) and len(set(numbers)) == 5  # new frames, in order

        # Every part names its sequence number and capture time (ms) in its headers.
        with urllib.request.urlopen(base + "/stream.mjpg", timeout=10) as response:
            head = response.read(4096).split(b"\r\n\r\n", 1)[0].decode()
        part = dict(line.split(": ", 1) for line in head.splitlines()[1:])
        assert part["Content-Type"] == "image/jpeg" and int(part["X-Frame-Seq"]) > 0
        assert abs(int(part["X-Timestamp"]) / 1000 - time.time()) < 5

        status, _, body = get(base + "/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        status, kind, body = get(base + "/metrics")
        assert status == 200 and kind.startswith("text/plain")
        metrics = {
            line.split("{")[0]: float(line.rsplit(" ", 1)[1])
            for line in body.decode().splitlines()
            if line and not line.startswith("#")
        }
        assert metrics["media_pipeline_frames_total"] >= 5
        assert {
            "media_pipeline_fps", "media_pipeline_processing_ms", "media_pipeline_detection_failures_total",
        } <= set(metrics)  # fmt: skip
        assert get(base + "/nope")[0] == 404
    events = [json.loads(line) for line in process.stdout.read().splitlines()]
    assert events[-1]["event"] == "done" and events[-1]["frames"] >= 5


@pytest.mark.live
def test_lanes_on_a_looping_file_at_a_chosen_width():
    clip = DATA / "lanes" / "solidWhiteRight_first30.mp4"
    with stream_server(
        "--source", f"file:{clip}", "--process", "lanes", "--width", "640", "--fps", "0"
    ) as (base, _):

        def frames() -> float:
            text = get(base + "/metrics")[2].decode()
            return float(
                next(
                    line
                    for line in text.splitlines()
                    if line.startswith("media_pipeline_frames_total")
                ).split()[-1]
            )

        # The clip has 30 frames: more than that served means it looped (however fast).
        wait_for(lambda: frames() > 30, timeout=30, interval=0.2)
        snapshot = cv2.imdecode(
            np.frombuffer(get(base + "/snapshot.jpg")[2], np.uint8), cv2.IMREAD_COLOR
        )
        assert snapshot.shape == (360, 640, 3)
        # The red lane overlay is in the picture.
        b, g, r = cv2.split(snapshot.astype(int))
        assert np.count_nonzero((r > 180) & (g < 80) & (b < 80)) > 500


class SlowViewer:
    """A viewer on a slow link: a small receive buffer, and it reads nothing for a while."""

    def __init__(self, base: str):
        host, port = base.removeprefix("http://").split(":")
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        self.sock.connect((host, int(port)))
        self.sock.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")
        self.buffer = b""

    def frame_number(self) -> int:
        while True:
            start = self.buffer.find(b"\xff\xd8")
            end = self.buffer.find(b"\xff\xd9", start + 2) if start >= 0 else -1
            if start >= 0 and end >= 0:
                jpeg, self.buffer = self.buffer[start : end + 2], self.buffer[end + 2 :]
                return read_clock(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))[0]
            self.buffer += self.sock.recv(4096)


@pytest.mark.live
def test_a_slow_client_gets_the_newest_frame_not_a_backlog():
    with stream_server("--source", "test:clock", "--fps", "30") as (base, _):
        viewer = SlowViewer(base)
        try:
            first = viewer.frame_number()
            time.sleep(2.0)  # about 60 frames go by while this viewer reads nothing
            received = [viewer.frame_number() for _ in range(15)]
        finally:
            viewer.sock.close()
    # The few frames already in flight in socket buffers arrive first, then the server skips
    # ahead to the newest frame instead of replaying the 60 it produced meanwhile.
    assert received == sorted(received)
    assert received[-1] - first >= 55, (first, received)


@pytest.mark.live
@pytest.mark.slow
def test_relay_survives_its_camera_restarting():
    port = free_port()
    camera_args = ("--source", "test:clock", "--fps", "30", "--port-fixed", str(port))
    with stream_server(*camera_args) as (camera, first):
        with stream_server("--source", camera + "/stream.mjpg") as (relay, _):
            assert get(relay + "/healthz")[0] == 200
            first.terminate()
            first.wait(timeout=20)
            stale = None
            for _ in range(150):  # stale after 5 s without frames; the relay keeps running
                if get(relay + "/healthz")[0] == 503:
                    stale = True
                    break
                time.sleep(0.1)
            assert stale
            with stream_server(*camera_args):  # the camera comes back on the same address
                for _ in range(100):
                    if get(relay + "/healthz")[0] == 200:
                        break
                    time.sleep(0.1)
                assert get(relay + "/healthz")[0] == 200
                assert read_clock(mjpeg_frames(relay + "/stream.mjpg", 1)[0])[0] >= 0


@pytest.mark.live
def test_http_mjpeg_source_reads_another_stream_server():
    with stream_server("--source", "test:ball", "--fps", "30") as (base, _):
        with stream_server("--source", base + "/stream.mjpg", "--process", "none") as (relay, _):
            _, kind, body = get(relay + "/snapshot.jpg")
            relayed = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
            assert kind == "image/jpeg" and relayed.shape == (480, 640, 3)


def test_sources_and_patterns():
    for name in ("ball", "carousel", "clock"):
        pattern = open_source(f"test:{name}?width=320&height=240")
        a, b = pattern.read(), pattern.read()
        assert a.shape == (240, 320, 3) and not np.array_equal(a, b)  # it moves
    clip = DATA / "lanes" / "solidWhiteRight_first30.mp4"
    looping = open_source(f"file:{clip}")
    assert sum(looping.read() is not None for _ in range(65)) == 65
    once = open_source(f"file:{clip}?loop=0")
    assert sum(once.read() is not None for _ in range(65)) == 30
    for bad in ("test:nothing", "v4l2:/dev/video-missing", "gopher://x", f"file:{clip}.missing"):
        with pytest.raises(SourceError):
            open_source(bad)


def test_unopenable_source_is_an_error_event(pipeline):
    run = pipeline("stream", "--source", "v4l2:/dev/video-missing", "--port", "0")
    assert run.returncode == 1
    assert run.of("error")[0]["file"] == "v4l2:/dev/video-missing"


@pytest.mark.live
@pytest.mark.slow
def test_faces_are_boxed_in_the_stream(tmp_path):
    known = tmp_path / "known"
    known.mkdir()
    photo = DATA / "faces" / "unknown" / "obama_small.jpg"
    (known / "obama_1.jpg").write_bytes(photo.read_bytes())
    args = ("--source", f"file:{photo}", "--process", "faces", "--known", str(known))
    with stream_server(*args, "--cache-dir", str(tmp_path / "cache")) as (base, _):
        snapshot = cv2.imdecode(
            np.frombuffer(get(base + "/snapshot.jpg")[2], np.uint8), cv2.IMREAD_COLOR
        )
        text = get(base + "/metrics")[2].decode()
    # A known face gets a green box (a stranger's would be red) where the photo's face is.
    b, g, r = cv2.split(snapshot.astype(int))
    green = (g > 160) & (r < 90) & (b < 90)
    ys, xs = np.nonzero(green)
    assert len(xs) > 200
    assert 60 < xs.mean() < 260 and 40 < ys.mean() < 200  # the face is around (157, 121)
    assert 'media_pipeline_detection_failures_total{process="faces"' in text
