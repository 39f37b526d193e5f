"""The explorer's parts that need no API server: redaction, rows, versions, health history,
refusals and bad input. The Kubernetes behaviour is in test_explorer_kubernetes.py."""

from __future__ import annotations

import base64

import pytest

from clusters.choices import ClusterKind, ClusterStatus
from clusters.explorer.kinds import KINDS, served
from clusters.explorer.redact import as_yaml, redact
from clusters.explorer.rows import row
from clusters.models import Cluster, ClusterHealthCheck
from clusters.services import cluster_refresh
from core.models import AuditEvent
from tests.factories import LocalClusterFactory

SECRET = "hunter2-very-secret"


def test_redaction_hides_secret_values_credentials_and_folds_managed_fields():
    """A Secret keeps its key names only; kubeconfig-like and secret-named values go too."""
    encoded = base64.b64encode(SECRET.encode()).decode()
    secret = {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {
            "name": "db", "namespace": "a",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                            f'{{"data":{{"password":"{encoded}"}}}}'},
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:data": {"f:password": {}}}}],
        },
        "data": {"password": encoded}, "stringData": {"token": SECRET},
    }  # fmt: skip
    shown, managed = redact(secret)
    text = as_yaml(shown)
    assert SECRET not in text and encoded not in text
    assert "password: <redacted>" in text and "managedFields" not in text
    assert managed[0]["manager"] == "kubectl"

    pod = {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "env": [
        {"name": "DB_PASSWORD", "value": SECRET}, {"name": "MODE", "value": "fast"}]}]}}  # fmt: skip
    config = {"kind": "ConfigMap", "metadata": {"name": "k"}, "data": {
        "config": f"apiVersion: v1\nkind: Config\nusers:\n- user:\n    token: {SECRET}\n"}}  # fmt: skip
    for obj in (pod, config):
        text = as_yaml(redact(obj)[0])
        assert SECRET not in text
    assert "fast" in as_yaml(redact(pod)[0])


def test_rows_say_why_a_pod_waits_and_which_run_made_an_object():
    """The waiting reason, the scheduler's verdict, and the run link from the panel's labels."""
    waiting = {
        "metadata": {"name": "p", "namespace": "n", "creationTimestamp": "2026-01-01T00:00:00Z",
                     "labels": {"app.kubernetes.io/managed-by": "controlpanel",
                                "controlpanel.io/run-id": "42"}},
        "spec": {"containers": [{"name": "c"}], "nodeName": "n1"},
        "status": {"phase": "Pending", "containerStatuses": [
            {"name": "c", "ready": False, "restartCount": 3,
             "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]},
    }  # fmt: skip
    unschedulable = {
        "metadata": {"name": "q", "labels": {"controlpanel.io/run-id": "7"}},
        "spec": {"containers": [{"name": "c"}]},
        "status": {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]},
    }  # fmt: skip
    first, second = row("pods", waiting), row("pods", unschedulable)
    assert (first["reason"], first["ready"], first["restarts"], first["run_id"]) == (
        "CrashLoopBackOff",
        "0/1",
        3,
        42,
    )
    assert first["age"].endswith("d")
    assert second["reason"] == "Unschedulable" and second["run_id"] is None  # not managed by us
    secret = row(
        "secrets", {"metadata": {"name": "s"}, "type": "Opaque", "data": {"b": "eA==", "a": "eQ=="}}
    )
    assert secret["keys"] == ["a", "b"] and "eA==" not in str(secret)


def test_batch_v1_cronjobs_are_only_asked_of_servers_that_serve_them():
    assert not served(KINDS["cronjobs"], "v1.20.2")
    assert served(KINDS["cronjobs"], "v1.21.0") and served(KINDS["cronjobs"], "v1.30.1-eks-2")
    assert served(KINDS["pods"], "v1.20.2")


@pytest.mark.django_db
def test_health_checks_are_kept_and_drawn_on_the_cluster_page(viewer_client, viewer_api):
    """Each check leaves a row; the cluster page draws them as an SVG chart; the API lists them."""
    cluster = LocalClusterFactory()
    for _ in range(3):
        cluster_refresh(cluster_id=cluster.pk)
    checks = ClusterHealthCheck.objects.filter(cluster=cluster)
    assert checks.count() == 3 and {c.status for c in checks} == {ClusterStatus.HEALTHY}
    assert all(c.latency_ms is not None and c.ready_nodes == 1 for c in checks)

    page = viewer_client.get(f"/clusters/{cluster.pk}/").content.decode()
    assert 'id="health-history"' in page and page.count("<rect") >= 4 and "3 checks" in page
    history = viewer_api.get(f"/api/clusters/{cluster.pk}/health-history/").json()
    assert [h["status"] for h in history] == ["healthy"] * 3


@pytest.mark.django_db
def test_viewers_cannot_act_and_bad_names_are_refused_before_any_request(
    viewer_client, viewer_api, operator_api
):
    """Actions are for operators; a bad namespace, an unknown kind or the local cluster are
    answered without reaching any API server."""
    cluster = Cluster.objects.create(name="far", kind=ClusterKind.KUBERNETES, namespace="a")
    local = LocalClusterFactory()
    page = viewer_client.post(f"/clusters/{cluster.pk}/explore/pods/a/p/delete/")
    api = viewer_api.post(
        f"/api/clusters/{cluster.pk}/namespaces/a/deployments/d/scale/",
        {"replicas": 2},
        format="json",
    )
    deleted = viewer_api.delete(f"/api/clusters/{cluster.pk}/namespaces/a/pods/p/")
    assert (page.status_code, api.status_code, deleted.status_code) == (403, 403, 403)
    assert not AuditEvent.objects.filter(object_type__in=("pod", "deployment")).exists()

    bad_ns = operator_api.get(f"/api/clusters/{cluster.pk}/objects/pods/?namespace=Bad_NS")
    assert bad_ns.status_code == 400 and "namespace" in bad_ns.json()["error"]["fields"]
    bad_label = operator_api.get(f"/api/clusters/{cluster.pk}/objects/pods/?label=a%3Bb")
    assert bad_label.status_code == 400 and "label" in bad_label.json()["error"]["fields"]
    too_many = operator_api.get(f"/api/clusters/{cluster.pk}/objects/pods/?limit=100000")
    assert too_many.status_code == 400 and "limit" in too_many.json()["error"]["fields"]
    assert operator_api.get(f"/api/clusters/{cluster.pk}/objects/widgets/").status_code == 404
    assert operator_api.get(f"/api/clusters/{local.pk}/objects/pods/").status_code == 404
    assert operator_api.get("/api/clusters/999999/objects/pods/").status_code == 404
    scale = operator_api.post(
        f"/api/clusters/{cluster.pk}/namespaces/a/deployments/d/scale/",
        {"replicas": -1},
        format="json",
    )
    assert scale.status_code == 400 and "replicas" in scale.json()["error"]["fields"]


@pytest.mark.django_db
def test_the_explorers_rest_paths_are_in_the_api_schema(viewer_api):
    """Every explorer endpoint is documented, with its methods and the kinds it takes."""
    schema = viewer_api.get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    base = "/api/clusters/{id}"
    expected = {
        f"{base}/nodes/": {"get"},
        f"{base}/health-history/": {"get"},
        f"{base}/objects/{{kind}}/": {"get"},
        f"{base}/objects/{{kind}}/{{name}}/": {"get"},
        f"{base}/namespaces/{{namespace}}/{{kind}}/": {"get"},
        f"{base}/namespaces/{{namespace}}/{{kind}}/{{name}}/": {"get", "delete"},
        f"{base}/namespaces/{{namespace}}/deployments/{{name}}/restart/": {"post"},
        f"{base}/namespaces/{{namespace}}/{{kind}}/{{name}}/scale/": {"post"},
    }
    documented = {path: set(paths[path]) - {"parameters"} for path in expected if path in paths}
    assert documented == expected
    listing = paths[f"{base}/namespaces/{{namespace}}/{{kind}}/"]["get"]
    kind = next(p for p in listing["parameters"] if p["name"] == "kind")
    assert set(kind["schema"]["enum"]) == set(KINDS)
    assert {p["name"] for p in listing["parameters"]} >= {"label", "limit", "continue"}
    scale = paths[f"{base}/namespaces/{{namespace}}/{{kind}}/{{name}}/scale/"]["post"]
    scale_kind = next(p for p in scale["parameters"] if p["name"] == "kind")
    assert scale_kind["schema"]["enum"] == ["deployments", "statefulsets"]
