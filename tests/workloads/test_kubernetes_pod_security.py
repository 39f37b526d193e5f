"""Pod Security levels on the test bed: the hostile manifest reaches nothing at the default level,
the runtime refuses as the last line, and an admin's privileged level really lets it run."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from clusters.services import cluster_import, cluster_set_pod_security
from core.services import SYSTEM
from tests.workloads.conftest import wait_for_run
from tests.workloads.test_pod_security import HOSTILE, HOSTILE_FIELDS
from workloads.models import Run, WorkloadTemplate
from workloads.services import run_prepare
from workloads.tasks import run_submit_task

pytestmark = [pytest.mark.kubernetes, pytest.mark.slow]


@pytest.fixture
def kube_cluster(kube_kubeconfig, kube_namespace):
    return cluster_import(
        actor=SYSTEM, name="testbed", kubeconfig=kube_kubeconfig, namespace=kube_namespace.name
    )


def cluster_objects(kube_api, namespace: str) -> list[str]:
    jobs = k8s.BatchV1Api(kube_api).list_namespaced_job(namespace).items
    pods = k8s.CoreV1Api(kube_api).list_namespaced_pod(namespace).items
    return [f"job/{j.metadata.name}" for j in jobs] + [f"pod/{p.metadata.name}" for p in pods]


def hostile_run(api, cluster):
    body = {"template": "raw-manifest", "cluster": cluster.name, "params": {"manifest": HOSTILE}}
    return api.post("/api/runs/", body, format="json")


@pytest.mark.django_db
def test_the_hostile_manifest_reaches_nothing(
    presets, kube_cluster, kube_namespace, kube_api, operator_api
):
    """A 400 naming each field and the level; no run stored, nothing on the cluster."""
    response = hostile_run(operator_api, kube_cluster)

    assert response.status_code == 400, response.content
    messages = response.json()["manifest"]
    assert all(any(f in m and "level baseline" in m for m in messages) for f in HOSTILE_FIELDS)
    assert not Run.objects.exists()
    assert cluster_objects(kube_api, kube_namespace.name) == []


@pytest.mark.django_db
def test_the_runtime_refuses_what_the_level_forbids_now(
    presets, kube_cluster, kube_namespace, kube_api
):
    """The last line: a run accepted while the cluster was privileged, started after an admin
    set baseline again, fails with the refusal and applies nothing."""
    cluster_set_pod_security(actor=SYSTEM, cluster=kube_cluster, level="privileged")
    template = WorkloadTemplate.objects.get(slug="raw-manifest")
    params = run_prepare(template=template, cluster=kube_cluster, params={"manifest": HOSTILE})
    run = Run.objects.create(template=template, cluster=kube_cluster, params=params)
    cluster_set_pod_security(actor=SYSTEM, cluster=kube_cluster, level="baseline")

    run_submit_task(run.pk)

    run.refresh_from_db()
    assert run.state == "failed"
    assert "Refused by the Pod Security level baseline of cluster testbed" in run.error
    assert all(field in run.error for field in HOSTILE_FIELDS)
    assert cluster_objects(kube_api, kube_namespace.name) == []


@pytest.mark.django_db(transaction=True)
def test_privileged_set_by_an_admin_lets_the_hostile_job_run(
    celery_worker, presets, kube_cluster, kube_namespace, kube_api, admin_api, operator_api
):
    """The level is what stops it: once an admin sets privileged, the same run starts and
    ends on the cluster (the stand-in kubelet gives hostPath / a folder of its own)."""
    patched = admin_api.patch(
        f"/api/clusters/{kube_cluster.pk}/", {"pod_security_level": "privileged"}, format="json"
    )
    assert patched.status_code == 200, patched.content

    response = hostile_run(operator_api, kube_cluster)

    assert response.status_code == 201, response.content
    run = wait_for_run(operator_api, response.json()["id"], timeout=120)
    assert run["state"] == "succeeded", run["error"]
    assert "job/node-shell" in cluster_objects(kube_api, kube_namespace.name)
