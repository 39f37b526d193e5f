"""Celery tasks of the cameras app: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task

from cameras import akri
from clusters.choices import ClusterKind
from clusters.models import Cluster


@shared_task(time_limit=120, soft_time_limit=100)
def akri_cameras_sync_task(cluster_id: int) -> dict | None:
    result = akri.akri_cameras_sync(cluster_id=cluster_id)
    if result is None:
        return None
    return {"added": result.added, "back": result.back, "gone": result.gone, "error": result.error}


@shared_task(time_limit=60)
def akri_cameras_sync_all_task() -> int:
    """Beat: queue an Akri sync of every Kubernetes cluster."""
    ids = list(
        Cluster.objects.exclude(kind=ClusterKind.LOCAL)
        .exclude(credential=None)
        .values_list("pk", flat=True)
    )
    for cluster_id in ids:
        akri_cameras_sync_task.delay(cluster_id)
    return len(ids)
