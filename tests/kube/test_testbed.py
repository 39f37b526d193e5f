"""The Kubernetes test bed itself: a real API server, the panel's least-privilege identity, and a
stand-in kubelet that really runs our pipeline. Everything here goes through the API server with
the panel's token (kube_api) unless a test says otherwise.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from clusters.kubeconfig import api_client, parse
from clusters.probe import probe_kubernetes
from tests.kube.manifests import assert_valid_manifest
from tests.kube.plugin import KubeNamespace, wait_until_allowed

pytestmark = pytest.mark.kubernetes

PIPELINE_IMAGE = "controlpanel/media-pipeline:test"
SAMPLE_IMAGE = Path(__file__).resolve().parents[1] / "data" / "lanes" / "solidYellowLeft.jpg"


def wait_until(what: str, check: Callable[[], object], timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def wait_for_job(
    batch: k8s.BatchV1Api, core: k8s.CoreV1Api, namespace: str, name: str, timeout: float = 60
) -> k8s.V1Job:
    """Wait until the Job completes; if it fails instead, fail with its pods' logs."""

    def finished() -> k8s.V1Job | None:
        job = batch.read_namespaced_job_status(name, namespace)
        kinds = {c.type for c in job.status.conditions or [] if c.status == "True"}
        return job if kinds & {"Complete", "Failed"} else None

    job = wait_until(f"Job {name} to finish", finished, timeout)
    if job.status.conditions[0].type == "Failed":
        logs = {
            pod.metadata.name: core.read_namespaced_pod_log(pod.metadata.name, namespace)
            for pod in job_pods(core, namespace, name)
        }
        pytest.fail(f"Job {name} failed; pod logs: {logs}")
    return job


def job_pods(core: k8s.CoreV1Api, namespace: str, job: str) -> list[k8s.V1Pod]:
    return core.list_namespaced_pod(namespace, label_selector=f"job-name={job}").items


def pipeline_job(name: str, args: list[str], parallelism: int = 1, claim: str = "") -> dict:
    """A Job as the panel would render it: the pipeline image, a PVC mounted at /data."""
    volumes, mounts = [], []
    if claim:
        volumes = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
        mounts = [{"name": "data", "mountPath": "/data"}]
    manifest = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "parallelism": parallelism,
            "completions": parallelism,
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "pipeline",
                            "image": PIPELINE_IMAGE,
                            "command": ["python", "-m", "media_pipeline"],
                            "args": args,
                            "env": [
                                {
                                    "name": "POD_NAME",
                                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                                }
                            ],
                            "volumeMounts": mounts,
                            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
                        }
                    ],
                    "volumes": volumes,
                }
            },
        },
    }
    if claim:
        manifest["spec"]["template"]["spec"]["containers"][0]["workingDir"] = "/data"
    assert_valid_manifest(manifest)  # also valid for today's clusters, not only for 1.20
    return manifest


def azure_file_claim(core: k8s.CoreV1Api, namespace: str, claim: str) -> str:
    """Secret + static azureFile PV + PVC bound to it, as the panel sets up Azure File storage.
    Returns the PV's name (cluster-scoped: the caller deletes it)."""
    core.create_namespaced_secret(
        namespace,
        k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name="azure-storage"),
            string_data={"azurestorageaccountname": "acct", "azurestorageaccountkey": "a2V5"},
        ),
    )
    pv_name = f"{namespace}-{claim}"
    core.create_persistent_volume(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": pv_name},
            "spec": {
                "capacity": {"storage": "5Gi"},
                "accessModes": ["ReadWriteMany"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "azurefile-static",
                "azureFile": {"secretName": "azure-storage", "shareName": claim},
                "claimRef": {"namespace": namespace, "name": claim},
            },
        }
    )
    core.create_namespaced_persistent_volume_claim(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim},
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "storageClassName": "azurefile-static",
                "volumeName": pv_name,
                "resources": {"requests": {"storage": "5Gi"}},
            },
        },
    )
    return pv_name


def events_of(log_text: str) -> list[dict]:
    return [json.loads(line) for line in log_text.splitlines() if line.startswith("{")]


# -- the panel's view of the cluster --------------------------------------------------------------


def test_panel_imports_testbed_kubeconfig_and_sees_nodes(kube_kubeconfig: str) -> None:
    parsed = parse(kube_kubeconfig)  # the panel's own check: self-contained, token, CA data
    snapshot = probe_kubernetes(api_client(parsed), parsed.server)

    assert snapshot.version == "v1.20.2"
    nodes = {node["name"]: node for node in snapshot.nodes}
    assert nodes["standin-gpu-1"]["gpu"] == 2
    assert nodes["standin-gpu-1"]["ready"] is True
    assert nodes["standin-cpu-1"]["cpu"] == 4.0
    assert "controlpanel-system" in snapshot.namespaces


def test_panel_identity_is_refused_what_it_does_not_need(
    kube_api: k8s.ApiClient, kube_namespace: KubeNamespace
) -> None:
    core = k8s.CoreV1Api(kube_api)
    rbac = k8s.RbacAuthorizationV1Api(kube_api)
    forbidden = [
        lambda: core.list_namespaced_secret("kube-system"),
        lambda: core.list_pod_for_all_namespaces(),
        lambda: core.create_namespaced_pod(  # pods come from Jobs/Deployments only
            kube_namespace.name,
            {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
        ),
        lambda: core.patch_node("standin-cpu-1", {"spec": {"unschedulable": True}}),
        lambda: rbac.create_namespaced_role_binding(  # no escalation to cluster-admin
            kube_namespace.name,
            {
                "metadata": {"name": "escalate"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "cluster-admin",
                },  # fmt: skip
                "subjects": [
                    {
                        "kind": "ServiceAccount",
                        "name": "controlpanel",
                        "namespace": "controlpanel-system",
                    }
                ],  # fmt: skip
            },
        ),
    ]
    for call in forbidden:
        with pytest.raises(ApiException) as refused:
            call()
        assert refused.value.status == 403


def test_panel_creates_a_namespace_for_a_run_and_works_in_it(
    kube_api: k8s.ApiClient, kube_admin_api: k8s.ApiClient
) -> None:
    core = k8s.CoreV1Api(kube_api)
    name = f"run-{int(time.time() * 1000) % 10**8}"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    try:
        binding = {
            "metadata": {"name": "controlpanel"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "controlpanel-workloads",
            },  # fmt: skip
            "subjects": [
                {
                    "kind": "ServiceAccount",
                    "name": "controlpanel",
                    "namespace": "controlpanel-system",
                }
            ],  # fmt: skip
        }
        k8s.RbacAuthorizationV1Api(kube_api).create_namespaced_role_binding(name, binding)
        wait_until_allowed(kube_api, name, "configmaps")
        created = core.create_namespaced_config_map(
            name, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="run"), data={"preset": "lanes"})
        )
        assert created.data == {"preset": "lanes"}
    finally:
        core.delete_namespace(name, propagation_policy="Background")


# -- the issue's acceptance scenario ---------------------------------------------------------------


def test_parallel_pipeline_job_runs_streams_logs_and_completes(
    kube_api: k8s.ApiClient, kube_namespace: KubeNamespace
) -> None:
    core, batch = k8s.CoreV1Api(kube_api), k8s.BatchV1Api(kube_api)
    ns = kube_namespace.name
    pv = azure_file_claim(core, ns, "media")
    try:
        inputs = kube_namespace.claim_dir("media") / "inputs"
        inputs.mkdir(parents=True)
        shutil.copy(SAMPLE_IMAGE, inputs)
        job = pipeline_job(
            "lanes",
            ["lanes", "/data/inputs/solidYellowLeft.jpg", "--output", "/data/out/$(POD_NAME)"],
            parallelism=3,
            claim="media",
        )
        batch.create_namespaced_job(ns, job)

        pods = wait_until("3 pods of the Job", lambda: len(job_pods(core, ns, "lanes")) == 3
                          and job_pods(core, ns, "lanes"))  # fmt: skip
        for pod in pods:
            name = pod.metadata.name
            wait_until(f"{name} to start", lambda n=name: core.read_namespaced_pod(n, ns)
                       .status.phase in ("Running", "Succeeded"))  # fmt: skip
            # Follow the log through the API server, as the panel's log view does.
            stream = core.read_namespaced_pod_log(name, ns, follow=True, _preload_content=False)
            followed = b"".join(stream.stream(1024)).decode()
            kinds = [event.get("event") for event in events_of(followed)]
            assert kinds[0] == "start" and kinds[-1] == "done", followed
            assert "result" in kinds

        done = wait_for_job(batch, core, ns, "lanes", timeout=120)
        assert done.status.succeeded == 3
        assert [c.type for c in done.status.conditions or []] == ["Complete"]
        for pod in job_pods(core, ns, "lanes"):
            assert pod.status.phase == "Succeeded"
            state = pod.status.container_statuses[0].state
            assert state.terminated.exit_code == 0
            # Outputs landed in the claim's directory, under each pod's own name.
            outputs = list(
                (kube_namespace.claim_dir("media") / "out" / pod.metadata.name).iterdir()
            )
            assert outputs, f"no output for {pod.metadata.name}"
    finally:
        core.delete_persistent_volume(pv)


def test_failing_pipeline_pod_reports_its_exit_code(
    kube_api: k8s.ApiClient, kube_namespace: KubeNamespace
) -> None:
    core, batch = k8s.CoreV1Api(kube_api), k8s.BatchV1Api(kube_api)
    ns = kube_namespace.name
    batch.create_namespaced_job(
        ns, pipeline_job("broken", ["lanes", "/nonexistent/road.jpg", "--output", "/tmp/out"])
    )
    failed = wait_until(
        "the Job to fail",
        lambda: (j := batch.read_namespaced_job_status("broken", ns)).status.failed and j,
    )
    assert failed.status.conditions[0].type == "Failed"
    (pod,) = job_pods(core, ns, "broken")
    assert pod.status.phase == "Failed"
    terminated = pod.status.container_statuses[0].state.terminated
    assert terminated.exit_code == 1
    assert terminated.reason == "Error"
    log = core.read_namespaced_pod_log(pod.metadata.name, ns)
    assert "error" in [event.get("event") for event in events_of(log)], log


# -- kubelet behaviour for what cannot run here ------------------------------------------------


def test_scripted_pods_restart_per_policy_and_keep_previous_logs(
    kube_api: k8s.ApiClient, kube_namespace: KubeNamespace
) -> None:
    core, batch = k8s.CoreV1Api(kube_api), k8s.BatchV1Api(kube_api)
    ns = kube_namespace.name
    job = {
        "metadata": {"name": "flaky"},
        "spec": {
            "backoffLimit": 6,
            "template": {
                "metadata": {
                    "annotations": {
                        "standin-kubelet/run-seconds": "0.2",
                        "standin-kubelet/exit-code": "3",
                        "standin-kubelet/log": "warming up",
                    }
                },  # fmt: skip
                "spec": {
                    "restartPolicy": "OnFailure",
                    "containers": [{"name": "work", "image": "busybox:1.36"}],
                },
            },
        },
    }
    batch.create_namespaced_job(ns, job)

    def restarted_twice() -> k8s.V1Pod | None:
        pods = job_pods(core, ns, "flaky")
        statuses = pods and pods[0].status.container_statuses
        return pods[0] if statuses and statuses[0].restart_count >= 2 else None

    pod = wait_until("two restarts", restarted_twice)
    status = pod.status.container_statuses[0]
    assert status.last_state.terminated.exit_code == 3
    assert pod.status.phase in ("Running", "Pending")  # OnFailure: not Failed while restarting
    previous = core.read_namespaced_pod_log(pod.metadata.name, ns, previous=True)
    assert "warming up" in previous
    last = core.read_namespaced_pod_log(
        pod.metadata.name, ns, previous=True, tail_lines=1, timestamps=True
    )
    stamp, _, text = last.partition(" ")
    assert text == "warming up\n"
    assert stamp.endswith("Z") and stamp[:2] == "20", last  # RFC 3339, as a kubelet writes
    batch.delete_namespaced_job("flaky", ns, propagation_policy="Background")


def test_deployment_pods_run_until_deleted_and_are_replaced(
    kube_api: k8s.ApiClient, kube_namespace: KubeNamespace
) -> None:
    core, apps = k8s.CoreV1Api(kube_api), k8s.AppsV1Api(kube_api)
    ns = kube_namespace.name
    labels = {"app": "web"}
    apps.create_namespaced_deployment(
        ns,
        {
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
                },
            },
        },
    )
    wait_until("2 ready replicas",
               lambda: apps.read_namespaced_deployment_status("web", ns).status.ready_replicas == 2)  # fmt: skip
    victim = core.list_namespaced_pod(ns, label_selector="app=web").items[0].metadata.name
    # Following a running container's log streams what it wrote so far and stays open...
    stream = core.read_namespaced_pod_log(
        victim, ns, follow=True, _preload_content=False, _request_timeout=30
    )
    chunks = stream.stream(1024)
    first = next(chunks)
    assert first.startswith(b"standin-kubelet"), first
    core.delete_namespaced_pod(victim, ns)  # graceful: the kubelet stops it, then removes it
    # ...until the container stops.
    rest = b"".join(chunks)
    assert b"nginx:1.25 is scripted" in first + rest

    def replaced() -> bool:
        names = {
            p.metadata.name for p in core.list_namespaced_pod(ns, label_selector="app=web").items
        }
        return victim not in names and len(names) == 2

    wait_until("the deleted pod to be gone and replaced", replaced)
    # 1.20 answers DELETE service with a Status the 37.x client cannot parse: skip parsing.
    core.create_namespaced_service(
        ns, {"metadata": {"name": "web"}, "spec": {"selector": labels, "ports": [{"port": 80}]}}
    )
    reply = core.delete_namespaced_service("web", ns, _preload_content=False)
    assert reply.status == 200


def test_pipeline_pod_gets_config_and_writes_to_its_host_path(
    kube_api: k8s.ApiClient, kube_namespace: KubeNamespace
) -> None:
    core, batch = k8s.CoreV1Api(kube_api), k8s.BatchV1Api(kube_api)
    ns = kube_namespace.name
    core.create_namespaced_config_map(
        ns, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="settings"), data={"OUT": "/work/out"})
    )
    inputs = kube_namespace.volumes / "hostpath" / "srv" / "results" / "in"
    inputs.mkdir(parents=True)
    shutil.copy(SAMPLE_IMAGE, inputs)
    job = pipeline_job("configured", ["lanes", "/work/in", "--output", "$(OUT)"])
    template = job["spec"]["template"]["spec"]
    template["volumes"] = [{"name": "work", "hostPath": {"path": "/srv/results"}}]
    container = template["containers"][0]
    container["volumeMounts"] = [{"name": "work", "mountPath": "/work"}]
    container["env"].append(
        {"name": "OUT", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "OUT"}}}
    )
    assert_valid_manifest(job)
    batch.create_namespaced_job(ns, job)

    wait_for_job(batch, core, ns, "configured")
    written = sorted(p.name for p in (inputs.parent / "out").iterdir())
    assert written and all(name.startswith("solidYellowLeft") for name in written), written


def test_gpu_requests_are_scheduled_on_the_gpu_node(
    kube_api: k8s.ApiClient, kube_namespace: KubeNamespace
) -> None:
    core, batch = k8s.CoreV1Api(kube_api), k8s.BatchV1Api(kube_api)
    ns = kube_namespace.name
    job = pipeline_job("gpu", ["lanes", str(SAMPLE_IMAGE), "--output", "/tmp/unused"])
    resources = job["spec"]["template"]["spec"]["containers"][0]["resources"]
    resources["limits"] = {"nvidia.com/gpu": "1"}
    too_many = pipeline_job("greedy", ["lanes"])
    too_many["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] = {
        "nvidia.com/gpu": "3"  # more than any node has
    }
    batch.create_namespaced_job(ns, job)
    batch.create_namespaced_job(ns, too_many)

    (pod,) = wait_until("the GPU pod to be scheduled", lambda: [
        p for p in job_pods(core, ns, "gpu") if p.spec.node_name
    ])  # fmt: skip
    assert pod.spec.node_name == "standin-gpu-1"
    (greedy,) = wait_until("the greedy pod", lambda: job_pods(core, ns, "greedy"))
    unschedulable = wait_until("the greedy pod to be unschedulable", lambda: [
        c for c in core.read_namespaced_pod(greedy.metadata.name, ns).status.conditions or []
        if c.type == "PodScheduled" and c.reason == "Unschedulable"
    ])  # fmt: skip
    assert "nvidia.com/gpu" in unschedulable[0].message
