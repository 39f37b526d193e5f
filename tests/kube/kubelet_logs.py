"""Container logs for the stand-in kubelet: storage, and the kubelet's HTTPS log endpoint.

The API server answers `GET /api/v1/namespaces/NS/pods/POD/log` by proxying to the node's kubelet
at `https://<InternalIP>:<kubeletEndpoint.Port>/containerLogs/NS/POD/CONTAINER?...`; serving that
path is enough for `read_namespaced_pod_log` (follow included) to work through the real server.
"""

from __future__ import annotations

import datetime as dt
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse


def _now_rfc3339nano() -> str:
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def _parse_time(text: str) -> dt.datetime:
    # RFC 3339 with up to nanoseconds; Python parses at most microseconds.
    text = text.replace("Z", "+00:00")
    if "." in text:
        head, rest = text.split(".", 1)
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    return dt.datetime.fromisoformat(text)


class ContainerLog:
    """Output of one run ("attempt") of one container.

    Stored like the CRI log format: `<RFC3339Nano> F|P <text>` per line, where P marks text that
    did not end with a newline (so it is served back without one).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("ab")
        self._lock = threading.Lock()
        self.closed = threading.Event()

    def write_line(self, data: bytes) -> None:
        full = data.endswith(b"\n")
        text = data[:-1] if full else data
        record = f"{_now_rfc3339nano()} {'F' if full else 'P'} ".encode() + text + b"\n"
        with self._lock:
            self._file.write(record)
            self._file.flush()

    def pump(self, stream) -> None:
        """Copy a process's output line by line until it closes (run in a thread)."""
        for line in iter(stream.readline, b""):
            self.write_line(line)
        stream.close()

    def close(self) -> None:
        with self._lock:
            self._file.close()
        self.closed.set()

    def read(self) -> bytes:
        return b"".join(text for _, text in self.records())

    def records(
        self, follow: bool = False, stop: threading.Event | None = None
    ) -> Iterator[tuple[str, bytes]]:
        """(timestamp, text) pairs; with follow, keeps yielding until the container stops."""
        with self.path.open("rb") as source:
            last_pass = False
            while True:
                position = source.tell()
                line = source.readline()
                if line.endswith(b"\n"):
                    stamp, kind, text = line[:-1].split(b" ", 2)
                    yield stamp.decode(), text + (b"\n" if kind == b"F" else b"")
                    continue
                source.seek(position)  # at the end, or a record half written: read it again later
                if not follow or last_pass or (stop is not None and stop.is_set()):
                    return
                # Once closed, everything is flushed: one more pass picks up the last records.
                last_pass = self.closed.is_set()
                if not last_pass:
                    time.sleep(0.05)


def select_records(
    records: Iterator[tuple[str, bytes]], query: dict[str, str]
) -> Iterator[tuple[str, bytes]]:
    """Apply the kubelet's sinceTime / sinceSeconds filters."""
    since = None
    if "sinceTime" in query:
        since = _parse_time(query["sinceTime"])
    elif "sinceSeconds" in query:
        since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=int(query["sinceSeconds"]))
    for stamp, text in records:
        if since is None or _parse_time(stamp) >= since:
            yield stamp, text


# Finds the log to serve: (namespace, pod, container, previous) -> ContainerLog, or an error text.
LogLookup = Callable[[str, str, str, bool], "ContainerLog | str"]


class LogServer:
    """HTTPS server for /containerLogs/..., the only kubelet endpoint the tests need so far."""

    def __init__(self, lookup: LogLookup, cert_file: Path, key_file: Path) -> None:
        self.lookup = lookup
        self.stopping = threading.Event()
        handler = type("Handler", (_LogRequestHandler,), {"server_owner": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert_file), str(key_file))
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="kubelet-logs", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class _LogRequestHandler(BaseHTTPRequestHandler):
    server_owner: LogServer
    # HTTP/1.0: the body ends when the connection closes, which suits an open-ended follow stream.
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # the API server already logs requests; keep test output quiet

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        url = urlparse(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        if len(parts) != 4 or parts[0] != "containerLogs":
            self._fail(404, f"no such endpoint {url.path}")
            return
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        previous = query.get("previous") == "true"
        found = self.server_owner.lookup(parts[1], parts[2], parts[3], previous)
        if isinstance(found, str):
            self._fail(400, found)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        follow = query.get("follow") == "true"
        records = select_records(found.records(follow, self.server_owner.stopping), query)
        if "tailLines" in query:
            # Tail of what exists now, then (when following) everything new, as a kubelet does.
            tail = int(query["tailLines"])
            existing = list(select_records(found.records(), query))
            skip = max(len(existing) - tail, 0)
            records = (record for index, record in enumerate(records) if index >= skip)
        self._stream(records, query.get("timestamps") == "true", query.get("limitBytes"))

    def _stream(self, records, timestamps: bool, limit: str | None) -> None:
        budget = int(limit) if limit else None
        try:
            for stamp, text in records:
                data = (stamp.encode() + b" " + text) if timestamps else text
                if budget is not None:
                    data = data[:budget]
                    budget -= len(data)
                self.wfile.write(data)
                self.wfile.flush()
                if budget is not None and budget <= 0:
                    break
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the reader went away (e.g. stopped following): nothing to do

    def _fail(self, code: int, message: str) -> None:
        body = message.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
