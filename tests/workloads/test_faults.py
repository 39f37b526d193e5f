"""Faults, with the panel's real processes (the Procfile's web, worker and monitor, their own
Redis and PostgreSQL): Redis killed and started again, PostgreSQL restarted, each while a run
streams its log and a camera is watched; the worker SIGKILLed during a submission. (A worker
killed during an AKS operation: tests/clusters/azure/test_operations.py.)"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest
import requests
from django.db import connection, transaction

from cameras.models import Camera
from clusters.runtimes.local import LocalRuntime
from core.choices import Role
from core.services import SYSTEM, token_create
from tests.conftest import wait_for
from tests.factories import LocalClusterFactory, UserFactory
from tests.fixtures.stack import (
    SocketWatcher,
    Stack,
    enqueue,
    log_lines,
    start_chatty_run,
    watch_camera,
    watch_log,
)
from workloads import services
from workloads.bootstrap import bootstrap_demo
from workloads.models import Run, RunLogLine, WorkloadTemplate
from workloads.tasks import run_monitor_task, run_submit_task

pytestmark = [pytest.mark.slow, pytest.mark.live]

CAMERA_PARAMS = {"source": "test:clock", "processing": "none", "fps": 10, "width": 320}


def create_run(stack: Stack, token: str, template: str, params: dict | None = None):
    """POST /api/runs/ to the running panel (through Daphne, not the test client)."""
    return requests.post(
        f"{stack.url}/api/runs/",
        json={"template": template, "cluster": "local", "params": params or {}},
        headers={"Authorization": f"Token {token}"},
        timeout=10,
    )


def run_state(run_id: int) -> str:
    return Run.objects.values_list("state", flat=True).get(pk=run_id)


def finished(run_id: int) -> Run:
    wait_for(lambda: run_state(run_id) in ("succeeded", "failed", "cancelled", "lost"),
             timeout=90, interval=0.2)  # fmt: skip
    return Run.objects.get(pk=run_id)


def frames(messages: list) -> int:
    return sum(isinstance(message, bytes) for message in messages)


def statuses(messages: list) -> list[str]:
    return [m["status"] for m in messages if isinstance(m, dict) and m.get("type") == "status"]


@dataclass
class Load:
    """What a user has going when the fault hits: a camera watched, a run's log followed."""

    token: str
    camera: Camera
    chatty: Run
    viewer: SocketWatcher
    log: SocketWatcher


def start_load(stack: Stack) -> Load:
    bootstrap_demo()
    cluster = LocalClusterFactory()
    admin = UserFactory(username="ada", role=Role.ADMIN)
    _row, token = token_create(actor=SYSTEM, user=admin, name="faults")
    response = create_run(stack, token, "camera-stream", CAMERA_PARAMS)
    assert response.status_code == 201, response.text
    stream_run = response.json()["id"]
    wait_for(lambda: run_state(stream_run) == "running", timeout=60, interval=0.2)
    camera = Camera.objects.create(name=f"Gate {stream_run}", run_id=stream_run)

    chatty = start_chatty_run(cluster, rate=200, seconds=12)
    enqueue(stack, run_monitor_task, chatty.pk)
    load = Load(token, camera, chatty, watch_camera(stack, camera.pk, token),
                watch_log(stack, chatty.pk, token))  # fmt: skip
    assert load.viewer.handshake_error is None and load.log.handshake_error is None
    wait_for(lambda: frames(load.viewer.since(0)) >= 5 and len(log_lines(load.log)) >= 100,
             timeout=30)  # fmt: skip
    return load


def assert_log_whole(load: Load) -> None:
    """The streaming run finished, and its viewer got every line once, in order."""
    run = finished(load.chatty.pk)
    assert run.state == "succeeded", run.error
    output = Path(load.chatty.handle["pods"][0]["log"]).read_text().splitlines()
    wait_for(lambda: len(log_lines(load.log)) >= len(output), timeout=30, interval=0.2)
    received = log_lines(load.log)
    assert [line["cursor"] for line in received] == list(range(1, len(output) + 1))
    assert [line["text"] for line in received] == output
    stored = RunLogLine.objects.filter(run_id=run.pk).order_by("cursor")
    assert list(stored.values_list("text", flat=True)) == output
    assert load.log.closed is None


def assert_processes_kept_going(stack: Stack) -> None:
    assert stack.alive() == {"web": True, "worker": True, "monitor": True}
    for name in ("worker", "monitor"):
        assert "Unrecoverable error" not in stack.log(name)


def test_a_redis_restart_loses_no_run_no_line_and_no_viewer(on_fault_stack):
    """Redis is SIGKILLed and started again 4 s later (no snapshot: every queued message is
    gone). The camera's viewer sees "reconnecting", then frames again on the same socket; a
    viewer arriving during the outage is let in (no HTTP 500) and gets frames once Redis is
    back; the streaming log arrives whole, each line once, in order; runs created during and
    after the outage are submitted, monitored and finish; worker and monitor keep consuming."""
    stack = on_fault_stack
    load = start_load(stack)

    stack.redis.kill()
    killed = time.monotonic()
    during = create_run(stack, load.token, "lane-detection")
    assert during.status_code == 201, during.text  # the row is the truth; its message waits
    latecomer = watch_camera(stack, load.camera.pk, load.token)
    assert latecomer.handshake_error is None  # let in, not HTTP 500
    wait_for(lambda: "reconnecting" in statuses(load.viewer.since(killed)), timeout=10)
    wait_for(lambda: "reconnecting" in statuses(latecomer.since(0)), timeout=10)
    time.sleep(max(0.0, killed + 4 - time.monotonic()))
    stack.redis.start()
    restarted = time.monotonic()
    after = create_run(stack, load.token, "lane-detection")
    assert after.status_code == 201, after.text

    # The cameras come back on the sockets they had.
    wait_for(lambda: frames(load.viewer.since(restarted)) >= 5, timeout=30, interval=0.2)
    wait_for(lambda: frames(latecomer.since(restarted)) >= 5, timeout=30, interval=0.2)
    assert load.viewer.closed is None and latecomer.closed is None
    # Runs created during and after the outage went through a reconnected worker and monitor.
    for response in (during, after):
        run = finished(response.json()["id"])
        assert run.state == "succeeded", run.error
    assert_log_whole(load)
    for watcher in (load.viewer, latecomer, load.log):
        watcher.close()
    assert_processes_kept_going(stack)


def test_a_postgresql_restart_loses_no_run_no_line_and_no_viewer(on_fault_stack):
    """PostgreSQL is shut down (fast: clients disconnected) and started again 3 s later. The
    monitor waits and resumes where the database says it was: the log arrives whole, each line
    once; the camera's socket stays open and its frames never stop (they need no database);
    the first requests after the restart are served (stale connections are checked, not
    failed), and a run created then finishes."""
    stack = on_fault_stack
    load = start_load(stack)

    stack.postgres.stop("fast")
    stopped = time.monotonic()
    time.sleep(3)
    stack.postgres.start()
    connection.close()  # the test's own connection went with the server

    listed = requests.get(f"{stack.url}/api/runs/", timeout=10,
                          headers={"Authorization": f"Token {load.token}"})  # fmt: skip
    assert listed.status_code == 200, listed.text[:500]
    after = create_run(stack, load.token, "lane-detection")
    assert after.status_code == 201, after.text[:500]
    assert frames(load.viewer.since(stopped)) >= 20  # 10 fps through the outage
    assert_log_whole(load)
    run = finished(after.json()["id"])
    assert run.state == "succeeded", run.error
    assert load.viewer.closed is None
    wait_for(lambda: frames(load.viewer.since(time.monotonic() - 1)) >= 5, timeout=10)
    for watcher in (load.viewer, load.log):
        watcher.close()
    assert_processes_kept_going(stack)


def lock_waits() -> int:
    """Statements of other sessions waiting for a row lock (this one's)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else a transaction sees one snapshot
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0]


def test_a_worker_killed_during_a_submission_is_replaced_and_the_run_starts_once(on_fault_stack):
    """The worker is SIGKILLed in the middle of submitting a run (its first write is held by a
    row lock). The half-done submission leaves the run pending; the worker started again
    submits it as it connects, and it finishes. The message the dead worker held, delivered
    again (Redis does, after its visibility timeout), starts nothing a second time."""
    stack = on_fault_stack
    bootstrap_demo()
    cluster = LocalClusterFactory()
    template = WorkloadTemplate.objects.get(slug="lane-detection")
    params = services.run_prepare(template=template, cluster=cluster, params={})
    run = Run.objects.create(template=template, cluster=cluster, params=params)

    with transaction.atomic():
        Run.objects.select_for_update().get(pk=run.pk)
        enqueue(stack, run_submit_task, run.pk)
        wait_for(lambda: lock_waits() == 1, timeout=60, interval=0.1)
        stack.kill("worker")
    wait_for(lambda: lock_waits() == 0, timeout=10)
    assert run_state(run.pk) == "pending"  # the dead worker's transaction never committed

    stack.start("worker")
    run = finished(run.pk)
    assert run.state == "succeeded", run.error
    assert len(run.handle["pods"]) == 1
    submitted = stack.log("worker").count("run_submit_task[")

    enqueue(stack, run_submit_task, run.pk)
    wait_for(lambda: stack.log("worker").count("run_submit_task[") >= submitted + 2, timeout=30)
    again = Run.objects.get(pk=run.pk)
    assert (again.state, again.handle, again.finished_at) == ("succeeded", run.handle,
                                                              run.finished_at)  # fmt: skip
    logs = Path(run.handle["workdir"]) / "logs"
    assert len(list(logs.glob("*.log"))) == 1  # one process ever started
    assert_processes_kept_going(stack)


def test_a_monitor_worker_stopped_with_sigterm_hands_its_runs_back_and_exits_in_seconds(
    on_fault_stack,
):
    """SIGTERM (Ctrl-C under `make run`, a pod's termination in a cluster) reaches the monitor
    worker while it follows a run that never ends by itself: the worker exits within seconds,
    its lease on the run is released, the run's process goes on (local runs outlive the panel),
    and the monitor started again picks the run up as it connects. `manage.py stop_local` then
    stops the local run and records it as cancelled."""
    from django.core.management import call_command

    stack = on_fault_stack
    bootstrap_demo()
    chatty = start_chatty_run(LocalClusterFactory(), rate=20, seconds=120)
    enqueue(stack, run_monitor_task, chatty.pk)
    stored = RunLogLine.objects.filter(run_id=chatty.pk)
    wait_for(lambda: stored.count() >= 10, timeout=30, interval=0.2)
    assert Run.objects.get(pk=chatty.pk).monitor_token

    stack.procs["monitor"].send_signal(signal.SIGTERM)
    asked = time.monotonic()
    stack.procs["monitor"].wait(timeout=30)
    assert time.monotonic() - asked < 5, stack.log("monitor")[-3000:]
    run = Run.objects.get(pk=chatty.pk)
    assert (run.state, run.monitor_token, run.monitor_seen_at) == ("running", "", None)
    assert LocalRuntime(run.cluster).status(run.handle).state == "running"

    stack.start("monitor")
    before = stored.count()
    wait_for(lambda: Run.objects.get(pk=chatty.pk).monitor_token, timeout=30, interval=0.2)
    wait_for(lambda: stored.count() > before + 10, timeout=30, interval=0.2)

    out = StringIO()
    call_command("stop_local", stdout=out)
    assert f"run {chatty.pk}" in out.getvalue()
    run = finished(chatty.pk)
    assert run.state == "cancelled"
    assert LocalRuntime(run.cluster).status(run.handle).state == "cancelled"
    wait_for(lambda: stack.ready("monitor", times=2), timeout=30)
    assert_processes_kept_going(stack)
