"""Constants of the clusters app."""

from django.db import models


class CredentialKind(models.TextChoices):
    AZURE = "azure", "Azure service principal"
    KUBECONFIG = "kubeconfig", "Kubeconfig"


class ClusterKind(models.TextChoices):
    LOCAL = "local", "Local (processes on this machine)"
    KUBERNETES = "kubernetes", "Kubernetes (imported kubeconfig)"
    AKS = "aks", "Azure Kubernetes Service"
    IN_CLUSTER = "in_cluster", "This cluster (the panel's own ServiceAccount)"


class ClusterStatus(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    HEALTHY = "healthy", "Healthy"
    DEGRADED = "degraded", "Degraded"
    UNREACHABLE = "unreachable", "Unreachable"
    UNAUTHORIZED = "unauthorized", "Unauthorized"
    ERROR = "error", "Error"
    PROVISIONING = "provisioning", "Provisioning"
    DELETING = "deleting", "Deleting"


class ConnectionTestStatus(models.TextChoices):
    NEVER = "never", "Never tested"
    PENDING = "pending", "Testing…"
    OK = "ok", "OK"
    FAILED = "failed", "Failed"


# Secret fields per credential kind; everything else about a credential is public metadata.
SECRET_FIELDS = {
    CredentialKind.AZURE: ("client_secret",),
    CredentialKind.KUBECONFIG: ("kubeconfig",),
}
GPU_RESOURCE = "nvidia.com/gpu"


class AccessMode(models.TextChoices):
    RWO = "ReadWriteOnce", "ReadWriteOnce"
    ROX = "ReadOnlyMany", "ReadOnlyMany"
    RWX = "ReadWriteMany", "ReadWriteMany"


# The longest kubeconfig accepted: kubeconfigs with many clusters and embedded certificates are
# tens of kilobytes; a megabyte is a mistake or an attack.
KUBECONFIG_MAX_CHARS = 512 * 1024
# Azure service principal secrets are about 40 characters.
CLIENT_SECRET_MAX_CHARS = 1000


class PodSecurityLevel(models.TextChoices):
    """The Kubernetes Pod Security Standards levels, least to most restrictive."""

    PRIVILEGED = "privileged", "Privileged (no restrictions; admins only)"
    BASELINE = "baseline", "Baseline (no known privilege escalations)"
    RESTRICTED = "restricted", "Restricted (current pod hardening best practice)"


# Named exemptions per cluster: enough for the few host folders a GPU node needs.
MAX_POD_SECURITY_EXEMPTIONS = 20
