"""Recovery: a monitor killed mid-run is resumed by beat and stores every line exactly once;
runs whose processes or Kubernetes objects vanished while nobody watched end as lost."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone
from kubernetes import client as k8s

from clusters.runtimes import runtime_for
from tests.conftest import wait_for
from workloads import monitor, services
from workloads.choices import FINAL_STATES, RunState
from workloads.models import Run, RunLogLine, WorkloadTemplate
from workloads.specs import build_spec
from workloads.tasks import runs_reconcile

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class WorkerKilled(BaseException):
    """Stands for SIGKILL of the worker: nothing after it runs, no handler catches it."""


def start_unwatched(slug: str, cluster, params: dict | None = None) -> Run:
    """A started run whose worker died right after starting it: running, with no monitor."""
    template = WorkloadTemplate.objects.get(slug=slug)
    cleaned = services.run_prepare(template=template, cluster=cluster, params=params or {})
    run = Run.objects.create(
        template=template, cluster=cluster, params=cleaned, state=RunState.RUNNING,
        submitted_at=timezone.now(), started_at=timezone.now(),
    )  # fmt: skip
    spec = build_spec(kind=template.kind, params=cleaned, cluster=cluster, run_id=run.pk)
    Run.objects.filter(pk=run.pk).update(handle=runtime_for(cluster).start(spec))
    run.refresh_from_db()
    return run


def finished(run_id: int) -> Run | None:
    run = Run.objects.get(pk=run_id)
    return run if run.state in FINAL_STATES else None


def test_monitor_killed_mid_batch_is_resumed_and_stores_each_line_once(
    celery_worker, presets, local_cluster, settings, monkeypatch
):
    """The first monitor dies inside its second batch (its transaction never commits); beat
    restarts a monitor once the lease is stale; the stored log equals the process's output."""
    settings.WORKLOADS_MONITOR_STALE_SECONDS = 1
    run = start_unwatched("lane-detection", local_cluster)
    real_store, calls = monitor.store_lines, []

    def dies_in_second_batch(**kwargs):
        calls.append(len(kwargs["lines"]))
        if len(calls) < 2:
            return real_store(**kwargs)
        with transaction.atomic():
            real_store(**kwargs)
            raise WorkerKilled  # the lines were written, but the commit never happens

    monkeypatch.setattr(monitor, "store_lines", dies_in_second_batch)
    with pytest.raises(WorkerKilled):
        monitor.monitor_run(run.pk, token="dead-worker", poll=0.05)
    monkeypatch.setattr(monitor, "store_lines", real_store)
    stored_before = RunLogLine.objects.filter(run=run).count()
    assert stored_before == calls[0]  # the first batch only: the dying one left nothing
    assert runs_reconcile(stale_seconds=3600)["restarted"] == 0  # a fresh lease is left alone

    wait_for(lambda: runs_reconcile()["restarted"] == 1, timeout=30, interval=0.2)
    run = wait_for(lambda: finished(run.pk), timeout=120, interval=0.2)

    assert run.state == RunState.SUCCEEDED, run.error
    stored = list(
        RunLogLine.objects.filter(run=run).order_by("cursor").values_list("cursor", "text")
    )
    assert [cursor for cursor, _ in stored] == list(range(1, len(stored) + 1))
    output = Path(run.handle["pods"][0]["log"]).read_text().splitlines()
    assert [text for _, text in stored] == output
    assert len(stored) > stored_before
    assert run.outputs.filter(kind="video").count() == 1 and run.progress == 100


def test_local_run_is_reattached_after_a_panel_restart(celery_worker, presets, local_cluster):
    """A run started before the panel went down (no monitor ever ran) is picked up by beat and
    finishes with its whole log."""
    run = start_unwatched("face-identification", local_cluster)

    assert runs_reconcile()["restarted"] == 1
    run = wait_for(lambda: finished(run.pk), timeout=120, interval=0.2)

    assert run.state == RunState.SUCCEEDED, run.error
    output = Path(run.handle["pods"][0]["log"]).read_text().splitlines()
    assert list(RunLogLine.objects.filter(run=run).values_list("text", flat=True)) == output
    assert run.face_results.filter(person="obama").exists()


def test_local_run_whose_process_died_while_the_panel_was_down_is_lost_with_a_reason(
    celery_worker, presets, local_cluster
):
    """The process group was killed (no exit status recorded): the run ends lost, saying so."""
    run = start_unwatched("camera-stream", local_cluster)
    pid = run.handle["pods"][0]["pid"]
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: runtime_for(local_cluster).status(run.handle).state != "running")

    assert runs_reconcile()["restarted"] == 1
    run = wait_for(lambda: finished(run.pk), timeout=60, interval=0.2)

    assert run.state == RunState.LOST
    assert f"process {pid} ended without recording an exit status" in run.error


@pytest.mark.kubernetes
def test_job_deleted_behind_the_panels_back_is_marked_lost_by_beat(
    celery_worker, presets, kube_kubeconfig, kube_namespace, kube_admin_api
):
    """Someone deletes the run's Job with kubectl while its monitor is gone: beat's reconcile
    restarts a monitor, which finds the objects missing and marks the run lost."""
    from clusters.services import cluster_import
    from core.services import SYSTEM

    cluster = cluster_import(
        actor=SYSTEM, name="testbed", kubeconfig=kube_kubeconfig, namespace=kube_namespace.name
    )
    run = start_unwatched("lane-detection", cluster)
    batch = k8s.BatchV1Api(kube_admin_api)
    selector = f"controlpanel.io/run-id={run.pk}"
    jobs = batch.list_namespaced_job(kube_namespace.name, label_selector=selector).items
    assert len(jobs) == 1
    batch.delete_namespaced_job(
        jobs[0].metadata.name, kube_namespace.name,
        body=k8s.V1DeleteOptions(propagation_policy="Background"),
    )  # fmt: skip

    assert runs_reconcile()["restarted"] == 1
    run = wait_for(lambda: finished(run.pk), timeout=120, interval=0.5)

    assert run.state == RunState.LOST
    assert "deleted outside the panel" in run.error


def test_runs_created_while_the_broker_was_down_start_when_a_worker_is_ready(
    celery_worker, presets, local_cluster
):
    """`make run` seeds its demo runs before Redis is up: the enqueue fails and the runs stay
    pending. A worker connecting to the broker submits them; it does not wait for beat."""
    from controlpanel.celery import SubmitPendingRuns, app, submit_pending_runs

    assert SubmitPendingRuns in app.steps["consumer"]

    template = WorkloadTemplate.objects.get(slug="face-identification")
    cleaned = services.run_prepare(template=template, cluster=local_cluster, params={})
    run = Run.objects.create(template=template, cluster=local_cluster, params=cleaned)
    assert run.state == RunState.PENDING

    submit_pending_runs()  # what the step does each time a worker connects

    run = wait_for(lambda: finished(run.pk), timeout=120, interval=0.2)
    assert run.state == RunState.SUCCEEDED, run.error
