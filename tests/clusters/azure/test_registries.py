"""Container registries: create through the fake ARM (an operation), attach an existing one by
resource id, and docker-registry pull secrets made on the real API server with credentials
fetched at that moment; the password is in no response or page."""

from __future__ import annotations

import base64
import json

import pytest
from kubernetes import client as k8s

from clusters.azure.models import ContainerRegistry, PullSecret
from clusters.services import cluster_import
from core.services import SYSTEM
from tests.clusters.azure.conftest import wait_operation

REGISTRY = {"mode": "create", "name": "visionacr01", "resource_group": "rg-acr", "location": "eastus", "sku": "Basic"}  # fmt: skip


def _created_registry(api, credential) -> ContainerRegistry:
    response = api.post("/api/registries/", REGISTRY | {"credential": credential.pk}, format="json")  # fmt: skip
    assert response.status_code == 202, response.content
    op = wait_operation(response.json()["id"])
    assert op.status == "succeeded", op.error_message
    return ContainerRegistry.objects.get(name="visionacr01")


def test_a_created_registry_has_its_login_server(celery_worker, admin_api, fake_azure, azure_credential):  # fmt: skip
    registry = _created_registry(admin_api, azure_credential)
    assert registry.login_server == "visionacr01.azurecr.io" and not registry.attached
    created = fake_azure.resource(registry.arm_id)
    assert created["properties"]["adminUserEnabled"] is True
    assert created["properties"]["provisioningState"] == "Succeeded"
    shown = admin_api.get(f"/api/registries/{registry.pk}/").json()
    assert shown["login_server"] == "visionacr01.azurecr.io"


def test_an_existing_registry_is_attached_by_resource_id(admin_api, fake_azure, azure_credential):
    """Attach finds it in the subscription; an id of another subscription names the field."""
    arm_id = f"{fake_azure.group_id('rg-shared')}/providers/Microsoft.ContainerRegistry/registries/sharedacr"  # fmt: skip
    fake_azure.resources[fake_azure.group_id("rg-shared").lower()] = {"id": fake_azure.group_id("rg-shared"), "name": "rg-shared", "location": "eastus"}  # fmt: skip
    fake_azure.resources[arm_id.lower()] = {"id": arm_id, "name": "sharedacr", "location": "eastus", "sku": {"name": "Standard"}, "properties": {"loginServer": "sharedacr.azurecr.io", "adminUserEnabled": True}, "_password": "p"}  # fmt: skip
    body = {"mode": "attach", "credential": azure_credential.pk}
    wrong = admin_api.post("/api/registries/", body | {"resource_id": arm_id.replace(fake_azure.subscription_id, "11111111-0000-0000-0000-000000000000")}, format="json")  # fmt: skip
    assert wrong.status_code == 400 and "resource_id" in wrong.json()["error"]["fields"]
    missing = admin_api.post("/api/registries/", body | {"resource_group": "rg-shared", "name": "nosuchacr"}, format="json")  # fmt: skip
    assert missing.status_code == 400 and "name" in missing.json()["error"]["fields"]
    attached = admin_api.post("/api/registries/", body | {"resource_id": arm_id}, format="json")
    assert attached.status_code == 201, attached.content
    assert attached.json()["login_server"] == "sharedacr.azurecr.io" and attached.json()["attached"]  # fmt: skip


@pytest.mark.kubernetes
def test_a_pull_secret_is_made_in_the_namespace_with_fresh_credentials(
    celery_worker, admin_api, operator_client, fake_azure, azure_credential, kube_kubeconfig, kube_admin_api, kube_namespace
):  # fmt: skip
    """API and page: a kubernetes.io/dockerconfigjson Secret whose auth is the registry's current
    admin password; re-creating it after a rotation refreshes it; the password is never shown."""
    registry = _created_registry(admin_api, azure_credential)
    cluster = cluster_import(actor=SYSTEM, name="gpu-runner", kubeconfig=kube_kubeconfig, namespace=kube_namespace.name)  # fmt: skip
    body = {"cluster": cluster.pk, "namespace": kube_namespace.name, "secret_name": "acr-pull"}
    response = admin_api.post(f"/api/registries/{registry.pk}/pull-secrets/", body, format="json")
    assert response.status_code == 201, response.content
    password = fake_azure.resource(registry.arm_id)["_password"]
    core = k8s.CoreV1Api(kube_admin_api)
    secret = core.read_namespaced_secret("acr-pull", kube_namespace.name)
    assert secret.type == "kubernetes.io/dockerconfigjson"
    auths = json.loads(base64.b64decode(secret.data[".dockerconfigjson"]))["auths"]
    entry = auths["visionacr01.azurecr.io"]
    assert base64.b64decode(entry["auth"]).decode() == f"visionacr01:{password}"

    fake_azure.resources[registry.arm_id.lower()]["_password"] = "rotated-Password-2"
    page = operator_client.post(f"/registries/{registry.pk}/", body)
    assert page.status_code == 302
    secret = core.read_namespaced_secret("acr-pull", kube_namespace.name)
    auths = json.loads(base64.b64decode(secret.data[".dockerconfigjson"]))["auths"]
    assert auths["visionacr01.azurecr.io"]["password"] == "rotated-Password-2"
    assert PullSecret.objects.filter(registry=registry, secret_name="acr-pull").count() == 1

    shown = [
        response.content.decode(),
        admin_api.get(f"/api/registries/{registry.pk}/pull-secrets/").content.decode(),
        admin_api.get(f"/api/registries/{registry.pk}/").content.decode(),
        operator_client.get(f"/registries/{registry.pk}/").content.decode(),
        operator_client.get("/registries/").content.decode(),
    ]
    assert "acr-pull" in shown[3]
    assert not any(p in text for text in shown for p in (password, "rotated-Password-2"))


def test_registry_forms_name_the_field_and_keep_roles(operator_client, fake_azure, azure_credential):  # fmt: skip
    """Operators cannot create registries (admin, like the API)."""
    response = operator_client.post("/registries/", {"mode": "create", "credential": azure_credential.pk})  # fmt: skip
    assert response.status_code == 403
    assert not ContainerRegistry.objects.exists()
