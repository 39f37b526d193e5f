"""`make run` starts a recognition back-end on the local cluster, so a fresh install identifies
faces with no set-up. Safe to call at every start."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from clusters.services import cluster_ensure_local
from core.services import SYSTEM
from faces.choices import SERVICE_TEMPLATE
from workloads import services
from workloads.choices import ACTIVE_STATES
from workloads.models import Run, WorkloadTemplate


@transaction.atomic
def bootstrap_face_service() -> list[str]:
    cluster, _ = cluster_ensure_local()
    if settings.FACES_CLUSTER not in ("local", cluster.name):
        return [f"face service: uses cluster {settings.FACES_CLUSTER!r}, nothing to start here"]
    template = WorkloadTemplate.objects.filter(slug=SERVICE_TEMPLATE).first()
    if template is None:
        return ["face service: no face-recognition-service template yet"]
    running = Run.objects.filter(template=template, cluster=cluster, state__in=ACTIVE_STATES)
    if running.exists():
        return [f"face service: running (run {running.first().pk})"]
    # A previous start's back-end processes are gone with it: start a fresh run.
    run = services.run_create(actor=SYSTEM, template=template, cluster=cluster, params={})
    return [f"face service: started (run {run.pk})"]
