"""Importing clusters from kubeconfigs, and keeping their health current."""

import pytest
import yaml

from clusters.models import Cluster, Credential
from clusters.tasks import cluster_health_check_all
from tests.clusters import kubeconfigs
from tests.conftest import wait_for


def _import(client, kubeconfig, name="edge", **extra):
    return client.post(
        "/api/clusters/",
        {"name": name, "kind": "kubernetes", "kubeconfig": kubeconfig, **extra},
        format="json",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kubeconfig", "field", "message"),
    [
        ("clusters: [unclosed", "kubeconfig", "not valid YAML"),
        ("just: a mapping", "kubeconfig", "not a kubeconfig"),
        (yaml.safe_dump({"clusters": [], "contexts": []}), "kubeconfig", "no contexts"),
        (
            kubeconfigs.minimal(contexts=("a", "b")).replace("current-context: a", ""),
            "kubeconfig",
            "choose one of",
        ),
        (kubeconfigs.minimal(server="https://127.0.0.1:1"), "kubeconfig", "unreachable"),
    ],
)
def test_a_bad_kubeconfig_is_refused_and_nothing_is_saved(operator_api, kubeconfig, field, message):
    response = _import(operator_api, kubeconfig)
    assert response.status_code == 400
    assert message in str(response.json()["error"]["fields"][field])
    assert not Cluster.objects.exists()
    assert not Credential.objects.exists()


@pytest.mark.django_db
def test_an_unknown_context_is_refused(operator_api):
    response = _import(operator_api, kubeconfigs.minimal(), context="prod")
    assert response.status_code == 400
    assert "Unknown context 'prod'" in str(response.json()["error"]["fields"]["context"])


@pytest.mark.django_db
def test_a_name_that_is_not_dns_is_refused(operator_api):
    response = _import(operator_api, kubeconfigs.minimal(), name="Not_DNS")
    assert response.status_code == 400
    assert "DNS-1123" in str(response.json()["error"]["fields"]["name"])


@pytest.mark.django_db
def test_a_kubeconfig_with_file_paths_is_explained(operator_api):
    text = kubeconfigs.minimal().replace(
        "insecure-skip-tls-verify: true", "certificate-authority: /home/me/ca.crt"
    )
    response = _import(operator_api, text)
    assert response.status_code == 400
    assert "--flatten" in str(response.json()["error"]["fields"]["kubeconfig"])


@pytest.mark.kubernetes
@pytest.mark.django_db
def test_a_wrong_certificate_authority_is_named(operator_api, kube_kubeconfig):
    response = _import(operator_api, kubeconfigs.with_wrong_ca(kube_kubeconfig))
    assert response.status_code == 400
    assert "Certificate error" in str(response.json()["error"]["fields"]["kubeconfig"])
    assert not Cluster.objects.exists()


@pytest.mark.kubernetes
@pytest.mark.django_db
def test_a_wrong_token_is_named(operator_api, kube_kubeconfig):
    response = _import(operator_api, kubeconfigs.with_token(kube_kubeconfig, "not-a-valid-token"))
    assert response.status_code == 400
    assert "401 Unauthorized" in str(response.json()["error"]["fields"]["kubeconfig"])


@pytest.mark.kubernetes
@pytest.mark.django_db
def test_an_imported_cluster_shows_version_nodes_and_gpus(operator_api, kube_kubeconfig):
    """The script path of the issue: POST a kubeconfig, GET status, version and nodes."""
    created = _import(operator_api, kube_kubeconfig)
    assert created.status_code == 201, created.content
    body = operator_api.get(f"/api/clusters/{created.json()['id']}/").json()
    assert body["status"] == "healthy"
    assert body["version"].startswith("v1.")
    gpus = {node["name"]: node["gpu"] for node in body["nodes"]}
    assert sum(gpus.values()) >= 1
    assert all(node["cpu"] > 0 and node["memory"] > 0 for node in body["nodes"])
    assert "kube-system" in body["namespaces"]
    assert "token" not in created.content.decode().lower().replace("tokens", "")


@pytest.mark.kubernetes
@pytest.mark.django_db
def test_the_context_can_be_chosen(operator_api, kube_kubeconfig):
    text = kubeconfigs.with_extra_context(kube_kubeconfig, "broken")
    current = yaml.safe_load(kube_kubeconfig)["current-context"]
    assert _import(operator_api, text, name="a", context="broken").status_code == 400
    response = _import(operator_api, text, name="b", context=current)
    assert response.status_code == 201, response.content


@pytest.mark.kubernetes
def test_the_periodic_health_check_notices_an_unreachable_cluster(
    celery_worker, operator_api, kube_kubeconfig
):
    """Beat's task runs on the real worker; a cluster whose server vanished turns unreachable."""
    cluster_id = _import(operator_api, kube_kubeconfig).json()["id"]
    credential = Cluster.objects.get(pk=cluster_id).credential
    broken = kubeconfigs.minimal(server="https://127.0.0.1:1")
    from clusters.services import _encrypt_secrets

    Credential.objects.filter(pk=credential.pk).update(
        secret_data=_encrypt_secrets({"kubeconfig": broken}), context="main"
    )
    cluster_health_check_all.delay()
    cluster = wait_for(lambda: Cluster.objects.filter(pk=cluster_id, status="unreachable").first())
    assert "connection refused" in cluster.last_error
    assert cluster.nodes  # the last known nodes stay visible


@pytest.mark.smoke
def test_the_local_cluster_reports_this_machine(celery_worker):
    import os

    import psutil

    from clusters.services import cluster_ensure_local

    cluster, created = cluster_ensure_local()
    assert created
    Cluster.objects.filter(pk=cluster.pk).update(nodes=[], status="unknown")
    cluster_health_check_all.delay()
    cluster = wait_for(lambda: Cluster.objects.filter(pk=cluster.pk, status="healthy").first())
    node = cluster.nodes[0]
    assert node["cpu"] == os.cpu_count()
    assert node["memory"] == psutil.virtual_memory().total
    assert node["gpu"] >= 0
