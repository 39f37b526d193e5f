"""Reads about Azure operations."""

from __future__ import annotations

from django.db.models import Count

from clusters.azure.choices import ACTIVE_STATUSES
from clusters.azure.models import AzureOperation


def operations_in_progress() -> dict[str, int]:
    """Queued or running Azure operations, by kind."""
    rows = (
        AzureOperation.objects.filter(status__in=ACTIVE_STATUSES)
        .values_list("kind")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return dict(rows)
