"""The AKS pages as a person uses them: the provisioning form with its preflight, the operation
page's progress, pool changes and upgrade from the cluster page, delete by typing the name."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from clusters.azure.models import AzureOperation
from clusters.models import Cluster
from tests.clusters.azure.conftest import wait_operation
from tests.conftest import wait_for

pytestmark = pytest.mark.kubernetes
HX = {"HTTP_HX_REQUEST": "true"}


def form_data(credential, **overrides) -> dict:
    return {
        "credential": credential.pk, "name": "vision-aks", "resource_group": "rg-vision",
        "location": "eastus", "kubernetes_version": "1.25.5",
        "system_vm_size": "Standard_D4s_v5", "system_count": 1, "system_autoscale": "on",
        "system_min_count": 1, "system_max_count": 3,
        "user_pools": "gpu Standard_NC4as_T4_v3 1 nvidia.com/gpu=present:NoSchedule",
        "tags": "team=vision",
    } | overrides  # fmt: skip


def token_of(kubeconfig: str) -> str:
    return re.search(r"token:\s*(\S+)", kubeconfig).group(1)


def operation_fragment(client, op_id: int) -> str:
    """Poll the fragment the operation page's htmx polls, until the row has finished."""

    def finished():
        html = client.get(f"/azure-operations/{op_id}/", **HX).content.decode()
        return html if 'data-status="succeeded"' in html or 'data-status="failed"' in html else None  # fmt: skip

    return wait_for(finished, timeout=60)


def test_the_form_shows_preflight_failures_with_their_fix(admin_client, fake_azure, azure_credential):  # fmt: skip
    """Microsoft.Compute not registered: the form is re-shown with the failed check, its fix and
    a Register providers button, and nothing is created."""
    fake_azure.providers["Microsoft.Compute"] = "NotRegistered"
    page = admin_client.get("/aks/new/")
    assert page.status_code == 200 and "Run preflight" in page.content.decode()
    versions = admin_client.get("/aks/versions/", {"credential": azure_credential.pk, "location": "eastus"}).content.decode()  # fmt: skip
    assert '<option value="1.25.5">' in versions and "1.24.9 (default)" in versions

    response = admin_client.post("/aks/new/", form_data(azure_credential))
    html = response.content.decode()
    assert response.status_code == 200
    assert "The preflight failed" in html
    failed = re.search(r'<tr class="check check-failed">(.*?)</tr>', html, re.S).group(1)
    assert "Provider Microsoft.Compute registered" in failed
    assert "Register Microsoft.Compute (the panel can do it and wait)." in failed
    assert 'name="namespaces" value="Microsoft.Compute"' in html
    assert html.count("check-ok") == 5  # credentials, three providers, the group permission
    assert not Cluster.objects.exists() and not AzureOperation.objects.exists()


def test_register_providers_from_the_preflight_shows_progress_until_registered(
    celery_worker, admin_client, fake_azure, azure_credential
):
    """The Register button queues the registration; its fragment polls to 100 %."""
    fake_azure.providers["Microsoft.Compute"] = "NotRegistered"
    checks = admin_client.post("/aks/preflight/", {"credential": azure_credential.pk, "resource_group": "rg-vision"}).content.decode()  # fmt: skip
    assert "check-failed" in checks
    started = admin_client.post("/aks/register-providers/", {"credential": azure_credential.pk, "namespaces": "Microsoft.Compute"}, **HX)  # fmt: skip
    assert 'class="progress"' in started.content.decode()
    op_id = AzureOperation.objects.get(kind="register_providers").pk
    html = operation_fragment(admin_client, op_id)
    assert 'data-status="succeeded"' in html and 'data-progress="100"' in html
    assert fake_azure.providers["Microsoft.Compute"] == "Registered"


def test_bad_pool_input_is_a_form_error_and_nothing_is_written(admin_client, fake_azure, azure_credential):  # fmt: skip
    response = admin_client.post("/aks/new/", form_data(azure_credential, user_pools="gpu Standard_NC4as_T4_v3 1 not-a-taint"))  # fmt: skip
    errors = re.search(r'data-field="user_pools">(.*?)</ul>', response.content.decode(), re.S)
    assert errors and "taints" in errors.group(1)
    assert not Cluster.objects.exists()


def test_a_cluster_made_from_the_form_is_operated_from_its_page(
    celery_worker, admin_client, fake_azure, azure_credential, kube_kubeconfig
):
    """Create -> progress to 100 and healthy; scale, upgrade from the upgrade profile; a wrong
    name refuses the delete; the right one deletes. No page shows the kubeconfig's token."""
    fake_azure.kubeconfig = kube_kubeconfig
    response = admin_client.post("/aks/new/", form_data(azure_credential))
    assert response.status_code == 302, response.content.decode()[:2000]
    op_id = int(re.search(r"/azure-operations/(\d+)/", response["Location"]).group(1))
    page = admin_client.get(response["Location"]).content.decode()
    assert 'class="progress"' in page and 'hx-trigger="every 2s"' in page
    html = operation_fragment(admin_client, op_id)
    assert 'data-status="succeeded"' in html and 'data-progress="100"' in html, html
    assert 'data-cluster-status="healthy"' in html and "hx-trigger" not in html  # polling stops
    cluster = Cluster.objects.get(name="vision-aks")

    detail = admin_client.get(f"/clusters/{cluster.pk}/").content.decode()
    assert "Azure Kubernetes Service" in detail and "Standard_NC4as_T4_v3" in detail
    assert "nvidia.com/gpu=present:NoSchedule" in detail
    upgrades = admin_client.get(f"/aks/{cluster.pk}/upgrade-versions/", **HX).content.decode()
    assert '<option value="1.26.0">' in upgrades  # the profile's upgrade from 1.25.5

    scaled = admin_client.post(f"/aks/{cluster.pk}/scale/", {"pool": "gpu", "count": 2})
    assert wait_operation(int(scaled["Location"].split("/")[-2])).status == "succeeded"
    upgraded = admin_client.post(f"/aks/{cluster.pk}/upgrade/", {"kubernetes_version": "1.26.0"})  # fmt: skip
    assert wait_operation(int(upgraded["Location"].split("/")[-2])).status == "succeeded"
    detail = admin_client.get(f"/clusters/{cluster.pk}/").content.decode()
    assert "Kubernetes 1.26.0" in detail and "Scale node pool" in detail

    pages = [detail, page, html, admin_client.get("/aks/").content.decode()]
    assert not any(token_of(kube_kubeconfig) in p for p in pages)

    refused = admin_client.post(f"/aks/{cluster.pk}/delete/", {"confirm_name": "vision"})
    assert refused.status_code == 400
    errors = re.search(r'data-field="confirm_name">(.*?)</ul>', refused.content.decode(), re.S)
    assert errors and "exact name" in errors.group(1)
    assert not AzureOperation.objects.filter(kind="delete").exists()
    deleted = admin_client.post(f"/aks/{cluster.pk}/delete/", {"confirm_name": "vision-aks"})
    assert wait_operation(int(deleted["Location"].split("/")[-2])).status == "succeeded"
    assert not Cluster.objects.filter(pk=cluster.pk).exists()


def test_pages_keep_the_apis_roles(viewer_client, operator_user, fake_azure, azure_credential):
    """Viewers read but cannot provision or preflight; operators cannot provision or delete."""
    assert viewer_client.get("/aks/").status_code == 200
    assert viewer_client.get("/aks/new/").status_code == 403
    preflight = {"credential": azure_credential.pk, "resource_group": "rg"}
    assert viewer_client.post("/aks/preflight/", preflight).status_code == 403
    operator = Client()
    operator.force_login(operator_user)
    assert operator.post("/aks/new/", form_data(azure_credential)).status_code == 403
    assert operator.post("/aks/preflight/", preflight).status_code == 200
    assert not Cluster.objects.exists()
