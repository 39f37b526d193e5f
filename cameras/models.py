"""Cameras: video sources shown on the camera wall."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from workloads.choices import CameraProcessing


class Camera(models.Model):
    """A video source shown on the camera wall: a URL, or a camera-stream run serving MJPEG."""

    name = models.CharField(max_length=100, unique=True)
    source_url = models.CharField(max_length=1000, blank=True)
    run = models.ForeignKey(
        "workloads.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="cameras"
    )
    processing = models.CharField(
        max_length=8, choices=CameraProcessing.choices, default=CameraProcessing.NONE
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
