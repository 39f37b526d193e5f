"""Looking at a cluster: reachability, version, nodes with capacity, namespaces.

Errors are classified into what an operator can act on (unreachable server, certificate
problem, bad credentials, forbidden) with a message that never contains a secret.
"""

from __future__ import annotations

import os
import platform
import shutil
import ssl
import subprocess
from dataclasses import dataclass, field

import psutil
import urllib3
from django.conf import settings
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.utils import parse_quantity

from clusters import gpu
from clusters.choices import GPU_RESOURCE, ClusterStatus


@dataclass
class Snapshot:
    status: str
    version: str = ""
    nodes: list[dict] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    error: str = ""


class ProbeError(Exception):
    """The cluster could not be looked at; `status` is the ClusterStatus to record."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _ssl_reason(exc: BaseException) -> BaseException | None:
    seen = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError | urllib3.exceptions.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__ or getattr(seen, "reason", None)
        if seen is exc:
            break
    return None


def classify(exc: BaseException, server: str = "") -> ProbeError:
    """Turn a client exception into a ProbeError an operator can act on."""
    where = f" {server}" if server else ""
    if isinstance(exc, ApiException):
        if exc.status == 401:
            return ProbeError(
                ClusterStatus.UNAUTHORIZED,
                f"The API server{where} rejected the credentials (401 Unauthorized): the token "
                "or client certificate is wrong or expired.",
            )
        if exc.status == 403:
            return ProbeError(
                ClusterStatus.UNAUTHORIZED,
                f"The API server{where} refused access (403 Forbidden): the identity lacks "
                "permission; bind it to the panel's ClusterRole (docker/rbac/).",
            )
        return ProbeError(
            ClusterStatus.ERROR, f"The API server{where} answered {exc.status} {exc.reason}."
        )
    ssl_error = _ssl_reason(exc)
    if ssl_error is not None:
        detail = getattr(ssl_error, "verify_message", "") or type(ssl_error).__name__
        return ProbeError(
            ClusterStatus.UNREACHABLE,
            f"Certificate error talking to{where}: {detail}. The kubeconfig's "
            "certificate-authority-data does not match the server's certificate.",
        )
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        return ProbeError(
            ClusterStatus.UNREACHABLE,
            f"The API server{where} is unreachable: {_short(exc)}. Check the address and that "
            "this machine can reach it.",
        )
    raise exc


def _short(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    text = str(reason or exc)
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "connection timed out"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host name"
    return text.split(":")[-1].strip()[:200]


def node_summary(node: k8s.V1Node, gpu_requested: dict[str, int] | None = None) -> dict:
    """`gpu_requested`: GPUs held per node by running pods (None: the panel may not see them)."""
    capacity = node.status.capacity or {}
    allocatable = node.status.allocatable or {}
    conditions = {c.type: c.status for c in node.status.conditions or []}
    ready = conditions.get("Ready") == "True"
    labels = node.metadata.labels or {}
    roles = sorted(
        key.split("/", 1)[1] for key in labels if key.startswith("node-role.kubernetes.io/")
    )
    info = node.status.node_info
    return {
        "name": node.metadata.name,
        "ready": ready,
        "status": "Ready" if ready else ("NotReady" if "Ready" in conditions else "Unknown"),
        "cpu": float(parse_quantity(capacity.get("cpu", "0"))),
        "memory": int(parse_quantity(capacity.get("memory", "0"))),
        "gpu": int(parse_quantity(capacity.get(GPU_RESOURCE, "0"))),
        "gpu_allocatable": int(parse_quantity(allocatable.get(GPU_RESOURCE, "0"))),
        "gpu_requested": (
            gpu_requested.get(node.metadata.name, 0) if gpu_requested is not None else None
        ),
        "gpu_node": gpu.is_gpu_node(labels),
        "instance_type": gpu.instance_type(labels),
        "allocatable_cpu": float(parse_quantity(allocatable.get("cpu", "0"))),
        "allocatable_memory": int(parse_quantity(allocatable.get("memory", "0"))),
        "roles": roles,
        "kubelet_version": info.kubelet_version if info else "",
        "os_image": info.os_image if info else "",
        "taints": [f"{t.key}={t.value or ''}:{t.effect}" for t in node.spec.taints or []],
        "unschedulable": bool(node.spec.unschedulable),
    }


def probe_kubernetes(api: k8s.ApiClient, server: str = "") -> Snapshot:
    """Ask the API server for its version, nodes and namespaces."""
    # (connect, read): a port that accepts but never speaks TLS is given up on in seconds.
    timeout = (settings.KUBERNETES_CONNECT_TIMEOUT, settings.KUBERNETES_REQUEST_TIMEOUT)
    try:
        version = k8s.VersionApi(api).get_code(_request_timeout=timeout).git_version
        core = k8s.CoreV1Api(api)
        listed = core.list_node(_request_timeout=timeout).items
        requested = gpu.gpu_requests_by_node(core, timeout) if listed else None
        nodes = [node_summary(n, requested) for n in listed]
        namespaces = [
            ns.metadata.name for ns in core.list_namespace(_request_timeout=timeout).items
        ]
    except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise classify(exc, server) from exc
    status = ClusterStatus.HEALTHY
    if nodes and not any(n["ready"] for n in nodes):
        status = ClusterStatus.DEGRADED
    return Snapshot(status=status, version=version, nodes=nodes, namespaces=sorted(namespaces))


def _gpu_count() -> int:
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(
                ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=5, check=False
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            return 0
        return sum(1 for line in out.splitlines() if line.startswith("GPU "))
    return 0


def probe_local() -> Snapshot:
    """This machine as a one-node cluster: cores, memory and GPUs."""
    memory = psutil.virtual_memory().total
    cpu = float(os.cpu_count() or 1)
    gpus = _gpu_count()
    node = {
        "name": platform.node() or "localhost",
        "ready": True,
        "status": "Ready",
        "cpu": cpu,
        "memory": memory,
        "gpu": gpus,
        "gpu_allocatable": gpus,
        "gpu_requested": None,
        "gpu_node": False,
        "instance_type": "",
        "allocatable_cpu": cpu,
        "allocatable_memory": psutil.virtual_memory().available,
        "roles": ["local"],
        "kubelet_version": "",
        "os_image": platform.platform(),
        "taints": [],
        "unschedulable": False,
    }
    version = f"local (Python {platform.python_version()})"
    return Snapshot(status=ClusterStatus.HEALTHY, version=version, nodes=[node])
