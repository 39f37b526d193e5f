"""More than one replica, with real processes: two Daphne processes on two ports (as behind
any load balancer) and two Celery workers, on one PostgreSQL and one Redis."""

from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests
from django.db import connection

from cameras.models import Camera
from clusters.tasks import cluster_health_check_all
from core.choices import Role
from core.services import SYSTEM, token_create
from tests.conftest import wait_for
from tests.factories import LocalClusterFactory, UserFactory
from tests.fixtures.stack import (
    enqueue,
    log_lines,
    start_chatty_run,
    start_stack,
    stop_stack,
    watch_camera,
    watch_log,
)
from workloads.bootstrap import bootstrap_demo
from workloads.tasks import run_monitor_task

pytestmark = [pytest.mark.slow, pytest.mark.live]

PROCESSES = ("web", "web2", "worker", "worker2", "monitor")
PASSWORD = "replicas-pass-4821"
METRICS_TOKEN = "replicas-scrape-token"


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """One /metrics scrape of a web process: {(sample name, sorted labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    response = requests.get(f"{url}/metrics", timeout=10,
                            headers={"Authorization": f"Bearer {METRICS_TOKEN}"})  # fmt: skip
    assert response.status_code == 200, response.text[:300]
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}  # fmt: skip


class CountingCamera(ThreadingHTTPServer):
    """An MJPEG camera that counts its clients: how many pulls the panel makes."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _MjpegHandler)
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.lock = threading.Lock()
        image = np.zeros((48, 64, 3), np.uint8)
        image[:, :32] = (0, 0, 255)
        self.jpeg = cv2.imencode(".jpg", image)[1].tobytes()
        self.stopping = threading.Event()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/stream.mjpg"

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()


class _MjpegHandler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        server: CountingCamera = self.server
        with server.lock:
            server.connections += 1
            server.open += 1
            server.most_open = max(server.most_open, server.open)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            seq = 0
            while not server.stopping.is_set():
                seq += 1
                part = (f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                        f"{len(server.jpeg)}\r\nX-Frame-Seq: {seq}\r\n"
                        f"X-Timestamp: {int(time.time() * 1000)}\r\n\r\n").encode()  # fmt: skip
                self.wfile.write(part + server.jpeg + b"\r\n")
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass
        finally:
            with server.lock:
                server.open -= 1


@pytest.fixture(scope="module")
def replicas(fault_postgres, tmp_path_factory):
    stack = start_stack(
        tmp_path_factory.mktemp("replicas"),
        fault_postgres.url(connection.settings_dict["NAME"]),
        extra_env={"METRICS_TOKEN": METRICS_TOKEN},
        processes=PROCESSES,
    )
    stack.postgres = fault_postgres
    yield stack
    stop_stack(stack)


@pytest.fixture
def on_replicas(replicas, transactional_db):
    """The replicas, with this test's queries sent to their database."""
    suite = connection.settings_dict
    connection.close()
    connection.settings_dict = {**suite, "HOST": "127.0.0.1", "PORT": str(replicas.postgres.port)}
    try:
        yield replicas
    finally:
        connection.close()
        connection.settings_dict = suite


def csrf_token(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def frames(watcher) -> int:
    return sum(isinstance(message, bytes) for message in watcher.since(0))


def test_two_web_processes_and_two_workers_serve_as_one_panel(on_replicas):
    """Sessions and CSRF tokens from one web process hold on the other; a camera is pulled once
    and its frames and a run's live log reach viewers on either; every task runs once."""
    stack = on_replicas
    one, two = stack.urls["web"], stack.urls["web2"]
    bootstrap_demo()
    cluster = LocalClusterFactory()
    admin = UserFactory(username="ada", role=Role.ADMIN)
    admin.set_password(PASSWORD)
    admin.save()
    _row, token = token_create(actor=SYSTEM, user=admin, name="replicas")

    # A session begun on one process, used on the other.
    browser = requests.Session()
    form = browser.get(f"{one}/login/", timeout=10)
    logged_in = browser.post(
        f"{two}/login/", data={"username": "ada", "password": PASSWORD,
                               "csrfmiddlewaretoken": csrf_token(form.text)},
        allow_redirects=False, timeout=10,
    )  # fmt: skip
    assert logged_in.status_code == 302, logged_in.text[:500]
    for url in (one, two):
        page = browser.get(f"{url}/", allow_redirects=False, timeout=10)
        assert page.status_code == 200 and "ada" in page.text
    # A CSRF token from a page of one process is good for a POST to the other.
    logout = browser.post(f"{one}/logout/", allow_redirects=False, timeout=10,
                          data={"csrfmiddlewaretoken": csrf_token(browser.get(f"{two}/").text)})  # fmt: skip
    assert logout.status_code == 302
    assert browser.get(f"{two}/", allow_redirects=False, timeout=10).status_code == 302

    # One camera, viewers on both processes: both get frames, the camera sees one pull.
    camera_server = CountingCamera()
    try:
        camera = Camera.objects.create(name="Gate", source_url=camera_server.url)
        viewers = [watch_camera(stack, camera.pk, token)]
        wait_for(lambda: frames(viewers[0]) >= 5, timeout=30)
        stack.url = two
        viewers.append(watch_camera(stack, camera.pk, token))
        stack.url = one
        wait_for(lambda: all(frames(viewer) >= 20 for viewer in viewers), timeout=30)
        assert (camera_server.connections, camera_server.most_open) == (1, 1)
        # Whichever process pulls, every web process reports the live camera (from Redis).
        # The first rate is measured over the puller's first couple of seconds.
        for url in (one, two):
            metrics = wait_for(
                lambda u=url: (m := scrape(u)).get(("controlpanel_cameras_live", ())) and m,
                timeout=10,
                interval=0.5,
            )
            assert metrics[("controlpanel_cameras_live", ())] == 1
            fps = metrics[("controlpanel_camera_fps", (("camera", str(camera.pk)),))]
            latency = metrics[
                ("controlpanel_camera_latency_seconds", (("camera", str(camera.pk)),))
            ]
            assert 5 < fps < 40 and 0 <= latency < 5, (fps, latency)  # the camera sends 20/s
        for viewer in viewers:
            viewer.close()
    finally:
        camera_server.stop()

    # A run's live log, followed through each process: every line, once, in order, on both.
    chatty = start_chatty_run(cluster, rate=100, seconds=4)
    enqueue(stack, run_monitor_task, chatty.pk)
    followers = []
    for url in (one, two):
        stack.url = url
        followers.append(watch_log(stack, chatty.pk, token))
    stack.url = one
    output_file = Path(chatty.handle["pods"][0]["log"])
    wait_for(lambda: "done after" in output_file.read_text(), timeout=30)
    output = output_file.read_text().splitlines()
    for follower in followers:
        wait_for(lambda f=follower: len(log_lines(f)) >= len(output), timeout=30, interval=0.2)
        assert [line["text"] for line in log_lines(follower)] == output
        assert [line["cursor"] for line in log_lines(follower)] == list(range(1, len(output) + 1))
        follower.close()

    # Forty tasks on the shared queue: each runs exactly once, on one worker or the other.
    sent = [enqueue(stack, cluster_health_check_all) for _ in range(40)]

    def done() -> dict[str, list[str]] | None:
        ran = {name: re.findall(r"cluster_health_check_all\[([0-9a-f-]+)\] succeeded",
                                stack.log(name)) for name in ("worker", "worker2")}  # fmt: skip
        return ran if set(sent) <= set(ran["worker"]) | set(ran["worker2"]) else None

    ran = wait_for(done, timeout=60, interval=0.3)
    everything = [task for name in ("worker", "worker2") for task in ran[name] if task in sent]
    assert sorted(everything) == sorted(sent)  # each once, none twice
    assert all(set(ran[name]) & set(sent) for name in ("worker", "worker2")), ran
