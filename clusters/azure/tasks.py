"""Celery tasks for Azure work: thin wrappers around clusters.azure.operations."""

from __future__ import annotations

from celery import shared_task

from clusters.azure.operations import operation_run, operations_stale


# acks_late (project default) + reject_on_worker_lost: a worker killed mid-create leaves the
# message to be delivered again; the sweeper below also re-queues rows whose heartbeat stopped.
@shared_task(time_limit=4 * 3600, soft_time_limit=4 * 3600 - 60)
def azure_operation_task(operation_id: int) -> str | None:
    return operation_run(operation_id=operation_id)


@shared_task(time_limit=60)
def azure_operations_resume() -> list[int]:
    """Re-queue operations whose worker died (no heartbeat): they resume idempotently."""
    ids = operations_stale()
    for operation_id in ids:
        azure_operation_task.delay(operation_id)
    return ids
