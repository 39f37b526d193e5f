"""`python -m media_pipeline faces-serve`: the face-recognition back-end, detect + encode over HTTP.

    GET  /healthz   200 {"status": "ok"} once the models are loaded, 503 before
    GET  /metrics   Prometheus text (requests by endpoint and outcome, detect seconds, faces)
    POST /detect    JSON {"volume", "path", "margin"} naming an image on a mounted volume, or the
                    image itself (application/octet-stream or image/*, `?margin=` in the query)
        200 {"faces": [{"box": [top, right, bottom, left], "encoding": [128 floats]}],
             "width", "height", "seconds"}
        422 {"error", "permanent": true}   input that retrying cannot fix
        413 {"error", "permanent": true}   a body over --max-bytes (never read past the limit)
        503 {"error", "permanent": false}  models still loading

The server is stateless: matching against known people happens in the panel. Detection uses the
library's defaults (HOG, one upsample, one jitter), so results equal a bare face_recognition call.
`margin` pads the image with black by margin * max(height, width) on every side before detecting
(reference photos cropped tight, see faces.KNOWN_MARGIN); boxes are always returned in the
original image's coordinates, clipped to it.

One process is one replica: HTTP threads read and decode requests in parallel, and detection runs
one image at a time (dlib's networks keep per-call state and hold the GIL anyway); scale with
more processes or pods. On stderr, a request that fails (4xx, 5xx, a client gone) is one line at
once (method, path, status, seconds); answered requests are one summary line per `--log-every`
seconds (count, median and slowest per endpoint and status), never with image data. stdout
carries the `start` and `done` events. The HTTP side (routes, bodies, errors) is face_http.py.
"""

from __future__ import annotations

import base64
import errno
import io
import os
import signal
import stat
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
from PIL import UnidentifiedImageError
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)

from media_pipeline.events import EventWriter
from media_pipeline.face_http import handler_for, invalid
from media_pipeline.faces import (
    MAX_PIXELS,
    ImageTooLarge,
    decode_rgb,
    detect_and_encode,
    margin_pad,
    with_margin,
)

DEFAULT_PORT = 8090
# `"thumbnail": true` answers with the image as JPEG, longest side at most this.
THUMBNAIL_SIZE = 320
THUMBNAIL_QUALITY = 80
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DECODE_SLOTS = 2
DEFAULT_LOG_EVERY = 60.0
DETECT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # bursts from many processors must not be refused at connect


def unusable_path(path: str, volume: str, code: int):
    """The system's words for why a path cannot be opened, without this server's own paths."""
    return invalid(f"{path[:300]!r} on volume {volume!r} cannot be opened: {os.strerror(code)}")


@dataclass
class ServeOptions:
    host: str = "0.0.0.0"  # noqa: S104 - it runs in a pod behind a Service
    port: int = DEFAULT_PORT
    volumes: dict[str, Path] = field(default_factory=dict)
    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = MAX_PIXELS
    log_every: float = DEFAULT_LOG_EVERY  # 0: one line per request


def parse_volume(text: str) -> tuple[str, Path]:
    """`NAME=DIR` from the command line; ValueError says what is wrong."""
    name, sep, directory = text.partition("=")
    name = name.strip()
    if not sep or not name or not directory:
        raise ValueError(f"--volume {text!r}: expected NAME=DIR")
    return name, Path(directory)


class Metrics:
    """The server's Prometheus metrics, in a registry of its own (not the library's global)."""

    def __init__(self) -> None:
        disable_created_metrics()  # `*_created` series per label set are noise for a scraper
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # memory and CPU of this replica
        self.requests = Counter(
            "faces_serve_requests", "HTTP requests by endpoint and outcome.",
            ["endpoint", "outcome"], registry=self.registry,
        )  # fmt: skip
        self.detect_seconds = Histogram(
            "faces_serve_detect_seconds", "Time to detect and encode the faces of one image.",
            buckets=DETECT_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.faces = Counter("faces_serve_faces", "Faces found.", registry=self.registry)
        self.images = Counter(
            "faces_serve_images", "Images detected (with or without a face).",
            registry=self.registry,
        )  # fmt: skip
        self.ready = Gauge(
            "faces_serve_ready", "1 once the models are loaded.", registry=self.registry
        )
        self.in_flight = Gauge(
            "faces_serve_requests_in_flight", "Requests being handled.", registry=self.registry
        )


class RequestLog:
    """The request log: failures one line each as they happen, answered requests summed up.

    A back-end that answers images for years would otherwise write a line per image into its
    run's stored log, each one read, stored and relayed by the panel's monitor: at millions of
    images that is most of the log's rows and a steady share of a core. Counts and timings per
    request stay exact in /metrics."""

    def __init__(self, events: EventWriter, every: float) -> None:
        self.events = events
        self.every = every
        self._lock = threading.Lock()
        self._window: dict[tuple[str, str, int], list[float]] = {}
        self._began = time.monotonic()

    def request(self, method: str, route: str, endpoint: str, status: int, seconds: float) -> None:
        if status >= 400 or self.every <= 0:
            self.events.log(f"faces-serve: {method} {route} {status} {seconds:.3f}s")
            return
        # Keyed by the known endpoint (not the raw path) so the window stays small.
        with self._lock:
            self._window.setdefault((method, endpoint, status), []).append(seconds)

    def flush(self) -> None:
        with self._lock:
            window, self._window = self._window, {}
            began, self._began = self._began, time.monotonic()
        if not window:
            return
        parts = []
        for (method, endpoint, status), times in sorted(window.items()):
            times.sort()
            parts.append(
                f"{len(times)} {method} {endpoint} {status} "
                f"(median {times[len(times) // 2]:.3f}s, slowest {times[-1]:.3f}s)"
            )
        self.events.log(f"faces-serve: last {self._began - began:.0f}s: " + ", ".join(parts))

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.every):
            self.flush()


class FaceServer:
    def __init__(self, options: ServeOptions, events: EventWriter) -> None:
        self.options = options
        self.events = events
        self.metrics = Metrics()
        self.request_log = RequestLog(events, options.log_every)
        self.ready = threading.Event()
        self.stop = threading.Event()
        self._detect_lock = threading.Lock()
        # A decoded image can take hundreds of MB (MAX_PIXELS RGB, twice with a margin): one being
        # detected and one decoded next keep the detector busy without holding more in memory.
        self.decode_slots = threading.BoundedSemaphore(DECODE_SLOTS)
        self.images_done = 0  # totals for the `done` event (under _detect_lock)
        self.faces_found = 0
        self.httpd = _Server((options.host, options.port), handler_for(self))
        self.port = self.httpd.server_address[1]
        self._http_thread = threading.Thread(
            target=self.httpd.serve_forever, name="http", daemon=True
        )

    # -- life ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Serve at once (health checks see 503), then load the models."""
        self._http_thread.start()
        if self.request_log.every > 0:
            threading.Thread(
                target=self.request_log.run, args=(self.stop,), name="request-log", daemon=True
            ).start()

    def warm_up(self) -> float:
        """Load dlib's detector, landmark and encoding models with one tiny detection, so the
        first real request does not pay for it; /healthz turns 200 after this."""
        began = time.perf_counter()
        from media_pipeline.faces import _face_recognition

        fr = _face_recognition()
        tiny = np.zeros((32, 32, 3), dtype=np.uint8)
        fr.face_locations(tiny)
        fr.face_encodings(tiny, [(0, 31, 31, 0)])  # one pass through the encoder network
        self.ready.set()
        self.metrics.ready.set(1)
        return time.perf_counter() - began

    def shutdown(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.request_log.flush()  # the last window's requests, before `done`

    # -- work ---------------------------------------------------------------------------------
    def open_volume_file(self, volume: object, path: object) -> bytes:
        """The bytes of `path` inside volume `volume`, refusing anything that leaves it."""
        if not isinstance(volume, str) or not volume:
            raise invalid("volume must be the name of a volume (a string)")
        if volume not in self.options.volumes:
            known = ", ".join(sorted(self.options.volumes)) or "none"
            raise invalid(f"unknown volume {volume!r} (this server has: {known})")
        if not isinstance(path, str) or not path.strip():
            raise invalid("path must be a path inside the volume (a non-empty string)")
        if "\x00" in path:
            raise invalid("path must not contain NUL characters")
        if PurePosixPath(path).is_absolute():
            raise invalid(f"path {path!r} must be relative to the volume")
        root = self.options.volumes[volume].resolve()
        try:
            target = (root / path).resolve()
        except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
            raise unusable_path(path, volume, errno.ELOOP) from None
        if not target.is_relative_to(root):
            raise invalid(f"path {path!r} leads outside volume {volume!r}")
        try:
            # O_NONBLOCK: a FIFO planted on the volume must not hang this thread on open.
            fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise invalid(f"no such file {path!r} on volume {volume!r}") from None
        except (IsADirectoryError, NotADirectoryError):
            raise invalid(f"{path!r} on volume {volume!r} is not a file") from None
        except PermissionError:
            raise invalid(
                f"{path!r} on volume {volume!r} cannot be read (permission denied)"
            ) from None
        except OSError as error:
            # The path, not this server, is wrong: a 500 would be retried and counted against
            # the back-end's circuit, so a few such paths would stop every caller's images.
            if error.errno in (errno.ENAMETOOLONG, errno.ELOOP):
                raise unusable_path(path, volume, error.errno) from None
            raise
        try:
            # What was opened, not what was checked: a symlink swapped in meanwhile is caught.
            opened = Path(os.readlink(f"/proc/self/fd/{fd}"))
            if not opened.is_relative_to(root):
                raise invalid(f"path {path!r} leads outside volume {volume!r}")
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise invalid(f"{path!r} on volume {volume!r} is not a file")
            if not stat.S_ISREG(info.st_mode):
                raise invalid(f"{path!r} on volume {volume!r} is not a regular file")
            if info.st_size > self.options.max_bytes:
                raise invalid(
                    f"{path!r} is {info.st_size:,} bytes, more than the "
                    f"{self.options.max_bytes:,} this server reads"
                )
            os.set_blocking(fd, True)
            with os.fdopen(fd, "rb", closefd=False) as handle:
                data = handle.read(self.options.max_bytes + 1)
        finally:
            os.close(fd)
        if len(data) > self.options.max_bytes:
            raise invalid(f"{path!r} grew past {self.options.max_bytes:,} bytes while read")
        return data

    def decode(self, data: bytes, what: str) -> np.ndarray:
        if not data:
            raise invalid(f"{what} is empty")
        try:
            return decode_rgb(io.BytesIO(data), self.options.max_pixels)
        except MemoryError:
            raise
        except ImageTooLarge as error:
            raise invalid(f"{what} is too large: {error}") from None
        except UnidentifiedImageError:
            raise invalid(f"{what} is not an image (unknown or corrupt format)") from None
        except Exception as error:  # noqa: BLE001 - untrusted bytes: any decoder failure is the input's
            reason = (str(error).splitlines() or [type(error).__name__])[0][:200]
            raise invalid(f"{what} is not a decodable image: {reason}") from None

    def thumbnail(self, rgb: np.ndarray) -> str:
        """The image scaled down to THUMBNAIL_SIZE on its longest side, as base64 JPEG: the
        panel shows images it cannot read itself (on a Kubernetes volume) from it."""
        height, width = rgb.shape[:2]
        scale = min(1.0, THUMBNAIL_SIZE / max(height, width))
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, THUMBNAIL_QUALITY])
        if not ok:
            raise RuntimeError("JPEG encoding of the thumbnail failed")
        return base64.b64encode(encoded.tobytes()).decode("ascii")

    def detect(self, rgb: np.ndarray, margin: float) -> dict:
        height, width = rgb.shape[:2]
        pad = margin_pad(rgb, margin)
        # The margin is a fraction of the longer side: a long thin strip within the pixel limit
        # would otherwise grow into gigapixels of border. Every image whose bounding square is
        # within the limit keeps its margin.
        scanned = (width + 2 * pad) * (height + 2 * pad)
        limit = int(self.options.max_pixels * (1 + 2 * margin) ** 2)
        if scanned > limit:
            raise invalid(
                f"with margin {margin:g} the {width}x{height} image would be scanned as "
                f"{width + 2 * pad}x{height + 2 * pad} pixels, more than the {limit:,} this "
                "server scans: crop it closer to the face"
            )
        padded = with_margin(rgb, margin) if pad else rgb
        with self._detect_lock:
            began = time.perf_counter()
            boxes, encodings = detect_and_encode(padded)
            seconds = time.perf_counter() - began
        faces = []
        for (top, right, bottom, left), encoding in zip(boxes, encodings, strict=True):
            # Back to the original image, clipped as face_recognition clips to an image.
            box = [
                max(int(top) - pad, 0), min(int(right) - pad, width),
                min(int(bottom) - pad, height), max(int(left) - pad, 0),
            ]  # fmt: skip
            if box[2] <= box[0] or box[1] <= box[3]:
                continue  # a detection wholly inside the padding: nothing of the image
            faces.append({"box": box, "encoding": encoding.tolist()})
        with self._detect_lock:
            self.images_done += 1
            self.faces_found += len(faces)
        self.metrics.detect_seconds.observe(seconds)
        self.metrics.images.inc()
        self.metrics.faces.inc(len(faces))
        return {"faces": faces, "width": width, "height": height, "seconds": round(seconds, 6)}


def run(options: ServeOptions, events: EventWriter) -> int:
    missing = [name for name, path in options.volumes.items() if not path.is_dir()]
    for name in missing:
        # Not fatal: a volume mounted late, or one not used by this caller, must not keep the
        # other volumes and uploads from being served. Requests naming it get a 422.
        events.log(f"faces-serve: volume {name!r}: {options.volumes[name]} is not a directory")
    try:
        server = FaceServer(options, events)
    except OSError as error:
        events.error(f"{options.host}:{options.port}", f"cannot listen: {error}")
        events.emit("done", images=0, faces=0, errors=events.errors)
        return 1
    url = f"http://{options.host}:{server.port}"
    events.emit(
        "start", url=url, port=server.port, volumes=sorted(options.volumes),
        max_bytes=options.max_bytes,
    )  # fmt: skip
    # Kubernetes stops pods with SIGTERM: finish cleanly and report `done`.
    signal.signal(signal.SIGTERM, lambda *_: server.stop.set())
    server.start()
    try:
        seconds = server.warm_up()
    except Exception as error:  # noqa: BLE001 - any failure to load the models ends the replica
        events.error("models", f"cannot load the face models: {error}")
        server.shutdown()
        events.emit("done", images=0, faces=0, errors=events.errors)
        return 1
    events.log(f"faces-serve: models loaded in {seconds:.2f}s, serving at {url}")
    try:
        server.stop.wait()
    except KeyboardInterrupt:
        pass  # Ctrl-C in a local run: shut down like SIGTERM
    server.shutdown()
    events.emit("done", images=server.images_done, faces=server.faces_found, errors=events.errors)
    return 0
