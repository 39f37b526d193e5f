"""Celery tasks: submit, monitor, cancel, reconcile, clean up. Thin: ids in, services do the work."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from celery.signals import worker_shutting_down
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from clusters.runtimes import runtime_for
from clusters.runtimes.base import RuntimeFailure, StartRejected
from workloads.choices import FINAL_STATES, RunState
from workloads.models import Run
from workloads.monitor import monitor_run, monitors_stop, stale_after
from workloads.services import run_finish, run_transition
from workloads.specs import build_spec

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def run_submit_task(run_id: int) -> None:
    """pending → submitted: start the run on its cluster, then hand it to a monitor."""
    if not run_transition(run_id=run_id, from_states=(RunState.PENDING,), state=RunState.SUBMITTED,
                          submitted_at=timezone.now()):  # fmt: skip
        return  # cancelled, or another worker has it
    run = Run.objects.select_related("cluster", "template").get(pk=run_id)
    try:
        spec = build_spec(
            kind=run.template.kind, params=run.params, cluster=run.cluster, run_id=run.pk
        )
        handle = runtime_for(run.cluster).start(spec)
    except (StartRejected, RuntimeFailure) as exc:
        run_finish(run_id=run_id, state=RunState.FAILED, error=str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - whatever broke, the run row must say so
        logger.exception("run %s: start failed", run_id)
        run_finish(run_id=run_id, state=RunState.FAILED, error=f"could not start: {exc}"[:2000])
        return
    manifests = handle.pop("manifests", [])
    Run.objects.filter(pk=run_id).update(handle=handle, manifests=manifests)
    run_monitor_task.delay(run_id)


@shared_task(acks_late=True, time_limit=None, soft_time_limit=None)
def run_monitor_task(run_id: int) -> str:
    if not Run.objects.filter(pk=run_id).exists():
        return "gone"
    return monitor_run(run_id)


@worker_shutting_down.connect
def _hand_runs_back(**_kwargs) -> None:
    """SIGTERM: the monitors of this worker release their runs instead of following them to an
    end that a camera stream never reaches (the warm shutdown would wait for ever)."""
    monitors_stop()


@shared_task(acks_late=True)
def run_cancel_task(run_id: int) -> None:
    run = Run.objects.select_related("cluster").filter(pk=run_id).first()
    if run is None or run.state in FINAL_STATES:
        return
    if run.handle:
        runtime_for(run.cluster).cancel(run.handle)
    run_finish(run_id=run_id, state=RunState.CANCELLED, error="cancelled")


@shared_task
def runs_reconcile(stale_seconds: float | None = None) -> dict[str, int]:
    """Beat: restart monitors that went quiet, fail runs stuck before start, clean up old runs."""
    now = timezone.now()
    stale = timedelta(seconds=stale_seconds) if stale_seconds is not None else stale_after()
    restarted = 0
    quiet = Run.objects.filter(state__in=(RunState.SUBMITTED, RunState.RUNNING)).exclude(handle={})
    quiet = quiet.filter(Q(monitor_seen_at__isnull=True) | Q(monitor_seen_at__lt=now - stale))
    for run_id in quiet.values_list("pk", flat=True):
        # Release the dead monitor's lease so the new one can claim it at once.
        Run.objects.filter(pk=run_id).update(monitor_token="")
        run_monitor_task.delay(run_id)
        restarted += 1
    stuck = Run.objects.filter(
        state=RunState.SUBMITTED, handle={}, submitted_at__lt=now - stale * 4
    )
    lost = 0
    for run_id in stuck.values_list("pk", flat=True):
        lost += run_finish(
            run_id=run_id, state=RunState.LOST, error="the worker starting it stopped"
        )
    pending = Run.objects.filter(state=RunState.PENDING, created_at__lt=now - stale)
    for run_id in pending.values_list("pk", flat=True):
        run_submit_task.delay(run_id)  # its enqueue was lost (broker down at commit)
    runs_cleanup.delay()
    return {"restarted": restarted, "lost": lost}


@shared_task
def runs_submit_pending() -> int:
    """Submit every pending run (a worker has just started: runs created while no broker
    answered need not wait for beat), and follow again every started run whose monitor handed
    it back (its worker was stopped). Twice is harmless: a second submission finds the run no
    longer pending, a second monitor cannot claim the lease."""
    pending = list(Run.objects.filter(state=RunState.PENDING).values_list("pk", flat=True))
    for run_id in pending:
        run_submit_task.delay(run_id)
    released = Run.objects.filter(
        state__in=(RunState.SUBMITTED, RunState.RUNNING), monitor_token="",
        monitor_seen_at__isnull=True,
    ).exclude(handle={})  # fmt: skip
    for run_id in released.values_list("pk", flat=True):
        run_monitor_task.delay(run_id)
    return len(pending)


@shared_task
def runs_cleanup() -> int:
    """Delete finished runs' cluster objects after the retention period (rows and logs stay)."""
    retention = timedelta(seconds=getattr(settings, "WORKLOADS_RETENTION_SECONDS", 24 * 3600))
    done = Run.objects.filter(
        state__in=FINAL_STATES,
        cleaned_up_at__isnull=True,
        finished_at__lt=timezone.now() - retention,
    ).exclude(handle={})
    cleaned = 0
    for run in done.select_related("cluster")[:50]:
        try:
            runtime_for(run.cluster).cleanup(run.handle)
        except Exception as exc:  # noqa: BLE001 - one unreachable cluster must not stop the rest
            logger.warning("run %s: clean-up failed: %s", run.pk, exc)
            continue
        Run.objects.filter(pk=run.pk).update(cleaned_up_at=timezone.now())
        cleaned += 1
    return cleaned
