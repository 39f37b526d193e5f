"""Runs on the Kubernetes test bed: real API server, controller-manager, scheduler; pods run
by the stand-in kubelet as local pipeline processes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from kubernetes import client as k8s

from clusters.models import Volume
from clusters.services import cluster_import
from core.services import SYSTEM
from media_pipeline import samples
from tests.conftest import wait_for
from tests.kube.test_testbed import azure_file_claim
from tests.workloads.conftest import all_log_lines, wait_for_run

pytestmark = [pytest.mark.kubernetes, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def kube_cluster(kube_kubeconfig, kube_namespace):
    return cluster_import(
        actor=SYSTEM, name="testbed", kubeconfig=kube_kubeconfig, namespace=kube_namespace.name
    )


@pytest.fixture
def footage(kube_cluster, kube_namespace, kube_admin_api):
    """A claim holding four sample images, registered as the cluster's `footage` volume."""
    pv = azure_file_claim(k8s.CoreV1Api(kube_admin_api), kube_namespace.name, "footage")
    folder = kube_namespace.claim_dir("footage") / "input"
    folder.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in samples.LANE_IMAGES.iterdir())[:4]
    for name in names:
        shutil.copy(samples.LANE_IMAGES / name, folder / name)
    Volume.objects.create(
        cluster=kube_cluster, name="footage", claim_name="footage", mount_path="/data"
    )
    yield names
    k8s.CoreV1Api(kube_admin_api).delete_persistent_volume(pv)


def test_parallel_lane_batch_processes_each_input_once(
    celery_worker, presets, kube_cluster, footage, operator_api
):
    """Two pods share four images; each image is processed by exactly one of them."""
    params = {
        "volume": "footage",
        "inputs": [f"input/{name}" for name in footage],
        "parallelism": 2,
    }
    response = operator_api.post(
        "/api/runs/",
        {"template": "lane-detection", "cluster": kube_cluster.name, "params": params},
        format="json",
    )
    assert response.status_code == 201, response.json()

    run = wait_for_run(operator_api, response.json()["id"], timeout=180)

    assert run["state"] == "succeeded", (run["error"], all_log_lines(operator_api, run["id"])[-3:])
    assert len(run["pods"]) == 2 and all(pod["exit_code"] == 0 for pod in run["pods"])
    processed = [
        Path(json.loads(line["text"])["file"]).name
        for line in all_log_lines(operator_api, run["id"])
        if line["text"].startswith('{"event":"result"')
    ]
    assert sorted(processed) == sorted(footage)
    assert run["progress"] == 100


def submit_missing_input_run(api, cluster) -> int:
    """A lane run on the test bed whose one input does not exist: its pod exits 1."""
    params = {"volume": "footage", "inputs": ["input/missing.jpg"]}
    body = {"template": "lane-detection", "cluster": cluster.name, "params": params}
    return api.post("/api/runs/", body, format="json").json()["id"]


def test_failing_pod_reports_its_exit_code(
    celery_worker, presets, kube_cluster, footage, operator_api
):
    """A pod whose input is missing exits 1: the run fails and names the pod and the code."""
    run_id = submit_missing_input_run(operator_api, kube_cluster)

    run = wait_for_run(operator_api, run_id, timeout=180)

    assert run["state"] == "failed"
    assert run["pods"][0]["exit_code"] == 1
    assert "exited with code 1" in run["error"]


def test_the_log_can_still_be_watched_after_the_pods_are_deleted(
    celery_worker, presets, kube_cluster, kube_namespace, kube_admin_api, footage, operator_api
):
    """The lines are the panel's: with the Job and its pods gone from the cluster, a viewer of
    the live log still gets every line, labelled with the pod that printed it."""
    import asyncio

    import controlpanel.asgi  # noqa: F401 - imported outside the event loop (it reads the DB)
    from core.choices import Role
    from tests.factories import UserFactory
    from tests.fixtures.live import communicator, receive_until_type, token_for

    run_id = submit_missing_input_run(operator_api, kube_cluster)
    run = wait_for_run(operator_api, run_id, timeout=180)
    stored = all_log_lines(operator_api, run_id)
    assert run["state"] == "failed"
    assert any("no such file" in line["text"] for line in stored)  # the pod's own error
    batch, core = k8s.BatchV1Api(kube_admin_api), k8s.CoreV1Api(kube_admin_api)
    selector = f"controlpanel.io/run-id={run_id}"
    for job in batch.list_namespaced_job(kube_namespace.name, label_selector=selector).items:
        batch.delete_namespaced_job(job.metadata.name, kube_namespace.name,
                                    propagation_policy="Background")  # fmt: skip
    core.delete_collection_namespaced_pod(kube_namespace.name, label_selector=selector)
    wait_for(lambda: not core.list_namespaced_pod(kube_namespace.name, label_selector=selector).items,
             timeout=60)  # fmt: skip
    token = token_for(UserFactory(username="vera", role=Role.VIEWER))

    async def watch():
        comm = communicator(f"/ws/runs/{run_id}/logs/?after=0", token=token)
        assert (await comm.connect())[0]
        lines, live = await receive_until_type(comm, "live")
        await comm.disconnect()
        return lines, live

    lines, live = asyncio.run(watch())
    assert [(line["cursor"], line["pod"], line["text"]) for line in lines] == [
        (line["cursor"], line["pod"], line["text"]) for line in stored
    ]
    assert {line["pod"] for line in lines} == {run["pods"][0]["name"]}
    assert live["cursor"] == stored[-1]["cursor"]


def test_cancel_deletes_the_objects(
    celery_worker, presets, kube_cluster, kube_namespace, kube_api, operator_api
):
    """Cancelling a camera stream deletes its Deployment and Service."""
    run_id = operator_api.post(
        "/api/runs/", {"template": "camera-stream", "cluster": kube_cluster.name}, format="json"
    ).json()["id"]
    wait_for_run(operator_api, run_id, states=("running",), timeout=120)
    apps = k8s.AppsV1Api(kube_api)
    selector = f"controlpanel.io/run-id={run_id}"
    assert apps.list_namespaced_deployment(kube_namespace.name, label_selector=selector).items

    assert operator_api.post(f"/api/runs/{run_id}/cancel/").status_code == 202

    assert wait_for_run(operator_api, run_id, timeout=120)["state"] == "cancelled"
    wait_for(
        lambda: (
            not apps.list_namespaced_deployment(kube_namespace.name, label_selector=selector).items
        )
    )
    assert (
        not k8s.CoreV1Api(kube_api)
        .list_namespaced_service(kube_namespace.name, label_selector=selector)
        .items
    )


def test_bad_parameters_create_nothing(
    presets, kube_cluster, kube_namespace, kube_api, operator_api
):
    """Out-of-range parallelism is a 400 naming the field; no run row, no Job."""
    response = operator_api.post(
        "/api/runs/",
        {"template": "lane-detection", "cluster": kube_cluster.name, "params": {"parallelism": 99}},
        format="json",
    )
    assert response.status_code == 400
    assert "parallelism" in response.json()
    assert not k8s.BatchV1Api(kube_api).list_namespaced_job(kube_namespace.name).items


def test_a_stopped_reader_of_a_silent_pod_ends_at_once(
    kube_cluster, kube_namespace, kube_admin_api
):
    """A monitor that leaves stops its readers even when the pod prints nothing more: the log
    stream through the API server is shut, not left holding a thread and a connection."""
    import threading

    from clusters.runtimes.kubernetes import KubernetesRuntime
    from workloads.monitor import Follower

    core = k8s.CoreV1Api(kube_admin_api)
    scripted = {"standin-kubelet/run-seconds": "600", "standin-kubelet/log": "hello"}
    core.create_namespaced_pod(kube_namespace.name, k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="silent", annotations=scripted),
        spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="silent", image="busybox")]),
    ))  # fmt: skip
    wait_for(lambda: core.read_namespaced_pod("silent", kube_namespace.name).status.phase
             == "Running", timeout=60)  # fmt: skip
    handle = {"runtime": "kubernetes", "namespace": kube_namespace.name}
    follower = Follower("silent").start(
        KubernetesRuntime(kube_cluster), handle, 0, threading.Event()
    )
    first = [follower.lines.get(timeout=30).text, follower.lines.get(timeout=30).text]
    assert "hello" in first  # its log so far; then it prints nothing

    follower.stop()
    follower.thread.join(timeout=3)

    assert not follower.thread.is_alive()
    assert core.read_namespaced_pod("silent", kube_namespace.name).status.phase == "Running"
