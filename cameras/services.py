"""Writes about cameras. Every change tells the camera's viewers to re-check their permission."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cameras.models import Camera
from cameras.relay import camera_group
from clusters.models import Cluster
from clusters.services import cluster_ensure_local
from core.choices import AuditAction
from core.services import Actor, audit_record
from workloads.choices import CameraProcessing, TemplateKind
from workloads.models import Run, WorkloadTemplate
from workloads.services import run_cancel_request, run_create


def _announce_change(camera_id: int) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(camera_group(camera_id), {"type": "camera.changed"})


STREAMED_SCHEMES = ("rtsp://", "rtsps://")  # read by a camera-stream run started for the camera
CHECK_TIMEOUT_S = 3.0


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


@transaction.atomic
def camera_create(
    *, actor: Actor, name: str, source_url: str = "", run: Run | None = None,
    processing: str = CameraProcessing.NONE, cluster: Cluster | None = None,
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
        created_by=actor.user,
    )  # fmt: skip
    audit_record(actor=actor, action=AuditAction.CREATE, obj=camera,
                 changes={"stream run": run.pk} if owns_run else None)  # fmt: skip
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
    if camera.owns_run and camera.run is not None:
        run_cancel_request(actor=actor, run=camera.run)  # started for it: stopped with it
    camera.delete()
    transaction.on_commit(lambda: _announce_change(camera_id))
