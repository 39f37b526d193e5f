"""Reads about cameras, and who may watch which."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Prefetch, Q, QuerySet

from cameras.models import Camera
from core.choices import Role
from core.selectors import has_role


def camera_list() -> QuerySet[Camera]:
    """Every camera with the run that serves it, by name."""
    return Camera.objects.select_related("run", "cluster")


def camera_list_with_viewers() -> QuerySet[Camera]:
    """`camera_list` with the names of who may watch each (users by username alone)."""
    users = get_user_model().objects.only("id", "username")
    return camera_list().prefetch_related(Prefetch("viewer_users", queryset=users), "viewer_groups")


def relay_stats() -> dict[int, tuple[float, float]]:
    """Cameras being pulled now (by any web process): {camera id: (fps, latency seconds)}.
    The latency is from the frame's capture time, as its source stamped it, to the relay."""
    import redis

    from cameras.relay import STATS_PREFIX

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{STATS_PREFIX}*", count=500))
        values = client.mget(keys) if keys else []
    finally:
        client.close()
    stats = {}
    for key, value in zip(keys, values, strict=True):
        if value is None:  # expired between the scan and the read
            continue
        fps, latency = (float(part) for part in value.split())
        stats[int(key[len(STATS_PREFIX) :])] = (fps, latency)
    return stats


def camera_visible_to(user, cameras: QuerySet[Camera] | None = None) -> QuerySet[Camera]:
    """The cameras `user` may watch: unrestricted ones, and restricted ones that name the user
    or one of the user's groups. Admins watch everything; nobody below viewer watches anything."""
    cameras = camera_list() if cameras is None else cameras
    if user is None or not user.is_authenticated or not has_role(user, Role.VIEWER):
        return cameras.none()
    if has_role(user, Role.ADMIN):
        return cameras
    allowed = Q(restricted=False) | Q(viewer_users=user) | Q(viewer_groups__in=user.groups.all())
    # The joins through the viewer tables repeat a camera per matching row: keep ids only.
    return cameras.filter(pk__in=Camera.objects.filter(allowed).values("pk"))


def camera_may_watch(user, camera_id: int) -> bool:
    return camera_visible_to(user, Camera.objects.filter(pk=camera_id)).exists()
