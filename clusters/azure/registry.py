"""Azure Container Registries: create (an operation) or attach, and docker-registry pull
secrets in a cluster namespace (seed 002).

The registry's admin password is listed from Azure at the moment a pull secret is made and goes
straight into the Kubernetes Secret: it is never stored, returned or logged by the panel."""

from __future__ import annotations

import base64
import json
import re

from django.db import transaction
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from clusters import kubeconfig as kubeconfig_mod
from clusters.azure import aks, clients
from clusters.azure.choices import OperationKind
from clusters.azure.errors import AzureFailure
from clusters.azure.models import AzureOperation, ContainerRegistry, PullSecret
from clusters.azure.services import AzureInputError, _check_credential, _enqueue
from clusters.models import Cluster, Credential
from clusters.services import service_principal_of
from core.choices import AuditAction
from core.services import Actor, audit_record

REGISTRY_ID_RE = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<group>[^/]+)/providers/"
    r"Microsoft\.ContainerRegistry/registries/(?P<name>[^/]+)$",
    re.IGNORECASE,
)


@transaction.atomic
def registry_create(
    *,
    actor: Actor,
    credential: Credential,
    name: str,
    resource_group: str,
    location: str,
    sku: str = "Basic",
) -> AzureOperation:
    """Record the registry and queue its creation on Azure (admin user on, for pull secrets)."""
    _check_credential(credential)
    if ContainerRegistry.objects.filter(name__iexact=name).exists():
        raise AzureInputError("name", f"A registry named {name} is already known to the panel.")
    registry = ContainerRegistry.objects.create(
        name=name, credential=credential, resource_group=resource_group, location=location, sku=sku
    )
    op = AzureOperation.objects.create(
        kind=OperationKind.CREATE_REGISTRY,
        credential=credential,
        target=name,
        params={"registry_id": registry.pk},
        created_by=actor.user,
    )
    audit_record(actor=actor, action=AuditAction.CREATE, obj=registry, changes={"registry": name, "resource_group": resource_group})  # fmt: skip
    _enqueue(op)
    return op


def run_create_registry(op: AzureOperation, progress: aks.Progress) -> None:
    registry = ContainerRegistry.objects.get(pk=op.params["registry_id"])
    sp = service_principal_of(registry.credential)
    progress(5, "Checking the resource group")
    resources = clients.resources(sp)
    if not resources.resource_groups.check_existence(registry.resource_group):
        resources.resource_groups.create_or_update(registry.resource_group, {"location": registry.location})  # fmt: skip
    poller = clients.registry(sp).registries.begin_create(
        registry.resource_group,
        registry.name,
        {
            "location": registry.location,
            "sku": {"name": registry.sku},
            "admin_user_enabled": True,
            "tags": {"controlpanel-registry": str(registry.pk)},
        },
        polling_interval=clients.poll_interval(),
    )
    created = aks.wait(poller, progress, 10, 95, f"Creating registry {registry.name}")
    ContainerRegistry.objects.filter(pk=registry.pk).update(
        login_server=created.login_server or "", arm_id=created.id or ""
    )


@transaction.atomic
def registry_attach(
    *,
    actor: Actor,
    credential: Credential,
    resource_id: str = "",
    resource_group: str = "",
    name: str = "",  # fmt: skip
) -> ContainerRegistry:
    """Record an existing registry, found by its resource id or its group and name."""
    _check_credential(credential)
    if resource_id:
        match = REGISTRY_ID_RE.match(resource_id.strip())
        if not match:
            raise AzureInputError("resource_id", "Not a container registry resource id.")
        if match["sub"].lower() != credential.subscription_id.lower():
            raise AzureInputError("resource_id", "The registry is in another subscription than the credential's.")  # fmt: skip
        resource_group, name = match["group"], match["name"]
    if not (resource_group and name):
        raise AzureInputError("name", "Give the registry's resource id, or its resource group and name.")  # fmt: skip
    if ContainerRegistry.objects.filter(name__iexact=name).exists():
        raise AzureInputError("name", f"The registry {name} is already known to the panel.")
    from azure.core.exceptions import AzureError, ResourceNotFoundError

    from clusters.azure.errors import describe

    try:
        found = clients.registry(service_principal_of(credential)).registries.get(resource_group, name)  # fmt: skip
    except ResourceNotFoundError as exc:
        raise AzureInputError("name", f"No registry {name} in resource group {resource_group}.") from exc  # fmt: skip
    except AzureError as exc:
        raise AzureInputError("credential", str(describe(exc))) from exc
    registry = ContainerRegistry.objects.create(
        name=found.name,
        credential=credential,
        resource_group=resource_group,
        location=found.location or "",
        sku=found.sku.name if found.sku else "",
        login_server=found.login_server or "",
        arm_id=found.id or "",
        attached=True,
    )
    audit_record(actor=actor, action=AuditAction.CREATE, obj=registry, changes={"attached": found.id})  # fmt: skip
    return registry


def _credentials(registry: ContainerRegistry) -> tuple[str, str]:
    listed = clients.registry(
        service_principal_of(registry.credential)
    ).registries.list_credentials(registry.resource_group, registry.name)
    if not listed.passwords:
        raise AzureFailure(
            "AdminUserDisabled",
            f"Registry {registry.name} has no admin credentials.",
            f"Enable the admin user: az acr update -n {registry.name} --admin-enabled true",
        )
    return listed.username, listed.passwords[0].value


def dockerconfigjson(server: str, username: str, password: str) -> str:
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    config = {"auths": {server: {"username": username, "password": password, "auth": auth}}}
    return base64.b64encode(json.dumps(config).encode()).decode()


def pull_secret_create(
    *, actor: Actor, registry: ContainerRegistry, cluster: Cluster, namespace: str, secret_name: str
) -> PullSecret:
    """Create (or refresh) the docker-registry Secret with credentials fetched right now."""
    if not registry.login_server:
        raise AzureInputError("registry", "The registry is still being created.")
    if cluster.credential_id is None:
        raise AzureInputError("cluster", "The cluster has no kubeconfig yet.")
    username, password = _credentials(registry)
    body = {
        "metadata": {
            "name": secret_name,
            "labels": {
                "app.kubernetes.io/managed-by": "controlpanel",
                "controlpanel/registry": str(registry.pk),
            },  # fmt: skip
        },
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": dockerconfigjson(registry.login_server, username, password)},
    }
    parsed = kubeconfig_mod.parse(cluster.credential.secrets()["kubeconfig"], cluster.credential.context or None)  # fmt: skip
    core = k8s.CoreV1Api(kubeconfig_mod.api_client(parsed))
    try:
        core.create_namespaced_secret(namespace, body)
    except ApiException as exc:
        if exc.status != 409:
            raise AzureInputError("namespace", f"Kubernetes refused the Secret: {exc.status} {exc.reason}") from None  # fmt: skip
        core.replace_namespaced_secret(secret_name, namespace, body)  # refresh a rotated password
    secret, _ = PullSecret.objects.get_or_create(
        registry=registry, cluster=cluster, namespace=namespace, secret_name=secret_name
    )
    audit_record(actor=actor, action=AuditAction.CREATE, obj=secret, changes={"namespace": namespace, "secret": secret_name})  # fmt: skip
    return secret
