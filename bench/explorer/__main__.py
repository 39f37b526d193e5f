"""Cluster explorer benchmark: 2,000 pods over 50 namespaces on the test bed's API server,
read through the panel's REST API (Daphne, SQLite, Redis as `bench.live.stack` starts them).

    .venv/bin/python -m bench.explorer                     # the numbers in docs/BENCHMARKS.md
    .venv/bin/python -m bench.explorer --namespaces 50 --pods 40 --requests 60

A control plane of its own (tests/kube: etcd, API server, controller manager, scheduler; no
kubelet) holds the pods without running them: each has a nodeSelector no node matches, so it
stays Pending (the scheduler keeps retrying them, as on a real cluster with such pods). The
panel reads with its own identity, docker/rbac/ plus the optional clusterrole-explorer.yaml.

Reported, each over `--requests` calls: a namespace's pod list (one page of the default 100:
a whole namespace), the all-namespaces pod list (first page of 100, and of 500), the
all-namespaces HTML page; p50, p95, max; the machine's load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kubernetes import client as k8s
from kubernetes import utils

from bench.live.stack import django_setup, stack, stop
from tests.kube.controlplane import ControlPlane
from tests.kube.plugin import (
    PANEL_ACCOUNT,
    RBAC_DIR,
    _apply_rbac,
    client_from_text,
    wait_for_default_service_account,
)

IMPORT_CODE = """
from clusters.services import cluster_import
from core.services import SYSTEM, token_create
from django.contrib.auth import get_user_model
cluster = cluster_import(actor=SYSTEM, name="bench", kubeconfig=open({path!r}).read(), namespace="default")
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
user = get_user_model().objects.get(username="admin")
token = token_create(actor=SYSTEM, user=user, name="bench")[1]
session = import_module(settings.SESSION_ENGINE).SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(cluster.pk, token, session.session_key)
"""


def _pod(i: int) -> dict:
    return {
        "metadata": {"name": f"pod-{i:04d}", "labels": {"app": "bench", "slot": str(i % 10)}},
        "spec": {
            "nodeSelector": {"controlpanel.io/bench": "nowhere"},
            "containers": [{"name": "main", "image": "busybox",
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}],
        },
    }  # fmt: skip


def populate(admin: k8s.ApiClient, namespaces: int, pods: int) -> list[str]:
    core = k8s.CoreV1Api(admin)
    names = [f"bench-{n:02d}" for n in range(namespaces)]
    for name in names:
        core.create_namespace({"metadata": {"name": name}})
    for name in names:
        wait_for_default_service_account(admin, name)
    jobs = [(name, i) for name in names for i in range(pods)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda job: core.create_namespaced_pod(job[0], _pod(job[1])), jobs))
    return names


def timed_get(url: str, token: str) -> tuple[float, bytes]:
    """An API call with the token, a page with the session cookie (`session=...`)."""
    if token.startswith("session="):
        headers = {"Cookie": f"{settings_cookie()}={token.removeprefix('session=')}"}
    else:
        headers = {"Authorization": f"Token {token}"}
    request = urllib.request.Request(url, headers=headers)
    began = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read()
    return time.perf_counter() - began, body


def settings_cookie() -> str:
    return os.environ.get("SESSION_COOKIE_NAME", "sessionid")


def measure(label: str, urls: list[str], token: str, check) -> dict:
    times = []
    for url in urls:
        seconds, body = timed_get(url, token)
        check(body)
        times.append(seconds)
    times.sort()
    p95 = times[max(0, int(round(0.95 * len(times))) - 1)]
    result = {"what": label, "requests": len(times), "p50_ms": round(statistics.median(times) * 1000),
              "p95_ms": round(p95 * 1000), "max_ms": round(times[-1] * 1000)}  # fmt: skip
    print(json.dumps(result), flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--namespaces", type=int, default=50)
    parser.add_argument("--pods", type=int, default=40, help="per namespace")
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-explorer-"))
    plane = ControlPlane(work / "kube").start()
    procs: list = []
    try:
        admin = client_from_text(plane.admin_kubeconfig())
        token = _apply_rbac(admin)
        utils.create_from_yaml(admin, str(RBAC_DIR / "clusterrole-explorer.yaml"))
        began = time.monotonic()
        names = populate(admin, args.namespaces, args.pods)
        total = args.namespaces * args.pods
        print(f"created {total} pods in {len(names)} namespaces in {time.monotonic() - began:.1f}s",
              flush=True)  # fmt: skip
        kubeconfig = work / "panel.kubeconfig"
        kubeconfig.write_text(plane.kubeconfig(token, PANEL_ACCOUNT))
        env, procs, base = stack(str(work))
        output = django_setup(env, IMPORT_CODE.format(path=str(kubeconfig)))
        cluster_id, api_token, session = output.splitlines()[-1].split()
        print(f"load average before: {os.getloadavg()}", flush=True)
        api = f"{base}/api/clusters/{cluster_id}"

        def pods_of(count):
            def check(body):
                got = len(json.loads(body)["items"])
                assert got == count, f"{got} pods instead of {count}"

            return check

        results = [
            measure(f"namespace pod list ({args.pods} pods, one page)",
                    [f"{api}/namespaces/{names[i % len(names)]}/pods/" for i in range(args.requests)],
                    api_token, pods_of(args.pods)),
            measure("all-namespaces pod list, first page of 100",
                    [f"{api}/objects/pods/"] * args.requests, api_token, pods_of(min(100, total))),
            measure("all-namespaces pod list, first page of 500",
                    [f"{api}/objects/pods/?limit=500"] * args.requests, api_token,
                    pods_of(min(500, total))),
            measure("all-namespaces pods page (HTML, 100 rows)",
                    [f"{base}/clusters/{cluster_id}/explore/pods/"] * args.requests, f"session={session}",
                    lambda body: body.count(b"<tr data-name=") == min(100, total) or sys.exit("rows")),
        ]  # fmt: skip
        print(f"load average after: {os.getloadavg()}", flush=True)
        print(json.dumps({"pods": total, "namespaces": len(names), "results": results}))
    finally:
        stop(procs)
        plane.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
