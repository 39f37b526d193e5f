"""Reads of the face service: people, images, faces, and the back-ends' state."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count, Prefetch, QuerySet
from django.db.models.functions import Lower

from clusters.selectors import cluster_get_by_ref
from faces import backend
from faces.breaker import BreakerStatus, status_of
from faces.choices import ImageStatus
from faces.models import Face, FaceImage, KnownFace, Person


def person_list() -> QuerySet[Person]:
    # Ordered here: Django drops the model's ordering from a query grouped for the count.
    return (
        Person.objects.annotate(
            known_count=Count("known_faces", distinct=True),
        )
        .order_by(Lower("name"), "pk")
        .prefetch_related(
            # Only the first face of each person, and not its encoding: a list shows one picture.
            Prefetch(
                "known_faces",
                queryset=KnownFace.objects.defer("encoding").order_by("pk")[:1],
                to_attr="first_known",
            )
        )
    )


def person_names(limit: int = 1000) -> list[str]:
    """Names to offer when naming a face (the first `limit`, alphabetically)."""
    return list(Person.objects.values_list("name", flat=True)[:limit])


def _listed_faces() -> QuerySet[Face]:
    """Faces as lists show them: the box and the name, not the 1 KB encoding nor the rest of
    the person."""
    return (
        Face.objects.select_related("person")
        .only("image_id", "box", "person_id", "distance", "person__name")
        .order_by("pk")
    )


def person_images(person: Person) -> QuerySet[FaceImage]:
    """The seed's join: every image the person was recognised in, newest first."""
    return (
        FaceImage.objects.filter(faces__person=person)
        .distinct()
        .prefetch_related(Prefetch("faces", queryset=_listed_faces()))
        .order_by("-created_at", "-id")
    )


def image_list() -> QuerySet[FaceImage]:
    return FaceImage.objects.prefetch_related(Prefetch("faces", queryset=_listed_faces())).order_by(
        "-created_at", "-id"
    )


def service_volumes() -> list[str]:
    """The volumes of the face service's cluster: where a submitted path may point."""
    cluster = cluster_get_by_ref(settings.FACES_CLUSTER)
    return sorted(cluster.volumes.values_list("name", flat=True)) if cluster else []


def image_counts() -> dict[str, int]:
    counts = dict(FaceImage.objects.values_list("status").annotate(n=Count("pk")).order_by())
    return {status: counts.get(status, 0) for status in ImageStatus.values}


def service_status() -> dict:
    """The back-end run, each address with its circuit, and the queue's counts."""
    run = backend.service_run()
    addresses: list[BreakerStatus] = []
    error = ""
    try:
        addresses = [status_of(endpoint) for endpoint in backend.endpoints(run)]
    except Exception as exc:  # noqa: BLE001 - the page must show why, not fail
        error = f"cannot read the circuit state: {exc}"
    states = {a.state for a in addresses}
    if not addresses:
        overall = "unavailable"
    elif states == {"closed"}:
        overall = "closed"
    elif "closed" in states:
        overall = "degraded"
    else:
        overall = "open"
    return {
        "state": overall,
        "run": run,
        "backends": addresses,
        "counts": image_counts(),
        "error": error,
    }


def breaker_states() -> list[tuple[str, str]]:
    """(back-end address name, circuit state) for every address of the running back-end."""
    return [(s.name, s.state) for s in map(status_of, backend.endpoints(backend.service_run()))]
