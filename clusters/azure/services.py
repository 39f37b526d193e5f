"""Writes that start Azure work: each makes an AzureOperation row and queues it after commit."""

from __future__ import annotations

from django.db import transaction

from clusters.azure.choices import ACTIVE_STATUSES, OperationKind, OperationStatus
from clusters.azure.models import AksCluster, AzureOperation
from clusters.azure.selectors import file_share_operation
from clusters.choices import ClusterKind, ClusterStatus, CredentialKind
from clusters.models import Cluster, Credential
from core.choices import AuditAction
from core.services import Actor, audit_record


class AzureInputError(ValueError):
    """Refused input; `field` names the form/API field at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def _enqueue(op: AzureOperation) -> None:
    from clusters.azure.tasks import azure_operation_task

    transaction.on_commit(lambda: azure_operation_task.delay(op.pk))


def _check_credential(credential: Credential) -> None:
    if credential.kind != CredentialKind.AZURE:
        raise AzureInputError("credential", "Choose an Azure service principal credential.")


def _check_pools(pools: list[dict]) -> None:
    names = [p["name"] for p in pools]
    if len(set(names)) != len(names):
        raise AzureInputError("user_pools", "Node pool names must be unique.")
    for pool in pools:
        if pool.get("autoscale") and not (pool["min_count"] <= pool["count"] <= pool["max_count"]):
            raise AzureInputError(
                "system_pool" if pool.get("mode") == "System" else "user_pools",
                f"Pool {pool['name']}: count must lie between min_count and max_count.",
            )


@transaction.atomic
def aks_provision(
    *,
    actor: Actor,
    credential: Credential,
    name: str,
    resource_group: str,
    location: str,
    kubernetes_version: str = "",
    system_pool: dict,
    user_pools: list[dict] | None = None,
    tags: dict | None = None,
    namespace: str = "default",
) -> AzureOperation:
    """Record a new AKS cluster as provisioning and queue its creation."""
    _check_credential(credential)
    if Cluster.objects.filter(name=name).exists():
        raise AzureInputError("name", f"A cluster named {name} already exists.")
    pools = [{**system_pool, "mode": "System"}] + [
        {**p, "mode": "User"} for p in (user_pools or [])
    ]
    _check_pools(pools)
    cluster = Cluster.objects.create(
        name=name,
        kind=ClusterKind.AKS,
        cloud_credential=credential,
        namespace=namespace,
        status=ClusterStatus.PROVISIONING,
        created_by=actor.user,
    )
    AksCluster.objects.create(
        cluster=cluster,
        resource_group=resource_group,
        location=location,
        azure_name=name,
        dns_prefix=name[:54],
        kubernetes_version=kubernetes_version,
        node_pools=pools,
        tags=tags or {},
    )
    op = AzureOperation.objects.create(
        kind=OperationKind.CREATE,
        cluster=cluster,
        credential=credential,
        target=name,
        params={"resource_group": resource_group, "location": location},
        created_by=actor.user,
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=cluster,
        changes={"kind": "aks", "resource_group": resource_group, "location": location},
    )
    _enqueue(op)
    return op


@transaction.atomic
def aks_operation_request(
    *,
    actor: Actor,
    cluster: Cluster,
    kind: OperationKind,
    target: str = "",
    params: dict | None = None,
) -> AzureOperation:
    """Queue a change to an AKS cluster; one change at a time per cluster."""
    locked = Cluster.objects.select_for_update().get(pk=cluster.pk)
    if locked.kind != ClusterKind.AKS or not hasattr(locked, "aks"):
        raise AzureInputError("cluster", "Only AKS clusters created by the panel can be changed.")
    if locked.azure_operations.filter(status__in=ACTIVE_STATUSES).exists():
        raise AzureInputError("cluster", "Another operation is still running on this cluster.")
    pools = {p["name"]: p for p in locked.aks.node_pools}
    if kind in (OperationKind.SCALE_POOL, OperationKind.REMOVE_POOL) and target not in pools:
        raise AzureInputError("pool", f"No node pool named {target}.")
    if kind == OperationKind.REMOVE_POOL and pools[target].get("mode") == "System":
        raise AzureInputError("pool", "The system pool cannot be removed.")
    if kind == OperationKind.ADD_POOL:
        if target in pools:
            raise AzureInputError("name", f"A node pool named {target} already exists.")
        _check_pools([params or {}])
    if kind == OperationKind.SCALE_POOL:
        _check_pools([{**pools[target], **(params or {})}])
    if kind == OperationKind.DELETE:
        Cluster.objects.filter(pk=cluster.pk).update(status=ClusterStatus.DELETING)
    op = AzureOperation.objects.create(
        kind=kind,
        cluster=locked,
        credential=locked.cloud_credential,
        target=target or locked.name,
        params=params or {},
        created_by=actor.user,
    )
    audit_record(
        actor=actor,
        action=AuditAction.DELETE if kind == OperationKind.DELETE else AuditAction.UPDATE,
        obj=locked,
        changes={"operation": kind.value, "target": target, **(params or {})},
    )
    _enqueue(op)
    return op


@transaction.atomic
def providers_register_request(
    *, actor: Actor, credential: Credential, namespaces: list[str]
) -> AzureOperation:
    _check_credential(credential)
    op = AzureOperation.objects.create(
        kind=OperationKind.REGISTER_PROVIDERS,
        credential=credential,
        target=", ".join(namespaces),
        params={"namespaces": namespaces},
        created_by=actor.user,
    )
    audit_record(actor=actor, action=AuditAction.UPDATE, obj=credential, changes={"register": namespaces})  # fmt: skip
    _enqueue(op)
    return op


@transaction.atomic
def file_share_create(
    *,
    actor: Actor,
    cluster: Cluster,
    credential: Credential,
    resource_group: str,
    location: str,
    account_name: str,
    share_name: str,
    quota_gb: int = 100,
    namespace: str = "",
):
    """Record a share for `cluster` and queue: account, share, Secret + PV + claim, Volume."""
    from clusters.azure.models import FileShare

    _check_credential(credential)
    if cluster.credential_id is None:
        raise AzureInputError("cluster", "The cluster has no kubeconfig yet.")
    if FileShare.objects.filter(account_name=account_name, share_name=share_name).exists():
        raise AzureInputError("share_name", "This share is already registered.")
    share = FileShare.objects.create(
        cluster=cluster,
        credential=credential,
        resource_group=resource_group,
        location=location,
        account_name=account_name,
        share_name=share_name,
        quota_gb=quota_gb,
        namespace=namespace or cluster.namespace,
    )
    op = AzureOperation.objects.create(
        kind=OperationKind.CREATE_SHARE,
        cluster=cluster,
        credential=credential,
        target=f"{account_name}/{share_name}",
        params={"share_id": share.pk},
        created_by=actor.user,
    )
    audit_record(actor=actor, action=AuditAction.CREATE, obj=share, changes={"account": account_name, "share": share_name})  # fmt: skip
    _enqueue(op)
    return op


KUBECONFIG_KINDS = ("admin", "user")


def aks_kubeconfig_download(*, actor: Actor, cluster: Cluster, which: str) -> str:
    """The admin or user kubeconfig of an AKS cluster the panel provisioned, fetched from Azure
    now for an admin, audited; the panel keeps no copy of what it hands out."""
    from azure.core.exceptions import AzureError
    from django.core.exceptions import PermissionDenied

    from clusters.azure import aks as aks_mod
    from clusters.azure.errors import describe
    from clusters.services import service_principal_of
    from core.choices import Role
    from core.selectors import has_role

    if actor.user is None or not has_role(actor.user, Role.ADMIN):
        raise PermissionDenied("Only admins download a cluster's kubeconfig.")
    if which not in KUBECONFIG_KINDS:
        raise AzureInputError("which", "Ask for the admin or the user kubeconfig.")
    record = AksCluster.objects.filter(cluster=cluster).first()
    if cluster.kind != ClusterKind.AKS or record is None or cluster.cloud_credential is None:
        raise AzureInputError(
            "cluster", f"{cluster.name} is not an AKS cluster the panel provisioned."
        )
    try:
        text = aks_mod.cluster_kubeconfig(
            service_principal_of(cluster.cloud_credential), record, admin=which == "admin"
        )
    except AzureError as exc:
        raise AzureInputError("cluster", str(describe(exc))) from None
    audit_record(
        actor=actor, action=AuditAction.VIEW, obj=cluster,
        changes={"kubeconfig": which, "downloaded": True},
    )  # fmt: skip
    return text


@transaction.atomic
def file_share_retry(*, actor: Actor, share) -> AzureOperation:
    """Create a share whose creation failed again (each step is idempotent on Azure)."""
    last = file_share_operation(share)
    if last is not None and last.status != OperationStatus.FAILED:
        raise AzureInputError("share", "Only a share whose creation failed can be retried.")
    op = AzureOperation.objects.create(
        kind=OperationKind.CREATE_SHARE, cluster=share.cluster, credential=share.credential,
        target=str(share), params={"share_id": share.pk}, created_by=actor.user,
    )  # fmt: skip
    audit_record(actor=actor, action=AuditAction.UPDATE, obj=share, changes={"retry": "creation"})
    _enqueue(op)
    return op


@transaction.atomic
def file_share_remove(*, actor: Actor, share) -> None:
    """Forget a share whose creation failed: its record and volume go; whatever Azure already
    made (the storage account) stays, for the user to keep or delete there."""
    last = file_share_operation(share)
    if last is not None and last.status != OperationStatus.FAILED:
        raise AzureInputError("share", "Only a share whose creation failed can be removed here.")
    audit_record(actor=actor, action=AuditAction.DELETE, obj=share)
    if share.volume_id:
        share.volume.delete()
    share.delete()
