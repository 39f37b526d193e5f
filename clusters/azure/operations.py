"""Running an AzureOperation on a worker: claim it, keep its row current, finish it.

The row is claimed with a conditional update, so two workers (a redelivered task and the stale
sweeper, say) never run it at once; a row whose heartbeat stopped (the worker died) is claimed
again and the work resumes by re-sending the same idempotent request."""

from __future__ import annotations

import datetime as dt
import logging

from azure.core.exceptions import AzureError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from clusters.azure import aks, clients
from clusters.azure.choices import OperationKind, OperationStatus
from clusters.azure.errors import AzureFailure, describe
from clusters.azure.models import AksCluster, AzureOperation
from clusters.choices import ClusterStatus
from clusters.models import Cluster

logger = logging.getLogger(__name__)


def stale_after() -> dt.timedelta:
    return dt.timedelta(seconds=clients.setting("AZURE_OPERATION_STALE_SECONDS", 120))


def _claim(operation_id: int) -> AzureOperation | None:
    now = timezone.now()
    claimable = Q(status=OperationStatus.QUEUED) | Q(
        status=OperationStatus.RUNNING, heartbeat_at__lt=now - stale_after()
    )
    claimed = AzureOperation.objects.filter(claimable, pk=operation_id).update(
        status=OperationStatus.RUNNING,
        attempts=F("attempts") + 1,
        heartbeat_at=now,
        started_at=now,
    )
    if not claimed:
        return None
    return AzureOperation.objects.select_related("credential", "cluster").get(pk=operation_id)


def _progress_reporter(op: AzureOperation):
    def report(percent: int, step: str) -> None:
        percent = max(0, min(100, int(percent)))
        # Progress never goes backwards on a resumed run; the heartbeat proves we are alive.
        AzureOperation.objects.filter(pk=op.pk, status=OperationStatus.RUNNING).update(
            progress=percent if percent > op.progress else F("progress"),
            step=step[:200],
            heartbeat_at=timezone.now(),
        )
        op.progress = max(op.progress, percent)

    return report


def _finish(op: AzureOperation, failure: AzureFailure | None) -> None:
    fields = {"finished_at": timezone.now(), "heartbeat_at": timezone.now()}
    if failure is None:
        fields |= {"status": OperationStatus.SUCCEEDED, "progress": 100, "step": "Done"}
        fields |= {"error_code": "", "error_message": "", "remedy": ""}
    else:
        fields |= {
            "status": OperationStatus.FAILED,
            "error_code": failure.code[:100],
            "error_message": failure.message,
            "remedy": failure.remedy,
        }
    AzureOperation.objects.filter(pk=op.pk).update(**fields)


def operation_run(*, operation_id: int) -> str | None:
    """Run (or resume) one operation to its end. Returns the final status, None if not ours."""
    from clusters.azure import runners

    op = _claim(operation_id)
    if op is None:
        return None
    report = _progress_reporter(op)
    try:
        runners.RUNNERS[OperationKind(op.kind)](op, report)
    except AzureFailure as failure:
        _fail(op, failure)
        return OperationStatus.FAILED
    except AzureError as exc:
        failure = describe(exc)
        _fail(op, failure)
        logger.warning("azure operation %s failed: %s", op.pk, failure.code)
        return OperationStatus.FAILED
    except Exception as exc:  # noqa: BLE001 - a bug must not leave the row running; re-raised
        _fail(op, AzureFailure("InternalError", f"{type(exc).__name__}: {exc}", "See the worker log."))  # fmt: skip
        raise
    _finish(op, None)
    return OperationStatus.SUCCEEDED


@transaction.atomic
def _fail(op: AzureOperation, failure: AzureFailure) -> None:
    """The operation and its cluster say it failed together: nobody sees one without the
    other."""
    _finish(op, failure)
    _after_failure(op)


def _after_failure(op: AzureOperation) -> None:
    """A cluster whose create or delete failed is in error, with the reason shown on it."""
    if op.cluster_id and op.kind in (OperationKind.CREATE, OperationKind.DELETE):
        message = AzureOperation.objects.values_list("error_message", flat=True).get(pk=op.pk)
        Cluster.objects.filter(pk=op.cluster_id).update(
            status=ClusterStatus.ERROR, last_error=message
        )


def operations_stale() -> list[int]:
    """Operations whose worker stopped beating: they are run again (idempotently)."""
    cutoff = timezone.now() - stale_after()
    return list(
        AzureOperation.objects.filter(
            status=OperationStatus.RUNNING, heartbeat_at__lt=cutoff
        ).values_list("pk", flat=True)
    )


def aks_of(op: AzureOperation) -> AksCluster:
    return AksCluster.objects.select_related("cluster").get(cluster_id=op.cluster_id)


__all__ = ["operation_run", "operations_stale", "aks_of", "aks"]
