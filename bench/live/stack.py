"""The real panel the live benchmarks measure: Redis, Daphne, Celery workers and a camera
source, each a process of its own on free ports, over a throwaway data dir (and the database
`DATABASE_URL` names: SQLite in the data dir when unset, PostgreSQL under
`tests.tools.with_postgres`)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def stack(tmp: str) -> tuple[dict, list[subprocess.Popen], str]:
    """Redis, Daphne and the Django env; returns (env, processes, base URL)."""
    redis_port, web_port = free_port(), free_port()
    procs = [subprocess.Popen([shutil.which("redis-server"), "--port", str(redis_port), "--save", "",
                               "--appendonly", "no", "--dir", tmp], stdout=subprocess.DEVNULL)]  # fmt: skip
    env = dict(os.environ, CONTROLPANEL_DATA_DIR=tmp, REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
               PYTHONPATH=str(ROOT))  # fmt: skip
    subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [PY, "manage.py", "bootstrap_demo"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    procs.append(subprocess.Popen(
        [shutil.which("daphne", path=os.path.dirname(PY)), "-b", "127.0.0.1", "-p", str(web_port),
         "controlpanel.asgi:application"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=open(Path(tmp) / "daphne.log", "w")))  # fmt: skip
    base = f"http://127.0.0.1:{web_port}"
    wait_http(base + "/healthz", timeout=120)  # a loaded machine starts Daphne slowly
    return env, procs, base


def server_errors(tmp: str) -> str:
    """Tracebacks Daphne logged (its log is in the data dir `stack` made)."""
    log = Path(tmp) / "daphne.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(block for block in text.split("\n\n") if "Traceback" in block)


def stop(procs: list[subprocess.Popen]) -> None:
    """Stop what `stack` and the helpers below started, newest first."""
    for proc in reversed(procs):
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def django_setup(env: dict, code: str) -> str:
    return subprocess.run([PY, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()  # fmt: skip


TOKEN_CODE = """
from core.services import SYSTEM, token_create
from django.contrib.auth import get_user_model
print(token_create(actor=SYSTEM, user=get_user_model().objects.get(username='admin'), name='bench')[1])
"""

# The demo cameras' runs would start stream processes (and hold a worker) as soon as a worker
# is up: benchmarks start from a panel without them.
CLEAR_DEMO_CODE = (
    "from cameras.models import Camera; from workloads.models import Run; "
    "Camera.objects.all().delete(); Run.objects.all().delete()"
)


def start_worker(env: dict, procs: list, *options: str) -> None:
    """A Celery worker (`celery -A controlpanel worker <options>`), up and answering pings
    before this returns."""
    procs.append(subprocess.Popen(
        [os.path.join(os.path.dirname(PY), "celery"), "-A", "controlpanel", "worker", "--loglevel", "WARNING",
         *options], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    ))  # fmt: skip
    name = next((o.split("=", 1)[1] for o in options if o.startswith("--hostname=")), "")
    ping = "from controlpanel.celery import app; print(' '.join(n for r in app.control.ping(timeout=1) for n in r))"
    while True:
        answered = django_setup(env, ping).splitlines()[-1:]
        if answered and (not name or name.split("@")[0] in answered[0]):
            return
        time.sleep(0.5)


def start_camera_source(procs: list, fps: float, size: str = "width=1280&height=720") -> str:
    """The media pipeline's test clock served as MJPEG (what a camera-stream pod serves);
    returns its stream URL."""
    port = free_port()
    procs.append(subprocess.Popen(
        [PY, "-m", "media_pipeline", "stream", "--source", f"test:clock?{size}",
         "--host", "127.0.0.1", "--port", str(port), "--fps", f"{fps:g}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
    wait_http(f"http://127.0.0.1:{port}/healthz")
    return f"http://127.0.0.1:{port}/stream.mjpg"


def create_camera(env: dict, source_url: str, name: str = "bench") -> int:
    code = (f"from cameras.models import Camera; print(Camera.objects.create(name={name!r}, "
            f"source_url={source_url!r}).pk)")  # fmt: skip
    return int(django_setup(env, code).splitlines()[-1])


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.95 * (len(ordered) - 1))]
