"""Azure records: AKS cluster specs, the long operations on them, file shares and registries."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from clusters.azure.choices import ACTIVE_STATUSES, OperationKind, OperationStatus


class AksCluster(models.Model):
    """The Azure side of a cluster of kind `aks`: where it lives and what it was asked to be."""

    cluster = models.OneToOneField("clusters.Cluster", on_delete=models.CASCADE, related_name="aks")
    resource_group = models.CharField(max_length=90)
    location = models.CharField(max_length=50)
    azure_name = models.CharField(max_length=63)
    kubernetes_version = models.CharField(max_length=20, blank=True)
    dns_prefix = models.CharField(max_length=54, blank=True)
    # [{"name", "mode", "vm_size", "count", "autoscale", "min_count", "max_count", "taints"}]
    node_pools = models.JSONField(default=list)
    tags = models.JSONField(default=dict, blank=True)
    arm_id = models.CharField(max_length=400, blank=True)
    fqdn = models.CharField(max_length=300, blank=True)
    provisioning_state = models.CharField(max_length=30, blank=True)

    def __str__(self) -> str:
        return f"{self.resource_group}/{self.azure_name}"


class AzureOperation(models.Model):
    """One long Azure action. This row is the truth: status, progress, timings and the error."""

    kind = models.CharField(max_length=30, choices=OperationKind.choices)
    cluster = models.ForeignKey(
        "clusters.Cluster",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="azure_operations",
    )
    credential = models.ForeignKey(
        "clusters.Credential", on_delete=models.PROTECT, related_name="azure_operations"
    )
    target = models.CharField(max_length=200, blank=True, help_text="Pool, share or registry.")
    params = models.JSONField(default=dict, blank=True, help_text="Public inputs only.")
    status = models.CharField(
        max_length=16, choices=OperationStatus.choices, default=OperationStatus.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0)
    step = models.CharField(max_length=200, blank=True)
    error_code = models.CharField(max_length=100, blank=True)
    error_message = models.TextField(blank=True)
    remedy = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.target} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class FileShare(models.Model):
    """An Azure File share mounted in a cluster as Secret + ReadWriteMany PV + claim (a Volume).

    The storage account key is never stored: it is listed from Azure when a client is built."""

    cluster = models.ForeignKey(
        "clusters.Cluster", on_delete=models.CASCADE, related_name="file_shares"
    )
    credential = models.ForeignKey(
        "clusters.Credential", on_delete=models.PROTECT, related_name="+"
    )
    volume = models.OneToOneField(
        "clusters.Volume", null=True, blank=True, on_delete=models.SET_NULL, related_name="share"
    )
    resource_group = models.CharField(max_length=90)
    location = models.CharField(max_length=50)
    account_name = models.CharField(max_length=24)
    share_name = models.CharField(max_length=63)
    quota_gb = models.PositiveIntegerField(default=100)
    namespace = models.CharField(max_length=63, default="default")
    file_endpoint = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account_name", "share_name"], name="unique_share_per_account"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_name}/{self.share_name}"


class ContainerRegistry(models.Model):
    """An Azure Container Registry the panel created or attached. Its admin password is listed
    from Azure when a pull secret is made, never stored here."""

    name = models.CharField(max_length=50, unique=True)
    credential = models.ForeignKey(
        "clusters.Credential", on_delete=models.PROTECT, related_name="+"
    )
    resource_group = models.CharField(max_length=90)
    location = models.CharField(max_length=50, blank=True)
    sku = models.CharField(max_length=20, default="Basic")
    login_server = models.CharField(max_length=300, blank=True)
    arm_id = models.CharField(max_length=400, blank=True)
    attached = models.BooleanField(default=False, help_text="Existed before; not created here.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "container registries"

    def __str__(self) -> str:
        return self.login_server or self.name


class PullSecret(models.Model):
    """A docker-registry Secret in a cluster namespace that workloads list in imagePullSecrets."""

    registry = models.ForeignKey(
        ContainerRegistry, on_delete=models.CASCADE, related_name="pull_secrets"
    )
    cluster = models.ForeignKey(
        "clusters.Cluster", on_delete=models.CASCADE, related_name="pull_secrets"
    )
    namespace = models.CharField(max_length=63)
    secret_name = models.CharField(max_length=253)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "namespace", "secret_name"], name="unique_pull_secret"
            )
        ]

    def __str__(self) -> str:
        return f"{self.cluster}/{self.namespace}/{self.secret_name}"
