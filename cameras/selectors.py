"""Reads about cameras."""

from __future__ import annotations

from django.db.models import QuerySet

from cameras.models import Camera


def camera_list() -> QuerySet[Camera]:
    """Every camera with the run that serves it, by name."""
    return Camera.objects.select_related("run")
