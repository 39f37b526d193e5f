"""Before a run: its manifests and the API server's dry-run verdict; after: what it sent
(View YAML) and its objects in the cluster explorer. On the test bed's real API server."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from clusters.services import cluster_import
from core.services import SYSTEM
from tests.workloads.conftest import wait_for_run

pytestmark = [pytest.mark.kubernetes, pytest.mark.django_db(transaction=True)]

FINE = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: fast}
---
apiVersion: batch/v1
kind: Job
metadata: {name: worker}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox
        env: [{name: API_TOKEN, value: tok-Never-Shown}]
"""


@pytest.fixture
def kube_cluster(kube_kubeconfig, kube_namespace):
    return cluster_import(
        actor=SYSTEM, name="testbed", kubeconfig=kube_kubeconfig, namespace=kube_namespace.name
    )


def test_the_preview_reports_an_admission_error_and_creates_nothing(
    presets,
    kube_cluster,
    kube_namespace,
    kube_admin_api,
    operator_api,
    viewer_api,
    operator_client,
):
    """The manifests pass the dry-run; once a ResourceQuota allows no ConfigMap, the dry-run
    shows the quota admission's refusal for that object. Nothing is ever created; viewers
    cannot ask."""
    ns = kube_namespace.name
    body = {"template": "raw-manifest", "cluster": kube_cluster.name,
            "params": {"manifest": FINE}}  # fmt: skip
    assert viewer_api.post("/api/runs/preview/", body, format="json").status_code == 403
    accepted = operator_api.post("/api/runs/preview/", body, format="json")
    assert accepted.status_code == 200, accepted.content
    items = accepted.json()
    assert [(i["kind"], i["name"], i["accepted"]) for i in items] == [
        ("ConfigMap", "settings", True), ("Job", "worker", True),
    ]  # fmt: skip
    assert "controlpanel.io/run-id" in items[1]["yaml"] and "<redacted>" in items[1]["yaml"]
    assert "tok-Never-Shown" not in accepted.content.decode()

    # What an admin sets up: no ConfigMaps here (the status a quota controller would write).
    core = k8s.CoreV1Api(kube_admin_api)
    quota = {"metadata": {"name": "no-configmaps"}, "spec": {"hard": {"configmaps": "0"}}}
    core.create_namespaced_resource_quota(ns, quota)
    core.patch_namespaced_resource_quota_status(
        "no-configmaps", ns, {"status": {"hard": {"configmaps": "0"}, "used": {"configmaps": "0"}}}
    )
    refused = operator_api.post("/api/runs/preview/", body, format="json")
    assert refused.status_code == 200, refused.content
    configmap, job = refused.json()
    assert (configmap["accepted"], job["accepted"]) == (False, True)
    assert "exceeded quota" in configmap["message"] and "no-configmaps" in configmap["message"]
    assert core.list_namespaced_config_map(ns, field_selector="metadata.name=settings").items == []
    # The same from the run form's Preview button.
    page = operator_client.post(
        "/templates/raw-manifest/preview/", {"cluster": kube_cluster.pk, "manifest": FINE}
    )
    html = page.content.decode()
    assert page.status_code == 200 and 'id="run-preview"' in html
    assert html.count("status-error") == 1 and "exceeded quota" in html
    assert core.list_namespaced_config_map(ns, field_selector="metadata.name=settings").items == []
    assert k8s.BatchV1Api(kube_admin_api).list_namespaced_job(ns).items == []


def test_a_run_keeps_the_yaml_it_sent_and_links_to_its_objects(
    celery_worker, presets, kube_cluster, kube_namespace, operator_api, viewer_client
):
    """View YAML shows the objects as sent (credentials redacted); the explorer lists the run's
    pod with a link back to the run."""
    body = {"template": "raw-manifest", "cluster": kube_cluster.name,
            "params": {"manifest": FINE}}  # fmt: skip
    created = operator_api.post("/api/runs/", body, format="json")
    assert created.status_code == 201, created.content
    run = wait_for_run(operator_api, created.json()["id"], timeout=90)
    assert run["state"] == "succeeded", run["error"]

    yaml_text = operator_api.get(f"/api/runs/{run['id']}/manifests/").json()["yaml"]
    assert "kind: ConfigMap" in yaml_text and "kind: Job" in yaml_text
    assert f"controlpanel.io/run-id: '{run['id']}'" in yaml_text
    assert "tok-Never-Shown" not in yaml_text and "<redacted>" in yaml_text
    page = viewer_client.get(f"/runs/{run['id']}/yaml/").content.decode()
    assert "kind: ConfigMap" in page and 'id="run-objects"' in page
    assert 'id="view-yaml"' in viewer_client.get(f"/runs/{run['id']}/").content.decode()

    pods = operator_api.get(
        f"/api/clusters/{kube_cluster.pk}/namespaces/{kube_namespace.name}/pods/",
        {"label": f"controlpanel.io/run-id={run['id']}"},
    ).json()
    ((name, run_id),) = [(p["name"], p["run_id"]) for p in pods["items"]]
    assert name.startswith("worker-") and run_id == run["id"]
