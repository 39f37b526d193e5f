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
    owns_run = models.BooleanField(
        default=False, help_text="The run was started for this camera (an RTSP source) and "
        "is stopped with it.",
    )  # fmt: skip
    last_error = models.CharField(
        max_length=300, blank=True, help_text="Why the latest pull of its stream failed."
    )
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
