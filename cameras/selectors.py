"""Reads about cameras."""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet

from cameras.models import Camera


def camera_list() -> QuerySet[Camera]:
    """Every camera with the run that serves it, by name."""
    return Camera.objects.select_related("run")


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
