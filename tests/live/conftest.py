"""Helpers for the live tests: runs with stored log lines, websocket clients on the real app."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from clusters.runtimes.base import LogLine
from controlpanel.services import SYSTEM, token_create

ORIGIN = (b"origin", b"http://testserver")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API leaves an event loop running in the main
    thread, after which the websocket tests' `asyncio.run` refuses to start."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(autouse=True)
def _asgi_app(transactional_db):
    """Import the ASGI app outside any event loop (it checks the encryption keys in the DB)."""
    import controlpanel.asgi  # noqa: F401


@pytest.fixture
def run(transactional_db):
    """A run on the local cluster with two pods (no process started: lines are stored by hand)."""
    from clusters.services import cluster_ensure_local
    from workloads.bootstrap import bootstrap_demo
    from workloads.models import Run, RunPod, WorkloadTemplate

    bootstrap_demo()
    cluster, _ = cluster_ensure_local()
    template = WorkloadTemplate.objects.get(slug="lane-detection")
    run = Run.objects.create(template=template, cluster=cluster, state="running")
    for name in ("pod-a", "pod-b"):
        RunPod.objects.create(run=run, name=name)
    return run


def store(run, pod_name: str, texts: list[str]) -> None:
    """Store lines the way the monitor does (one transaction, published after commit)."""
    from workloads.ingest import store_lines
    from workloads.models import RunPod

    pod = RunPod.objects.get(run=run, name=pod_name)
    start = pod.log_position
    lines = [LogLine(text, start + i + 1) for i, text in enumerate(texts)]
    store_lines(run_id=run.pk, pod_id=pod.pk, lines=lines, from_position=start, local_outputs=False)


astore = database_sync_to_async(store)


def token_for(user) -> str:
    _row, plaintext = token_create(actor=SYSTEM, user=user, name="live tests")
    return plaintext


def communicator(path: str, *, token: str | None = None, headers=None, cookie: str | None = None):
    from controlpanel.asgi import application

    headers = list(headers if headers is not None else [ORIGIN])
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    subprotocols = ["controlpanel", f"token.{token}"] if token else None
    return WebsocketCommunicator(application, path, headers=headers, subprotocols=subprotocols)


async def receive_lines(comm, count: int, timeout: float = 10) -> list[dict]:
    """The next `count` log lines, skipping control messages."""
    lines = []
    while len(lines) < count:
        message = json.loads(await comm.receive_from(timeout=timeout))
        if "cursor" in message and "type" not in message:
            lines.append(message)
    return lines


async def receive_until_type(comm, kind: str, timeout: float = 10) -> tuple[list[dict], dict]:
    """Lines received before the first control message of `kind`, and that message."""
    lines = []
    while True:
        message = json.loads(await comm.receive_from(timeout=timeout))
        if message.get("type") == kind:
            return lines, message
        if "type" not in message:
            lines.append(message)


@pytest.fixture
def stream_server():
    """A real media_pipeline stream server (test:clock) on a free loopback port."""
    import subprocess
    import sys
    import urllib.request

    from tests.conftest import free_port, wait_for

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "media_pipeline", "stream", "--source", "test:clock",
         "--host", "127.0.0.1", "--port", str(port), "--fps", "20", "--width", "320"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def healthy():
        try:
            return urllib.request.urlopen(base + "/healthz", timeout=1).status == 200
        except OSError:
            return False

    wait_for(healthy, timeout=30)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def stream_clients(base: str) -> int:
    """How many MJPEG clients the stream server has (its Prometheus gauge)."""
    import urllib.request

    text = urllib.request.urlopen(base + "/metrics", timeout=2).read().decode()
    line = next(row for row in text.splitlines() if row.startswith("media_pipeline_clients{"))
    return int(float(line.split()[-1]))
