"""The `face-recognition-service` preset on the Kubernetes test bed: a Deployment of two replicas
and a Service, its pods really running `python -m media_pipeline faces-serve` under the stand-in
kubelet, each with an address of its own (`kube_pod_network`), and a /detect POST reaching them
through the real API server's service proxy as the panel's least-privilege identity."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from kubernetes import client as k8s

from clusters.models import Volume
from clusters.proxy import service_proxy_target
from clusters.runtimes.manifests import FACE_SERVICE_PORT, object_name, render
from clusters.services import cluster_import
from core.services import SYSTEM
from media_pipeline import samples
from tests.conftest import wait_for
from tests.kube.manifests import assert_valid_manifest
from tests.kube.test_testbed import azure_file_claim
from tests.workloads.conftest import wait_for_run
from workloads.models import Run
from workloads.specs import build_spec

pytestmark = [
    pytest.mark.faces,
    pytest.mark.kubernetes,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

PHOTO = samples.UNKNOWN_FACES / "obama_small.jpg"


@pytest.fixture
def kube_cluster(kube_kubeconfig, kube_namespace, kube_pod_network, kube_admin_api):
    """The test bed imported with the panel's identity, with a `photos` volume (a bound claim)
    holding one photo."""
    cluster = cluster_import(
        actor=SYSTEM, name="testbed", kubeconfig=kube_kubeconfig, namespace=kube_namespace.name
    )
    core = k8s.CoreV1Api(kube_admin_api)
    pv = azure_file_claim(core, kube_namespace.name, "photos")
    folder = kube_namespace.claim_dir("photos") / "people"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PHOTO.name).write_bytes(PHOTO.read_bytes())
    Volume.objects.create(cluster=cluster, name="photos", claim_name="photos", mount_path="/data")
    yield cluster
    core.delete_persistent_volume(pv)


def call(target, data: bytes | None = None, content_type: str = "", method: str | None = None):
    headers = dict(target.headers)
    if content_type:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(target.url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60, context=target.ssl) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            return error.code, json.loads(body)
        except ValueError:
            return error.code, {"raw": body.decode(errors="replace")[:300]}


def bare(path) -> list[dict]:
    import face_recognition

    rgb = face_recognition.load_image_file(str(path))
    boxes = face_recognition.face_locations(rgb)
    encodings = face_recognition.face_encodings(rgb, boxes)
    return [{"box": list(b), "encoding": e.tolist()} for b, e in zip(boxes, encodings, strict=True)]


def test_two_replicas_behind_a_service_answer_detect_through_the_api_server(
    celery_worker, presets, kube_cluster, kube_namespace, kube_api, kube_admin_api, operator_api
):
    response = operator_api.post(
        "/api/runs/",
        {"template": "face-recognition-service", "cluster": kube_cluster.name,
         "params": {"replicas": 2}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    run_id = response.json()["id"]
    assert wait_for_run(operator_api, run_id, states=("running", "failed", "lost"),
                        timeout=120)["state"] == "running"  # fmt: skip
    namespace, service = kube_namespace.name, object_name(run_id, "serve")

    # What the runtime applied: rendered valid for a current Kubernetes, two replicas, a Service.
    run = Run.objects.get(pk=run_id)
    spec = build_spec(
        kind=run.template.kind, params=run.params, cluster=kube_cluster, run_id=run_id
    )
    for obj in render(spec, namespace, indexed_jobs=False):
        assert_valid_manifest(obj)
    apps, core = k8s.AppsV1Api(kube_api), k8s.CoreV1Api(kube_api)
    assert apps.read_namespaced_deployment(service, namespace).spec.replicas == 2
    ports = core.read_namespaced_service(service, namespace).spec.ports
    assert [(p.name, p.port) for p in ports] == [("http", FACE_SERVICE_PORT)]

    # Both pods Ready only once their /healthz answers (the readiness probe), and then listed
    # behind the Service with their own addresses (read as admin: the panel needs no Endpoints).
    def ready_addresses() -> list[str]:
        endpoints = k8s.CoreV1Api(kube_admin_api).read_namespaced_endpoints(service, namespace)
        found = [a.ip for s in endpoints.subsets or [] for a in s.addresses or []]
        return found if len(found) == 2 else []

    addresses = wait_for(ready_addresses, timeout=150, interval=0.5)
    assert len(set(addresses)) == 2 and all(ip.startswith("198.1") for ip in addresses)

    health = service_proxy_target(kube_cluster, namespace, service, path="/healthz")
    assert "/services/" in health.url and health.url.endswith(":http/proxy/healthz")
    assert call(health) == (200, {"status": "ok"})

    detect = service_proxy_target(kube_cluster, namespace, service, path="/detect")
    status, answer = call(detect, PHOTO.read_bytes(), "image/jpeg")
    assert status == 200, answer
    assert answer["faces"] == bare(PHOTO)
    assert (answer["width"], answer["height"]) == (320, 240)

    by_path = json.dumps({"volume": "photos", "path": f"people/{PHOTO.name}"}).encode()
    status, answer = call(detect, by_path, "application/json")
    assert status == 200 and answer["faces"] == bare(PHOTO)
    status, answer = call(detect, json.dumps({"volume": "photos", "path": "../x"}).encode(),
                          "application/json")  # fmt: skip
    assert (status, answer["permanent"]) == (422, True)

    # Least privilege: the panel may GET and POST through the proxy, nothing more.
    status, _ = call(detect, method="DELETE")
    assert status == 403

    assert operator_api.post(f"/api/runs/{run_id}/cancel/").status_code == 202
    assert wait_for_run(operator_api, run_id, timeout=120)["state"] == "cancelled"
    selector = f"controlpanel.io/run-id={run_id}"
    assert not apps.list_namespaced_deployment(namespace, label_selector=selector).items
    assert not core.list_namespaced_service(namespace, label_selector=selector).items
