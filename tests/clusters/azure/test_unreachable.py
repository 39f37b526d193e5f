"""Azure that cannot be reached (DNS, a closed port) is reported as a network problem with the
host and the reason, everywhere: the credential's test, the AKS preflight, the version list of
the API (an unreachable Resource Manager: test_credential_test.py). Only an answer from Microsoft Entra blames the credentials (test_credential_test.py)."""

from __future__ import annotations

from clusters.models import Credential
from core.models import AuditEvent
from tests.conftest import wait_for

NOWHERE = "login.nowhere.invalid"  # .invalid never resolves (RFC 2606)


def _tested(api, credential_id: int) -> Credential:
    Credential.objects.filter(pk=credential_id).update(test_status="never")
    assert api.post(f"/api/credentials/{credential_id}/test/").status_code == 202
    return wait_for(
        lambda: Credential.objects.filter(pk=credential_id).exclude(test_status__in=("pending", "never")).first(),
        timeout=60,
    )  # fmt: skip


def test_unreachable_azure_is_a_network_failure_naming_host_and_reason(
    celery_worker, admin_api, fake_azure, azure_credential, settings
):
    """Entra's name does not resolve: the test, the preflight and the API say so, naming the
    host; nothing says the service principal was refused."""
    settings.AZURE_AUTHORITY_HOST = f"https://{NOWHERE}"
    credential = _tested(admin_api, azure_credential.pk)
    assert credential.test_status == "failed"
    assert f"Microsoft Entra ({NOWHERE}) could not be reached" in credential.test_message
    assert "does not resolve (DNS)" in credential.test_message
    assert "refused the service principal" not in credential.test_message
    outcome = AuditEvent.objects.filter(action="test", object_id=str(azure_credential.pk)).get()
    assert outcome.actor.username == "ada"
    assert outcome.changes["outcome"] == "failed" and NOWHERE in outcome.changes["message"]

    body = {"credential": azure_credential.pk, "resource_group": "rg-vision", "location": "eastus"}
    checks = admin_api.post("/api/aks/preflight/", body, format="json").json()
    assert [(c["name"], c["ok"]) for c in checks] == [("Azure reachable", False)]
    assert NOWHERE in checks[0]["detail"] and "DNS" in checks[0]["fix"]

    versions = admin_api.get(
        "/api/aks/versions/", {"credential": azure_credential.pk, "location": "eastus"}
    )
    assert versions.status_code == 400
    assert isinstance(versions.json()["credential"], list)  # field errors: always a list
    message = " ".join(versions.json()["credential"])
    assert f"Unreachable: Microsoft Entra ({NOWHERE}) could not be reached" in message
    assert "Check the credential" not in message
