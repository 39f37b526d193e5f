"""Akri cameras: each Instance of a camera Configuration on a Kubernetes cluster is a camera.

`akri_cameras_sync` keeps the cameras in step with what Akri reports (beat, and the refresh
button on the camera wall): a new instance becomes a new camera "discovered by Akri"; one that
went away leaves its camera in place marked gone (history and viewers kept), and it comes back
when the instance does. A cluster that cannot be read changes nothing: "unreachable" is not
"no cameras"; read in one namespace only, it changes nothing in the others.

Frames: Akri brokers speak gRPC (`camera.proto`), which the API server's service proxy does not
carry, so the panel runs a camera-stream workload next to the broker, in the same cluster, with
the source `akri://HOST:PORT`, and relays its MJPEG like any other camera's. HOST:PORT is the
instance Service's DNS name or, where the cluster has no DNS or kube-proxy (AKRI_BROKER_ADDRESS
= "endpoints"), the broker pod's address from the Service's Endpoints. The stream starts with
the first viewer (or at sync time for `keep_running` cameras) and stops when the instance goes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from cameras.models import Camera
from cameras.services import announce_after_commit
from clusters.akri import AkriInstance, akri_inventory, broker_endpoint
from clusters.choices import ClusterKind
from clusters.models import Cluster
from core.choices import AuditAction
from core.services import SYSTEM, Actor, audit_record
from workloads.choices import ACTIVE_STATES, TemplateKind
from workloads.models import Run, WorkloadTemplate

logger = logging.getLogger(__name__)

STREAM_FPS = 30.0  # the cap; a broker answering slower sets the pace


@dataclass
class SyncResult:
    cluster: str
    installed: bool = False
    error: str = ""
    added: list[str] = field(default_factory=list)
    back: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    streams_started: list[str] = field(default_factory=list)


def _camera_name(cluster: Cluster, instance: AkriInstance) -> str:
    base = f"{instance.name} ({cluster.name})"[:100]
    name, counter = base, 2
    while Camera.objects.filter(name=name).exists():
        suffix = f" #{counter}"
        name, counter = base[: 100 - len(suffix)] + suffix, counter + 1
    return name


def _akri_fields(instance: AkriInstance) -> dict:
    return {
        "akri_configuration": instance.configuration,
        "akri_nodes": instance.nodes,
        "akri_device": instance.device[:1000],
    }


@transaction.atomic
def _record(
    cluster: Cluster, instances: list[AkriInstance], result: SyncResult, *, scope: str
) -> None:
    seen: set[tuple[str, str]] = set()
    for instance in instances:
        seen.add((instance.namespace, instance.name))
        camera = (
            Camera.objects.select_for_update()
            .filter(cluster=cluster, akri_namespace=instance.namespace, akri_instance=instance.name)
            .first()
        )
        fields = _akri_fields(instance)
        if camera is None:
            camera = Camera.objects.create(
                name=_camera_name(cluster, instance), cluster=cluster,
                akri_namespace=instance.namespace, akri_instance=instance.name, **fields,
            )  # fmt: skip
            audit_record(
                actor=SYSTEM, action=AuditAction.CREATE, obj=camera,
                changes={"discovered_by": "akri", "instance": instance.name},
            )  # fmt: skip
            result.added.append(camera.name)
            continue
        changed = {k: v for k, v in fields.items() if getattr(camera, k) != v}
        if camera.gone_at is not None:
            changed["gone_at"] = None
            result.back.append(camera.name)
        if changed:
            for key, value in changed.items():
                setattr(camera, key, value)
            camera.save(update_fields=sorted(changed))
            audit_record(
                actor=SYSTEM, action=AuditAction.UPDATE, obj=camera,
                changes={"fields": sorted(changed), "by": "akri"},
            )  # fmt: skip
            announce_after_commit(camera.pk)
    missing = (
        Camera.objects.select_for_update()
        .filter(cluster=cluster, gone_at__isnull=True)
        .exclude(akri_instance="")
    )
    if scope and scope != "cluster":
        # Read in one namespace only (no cluster-wide role): elsewhere nothing is known.
        missing = missing.filter(akri_namespace=scope)
    for camera in missing:
        if (camera.akri_namespace, camera.akri_instance) in seen:
            continue
        camera.gone_at = timezone.now()
        camera.save(update_fields=["gone_at"])
        audit_record(
            actor=SYSTEM, action=AuditAction.UPDATE, obj=camera,
            changes={"fields": ["gone_at"], "by": "akri"},
        )  # fmt: skip
        _stop_stream(camera)
        announce_after_commit(camera.pk)
        result.gone.append(camera.name)


def _stop_stream(camera: Camera) -> None:
    from workloads.services import run_cancel_request

    if camera.run is not None and camera.run.state in ACTIVE_STATES:
        run_cancel_request(actor=SYSTEM, run=camera.run)


def akri_cameras_sync(*, cluster_id: int) -> SyncResult | None:
    """Bring the cameras of one cluster in step with its Akri instances."""
    cluster = Cluster.objects.select_related("credential").filter(pk=cluster_id).first()
    if cluster is None:
        return None
    result = SyncResult(cluster=cluster.name)
    inventory = akri_inventory(cluster)
    result.installed, result.error = inventory.installed, inventory.error
    if inventory.error:
        logger.info("cluster %s: Akri cameras not synced: %s", cluster.name, inventory.error)
        return result
    _record(cluster, inventory.camera_instances(), result, scope=inventory.scope)
    kept = Camera.objects.filter(cluster=cluster, keep_running=True, gone_at__isnull=True)
    for camera_id in kept.exclude(akri_instance="").values_list("pk", flat=True):
        run = akri_stream_ensure(camera_id=camera_id)
        if run is not None:
            result.streams_started.append(str(run.pk))
    return result


def akri_cameras_sync_all() -> list[SyncResult]:
    clusters = Cluster.objects.exclude(kind=ClusterKind.LOCAL).exclude(credential=None)
    return [
        r for pk in clusters.values_list("pk", flat=True) if (r := akri_cameras_sync(cluster_id=pk))
    ]


def _by_dns() -> bool:
    return settings.AKRI_BROKER_ADDRESS == "dns"


def akri_stream_ensure(*, camera_id: int, actor: Actor = SYSTEM) -> Run | None:
    """The running camera-stream run of an Akri camera, started if there is none; None when
    the camera is not an Akri camera, is gone, or its broker has no address yet."""
    from workloads.services import run_create

    camera = (
        Camera.objects.select_related("run", "cluster__credential").filter(pk=camera_id).first()
    )
    if camera is None or not camera.discovered_by_akri or camera.gone or camera.cluster is None:
        return None
    if camera.run is not None and camera.run.state in ACTIVE_STATES:
        return camera.run
    instance = AkriInstance(
        namespace=camera.akri_namespace, name=camera.akri_instance,
        configuration=camera.akri_configuration, nodes=camera.akri_nodes, shared=False,
        broker_properties={}, device=camera.akri_device,
    )  # fmt: skip
    try:
        endpoint = broker_endpoint(camera.cluster, instance, by_dns=_by_dns())
    except (ApiException, HTTPError, OSError) as exc:
        logger.info("camera %s: broker address not readable: %s", camera.pk, exc)
        return None
    if endpoint is None:
        return None
    template = WorkloadTemplate.objects.filter(
        kind=TemplateKind.CAMERA_STREAM, is_preset=True
    ).first()
    if template is None:
        return None
    with transaction.atomic():
        locked = (
            Camera.objects.select_for_update(of=("self",)).select_related("run").get(pk=camera.pk)
        )
        if locked.run is not None and locked.run.state in ACTIVE_STATES:
            return locked.run  # another viewer's process started it meanwhile
        run = run_create(
            actor=actor, template=template, cluster=camera.cluster,
            params={"source": f"akri://{endpoint}", "processing": camera.processing,
                    "fps": STREAM_FPS, "width": 0},
        )  # fmt: skip
        locked.run = run
        locked.save(update_fields=["run"])
    logger.info("camera %s: stream run %s started from akri://%s", camera.pk, run.pk, endpoint)
    return run


def camera_stream_wanted(camera_id: int) -> str:
    """A viewer waits for camera `camera_id`, whose stream is not running: start it if it is
    an Akri camera, and say what the viewer waits for."""
    camera = Camera.objects.filter(pk=camera_id).first()
    if camera is None or not camera.discovered_by_akri:
        return "The camera's stream is not running yet."
    if camera.gone:
        return "The Akri instance is gone; the camera comes back when it does."
    if akri_stream_ensure(camera_id=camera_id) is None:
        return "The Akri broker has no address yet."
    return "Starting the camera's stream next to its Akri broker."
