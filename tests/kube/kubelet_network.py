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


class NetnsPodNetwork:
    """Pod addresses that really answer: both the allocator and the launcher, for opted-in
    Kubernetes namespaces (`opt_in`); other pods keep the default (no IP, local process).

    Each opted-in pod gets a network namespace `cpk-<uid8>` with lo up and a veth pair: the pod
    side holds the pod IP (/32), the host side the gateway address of this kubelet's /24 in the
    benchmarking range 198.18.0.0/15 (never a real network) plus a host route to the pod, so the
    API server's service proxy on this machine reaches the pod, and forwarding on that link
    only, so pods reach each other through the host. Each kubelet picks its own /24
    so test sessions running at once do not hand out the same addresses. Needs root (`ip netns`).
    """

    def __init__(self, subnet: str | None = None) -> None:
        if subnet is None:
            import random

            index = random.SystemRandom().randrange(1, 512)  # /24 number 0 left out
            subnet = f"198.{18 + index // 256}.{index % 256}.0/24"
        network = ipaddress.ip_network(subnet)
        self.gateway = str(next(network.hosts()))
        self.ips = RangePodIPs(subnet)  # skips the first host: that is the gateway
        self.namespaces: set[str] = set()
        self._local = LocalLauncher()
        self._netns: dict[str, str] = {}  # pod uid -> netns name
        self._lock = threading.Lock()

    def opt_in(self, namespace: str) -> None:
        self.namespaces.add(namespace)

    def opt_out(self, namespace: str) -> None:
        self.namespaces.discard(namespace)

    # -- PodIPAllocator -------------------------------------------------------------------------
    def allocate(self, pod: k8s.V1Pod) -> str | None:
        if pod.metadata.namespace not in self.namespaces:
            return None
        return self.ips.allocate(pod)

    def release(self, pod_uid: str) -> None:
        with self._lock:
            netns = self._netns.pop(pod_uid, None)
        if netns:
            # Deleting the namespace also deletes its veth end, and with it the host end + route.
            subprocess.run(["ip", "netns", "delete", netns], capture_output=True)
        self.ips.release(pod_uid)

    def release_all(self) -> None:
        for uid in list(self._netns):
            self.release(uid)

    # -- ProcessLauncher ------------------------------------------------------------------------
    def launch(
        self, argv: list[str], env: dict[str, str], cwd: Path, pod: k8s.V1Pod, pod_ip: str | None
    ) -> subprocess.Popen:
        if not pod_ip:
            return self._local.launch(argv, env, cwd, pod, pod_ip)
        netns = self._ensure_netns(pod.metadata.uid, pod_ip)
        # `ip netns exec` execs the command in place: same pid, so signals still reach it.
        return self._local.launch(["ip", "netns", "exec", netns, *argv], env, cwd, pod, pod_ip)

    def _ensure_netns(self, uid: str, pod_ip: str) -> str:
        with self._lock:
            if uid in self._netns:  # a second container or a restart: same pod network
                return self._netns[uid]
            short = uid.replace("-", "")[:8]
            netns, host_if = f"cpk-{short}", f"cpkh{short}"
            commands = [
                ["ip", "netns", "add", netns],
                ["ip", "-n", netns, "link", "set", "lo", "up"],
                ["ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth0",
                 "netns", netns],
                ["ip", "addr", "add", f"{self.gateway}/32", "dev", host_if],
                ["ip", "link", "set", host_if, "up"],
                ["ip", "route", "add", f"{pod_ip}/32", "dev", host_if, "src", self.gateway],
                # Pod to pod, as in a cluster (a stream pod reading an Akri broker pod): the
                # host forwards what comes in from a pod's link only, not the machine's traffic.
                ["sysctl", "-q", "-w", f"net.ipv4.conf.{host_if}.forwarding=1"],
                ["ip", "-n", netns, "addr", "add", f"{pod_ip}/32", "dev", "eth0"],
                ["ip", "-n", netns, "link", "set", "eth0", "up"],
                ["ip", "-n", netns, "route", "add", f"{self.gateway}/32", "dev", "eth0"],
                ["ip", "-n", netns, "route", "add", "default", "via", self.gateway, "dev", "eth0"],
            ]  # fmt: skip
            self._netns[uid] = netns
            for command in commands:
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode:
                    raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")
            return netns


def netns_available() -> str | None:
    """Why per-pod network namespaces cannot be made here, or None when they can."""
    import os
    import shutil

    if shutil.which("ip") is None:
        return "no `ip` command"
    if os.geteuid() != 0:
        return "`ip netns add` needs root"
    return None
