"""'Test connection' of an Azure service principal, run by the real Celery worker against the
fake Microsoft Entra token endpoint and Resource Manager."""

from __future__ import annotations

import logging

import pytest
from django.db import connection

from clusters.models import Credential
from tests.conftest import wait_for

SECRET = "an-honest-but-wrong-secret-7Yq"


def _create(api, fake, **overrides) -> dict:
    body = {
        "name": "sp",
        "kind": "azure",
        "tenant_id": fake.tenant_id,
        "client_id": fake.client_id,
        "subscription_id": fake.subscription_id,
        "client_secret": fake.client_secret,
    } | overrides
    response = api.post("/api/credentials/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _test_and_wait(api, credential_id: int) -> Credential:
    response = api.post(f"/api/credentials/{credential_id}/test/")
    assert response.status_code == 202
    return wait_for(
        lambda: (
            Credential.objects.filter(pk=credential_id)
            .exclude(test_status__in=("pending", "never"))
            .first()
        ),
        timeout=60,
    )


def test_a_valid_service_principal_connects(celery_worker, admin_api, fake_azure):
    """Right tenant, client and secret: OK, naming the subscription."""
    created = _create(admin_api, fake_azure)
    credential = _test_and_wait(admin_api, created["id"])
    assert credential.test_status == "ok", credential.test_message
    assert fake_azure.subscription_id in credential.test_message
    detail = admin_api.get(f"/api/credentials/{created['id']}/").json()
    assert detail["test_status"] == "ok"


@pytest.mark.parametrize(
    ("overrides", "arm_actions", "expected"),
    [
        ({"tenant_id": "11111111-2222-3333-4444-555555555555"}, None, "does not know this tenant"),
        ({"client_secret": SECRET}, None, "client secret is wrong"),
        (
            {"client_id": "99999999-8888-7777-6666-555555555555"},
            None,
            "client (application) id was not found",
        ),
        ({}, [], "Forbidden: the service principal has no role on subscription"),
    ],
    ids=["bad-tenant", "wrong-secret", "unknown-client", "forbidden"],
)
def test_each_failure_names_its_reason(
    celery_worker, admin_api, fake_azure, caplog, overrides, arm_actions, expected
):
    """The worker records the precise reason; the secret appears nowhere."""
    caplog.set_level(logging.DEBUG)
    if arm_actions is not None:
        fake_azure.actions[fake_azure.client_id] = arm_actions
    created = _create(admin_api, fake_azure, **overrides)
    credential = _test_and_wait(admin_api, created["id"])
    assert credential.test_status == "failed"
    assert expected in credential.test_message
    secret = overrides.get("client_secret", fake_azure.client_secret)
    _assert_secret_nowhere(admin_api, created["id"], secret, caplog)


def test_an_unreachable_resource_manager_is_reported(
    celery_worker, admin_api, fake_azure, settings
):
    """A Resource Manager URL nobody listens on: 'unreachable', not a stack trace."""
    from tests.conftest import free_port

    settings.AZURE_RESOURCE_MANAGER_URL = f"https://127.0.0.1:{free_port()}"
    created = _create(admin_api, fake_azure)
    credential = _test_and_wait(admin_api, created["id"])
    assert credential.test_status == "failed"
    assert "Azure Resource Manager (127.0.0.1:" in credential.test_message
    assert "could not be reached: the connection was refused" in credential.test_message


def _assert_secret_nowhere(api, credential_id: int, secret: str, caplog) -> None:
    assert secret not in api.get(f"/api/credentials/{credential_id}/").content.decode()
    assert secret not in api.get("/api/credentials/").content.decode()
    assert secret not in caplog.text
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secret_data, test_message FROM clusters_credential WHERE id = %s",
            [credential_id],
        )
        secret_data, message = cursor.fetchone()
    assert secret_data and secret not in secret_data
    assert secret not in message
    assert Credential.objects.get(pk=credential_id).secrets()["client_secret"] == secret
