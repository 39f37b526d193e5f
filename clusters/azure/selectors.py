"""Reads about Azure operations and the objects they make."""

from __future__ import annotations

from django.db.models import Count

from clusters.azure.choices import ACTIVE_STATUSES, OperationKind
from clusters.azure.models import AzureOperation, FileShare


def operations_in_progress() -> dict[str, int]:
    """Queued or running Azure operations, by kind."""
    rows = (
        AzureOperation.objects.filter(status__in=ACTIVE_STATUSES)
        .values_list("kind")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return dict(rows)


def file_share_operation(share: FileShare) -> AzureOperation | None:
    """The newest operation that creates the share: whether it is being made, or why not."""
    return (
        AzureOperation.objects.filter(kind=OperationKind.CREATE_SHARE, params__share_id=share.pk)
        .order_by("-created_at", "-pk")
        .first()
    )


def file_share_operations(shares) -> dict[int, AzureOperation]:
    """The newest creating operation of each share, in one query (for lists)."""
    newest: dict[int, AzureOperation] = {}
    ids = [share.pk for share in shares]
    ops = AzureOperation.objects.filter(kind=OperationKind.CREATE_SHARE, params__share_id__in=ids)
    for op in ops.order_by("created_at", "pk"):
        newest[op.params["share_id"]] = op
    return newest
