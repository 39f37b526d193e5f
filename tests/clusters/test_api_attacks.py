"""Requests an outside tester sent to the clusters and Azure API, and the answers they must get."""

from __future__ import annotations

import pytest

from clusters.models import Credential
from tests.clusters.kubeconfigs import minimal
from tests.clusters.test_credentials import AZURE

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]

BEYOND_64_BITS = str(2**63)


def _created(api, body) -> int:
    response = api.post("/api/credentials/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "kc", "kind": "kubeconfig", "kubeconfig": minimal()}, "client_secret"),
        (AZURE, "kubeconfig"),
    ],
)
def test_a_secret_of_the_other_kind_is_a_400_naming_it(admin_api, body, field):
    """PATCHing a kubeconfig credential with `client_secret` (and the reverse) is refused and
    changes nothing, instead of failing with a server error."""
    credential_id = _created(admin_api, body)
    before = Credential.objects.get(pk=credential_id).secret_data
    response = admin_api.patch(f"/api/credentials/{credential_id}/", {field: "x"}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert Credential.objects.get(pk=credential_id).secret_data == before


def test_a_megabyte_client_secret_is_refused(admin_api):
    response = admin_api.post(
        "/api/credentials/", {**AZURE, "client_secret": "x" * 1_000_000}, format="json"
    )
    assert response.status_code == 400
    assert "client_secret" in response.json()["error"]["fields"]
    assert not Credential.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        f"/api/aks/{BEYOND_64_BITS}/",
        f"/api/aks/{BEYOND_64_BITS}/upgrade-versions/",
        f"/api/clusters/{BEYOND_64_BITS}/",
        f"/api/credentials/{BEYOND_64_BITS}/",
        f"/api/azure-operations/{BEYOND_64_BITS}/",
        f"/api/file-shares/{BEYOND_64_BITS}/",
        f"/api/registries/{BEYOND_64_BITS}/",
    ],
)
def test_an_id_past_64_bits_is_a_404_for_a_viewer(viewer_api, path):
    assert viewer_api.get(path).status_code == 404


@pytest.mark.parametrize("action", ["scale", "add-pool", "remove-pool", "upgrade", "remove"])
def test_an_aks_action_on_an_id_past_64_bits_is_a_404(admin_api, action):
    assert admin_api.post(f"/api/aks/{BEYOND_64_BITS}/{action}/", {}, format="json").status_code == 404  # fmt: skip


@pytest.mark.parametrize(
    "path", [f"/clusters/{BEYOND_64_BITS}/", f"/credentials/{BEYOND_64_BITS}/edit/"]
)
def test_a_page_for_an_id_past_64_bits_is_a_404(admin_client, path):
    assert admin_client.get(path).status_code == 404


def _import(api, server: str):
    body = {"name": "probe", "kind": "kubernetes", "kubeconfig": minimal(server=server)}
    return api.post("/api/clusters/", body, format="json")


@pytest.mark.parametrize(
    "server",
    ["https://169.254.169.254", "https://[fd00:ec2::254]:443", "https://[::ffff:169.254.169.254]"],
)
def test_an_import_never_connects_to_a_metadata_address(admin_api, server):
    from clusters.models import Cluster

    response = _import(admin_api, server)
    assert response.status_code == 400
    assert "link-local or cloud metadata" in str(response.json()["error"]["fields"]["kubeconfig"])
    assert not Cluster.objects.filter(name="probe").exists()


def test_an_admin_can_restrict_the_networks_imports_reach(admin_api, settings):
    settings.CLUSTER_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    response = _import(admin_api, "https://127.0.0.1:6443")
    assert response.status_code == 400
    assert "CLUSTER_ALLOWED_NETWORKS" in str(response.json()["error"]["fields"]["kubeconfig"])


def test_a_port_that_never_speaks_tls_fails_the_import_in_seconds(admin_api):
    """It held the request for about 20 s; the connection now gives up after the connect
    timeout, with a reason an operator can act on."""
    import socket
    import time

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts, never answers the TLS handshake
        started = time.monotonic()
        response = _import(admin_api, f"https://127.0.0.1:{silent.getsockname()[1]}")
        elapsed = time.monotonic() - started
    assert response.status_code == 400
    assert "unreachable" in str(response.json()["error"]["fields"]).lower()
    assert elapsed < 10, elapsed
