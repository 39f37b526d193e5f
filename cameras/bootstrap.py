"""Two demo cameras for `make run`: test patterns served by camera-stream runs on the local
cluster, like the fake cameras of the Akri demo (seed 001). Safe to call at every start."""

from __future__ import annotations

from django.db import transaction

from cameras.models import Camera
from clusters.services import cluster_ensure_local
from core.services import SYSTEM
from workloads import services
from workloads.choices import ACTIVE_STATES, TemplateKind
from workloads.models import WorkloadTemplate

DEMO_CAMERAS = [
    ("Demo: bouncing ball", "test:ball"),
    ("Demo: colour carousel", "test:carousel"),
]


@transaction.atomic
def bootstrap_demo_cameras() -> list[str]:
    template = WorkloadTemplate.objects.filter(
        kind=TemplateKind.CAMERA_STREAM, is_preset=True
    ).first()
    if template is None:
        return ["demo cameras: no camera-stream template yet"]
    cluster, _ = cluster_ensure_local()
    lines = []
    for name, source in DEMO_CAMERAS:
        camera = Camera.objects.select_related("run").filter(name=name).first()
        if camera is not None and camera.run is not None and camera.run.state in ACTIVE_STATES:
            lines.append(f"camera {name!r}: running (run {camera.run.pk})")
            continue
        # A previous start's stream process is gone with it: start a fresh run.
        run = services.run_create(
            actor=SYSTEM, template=template, cluster=cluster,
            params={"source": source, "processing": "none", "fps": 25, "width": 640},
        )  # fmt: skip
        if camera is None:
            Camera.objects.create(name=name, run=run)
            lines.append(f"camera {name!r}: created (run {run.pk})")
        else:
            camera.run = run
            camera.save(update_fields=["run"])
            lines.append(f"camera {name!r}: restarted (run {run.pk})")
    return lines
