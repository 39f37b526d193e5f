"""Follows a run to its end: pod states, every log line (stored once), events, final state.

One monitor per run holds a lease (`monitor_token`, renewed in `monitor_seen_at`). If its worker
dies, the lease goes stale and beat starts another, which resumes from each pod's stored read
position: nothing is lost and nothing is stored twice. A worker told to stop (SIGTERM) does not
wait for its runs to end (a camera stream never does): every monitor releases its lease and
returns, and the next worker picks the runs up as it connects.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.db.models import Q
from django.utils import timezone

from clusters.runtimes import runtime_for
from clusters.runtimes.base import LogLine, PodStatus, RunStatus
from workloads.choices import ACTIVE_STATES, RunState
from workloads.ingest import PositionMoved, store_lines
from workloads.models import Run, RunPod
from workloads.services import run_finish, run_transition

logger = logging.getLogger(__name__)
END = object()
BATCH_LINES = 500
QUEUE_LINES = 20 * BATCH_LINES  # read ahead of the store; past it the reader waits (backpressure)
DRAIN_BUDGET_S = 1.0
COALESCE_S = 0.02  # after a wake-up, gather lines this long into one batch
TERMINAL_PHASES = ("Succeeded", "Failed", "Unknown")
# What a query raises while the database is away (restarting, unreachable).
DATABASE_ERRORS = (OperationalError, InterfaceError)
DATABASE_RETRY_S = (0.5, 5.0)  # first and longest wait between attempts to reconnect


LAG_PREFIX = "monitor-lag:"
LAG_REPORT_S = 1.0  # how often a monitor reports how far behind it is
# A run whose state and pods stay as they are (a camera stream, the face back-end) is polled
# less and less often, up to this: at 0.3 s each monitor cost ~5% of a core doing nothing.
# Log lines still wake it at once, and a change (or a pod's log ending) polls again at once.
POLL_MAX_S = 3.0
LAG_BACKOFF_S = 10.0  # after Redis failed to take a report: the lines come first


def lag_key(run_id: int) -> str:
    return f"{LAG_PREFIX}{run_id}"


class LagReporter:
    """Tells /metrics (through Redis) how many seconds the run's stored lines are behind the
    newest line read. Best effort: a monitor keeps storing lines while Redis is away."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.due = 0.0
        self.client = None

    def report(self, followers: dict[str, Follower]) -> None:
        now = time.monotonic()
        if now < self.due:
            return
        self.due = now + LAG_REPORT_S
        import redis

        lag = max((follower.lag() for follower in followers.values()), default=0.0)
        try:
            if self.client is None:
                self.client = redis.Redis.from_url(
                    settings.REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5
                )
            # Expires if the monitor stops reporting; /metrics then counts from its heartbeat.
            self.client.set(
                lag_key(self.run_id), f"{lag:.3f}", ex=int(stale_after().total_seconds())
            )
        except redis.RedisError:
            self.due = now + LAG_BACKOFF_S


# Set when this process's worker is shutting down (Celery's `worker_shutting_down`).
_stopping = threading.Event()


def monitors_stop() -> None:
    """Every monitor of this process hands its run back at its next turn (within `poll`)."""
    _stopping.set()


def _release(run_id: int, token: str) -> None:
    """Give the run up: no lease and no recent sighting, so the next reconcile (or the next
    worker to connect) starts a monitor for it at once instead of after the stale period."""
    Run.objects.filter(pk=run_id, monitor_token=token).update(
        monitor_token="", monitor_seen_at=None
    )


def stale_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "WORKLOADS_MONITOR_STALE_SECONDS", 30))


@dataclass
class Follower:
    """A thread reading one pod's log into a queue; only the monitor thread touches the DB."""

    pod: str
    lines: queue.Queue = field(default_factory=lambda: queue.Queue(QUEUE_LINES))
    thread: threading.Thread | None = None
    ended: bool = False
    failed: str = ""
    stopped: threading.Event = field(default_factory=threading.Event)
    # When each line still in `lines` was read (oldest first): how far the store is behind.
    read_times: deque = field(default_factory=deque)

    def start(self, runtime, handle: dict, since: int, wake: threading.Event) -> Follower:
        def read() -> None:
            try:
                lines = runtime.logs(handle, self.pod, since=since, follow=True, stop=self.stopped)
                for line in lines:
                    self.read_times.append(time.time())  # before the line: drain pops it
                    if not self._put(line):
                        return
                    wake.set()
            except Exception as exc:  # noqa: BLE001 - reported to the monitor, which retries
                self.failed = str(exc)[:300]
            self._put(END)
            wake.set()

        self.thread = threading.Thread(target=read, daemon=True, name=f"log-{self.pod}")
        self.thread.start()
        return self

    def _put(self, item) -> bool:
        """Queue an item, waiting while the queue is full, unless the monitor has stopped."""
        while not self.stopped.is_set():
            try:
                self.lines.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def stop(self) -> None:
        """The monitor is leaving: the reader stops at its next line instead of filling memory."""
        self.stopped.set()

    def drain(self) -> list[LogLine]:
        batch: list[LogLine] = []
        while len(batch) < BATCH_LINES:
            try:
                item = self.lines.get_nowait()
            except queue.Empty:
                break
            if item is END:
                self.ended = True
                break
            batch.append(item)
            if self.read_times:
                self.read_times.popleft()
        return batch

    def lag(self) -> float:
        """Seconds the oldest line read but not yet taken for storing has waited (0: none)."""
        try:
            return max(0.0, time.time() - self.read_times[0])
        except IndexError:
            return 0.0


def _claim(run_id: int, token: str) -> bool:
    now = timezone.now()
    return bool(
        Run.objects.filter(pk=run_id, state__in=ACTIVE_STATES)
        .filter(
            Q(monitor_token="")
            | Q(monitor_token=token)
            | Q(monitor_seen_at__lt=now - stale_after())
        )
        .update(monitor_token=token, monitor_seen_at=now)
    )


def _renew(run_id: int, token: str) -> bool:
    return bool(
        Run.objects.filter(pk=run_id, monitor_token=token).update(monitor_seen_at=timezone.now())
    )


def _sync_pods(run: Run, pods: list[PodStatus]) -> dict[str, RunPod]:
    rows = {pod.name: pod for pod in RunPod.objects.filter(run=run)}
    for status in pods:
        row = rows.get(status.name) or RunPod.objects.get_or_create(run=run, name=status.name)[0]
        rows[status.name] = row
        changes = {
            "phase": status.phase, "exit_code": status.exit_code, "reason": status.reason[:200],
            "restarts": status.restarts, "started_at": status.started_at, "finished_at": status.finished_at,
            "message": status.message[:2000],
        }  # fmt: skip
        if any(getattr(row, key) != value for key, value in changes.items()):
            RunPod.objects.filter(pk=row.pk).update(**changes)
            for key, value in changes.items():
                setattr(row, key, value)
    return rows


def _store_ready(
    run_id: int, rows: dict[str, RunPod], followers: dict[str, Follower], local: bool
) -> None:
    """Store what the followers have read. A chatty pod is drained batch after batch (up to
    DRAIN_BUDGET_S), so ingest is not capped at one batch per wake-up. Raises PositionMoved."""
    for name, follower in followers.items():
        row = rows[name]
        deadline = time.monotonic() + DRAIN_BUDGET_S
        while batch := follower.drain():
            store_lines(run_id=run_id, pod_id=row.pk, lines=batch,
                        from_position=row.log_position, local_outputs=local)  # fmt: skip
            row.log_position = batch[-1].position
            if len(batch) < BATCH_LINES or time.monotonic() > deadline:
                break


def monitor_run(run_id: int, *, token: str | None = None, poll: float = 0.3) -> str:
    """Follow the run until it is finished and its logs are complete. Returns why it stopped.

    Pod states are polled every `poll` seconds; log lines are stored as they arrive (the
    followers wake the monitor, which waits COALESCE_S to gather a batch), not once per poll.

    A database outage (a PostgreSQL restart) does not end the monitor: it stops its readers
    (the lines they had read but not stored are read again), waits for the database, and
    resumes from the stored positions as a new monitor would, keeping its lease.
    """
    token = token or secrets.token_hex(8)
    resumed = False
    while True:
        followers: dict[str, Follower] = {}
        try:
            if _stopping.is_set():
                return "worker stopping"
            if not _claim(run_id, token):
                return "lease lost" if resumed else "not claimed"
            return _follow_run(run_id, token, poll, followers)
        except DATABASE_ERRORS as exc:
            logger.warning("run %s: database unreachable (%s); resuming when it answers",
                           run_id, str(exc).strip()[:200])  # fmt: skip
        finally:
            for follower in followers.values():
                follower.stop()
        _wait_for_database()
        resumed = True


def _wait_for_database() -> None:
    wait = DATABASE_RETRY_S[0]
    while True:
        connection.close()  # the broken connection; the next query opens a new one
        try:
            connection.ensure_connection()
            return
        except DATABASE_ERRORS:
            if _stopping.wait(wait):
                return
            wait = min(wait * 2, DATABASE_RETRY_S[1])


def _follow_run(run_id: int, token: str, poll: float, followers: dict[str, Follower]) -> str:
    run = Run.objects.select_related("cluster").get(pk=run_id)
    runtime = runtime_for(run.cluster)
    local = run.cluster.is_local
    lag = LagReporter(run_id)
    wake = threading.Event()
    final: RunStatus | None = None
    interval, seen = poll, None
    # The lease must be renewed well within the time after which it is taken over.
    longest = max(poll, min(POLL_MAX_S, stale_after().total_seconds() / 4))
    while True:
        if _stopping.is_set():
            _release(run_id, token)
            return "worker stopping"
        if not _renew(run_id, token):
            return "lease lost"
        run.refresh_from_db(fields=["state", "handle"])
        try:
            status = runtime.status(run.handle)
        except Exception as exc:  # noqa: BLE001 - API hiccups: keep the lease, try again
            logger.warning("run %s: status failed: %s", run_id, exc)
            _stopping.wait(1)
            continue
        rows = _sync_pods(run, status.pods)
        if status.state == "running" and run.state == RunState.SUBMITTED:
            run_transition(run_id=run_id, from_states=(RunState.SUBMITTED,), state=RunState.RUNNING,
                           started_at=timezone.now())  # fmt: skip
        phases = {pod.name: pod.phase for pod in status.pods}
        for name, row in rows.items():
            if row.log_complete or name in followers or phases.get(name, "Unknown") == "Pending":
                continue
            followers[name] = Follower(name).start(runtime, run.handle, row.log_position, wake)
        try:
            _store_ready(run_id, rows, followers, local)
            lag.report(followers)
            for name, follower in list(followers.items()):
                if follower.ended and follower.lines.empty():
                    del followers[name]  # its reader has finished: nothing to stop
                    if phases.get(name, "Unknown") in TERMINAL_PHASES or name not in phases:
                        RunPod.objects.filter(pk=rows[name].pk).update(log_complete=True)
                        rows[name].log_complete = True
        except PositionMoved:
            return "another monitor took over"
        if status.state not in ("running", "submitted") and final is None:
            final = status
        logs_done = all(row.log_complete or row.name not in phases for row in rows.values())
        if final is not None and (logs_done or run.state not in ACTIVE_STATES):
            if not any(f.lines.qsize() for f in followers.values()) and logs_done:
                _finish(run_id, final)
                return final.state
        if run.state not in ACTIVE_STATES and not followers:
            return "run finished elsewhere"
        now_seen = (run.state, status.state, tuple(sorted(phases.items())), len(followers))
        interval = min(interval * 1.5, longest) if now_seen == seen else poll
        seen = now_seen
        # Until the next poll, store lines as the followers read them.
        next_poll = time.monotonic() + interval
        while (left := next_poll - time.monotonic()) > 0 and wake.wait(left):
            if _stopping.is_set():
                break
            wake.clear()
            time.sleep(COALESCE_S)
            try:
                _store_ready(run_id, rows, followers, local)
            except PositionMoved:
                return "another monitor took over"
            lag.report(followers)
            if any(follower.lines.qsize() for follower in followers.values()):
                wake.set()  # a pod left lines past its drain budget: take them next
            if any(follower.ended for follower in followers.values()):
                break  # a log ended: its pod may have too, poll now


def _finish(run_id: int, status: RunStatus) -> None:
    state = {
        "succeeded": RunState.SUCCEEDED, "failed": RunState.FAILED,
        "cancelled": RunState.CANCELLED, "lost": RunState.LOST,
    }[status.state]  # fmt: skip
    run_finish(run_id=run_id, state=state, error=status.reason)
    Run.objects.filter(pk=run_id).update(monitor_token="")
