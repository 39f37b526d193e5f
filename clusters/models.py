"""Cloud credentials and cluster records."""

from __future__ import annotations

import json

from django.conf import settings
from django.db import models

from clusters.choices import (
    AccessMode,
    ClusterKind,
    ClusterStatus,
    ConnectionTestStatus,
    CredentialKind,
    PodSecurityLevel,
)
from core.crypto import EncryptedTextField, decrypt


class Credential(models.Model):
    """A cloud credential. Secret values are encrypted at rest and never leave the server."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=CredentialKind.choices)
    description = models.CharField(max_length=300, blank=True)
    # Azure service principal: public identifiers (the client secret is in `secret_data`).
    tenant_id = models.CharField(max_length=64, blank=True)
    client_id = models.CharField(max_length=64, blank=True)
    subscription_id = models.CharField(max_length=64, blank=True)
    # Kubeconfig: the chosen context and the server it points at (public).
    context = models.CharField(max_length=253, blank=True)
    server = models.CharField(max_length=500, blank=True)
    secret_data = EncryptedTextField(blank=True, help_text="Fernet ciphertext of a JSON object.")
    test_status = models.CharField(
        max_length=16, choices=ConnectionTestStatus.choices, default=ConnectionTestStatus.NEVER
    )
    test_message = models.TextField(blank=True)
    tested_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def secrets(self) -> dict[str, str]:
        """The decrypted secret values. Call only where a client is built."""
        return json.loads(decrypt(self.secret_data)) if self.secret_data else {}


class Cluster(models.Model):
    """A place workloads run: this machine, an imported Kubernetes cluster or an AKS cluster."""

    name = models.CharField(max_length=63, unique=True)
    kind = models.CharField(max_length=20, choices=ClusterKind.choices)
    description = models.CharField(max_length=300, blank=True)
    credential = models.ForeignKey(
        Credential,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="clusters",
        help_text="The kubeconfig used to reach the Kubernetes API.",
    )
    cloud_credential = models.ForeignKey(
        Credential,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="managed_clusters",
        help_text="The Azure service principal that manages an AKS cluster.",
    )
    namespace = models.CharField(
        max_length=63, default="default", help_text="Namespace the panel runs workloads in."
    )
    status = models.CharField(
        max_length=16, choices=ClusterStatus.choices, default=ClusterStatus.UNKNOWN
    )
    version = models.CharField(max_length=50, blank=True)
    last_error = models.TextField(blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    nodes = models.JSONField(default=list, blank=True)
    namespaces = models.JSONField(default=list, blank=True)
    pod_security_level = models.CharField(
        max_length=16,
        choices=PodSecurityLevel.choices,
        default=PodSecurityLevel.BASELINE,
        help_text="The Pod Security Standards level every pod the panel creates here must meet.",
    )
    pod_security_exemptions = models.JSONField(
        default=list,
        blank=True,
        help_text="Named read-only hostPath folders allowed beside the level: "
        '[{"name", "path", "reason"}].',
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_local(self) -> bool:
        return self.kind == ClusterKind.LOCAL

    @property
    def is_in_cluster(self) -> bool:
        """The cluster the panel itself runs in (reached through its ServiceAccount)."""
        return self.kind == ClusterKind.IN_CLUSTER

    def capacity(self) -> dict[str, float]:
        """Sum of node capacity: cpu cores, memory bytes, GPUs, and ready node count."""
        total = {"cpu": 0.0, "memory": 0, "gpu": 0, "nodes": len(self.nodes), "ready": 0}
        for node in self.nodes:
            total["cpu"] += node.get("cpu", 0)
            total["memory"] += node.get("memory", 0)
            total["gpu"] += node.get("gpu", 0)
            total["ready"] += 1 if node.get("ready") else 0
        return total


class Volume(models.Model):
    """Storage a workload can mount: a PersistentVolumeClaim on Kubernetes, a folder under
    LOCAL_DATA_ROOT on the local cluster."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="volumes")
    name = models.CharField(max_length=63)
    claim_name = models.CharField(
        max_length=253, blank=True, help_text="PersistentVolumeClaim name (Kubernetes clusters)."
    )
    access_mode = models.CharField(
        max_length=20, choices=AccessMode.choices, default=AccessMode.RWX
    )
    mount_path = models.CharField(max_length=300, default="/data")
    local_path = models.CharField(
        max_length=500,
        blank=True,
        help_text="Local cluster: folder (relative to LOCAL_DATA_ROOT, or absolute).",
    )
    description = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["cluster", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "name"], name="unique_volume_name_per_cluster"
            )
        ]

    def __str__(self) -> str:
        return f"{self.cluster}/{self.name}"


class ClusterHealthCheck(models.Model):
    """One periodic health check's result, kept for the cluster's health history chart."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="health_checks")
    checked_at = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=16, choices=ClusterStatus.choices)
    nodes = models.PositiveIntegerField(default=0)
    ready_nodes = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="How long the API server took to answer the check."
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["cluster", "-checked_at"]
        indexes = [models.Index(fields=["cluster", "-checked_at"], name="health_cluster_time")]

    def __str__(self) -> str:
        return f"{self.cluster} {self.status} at {self.checked_at:%Y-%m-%d %H:%M}"


# The Azure models live in their own module; importing them here registers them with the app.
from clusters.azure.models import (  # noqa: E402,F401
    AksCluster,
    AzureOperation,
    ContainerRegistry,
    FileShare,
    PullSecret,
)
