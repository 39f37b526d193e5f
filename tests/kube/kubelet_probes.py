"""Readiness probes, run as a kubelet runs them, for the containers that really run here.

A container with a `readinessProbe` is ready only once its probe passed `successThreshold`
times in a row, and stops being ready after `failureThreshold` failures in a row; the pod's
Ready condition follows, so the endpoints controller lists a pod behind its Service only while
it answers (a back-end still loading its models gets no traffic through the service proxy).

- `httpGet`: a GET to the pod's address (its pod IP with pod networking, else 127.0.0.1 where
  its process listens), the port by number or by the name of a container port, with the given
  path and headers; any status from 200 to 399 passes. HTTPS is not verified (nor is it by a
  kubelet).
- `tcpSocket`: a connection that opens passes.
- `exec` and `grpc` cannot be run without a container runtime: such containers count as ready
  while running (as do scripted containers, which have nothing listening).

Timing is shortened as the restart back-off is: at most 1 s between probes and before the first
one (Kubernetes defaults to 10 s and no delay).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from collections.abc import Callable

from kubernetes import client as k8s

MAX_PERIOD_SECONDS = 1.0
MAX_INITIAL_DELAY_SECONDS = 1.0


def runnable_probe(probe: k8s.V1Probe | None) -> bool:
    return probe is not None and bool(probe.http_get or probe.tcp_socket)


def _port(value: object, container: k8s.V1Container) -> int:
    """An IntOrString port: a number, or the name of one of the container's ports."""
    if isinstance(value, int):
        return value
    text = str(value)
    if text.isdigit():
        return int(text)
    for port in container.ports or []:
        if port.name == text:
            return port.container_port
    raise ValueError(f"container {container.name} has no port named {text!r}")


def probe_once(probe: k8s.V1Probe, container: k8s.V1Container, host: str) -> bool:
    timeout = float(probe.timeout_seconds or 1)
    try:
        if probe.tcp_socket:
            address = (probe.tcp_socket.host or host, _port(probe.tcp_socket.port, container))
            with socket.create_connection(address, timeout=timeout):
                return True
        action = probe.http_get
        target = action.host or host
        port = _port(action.port, container)
        if (action.scheme or "HTTP").upper() == "HTTPS":
            context = ssl._create_unverified_context()  # noqa: S323 - as a kubelet probes
            connection = http.client.HTTPSConnection(target, port, timeout=timeout, context=context)
        else:
            connection = http.client.HTTPConnection(target, port, timeout=timeout)
        try:
            headers = {h.name: h.value for h in action.http_headers or []}
            connection.request("GET", action.path or "/", headers=headers)
            response = connection.getresponse()
            response.read()
            return 200 <= response.status < 400
        finally:
            connection.close()
    except (OSError, ValueError, http.client.HTTPException):
        return False


class ReadinessProber:
    """Probes one container attempt until `stop()`; calls `on_change(ready)` on each change."""

    def __init__(
        self,
        probe: k8s.V1Probe,
        container: k8s.V1Container,
        host: str,
        on_change: Callable[[bool], None],
    ) -> None:
        self.probe, self.container, self.host = probe, container, host
        self.on_change = on_change
        self.ready = False
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"probe-{container.name}", daemon=True
        )

    def start(self) -> ReadinessProber:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        probe = self.probe
        period = min(float(probe.period_seconds or 10), MAX_PERIOD_SECONDS)
        delay = min(float(probe.initial_delay_seconds or 0), MAX_INITIAL_DELAY_SECONDS)
        needed_successes = probe.success_threshold or 1
        needed_failures = probe.failure_threshold or 3
        successes = failures = 0
        if self._stop.wait(delay):
            return
        while not self._stop.is_set():
            if probe_once(probe, self.container, self.host):
                successes, failures = successes + 1, 0
                if not self.ready and successes >= needed_successes:
                    self._change(True)
            else:
                successes, failures = 0, failures + 1
                if self.ready and failures >= needed_failures:
                    self._change(False)
            self._stop.wait(period)

    def _change(self, ready: bool) -> None:
        if self._stop.is_set():
            return
        self.ready = ready
        self.on_change(ready)
