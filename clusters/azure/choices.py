"""Constants of the Azure operations."""

from django.db import models


class OperationKind(models.TextChoices):
    CREATE = "create", "Create cluster"
    SCALE_POOL = "scale_pool", "Scale node pool"
    ADD_POOL = "add_pool", "Add node pool"
    REMOVE_POOL = "remove_pool", "Remove node pool"
    UPGRADE = "upgrade", "Upgrade Kubernetes"
    DELETE = "delete", "Delete cluster"
    REGISTER_PROVIDERS = "register_providers", "Register resource providers"
    CREATE_SHARE = "create_share", "Create file share"
    CREATE_REGISTRY = "create_registry", "Create registry"


class OperationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


ACTIVE_STATUSES = (OperationStatus.QUEUED, OperationStatus.RUNNING)
