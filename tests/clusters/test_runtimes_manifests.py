"""Rendered manifests: labelled, sharded once per input, and valid for a current Kubernetes."""

from __future__ import annotations

import pytest

from clusters.runtimes.base import TaskSpec, VolumePath, VolumeRef, WorkloadSpec, WorkPath
from clusters.runtimes.kubernetes import supports_indexed_jobs
from clusters.runtimes.manifests import LABEL_MANAGED_BY, LABEL_RUN_ID, render, validate

pytestmark = pytest.mark.smoke


def lane_batch(shards: int) -> WorkloadSpec:
    inputs = [f"in/{n}.jpg" for n in range(5)]
    spec = WorkloadSpec(run_id=7, kind="lane-detection", shard_count=shards)
    spec.volumes = [VolumeRef("footage", "footage", "/data", "")]
    spec.tasks = [
        TaskSpec(str(i), ["lanes", "--output", WorkPath("output"), *[VolumePath("footage", x) for x in inputs[i::shards]]],
                 image="ghcr.io/controlpanel/media-pipeline:latest")
        for i in range(shards)
    ]  # fmt: skip
    return spec


@pytest.mark.parametrize("indexed", [False, True])
def test_parallel_batch_renders_valid_labelled_jobs_covering_each_input_once(indexed):
    """Static shards and the Indexed Job both pass the 1.30 schema and carry our labels."""
    objects = render(lane_batch(3), "team-a", indexed_jobs=indexed)
    for obj in objects:
        validate(obj, "1.30.0")
        assert obj["metadata"]["labels"][LABEL_MANAGED_BY] == "controlpanel"
        assert obj["metadata"]["labels"][LABEL_RUN_ID] == "7"
    args = [
        a
        for obj in objects
        for a in obj["spec"]["template"]["spec"]["containers"][0]["args"]
        if a.startswith("/data/")
    ]
    assert sorted(args) == [f"/data/in/{n}.jpg" for n in range(5)]
    if indexed:
        assert len(objects) == 1 and objects[0]["spec"]["completionMode"] == "Indexed"
        assert (
            "$(JOB_COMPLETION_INDEX)"
            in objects[0]["spec"]["template"]["spec"]["containers"][0]["args"]
        )
    else:
        assert len(objects) == 3


def test_stream_renders_a_valid_deployment_and_service():
    """A camera stream is a Deployment plus a Service selecting its pod."""
    spec = WorkloadSpec(run_id=3, kind="camera-stream", long_running=True)
    spec.tasks = [
        TaskSpec("stream", ["stream", "--source", "test:ball"], image="media-pipeline:1", port=8080)
    ]
    deployment, service = render(spec, "default", indexed_jobs=False)
    for obj in (deployment, service):
        validate(obj, "1.30.0")
    assert (
        service["spec"]["selector"].items()
        <= deployment["spec"]["template"]["metadata"]["labels"].items()
    )


@pytest.mark.parametrize(
    ("version", "expected"), [("v1.20.2", False), ("v1.21.0", True), ("v1.30.1+k3s", True)]
)
def test_indexed_jobs_are_used_from_1_21(version, expected):
    """The server version decides between Indexed Jobs and static shards."""
    assert supports_indexed_jobs(version) is expected


@pytest.mark.django_db
def test_pods_list_the_clusters_pull_secrets_for_private_registries():
    """A pull secret made for the cluster's namespace lands in every rendered pod spec."""
    from clusters.models import Cluster, ContainerRegistry, Credential, PullSecret
    from workloads.specs import build_spec

    credential = Credential.objects.create(name="sp", kind="azure")
    cluster = Cluster.objects.create(name="aks", kind="kubernetes", namespace="vision")
    registry = ContainerRegistry.objects.create(
        name="acr", credential=credential, resource_group="rg"
    )
    PullSecret.objects.create(
        registry=registry, cluster=cluster, namespace="vision", secret_name="acr-pull"
    )
    PullSecret.objects.create(
        registry=registry, cluster=cluster, namespace="other", secret_name="elsewhere"
    )
    params = {
        "image": "acr.azurecr.io/vision/gpu:1",
        "command": [],
        "args": ["--epochs", "1"],
        "gpus": 1,
        "restart_policy": "Never",
    }
    spec = build_spec(kind="gpu-job", params=params, cluster=cluster, run_id=3)
    objects = render(spec, "vision", indexed_jobs=False)
    assert objects
    for obj in objects:
        validate(obj)
        assert obj["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "acr-pull"}]


def test_raw_manifest_quantities_become_strings_and_nothing_else_changes():
    """YAML numbers in limits, requests, overhead and sizeLimit are what the strict client
    refuses ("Input should be a valid string"); ports and replicas stay numbers."""
    from clusters.runtimes.manifests import label_raw

    manifest = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replicas": 2, "selector": {}, "template": {"spec": {
            "overhead": {"cpu": 1},
            "containers": [{
                "name": "c", "image": "i", "ports": [{"containerPort": 80}],
                "resources": {"limits": {"nvidia.com/gpu": 1, "memory": "1Gi"},
                              "requests": {"cpu": 0.5}},
            }],
            "volumes": [{"name": "v", "emptyDir": {"sizeLimit": 1024}}],
        }}},
    }  # fmt: skip
    spec = WorkloadSpec(run_id=1, kind="raw-manifest", manifests=[manifest])

    obj = label_raw(spec, manifest, "ns")

    pod = obj["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"] == {
        "limits": {"nvidia.com/gpu": "1", "memory": "1Gi"}, "requests": {"cpu": "0.5"},
    }  # fmt: skip
    assert pod["overhead"] == {"cpu": "1"}
    assert pod["volumes"][0]["emptyDir"] == {"sizeLimit": "1024"}
    assert pod["containers"][0]["ports"] == [{"containerPort": 80}]
    assert obj["spec"]["replicas"] == 2
    assert manifest["spec"]["template"]["spec"]["overhead"] == {"cpu": 1}  # the input is kept
    validate(obj)


def test_a_gpu_limit_is_rendered_as_a_quantity_string():
    spec = WorkloadSpec(run_id=2, kind="gpu-job")
    spec.tasks = [TaskSpec("gpu", ["--steps", "1"], image="trainer:1", pipeline=False, gpus=2)]
    (job,) = render(spec, "default", indexed_jobs=False)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {"limits": {"nvidia.com/gpu": "2"}}
