"""Accounts: tokens, roles enforced alike in pages and the API, user administration, audit."""

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from core.models import ApiToken, AuditEvent
from tests.factories import LocalClusterFactory

pytestmark = pytest.mark.django_db


@pytest.mark.smoke
def test_create_api_token_command_prints_a_working_token(admin_user, capsys):
    """`manage.py create_api_token USERNAME` mints a token scripts can use at once."""
    call_command("create_api_token", admin_user.username)
    token = capsys.readouterr().out.strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.get("/api/me/")
    assert response.status_code == 200
    assert response.json() == {"username": admin_user.username, "role": "admin"}
    assert not ApiToken.objects.filter(digest__contains=token).exists()


def test_a_revoked_token_is_refused(viewer_user):
    client = APIClient()
    client.force_login(viewer_user)
    created = client.post("/api/tokens/", {"name": "ci"}, format="json")
    assert created.status_code == 201
    token = created.json()["token"]
    assert created.json()["prefix"] == token[:10]
    client.logout()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/clusters/").status_code == 200
    assert client.post(f"/api/tokens/{created.json()['id']}/revoke/").status_code == 200
    refused = client.get("/api/clusters/")
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "Invalid or revoked token."


def test_the_token_is_shown_once(viewer_api):
    created = viewer_api.post("/api/tokens/", {"name": "once"}, format="json").json()
    listed = viewer_api.get("/api/tokens/").json()["results"]
    assert all("token" not in row for row in listed)
    assert created["token"] not in str(listed)


def test_anonymous_callers_get_401():
    response = APIClient().get("/api/clusters/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("role_fixture", "method", "path", "expected"),
    [
        ("viewer_api", "get", "/api/clusters/", 200),
        ("viewer_api", "post", "/api/clusters/", 403),
        ("viewer_api", "get", "/api/users/", 403),
        ("viewer_api", "get", "/api/audit/", 403),
        ("operator_api", "post", "/api/credentials/", 403),
        ("operator_api", "get", "/api/audit/", 403),
        ("admin_api", "get", "/api/users/", 200),
        ("admin_api", "get", "/api/audit/", 200),
    ],
)
def test_roles_are_enforced_in_the_api(request, role_fixture, method, path, expected):
    client = request.getfixturevalue(role_fixture)
    response = getattr(client, method)(path, {}, format="json")
    assert response.status_code == expected


@pytest.mark.parametrize(
    ("role_fixture", "path", "expected"),
    [
        ("viewer_client", "/users/", 403),
        ("viewer_client", "/audit/", 403),
        ("viewer_client", "/clusters/import/", 403),  # no form for those who cannot send it
        ("admin_client", "/users/", 200),
        ("admin_client", "/audit/", 200),
    ],
)
def test_roles_are_enforced_in_pages(request, role_fixture, path, expected):
    client = request.getfixturevalue(role_fixture)
    assert client.get(path).status_code == expected


def test_a_viewer_cannot_import_a_cluster_from_the_page(viewer_client):
    response = viewer_client.post("/clusters/import/", {"name": "x", "kubeconfig": "a: b"})
    assert response.status_code == 403


def test_a_viewer_cannot_delete_a_cluster_in_the_api(viewer_api, operator_api):
    cluster = LocalClusterFactory()
    assert viewer_api.delete(f"/api/clusters/{cluster.pk}/").status_code == 403
    assert operator_api.delete(f"/api/clusters/{cluster.pk}/").status_code == 403


def test_pages_ask_anonymous_visitors_to_log_in(client):
    response = client.get("/clusters/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_logging_in_and_out_is_audited(client, viewer_user):
    response = client.post("/login/", {"username": "vera", "password": "correct horse battery"})
    assert response.status_code == 302
    client.post("/logout/")
    client.post("/login/", {"username": "vera", "password": "wrong"})
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions[-3:] == ["login", "logout", "login_failed"]
    assert "wrong" not in str(AuditEvent.objects.values_list("changes", "object_repr"))


def test_admins_manage_users_and_it_is_audited(admin_api):
    created = admin_api.post(
        "/api/users/",
        {"username": "newop", "role": "operator", "password": "a-long-pass-phrase-9"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["role"] == "operator"
    assert "password" not in created.json()
    user_id = created.json()["id"]
    changed = admin_api.patch(f"/api/users/{user_id}/", {"role": "viewer"}, format="json")
    assert changed.json()["role"] == "viewer"
    audit = admin_api.get("/api/audit/", {"object_type": "user"}).json()["results"]
    assert [e["action"] for e in audit][:2] == ["update", "create"]
    assert audit[0]["changes"] == {"role": ["operator", "viewer"]}
    assert audit[0]["actor_name"] == "ada"


def test_a_weak_password_is_refused_with_the_field(admin_api):
    response = admin_api.post("/api/users/", {"username": "weak", "password": "123"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()["error"]["fields"]


def test_tokens_page_shows_a_new_token_once(viewer_client):
    response = viewer_client.post("/account/tokens/", {"name": "laptop"})
    html = response.content.decode()
    token = html.split('id="new-token">')[1].split("<")[0]
    assert token.startswith("cp_")
    again = viewer_client.get("/account/tokens/").content.decode()
    assert token not in again
    assert token[:10] in again
