"""GPUs on a cluster: which nodes are GPU nodes, what they report, and the NVIDIA device plugin.

A node advertises `nvidia.com/gpu` only once the NVIDIA device plugin runs on it; an AKS N-series
node or a node labelled as having NVIDIA GPUs without that capacity needs the plugin installed
(the workshop's "in some scenarios you might not see GPU resources under Capacity"). The plugin's
DaemonSet ships with the panel (addons/nvidia-device-plugin/, copied unchanged from NVIDIA's
repository with its licence) and is applied through the official client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.utils import parse_quantity

from clusters.azure.models import AksCluster
from clusters.choices import GPU_RESOURCE, ClusterKind

# Labels that say "this node has NVIDIA GPUs" (the test bed's, AKS's, NVIDIA's feature discovery).
GPU_NODE_LABELS = {
    "accelerator": "nvidia",
    "kubernetes.azure.com/accelerator": "nvidia",
    "nvidia.com/gpu.present": "true",
}
INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
# Azure's N-series sizes carry NVIDIA GPUs: NC, ND, NV (NG is AMD; not matched).
N_SERIES = re.compile(r"^Standard_N[CDV]", re.IGNORECASE)
NVIDIA_DRIVER_PATH = "/usr/local/nvidia"
# The named Pod Security exception the GPU template's driver mount needs (an admin allows it).
NVIDIA_EXEMPTION = {
    "name": "nvidia-drivers",
    "path": NVIDIA_DRIVER_PATH,
    "reason": "NVIDIA driver libraries of the GPU nodes, mounted read-only by GPU jobs",
}
ADDON_DIR = Path(__file__).resolve().parent / "addons" / "nvidia-device-plugin"
DEVICE_PLUGIN_FILE = ADDON_DIR / "nvidia-device-plugin.yml"
DEVICE_PLUGIN_SOURCE = (
    "NVIDIA/k8s-device-plugin v0.20.0 (commit 1b826acc6af3079d8923bac395c3124b8861a9a6), "
    "deployments/static/nvidia-device-plugin.yml"
)


def is_n_series(vm_size: str) -> bool:
    return bool(N_SERIES.match(vm_size or ""))


def instance_type(labels: dict) -> str:
    return next((labels[key] for key in INSTANCE_TYPE_LABELS if labels.get(key)), "")


def is_gpu_node(labels: dict) -> bool:
    """Labelled as having NVIDIA GPUs, or of an N-series size."""
    if any(labels.get(key, "").lower() == value for key, value in GPU_NODE_LABELS.items()):
        return True
    return is_n_series(instance_type(labels))


def pod_gpu_requests(pod) -> int:
    """GPUs a pod holds: extended resources are requested by their limit (requests default to
    it and may not differ)."""
    total = 0
    for container in pod.spec.containers or []:
        resources = container.resources
        if resources is None:
            continue
        amount = (resources.limits or {}).get(GPU_RESOURCE) or (resources.requests or {}).get(
            GPU_RESOURCE
        )
        if amount:
            total += int(parse_quantity(amount))
    return total


def gpu_requests_by_node(core: k8s.CoreV1Api, timeout) -> dict[str, int] | None:
    """GPUs requested by the pods running or starting on each node; None when the panel's
    identity may not list pods cluster-wide (the optional role in docker/rbac/ grants it)."""
    try:
        pods = core.list_pod_for_all_namespaces(
            field_selector="status.phase!=Succeeded,status.phase!=Failed", _request_timeout=timeout
        ).items
    except ApiException as exc:
        if exc.status == 403:
            return None
        raise
    requested: dict[str, int] = {}
    for pod in pods:
        if pod.spec.node_name:
            count = pod_gpu_requests(pod)
            if count:
                requested[pod.spec.node_name] = requested.get(pod.spec.node_name, 0) + count
    return requested


@dataclass
class GpuReadiness:
    """What a cluster's last snapshot says about running GPU jobs there."""

    capacity: int = 0
    known: bool = False  # nodes have been looked at
    missing_plugin: list[str] = field(default_factory=list)  # GPU nodes without the resource
    scaling_pools: list[str] = field(default_factory=list)  # GPU pools that scale up from zero
    instance_n_series: bool = False  # some node is an N-series size (the driver mount is needed)


def readiness(cluster) -> GpuReadiness:
    result = GpuReadiness(known=bool(cluster.nodes))
    for node in cluster.nodes or []:
        result.capacity += int(node.get("gpu") or 0)
        if node.get("gpu_node") and not node.get("gpu"):
            result.missing_plugin.append(node["name"])
        if is_n_series(node.get("instance_type", "")):
            result.instance_n_series = True
    aks = None
    if cluster.kind == ClusterKind.AKS:
        aks = AksCluster.objects.filter(cluster=cluster).first()
    for pool in (aks.node_pools if aks is not None else []) or []:
        if is_n_series(pool.get("vm_size", "")):
            result.instance_n_series = True
            if pool.get("autoscale") and int(pool.get("max_count") or 0) > 0:
                result.scaling_pools.append(f"{pool.get('name')} ({pool.get('vm_size')})")
    return result


def refusal(cluster, ready: GpuReadiness) -> str | None:
    """Why a GPU job cannot run on `cluster` now, as what to do; None when it can (or waits for
    a GPU pool to scale up)."""
    if cluster.is_local or not ready.known or ready.capacity or ready.scaling_pools:
        return None
    if ready.missing_plugin:
        return (
            f"No node of {cluster.name} reports {GPU_RESOURCE}, although "
            f"{', '.join(ready.missing_plugin)} {'is a GPU node' if len(ready.missing_plugin) == 1 else 'are GPU nodes'}"
            ": the NVIDIA device plugin is missing. An admin installs it from the cluster's page "
            "(Install the NVIDIA device plugin); then run the job again."
        )
    return (
        f"No node of {cluster.name} reports {GPU_RESOURCE}: add a GPU node pool (an N-series "
        "size such as Standard_NC4as_T4_v3) or choose a cluster with GPUs. If its nodes have "
        "GPUs, install the NVIDIA device plugin from the cluster's page and check the cluster "
        "again."
    )


def waiting_note(cluster, ready: GpuReadiness) -> str | None:
    """The job is accepted but no node has a GPU yet: an autoscaled pool adds one."""
    if cluster.is_local or ready.capacity or not ready.scaling_pools:
        return None
    return (
        f"No node of {cluster.name} has a GPU now; the GPU pool {', '.join(ready.scaling_pools)} "
        "scales up from zero: the job waits for a node (several minutes)."
    )


def driver_mount_default(cluster) -> bool:
    """AKS N-series pools (the workshop's clusters) need the driver folder mounted."""
    return readiness(cluster).instance_n_series


# -- the device plugin --------------------------------------------------------------------------
def device_plugin_manifest() -> dict:
    return yaml.safe_load(DEVICE_PLUGIN_FILE.read_text())


def device_plugin_version(manifest: dict | None = None) -> str:
    manifest = manifest or device_plugin_manifest()
    image = manifest["spec"]["template"]["spec"]["containers"][0]["image"]
    return image.rsplit(":", 1)[-1]


def install_device_plugin(api: k8s.ApiClient) -> str:
    """Create the DaemonSet, or bring it to the shipped version; "created", "updated" or
    "unchanged" (installing twice changes nothing). Raises ApiException."""
    manifest = device_plugin_manifest()
    namespace = manifest["metadata"]["namespace"]
    name = manifest["metadata"]["name"]
    apps = k8s.AppsV1Api(api)
    try:
        current = apps.read_namespaced_daemon_set(name, namespace)
    except ApiException as exc:
        if exc.status != 404:
            raise
        apps.create_namespaced_daemon_set(namespace, manifest, _preload_content=False)
        return "created"
    images = [c.image for c in current.spec.template.spec.containers or []]
    wanted = [c["image"] for c in manifest["spec"]["template"]["spec"]["containers"]]
    if images == wanted:
        return "unchanged"
    apps.replace_namespaced_daemon_set(
        name, namespace, {**manifest, "metadata": {**manifest["metadata"],
                                                   "resourceVersion": current.metadata.resource_version}},
        _preload_content=False,
    )  # fmt: skip
    return "updated"


def device_plugin_installed(api: k8s.ApiClient) -> bool | None:
    """Whether the DaemonSet exists; None when the panel may not look."""
    manifest = device_plugin_manifest()
    try:
        k8s.AppsV1Api(api).read_namespaced_daemon_set(
            manifest["metadata"]["name"], manifest["metadata"]["namespace"]
        )
    except ApiException as exc:
        if exc.status == 404:
            return False
        if exc.status == 403:
            return None
        raise
    return True
