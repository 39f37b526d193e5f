"""The HTTP side of `faces-serve` (face_server.py): routes, bounded request bodies, the JSON
answers and errors, one metric count per request (the log: face_server.RequestLog)."""

from __future__ import annotations

import json
import math
import socket
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

if TYPE_CHECKING:
    from media_pipeline.face_server import FaceServer

JSON_BODY_LIMIT = 64 * 1024  # a {"volume", "path", "margin"} object is a few hundred bytes
ENDPOINTS = ("/healthz", "/metrics", "/detect")
LINGER_SECONDS, LINGER_IDLE_SECONDS = 2.0, 0.5  # after refusing a body, see Handler._drain


class Rejected(Exception):
    """A request answered with an error status; `permanent` tells the caller not to retry."""

    def __init__(self, status: int, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.permanent = permanent


def invalid(message: str) -> Rejected:
    return Rejected(HTTPStatus.UNPROCESSABLE_ENTITY, message)


def outcome_of(status: int) -> str:
    return {
        200: "ok", 404: "not_found", 405: "bad_method", 413: "too_large", 422: "invalid",
        503: "unavailable",
    }.get(status, "client_error" if 400 <= status < 500 else "error")  # fmt: skip


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


def _flag(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("0", "1", "true", "false"):
        return value in ("1", "true")
    raise invalid(f"{name} must be true or false, not {value!r}")


def _content_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def handler_for(server: FaceServer) -> type[BaseHTTPRequestHandler]:
    options = server.options

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "faces-serve"
        sys_version = ""

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            pass  # _handle logs the request (face_server.RequestLog), without the query string

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
                endpoint = route if route in ENDPOINTS else "other"
                if not self._responded:  # the client left before any answer
                    server.metrics.requests.labels(endpoint, outcome_of(int(status))).inc()
                seconds = time.perf_counter() - began
                server.request_log.request(method, route, endpoint, int(status), seconds)

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
            with server.decode_slots:
                rgb = server.decode(data, what)
                answer = server.detect(rgb, margin)
                if thumbnail:
                    answer["thumbnail"] = server.thumbnail(rgb)
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
