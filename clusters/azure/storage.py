"""Azure File shares: storage account + share on Azure, Secret + ReadWriteMany PV + claim in the
cluster (seed 000's manifests, made for the user), and file transfer with the data-plane SDK."""

from __future__ import annotations

import base64

from azure.storage.fileshare import ExponentialRetry, ShareClient
from django.db import transaction
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from clusters import kubeconfig as kubeconfig_mod
from clusters.azure import aks, clients
from clusters.azure.clients import ServicePrincipal
from clusters.azure.models import AzureOperation, FileShare
from clusters.choices import AccessMode
from clusters.models import Cluster, Volume
from clusters.services import service_principal_of


def account_key(sp: ServicePrincipal, share: FileShare) -> str:
    keys = clients.storage(sp).storage_accounts.list_keys(share.resource_group, share.account_name)
    # Generated models are mappings, so `.keys` is the dict method: read the wire form.
    return keys.as_dict()["keys"][0]["value"]


def _interactive_retry() -> ExponentialRetry:
    """File listings, uploads and downloads answer a person waiting on a page or an API call:
    the storage SDK's own policy (15 s, then 18 s, 24 s, ... apart) would hold them for
    minutes when the endpoint is unreachable. A few quick retries, then a 502 saying why."""
    base = clients.setting("AZURE_RETRY_BASE_DELAY", 1.0)
    return ExponentialRetry(
        initial_backoff=base,
        increment_base=2 * base,
        retry_total=int(clients.setting("AZURE_STORAGE_RETRY_ATTEMPTS", 2)),
        random_jitter_range=min(1.0, base),
    )


def share_client(share: FileShare) -> ShareClient:
    sp = service_principal_of(share.credential)
    kwargs = {"connection_verify": clients.settings.AZURE_CA_BUNDLE} if clients.settings.AZURE_CA_BUNDLE else {}  # fmt: skip
    return ShareClient(
        account_url=share.file_endpoint.rstrip("/"),
        share_name=share.share_name,
        credential={"account_name": share.account_name, "account_key": account_key(sp, share)},
        retry_policy=_interactive_retry(),
        **kwargs,
    )


def run_create_share(op: AzureOperation, progress: aks.Progress) -> None:
    share = FileShare.objects.select_related("cluster", "credential").get(pk=op.params["share_id"])
    sp = service_principal_of(share.credential)
    client = clients.storage(sp)
    progress(5, "Checking the resource group")
    resources = clients.resources(sp)
    if not resources.resource_groups.check_existence(share.resource_group):
        resources.resource_groups.create_or_update(share.resource_group, {"location": share.location})  # fmt: skip
    poller = client.storage_accounts.begin_create(
        share.resource_group,
        share.account_name,
        {
            "location": share.location,
            "kind": "StorageV2",
            "sku": {"name": "Standard_LRS"},
            "tags": {"controlpanel-cluster": str(share.cluster_id)},
        },
        polling_interval=clients.poll_interval(),
    )
    account = aks.wait(poller, progress, 10, 60, f"Creating storage account {share.account_name}")
    FileShare.objects.filter(pk=share.pk).update(file_endpoint=account.primary_endpoints.file)
    progress(65, f"Creating share {share.share_name}")
    client.file_shares.create(
        share.resource_group,
        share.account_name,
        share.share_name,
        {"properties": {"shareQuota": share.quota_gb}},
    )
    progress(80, "Creating the Secret, PersistentVolume and claim in the cluster")
    _apply_manifests(share.cluster, share, account_key(sp, share))
    with transaction.atomic():
        volume, _ = Volume.objects.update_or_create(
            cluster=share.cluster,
            name=share.share_name,
            defaults={
                "claim_name": claim_name(share),
                "access_mode": AccessMode.RWX,
                "mount_path": "/data",
                "description": f"Azure File share {share.account_name}/{share.share_name}",
            },
        )
        FileShare.objects.filter(pk=share.pk).update(volume=volume)


def claim_name(share: FileShare) -> str:
    return f"{share.share_name}-claim"


def _apply_manifests(cluster: Cluster, share: FileShare, key: str) -> None:
    parsed = kubeconfig_mod.parse(cluster.credential.secrets()["kubeconfig"], cluster.credential.context or None)  # fmt: skip
    core = k8s.CoreV1Api(kubeconfig_mod.api_client(parsed))
    secret_name = f"azure-file-{share.account_name}"
    pv_name = f"{share.account_name}-{share.share_name}"
    labels = {"app.kubernetes.io/managed-by": "controlpanel", "controlpanel/cluster": str(cluster.pk)}  # fmt: skip
    size = f"{share.quota_gb}Gi"
    objects = [
        (core.create_namespaced_secret, (share.namespace,), {
            "metadata": {"name": secret_name, "labels": labels}, "type": "Opaque",
            "data": {
                "azurestorageaccountname": base64.b64encode(share.account_name.encode()).decode(),
                "azurestorageaccountkey": base64.b64encode(key.encode()).decode(),
            },
        }),
        (core.create_persistent_volume, (), {
            "metadata": {"name": pv_name, "labels": labels},
            "spec": {
                "capacity": {"storage": size}, "accessModes": ["ReadWriteMany"],
                "persistentVolumeReclaimPolicy": "Retain",
                "azureFile": {"secretName": secret_name, "secretNamespace": share.namespace, "shareName": share.share_name, "readOnly": False},  # fmt: skip
                "claimRef": {"namespace": share.namespace, "name": claim_name(share)},
            },
        }),
        (core.create_namespaced_persistent_volume_claim, (share.namespace,), {
            "metadata": {"name": claim_name(share), "labels": labels},
            "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "", "volumeName": pv_name, "resources": {"requests": {"storage": size}}},  # fmt: skip
        }),
    ]  # fmt: skip
    for create, args, body in objects:
        try:
            create(*args, body)
        except ApiException as exc:
            if exc.status != 409:  # already there from an earlier attempt: idempotent
                raise


def upload(share: FileShare, path: str, data: bytes) -> None:
    client = share_client(share)
    parts = path.strip("/").split("/")
    for depth in range(1, len(parts)):
        directory = client.get_directory_client("/".join(parts[:depth]))
        if not directory.exists():
            directory.create_directory()
    client.get_file_client("/".join(parts)).upload_file(data)


def listing(share: FileShare, directory: str = "") -> list[dict]:
    client = share_client(share).get_directory_client(directory.strip("/"))
    return [
        {"name": item["name"], "is_directory": item["is_directory"], "size": item.get("size")}
        for item in client.list_directories_and_files()
    ]


def download(share: FileShare, path: str) -> bytes:
    return share_client(share).get_file_client(path.strip("/")).download_file().readall()
