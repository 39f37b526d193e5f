"""Where pods live on the network, and how their processes start: the stand-in kubelet's two
extension points.

By default pods get no IP of their own (status.podIP stays unset) and processes run in the test's
own network namespace, so a pod's HTTP server is reachable on 127.0.0.1 only. A later step can give
pods real addresses by combining `RangePodIPs` (e.g. 198.18.0.0/15, the benchmarking range) with a
launcher that starts the process inside a network namespace holding that address (veth pair), so
the API server's service proxy can reach it.
"""

from __future__ import annotations

import ipaddress
import subprocess
import threading
from pathlib import Path
from typing import Protocol

from kubernetes import client as k8s


class PodIPAllocator(Protocol):
    def allocate(self, pod: k8s.V1Pod) -> str | None: ...

    def release(self, pod_uid: str) -> None: ...


class NoPodIPs:
    """Pods get no address: Services then have no endpoints, which nothing here needs yet."""

    def allocate(self, pod: k8s.V1Pod) -> str | None:
        return None

    def release(self, pod_uid: str) -> None:
        pass


class RangePodIPs:
    """Hands out addresses of a CIDR in order, reusing released ones.

    Bookkeeping only unless the launcher also puts the process behind that address: without it
    nothing listens there, so nobody must connect to these IPs.
    """

    def __init__(self, cidr: str = "198.18.0.0/15") -> None:
        self._hosts = ipaddress.ip_network(cidr).hosts()
        next(self._hosts)  # the first host address is kept for the gateway side
        self._free: list[str] = []
        self._by_pod: dict[str, str] = {}
        self._lock = threading.Lock()

    def allocate(self, pod: k8s.V1Pod) -> str | None:
        with self._lock:
            uid = pod.metadata.uid
            if uid not in self._by_pod:
                self._by_pod[uid] = self._free.pop(0) if self._free else str(next(self._hosts))
            return self._by_pod[uid]

    def release(self, pod_uid: str) -> None:
        with self._lock:
            address = self._by_pod.pop(pod_uid, None)
            if address:
                self._free.append(address)


class ProcessLauncher(Protocol):
    def launch(
        self, argv: list[str], env: dict[str, str], cwd: Path, pod: k8s.V1Pod, pod_ip: str | None
    ) -> subprocess.Popen: ...


class LocalLauncher:
    """Runs the container's process directly on this machine, output (stdout+stderr) piped."""

    def launch(
        self, argv: list[str], env: dict[str, str], cwd: Path, pod: k8s.V1Pod, pod_ip: str | None
    ) -> subprocess.Popen:
        # Own session, so deleting the pod can signal the whole process group.
        return subprocess.Popen(
            argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
