"""Writes about cameras. Every change tells the camera's viewers to re-check their permission,
so one who may no longer watch is cut off at once (not at the next periodic re-check)."""

from __future__ import annotations

from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from cameras.models import Camera
from cameras.relay import camera_group, grab_frame
from cameras.sources import camera_stream_target
from clusters.models import Cluster
from clusters.services import cluster_ensure_local
from core.choices import AuditAction, Role
from core.selectors import has_role
from core.services import Actor, audit_record
from workloads.choices import CameraProcessing, TemplateKind
from workloads.models import Run, WorkloadTemplate
from workloads.services import run_cancel_request, run_create

# What a person may change; the Akri fields are the discovery's, the stream run of an Akri
# camera the panel's.
EDITABLE_FIELDS = ("name", "source_url", "run", "processing", "keep_running")
AKRI_EDITABLE_FIELDS = ("name", "processing", "keep_running")


def _announce_change(camera_id: int) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(camera_group(camera_id), {"type": "camera.changed"})


STREAMED_SCHEMES = ("rtsp://", "rtsps://")  # read by a camera-stream run started for the camera
CHECK_TIMEOUT_S = 3.0


def announce_after_commit(camera_id: int) -> None:
    # Robust: with Redis away the change is already committed, and the sockets' periodic
    # re-check catches it; the request that made it must not fail for that.
    transaction.on_commit(lambda: _announce_change(camera_id), robust=True)


def _validate(*, source_url: str, run: Run | None) -> None:
    if bool(source_url) == bool(run):
        raise ValidationError({"source_url": "Give either a source URL or a camera-stream run."})
    if source_url and not source_url.startswith(("http://", "https://")):
        raise ValidationError(
            {"source_url": "Give an http(s) MJPEG or rtsp:// URL; for files or devices start a "
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
    processing: str = CameraProcessing.NONE, cluster: Cluster | None = None,
    keep_running: bool = False, restricted: bool | None = None,
    viewer_users: Iterable | None = None, viewer_groups: Iterable[Group] | None = None,
) -> Camera:  # fmt: skip
    """A camera. An RTSP URL is read by a camera-stream run started here on `cluster` (the
    local one by default), which the camera owns: it is stopped when the camera is deleted."""
    owns_run = False
    if source_url.startswith(STREAMED_SCHEMES) and run is None:
        run = _start_stream(actor=actor, source_url=source_url, processing=processing,
                            cluster=cluster)  # fmt: skip
        source_url, owns_run = "", True
    _validate(source_url=source_url, run=run)
    camera = Camera.objects.create(
        name=name, source_url=source_url, run=run, processing=processing, owns_run=owns_run,
        keep_running=keep_running, created_by=actor.user,
    )  # fmt: skip
    audit_record(actor=actor, action=AuditAction.CREATE, obj=camera,
                 changes={"stream run": run.pk} if owns_run else None)  # fmt: skip
    viewer_users, viewer_groups = list(viewer_users or []), list(viewer_groups or [])
    if restricted or viewer_users or viewer_groups:  # everyone, the default, needs no admin
        camera_set_viewers(
            actor=actor, camera=camera, restricted=bool(restricted),
            users=viewer_users, groups=viewer_groups,
        )  # fmt: skip
    return camera


def _start_stream(
    *, actor: Actor, source_url: str, processing: str, cluster: Cluster | None
) -> Run:
    template = WorkloadTemplate.objects.filter(kind=TemplateKind.CAMERA_STREAM, is_preset=True).first()  # fmt: skip
    if template is None:
        raise ValidationError({"source_url": "The camera-stream template is missing: run `manage.py bootstrap_demo`."})  # fmt: skip
    if cluster is None:
        cluster, _created = cluster_ensure_local()
    try:
        return run_create(actor=actor, template=template, cluster=cluster,
                          params={"source": source_url, "processing": processing})  # fmt: skip
    except ValidationError as exc:
        # The run's parameter errors belong to the camera's fields.
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"source": exc.messages}
        field_of = {"source": "source_url", "processing": "processing", "cluster": "cluster"}
        mapped: dict[str, list[str]] = {}
        for key, messages in errors.items():
            mapped.setdefault(field_of.get(key, "source_url"), []).extend(messages)
        raise ValidationError(mapped) from exc


def camera_url_problem(url: str) -> str:
    """Why `url` does not serve an MJPEG stream right now ("" when it does). A quick check at
    save time: the camera is kept either way (the source may come up later)."""
    import urllib3

    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=CHECK_TIMEOUT_S, read=CHECK_TIMEOUT_S), retries=False)  # fmt: skip
    try:
        response = http.request("GET", url, preload_content=False, redirect=False)
    except urllib3.exceptions.HTTPError as exc:
        reason = getattr(exc, "reason", None) or exc
        return f"{url} did not answer: {reason}"[:300]
    try:
        kind = response.headers.get("Content-Type", "")
        if response.status != 200:
            return f"{url} answered HTTP {response.status}"
        if not kind.startswith(("multipart/x-mixed-replace", "image/")):
            return f"{url} answers {kind or 'no content type'}, not an MJPEG stream (multipart/x-mixed-replace)"  # fmt: skip
        return ""
    finally:
        response.release_conn()


def camera_record_error(*, camera_id: int, error: str) -> None:
    """What the latest pull of the camera said ("" once frames flow), for its tile and page."""
    now = timezone.now() if error else None
    Camera.objects.filter(pk=camera_id).exclude(last_error=error[:300]).update(
        last_error=error[:300], last_error_at=now
    )


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
    audit_record(actor=actor, action=AuditAction.DELETE, obj=camera)
    if camera.owns_run and camera.run is not None:
        run_cancel_request(actor=actor, run=camera.run)  # started for it: stopped with it
    camera.delete()  # cameras/signals.py tells its open sockets


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
