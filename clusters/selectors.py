"""Reads about credentials and clusters."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from clusters.choices import ClusterKind
from clusters.models import Cluster, Credential, Volume


def cluster_list() -> QuerySet[Cluster]:
    return Cluster.objects.select_related("credential", "cloud_credential").order_by("name")


def volume_names_by_cluster() -> dict[str, list[str]]:
    """Each volume name with the clusters that have it, for pickers."""
    names: dict[str, list[str]] = {}
    for name, cluster in Volume.objects.order_by("name", "cluster__name").values_list(
        "name", "cluster__name"
    ):
        names.setdefault(name, []).append(cluster)
    return names


def credential_list() -> QuerySet[Credential]:
    return Credential.objects.order_by("name")


def cluster_get_by_ref(ref: str | int) -> Cluster | None:
    """A cluster by id, by name, or `local` for the embedded local cluster."""
    ref = str(ref).strip()
    query = Q(name=ref)
    if ref.isdecimal():  # isdigit() passes "²", which int() refuses
        query |= Q(pk=int(ref))
    found = Cluster.objects.filter(query).first()
    if found is None and ref == "local":
        found = Cluster.objects.filter(kind=ClusterKind.LOCAL).first()
    return found


def cluster_statuses() -> list[tuple[str, str, str]]:
    """(name, kind, status) of every cluster, as the last health check left it."""
    return list(Cluster.objects.order_by("name").values_list("name", "kind", "status"))
