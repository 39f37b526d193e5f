"""Celery tasks of the clusters app: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task

from clusters import services
from clusters.choices import ClusterStatus
from clusters.models import Cluster


@shared_task(time_limit=120, soft_time_limit=100)
def credential_test_task(credential_id: int, actor_id: int | None = None) -> str | None:
    credential = services.credential_test(credential_id=credential_id, actor_id=actor_id)
    return credential.test_status if credential else None


@shared_task(time_limit=120, soft_time_limit=100)
def cluster_refresh_task(cluster_id: int) -> str | None:
    cluster = services.cluster_refresh(cluster_id=cluster_id)
    return cluster.status if cluster else None


@shared_task(time_limit=60)
def cluster_health_check_all() -> int:
    """Beat: queue a health check of every cluster that is not being provisioned or deleted."""
    ids = list(
        Cluster.objects.exclude(
            status__in=(ClusterStatus.PROVISIONING, ClusterStatus.DELETING)
        ).values_list("pk", flat=True)
    )
    for cluster_id in ids:
        cluster_refresh_task.delay(cluster_id)
    return len(ids)


# Azure operations live in their own module; importing it here lets autodiscovery find them.
from clusters.azure.tasks import azure_operation_task, azure_operations_resume  # noqa: E402,F401
