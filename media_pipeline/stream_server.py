"""`python -m media_pipeline stream`: a camera or test pattern, optionally processed, served as
MJPEG at /stream.mjpg, the newest JPEG at /snapshot.jpg, /healthz and Prometheus /metrics.

One capture thread reads, processes and JPEG-encodes each frame once, and publishes it as "the
newest frame". Each client thread sends whatever is newest when it is ready for more, so a slow
client skips frames instead of growing a queue, and clients never slow the capture loop.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np

from media_pipeline.events import EventWriter
from media_pipeline.frame_processors import FrameProcessor, make_processor
from media_pipeline.sources import FrameSource, SourceError, open_source

BOUNDARY = "frame"
STALE_AFTER_S = 5.0
SEND_BUFFER_BYTES = 64 * 1024
RECONNECT_AFTER_FAILURES = 20  # live sources: reopen after 2 s without a frame


@dataclass
class StreamOptions:
    source: str
    process: str = "none"
    host: str = "0.0.0.0"  # noqa: S104 - it runs in a pod behind a Service
    port: int = 8080
    fps: float | None = None  # None: the source's own rate; 0: as fast as possible
    width: int | None = None
    jpeg_quality: int = 80
    known: Path | None = None
    tolerance: float = 0.6
    cache_dir: Path | None = None
    duration: float | None = None
    progress_interval: float = 1.0


class NewestFrame:
    """The latest JPEG and its sequence number; readers wait for a newer one."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self.jpeg: bytes | None = None
        self.sequence = 0
        self.published_at = 0.0
        self.captured_at = 0.0  # when the source handed us the frame (Unix seconds)
        self.closed = False

    def publish(self, jpeg: bytes, captured_at: float | None = None) -> None:
        with self._condition:
            self.jpeg, self.sequence, self.published_at = jpeg, self.sequence + 1, time.time()
            self.captured_at = captured_at if captured_at is not None else self.published_at
            self._condition.notify_all()

    def close(self) -> None:
        with self._condition:
            self.closed = True
            self._condition.notify_all()

    def wait_newer_frame(self, seen: int, timeout: float) -> tuple[int, bytes | None, float]:
        """The newest frame once it is newer than `seen`: (sequence, JPEG, capture time), read
        under one lock so the three always belong together."""
        with self._condition:
            self._condition.wait_for(lambda: self.sequence > seen or self.closed, timeout)
            return self.sequence, self.jpeg, self.captured_at


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.frames = 0
        self.detection_failures = 0
        self.processing_errors = 0
        self.source_errors = 0
        self.processing_seconds = 0.0
        self.last_processing_ms = 0.0
        self.clients = 0
        self.started = time.monotonic()
        self._window: list[float] = []  # completion times of the last second's frames

    def frame_done(self, processing_s: float, found: bool) -> None:
        now = time.monotonic()
        with self._lock:
            self.frames += 1
            self.processing_seconds += processing_s
            self.last_processing_ms = processing_s * 1000
            self.detection_failures += not found
            self._window.append(now)
            cut = now - 1.0
            while self._window and self._window[0] < cut:
                self._window.pop(0)

    def fps(self) -> float:
        with self._lock:
            cut = time.monotonic() - 1.0
            return float(sum(1 for t in self._window if t >= cut))

    def client(self, delta: int) -> None:
        with self._lock:
            self.clients += delta

    def prometheus(self, process: str, source: str) -> str:
        labels = f'process="{process}",source="{source.replace(chr(34), "")}"'
        average_ms = self.processing_seconds / self.frames * 1000 if self.frames else 0.0
        rows = [
            (
                "media_pipeline_frames_total",
                "counter",
                "Frames captured, processed and published.",
                self.frames,
            ),
            ("media_pipeline_fps", "gauge", "Frames published in the last second.", self.fps()),
            (
                "media_pipeline_processing_ms",
                "gauge",
                "Processing plus JPEG encoding time of the last frame (ms).",
                round(self.last_processing_ms, 3),
            ),
            (
                "media_pipeline_processing_ms_average",
                "gauge",
                "Average processing plus JPEG encoding time per frame (ms).",
                round(average_ms, 3),
            ),
            (
                "media_pipeline_processing_seconds_total",
                "counter",
                "Time spent processing and encoding frames.",
                round(self.processing_seconds, 6),
            ),
            (
                "media_pipeline_detection_failures_total",
                "counter",
                "Frames where the detector found nothing (lanes: not both lanes; faces: no face).",
                self.detection_failures,
            ),
            (
                "media_pipeline_processing_errors_total",
                "counter",
                "Frames whose processing raised an error.",
                self.processing_errors,
            ),
            (
                "media_pipeline_source_errors_total",
                "counter",
                "Failed reads from the source.",
                self.source_errors,
            ),
            ("media_pipeline_clients", "gauge", "Connected MJPEG clients.", self.clients),
            (
                "media_pipeline_uptime_seconds",
                "gauge",
                "Seconds since the server started.",
                round(time.monotonic() - self.started, 3),
            ),
        ]
        lines = []
        for name, kind, help_text, value in rows:
            lines += [
                f"# HELP {name} {help_text}",
                f"# TYPE {name} {kind}",
                f"{name}{{{labels}}} {value}",
            ]
        return "\n".join(lines) + "\n"


class StreamServer:
    def __init__(self, options: StreamOptions, events: EventWriter):
        self.options = options
        self.events = events
        self.newest = NewestFrame()
        self.metrics = Metrics()
        self.stop = threading.Event()
        self.source: FrameSource = open_source(options.source)
        self.processor: FrameProcessor = make_processor(
            options.process,
            options.known or Path("."),
            options.cache_dir,
            options.tolerance,
            on_error=lambda path, reason: events.error(str(path), reason),
        )
        self.httpd = ThreadingHTTPServer((options.host, options.port), _handler_for(self))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._capture_thread = threading.Thread(
            target=self._capture_loop, name="capture", daemon=True
        )
        self._http_thread = threading.Thread(
            target=self.httpd.serve_forever, name="http", daemon=True
        )

    def _frame_interval(self) -> float:
        if self.options.fps is not None:
            return 1.0 / self.options.fps if self.options.fps > 0 else 0.0
        # Live devices pace themselves; files and patterns play at their own rate.
        return 0.0 if self.source.live else 1.0 / self.source.fps

    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        width = self.options.width
        if width and frame.shape[1] != width:
            height = int(round(frame.shape[0] * width / frame.shape[1] / 2)) * 2
            frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        return frame

    def _reconnect(self, failures: int) -> None:
        """A camera that restarts or drops the connection must not end the stream: reopen it
        and keep serving (meanwhile /healthz says "stale", so a liveness probe can act)."""
        self.events.log(
            f"stream: no frames from {self.options.source} ({failures} tries), reconnecting"
        )
        self.source.close()
        try:
            self.source = open_source(self.options.source)
        except SourceError as error:
            self.events.log(f"stream: reconnect failed: {error}")

    def _passes_jpegs_through(self) -> bool:
        return (
            hasattr(self.source, "read_jpeg")
            and self.options.process == "none"
            and not self.options.width
        )

    def _pace(self, interval: float, next_due: float) -> float:
        """Wait until the next frame is due; returns when the one after is."""
        if not interval:
            return next_due
        next_due += interval
        delay = next_due - time.monotonic()
        if delay > 0:
            self.stop.wait(delay)
            return next_due
        return time.monotonic()  # running late: do not try to catch up

    def _capture_loop(self) -> None:
        interval = self._frame_interval()
        next_due = time.monotonic()
        quality = [cv2.IMWRITE_JPEG_QUALITY, self.options.jpeg_quality]
        failures_in_row = 0
        try:
            while not self.stop.is_set():
                if self._passes_jpegs_through():
                    # The source's JPEG is what we would serve anyway: no decode, no encode.
                    jpeg = self.source.read_jpeg()
                    if jpeg is not None:
                        failures_in_row = 0
                        self.metrics.frame_done(0.0, True)
                        self.newest.publish(jpeg, time.time())
                        next_due = self._pace(interval, next_due)
                        continue
                    frame = None
                else:
                    frame = self.source.read()
                captured_at = time.time()
                if frame is None:
                    if not self.source.live:
                        self.events.log(f"stream: {self.options.source} ended")
                        break
                    self.metrics.source_errors += 1
                    failures_in_row += 1
                    if failures_in_row % RECONNECT_AFTER_FAILURES == 0:
                        self._reconnect(failures_in_row)
                    self.stop.wait(0.1)
                    continue
                failures_in_row = 0
                frame = self._prepare(frame)
                started = time.perf_counter()
                try:
                    processed = self.processor(frame)
                    frame, found = processed.frame, processed.found
                except Exception as error:  # noqa: BLE001 - per-frame boundary: count, keep serving
                    self.metrics.processing_errors += 1
                    found = False
                    # The same failure tends to repeat every frame: log the first of each 100.
                    if self.metrics.processing_errors % 100 == 1:
                        self.events.log(
                            f"stream: processing failed ({self.metrics.processing_errors} so far): {error}"
                        )
                ok, jpeg = cv2.imencode(".jpg", frame, quality)
                self.metrics.frame_done(time.perf_counter() - started, found)
                if ok:
                    self.newest.publish(jpeg.tobytes(), captured_at)
                next_due = self._pace(interval, next_due)
        finally:
            self.newest.close()
            self.stop.set()

    def start(self) -> None:
        self._http_thread.start()
        self._capture_thread.start()

    def shutdown(self) -> None:
        self.stop.set()
        self._capture_thread.join(timeout=5)
        self.httpd.shutdown()
        self.httpd.server_close()
        self.source.close()


def _handler_for(server: StreamServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            pass  # stdout is reserved for events; access logs would only be noise on stderr

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            path = self.path.split("?", 1)[0]
            if path == "/stream.mjpg":
                self._stream()
            elif path == "/snapshot.jpg":
                if server.newest.jpeg is None:
                    self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"no frame yet\n", "text/plain")
                else:
                    self._send(HTTPStatus.OK, server.newest.jpeg, "image/jpeg")
            elif path == "/healthz":
                age = time.time() - server.newest.published_at if server.newest.sequence else None
                healthy = age is not None and age < STALE_AFTER_S and not server.stop.is_set()
                body = {
                    "status": "ok" if healthy else "stale",
                    "frames": server.metrics.frames,
                    "frame_age_s": age,
                }
                status = HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE
                self._send(status, (json.dumps(body) + "\n").encode(), "application/json")
            elif path == "/metrics":
                text = server.metrics.prometheus(server.options.process, server.options.source)
                self._send(HTTPStatus.OK, text.encode(), "text/plain; version=0.0.4; charset=utf-8")
            elif path == "/":
                page = b'<!doctype html><title>stream</title><img src="stream.mjpg" alt="live stream">\n'
                self._send(HTTPStatus.OK, page, "text/html; charset=utf-8")
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

        def _stream(self) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            # Keep the kernel from queueing seconds of video for a slow client: with a small
            # send buffer the write blocks, and the next frame sent is the newest one.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
            server.metrics.client(+1)
            seen = 0
            try:
                while not server.stop.is_set():
                    seen, jpeg, captured_at = server.newest.wait_newer_frame(seen, timeout=1.0)
                    if jpeg is None:
                        continue
                    # Sequence and capture time per part let a relay or viewer measure drops
                    # and glass-to-screen latency without decoding the picture.
                    self.wfile.write(
                        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n"
                        f"X-Frame-Seq: {seen}\r\nX-Timestamp: {int(captured_at * 1000)}\r\n\r\n".encode()
                        + jpeg
                        + b"\r\n"
                    )
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                pass  # the client went away: normal for a live view
            finally:
                server.metrics.client(-1)
                self.close_connection = True

    return Handler


def run(options: StreamOptions, events: EventWriter) -> int:
    try:
        server = StreamServer(options, events)
    except (SourceError, OSError) as error:
        events.error(options.source, str(error))
        events.emit("done", frames=0, errors=events.errors)
        return 1
    url = f"http://{options.host}:{server.port}"
    events.emit(
        "start", source=options.source, process=options.process, url=url,
        stream=f"{url}/stream.mjpg", port=server.port,
    )  # fmt: skip
    events.log(f"stream: serving {options.source} ({options.process}) at {url}/stream.mjpg")
    # Kubernetes stops pods with SIGTERM: finish cleanly and report `done`.
    signal.signal(signal.SIGTERM, lambda *_: server.stop.set())
    server.start()
    deadline = time.monotonic() + options.duration if options.duration else None
    try:
        while not server.stop.wait(options.progress_interval):
            events.emit(
                "progress", file=options.source, frame=server.metrics.frames, frames=None,
                fps=server.metrics.fps(), processing_ms=round(server.metrics.last_processing_ms, 2),
                clients=server.metrics.clients,
            )  # fmt: skip
            if deadline is not None and time.monotonic() >= deadline:
                break
    except KeyboardInterrupt:
        pass  # Ctrl-C in a local run: shut down like SIGTERM
    server.shutdown()
    metrics = server.metrics
    events.emit(
        "done", frames=metrics.frames, detection_failures=metrics.detection_failures,
        processing_errors=metrics.processing_errors, errors=events.errors,
    )  # fmt: skip
    return 1 if events.errors else 0
