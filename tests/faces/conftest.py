"""The face service's real parts: a `faces-serve` back-end process with the real models, the
local cluster's volumes it reads, and the run row that makes it the service's back-end."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from media_pipeline import samples
from tests.conftest import free_port, wait_for

REPO = Path(__file__).resolve().parents[2]
FACES = samples.ROOT / "faces"

# Who is in each development photo (the data set's README): a stranger is None.
EXPECTED = {
    "obama2.jpg": ["obama"],
    "obama_small.jpg": ["obama"],
    "biden2.jpg": ["biden"],
    "two_people.jpg": ["biden", "obama"],
    "alex_lacamoire_img1.jpg": ["alex_lacamoire"],
    "kit_harington_john2.jpeg": ["kit_harington"],
    "rose_leslie_img2.jpg": ["rose_leslie"],
    "lin-manuel-miranda.png": [None],
    "hannibal_2.jpg": ["hannibal"],
}


@dataclass
class FaceServer:
    url: str
    process: subprocess.Popen
    volumes: dict[str, Path]
    log: Path

    def metric(self, name: str, **labels: str) -> float:
        """A counter or gauge from the back-end's Prometheus /metrics (summed over the rest)."""
        text = urllib.request.urlopen(self.url + "/metrics", timeout=5).read().decode()
        total = 0.0
        for line in text.splitlines():
            match = re.match(rf"^{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
            if not match:
                continue
            found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
            if all(found.get(k) == v for k, v in labels.items()):
                total += float(match.group(2))
        return total


def start_face_server(volumes: dict[str, Path], log: Path, port: int | None = None) -> FaceServer:
    port = port or free_port()
    argv = [sys.executable, "-m", "media_pipeline", "faces-serve", "--host", "127.0.0.1",
            "--port", str(port)]  # fmt: skip
    for name, directory in volumes.items():
        argv += ["--volume", f"{name}={directory}"]
    handle = open(log, "ab")  # noqa: SIM115 - the process owns it for its lifetime
    process = subprocess.Popen(argv, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            pytest.fail(f"faces-serve exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            return urllib.request.urlopen(url + "/healthz", timeout=1).status == 200
        except OSError:
            return False

    wait_for(healthy, timeout=60, interval=0.1)
    return FaceServer(url, process, volumes, log)


def stop(server: FaceServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session")
def face_volumes(tmp_path_factory) -> dict[str, Path]:
    """`photos`: the bundled development set; `scratch`: files a test makes (broken ones)."""
    scratch = tmp_path_factory.mktemp("faces-scratch")
    (scratch / "not-an-image.jpg").write_bytes(b"\xff\xd8 this is no JPEG")
    shutil.copy(samples.ROOT / "lanes" / "images" / "solidWhiteCurve.jpg", scratch / "road.jpg")
    return {"photos": FACES, "scratch": scratch}


@pytest.fixture(scope="session")
def face_server(face_volumes, tmp_path_factory) -> Iterator[FaceServer]:
    """One back-end process for the session (models load once)."""
    log = tmp_path_factory.mktemp("faces-serve") / "serve.log"
    server = start_face_server(face_volumes, log)
    yield server
    stop(server)


def make_service_run(cluster, urls: list[str]):
    """The running `face-recognition-service` run served at these addresses, recorded as the
    local runtime records its replicas (`run-<id>-serve`, or `run-<id>-serve-<n>` for several)."""
    from faces.choices import SERVICE_TEMPLATE
    from workloads.bootstrap import bootstrap_demo
    from workloads.choices import RunState
    from workloads.models import Run, WorkloadTemplate

    bootstrap_demo()
    template = WorkloadTemplate.objects.get(slug=SERVICE_TEMPLATE)
    now = timezone.now()
    run = Run.objects.create(
        template=template, cluster=cluster, state=RunState.RUNNING,
        params={"replicas": len(urls)}, submitted_at=now, started_at=now,
    )  # fmt: skip
    names = [f"run-{run.pk}-serve"] if len(urls) == 1 else [
        f"run-{run.pk}-serve-{n}" for n in range(len(urls))
    ]  # fmt: skip
    run.handle = {"runtime": "local", "endpoints": dict(zip(names, urls, strict=True)),
                  "pods": [], "workdir": ""}  # fmt: skip
    # Its processes are the test's, not a runtime's: a monitor would find none and call the
    # run lost (a worker starting sends every unfollowed run to one). The test holds the lease.
    run.monitor_token = "held-by-the-test"
    run.monitor_seen_at = now + timedelta(hours=1)
    run.save(update_fields=["handle", "monitor_token", "monitor_seen_at"])
    return run


@pytest.fixture
def faces_cluster(db, face_volumes, settings):
    from clusters.models import Volume
    from tests.factories import LocalClusterFactory

    cluster = LocalClusterFactory()
    for name, directory in face_volumes.items():
        Volume.objects.create(cluster=cluster, name=name, local_path=str(directory))
    settings.FACES_CLUSTER = cluster.name
    return cluster


@pytest.fixture
def face_service(faces_cluster, face_server, settings, redis_url):
    """The session's back-end registered as the service's only replica, circuits closed."""
    import redis

    settings.FACES_BREAKER_WAIT = 0.5
    redis.Redis.from_url(redis_url).delete(
        *redis.Redis.from_url(redis_url).keys("faces:breaker:*") or ["none"]
    )
    return make_service_run(faces_cluster, [face_server.url])


def wait_processed(
    api, ids: list[int], timeout: float = 120, beat: bool = False
) -> dict[int, dict]:
    """Poll the API until none of the images is pending or processing; returns them by id.
    With `beat`, do what beat does meanwhile (probe open circuits, re-queue lost images)."""
    from faces import services

    def done():
        if beat:
            services.backends_probe()
        found = {}
        for image_id in ids:
            body = api.get(f"/api/faces/{image_id}/").json()
            if body["status"] in ("pending", "processing"):
                return None
            found[image_id] = body
        return found

    return wait_for(done, timeout=timeout, interval=0.2)


def people_in(body: dict) -> list[str | None]:
    names = [face["person"] for face in body["faces"]]
    return sorted(names, key=lambda p: (p is None, p or ""))


def known_person_files() -> dict[str, Path]:
    """person -> their reference photo in the development set (`obama_1.jpg` -> obama)."""
    found = {}
    for image in sorted((FACES / "known").iterdir()):
        person = re.sub(r"[_-]\d+$", "", image.stem)
        found[person] = image
    return found


def json_of(response) -> dict:
    return json.loads(response.content or b"{}")


def env_for_subprocess(settings) -> dict[str, str]:
    """What a panel process started by a test needs to share this session's parts."""
    from django.db import connection

    db = connection.settings_dict
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CONTROLPANEL_DATA_DIR": str(settings.DATA_DIR),
        "LOCAL_DATA_ROOT": str(settings.LOCAL_DATA_ROOT),
        "ENCRYPTION_KEYS": ",".join(settings.ENCRYPTION_KEYS),
        "FACES_CLUSTER": settings.FACES_CLUSTER,
        "PYTHONPATH": str(REPO),
    })  # fmt: skip
    return env


def wait_until(predicate, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False
