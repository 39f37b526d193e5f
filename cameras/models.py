"""Cameras: video sources shown on the camera wall."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from workloads.choices import CameraProcessing


class Camera(models.Model):
    """A video source shown on the camera wall: a URL, a camera-stream run serving MJPEG, or an
    Akri instance (a broker serving `camera.proto`) discovered on a Kubernetes cluster.

    Viewers: with `restricted` off every viewer sees the camera (the default); with it on only
    admins, `viewer_users` and members of `viewer_groups` do.
    """

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
    restricted = models.BooleanField(
        default=False, help_text="Only the chosen users and groups (and admins) may watch."
    )
    viewer_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="watchable_cameras"
    )
    viewer_groups = models.ManyToManyField(
        "auth.Group", blank=True, related_name="watchable_cameras"
    )
    keep_running = models.BooleanField(
        default=False,
        help_text="Akri cameras: keep the stream running without viewers (else it starts with "
        "the first viewer).",
    )
    # Akri: where the camera was discovered. Empty `akri_instance` for cameras added by hand.
    cluster = models.ForeignKey(
        "clusters.Cluster", null=True, blank=True, on_delete=models.CASCADE, related_name="cameras"
    )
    akri_namespace = models.CharField(max_length=253, blank=True)
    akri_instance = models.CharField(max_length=253, blank=True)
    akri_configuration = models.CharField(max_length=253, blank=True)
    akri_nodes = models.JSONField(default=list, blank=True)
    akri_device = models.CharField(max_length=1000, blank=True)
    gone_at = models.DateTimeField(
        null=True, blank=True, help_text="When the Akri instance went away (None: present)."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "akri_namespace", "akri_instance"],
                condition=~models.Q(akri_instance=""),
                name="camera_one_per_akri_instance",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def discovered_by_akri(self) -> bool:
        return bool(self.akri_instance)

    @property
    def gone(self) -> bool:
        return self.gone_at is not None
