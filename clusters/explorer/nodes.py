"""Nodes as an operator reads them: conditions, taints, allocatable against what the pods on
each node request, and live usage when the cluster runs metrics-server."""

from __future__ import annotations

from dataclasses import dataclass, field

from kubernetes.utils import parse_quantity

from clusters.choices import GPU_RESOURCE
from clusters.explorer.client import PAGE_MAX, ExplorerError, Forbidden, NotFound, connect
from clusters.explorer.kinds import KINDS, NODES
from clusters.models import Cluster

PRESSURES = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
METRICS_PATH = "/apis/metrics.k8s.io/v1beta1/nodes"
# Pods that hold their requests: finished ones do not.
HOLDING = "status.phase!=Succeeded,status.phase!=Failed"
# Summing requests reads every page; a cluster past this many pods gets a partial sum, said so.
REQUESTED_MAX_PAGES = 40


def _q(value) -> float:
    try:
        return float(parse_quantity(str(value)))
    except ValueError:
        return 0.0


@dataclass
class NodeReport:
    nodes: list[dict] = field(default_factory=list)
    requested_note: str = ""
    metrics_note: str = ""


def _pod_requests(pod: dict) -> dict[str, float]:
    spec = pod.get("spec") or {}
    total = {"cpu": 0.0, "memory": 0.0, "gpu": 0.0}
    for container in spec.get("containers") or []:
        requests = (container.get("resources") or {}).get("requests") or {}
        limits = (container.get("resources") or {}).get("limits") or {}
        total["cpu"] += _q(requests.get("cpu", 0))
        total["memory"] += _q(requests.get("memory", 0))
        # Extended resources are requested through limits (requests default to them).
        total["gpu"] += _q(requests.get(GPU_RESOURCE, limits.get(GPU_RESOURCE, 0)))
    # Init containers run one at a time before the rest: the pod holds the larger of the two.
    for container in spec.get("initContainers") or []:
        requests = (container.get("resources") or {}).get("requests") or {}
        total["cpu"] = max(total["cpu"], _q(requests.get("cpu", 0)))
        total["memory"] = max(total["memory"], _q(requests.get("memory", 0)))
    return total


def _requested(session) -> tuple[dict[str, dict[str, float]], str]:
    by_node: dict[str, dict[str, float]] = {}
    token, pages = "", 0
    while True:
        page = session.list(KINDS["pods"], None, fields=HOLDING, limit=PAGE_MAX, token=token)
        for pod in page.items:
            node = (pod.get("spec") or {}).get("nodeName")
            if not node:
                continue
            sums = by_node.setdefault(node, {"cpu": 0.0, "memory": 0.0, "gpu": 0.0})
            for key, value in _pod_requests(pod).items():
                sums[key] += value
        token, pages = page.next, pages + 1
        if not token:
            return by_node, ""
        if pages >= REQUESTED_MAX_PAGES:
            return by_node, f"Requested counts the first {pages * PAGE_MAX} pods only."


def _usage(session) -> tuple[dict[str, dict[str, float]], str]:
    # Discovery first: every identity may read it, while RBAC answers 403 before 404.
    groups = session.request("GET", "/apis").get("groups") or []
    if not any(group.get("name") == "metrics.k8s.io" for group in groups):
        return {}, "metrics-server is not installed: no live usage."
    try:
        data = session.request("GET", METRICS_PATH, verb="list", resource="nodes.metrics.k8s.io")
    except NotFound:
        return {}, "metrics-server is not installed: no live usage."
    except Forbidden:
        return {}, "The panel's service account cannot read node metrics (metrics.k8s.io)."
    except ExplorerError as exc:
        return {}, f"metrics-server did not answer: {exc.message}"
    return {
        (item.get("metadata") or {}).get("name", ""): {
            "cpu": _q((item.get("usage") or {}).get("cpu", 0)),
            "memory": _q((item.get("usage") or {}).get("memory", 0)),
        }
        for item in data.get("items") or []
    }, ""


def _percent(part: float | None, whole: float) -> int | None:
    if part is None or not whole:
        return None
    return round(100 * part / whole)


def node_report(cluster: Cluster) -> NodeReport:
    report = NodeReport()
    with connect(cluster) as session:
        nodes = session.list(NODES, None, limit=PAGE_MAX).items
        try:
            requested, report.requested_note = _requested(session)
        except Forbidden as exc:
            requested = None
            report.requested_note = f"Requested CPU, memory and GPUs are unknown: {exc.message}"
        usage, report.metrics_note = _usage(session)
    for node in nodes:
        meta, spec, status = (
            node.get("metadata") or {},
            node.get("spec") or {},
            node.get("status") or {},
        )
        name = meta.get("name", "")
        allocatable = status.get("allocatable") or {}
        alloc = {
            "cpu": _q(allocatable.get("cpu", 0)),
            "memory": _q(allocatable.get("memory", 0)),
            "gpu": _q(allocatable.get(GPU_RESOURCE, 0)),
        }
        conditions = {c.get("type"): c for c in status.get("conditions") or []}
        req = (requested or {}).get(name, {"cpu": 0.0, "memory": 0.0, "gpu": 0.0})
        used = usage.get(name)
        report.nodes.append({
            "name": name,
            "conditions": [
                {"type": t, "status": (conditions.get(t) or {}).get("status", "Unknown"),
                 "message": (conditions.get(t) or {}).get("message", ""),
                 # Ready should be True; a pressure should be False.
                 "ok": (conditions.get(t) or {}).get("status") == ("True" if t == "Ready" else "False")}
                for t in PRESSURES
            ],
            "taints": [f"{t.get('key')}={t.get('value', '')}:{t.get('effect')}" for t in spec.get("taints") or []],
            "unschedulable": bool(spec.get("unschedulable")),
            "allocatable": alloc,
            "requested": req if requested is not None else None,
            "requested_percent": {k: _percent(req[k], alloc[k]) for k in alloc} if requested is not None else {},
            "usage": used,
            "usage_percent": {k: _percent(used[k], alloc[k]) for k in used} if used else {},
        })  # fmt: skip
    return report
