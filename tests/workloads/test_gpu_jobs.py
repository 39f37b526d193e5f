"""GPU jobs before anything is sent: which clusters take them, what they say otherwise, and the
NVIDIA driver mount by default on AKS N-series pools (from the cluster's last node snapshot)."""

from __future__ import annotations

import pytest

from clusters.azure.models import AksCluster
from clusters.choices import ClusterKind
from clusters.gpu import NVIDIA_EXEMPTION
from clusters.models import Cluster
from workloads.forms import RunForm
from workloads.models import WorkloadTemplate

pytestmark = pytest.mark.django_db

CPU_NODE = {"name": "aks-system-0", "ready": True, "gpu": 0, "gpu_node": False,
            "instance_type": "Standard_D4s_v5", "cpu": 4, "memory": 1}  # fmt: skip


def _aks(pools: list[dict], nodes: list[dict], exemptions=()) -> Cluster:
    cluster = Cluster.objects.create(
        name="aks-gpu", kind=ClusterKind.AKS, nodes=nodes, namespace="runs",
        pod_security_exemptions=list(exemptions),
    )  # fmt: skip
    AksCluster.objects.create(
        cluster=cluster, resource_group="rg", location="westeurope", azure_name="aks-gpu",
        node_pools=pools,
    )  # fmt: skip
    return cluster


SCALING_POOL = {"name": "gpu", "vm_size": "Standard_NC6", "autoscale": True, "min_count": 0,
                "max_count": 2, "count": 0}  # fmt: skip


def test_a_gpu_pool_that_scales_from_zero_takes_the_job_and_says_it_waits(presets, operator_api):
    """No node has a GPU yet, but an autoscaled N-series pool adds one: accepted, with a
    warning; the driver folder is mounted by default there, so the named exception is needed."""
    cluster = _aks([SCALING_POOL], [CPU_NODE])
    body = {"template": "gpu-job", "cluster": cluster.name, "params": {}}

    refused = operator_api.post("/api/runs/", body, format="json")
    assert refused.status_code == 400
    assert "nvidia-drivers" in " ".join(refused.json()["error"]["fields"]["nvidia_volume"])

    Cluster.objects.filter(pk=cluster.pk).update(pod_security_exemptions=[NVIDIA_EXEMPTION])
    response = operator_api.post("/api/runs/", body, format="json")
    assert response.status_code == 201, response.content
    (warning,) = response.json()["warnings"]
    assert "gpu (Standard_NC6) scales up from zero: the job waits for a node" in warning


def test_an_aks_cluster_without_gpu_nodes_or_pools_refuses_the_job(presets, operator_api):
    cluster = _aks([{"name": "system", "vm_size": "Standard_D4s_v5", "autoscale": False}],
                   [CPU_NODE])  # fmt: skip
    refused = operator_api.post(
        "/api/runs/", {"template": "gpu-job", "cluster": cluster.name, "params": {}}, format="json"
    )
    assert refused.status_code == 400
    assert "add a GPU node pool" in refused.json()["error"]["fields"]["cluster"][0]


def test_the_gpu_form_starts_on_a_kubernetes_cluster_with_gpus(presets, local_cluster):
    """The local cluster cannot run images: the GPU template's form picks a cluster with GPUs."""
    Cluster.objects.create(name="cpu-only", kind=ClusterKind.KUBERNETES, nodes=[CPU_NODE])
    gpus = Cluster.objects.create(
        name="with-gpus", kind=ClusterKind.KUBERNETES,
        nodes=[{**CPU_NODE, "name": "gpu-0", "gpu": 1, "gpu_node": True}],
    )  # fmt: skip
    form = RunForm(template=WorkloadTemplate.objects.get(slug="gpu-job"))
    assert form.fields["cluster"].initial == gpus.pk
    lanes = RunForm(template=WorkloadTemplate.objects.get(slug="lane-detection"))
    assert lanes.fields["cluster"].initial == local_cluster.pk


def test_a_kubernetes_lane_run_without_a_volume_warns_that_outputs_are_lost(
    presets, operator_api, local_cluster
):
    """Before it starts: the API's answer says so (the local cluster keeps its outputs)."""
    cluster = Cluster.objects.create(name="k", kind=ClusterKind.KUBERNETES, nodes=[CPU_NODE])
    response = operator_api.post(
        "/api/runs/", {"template": "lane-detection", "cluster": cluster.name}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["warnings"][0].startswith(
        "no volume: outputs will be lost when the pod ends"
    )
    local = operator_api.post(
        "/api/runs/", {"template": "lane-detection", "cluster": local_cluster.name}, format="json"
    )
    assert local.json()["warnings"] == []


def test_a_pod_that_succeeded_is_done_when_its_run_is(presets, local_cluster):
    """A pod printing no pipeline events (a GPU job's) does not stay at 0% beside its run at
    100%; a pod that failed keeps what it reached."""
    from workloads.models import Run, RunPod
    from workloads.services import run_finish

    run = Run.objects.create(
        template=WorkloadTemplate.objects.get(slug="gpu-job"), cluster=local_cluster,
        state="running",
    )  # fmt: skip
    done = RunPod.objects.create(run=run, name="train-0", phase="Succeeded")
    failed = RunPod.objects.create(run=run, name="train-1", phase="Failed", progress=40)

    assert run_finish(run_id=run.pk, state="succeeded")

    done.refresh_from_db()
    failed.refresh_from_db()
    assert (done.progress, failed.progress) == (100, 40)
