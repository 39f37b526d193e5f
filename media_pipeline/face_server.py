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
more processes or pods. Requests are logged one line each on stderr (method, path, status,
seconds), never with image data; stdout carries the `start` and `done` events.
"""

from __future__ import annotations

import base64
import errno
import io
import json
import math
import os
import signal
import socket
import stat
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np
from PIL import UnidentifiedImageError
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

from media_pipeline.events import EventWriter
from media_pipeline.faces import (
    MAX_PIXELS,
    ImageTooLarge,
    decode_rgb,
    detect_and_encode,
    margin_pad,
    with_margin,
)

DEFAULT_PORT = 8090
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
JSON_BODY_LIMIT = 64 * 1024  # a {"volume", "path", "margin"} object is a few hundred bytes
ENDPOINTS = ("/healthz", "/metrics", "/detect")
IMAGE_TYPES = ("application/octet-stream", "image/")
LINGER_SECONDS, LINGER_IDLE_SECONDS = 2.0, 0.5  # after refusing a body, see Handler._drain
# A thumbnail (`"thumbnail": true`) lets the panel show an image it cannot read itself (one on a
# Kubernetes volume): JPEG, longest side at most this, boxes drawn by the panel from the answer.
THUMBNAIL_SIZE = 320
THUMBNAIL_QUALITY = 80
DETECT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


class Rejected(Exception):
    """A request answered with an error status; `permanent` tells the caller not to retry."""

    def __init__(self, status: int, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.permanent = permanent


def invalid(message: str) -> Rejected:
    return Rejected(HTTPStatus.UNPROCESSABLE_ENTITY, message)


def unusable_path(path: str, volume: str, code: int) -> Rejected:
    """The system's words for why a path cannot be opened, without this server's own paths."""
    return invalid(f"{path[:300]!r} on volume {volume!r} cannot be opened: {os.strerror(code)}")


@dataclass
class ServeOptions:
    host: str = "0.0.0.0"  # noqa: S104 - it runs in a pod behind a Service
    port: int = DEFAULT_PORT
    volumes: dict[str, Path] = field(default_factory=dict)
    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = MAX_PIXELS


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


def outcome_of(status: int) -> str:
    return {
        200: "ok", 404: "not_found", 405: "bad_method", 413: "too_large", 422: "invalid",
        503: "unavailable",
    }.get(status, "client_error" if 400 <= status < 500 else "error")  # fmt: skip


def _flag(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("0", "1", "true", "false"):
        return value in ("1", "true")
    raise invalid(f"{name} must be true or false, not {value!r}")


def thumbnail_jpeg(rgb: np.ndarray, size: int = THUMBNAIL_SIZE) -> str:
    """The image scaled down to `size` on its longest side, as base64 JPEG."""
    height, width = rgb.shape[:2]
    scale = min(1.0, size / max(height, width))
    if scale < 1.0:
        rgb = cv2.resize(
            rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
            interpolation=cv2.INTER_AREA,
        )  # fmt: skip
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, THUMBNAIL_QUALITY]
    )
    if not ok:
        raise RuntimeError("JPEG encoding of the thumbnail failed")
    return base64.b64encode(encoded.tobytes()).decode("ascii")


def _margin(value: object) -> float:
    if isinstance(value, bool):
        raise invalid("margin must be a number between 0 and 1")
    try:
        margin = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise invalid(f"margin must be a number between 0 and 1, not {value!r}") from None
    if not math.isfinite(margin) or not 0.0 <= margin <= 1.0:
        raise invalid(f"margin must be between 0 and 1, not {value!r}")
    return margin


class FaceServer:
    def __init__(self, options: ServeOptions, events: EventWriter) -> None:
        self.options = options
        self.events = events
        self.metrics = Metrics()
        self.ready = threading.Event()
        self.stop = threading.Event()
        self._detect_lock = threading.Lock()
        self.images_done = 0  # totals for the `done` event (under _detect_lock)
        self.faces_found = 0
        self.httpd = ThreadingHTTPServer((options.host, options.port), _handler_for(self))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._http_thread = threading.Thread(
            target=self.httpd.serve_forever, name="http", daemon=True
        )

    # -- life ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Serve at once (health checks see 503), then load the models."""
        self._http_thread.start()

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


def _content_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def _handler_for(server: FaceServer) -> type[BaseHTTPRequestHandler]:
    options = server.options

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "faces-serve"
        sys_version = ""

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            pass  # one line per request is written by _handle, without the query string

        def log_error(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            server.events.log("faces-serve: " + (format % args))

        # -- plumbing ------------------------------------------------------------------------
        def _send_json(
            self, status: int, body: dict, headers: dict[str, str] | None = None
        ) -> None:
            payload = json.dumps(body, separators=(",", ":")).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-store")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)

        def _send_error_json(self, error: Rejected) -> None:
            body = {"error": error.message, "permanent": error.permanent}
            headers = None
            if error.status == HTTPStatus.METHOD_NOT_ALLOWED:
                headers = {"Allow": "POST" if self._route() == "/detect" else "GET"}
            self._send_json(error.status, body, headers)

        def _route(self) -> str:
            return urlsplit(getattr(self, "path", "")).path

        def send_response(self, code: int, message: str | None = None) -> None:
            # Counted as the answer goes out, so a client that reads /metrics right after its
            # answer sees its own request.
            self._responded = True
            route = self._route()
            endpoint = route if route in ENDPOINTS else "other"
            server.metrics.requests.labels(endpoint, outcome_of(int(code))).inc()
            super().send_response(code, message)

        def _handle(self, method: str) -> None:
            began = time.perf_counter()
            route = self._route()
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            self._responded = False
            server.metrics.in_flight.inc()
            try:
                status = self._dispatch(method, route)
            except Rejected as error:
                status = error.status
                self._send_error_json(error)
            except (BrokenPipeError, ConnectionResetError):
                status, self.close_connection = 499, True  # the client went away mid-answer
            except Exception as error:  # noqa: BLE001 - request boundary: a 500, the server stays up
                server.events.log(
                    f"faces-serve: {method} {route} failed: {type(error).__name__}: {error}"
                )
                self._close_unread()
                body = {"error": "internal error (see the server's log)", "permanent": False}
                try:
                    self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR, body)
                except OSError:
                    pass
            finally:
                server.metrics.in_flight.dec()
                if not self._responded:  # the client left before any answer
                    endpoint = route if route in ENDPOINTS else "other"
                    server.metrics.requests.labels(endpoint, outcome_of(int(status))).inc()
                seconds = time.perf_counter() - began
                server.events.log(f"faces-serve: {method} {route} {int(status)} {seconds:.3f}s")

        def _dispatch(self, method: str, route: str) -> int:
            if route == "/healthz":
                self._require(method, "GET")
                if not server.ready.is_set():
                    self._send_json(HTTPStatus.SERVICE_UNAVAILABLE, {"status": "loading"})
                    return HTTPStatus.SERVICE_UNAVAILABLE
                self._send_json(HTTPStatus.OK, {"status": "ok"})
                return HTTPStatus.OK
            if route == "/metrics":
                self._require(method, "GET")
                payload = generate_latest(server.metrics.registry)
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", CONTENT_TYPE_LATEST)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return HTTPStatus.OK
            if route == "/detect":
                self._require(method, "POST")
                return self._detect()
            self._discard_body()
            raise Rejected(HTTPStatus.NOT_FOUND, f"no such endpoint {route!r}: use /detect")

        def _require(self, method: str, allowed: str) -> None:
            if method != allowed:
                self._discard_body()
                raise Rejected(
                    HTTPStatus.METHOD_NOT_ALLOWED, f"{self._route()} takes {allowed} only"
                )

        def _discard_body(self) -> None:
            # An unread body would be taken for the next request on a kept-alive connection.
            if self.headers.get("Content-Length") or self.headers.get("Transfer-Encoding"):
                self._close_unread()

        def _close_unread(self) -> None:
            """Close after this answer, with part of the body still unread."""
            self.close_connection = True
            self._linger = True

        def finish(self) -> None:
            super().finish()
            if getattr(self, "_linger", False):
                self._drain()

        def _drain(self) -> None:
            # Closing a socket with unread input makes the kernel send a reset, which can destroy
            # the answer (a 413) before the client reads it. So: end our side, then read and
            # drop what the client still sends, for a bounded time, as web servers do.
            try:
                self.connection.shutdown(socket.SHUT_WR)
                self.connection.settimeout(LINGER_IDLE_SECONDS)
                deadline = time.monotonic() + LINGER_SECONDS
                while time.monotonic() < deadline and self.connection.recv(65536):
                    pass
            except OSError:
                pass  # the client reset or went quiet: nothing more to protect

        def _read_body(self, limit: int) -> bytes:
            """At most `limit` bytes of body; larger is a 413 without reading the rest."""
            too_large = Rejected(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"the body is larger than the {limit:,} bytes this server accepts",
            )
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                return self._read_chunked(limit, too_large)
            length_header = self.headers.get("Content-Length")
            if length_header is None:
                return b""
            try:
                length = int(length_header)
                if length < 0:
                    raise ValueError
            except ValueError:
                self._close_unread()
                raise invalid(f"bad Content-Length {length_header!r}") from None
            if length > limit:
                self._close_unread()
                raise too_large
            data = self.rfile.read(length)
            if len(data) < length:
                self._close_unread()
                raise invalid(f"the body ended after {len(data)} of {length} bytes")
            return data

        def _read_chunked(self, limit: int, too_large: Rejected) -> bytes:
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    self._close_unread()
                    raise invalid("malformed chunked body") from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                total += size
                if total > limit:
                    self._close_unread()
                    raise too_large
                chunk = self.rfile.read(size)
                self.rfile.readline(8)  # the CRLF after each chunk
                if len(chunk) < size:
                    self._close_unread()
                    raise invalid("the chunked body ended early")
                chunks.append(chunk)

        # -- /detect ---------------------------------------------------------------------------
        def _detect(self) -> int:
            kind = _content_type(self.headers.get("Content-Type"))
            if kind == "application/json":
                body = self._read_body(JSON_BODY_LIMIT)
                volume, path, margin, thumbnail = self._json_request(body)
                if not server.ready.is_set():
                    raise Rejected(
                        HTTPStatus.SERVICE_UNAVAILABLE, "models are loading", permanent=False
                    )
                data = server.open_volume_file(volume, path)
                what = f"{path!r} on volume {volume!r}"
            elif kind == "application/octet-stream" or kind.startswith("image/"):
                data = self._read_body(options.max_bytes)
                margin, thumbnail = self._query_options()
                if not server.ready.is_set():
                    raise Rejected(
                        HTTPStatus.SERVICE_UNAVAILABLE, "models are loading", permanent=False
                    )
                what = "the body"
            else:
                self._discard_body()
                shown = kind or "none"
                raise invalid(
                    f"Content-Type {shown!r}: send application/json "
                    '({"volume", "path", "margin"}) or the image as application/octet-stream or image/*'
                )
            rgb = server.decode(data, what)
            answer = server.detect(rgb, margin)
            if thumbnail:
                answer["thumbnail"] = thumbnail_jpeg(rgb)
            self._send_json(HTTPStatus.OK, answer)
            return HTTPStatus.OK

        def _json_request(self, body: bytes) -> tuple[object, object, float, bool]:
            if not body:
                raise invalid('the body is empty: send {"volume": ..., "path": ...}')
            try:
                request = json.loads(body)
            except (ValueError, UnicodeDecodeError) as error:
                raise invalid(f"the body is not valid JSON: {error}") from None
            except RecursionError:
                raise invalid("the body is not valid JSON: nested too deeply") from None
            if not isinstance(request, dict):
                raise invalid('the body must be a JSON object {"volume", "path", "margin"}')
            unknown = sorted(set(request) - {"volume", "path", "margin", "thumbnail"})
            if unknown:
                raise invalid(
                    f"unknown field(s) {', '.join(map(repr, unknown))}: "
                    "expected volume, path, margin, thumbnail"
                )
            for name in ("volume", "path"):
                if name not in request:
                    raise invalid(f"{name} is required")
            return (
                request["volume"], request["path"], _margin(request.get("margin", 0.0)),
                _flag("thumbnail", request.get("thumbnail", False)),
            )  # fmt: skip

        def _query_options(self) -> tuple[float, bool]:
            query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
            unknown = sorted(set(query) - {"margin", "thumbnail"})
            if unknown:
                raise invalid(
                    f"unknown query parameter(s) {', '.join(map(repr, unknown))}: "
                    "only margin and thumbnail"
                )
            if any(len(values) != 1 for values in query.values()):
                raise invalid("give each query parameter once")
            return (
                _margin(query.get("margin", ["0"])[0]),
                _flag("thumbnail", query.get("thumbnail", ["0"])[0]),
            )

        # -- verbs -----------------------------------------------------------------------------
        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            self._handle("GET")

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            self._handle("POST")

        def do_PUT(self) -> None:  # noqa: N802 - stdlib naming
            self._handle("PUT")

        def do_DELETE(self) -> None:  # noqa: N802 - stdlib naming
            self._handle("DELETE")

        def handle_expect_100(self) -> bool:
            # Refuse an oversized upload before the client sends it.
            length = self.headers.get("Content-Length", "")
            if self._route() == "/detect" and length.isdigit() and int(length) > options.max_bytes:
                self._close_unread()
                error = Rejected(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    f"the body is larger than the {options.max_bytes:,} bytes this server accepts",
                )
                self._send_error_json(error)
                server.events.log(f"faces-serve: {self.command} /detect 413 0.000s")
                return False
            return super().handle_expect_100()

    return Handler


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
