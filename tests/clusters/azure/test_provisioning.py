"""AKS provisioning end to end: preflight, provider registration, the create on a real Celery
worker through the real azure-mgmt clients, and the kubeconfig that reaches the real Kubernetes
API server of the test bed."""

from __future__ import annotations

import pytest

from clusters.models import Cluster
from tests.clusters.azure.conftest import PROVISION, wait_operation

pytestmark = pytest.mark.kubernetes


def test_preflight_shows_each_check_and_registering_fixes_the_provider(
    celery_worker, admin_api, fake_azure, azure_credential
):
    """NotRegistered Microsoft.Compute fails with a Register action; after registering, it passes."""
    fake_azure.providers["Microsoft.Compute"] = "NotRegistered"
    body = {"credential": azure_credential.pk, "resource_group": "rg-vision"}
    checks = admin_api.post("/api/aks/preflight/", body, format="json").json()
    by_name = {c["name"]: c for c in checks}
    assert by_name["Credentials valid"]["ok"]
    compute = by_name["Provider Microsoft.Compute registered"]
    assert not compute["ok"] and compute["action"] == "register:Microsoft.Compute"
    assert by_name["Provider Microsoft.ContainerService registered"]["ok"]
    assert by_name["Allowed to act on resource group rg-vision"]["ok"]

    response = admin_api.post(
        "/api/aks/register-providers/",
        {"credential": azure_credential.pk, "namespaces": ["Microsoft.Compute"]},
        format="json",
    )
    assert response.status_code == 202
    op = wait_operation(response.json()["id"])
    assert op.status == "succeeded", op.error_message
    # It went NotRegistered -> Registering -> Registered, polled by the task.
    assert len(fake_azure.requests("GET", r"/providers/Microsoft.Compute$")) >= 2
    checks = admin_api.post("/api/aks/preflight/", body, format="json").json()
    assert all(c["ok"] for c in checks), checks


def test_preflight_names_the_missing_permission(admin_api, fake_azure, azure_credential):
    """A Reader on the group: the check fails and names the role and the scope."""
    fake_azure.resources[fake_azure.group_id("rg-ro").lower()] = {"id": fake_azure.group_id("rg-ro"), "name": "rg-ro", "location": "eastus"}  # fmt: skip
    fake_azure.actions[fake_azure.client_id] = ["*/read"]
    body = {"credential": azure_credential.pk, "resource_group": "rg-ro"}
    checks = {c["name"]: c for c in admin_api.post("/api/aks/preflight/", body, format="json").json()}  # fmt: skip
    group = checks["Allowed to act on resource group rg-ro"]
    assert not group["ok"]
    assert "Microsoft.ContainerService/managedClusters/write" in group["detail"]
    assert "Contributor" in group["fix"] and "/resourceGroups/rg-ro" in group["fix"]


def test_a_provisioned_cluster_is_a_working_kubernetes_cluster(
    celery_worker, admin_api, fake_azure, azure_credential, kube_kubeconfig
):
    """Create -> resource group made, cluster PUT with GPU pool and taint, polled to 100 %,
    admin kubeconfig stored encrypted, nodes read from the real API server."""
    fake_azure.kubeconfig = kube_kubeconfig
    response = admin_api.post("/api/aks/", PROVISION | {"credential": azure_credential.pk}, format="json")  # fmt: skip
    assert response.status_code == 202, response.content
    op = wait_operation(response.json()["id"])
    assert op.status == "succeeded", (op.error_code, op.error_message)
    assert op.progress == 100 and op.finished_at

    group = fake_azure.resource(fake_azure.group_id("rg-vision"))
    assert group and group["location"] == "eastus"
    arm_id = f"{fake_azure.group_id('rg-vision')}/providers/Microsoft.ContainerService/managedClusters/vision-aks"  # fmt: skip
    created = fake_azure.resource(arm_id)
    pools = {p["name"]: p for p in admin_api.get(f"/api/aks/{op.cluster_id}/").json()["node_pools"]}
    assert pools["gpu"]["vm_size"] == "Standard_NC4as_T4_v3"
    assert created["properties"]["provisioningState"] == "Succeeded"
    assert created["tags"]["team"] == "vision"
    gpu_pool = fake_azure.resource(arm_id + "/agentPools/gpu")
    assert gpu_pool["properties"]["nodeTaints"] == ["nvidia.com/gpu=present:NoSchedule"]
    assert fake_azure.requests("GET", r"/operations/")  # Azure-AsyncOperation was polled

    cluster = Cluster.objects.get(pk=op.cluster_id)
    assert cluster.status == "healthy", cluster.last_error
    assert {n["name"] for n in cluster.nodes} >= {"standin-cpu-1", "standin-gpu-1"}
    secret_text = cluster.credential.secret_data
    assert "BEGIN" not in secret_text and kube_kubeconfig not in secret_text
    assert cluster.credential.secrets()["kubeconfig"] == kube_kubeconfig
    detail = admin_api.get(f"/api/clusters/{cluster.pk}/").content.decode()
    token = kube_kubeconfig.split("token:")[-1].split()[0] if "token:" in kube_kubeconfig else "@@"
    assert token not in detail
