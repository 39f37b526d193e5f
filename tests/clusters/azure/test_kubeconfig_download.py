"""Admins download the admin or user kubeconfig of an AKS cluster, fetched from the (fake, at
protocol level) Azure Resource Manager with the genuine payloads; audited; nobody else can."""

from __future__ import annotations

import pytest
from django.test import Client

from clusters.azure.models import AksCluster
from clusters.choices import ClusterKind
from clusters.models import Cluster
from core.models import AuditEvent

ADMIN_CONFIG = (
    "apiVersion: v1\nkind: Config\nusers:\n- name: clusterAdmin\n  user: {token: admin-token-1}\n"
)
USER_CONFIG = "apiVersion: v1\nkind: Config\nusers:\n- name: clusterUser\n  user: {exec: {command: kubelogin}}\n"


@pytest.fixture
def aks_cluster(fake_azure, azure_credential):
    group = fake_azure.group_id("rg-vision")
    fake_azure.resources[group.lower()] = {"id": group, "name": "rg-vision", "location": "eastus"}
    managed = f"{group}/providers/Microsoft.ContainerService/managedClusters/vision-aks"
    fake_azure.resources[managed.lower()] = {"id": managed, "name": "vision-aks"}
    fake_azure.kubeconfig, fake_azure.user_kubeconfig = ADMIN_CONFIG, USER_CONFIG
    cluster = Cluster.objects.create(
        name="vision-aks", kind=ClusterKind.AKS, cloud_credential=azure_credential
    )
    AksCluster.objects.create(
        cluster=cluster, resource_group="rg-vision", location="eastus", azure_name="vision-aks"
    )
    return cluster


def test_admins_download_either_kubeconfig_once_audited_and_others_cannot(
    aks_cluster, fake_azure, admin_client, operator_user
):
    """The files are what Azure answered, not cached; each download is in the audit log."""
    operator_client = Client()
    operator_client.force_login(operator_user)
    page = admin_client.get(f"/clusters/{aks_cluster.pk}/").content.decode()
    assert "Download admin kubeconfig" in page
    assert (
        "Download admin kubeconfig"
        not in operator_client.get(f"/clusters/{aks_cluster.pk}/").content.decode()
    )

    admin = admin_client.post(f"/aks/{aks_cluster.pk}/kubeconfig/admin/")
    user = admin_client.post(f"/aks/{aks_cluster.pk}/kubeconfig/user/")
    assert (admin.status_code, user.status_code) == (200, 200)
    assert admin.content.decode() == ADMIN_CONFIG and user.content.decode() == USER_CONFIG
    assert admin["Cache-Control"] == "no-store"
    assert admin["Content-Disposition"] == 'attachment; filename="vision-aks-admin.kubeconfig"'
    assert len(fake_azure.requests("POST", "listClusterAdminCredential")) == 1
    assert len(fake_azure.requests("POST", "listClusterUserCredential")) == 1

    assert operator_client.post(f"/aks/{aks_cluster.pk}/kubeconfig/admin/").status_code == 403
    odd = admin_client.post(f"/aks/{aks_cluster.pk}/kubeconfig/root/")
    assert odd.status_code == 302
    events = AuditEvent.objects.filter(object_type="cluster", action="view").order_by("pk")
    assert [e.changes["kubeconfig"] for e in events] == ["admin", "user"]
    assert all("admin-token-1" not in str(e.changes) for e in events)
