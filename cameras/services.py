"""Writes about cameras. Every change tells the camera's viewers to re-check their permission,
so one who may no longer watch is cut off at once (not at the next periodic re-check)."""

from __future__ import annotations

from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from cameras.models import Camera
from cameras.relay import camera_group, grab_frame
from cameras.sources import camera_stream_target
from core.choices import AuditAction, Role
from core.selectors import has_role
from core.services import Actor, audit_record
from workloads.choices import CameraProcessing, TemplateKind
from workloads.models import Run

# What a person may change; the Akri fields are the discovery's, the stream run of an Akri
# camera the panel's.
EDITABLE_FIELDS = ("name", "source_url", "run", "processing", "keep_running")
AKRI_EDITABLE_FIELDS = ("name", "processing", "keep_running")


def _announce_change(camera_id: int) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(camera_group(camera_id), {"type": "camera.changed"})


def announce_after_commit(camera_id: int) -> None:
    transaction.on_commit(lambda: _announce_change(camera_id))


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


def _viewers_snapshot(camera: Camera) -> dict:
    return {
        "restricted": camera.restricted,
        "users": sorted(camera.viewer_users.values_list("username", flat=True)),
        "groups": sorted(camera.viewer_groups.values_list("name", flat=True)),
    }


def _require_admin(actor: Actor) -> None:
    if actor.user is not None and not has_role(actor.user, Role.ADMIN):
        raise PermissionDenied("Only admins choose who may watch a camera.")


@transaction.atomic
def camera_create(
    *, actor: Actor, name: str, source_url: str = "", run: Run | None = None,
    processing: str = CameraProcessing.NONE, keep_running: bool = False,
    restricted: bool | None = None, viewer_users: Iterable | None = None,
    viewer_groups: Iterable[Group] | None = None,
) -> Camera:  # fmt: skip
    _validate(source_url=source_url, run=run)
    camera = Camera.objects.create(
        name=name, source_url=source_url, run=run, processing=processing,
        keep_running=keep_running, created_by=actor.user,
    )  # fmt: skip
    audit_record(actor=actor, action=AuditAction.CREATE, obj=camera)
    viewer_users, viewer_groups = list(viewer_users or []), list(viewer_groups or [])
    if restricted or viewer_users or viewer_groups:  # everyone, the default, needs no admin
        camera_set_viewers(
            actor=actor, camera=camera, restricted=bool(restricted),
            users=viewer_users, groups=viewer_groups,
        )  # fmt: skip
    return camera


@transaction.atomic
def camera_update(*, actor: Actor, camera: Camera, **fields) -> Camera:
    allowed = AKRI_EDITABLE_FIELDS if camera.discovered_by_akri else EDITABLE_FIELDS
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        why = "is set by Akri discovery" if camera.discovered_by_akri else "cannot be changed"
        raise ValidationError({name: f"This field {why}." for name in unknown})
    for key, value in fields.items():
        setattr(camera, key, value)
    if not camera.discovered_by_akri:
        _validate(source_url=camera.source_url, run=camera.run)
    camera.save()
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=camera,
        changes=sorted(fields) and {"fields": sorted(fields)},
    )
    announce_after_commit(camera.pk)
    return camera


@transaction.atomic
def camera_set_viewers(
    *, actor: Actor, camera: Camera, restricted: bool, users: Iterable = (),
    groups: Iterable[Group] = (),
) -> Camera:  # fmt: skip
    """Who may watch `camera`: everyone (`restricted` False) or only `users`, members of
    `groups` and admins. Admins only; audited with the before and after; open sockets of
    viewers who lost access are closed right after commit."""
    _require_admin(actor)
    before = _viewers_snapshot(camera)
    camera.restricted = restricted
    camera.save(update_fields=["restricted"])
    camera.viewer_users.set(list(users))
    camera.viewer_groups.set(list(groups))
    after = _viewers_snapshot(camera)
    if before != after:
        audit_record(
            actor=actor, action=AuditAction.UPDATE, obj=camera,
            changes={"viewers": {"before": before, "after": after}},
        )  # fmt: skip
        announce_after_commit(camera.pk)
    return camera


@transaction.atomic
def camera_delete(*, actor: Actor, camera: Camera) -> None:
    camera_id = camera.pk
    audit_record(actor=actor, action=AuditAction.DELETE, obj=camera)
    camera.delete()
    announce_after_commit(camera_id)


class SnapshotUnavailable(Exception):
    """The camera's stream is not running, or gave no frame in time."""


def camera_snapshot(*, actor: Actor, camera: Camera) -> bytes:
    """The camera's current frame (a JPEG), pulled from its stream; recorded as a view."""
    import aiohttp

    target = camera_stream_target(camera.pk)
    if target is None:
        raise SnapshotUnavailable("The camera's stream is not running.")
    try:
        frame = async_to_sync(grab_frame)(target)
    except (TimeoutError, aiohttp.ClientError, ValueError, OSError) as exc:
        raise SnapshotUnavailable(f"The camera's stream gave no frame: {exc}") from exc
    audit_record(actor=actor, action=AuditAction.VIEW, obj=camera, changes={"snapshot": True})
    return frame.jpeg
