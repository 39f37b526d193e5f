"""The panel installed in a cluster: "this cluster" through its ServiceAccount, no local cluster,
and `*.svc` names only for the cluster the panel runs in."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.clusters.kubeconfigs import minimal

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.smoke
@pytest.mark.django_db
def test_only_the_cluster_the_panel_runs_in_is_reached_by_service_dns(monkeypatch):
    """In a pod (KUBERNETES_SERVICE_HOST set), an imported cluster's Service still goes through
    that cluster's API server: its `*.svc` name would resolve in the panel's cluster, not in it."""
    from clusters.choices import ClusterKind
    from clusters.models import Cluster, Credential
    from clusters.proxy import service_target
    from core.crypto import encrypt

    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    credential = Credential.objects.create(
        name="far", kind="kubeconfig",
        secret_data=encrypt(json.dumps({"kubeconfig": minimal("https://203.0.113.7:6443")})),
    )  # fmt: skip
    imported = Cluster.objects.create(
        name="far", kind=ClusterKind.KUBERNETES, credential=credential
    )
    here = Cluster.objects.create(name="this-cluster", kind=ClusterKind.IN_CLUSTER)

    far = service_target(imported, "runs", "cam-1", port=8080, path="/stream.mjpg")
    assert far.url == (
        "https://203.0.113.7:6443/api/v1/namespaces/runs/services/cam-1:http/proxy/stream.mjpg"
    )
    assert far.headers == {"Authorization": "Bearer some-token"}
    near = service_target(here, "runs", "cam-1", port=8080, path="/stream.mjpg")
    assert (near.url, near.headers) == ("http://cam-1.runs.svc:8080/stream.mjpg", {})


JOB = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: hello
spec:
  backoffLimit: 0
  template:
    metadata:
      annotations: {standin-kubelet/log: "hello from this cluster"}
    spec:
      restartPolicy: Never
      securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: hello
          image: busybox
          securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
"""

SCRIPT = """
import json, os
from django.conf import settings
from clusters.models import Cluster
from core.services import SYSTEM
from workloads import services, tasks
from workloads.forms import RunForm
from workloads.models import WorkloadTemplate
from workloads.monitor import monitor_run

template = WorkloadTemplate.objects.get(slug="raw-manifest")
cluster = Cluster.objects.get()
run = services.run_create(actor=SYSTEM, template=template, cluster=cluster,
                          params={"manifest": os.environ["TEST_MANIFEST"]})
tasks.run_submit_task(run.pk)
monitor_run(run.pk)
run.refresh_from_db()
print(json.dumps({
    "clusters": [[c.name, c.kind, c.status, c.version, c.namespace, len(c.nodes)]
                 for c in Cluster.objects.all()],
    "run": [run.state, run.error],
    "lines": [line.text for line in run.log_lines.order_by("cursor")],
    "faces_cluster": settings.FACES_CLUSTER,
    "form_default": RunForm(template=template).fields["cluster"].initial == cluster.pk,
}))
"""


@pytest.mark.kubernetes
@pytest.mark.slow
def test_a_panel_in_a_pod_offers_this_cluster_through_its_service_account(
    kube_kubeconfig, kube_namespace, kube_admin_api, redis_url, tmp_path
):
    """A panel process with a pod's environment (service host and port, the ServiceAccount's
    token and CA at the paths the settings name) pointed at the test bed: no kubeconfig, no
    local cluster; this cluster is healthy and a run on it goes through with its log."""
    config = yaml.safe_load(kube_kubeconfig)
    server = urlsplit(config["clusters"][0]["cluster"]["server"])
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(config["users"][0]["user"]["token"])
    (account / "ca.crt").write_bytes(
        base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"])
    )
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("IN_CLUSTER", "LOCAL_CLUSTER", "FACES_CLUSTER", "DATABASE_URL"))}  # fmt: skip
    env |= {
        "CONTROLPANEL_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": "",
        # A Redis database of its own: the tasks this panel queues are not the session's.
        "REDIS_URL": redis_url.rsplit("/", 1)[0] + "/14",
        "KUBERNETES_SERVICE_HOST": server.hostname,
        "KUBERNETES_SERVICE_PORT": str(server.port),
        "IN_CLUSTER_TOKEN_PATH": str(account / "token"),
        "IN_CLUSTER_CA_PATH": str(account / "ca.crt"),
        "IN_CLUSTER_NAMESPACE": kube_namespace.name,
        "TEST_MANIFEST": JOB,
    }

    def manage(*args):
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=300)  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    manage("migrate", "--noinput")
    started = manage("bootstrap_demo")
    assert "Created 'this-cluster', the cluster the panel runs in (healthy)." in started
    assert "The local cluster is off" in started

    report = json.loads(manage("shell", "-c", SCRIPT).splitlines()[-1])
    from kubernetes import client

    nodes = len(client.CoreV1Api(kube_admin_api).list_node().items)
    assert report["clusters"] == [
        ["this-cluster", "in_cluster", "healthy", "v1.20.2", kube_namespace.name, nodes]
    ]
    assert report["run"] == ["succeeded", ""]
    assert "hello from this cluster" in report["lines"]
    assert report["faces_cluster"] == "this-cluster"
    assert report["form_default"] is True


@pytest.mark.django_db
def test_this_clusters_pages_show_without_a_credential(admin_client):
    """No kubeconfig behind it: the list, its page and its edit form still show, and the page
    says how it is reached; a refresh outside a pod says why it cannot reach it."""
    from clusters.choices import ClusterKind
    from clusters.models import Cluster
    from clusters.services import cluster_refresh

    here = Cluster.objects.create(name="this-cluster", kind=ClusterKind.IN_CLUSTER,
                                  namespace="controlpanel-runs")  # fmt: skip
    for url in ("/clusters/", f"/clusters/{here.pk}/", f"/clusters/{here.pk}/edit/"):
        response = admin_client.get(url)
        assert response.status_code == 200, url
    assert (
        "This cluster (the panel&#x27;s own ServiceAccount)"
        in admin_client.get(f"/clusters/{here.pk}/").content.decode()
    )
    refreshed = cluster_refresh(cluster_id=here.pk)
    assert refreshed.status == "error"
    assert "KUBERNETES_SERVICE_HOST is not set" in refreshed.last_error
