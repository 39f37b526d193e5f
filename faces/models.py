"""People, their known faces, the images handed to the service and the faces found in them."""

from __future__ import annotations

import numpy as np
from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from faces.choices import NAME_MAX_CHARS, PATH_MAX_CHARS, ImageSource, ImageStatus


def encoding_bytes(encoding) -> bytes:
    return np.asarray(encoding, dtype=np.float64).reshape(128).tobytes()


def encoding_array(data: bytes) -> np.ndarray:
    return np.frombuffer(bytes(data), dtype=np.float64)


class Person(models.Model):
    """Someone the service can recognise (CompreFace's subject): a name and known faces."""

    name = models.CharField(max_length=NAME_MAX_CHARS)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = [Lower("name")]
        constraints = [models.UniqueConstraint(Lower("name"), name="unique_person_name_ci")]

    def __str__(self) -> str:
        return self.name

    def first_known_face(self) -> KnownFace | None:
        """The face that stands for the person in lists: prefetched by `person_list` (one query
        for the page), else read on its own."""
        prefetched = getattr(self, "first_known", None)
        if prefetched is not None:
            return prefetched[0] if prefetched else None
        return self.known_faces.defer("encoding").order_by("pk").first()


class KnownFace(models.Model):
    """A reference photo of a person showing exactly one face, with that face's encoding."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="known_faces")
    source = models.CharField(max_length=8, choices=ImageSource.choices)
    volume = models.CharField(max_length=63, blank=True)
    path = models.CharField(max_length=PATH_MAX_CHARS, blank=True)
    file = models.FileField(upload_to="faces/known/", blank=True, max_length=300)
    thumbnail = models.FileField(upload_to="faces/thumbs/", blank=True, max_length=300)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    box = models.JSONField(default=list, help_text="top, right, bottom, left in the image.")
    encoding = models.BinaryField()
    # Set when the known face was a face the service found and someone named.
    from_face = models.ForeignKey(
        "Face", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["person", "id"]

    def __str__(self) -> str:
        return f"{self.person}: {self.path or self.file.name or self.pk}"


class FaceImage(models.Model):
    """An image handed to the receiver. The row is the truth: the queue only carries its id."""

    source = models.CharField(max_length=8, choices=ImageSource.choices)
    volume = models.CharField(max_length=63, blank=True)
    path = models.CharField(max_length=PATH_MAX_CHARS, blank=True)
    file = models.FileField(upload_to="faces/images/", blank=True, max_length=300)
    thumbnail = models.FileField(upload_to="faces/thumbs/", blank=True, max_length=300)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=12, choices=ImageStatus.choices, default=ImageStatus.PENDING
    )
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Which processor holds the row while it is `processing` (a conditional update sets it).
    claim = models.CharField(max_length=32, blank=True)
    backend = models.CharField(max_length=300, blank=True, help_text="Back-end that answered.")
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # When a message for it was last sent; None while none is on its way (see services).
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"], name="faces_image_status_created")]

    def __str__(self) -> str:
        return self.path or self.file.name or f"image {self.pk}"

    @property
    def label(self) -> str:
        if self.source == ImageSource.VOLUME:
            return f"{self.volume}:{self.path}"
        return self.path or "upload"


class Face(models.Model):
    """A face found in an image: where, its encoding, and who it is (None: unknown)."""

    image = models.ForeignKey(FaceImage, on_delete=models.CASCADE, related_name="faces")
    box = models.JSONField(default=list, help_text="top, right, bottom, left in the image.")
    encoding = models.BinaryField()
    person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="faces"
    )
    distance = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["image", "id"]

    def __str__(self) -> str:
        return f"{self.person or 'unknown'} in {self.image}"
