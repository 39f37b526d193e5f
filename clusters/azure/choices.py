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


# A short list of VM sizes for AKS node pools, offered by the forms' pickers (any other
# Standard_ size can still be typed). The N-series carry NVIDIA GPUs (nvidia.com/gpu).
# Source: Azure's VM size documentation (general purpose Dsv5, Esv5, Fsv2; GPU NCasT4_v3,
# NC_A100_v4, NCv3, NVadsA10_v5).
AKS_VM_SIZES = (
    ("Standard_B2s", "2 vCPU, 4 GiB, burstable (trials)", False),
    ("Standard_D2s_v5", "2 vCPU, 8 GiB", False),
    ("Standard_D4s_v5", "4 vCPU, 16 GiB (a good system pool)", False),
    ("Standard_D8s_v5", "8 vCPU, 32 GiB", False),
    ("Standard_D16s_v5", "16 vCPU, 64 GiB", False),
    ("Standard_E4s_v5", "4 vCPU, 32 GiB, memory-optimised", False),
    ("Standard_F8s_v2", "8 vCPU, 16 GiB, compute-optimised", False),
    ("Standard_NC4as_T4_v3", "GPU: 1 NVIDIA T4; 4 vCPU, 28 GiB", True),
    ("Standard_NC8as_T4_v3", "GPU: 1 NVIDIA T4; 8 vCPU, 56 GiB", True),
    ("Standard_NC16as_T4_v3", "GPU: 1 NVIDIA T4; 16 vCPU, 110 GiB", True),
    ("Standard_NC64as_T4_v3", "GPU: 4 NVIDIA T4; 64 vCPU, 440 GiB", True),
    ("Standard_NC6s_v3", "GPU: 1 NVIDIA V100; 6 vCPU, 112 GiB", True),
    ("Standard_NC24ads_A100_v4", "GPU: 1 NVIDIA A100 80 GB; 24 vCPU, 220 GiB", True),
    ("Standard_NV36ads_A10_v5", "GPU: 1 NVIDIA A10; 36 vCPU, 440 GiB", True),
)
