"""The face service with its back-end on Kubernetes: the `face-recognition-service` preset as a
Deployment on the test bed, reading the photos from its own mount of the claim, and the panel
(outside the cluster) calling it through the real API server's service proxy."""

from __future__ import annotations

import shutil

import pytest
from kubernetes import client as k8s

from clusters.models import Volume
from clusters.services import cluster_import
from core.services import SYSTEM
from faces import backend
from tests.faces.conftest import FACES, people_in, wait_processed
from tests.kube.test_testbed import azure_file_claim
from tests.workloads.conftest import wait_for_run

pytestmark = [
    pytest.mark.faces,
    pytest.mark.kubernetes,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def kube_faces_cluster(kube_kubeconfig, kube_namespace, kube_pod_network, kube_admin_api, settings):
    """The test bed with a `photos` claim holding the development set, the face service's
    cluster."""
    cluster = cluster_import(
        actor=SYSTEM, name="testbed", kubeconfig=kube_kubeconfig, namespace=kube_namespace.name
    )
    core = k8s.CoreV1Api(kube_admin_api)
    pv = azure_file_claim(core, kube_namespace.name, "photos")
    shutil.copytree(FACES, kube_namespace.claim_dir("photos"), dirs_exist_ok=True)
    Volume.objects.create(cluster=cluster, name="photos", claim_name="photos", mount_path="/data")
    settings.FACES_CLUSTER = cluster.name
    yield cluster
    core.delete_persistent_volume(pv)


def test_images_on_a_claim_are_identified_by_a_backend_behind_the_api_servers_proxy(
    celery_worker, kube_faces_cluster, admin_api
):
    from workloads.bootstrap import bootstrap_demo

    bootstrap_demo()
    started = admin_api.post(
        "/api/runs/",
        {"template": "face-recognition-service", "cluster": kube_faces_cluster.name},
        format="json",
    )
    assert started.status_code == 201, started.json()
    run = wait_for_run(admin_api, started.json()["id"], states=("running", "failed", "lost"))
    assert run["state"] == "running", run["error"]
    [endpoint] = backend.endpoints()
    assert "/services/" in endpoint.url and endpoint.url.endswith(":http/proxy")

    def ready() -> bool:  # the pod answers /healthz once its models are loaded
        try:
            backend.healthz(endpoint)
            return True
        except backend.BackendError:
            return False

    from tests.conftest import wait_for

    wait_for(ready, timeout=180, interval=0.5)
    person = admin_api.post("/api/people/", {"name": "Obama"}, format="json").json()
    known = admin_api.post(
        f"/api/people/{person['id']}/images/", {"volume": "photos", "path": "known/obama_1.jpg"},
        format="json",
    )  # fmt: skip
    assert known.status_code == 201, known.content
    refused = admin_api.post(
        f"/api/people/{person['id']}/images/", {"volume": "photos", "path": "unknown/two_people.jpg"},
        format="json",
    )  # fmt: skip
    assert refused.status_code == 400 and refused.json()["path"] == ["2 faces: crop to one."]

    paths = ["unknown/obama2.jpg", "unknown/lin-manuel-miranda.png", "unknown/missing.jpg"]
    submitted = admin_api.post("/api/faces/", {"volume": "photos", "paths": paths}, format="json")
    assert submitted.status_code == 202
    results = wait_processed(admin_api, submitted.json()["ids"], timeout=180, beat=True)
    obama, stranger, missing = (results[i] for i in submitted.json()["ids"])
    assert obama["status"] == "processed" and people_in(obama) == ["Obama"]
    assert obama["backend"] == endpoint.name and obama["thumbnail_url"]
    assert stranger["status"] == "processed" and people_in(stranger) == [None]
    assert missing["status"] == "failed" and "no such file" in missing["error"]
    assert admin_api.get("/api/faces/service/").json()["state"] == "closed"
