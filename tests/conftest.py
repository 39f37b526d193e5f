"""Session-wide real parts: Redis on a free port, encryption keys, a Celery worker, users.

PostgreSQL: DATABASE_URL when given (make test-postgres), else a throwaway server started by
tests/tools/postgres_plugin.py; SQLite only when chosen with an empty `DATABASE_URL=`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator

import pytest
from cryptography.fernet import Fernet

pytest_plugins = [
    "tests.tools.postgres_plugin",
    "tests.fixtures.accounts",
    "tests.fixtures.browser",
    "tests.fixtures.live",
    "tests.fixtures.stack",
    "tests.kube.plugin",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API leaves an event loop running in the main
    thread, after which the websocket tests' `asyncio.run` refuses to start."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, interval: float = 0.05):
    """Poll until predicate() is truthy; returns its value or fails the test with a message."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s: {predicate}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server for the session, on a free port, data in a temp dir."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run `make test`, which installs it.")
    tmp = tempfile.mkdtemp(prefix="controlpanel-redis-")
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            tmp,
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def _wire_session_services(redis_url: str, tmp_path_factory) -> Iterator[None]:
    """Point Celery, Channels and encryption at the session's throwaway parts."""
    from channels.layers import channel_layers
    from django.conf import settings

    from controlpanel.celery import app
    from core.crypto import _multifernet

    data_dir = tmp_path_factory.mktemp("data")
    os.environ["REDIS_URL"] = redis_url
    settings.REDIS_URL = redis_url
    settings.CELERY_BROKER_URL = redis_url
    layer_config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    layer_config["hosts"] = [{**layer_config["hosts"][0], "address": redis_url}]
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    settings.ENCRYPTION_KEY_FILE = data_dir / "encryption.keys"
    settings.DATA_DIR = data_dir
    settings.LOCAL_DATA_ROOT = data_dir / "local"
    settings.MEDIA_ROOT = data_dir / "media"
    app.conf.broker_url = redis_url
    app.conf.result_backend = None
    channel_layers.backends = {}
    _multifernet.cache_clear()
    yield


@pytest.fixture(scope="session")
def celery_session_worker(django_db_setup, django_db_blocker):
    """A real Celery worker (threads) consuming from the session's Redis."""
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun
    from django.db import connections

    from controlpanel.celery import app

    def _close_connections(**_kwargs):
        # The worker's threads must not keep connections that would block dropping the test DB.
        connections.close_all()

    task_postrun.connect(_close_connections, weak=False)
    with django_db_blocker.unblock():
        with start_worker(
            app, pool="threads", concurrency=4, perform_ping_check=False, shutdown_timeout=30
        ) as worker:
            yield worker
    task_postrun.disconnect(_close_connections)


@pytest.fixture
def celery_worker(celery_session_worker, transactional_db):
    """Tests that hand work to the worker need committed rows (transactional_db).

    Afterwards the tasks the test started are brought to an end before the database is
    flushed (a flush racing a monitor's writes deadlocks): every run monitor loses its lease,
    which makes it return at its next poll, and the worker is given time to go idle.
    """
    from celery.worker import state

    from workloads.models import Run

    yield celery_session_worker
    deadline, quiet_since = time.monotonic() + 60, None
    while True:
        Run.objects.exclude(monitor_token="").update(monitor_token="")
        busy = state.active_requests or state.reserved_requests
        quiet_since = None if busy else (quiet_since or time.monotonic())
        if quiet_since and time.monotonic() - quiet_since > 0.3:  # idle, and stayed idle
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the worker still runs {len(state.active_requests)} task(s) after 60 s")
        time.sleep(0.05)
