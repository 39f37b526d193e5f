"""What each kind of AzureOperation does, and what the panel records when it is done."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from clusters import services as cluster_services
from clusters.azure import aks
from clusters.azure.choices import OperationKind
from clusters.azure.models import AksCluster, AzureOperation
from clusters.azure.operations import aks_of
from clusters.choices import ConnectionTestStatus, CredentialKind
from clusters.kubeconfig import parse
from clusters.models import Cluster, Credential

Runner = Callable[[AzureOperation, aks.Progress], None]


def _sp(op: AzureOperation):
    return cluster_services.service_principal_of(op.credential)


def run_create(op: AzureOperation, progress: aks.Progress) -> None:
    spec = aks_of(op)
    kubeconfig = aks.create(_sp(op), spec, progress)
    progress(95, "Connecting to the new cluster")
    store_kubeconfig(spec.cluster, kubeconfig)


def store_kubeconfig(cluster: Cluster, kubeconfig: str) -> None:
    """Keep the admin kubeconfig encrypted and make the cluster a working Kubernetes cluster."""
    parsed = parse(kubeconfig)
    with transaction.atomic():
        credential = cluster.credential or Credential(
            name=cluster_services._unique_credential_name(f"{cluster.name}-admin-kubeconfig"),
            kind=CredentialKind.KUBECONFIG,
            description=f"AKS admin kubeconfig of cluster {cluster.name}",
        )
        credential.context, credential.server = parsed.context, parsed.server
        credential.secret_data = cluster_services._encrypt_secrets({"kubeconfig": kubeconfig})
        credential.test_status = ConnectionTestStatus.NEVER
        credential.save()
        Cluster.objects.filter(pk=cluster.pk).update(credential=credential)
    cluster.refresh_from_db()
    snapshot = cluster_services.cluster_snapshot(cluster)
    Cluster.objects.filter(pk=cluster.pk).update(
        status=snapshot.status,
        last_error=snapshot.error,
        version=snapshot.version,
        nodes=snapshot.nodes,
        namespaces=snapshot.namespaces,
        checked_at=timezone.now(),
    )


def _pools(op: AzureOperation) -> tuple[AksCluster, list[dict]]:
    spec = aks_of(op)
    return spec, [dict(p) for p in spec.node_pools]


def run_scale_pool(op: AzureOperation, progress: aks.Progress) -> None:
    spec, pools = _pools(op)
    pool = next(p for p in pools if p["name"] == op.target)
    pool.update(op.params)
    aks.put_pool(_sp(op), spec, pool, progress, f"Scaling pool {op.target}")
    AksCluster.objects.filter(pk=spec.pk).update(node_pools=pools)


def run_add_pool(op: AzureOperation, progress: aks.Progress) -> None:
    spec, pools = _pools(op)
    aks.put_pool(_sp(op), spec, op.params, progress, f"Adding pool {op.target}")
    pools = [p for p in pools if p["name"] != op.target] + [op.params]
    AksCluster.objects.filter(pk=spec.pk).update(node_pools=pools)


def run_remove_pool(op: AzureOperation, progress: aks.Progress) -> None:
    spec, pools = _pools(op)
    aks.remove_pool(_sp(op), spec, op.target, progress)
    AksCluster.objects.filter(pk=spec.pk).update(
        node_pools=[p for p in pools if p["name"] != op.target]
    )


def run_upgrade(op: AzureOperation, progress: aks.Progress) -> None:
    spec = aks_of(op)
    version = op.params["kubernetes_version"]
    result = aks.upgrade(_sp(op), spec, version, progress)
    AksCluster.objects.filter(pk=spec.pk).update(
        kubernetes_version=result.current_kubernetes_version or version
    )
    cluster_services.cluster_refresh(cluster_id=spec.cluster_id)


def run_delete(op: AzureOperation, progress: aks.Progress) -> None:
    spec = aks_of(op)
    aks.delete(_sp(op), spec, progress)
    cluster = spec.cluster
    credential = cluster.credential
    with transaction.atomic():
        cluster.delete()  # the operation row keeps its history (cluster SET_NULL)
        if credential is not None and not credential.clusters.exists():
            credential.delete()


def run_register_providers(op: AzureOperation, progress: aks.Progress) -> None:
    from clusters.azure.clients import setting
    from clusters.azure.preflight import register_providers

    register_providers(
        _sp(op),
        list(op.params["namespaces"]),
        progress,
        timeout=setting("AZURE_REGISTRATION_TIMEOUT", 900),
    )


def _storage(op, progress):
    from clusters.azure.storage import run_create_share

    run_create_share(op, progress)


def _registry(op, progress):
    from clusters.azure.registry import run_create_registry

    run_create_registry(op, progress)


RUNNERS: dict[OperationKind, Runner] = {
    OperationKind.CREATE: run_create,
    OperationKind.SCALE_POOL: run_scale_pool,
    OperationKind.ADD_POOL: run_add_pool,
    OperationKind.REMOVE_POOL: run_remove_pool,
    OperationKind.UPGRADE: run_upgrade,
    OperationKind.DELETE: run_delete,
    OperationKind.REGISTER_PROVIDERS: run_register_providers,
    OperationKind.CREATE_SHARE: _storage,
    OperationKind.CREATE_REGISTRY: _registry,
}
