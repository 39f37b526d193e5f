"""GPU jobs on the test bed, submitted as a user would: through the API, the real Celery worker
and the real API server, scheduled by the real scheduler on the stand-in GPU node.

They failed at once on every cluster ("nvidia.com/gpu Input should be a valid string"): the GPU
quantity went to the strict client as a number."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from clusters.services import cluster_import
from core.services import SYSTEM
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
      annotations: {standin-kubelet/log: "Accuracy at step 10: 0.674"}
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
         "params": {"manifest": NUMERIC_QUANTITIES}},
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
