"""Writes about templates and runs. Views, tasks and the monitor call these."""

from __future__ import annotations

import logging
from typing import Any

import urllib3
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from kubernetes.client.exceptions import ApiException

from clusters import gpu, podsecurity
from clusters.choices import ClusterKind
from clusters.explorer.redact import as_yaml, redact
from clusters.kubeconfig import KubeconfigError
from clusters.models import Cluster
from clusters.runtimes import runtime_for
from clusters.runtimes.base import StartRejected
from core.choices import AuditAction
from core.services import Actor, audit_record
from workloads.choices import ACTIVE_STATES, FINAL_STATES, PodPhase, RunState, TemplateKind
from workloads.models import Run, RunPod, WorkloadTemplate
from workloads.params import (
    DEFAULTS,
    clean_params,
    is_dns1123_label,
    volume_name,
    volume_names,
)
from workloads.realtime import publish_run_message, state_payload
from workloads.specs import build_spec

logger = logging.getLogger(__name__)
# Parameters naming a cluster's volumes: a template's defaults are checked against the cluster
# of each run, not when the template is saved.
CLUSTER_BOUND = ("volume", "volumes")
# The Pod Security controls a hostPath volume trips (baseline and restricted).
HOST_PATH_CONTROLS = ("HostPath Volumes", "Volume Types")


def _volume_names(cluster: Cluster) -> set[str]:
    return set(cluster.volumes.values_list("name", flat=True))


@transaction.atomic
def template_create(
    *, actor: Actor, slug: str, name: str, kind: str, params: dict, description: str = ""
) -> WorkloadTemplate:
    if not is_dns1123_label(slug):
        raise ValidationError({"slug": f"{slug!r} is not a DNS-1123 label (a-z, 0-9, -)."})
    if WorkloadTemplate.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": f"A template {slug!r} exists already."})
    # Defaults are checked like run parameters, except that volumes depend on the cluster: any
    # well-formed volume name is taken here, and must exist on the cluster a run chooses.
    bound = [name for name in CLUSTER_BOUND if name in DEFAULTS.get(kind, {})]
    named: set[str] = set()
    if "volume" in bound and params.get("volume"):
        named.add(volume_name("volume", params["volume"]))
    if "volumes" in bound and "volumes" in params:
        named.update(volume_names("volumes", params["volumes"]) or [])
    checked = clean_params(kind, params, volumes=named)
    template = WorkloadTemplate.objects.create(
        slug=slug, name=name, kind=kind, params={k: checked[k] for k in params}, description=description,
        created_by=actor.user,
    )  # fmt: skip
    audit_record(actor=actor, action=AuditAction.CREATE, obj=template, changes={"kind": kind})
    return template


@transaction.atomic
def template_delete(*, actor: Actor, template: WorkloadTemplate) -> None:
    if template.is_preset:
        raise ValidationError({"template": "Presets cannot be deleted."})
    if template.runs.exists():
        raise ValidationError({"template": "Runs use this template; delete them first."})
    audit_record(actor=actor, action=AuditAction.DELETE, obj=template)
    template.delete()


def run_prepare(*, template: WorkloadTemplate, cluster: Cluster, params: Any) -> dict:
    """Validate everything about a run before it exists; returns the effective parameters."""
    cleaned = clean_params(
        template.kind, params, defaults=template.params, volumes=_volume_names(cluster)
    )
    spec = build_spec(kind=template.kind, params=cleaned, cluster=cluster, run_id=0)
    if any(task.gpus for task in spec.tasks):
        refused = gpu.refusal(cluster, gpu.readiness(cluster))
        if refused:
            raise ValidationError({"cluster": refused})
    violations = podsecurity.check_workload(cluster, spec)
    if violations:
        # A raw manifest's fields are the user's to fix; a preset's, the cluster's level.
        field = "manifest" if template.kind == TemplateKind.RAW_MANIFEST else "cluster"
        level = cluster.pod_security_level
        messages = [v.message(level) for v in violations]
        host_paths = {path for task in spec.tasks for _, path in task.host_paths}
        if host_paths and all(v.control in HOST_PATH_CONTROLS for v in violations):
            field = "nvidia_volume"
            messages.append(
                f"The read-only {', '.join(sorted(host_paths))} mount is a named exception: an "
                f"admin allows “{gpu.NVIDIA_EXEMPTION['name']} {gpu.NVIDIA_DRIVER_PATH}” on the "
                f"Pod Security page of {cluster.name}; or set nvidia_volume to no."
            )
        raise ValidationError({field: messages})
    return cleaned


def run_preview(*, template: WorkloadTemplate, cluster: Cluster, params: Any) -> list[dict]:
    """What a run would send, and the API server's verdict on each object in a server-side
    dry-run; nothing is created. Raises ValidationError as run_create does."""
    cleaned = run_prepare(template=template, cluster=cluster, params=params)
    if cluster.is_local:
        raise ValidationError(
            {"cluster": "The local cluster runs processes, not Kubernetes objects: "
             "there is nothing to preview."}
        )  # fmt: skip
    spec = build_spec(kind=template.kind, params=cleaned, cluster=cluster, run_id=0)
    try:
        results = runtime_for(cluster).preview(spec)
    except StartRejected as exc:
        raise ValidationError({"cluster": str(exc)}) from None
    except (ApiException, KubeconfigError, urllib3.exceptions.HTTPError, OSError) as exc:
        raise ValidationError(
            {"cluster": f"{cluster.name} could not be asked for a dry-run: {exc}"[:500]}
        ) from None
    return [
        {
            "kind": result.object["kind"],
            "name": result.object["metadata"]["name"],
            "accepted": result.accepted,
            "message": result.message,
            "yaml": as_yaml(redact(result.object)[0]),
        }
        for result in results
    ]


@transaction.atomic
def run_create(
    *, actor: Actor, template: WorkloadTemplate, cluster: Cluster, params: Any,
    rerun_of: Run | None = None,
) -> Run:  # fmt: skip
    cleaned = run_prepare(template=template, cluster=cluster, params=params)
    run = Run.objects.create(
        template=template, cluster=cluster, params=cleaned, created_by=actor.user, rerun_of=rerun_of
    )
    audit_record(
        actor=actor, action=AuditAction.CREATE, obj=run,
        changes={"template": template.slug, "cluster": cluster.name},
    )  # fmt: skip
    transaction.on_commit(lambda: _enqueue_submit(run.pk))
    return run


def _enqueue_submit(run_id: int) -> None:
    """Hand the run to a worker. With the broker down (e.g. `make run` seeding demo runs before
    Redis is up) the run stays pending: the next worker to start submits it, or beat's
    reconcile."""
    from kombu.exceptions import OperationalError

    from workloads.tasks import run_submit_task

    try:
        run_submit_task.delay(run_id)
    except OperationalError as exc:
        # Expected on a first start (the seeding runs before Redis): not a failure.
        logger.info("run %s waits for a worker: it starts when the worker is up", run_id)
        logger.debug("run %s: broker not answering: %s", run_id, exc)


def run_rerun(*, actor: Actor, run: Run) -> Run:
    """A new run with the same template, cluster and effective parameters."""
    return run_create(
        actor=actor, template=run.template, cluster=run.cluster, params=run.params, rerun_of=run
    )


@transaction.atomic
def run_cancel_request(*, actor: Actor, run: Run) -> bool:
    """Ask for a run to stop; False if it had already finished."""
    if run.state not in ACTIVE_STATES:
        return False
    if run.state == RunState.PENDING and not run.handle:
        # Not started anywhere yet: cancelling is a state change only.
        if run_finish(run_id=run.pk, state=RunState.CANCELLED, error="cancelled before start"):
            audit_record(actor=actor, action=AuditAction.CANCEL, obj=run)
            return True
    audit_record(actor=actor, action=AuditAction.CANCEL, obj=run)
    from workloads.tasks import run_cancel_task

    transaction.on_commit(lambda: run_cancel_task.delay(run.pk))
    return True


def runs_stop_local(*, actor: Actor) -> list[Run]:
    """Stop every active run of the local cluster now, without a worker (the panel may be
    stopped: local runs outlive it on purpose and are re-attached at its next start)."""
    from clusters.runtimes import runtime_for

    stopped = []
    active = Run.objects.filter(cluster__kind=ClusterKind.LOCAL, state__in=ACTIVE_STATES)
    for run in active.select_related("cluster", "template"):
        if run.handle:
            runtime_for(run.cluster).cancel(run.handle)
        # Its monitor, if one runs, may see the process end and record it first: stopped either way.
        if run_finish(run_id=run.pk, state=RunState.CANCELLED, error="stopped with stop_local"):
            audit_record(actor=actor, action=AuditAction.CANCEL, obj=run)
        stopped.append(run)
    return stopped


@transaction.atomic
def run_delete(*, actor: Actor, run: Run) -> None:
    if run.state in ACTIVE_STATES:
        raise ValidationError({"state": "Cancel the run before deleting it."})
    audit_record(actor=actor, action=AuditAction.DELETE, obj=run)
    run.delete()


# -- state transitions (conditional updates: the row count says who won) ----------------------
@transaction.atomic
def run_transition(*, run_id: int, from_states: tuple, state: str, **fields) -> bool:
    updated = Run.objects.filter(pk=run_id, state__in=from_states).update(state=state, **fields)
    if updated:
        publish_run_message(run_id, state_payload(Run.objects.get(pk=run_id)))
    return bool(updated)


def run_finish(*, run_id: int, state: str, error: str = "") -> bool:
    assert state in FINAL_STATES
    fields: dict[str, Any] = {"finished_at": timezone.now(), "error": error[:5000]}
    if state == RunState.SUCCEEDED:
        fields["progress"] = 100
    finished = run_transition(run_id=run_id, from_states=ACTIVE_STATES, state=state, **fields)
    if finished and state == RunState.SUCCEEDED:
        # Pods that print no pipeline events (GPU jobs, manifests) would stay at 0% beside a
        # run at 100%: a pod that succeeded is done.
        RunPod.objects.filter(run_id=run_id, phase=PodPhase.SUCCEEDED).update(progress=100)
    return finished
