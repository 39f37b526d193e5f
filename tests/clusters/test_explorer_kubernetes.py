"""The cluster explorer on the test bed's real API server, with the panel's least-privilege
identity (docker/rbac/), as a user would look at a cluster."""

from __future__ import annotations

import asyncio
import base64
import html
import json
import re
from pathlib import Path

import pytest
import yaml
from django.test import Client
from django.utils.html import escape
from kubernetes import client as k8s
from kubernetes import utils
from kubernetes.client.exceptions import ApiException

from clusters.services import cluster_import
from core.models import AuditEvent
from core.services import SYSTEM
from tests.conftest import wait_for
from tests.fixtures.live import communicator, receive_until_type, token_for
from tests.kube.plugin import wait_for_default_service_account, wait_until_allowed

pytestmark = [pytest.mark.kubernetes, pytest.mark.django_db(transaction=True)]

SECRET = "s3cr3t-Value-Only-In-The-Secret"
ENV_SECRET = "env-Secret-Never-Shown"
RUN_LABELS = {"app.kubernetes.io/managed-by": "controlpanel", "controlpanel.io/run-id": "4242"}
EXPLORER_ROLE = (
    Path(__file__).resolve().parents[2] / "docker" / "rbac" / "clusterrole-explorer.yaml"
)


@pytest.fixture
def kube_cluster(kube_kubeconfig, kube_namespace):
    return cluster_import(
        actor=SYSTEM, name="testbed", kubeconfig=kube_kubeconfig, namespace=kube_namespace.name
    )


def _pod_template(labels: dict, annotations: dict | None = None, restart: str = "Always") -> dict:
    return {
        "metadata": {"labels": labels, "annotations": annotations or {}},
        "spec": {
            "restartPolicy": restart,
            "containers": [{
                "name": "main", "image": "busybox",
                "env": [{"name": "DB_PASSWORD", "value": ENV_SECRET},
                        {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
            }],
        },
    }  # fmt: skip


def _deployment(name: str, replicas: int = 1, labels: dict | None = None) -> dict:
    pod_labels = {"app": name, **(labels or {})}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": _pod_template(pod_labels, {"standin-kubelet/log": f"hello from {name}"}),
        },
    }  # fmt: skip


def _statefulset(name: str, replicas: int = 1) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
        "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                 "template": _pod_template({"app": name})},
    }  # fmt: skip


def _daemonset(name: str) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": _pod_template({"app": name})},
    }  # fmt: skip


def _volume(name: str, storage_class: str) -> dict:
    # Cluster-scoped: named after the test's namespace, deleted by the test itself.
    return {
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": "Retain", "storageClassName": storage_class,
                 "hostPath": {"path": f"/tmp/{name}"}},
    }  # fmt: skip


def _claim(name: str, storage_class: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": storage_class,
                 "resources": {"requests": {"storage": "1Gi"}}},
    }  # fmt: skip


def _job(name: str, seconds: int = 1) -> dict:
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": _pod_template(
            {"job": name}, {"standin-kubelet/run-seconds": str(seconds)}, restart="Never")},
    }  # fmt: skip


def _stuck_pod(name: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"nodeSelector": {"controlpanel.io/no-such-node": "true"},
                 "containers": [{"name": "main", "image": "busybox"}]},
    }  # fmt: skip


def _items(api, cluster, namespace: str, kind: str, **params) -> dict:
    response = api.get(f"/api/clusters/{cluster.pk}/namespaces/{namespace}/{kind}/", params)
    assert response.status_code == 200, response.content
    return response.json()


def _by_name(listing: dict) -> dict[str, dict]:
    return {item["name"]: item for item in listing["items"]}


def _page_row(page: str, name: str) -> list[str]:
    """The text of each cell of the table row a page shows for `name`."""
    found = re.search(rf'<tr data-name="{re.escape(name)}"[^>]*>(.*?)</tr>', page, re.S)
    assert found, f"no row {name} on the page"
    cells = re.findall(r"<td[^>]*>(.*?)</td>", found.group(1), re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in cells]


def _page_yaml(page: str) -> dict:
    """The object as the page's read-only YAML block shows it."""
    found = re.search(r'<pre class="yaml mono" id="yaml">(.*?)</pre>', page, re.S)
    assert found, "no YAML block on the page"
    return yaml.safe_load(html.unescape(found.group(1)))


@pytest.fixture
def volume_name(kube_namespace, kube_admin_api):
    """A PersistentVolume's name for the test; the volume, cluster-scoped, is deleted after it
    (the namespace's deletion then releases it from its claim)."""
    name = f"{kube_namespace.name}-pv"
    yield name
    try:
        k8s.CoreV1Api(kube_admin_api).delete_persistent_volume(name)
    except ApiException as exc:
        if exc.status != 404:
            raise


def test_objects_made_with_the_client_appear_with_their_status_and_secrets_stay_hidden(
    kube_cluster, kube_namespace, kube_admin_api, viewer_api, viewer_client, volume_name
):
    """Deployments, StatefulSets, DaemonSets, Jobs, Pods (a stuck one with the scheduler's
    event), Services, PersistentVolumeClaims and PersistentVolumes, Secrets and ConfigMaps show
    as kubectl would, filtered by label; a Deployment's page shows its conditions, pods and
    YAML; pages and API never carry a Secret's value."""
    ns = kube_namespace.name
    core, apps, batch = (k8s.CoreV1Api(kube_admin_api), k8s.AppsV1Api(kube_admin_api),
                         k8s.BatchV1Api(kube_admin_api))  # fmt: skip
    last_applied = json.dumps({"data": {"password": base64.b64encode(SECRET.encode()).decode()}})
    core.create_namespaced_secret(ns, {
        "metadata": {"name": "db", "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": last_applied}},
        "stringData": {"password": SECRET, "user": "app"},
    })  # fmt: skip
    core.create_namespaced_config_map(
        ns, {"metadata": {"name": "settings"}, "data": {"mode": "fast"}}
    )
    apps.create_namespaced_deployment(ns, _deployment("web", labels=RUN_LABELS))
    core.create_namespaced_service(ns, {
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    })  # fmt: skip
    batch.create_namespaced_job(ns, _job("done"))
    core.create_namespaced_pod(ns, _stuck_pod("stuck"))
    apps.create_namespaced_stateful_set(ns, _statefulset("db"))
    apps.create_namespaced_daemon_set(ns, _daemonset("agent"))
    # Its own storage class name: only this claim can bind this volume.
    core.create_persistent_volume(_volume(volume_name, volume_name))
    core.create_namespaced_persistent_volume_claim(ns, _claim("data", volume_name))

    def settled():
        pods = _by_name(_items(viewer_api, kube_cluster, ns, "pods"))
        web = [p for p in pods.values() if p["name"].startswith("web-")]
        done = [p for p in pods.values() if p["name"].startswith("done-")]
        ready = (
            web and web[0]["details"]["ready"] == "1/1" and web[0]["details"]["phase"] == "Running"
        )
        finished = done and done[0]["details"]["phase"] == "Succeeded"
        return (pods, web[0], done[0]) if ready and finished else None

    pods, web_pod, done_pod = wait_for(settled, timeout=60)
    assert web_pod["run_id"] == 4242 and web_pod["details"]["node"].startswith("standin-")
    assert done_pod["run_id"] is None and done_pod["details"]["restarts"] == 0
    stuck = pods["stuck"]["details"]
    assert (stuck["phase"], stuck["reason"], stuck["node"]) == ("Pending", "Unschedulable", "")

    deployments = _by_name(_items(viewer_api, kube_cluster, ns, "deployments"))
    assert deployments["web"]["details"]["ready"] == "1/1" and deployments["web"]["run_id"] == 4242
    jobs = wait_for(lambda: (j := _by_name(_items(viewer_api, kube_cluster, ns, "jobs")))
                    and j["done"]["details"]["state"] == "Complete" and j, timeout=30)  # fmt: skip
    assert jobs["done"]["details"]["completions"] == "1/1"
    assert _by_name(_items(viewer_api, kube_cluster, ns, "services"))["web"]["details"][
        "ports"
    ] == ["80"]
    assert _by_name(_items(viewer_api, kube_cluster, ns, "secrets"))["db"]["details"]["keys"] == [
        "password",
        "user",
    ]
    assert _by_name(_items(viewer_api, kube_cluster, ns, "configmaps"))["settings"]["details"][
        "keys"
    ] == ["mode"]

    # StatefulSets, DaemonSets (a pod on every node), claims bound to their volume.
    sets = wait_for(lambda: (s := _by_name(_items(viewer_api, kube_cluster, ns, "statefulsets")))
                    and s["db"]["details"]["ready"] == "1/1" and s, timeout=60)  # fmt: skip
    assert (sets["db"]["namespace"], sets["db"]["details"]["replicas"]) == (ns, 1)
    node_count = len(core.list_node().items)
    daemons = wait_for(lambda: (d := _by_name(_items(viewer_api, kube_cluster, ns, "daemonsets")))
                       and d["agent"]["details"]["ready"] == node_count and d, timeout=60)  # fmt: skip
    assert daemons["agent"]["namespace"] == ns
    assert daemons["agent"]["details"] == {"desired": node_count, "current": node_count,
                                           "ready": node_count}  # fmt: skip
    claims = wait_for(lambda: (c := _by_name(_items(viewer_api, kube_cluster, ns, "persistentvolumeclaims")))
                      and c["data"]["details"]["status"] == "Bound" and c, timeout=30)  # fmt: skip
    assert claims["data"]["namespace"] == ns
    assert claims["data"]["details"] == {
        "status": "Bound", "volume": volume_name, "capacity": "1Gi",
        "access_modes": ["ReadWriteOnce"], "storage_class": volume_name,
    }  # fmt: skip
    volumes = viewer_api.get(f"/api/clusters/{kube_cluster.pk}/objects/persistentvolumes/").json()
    assert not volumes["forbidden"]
    volume = _by_name(volumes)[volume_name]
    assert volume["namespace"] == ""
    assert volume["details"] == {
        "status": "Bound", "claim": f"{ns}/data", "capacity": "1Gi",
        "access_modes": ["ReadWriteOnce"], "reclaim_policy": "Retain",
    }  # fmt: skip
    explore = f"/clusters/{kube_cluster.pk}/explore"
    page = viewer_client.get(f"{explore}/statefulsets/?namespace={ns}").content.decode()
    assert _page_row(page, "db")[:3] == ["db", ns, "1/1"]
    page = viewer_client.get(f"{explore}/daemonsets/?namespace={ns}").content.decode()
    assert _page_row(page, "agent")[:5] == ["agent", ns] + [str(node_count)] * 3
    page = viewer_client.get(f"{explore}/persistentvolumeclaims/?namespace={ns}").content.decode()
    assert _page_row(page, "data")[:7] == [
        "data",
        ns,
        "Bound",
        volume_name,
        "1Gi",
        "ReadWriteOnce",
        volume_name,
    ]
    page = viewer_client.get(f"{explore}/persistentvolumes/").content.decode()
    assert _page_row(page, volume_name)[:6] == [
        volume_name,
        "Bound",
        f"{ns}/data",
        "1Gi",
        "ReadWriteOnce",
        "Retain",
    ]

    # A label selector keeps only the pods that match it, through the API and on the page.
    assert len([p for p in _items(viewer_api, kube_cluster, ns, "pods")["items"]
                if p["labels"].get("app") in ("web", "db")]) == 2  # fmt: skip
    only_web = _items(viewer_api, kube_cluster, ns, "pods", label="app=web")
    assert [p["name"] for p in only_web["items"]] == [web_pod["name"]]
    either = _items(viewer_api, kube_cluster, ns, "pods", label="app in (web,db)")
    assert sorted(p["name"] for p in either["items"]) == sorted([web_pod["name"], "db-0"])
    page = viewer_client.get(f"{explore}/pods/", {"namespace": ns, "label": "app=db"})
    page = page.content.decode()
    assert _page_row(page, "db-0")[:3] == ["db-0", ns, "Running"]
    assert re.findall(r'<tr data-name="([^"]+)"', page) == ["db-0"]

    # Paging through the API server: one pod per page, the continue token leads on.
    first = _items(viewer_api, kube_cluster, ns, "pods", limit=1)
    second = _items(viewer_api, kube_cluster, ns, "pods", limit=1, **{"continue": first["next"]})
    assert first["next"] and len(first["items"]) == len(second["items"]) == 1
    assert first["items"][0]["name"] != second["items"][0]["name"]

    # The scheduler's verdict on the stuck pod: its event, on its page and warnings first.
    def scheduler_event():
        events = _items(viewer_api, kube_cluster, ns, "events")["items"]
        return events if any(e["details"]["reason"] == "FailedScheduling" for e in events) else None

    events = wait_for(scheduler_event, timeout=30)
    assert events[0]["details"]["type"] == "Warning"
    assert [e["details"]["type"] for e in events] == sorted(
        (e["details"]["type"] for e in events), key=lambda t: t != "Warning"
    )
    assert any(e["details"]["type"] == "Normal" for e in events)
    stuck_page = viewer_client.get(f"/clusters/{kube_cluster.pk}/explore/pods/{ns}/stuck/")
    text = stuck_page.content.decode()
    assert stuck_page.status_code == 200 and "FailedScheduling" in text
    message = next(
        e["details"]["message"] for e in events if e["details"]["reason"] == "FailedScheduling"
    )
    assert "node selector" in message or "node affinity" in message, message
    assert escape(message) in text

    # CronJobs: batch/v1 is not served by 1.20, and the explorer says so.
    cronjobs = _items(viewer_api, kube_cluster, ns, "cronjobs")
    assert cronjobs["items"] == [] and "not shown" in cronjobs["not_served"]
    assert (
        "not shown"
        in viewer_client.get(
            f"/clusters/{kube_cluster.pk}/explore/cronjobs/?namespace={ns}"
        ).content.decode()
    )

    # The run link both ways: the deployment's page links to its run.
    web_page = viewer_client.get(
        f"/clusters/{kube_cluster.pk}/explore/deployments/{ns}/web/"
    ).content.decode()
    assert 'href="/runs/4242/"' in web_page and "Rollout restart" not in web_page
    # Its page: the controller's conditions, its pods, and its YAML read-only, managed fields
    # folded apart and the secret-named environment value redacted.
    conditions = re.search(r'<table id="conditions">(.*?)</table>', web_page, re.S).group(1)
    available = re.search(r"<tr><td>Available</td><td>(\w+)</td><td>(\w+)</td>", conditions)
    assert available and available.groups() == ("True", "MinimumReplicasAvailable")
    assert "<td>Progressing</td><td>True</td>" in conditions
    pods_table = re.search(r'<table class="explorer-table" data-kind="pods">(.*?)</table>',
                           web_page, re.S).group(1)  # fmt: skip
    assert re.findall(r'<tr data-name="([^"]+)"', pods_table) == [web_pod["name"]]
    assert _page_row(pods_table, web_pod["name"])[1:3] == ["Running", "1/1"]
    shown = _page_yaml(web_page)
    assert (shown["kind"], shown["metadata"]["name"], shown["spec"]["replicas"]) == (
        "Deployment",
        "web",
        1,
    )
    assert "managedFields" not in shown["metadata"] and "<textarea" not in web_page
    assert re.search(r"<details><summary>managedFields</summary><pre[^>]*>[^<]*manager:", web_page)
    env = shown["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env[0] == {"name": "DB_PASSWORD", "value": "<redacted>"}
    secret_yaml = _page_yaml(viewer_client.get(f"{explore}/secrets/{ns}/db/").content.decode())
    assert secret_yaml["data"] == {"password": "<redacted>", "user": "<redacted>"}
    assert secret_yaml["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/last-applied-configuration": "<redacted>"
    }

    # No Secret value in any page or response, in any encoding.
    encoded = base64.b64encode(SECRET.encode()).decode()
    seen = []
    for kind in (
        "secrets",
        "pods",
        "deployments",
        "configmaps",
        "events",
        "jobs",
        "services",
        "statefulsets",
        "daemonsets",
        "persistentvolumeclaims",
    ):
        seen.append(
            viewer_api.get(f"/api/clusters/{kube_cluster.pk}/namespaces/{ns}/{kind}/").content
        )
        seen.append(
            viewer_api.get(
                f"/api/clusters/{kube_cluster.pk}/objects/{kind}/?namespace={ns}"
            ).content
        )
        seen.append(
            viewer_client.get(f"/clusters/{kube_cluster.pk}/explore/{kind}/?namespace={ns}").content
        )
    for kind, name in (("secrets", "db"), ("pods", web_pod["name"]), ("deployments", "web"),
                       ("jobs", "done"), ("pods", done_pod["name"]), ("statefulsets", "db"),
                       ("daemonsets", "agent"), ("persistentvolumeclaims", "data")):  # fmt: skip
        api_detail = viewer_api.get(
            f"/api/clusters/{kube_cluster.pk}/namespaces/{ns}/{kind}/{name}/"
        )
        assert api_detail.status_code == 200, api_detail.content
        seen += [
            api_detail.content,
            viewer_client.get(f"/clusters/{kube_cluster.pk}/explore/{kind}/{ns}/{name}/").content,
        ]
    secret_detail = viewer_api.get(
        f"/api/clusters/{kube_cluster.pk}/namespaces/{ns}/secrets/db/"
    ).json()
    assert secret_detail["object"]["data"] == {"password": "<redacted>", "user": "<redacted>"}
    blob = b"\n".join(seen).decode()
    for needle in (SECRET, encoded, ENV_SECRET, base64.b64encode(b"app").decode()):
        assert needle not in blob


def test_actions_change_the_real_objects_are_audited_and_refused_to_viewers(
    kube_cluster, kube_namespace, kube_admin_api, operator_api, viewer_api, operator_client,
    viewer_user,
):  # fmt: skip
    """Scale a Deployment or a StatefulSet, rollout restart, delete a pod, delete a finished
    Job: done on the cluster, recorded; a viewer's try changes nothing; a Job still running is
    not deleted."""
    ns = kube_namespace.name
    apps, batch, core = (k8s.AppsV1Api(kube_admin_api), k8s.BatchV1Api(kube_admin_api),
                         k8s.CoreV1Api(kube_admin_api))  # fmt: skip
    apps.create_namespaced_deployment(ns, _deployment("web"))
    batch.create_namespaced_job(ns, _job("done"))
    batch.create_namespaced_job(ns, _job("busy", seconds=300))
    apps.create_namespaced_stateful_set(ns, _statefulset("db"))
    base = f"/api/clusters/{kube_cluster.pk}/namespaces/{ns}"
    pages = f"/clusters/{kube_cluster.pk}/explore"
    viewer_client = Client()
    viewer_client.force_login(viewer_user)

    refused = viewer_api.post(f"{base}/deployments/web/scale/", {"replicas": 3}, format="json")
    assert refused.status_code == 403
    assert viewer_api.delete(f"{base}/jobs/done/").status_code == 403
    assert viewer_api.post(f"{base}/deployments/web/restart/").status_code == 403
    assert viewer_client.post(f"{pages}/deployments/{ns}/web/restart/").status_code == 403
    refused = viewer_client.post(f"{pages}/statefulsets/{ns}/db/scale/", {"replicas": 3})
    assert refused.status_code == 403
    assert apps.read_namespaced_deployment("web", ns).spec.replicas == 1
    template = apps.read_namespaced_deployment("web", ns).spec.template.metadata.annotations or {}
    assert "kubectl.kubernetes.io/restartedAt" not in template
    assert apps.read_namespaced_stateful_set("db", ns).spec.replicas == 1

    scaled = operator_api.post(f"{base}/deployments/web/scale/", {"replicas": 2}, format="json")
    assert scaled.status_code == 200, scaled.content
    assert apps.read_namespaced_deployment("web", ns).spec.replicas == 2
    restarted = operator_api.post(f"{base}/deployments/web/restart/")
    assert restarted.status_code == 200, restarted.content
    template = apps.read_namespaced_deployment("web", ns).spec.template.metadata.annotations
    assert "kubectl.kubernetes.io/restartedAt" in template

    # The page's Scale button on a StatefulSet, through its scale subresource.
    scaled = operator_client.post(f"{pages}/statefulsets/{ns}/db/scale/", {"replicas": 2})
    assert scaled.status_code == 302
    assert apps.read_namespaced_stateful_set("db", ns).spec.replicas == 2
    page = operator_client.get(scaled.url).content.decode()
    assert f"Scaled {ns}/db to 2." in page and 'name="replicas" min="0" max="100" value="2"' in page

    # A pod of its own (no controller): the deployment's pods come and go with the restart, and
    # one the controller deletes first leaves the page's delete nothing to do.
    core.create_namespaced_pod(ns, {
        "metadata": {"name": "lonely", "annotations": {"standin-kubelet/run-seconds": "600"}},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    })  # fmt: skip
    pod = wait_for(lambda: (p := core.read_namespaced_pod("lonely", ns)).status.phase == "Running" and p,
                   timeout=60)  # fmt: skip
    page = operator_client.post(
        f"/clusters/{kube_cluster.pk}/explore/pods/{ns}/{pod.metadata.name}/delete/"
    )
    assert page.status_code == 302

    def pod_going():
        try:
            return core.read_namespaced_pod(pod.metadata.name, ns).metadata.deletion_timestamp
        except ApiException as exc:
            return exc.status == 404

    assert wait_for(pod_going, timeout=30)

    busy = operator_api.delete(f"{base}/jobs/busy/")
    assert busy.status_code == 400 and "not finished" in str(busy.json()["error"]["fields"]["job"])
    wait_for(lambda: any(c.type == "Complete" for c in batch.read_namespaced_job("done", ns).status.conditions or []),
             timeout=60)  # fmt: skip
    deleted = operator_api.delete(f"{base}/jobs/done/")
    assert deleted.status_code == 200, deleted.content
    with pytest.raises(ApiException) as gone:
        wait_for(
            lambda: batch.read_namespaced_job("done", ns).metadata.deletion_timestamp or None,
            timeout=10,
        )
        batch.read_namespaced_job("done", ns)
    assert gone.value.status == 404
    assert batch.read_namespaced_job("busy", ns)

    audit = list(AuditEvent.objects.filter(object_repr__startswith=f"testbed/{ns}/").order_by("pk"))
    assert [(e.action, e.object_type) for e in audit] == [
        ("update", "deployment"),
        ("update", "deployment"),
        ("update", "statefulset"),
        ("delete", "pod"),
        ("delete", "job"),
    ]
    assert audit[0].changes["replicas"] == [1, 2] and audit[0].actor_name
    assert (audit[2].object_repr, audit[2].changes["replicas"]) == (f"testbed/{ns}/db", [1, 2])
    assert audit[2].actor_name == audit[0].actor_name


TAINT = {"key": "controlpanel.io/explorer-test", "value": "yes", "effect": "NoSchedule"}


def _heavy_pod(name: str, node: str) -> dict:
    return {
        "metadata": {"name": name, "annotations": {"standin-kubelet/run-seconds": "600"}},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": node},
            "tolerations": [{**TAINT, "operator": "Equal"}],
            "containers": [{"name": "main", "image": "busybox", "resources": {
                "requests": {"cpu": "1500m", "memory": "3Gi"}, "limits": {"nvidia.com/gpu": "1"}}}],
        },
    }  # fmt: skip


def _node_cells(page: str, node: str) -> list[str]:
    found = re.search(rf'<tr data-node="{node}">(.*?)</tr>', page, re.S)
    assert found, f"no row for node {node}"
    cells = re.findall(r"<td[^>]*>(.*?)</td>", found.group(1), re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells]


def _restore_panel_role(rbac, rules, panel_api) -> None:
    """docker/rbac/clusterrole.yaml's rules back, and granted again, for the tests after."""
    role = rbac.read_cluster_role("controlpanel")
    if role.rules != rules:
        role.rules = rules
        rbac.replace_cluster_role("controlpanel", role)
    wait_until_allowed(panel_api, "", "persistentvolumes", verb="list")


def test_least_privilege_is_told_what_it_cannot_list_and_the_explorer_role_lifts_it(
    kube_cluster, kube_namespace, kube_admin_api, kube_api, viewer_api, viewer_client
):
    """Outside its namespaces the panel's identity is refused: the explorer says so instead of
    an empty table; docker/rbac/clusterrole-explorer.yaml lifts it. Nodes say metrics-server is
    missing, and show a node's taints and what its pods request against what it has."""
    core, rbac = k8s.CoreV1Api(kube_admin_api), k8s.RbacAuthorizationV1Api(kube_admin_api)
    other = f"{kube_namespace.name}-x"
    core.create_namespace({"metadata": {"name": other}})
    panel_role = rbac.read_cluster_role("controlpanel")
    rules = panel_role.rules
    gpu_taints = core.read_node("standin-gpu-1").spec.taints
    try:
        wait_for_default_service_account(kube_admin_api, other)
        core.create_namespaced_pod(other, _stuck_pod("visitor"))
        listing = _items(viewer_api, kube_cluster, other, "pods")
        assert listing["items"] == []
        assert f"cannot list pods in namespace {other}" in listing["forbidden"]
        page = viewer_client.get(f"/clusters/{kube_cluster.pk}/explore/pods/?namespace={other}")
        assert f"cannot list pods in namespace {other}" in page.content.decode()
        assert 'class="explorer-table"' not in page.content.decode()
        nodes = viewer_api.get(f"/api/clusters/{kube_cluster.pk}/nodes/").json()
        assert "metrics-server is not installed" in nodes["metrics_note"]
        assert "cannot list pods in all namespaces" in nodes["requested_note"]
        gpu = next(n for n in nodes["nodes"] if n["name"] == "standin-gpu-1")
        assert gpu["allocatable"]["gpu"] == 2 and gpu["requested"] is None
        assert {c["type"] for c in gpu["conditions"]} == {
            "Ready",
            "MemoryPressure",
            "DiskPressure",
            "PIDPressure",
        }

        # docker/rbac/clusterrole.yaml lets the panel list PersistentVolumes (it makes them for
        # Azure File shares); without that rule the explorer says so instead of an empty table.
        volumes = f"/api/clusters/{kube_cluster.pk}/objects/persistentvolumes/"
        assert not viewer_api.get(volumes).json()["forbidden"]
        panel_role.rules = [r for r in rules if "persistentvolumes" not in (r.resources or [])]
        rbac.replace_cluster_role("controlpanel", panel_role)
        refused = wait_for(lambda: (v := viewer_api.get(volumes).json())["forbidden"] and v,
                           timeout=20)  # fmt: skip
        assert refused["items"] == []
        assert "cannot list persistentvolumes (cluster-scoped)" in refused["forbidden"]
        page = viewer_client.get(
            f"/clusters/{kube_cluster.pk}/explore/persistentvolumes/"
        ).content.decode()
        assert "cannot list persistentvolumes (cluster-scoped)" in page
        assert 'class="explorer-table"' not in page
        _restore_panel_role(rbac, rules, kube_api)

        utils.create_from_yaml(kube_admin_api, str(EXPLORER_ROLE))
        lifted = wait_for(
            lambda: (found := _items(viewer_api, kube_cluster, other, "pods"))["items"] and found,
            timeout=20,
        )
        assert [p["name"] for p in lifted["items"]] == ["visitor"] and not lifted["forbidden"]
        everywhere = viewer_api.get(f"/api/clusters/{kube_cluster.pk}/objects/pods/").json()
        assert "visitor" in {p["name"] for p in everywhere["items"]}
        nodes = viewer_api.get(f"/api/clusters/{kube_cluster.pk}/nodes/").json()
        assert nodes["requested_note"] == "" and all(
            n["requested"] is not None for n in nodes["nodes"]
        )
        page = viewer_client.get(f"/clusters/{kube_cluster.pk}/explore/nodes/").content.decode()
        assert "metrics-server is not installed" in page and "standin-gpu-1" in page
        # Secrets stay out of the cluster-wide role on purpose.
        assert (
            "cannot list secrets" in _items(viewer_api, kube_cluster, other, "secrets")["forbidden"]
        )

        # A tainted node and a pod that tolerates it, with requests: the node's row shows both.
        core.patch_node("standin-gpu-1", {"spec": {"taints": [*(gpu_taints or []), TAINT]}})
        core.create_namespaced_pod(kube_namespace.name, _heavy_pod("heavy", "standin-gpu-1"))
        requested = {"cpu": 1.5, "memory": 3 * 2**30, "gpu": 1}

        def counted():
            report = viewer_api.get(f"/api/clusters/{kube_cluster.pk}/nodes/").json()
            node = next(n for n in report["nodes"] if n["name"] == "standin-gpu-1")
            return node if node["requested"] == requested else None

        # Earlier tests' pods may still be leaving the node: wait for its sum to be this pod's.
        gpu = wait_for(counted, timeout=30)
        assert "controlpanel.io/explorer-test=yes:NoSchedule" in gpu["taints"]
        assert gpu["allocatable"] == {"cpu": 8, "memory": 32 * 2**30, "gpu": 2}
        assert core.read_namespaced_pod("heavy", kube_namespace.name).spec.node_name == (
            "standin-gpu-1"
        )
        page = viewer_client.get(f"/clusters/{kube_cluster.pk}/explore/nodes/").content.decode()
        cells = _node_cells(page, "standin-gpu-1")
        assert "controlpanel.io/explorer-test=yes:NoSchedule" in cells[2]
        assert cells[3:6] == [
            "1.50 / 8 cores (19%)", "3.0 GB / 32.0 GB (9%)", "1 / 2 GPUs (50%)"
        ]  # fmt: skip
    finally:
        core.patch_node("standin-gpu-1", {"spec": {"taints": gpu_taints}})
        try:  # its GPU back at once for the tests after, not when the namespace goes
            core.delete_namespaced_pod("heavy", kube_namespace.name)
        except ApiException as exc:
            if exc.status != 404:
                raise
        _restore_panel_role(rbac, rules, kube_api)
        for delete in (rbac.delete_cluster_role_binding, rbac.delete_cluster_role):
            try:
                delete("controlpanel-explorer")
            except ApiException as exc:
                if exc.status != 404:
                    raise
        core.delete_namespace(other, propagation_policy="Background")


def test_a_pods_log_is_followed_live_for_the_viewer(
    asgi_app, kube_cluster, kube_namespace, kube_admin_api, viewer_user
):
    """Any pod's log, through the same protocol as runs' logs, straight from the API server."""
    ns = kube_namespace.name
    core = k8s.CoreV1Api(kube_admin_api)
    pod = {
        "metadata": {"name": "talker", "annotations": {
            "standin-kubelet/log": "first line\nsecond line", "standin-kubelet/run-seconds": "60"}},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }  # fmt: skip
    core.create_namespaced_pod(ns, pod)
    crasher = {
        "metadata": {"name": "crasher", "annotations": {
            "standin-kubelet/log": "crashing now", "standin-kubelet/run-seconds": "0.2",
            "standin-kubelet/exit-code": "3"}},
        "spec": {"restartPolicy": "Always", "containers": [{"name": "main", "image": "busybox"}]},
    }  # fmt: skip
    core.create_namespaced_pod(ns, crasher)
    wait_for(lambda: core.read_namespaced_pod("talker", ns).status.phase == "Running", timeout=30)
    wait_for(
        lambda: (
            (core.read_namespaced_pod("crasher", ns).status.container_statuses or [None])[0]
            and core.read_namespaced_pod("crasher", ns).status.container_statuses[0].restart_count
            >= 2  # two attempts have logged: the kubelet has a previous one to serve
        ),
        timeout=30,
    )
    token = token_for(viewer_user)
    path = f"/ws/clusters/{kube_cluster.pk}/namespaces/{ns}/pods/talker/logs/main/current/"

    async def scenario():
        comm = communicator(path, token=token)
        assert (await comm.connect())[0]
        _, live = await receive_until_type(comm, "live", timeout=15)
        lines = []
        while len(lines) < 3:
            message = json.loads(await comm.receive_from(timeout=15))
            if "type" not in message:
                lines.append(message)
        await comm.disconnect()
        resumed = communicator(path + "?after=2", token=token)
        assert (await resumed.connect())[0]
        await receive_until_type(resumed, "live", timeout=15)
        again = json.loads(await resumed.receive_from(timeout=15))
        await resumed.disconnect()
        missing = communicator(path.replace("talker", "nobody"), token=token)
        assert (await missing.connect())[0]
        error = json.loads(await missing.receive_from(timeout=15))
        closed = await missing.receive_output(timeout=15)
        previous = communicator(
            path.replace("talker", "crasher").replace("/current/", "/previous/"), token=token
        )
        assert (await previous.connect())[0]
        before_end, ended = await receive_until_type(previous, "ended", timeout=15)
        await previous.disconnect()
        return live, lines, again, error, closed, before_end

    live, lines, again, error, closed, before_end = asyncio.run(scenario())
    assert [m["text"] for m in before_end][-1] == "crashing now"
    assert live["cursor"] == 0
    assert "scripted" in lines[0]["text"]  # the stand-in kubelet's own first line
    assert [(m["cursor"], m["pod"], m["text"]) for m in lines[1:]] == [
        (2, "main", "first line"),
        (3, "main", "second line"),
    ]
    assert (again["cursor"], again["text"]) == (3, "second line")
    assert error["type"] == "error" and "gone" in error["message"]
    assert closed == {"type": "websocket.close", "code": 4404}
