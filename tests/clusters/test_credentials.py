"""Cloud credentials: validation, write-only secrets, masking everywhere."""

import logging

import pytest

from clusters.models import Credential
from tests.clusters.kubeconfigs import minimal

pytestmark = pytest.mark.django_db

SECRET = "Sup3r~Secret.Value_42"
AZURE = {
    "name": "prod-sp",
    "kind": "azure",
    "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    "client_id": "11111111-2222-3333-4444-555555555555",
    "subscription_id": "00000000-0000-0000-0000-000000000001",
    "client_secret": SECRET,
}


@pytest.mark.smoke
def test_an_azure_secret_is_never_returned(admin_api):
    """Create, read, list: the secret is write-only; `has_secret` says one is stored."""
    created = admin_api.post("/api/credentials/", AZURE, format="json")
    assert created.status_code == 201, created.content
    assert SECRET not in created.content.decode()
    assert created.json()["has_secret"] is True
    detail = admin_api.get(f"/api/credentials/{created.json()['id']}/")
    listed = admin_api.get("/api/credentials/")
    for response in (detail, listed):
        assert SECRET not in response.content.decode()
        assert "client_secret" not in response.content.decode()


def test_secrets_are_absent_from_pages_and_the_admin(admin_api, admin_client):
    credential_id = admin_api.post("/api/credentials/", AZURE, format="json").json()["id"]
    for path in (
        "/credentials/",
        f"/credentials/{credential_id}/edit/",
        f"/admin/clusters/credential/{credential_id}/change/",
    ):
        html = admin_client.get(path).content.decode()
        assert SECRET not in html, path
    assert (
        "encrypted"
        in admin_client.get(f"/admin/clusters/credential/{credential_id}/change/").content.decode()
    )


def test_secrets_are_absent_from_logs(admin_api, caplog):
    caplog.set_level(logging.DEBUG)
    credential_id = admin_api.post("/api/credentials/", AZURE, format="json").json()["id"]
    admin_api.patch(
        f"/api/credentials/{credential_id}/", {"client_secret": SECRET + "2"}, format="json"
    )
    admin_api.post("/api/credentials/", {**AZURE, "client_id": "bad"}, format="json")
    assert SECRET not in caplog.text


def test_an_empty_secret_on_update_keeps_the_stored_one(admin_api):
    credential_id = admin_api.post("/api/credentials/", AZURE, format="json").json()["id"]
    response = admin_api.patch(
        f"/api/credentials/{credential_id}/",
        {"description": "renamed", "client_secret": ""},
        format="json",
    )
    assert response.status_code == 200
    assert Credential.objects.get(pk=credential_id).secrets()["client_secret"] == SECRET


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tenant_id": "not a tenant"}, "tenant_id"),
        ({"client_id": "1234"}, "client_id"),
        ({"subscription_id": ""}, "subscription_id"),
        ({"client_secret": ""}, "client_secret"),
        ({"kind": "gcp"}, "kind"),
    ],
)
def test_bad_azure_fields_are_named(admin_api, change, field):
    response = admin_api.post("/api/credentials/", {**AZURE, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not Credential.objects.exists()


def test_a_duplicate_name_is_a_field_error(admin_api):
    admin_api.post("/api/credentials/", AZURE, format="json")
    response = admin_api.post("/api/credentials/", AZURE, format="json")
    assert response.status_code == 400
    assert "already exists" in str(response.json()["name"])


def test_a_kubeconfig_credential_keeps_context_and_server_public(admin_api):
    text = minimal(server="https://k8s.example.test:6443", contexts=("blue", "green"))
    response = admin_api.post(
        "/api/credentials/",
        {"name": "kc", "kind": "kubeconfig", "kubeconfig": text, "context": "green"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["context"], body["server"]) == ("green", "https://k8s.example.test:6443")
    assert "some-token" not in response.content.decode()


def test_an_unknown_context_is_named(admin_api):
    response = admin_api.post(
        "/api/credentials/",
        {
            "name": "kc",
            "kind": "kubeconfig",
            "kubeconfig": minimal(contexts=("blue", "green")),
            "context": "nope",
        },
        format="json",
    )
    assert response.status_code == 400
    message = response.json()["error"]["fields"]["context"][0]
    assert "Unknown context 'nope'" in message
    assert (
        message.endswith(": the kubeconfig has blue, green.") and "[" not in message
    )  # no Python list


def test_the_credential_form_shows_field_errors(admin_client):
    response = admin_client.post("/credentials/new/?kind=azure", {**AZURE, "client_id": "x"})
    assert response.status_code == 400
    assert 'data-field="client_id"' in response.content.decode()
    assert not Credential.objects.exists()


@pytest.mark.kubernetes
def test_testing_a_kubeconfig_credential_reports_the_server(
    celery_worker, admin_api, kube_kubeconfig
):
    """ "Test connection" runs on the real worker and records what it found."""
    body = {"name": "testbed", "kind": "kubeconfig", "kubeconfig": kube_kubeconfig}
    credential_id = admin_api.post("/api/credentials/", body, format="json").json()["id"]
    assert admin_api.post(f"/api/credentials/{credential_id}/test/").status_code == 202
    from tests.conftest import wait_for

    done = wait_for(lambda: Credential.objects.filter(pk=credential_id, test_status="ok").first())
    assert "Kubernetes v1.20" in done.test_message and "node(s)" in done.test_message
    shown = admin_api.get(f"/api/credentials/{credential_id}/").json()
    assert shown["test_status"] == "ok"


def test_testing_an_unreachable_kubeconfig_says_so(celery_worker, admin_api):
    body = {"name": "gone", "kind": "kubeconfig", "kubeconfig": minimal("https://127.0.0.1:1")}
    credential_id = admin_api.post("/api/credentials/", body, format="json").json()["id"]
    admin_api.post(f"/api/credentials/{credential_id}/test/")
    from tests.conftest import wait_for

    done = wait_for(
        lambda: Credential.objects.filter(pk=credential_id, test_status="failed").first()
    )
    assert "unreachable" in done.test_message and "connection refused" in done.test_message
