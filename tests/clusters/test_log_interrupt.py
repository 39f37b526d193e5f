"""Stopping a pod's log stream that has just ended on its own: the connection is back in the
pool, and the thread that interrupts the read must leave quietly (it used to die with
urllib3's RuntimeError, printed as an unhandled thread exception)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import urllib3

from clusters.runtimes.kubernetes import _interrupt_on


class _Lines(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        body = b"one\ntwo\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_stopping_a_stream_that_already_ended_is_quiet():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Lines)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    failures = []
    previous, threading.excepthook = threading.excepthook, failures.append
    try:
        pool = urllib3.PoolManager()
        response = pool.request(
            "GET", f"http://127.0.0.1:{server.server_address[1]}/", preload_content=False
        )
        assert b"".join(response.stream(1024)) == b"one\ntwo\n"
        response.release_conn()
        stop, done = threading.Event(), threading.Event()
        stop.set()  # asked to stop just as the stream ended, before the reader said it was done
        _interrupt_on(stop, done, response, name="log-stop-test")
        for watcher in [t for t in threading.enumerate() if t.name == "log-stop-test"]:
            watcher.join(timeout=5)
            assert not watcher.is_alive()
    finally:
        threading.excepthook = previous
        server.shutdown()
        server.server_close()
    assert not failures, [f.exc_value for f in failures]
