"""AKS work done on a worker: create, pool changes, upgrade and delete, each an AzureOperation.

Every Azure call is an idempotent PUT or DELETE, so a task that resumes after a worker died
simply sends the same request again; Azure (and the fake) joins the operation already running
and the task polls it to the end."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable

from azure.core.exceptions import ResourceNotFoundError

from clusters.azure import clients
from clusters.azure.choices import OperationKind
from clusters.azure.clients import ServicePrincipal
from clusters.azure.models import AksCluster, AzureOperation

logger = logging.getLogger(__name__)
Progress = Callable[[int, str], None]


def pool_body(pool: dict, version: str = "") -> dict:
    """ARM agent pool properties from the panel's pool spec."""
    body: dict = {
        "name": pool["name"],
        "mode": pool.get("mode", "User"),
        "vmSize": pool["vm_size"],
        "count": pool["count"],
        "osType": "Linux",
        "type": "VirtualMachineScaleSets",
    }
    if pool.get("autoscale"):
        body |= {"enableAutoScaling": True, "minCount": pool["min_count"], "maxCount": pool["max_count"]}  # fmt: skip
    if pool.get("taints"):
        body["nodeTaints"] = list(pool["taints"])
    if pool.get("labels"):
        body["nodeLabels"] = dict(pool["labels"])
    if version:
        body["orchestratorVersion"] = version
    return body


def cluster_body(aks: AksCluster) -> dict:
    properties = {
        "dnsPrefix": aks.dns_prefix or aks.azure_name,
        "enableRBAC": True,
        "agentPoolProfiles": [pool_body(p) for p in aks.node_pools],
    }
    if aks.kubernetes_version:
        properties["kubernetesVersion"] = aks.kubernetes_version
    tags = {**aks.tags, "controlpanel-cluster": str(aks.cluster_id)}
    return {
        "location": aks.location,
        "tags": tags,
        "identity": {"type": "SystemAssigned"},
        "properties": properties,
    }


def _percent(poller) -> int | None:
    """percentComplete of the last Azure-AsyncOperation status, when Azure sent one."""
    response = getattr(poller.polling_method(), "_pipeline_response", None)
    try:
        value = response.http_response.json().get("percentComplete") if response else None
    except ValueError:
        return None
    return int(value) if isinstance(value, int | float) else None


def wait(poller, progress: Progress, low: int, high: int, step: str):
    """Poll to the end, reporting progress between `low` and `high` percent."""
    progress(low, step)
    while not poller.done():
        poller.wait(timeout=max(clients.poll_interval() * 2, 0.05))
        percent = _percent(poller)
        if percent is not None:
            progress(low + (high - low) * percent // 100, step)
    result = poller.result()  # raises HttpResponseError when the operation Failed
    progress(high, step)
    return result


def ensure_group(sp: ServicePrincipal, aks: AksCluster) -> bool:
    """Create the resource group when missing; True when it was created."""
    client = clients.resources(sp)
    if client.resource_groups.check_existence(aks.resource_group):
        return False
    client.resource_groups.create_or_update(
        aks.resource_group, {"location": aks.location, "tags": {"created-by": "controlpanel"}}
    )
    return True


def create(sp: ServicePrincipal, aks: AksCluster, progress: Progress) -> str:
    """Create (or join the running create of) the cluster; returns the admin kubeconfig."""
    progress(2, "Checking the resource group")
    if ensure_group(sp, aks):
        progress(5, f"Created resource group {aks.resource_group}")
    client = clients.containerservice(sp)
    poller = client.managed_clusters.begin_create_or_update(
        aks.resource_group,
        aks.azure_name,
        cluster_body(aks),
        polling_interval=clients.poll_interval(),
    )
    result = wait(poller, progress, 10, 90, "Creating the AKS cluster")
    AksCluster.objects.filter(pk=aks.pk).update(
        arm_id=result.id or "",
        fqdn=result.fqdn or "",
        provisioning_state=result.provisioning_state or "",
        kubernetes_version=result.current_kubernetes_version or aks.kubernetes_version,
    )
    progress(92, "Fetching the admin kubeconfig")
    return admin_kubeconfig(sp, aks)


def admin_kubeconfig(sp: ServicePrincipal, aks: AksCluster) -> str:
    return cluster_kubeconfig(sp, aks, admin=True)


def cluster_kubeconfig(sp: ServicePrincipal, aks: AksCluster, *, admin: bool) -> str:
    """The cluster's admin kubeconfig (cluster-admin, local accounts) or its user kubeconfig
    (signs in with Microsoft Entra ID), fetched from Azure now."""
    client = clients.containerservice(sp)
    fetch = (
        client.managed_clusters.list_cluster_admin_credentials
        if admin
        else client.managed_clusters.list_cluster_user_credentials
    )
    value = fetch(aks.resource_group, aks.azure_name).kubeconfigs[0].value
    # The SDK decodes the base64 `value` to bytes; older versions hand back the base64 text.
    raw = bytes(value) if isinstance(value, bytes | bytearray) else base64.b64decode(value)
    return raw.decode()


def put_pool(sp: ServicePrincipal, aks: AksCluster, pool: dict, progress: Progress, step: str):
    client = clients.containerservice(sp)
    body = pool_body(pool)
    name = body.pop("name")
    poller = client.agent_pools.begin_create_or_update(
        aks.resource_group,
        aks.azure_name,
        name,
        {"properties": body},
        polling_interval=clients.poll_interval(),
    )
    return wait(poller, progress, 5, 95, step)


def remove_pool(sp: ServicePrincipal, aks: AksCluster, name: str, progress: Progress) -> None:
    client = clients.containerservice(sp)
    poller = client.agent_pools.begin_delete(
        aks.resource_group, aks.azure_name, name, polling_interval=clients.poll_interval()
    )
    wait(poller, progress, 5, 95, f"Removing pool {name}")


def upgrade(sp: ServicePrincipal, aks: AksCluster, version: str, progress: Progress):
    client = clients.containerservice(sp)
    current = client.managed_clusters.get(aks.resource_group, aks.azure_name)
    body = current.as_dict()
    body["properties"]["kubernetesVersion"] = version
    for pool in body["properties"].get("agentPoolProfiles", []):
        pool["orchestratorVersion"] = version
    poller = client.managed_clusters.begin_create_or_update(
        aks.resource_group, aks.azure_name, body, polling_interval=clients.poll_interval()
    )
    return wait(poller, progress, 5, 95, f"Upgrading to Kubernetes {version}")


def delete(sp: ServicePrincipal, aks: AksCluster, progress: Progress) -> None:
    client = clients.containerservice(sp)
    try:
        poller = client.managed_clusters.begin_delete(
            aks.resource_group, aks.azure_name, polling_interval=clients.poll_interval()
        )
    except ResourceNotFoundError:
        return  # already gone: deleting is done
    wait(poller, progress, 5, 95, "Deleting the AKS cluster")


def region_name(text: str) -> str:
    """Azure's name of a region from what a person types: "West Europe" -> "westeurope"."""
    return re.sub(r"[\s_-]+", "", text.strip().lower())


def regions(
    sp: ServicePrincipal,
    namespace: str = "Microsoft.ContainerService",
    resource_type: str = "managedClusters",
) -> list[tuple[str, str]]:
    """(name, display name) of the regions where the provider offers the resource type, from
    the provider's resource-type locations (display names such as "West US")."""
    provider = clients.resources(sp).providers.get(namespace)
    types = provider.resource_types or []
    chosen = [t for t in types if (t.resource_type or "").lower() == resource_type.lower()] or types
    names: dict[str, str] = {}
    for entry in chosen:
        for display in entry.locations or []:
            names.setdefault(region_name(display), display)
    return sorted(names.items(), key=lambda item: item[1])


def kubernetes_versions(sp: ServicePrincipal, location: str) -> list[dict]:
    """The subscription's available versions in a region, newest first."""
    client = clients.containerservice(sp)
    listed = client.managed_clusters.list_kubernetes_versions(location)
    # Generated models are mappings, so `.values` is the dict method: read the wire form.
    versions = []
    for minor in listed.as_dict().get("values") or []:
        for patch in sorted(minor.get("patchVersions") or {}, reverse=True):
            versions.append(
                {
                    "version": patch,
                    "default": bool(minor.get("isDefault")),
                    "preview": bool(minor.get("isPreview")),
                }  # fmt: skip
            )
    return sorted(versions, key=lambda v: [int(p) for p in v["version"].split(".")], reverse=True)


def upgrade_versions(sp: ServicePrincipal, aks: AksCluster) -> list[dict]:
    """Versions the control plane may move to, from the cluster's upgrade profile."""
    client = clients.containerservice(sp)
    profile = client.managed_clusters.get_upgrade_profile(aks.resource_group, aks.azure_name)
    upgrades = profile.control_plane_profile.upgrades or []
    found = [
        {"version": u.kubernetes_version, "preview": bool(u.is_preview)}
        for u in upgrades
        if u.kubernetes_version
    ]
    return sorted(found, key=lambda v: [int(p) for p in v["version"].split(".")], reverse=True)


def describe_operation(op: AzureOperation) -> str:
    if op.kind == OperationKind.SCALE_POOL:
        return f"Scale pool {op.target}"
    return op.get_kind_display()
