"""GPU jobs on the test bed, submitted as a user would: through the API, the real Celery worker
and the real API server, scheduled by the real scheduler on the stand-in GPU node.

They failed at once on every cluster ("nvidia.com/gpu Input should be a valid string"): the GPU
quantity went to the strict client as a number."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from clusters.gpu import NVIDIA_EXEMPTION
from clusters.services import cluster_import, cluster_set_pod_security
from core.services import SYSTEM
from tests.conftest import wait_for
from tests.workloads.conftest import wait_for_run

pytestmark = [pytest.mark.kubernetes, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

GPU_NODE = "standin-gpu-1"
# A raw manifest as people write it: YAML numbers for the quantities.
NUMERIC_QUANTITIES = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: train
spec:
  backoffLimit: 0
  template:
    metadata:
      annotations: {standin-kubelet/log: "Extracting /tmp/data\\nAccuracy at step 0: 0.1285\\nAccuracy at step 10: 0.674\\n"}
    spec:
      restartPolicy: Never
      securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: train
          image: wbuchwalter/tf-mnist:gpu
          resources:
            limits: {nvidia.com/gpu: 1, memory: 268435456}
            requests: {cpu: 0.5}
          securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
"""


@pytest.fixture
def kube_cluster(kube_kubeconfig, kube_namespace):
    return cluster_import(
        actor=SYSTEM, name="testbed", kubeconfig=kube_kubeconfig, namespace=kube_namespace.name
    )


def run_pods(kube_api, namespace: str, run_id: int) -> list:
    selector = f"controlpanel.io/run-id={run_id}"
    return k8s.CoreV1Api(kube_api).list_namespaced_pod(namespace, label_selector=selector).items


def test_the_gpu_preset_runs_on_the_gpu_node(
    celery_worker, presets, kube_cluster, kube_namespace, kube_api, operator_api
):
    """The preset as it is (one GPU): accepted, scheduled on the node with GPUs, succeeded."""
    response = operator_api.post(
        "/api/runs/",
        {"template": "gpu-job", "cluster": kube_cluster.name, "params": {"args": "--steps 10"}},
        format="json",
    )
    assert response.status_code == 201, response.content

    run = wait_for_run(operator_api, response.json()["id"], timeout=120)

    assert run["state"] == "succeeded", run["error"]
    assert [pod["exit_code"] for pod in run["pods"]] == [0]
    (pod,) = run_pods(kube_api, kube_namespace.name, run["id"])
    assert pod.spec.node_name == GPU_NODE
    assert pod.spec.containers[0].resources.limits == {"nvidia.com/gpu": "1"}
    assert pod.spec.containers[0].args == ["--steps", "10"]


def test_a_raw_manifest_with_numeric_quantities_runs(
    celery_worker, presets, kube_cluster, kube_namespace, kube_api, operator_api
):
    """`nvidia.com/gpu: 1`, `cpu: 0.5` and a memory in bytes, as YAML numbers, reach the
    cluster as the quantities they mean."""
    response = operator_api.post(
        "/api/runs/",
        {"template": "raw-manifest", "cluster": kube_cluster.name,
         "params": {"manifest": NUMERIC_QUANTITIES, "metrics": ["Accuracy"]}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content

    run = wait_for_run(operator_api, response.json()["id"], timeout=120)

    assert run["state"] == "succeeded", run["error"]
    (pod,) = run_pods(kube_api, kube_namespace.name, run["id"])
    assert pod.spec.node_name == GPU_NODE
    resources = pod.spec.containers[0].resources
    assert resources.limits == {"nvidia.com/gpu": "1", "memory": "268435456"}
    assert resources.requests["cpu"] == "500m"  # the API server's canonical form of 0.5
    # The training lines the pod printed, charted: accuracy against step (seed 004's job).
    (series,) = operator_api.get(f"/api/runs/{run['id']}/metrics/").json()["series"]
    assert series["name"] == "Accuracy" and series["points"] == [[0.0, 0.1285], [10.0, 0.674]]


def test_a_gpu_job_the_scheduler_cannot_place_says_why_while_it_is_pending(
    celery_worker, presets, kube_cluster, kube_namespace, kube_api, operator_api, operator_client
):
    """Three GPUs where no node has three: the run stays pending, and its pod says why, from
    the real scheduler's words, in the API and on the run page; cancelling ends it."""
    response = operator_api.post(
        "/api/runs/",
        {"template": "gpu-job", "cluster": kube_cluster.name, "params": {"gpus": 3}},
        format="json",
    )
    assert response.status_code == 201, response.content
    run_id = response.json()["id"]

    def waiting():
        body = operator_api.get(f"/api/runs/{run_id}/").json()
        pods = body["pods"]
        return body if pods and "Insufficient nvidia.com/gpu" in pods[0]["message"] else None

    run = wait_for(waiting, timeout=60, interval=0.3)

    assert run["state"] == "submitted"  # not failed, not running: it waits
    (pod,) = run["pods"]
    assert pod["phase"] == "Pending"
    assert pod["reason"] == "Unschedulable"
    assert "nodes are available" in pod["message"]
    page = operator_client.get(f"/runs/{run_id}/").content.decode()
    assert "Insufficient nvidia.com/gpu" in page
    assert operator_api.post(f"/api/runs/{run_id}/cancel/").status_code == 202
    assert wait_for_run(operator_api, run_id, timeout=60)["state"] == "cancelled"


def test_the_workshops_job_with_the_driver_folder_is_a_named_exception_an_admin_allows(
    celery_worker, presets, kube_cluster, kube_namespace, kube_api, operator_api
):
    """The read-only /usr/local/nvidia mount is refused at the default level until an admin
    allows the named exception; then the job runs as the workshop's: OnFailure, retries."""
    params = {"nvidia_volume": "yes", "backoff_limit": 2}
    body = {"template": "gpu-job", "cluster": kube_cluster.name, "params": params}
    refused = operator_api.post("/api/runs/", body, format="json")
    assert refused.status_code == 400
    message = " ".join(refused.json()["error"]["fields"]["nvidia_volume"])
    assert "nvidia-drivers /usr/local/nvidia" in message and "nvidia_volume to no" in message

    cluster_set_pod_security(actor=SYSTEM, cluster=kube_cluster, exemptions=[NVIDIA_EXEMPTION])
    response = operator_api.post("/api/runs/", body, format="json")
    assert response.status_code == 201, response.content

    run = wait_for_run(operator_api, response.json()["id"], timeout=120)

    assert run["state"] == "succeeded", run["error"]
    (pod,) = run_pods(kube_api, kube_namespace.name, run["id"])
    assert pod.spec.restart_policy == "OnFailure"
    assert pod.spec.node_name == GPU_NODE
    (driver,) = [v for v in pod.spec.volumes if v.host_path is not None]
    assert driver.host_path.path == "/usr/local/nvidia"
    (mount,) = [m for m in pod.spec.containers[0].volume_mounts if m.name == driver.name]
    assert mount.read_only is True and mount.mount_path == "/usr/local/nvidia"
    job = k8s.BatchV1Api(kube_api).read_namespaced_job(f"run-{run['id']}-gpu", kube_namespace.name)
    assert job.spec.backoff_limit == 2


def test_a_cluster_without_gpus_refuses_a_gpu_job_and_says_what_to_do(
    presets, kube_cluster, operator_api
):
    """Nothing is created when no node reports nvidia.com/gpu; the answer names the way out:
    the device plugin for GPU nodes without it, a GPU pool otherwise."""
    from clusters.models import Cluster

    nodes = kube_cluster.nodes
    body = {"template": "gpu-job", "cluster": kube_cluster.name, "params": {}}
    without_plugin = [n for n in nodes if not n["gpu"]]
    Cluster.objects.filter(pk=kube_cluster.pk).update(nodes=without_plugin)
    refused = operator_api.post("/api/runs/", body, format="json")
    assert refused.status_code == 400
    message = refused.json()["error"]["fields"]["cluster"][0]
    assert "standin-gpu-noplugin-1 is a GPU node" in message
    assert "Install the NVIDIA device plugin" in message

    cpu_only = [n for n in nodes if not n["gpu_node"]]
    Cluster.objects.filter(pk=kube_cluster.pk).update(nodes=cpu_only)
    refused = operator_api.post("/api/runs/", body, format="json")
    assert refused.status_code == 400
    assert "add a GPU node pool" in refused.json()["error"]["fields"]["cluster"][0]
    assert operator_api.get("/api/runs/").json()["count"] == 0
