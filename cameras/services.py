"""Writes about cameras. Every change tells the camera's viewers to re-check their permission."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.exceptions import ValidationError
from django.db import transaction

from cameras.models import Camera
from cameras.relay import camera_group
from core.choices import AuditAction
from core.services import Actor, audit_record
from workloads.choices import CameraProcessing, TemplateKind
from workloads.models import Run


def _announce_change(camera_id: int) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(camera_group(camera_id), {"type": "camera.changed"})


def _validate(*, source_url: str, run: Run | None) -> None:
    if bool(source_url) == bool(run):
        raise ValidationError({"source_url": "Give either a source URL or a camera-stream run."})
    if source_url and not source_url.startswith(("http://", "https://")):
        raise ValidationError(
            {"source_url": "The panel reads MJPEG over http(s); for RTSP or files start a "
                           "camera-stream run and pick it here."}
        )  # fmt: skip
    if run is not None and run.template.kind != TemplateKind.CAMERA_STREAM:
        raise ValidationError({"run": "Pick a run of the camera-stream template."})


@transaction.atomic
def camera_create(
    *, actor: Actor, name: str, source_url: str = "", run: Run | None = None,
    processing: str = CameraProcessing.NONE,
) -> Camera:  # fmt: skip
    _validate(source_url=source_url, run=run)
    camera = Camera.objects.create(
        name=name, source_url=source_url, run=run, processing=processing, created_by=actor.user
    )
    audit_record(actor=actor, action=AuditAction.CREATE, obj=camera)
    return camera


@transaction.atomic
def camera_update(*, actor: Actor, camera: Camera, **fields) -> Camera:
    for key, value in fields.items():
        setattr(camera, key, value)
    _validate(source_url=camera.source_url, run=camera.run)
    camera.save()
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=camera,
        changes=sorted(fields) and {"fields": sorted(fields)},
    )
    camera_id = camera.pk
    transaction.on_commit(lambda: _announce_change(camera_id))
    return camera


@transaction.atomic
def camera_delete(*, actor: Actor, camera: Camera) -> None:
    camera_id = camera.pk
    audit_record(actor=actor, action=AuditAction.DELETE, obj=camera)
    camera.delete()
    transaction.on_commit(lambda: _announce_change(camera_id))
