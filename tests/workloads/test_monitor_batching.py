"""Log lines are stored and published in batches: one channel-layer message per stored batch,
every cursor once and in order, across pods."""

from __future__ import annotations

import asyncio

import pytest

from clusters.runtimes.base import LogLine

pytestmark = [pytest.mark.live]


@pytest.fixture
def chatty_run(transactional_db):
    from clusters.services import cluster_ensure_local
    from workloads.bootstrap import bootstrap_demo
    from workloads.models import Run, RunPod, WorkloadTemplate

    bootstrap_demo()
    run = Run.objects.create(
        template=WorkloadTemplate.objects.get(slug="lane-detection"),
        cluster=cluster_ensure_local()[0],
        state="running",
    )
    for name in ("pod-a", "pod-b"):
        RunPod.objects.create(run=run, name=name)
    return run


def store(run, pod_name: str, texts: list[str]) -> None:
    from workloads.ingest import store_lines
    from workloads.models import RunPod

    pod = RunPod.objects.get(run=run, name=pod_name)
    lines = [LogLine(text, pod.log_position + i + 1) for i, text in enumerate(texts)]
    store_lines(run_id=run.pk, pod_id=pod.pk, lines=lines, from_position=pod.log_position,
                local_outputs=False)  # fmt: skip


def test_each_stored_batch_reaches_the_run_group_as_one_ordered_message(chatty_run):
    """A listener on the run's group gets one `run.logs` message per batch, holding exactly the
    stored lines with contiguous cursors, pods labelled, in storing order."""
    from channels.layers import get_channel_layer

    from workloads.models import RunLogLine
    from workloads.realtime import run_group

    layer = get_channel_layer()

    async def listen() -> str:
        channel = await layer.new_channel()
        await layer.group_add(run_group(chatty_run.pk), channel)
        return channel

    loop = asyncio.new_event_loop()
    try:
        channel = loop.run_until_complete(listen())
        store(chatty_run, "pod-a", [f"a{i}" for i in range(1500)])
        store(chatty_run, "pod-b", [f"b{i}" for i in range(700)])
        first = loop.run_until_complete(asyncio.wait_for(layer.receive(channel), 10))
        second = loop.run_until_complete(asyncio.wait_for(layer.receive(channel), 10))
    finally:
        loop.close()
    assert first["type"] == second["type"] == "run.logs"
    lines = first["lines"] + second["lines"]
    assert [line["cursor"] for line in first["lines"]] == list(range(1, 1501))
    assert [line["cursor"] for line in second["lines"]] == list(range(1501, 2201))
    assert [(line["pod"], line["text"]) for line in lines[1498:1502]] == [
        ("pod-a", "a1498"), ("pod-a", "a1499"), ("pod-b", "b0"), ("pod-b", "b1"),
    ]  # fmt: skip
    stored = list(
        RunLogLine.objects.filter(run=chatty_run).order_by("cursor").values_list("text", flat=True)
    )
    assert stored == [line["text"] for line in lines]


def test_a_batch_read_twice_is_stored_once(chatty_run):
    """A second monitor that read the same lines finds the read position moved: no duplicate."""
    from workloads.ingest import PositionMoved, store_lines
    from workloads.models import RunLogLine, RunPod

    pod = RunPod.objects.get(run=chatty_run, name="pod-a")
    lines = [LogLine(f"line {i}", i + 1) for i in range(2000)]
    store_lines(
        run_id=chatty_run.pk, pod_id=pod.pk, lines=lines, from_position=0, local_outputs=False
    )
    with pytest.raises(PositionMoved):
        store_lines(
            run_id=chatty_run.pk, pod_id=pod.pk, lines=lines, from_position=0, local_outputs=False
        )
    assert RunLogLine.objects.filter(run=chatty_run).count() == 2000
    assert RunPod.objects.get(pk=pod.pk).log_position == 2000


class PrintingPod:
    """A pod's log as the runtime yields it: `total` lines (None: it never stops) read at once."""

    def __init__(self, total: int | None) -> None:
        self.total = total

    def logs(self, handle, pod, since=0, follow=True, stop=None):
        position = since  # `stop` left to the monitor's queue: this pod never pauses
        while self.total is None or position < self.total:
            position += 1
            yield LogLine(f"line {position}", position)


def test_a_pod_faster_than_the_store_waits_instead_of_filling_memory():
    """The reader stays at most QUEUE_LINES ahead of the store, and stops when the monitor
    leaves (no thread left reading a pod nobody stores)."""
    import threading
    import time

    from workloads.monitor import QUEUE_LINES, Follower

    follower = Follower("pod-a").start(PrintingPod(None), {}, 0, threading.Event())
    deadline = time.monotonic() + 10
    while follower.lines.qsize() < QUEUE_LINES and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert follower.lines.qsize() == QUEUE_LINES
    assert follower.thread.is_alive()

    follower.stop()
    follower.thread.join(timeout=3)
    assert not follower.thread.is_alive()


def test_waiting_for_the_store_loses_no_line():
    """Drained slowly, a pod that printed three queues' worth arrives whole and in order."""
    import threading
    import time

    from workloads.monitor import QUEUE_LINES, Follower

    total = 3 * QUEUE_LINES
    follower = Follower("pod-a").start(PrintingPod(total), {}, 0, threading.Event())
    positions: list[int] = []
    deadline = time.monotonic() + 30
    while not follower.ended and time.monotonic() < deadline:
        batch = follower.drain()
        positions += [line.position for line in batch]
        if not batch:
            time.sleep(0.01)
    assert positions == list(range(1, total + 1))


@pytest.fixture
def running_pod(tmp_path):
    """A local-cluster pod that is running and prints nothing by itself: (handle, log file);
    tests write its log."""
    import subprocess
    import sys

    from clusters.runtimes.local import _now_iso, _process_start_ticks

    log = tmp_path / "pod.log"
    log.touch()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    handle = {"runtime": "local", "workdir": str(tmp_path), "pods": [{
        "name": "pod", "pid": alive.pid, "pid_start": _process_start_ticks(alive.pid),
        "log": str(log), "exit_file": str(tmp_path / "pod.exit"), "started_at": _now_iso(),
    }]}  # fmt: skip
    yield handle, log
    alive.kill()
    alive.wait()


def test_a_stopped_reader_of_a_quiet_pod_ends_at_once(running_pod):
    """A monitor that leaves (lease lost, another monitor took over) stops its readers even on
    a pod that prints nothing: no thread left polling a log for a monitor that is gone."""
    import threading

    from clusters.runtimes.local import LocalRuntime
    from workloads.monitor import Follower

    handle, log = running_pod
    log.write_text("one line, then silence\n")
    runtime = LocalRuntime(cluster=None)
    follower = Follower("pod").start(runtime, handle, 0, threading.Event())
    assert follower.lines.get(timeout=5).text == "one line, then silence"

    follower.stop()
    follower.thread.join(timeout=1)

    assert not follower.thread.is_alive()
    assert runtime.status(handle).state == "running"  # the pod itself is not touched


def test_output_without_newlines_is_stored_in_pieces_and_resumes_where_it_stopped(running_pod):
    """A progress bar redrawn with \\r never ends its line: it is cut into pieces instead of
    being held in memory, and reading on from the last position loses nothing."""
    from clusters.runtimes.local import MAX_LINE_BYTES, LocalRuntime

    handle, log = running_pod
    bar = "".join(f"\r{n:3d}% [{'#' * (n // 2):50s}]" for n in range(101)) * 20
    assert len(bar) > MAX_LINE_BYTES
    log.write_text("starting\n" + bar)
    runtime = LocalRuntime(cluster=None)

    first = list(runtime.logs(handle, "pod"))
    assert [line.text for line in first] == ["starting", bar]

    with log.open("a") as out:
        out.write("\ndone\n")
    rest = list(runtime.logs(handle, "pod", since=first[-1].position))
    assert [line.text for line in rest] == ["", "done"]


def test_the_lag_is_how_long_the_oldest_line_not_yet_stored_has_waited():
    """What /metrics reports as a monitor's lag: 0 once everything read is taken for storing."""
    import threading
    import time

    from workloads.monitor import Follower

    follower = Follower("pod-a").start(PrintingPod(100), {}, 0, threading.Event())
    deadline = time.monotonic() + 10
    while follower.lines.qsize() < 101 and time.monotonic() < deadline:  # 100 lines and the end
        time.sleep(0.01)
    time.sleep(0.5)
    assert 0.5 <= follower.lag() < 5
    assert len(follower.drain()) == 100
    assert follower.lag() == 0.0
