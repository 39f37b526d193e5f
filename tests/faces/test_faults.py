"""Faults, with real processes: a back-end that stops answering while images wait, processors
SIGKILLed mid-image (the child process, then the whole worker)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psutil
import pytest
from django.utils import timezone

from core.models import AuditEvent
from faces import services
from faces.breaker import breaker_for
from faces.models import Face, FaceImage
from tests.conftest import free_port, wait_for
from tests.faces.conftest import REPO, env_for_subprocess, make_service_run

pytestmark = [pytest.mark.faces, pytest.mark.slow]


class BackendSwitch:
    """An HTTP hop in front of the real back-end that the test turns off and on, as a Service
    whose pods are gone answers through the API server's proxy (503), counting every call that
    reaches it. `hold()` keeps /detect calls waiting, so a processor is caught mid-image."""

    def __init__(self, target: str):
        self.target, self.up = target, True
        self.calls: Counter = Counter()
        self.refused: Counter = Counter()
        self.forwarded: Counter = Counter()
        self.holding = threading.Event()
        self.held = 0
        self.release = threading.Event()
        switch = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _relay(self, method: str):
                path = self.path.split("?")[0]
                switch.calls[path] += 1
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not switch.up:
                    switch.refused[path] += 1
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if path == "/detect" and switch.holding.is_set():
                    switch.held += 1
                    switch.release.wait(60)
                    return  # the caller was killed meanwhile: nothing reaches the back-end
                request = urllib.request.Request(
                    switch.target + self.path, data=body if method == "POST" else None,
                    method=method, headers={"Content-Type": self.headers.get("Content-Type", "")},
                )  # fmt: skip
                try:
                    with urllib.request.urlopen(request, timeout=60) as answer:
                        status, data = answer.status, answer.read()
                except urllib.error.HTTPError as error:
                    status, data = error.code, error.read()
                switch.forwarded[path] += 1
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                self._relay("GET")

            def do_POST(self):  # noqa: N802
                self._relay("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def switch(face_server):
    hop = BackendSwitch(face_server.url)
    yield hop
    hop.close()


@pytest.fixture
def switched_service(faces_cluster, switch, settings, redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.keys("faces:breaker:*"):
        client.delete(key)
    settings.FACES_BREAKER_WAIT = 0.5
    settings.FACES_BREAKER_MAX_WAIT = 4
    return make_service_run(faces_cluster, [switch.url])


def statuses(ids) -> Counter:
    return Counter(FaceImage.objects.filter(pk__in=ids).values_list("status", flat=True))


@pytest.mark.django_db
def test_a_call_that_finds_the_circuit_just_opened_is_refused_not_a_trial(redis_url, settings):
    # A processor that checked the breaker while closed can call after another processor
    # opened it. pybreaker keeps the opening time in whole seconds, so with a short wait such a
    # call would become the half-open trial and its failure would double the wait.
    import pybreaker

    from faces.backend import Endpoint

    settings.FACES_BREAKER_WAIT = 0.5
    endpoint = Endpoint(name=f"run-{uuid.uuid4().hex[:8]}-serve", url="http://127.0.0.1:9")

    def down():
        raise OSError("connection refused")

    for _ in range(settings.FACES_BREAKER_FAIL_MAX):
        with pytest.raises((OSError, pybreaker.CircuitBreakerError)):
            breaker_for(endpoint).call(down)
    assert breaker_for(endpoint).current_state == "open"
    time.sleep(1.1)  # past the wait, whichever way the opening second was rounded

    reached = []
    with pytest.raises(pybreaker.CircuitBreakerError):
        breaker_for(endpoint).call(reached.append, 1)
    assert reached == []
    assert breaker_for(endpoint).current_state == "open"
    assert breaker_for(endpoint).wait() == 0.5


@pytest.fixture
def faces_queue(settings):
    """A queue only this test's worker process serves (the session's in-process worker serves
    the usual ones)."""
    settings.FACES_QUEUE = f"faces-{uuid.uuid4().hex[:8]}"
    return settings.FACES_QUEUE


def start_worker(settings, queue: str, log) -> subprocess.Popen:
    env = env_for_subprocess(settings)
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "controlpanel", "worker", "-Q", queue,
         "--pool", "prefork", "--concurrency", "1", "-n", f"{queue}@%h", "--loglevel=INFO",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def children(worker: subprocess.Popen) -> list[psutil.Process]:
    """The worker's pool processes now (the pool replaces a dead one)."""
    return psutil.Process(worker.pid).children()


def beat_until_processed(image_id: int) -> int:
    """Beat's re-queue of the row stuck in `processing` (once: a second pass would take the row
    from the processor now working on it), then the wait until the image is processed; how many
    rows that pass gave back to the queue."""
    requeued = 0

    def step() -> bool:
        nonlocal requeued
        status = FaceImage.objects.get(pk=image_id).status
        if status == "processing" and not requeued:
            requeued += services.images_requeue_stale(older_than=0).get("processing", 0)
        return status == "processed"

    wait_for(step, timeout=120, interval=0.5)
    return requeued


@pytest.mark.django_db(transaction=True)
def test_processor_sigkilled_mid_image_child_then_whole_worker_is_processed_once(
    switched_service, switch, operator_api, settings, faces_queue, tmp_path
):
    log = open(tmp_path / "worker.log", "ab")  # noqa: SIM115
    worker = start_worker(settings, faces_queue, log)
    try:
        switch.holding.set()
        [first] = operator_api.post(
            "/api/faces/", {"volume": "photos", "path": "unknown/obama_small.jpg"}, format="json"
        ).json()["ids"]
        wait_for(lambda: switch.held == 1, timeout=120)  # the child is inside the call
        [child] = children(worker)
        child.kill()
        # The redelivered message finds the row claimed; beat gives it back to the queue.
        wait_for(lambda: [c.pid for c in children(worker)] not in ([], [child.pid]), timeout=30)
        switch.holding.clear()
        assert FaceImage.objects.get(pk=first).status == "processing"
        beat_until_processed(first)

        switch.holding.set()
        [second] = operator_api.post(
            "/api/faces/", {"volume": "photos", "path": "unknown/obama2.jpg"}, format="json"
        ).json()["ids"]
        wait_for(lambda: switch.held == 2, timeout=120)
        os.killpg(worker.pid, signal.SIGKILL)  # the whole worker, children and all
        worker.wait(10)
        switch.holding.clear()
        worker = start_worker(settings, faces_queue, log)
        # Its message is unacknowledged in Redis for an hour; beat does not wait that long.
        assert beat_until_processed(second) >= 1
    finally:
        switch.release.set()
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(30)
        log.close()

    assert switch.forwarded["/detect"] == 2  # the killed calls never reached the back-end
    for image_id in (first, second):
        image = FaceImage.objects.get(pk=image_id)
        assert image.status == "processed" and image.faces.count() == 1


class PrivateRedis:
    """A redis-server of this test's own, killable and restartable on the same port, with no
    snapshot: a restart loses every queued message."""

    def __init__(self, workdir):
        self.port, self.dir = free_port(), workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self):
        import shutil

        self.proc = subprocess.Popen(
            [shutil.which("redis-server"), "--bind", "127.0.0.1", "--port", str(self.port),
             "--dir", str(self.dir), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        import redis

        wait_for(lambda: _pings(redis.Redis.from_url(self.url)), timeout=10)

    def kill(self):
        self.proc.kill()
        self.proc.wait()


def _pings(client) -> bool:
    try:
        return client.ping()
    except Exception:
        return False


@pytest.fixture
def private_broker(settings, tmp_path):
    """The panel's broker moved to a Redis this test may restart (the session's own Redis
    serves every other test)."""
    from controlpanel.celery import app

    server = PrivateRedis(tmp_path)
    saved = settings.REDIS_URL, app.conf.broker_url
    settings.REDIS_URL = settings.CELERY_BROKER_URL = app.conf.broker_url = server.url
    app._pool = None
    app.amqp._producer_pool = None
    from faces.breaker import _redis

    _redis.cache_clear()
    yield server
    settings.REDIS_URL, app.conf.broker_url = saved
    settings.CELERY_BROKER_URL = saved[0]
    app._pool = None
    app.amqp._producer_pool = None
    _redis.cache_clear()
    if server.proc.poll() is None:
        server.kill()


@pytest.mark.django_db(transaction=True)
def test_a_redis_restart_mid_queue_loses_no_image(
    private_broker, faces_cluster, face_server, operator_api, settings, faces_queue, tmp_path
):
    """Twenty images queued, the worker taking them; Redis is SIGKILLed and started again
    empty. The worker reconnects by itself, beat gives back what the queue lost, and every
    image is processed once."""
    make_service_run(faces_cluster, [face_server.url])
    before = face_server.metric("faces_serve_requests_total", endpoint="/detect", outcome="ok")
    log = open(tmp_path / "worker.log", "ab")  # noqa: SIM115
    worker = start_worker(settings, faces_queue, log)
    try:
        paths = ["unknown/obama_small.jpg"] * 20
        ids = operator_api.post(
            "/api/faces/", {"volume": "photos", "paths": paths}, format="json"
        ).json()["ids"]
        wait_for(lambda: statuses(ids)["processed"] >= 3, timeout=120)
        private_broker.kill()
        time.sleep(2)
        private_broker.start()
        done_before = statuses(ids)["processed"]
        assert done_before < 20  # the queue still held images when it went
        # Once the worker is quiet, beat's re-queue brings back the rest.
        wait_for(lambda: statuses(ids)["processing"] == 0, timeout=60)
        wait_for(
            lambda: services.images_requeue_stale(older_than=0)["pending"] + statuses(ids)["processed"] >= 20,
            timeout=60,
        )  # fmt: skip
        wait_for(lambda: statuses(ids) == Counter(processed=20), timeout=120)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(30)
        log.close()
    assert Face.objects.filter(image_id__in=ids).count() == 20
    after = face_server.metric("faces_serve_requests_total", endpoint="/detect", outcome="ok")
    assert after - before == 20  # each image reached the back-end once


def test_an_image_whose_processor_loses_redis_goes_back_to_the_queue_at_once(
    face_service, settings
):
    """Redis unreachable between the claim and the call (the circuit's state lives there): the
    row does not wait in `processing` for beat's stale sweep, it is pending with no message on
    its way, which beat's next re-queue sends."""
    import redis

    from faces.breaker import _redis

    image = FaceImage.objects.create(
        source="volume", volume="photos", path="unknown/obama_small.jpg", queued_at=timezone.now()
    )
    reachable = settings.REDIS_URL
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    _redis.cache_clear()
    try:
        with pytest.raises(redis.ConnectionError):
            services.image_process(image_id=image.pk)
    finally:
        settings.REDIS_URL = reachable
        _redis.cache_clear()
    image.refresh_from_db()
    assert (image.status, image.queued_at, image.attempts) == ("pending", None, 1)
    assert "ConnectionError" in image.error


def test_backend_down_opens_the_circuit_images_wait_then_each_is_processed_once(
    celery_worker, switched_service, switch, operator_api, settings
):
    switch.up = False
    paths = ["unknown/obama_small.jpg"] * 50
    ids = operator_api.post(
        "/api/faces/", {"volume": "photos", "paths": paths}, format="json"
    ).json()["ids"]

    # Every message taken, the circuit open, nothing failed or lost: all 50 wait as pending,
    # with no message on its way (a retry due later, held by the worker, is not in the queue).
    endpoint = services.usable_endpoints()[0][0]
    wait_for(lambda: breaker_for(endpoint).current_state == "open", timeout=30)
    wait_for(
        lambda: (
            statuses(ids) == Counter(pending=50)
            and not FaceImage.objects.filter(pk__in=ids, queued_at__isnull=False).exists()
            and services._queue_length() == 0
        ),
        timeout=30,
    )
    assert switch.refused["/detect"] <= settings.FACES_BREAKER_FAIL_MAX + 3  # 4 worker threads
    # Only the calls that failed before the circuit opened count as attempts.
    attempts = Counter(FaceImage.objects.filter(pk__in=ids).values_list("attempts", flat=True))
    assert set(attempts) <= {0, 1} and 1 <= attempts[1] < switch.refused["/detect"]
    service = operator_api.get("/api/faces/service/").json()
    assert service["state"] == "open" and service["counts"]["pending"] == 50

    # While it stays down: one probe per wait, and each failed probe doubles the wait.
    calls_when_opened = switch.calls["/detect"]
    deadline = time.monotonic() + 3.5
    while time.monotonic() < deadline:
        services.backends_probe()
        services.images_requeue_stale(older_than=0)  # beat's other job: nothing while open
    assert switch.calls["/detect"] == calls_when_opened  # no image was sent while open
    assert 1 <= switch.refused["/healthz"] <= 3  # waits of 0.5, 1 and 2 s fit in 3.5 s
    assert breaker_for(endpoint).wait() == 0.5 * 2 ** switch.refused["/healthz"]
    assert statuses(ids) == Counter(pending=50)

    switch.up = True
    wait_for(lambda: services.backends_probe().get(endpoint.name) is True, timeout=10)
    wait_for(lambda: statuses(ids) == Counter(processed=50), timeout=120)
    assert switch.forwarded["/detect"] == 50  # each image once
    assert Face.objects.filter(image_id__in=ids).count() == 50
    assert set(FaceImage.objects.filter(pk__in=ids).values_list("attempts", flat=True)) <= {1, 2}
    changes = list(
        AuditEvent.objects.filter(object_type="face-backend")
        .order_by("pk")
        .values_list("changes", flat=True)
    )
    assert changes[0] == {"circuit": ["closed", "open"]}
    assert changes[-1] == {"circuit": ["half-open", "closed"]}
    assert operator_api.get("/api/faces/service/").json()["state"] == "closed"
