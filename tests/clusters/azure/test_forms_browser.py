"""The Azure forms in Chromium, served by Daphne against the fake Entra and Resource Manager:
region and VM size pickers, messages kept by the htmx swaps, slow actions that say they are
working, labels in words, a new principal's secret, a share whose creation failed."""

from __future__ import annotations

import pytest

from clusters.azure.models import AzureOperation, FileShare
from clusters.models import Cluster, Credential
from core.choices import Role
from tests.browser.test_roles_and_audit import log_in
from tests.conftest import wait_for
from tests.factories import UserFactory
from tests.fakes.azure_arm import arm_error

pytestmark = [pytest.mark.browser]


@pytest.fixture
def azure_panel(transactional_db, fake_azure, azure_pki, monkeypatch, request) -> str:
    """Daphne whose Azure endpoints are the fake's (its settings come from the environment)."""
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", fake_azure.url)
    monkeypatch.setenv("AZURE_RESOURCE_MANAGER_URL", fake_azure.url)
    monkeypatch.setenv("AZURE_DISABLE_INSTANCE_DISCOVERY", "true")
    monkeypatch.setenv("AZURE_CA_BUNDLE", str(azure_pki.ca_bundle))
    return request.getfixturevalue("daphne_server")


def test_the_aks_form_picks_regions_and_sizes_and_says_what_it_is_doing(
    azure_panel, page, fake_azure, azure_credential
):
    """Regions come from the provider's locations by display name; "west us" typed loads the
    versions; without a credential the reason stays on the page; labels read as words; the
    preflight shows that it is working while Azure answers slowly."""
    UserFactory(username="ada", role=Role.ADMIN)
    log_in(page, azure_panel, "ada")
    page.goto(f"{azure_panel}/aks/new/")
    assert page.locator("label[for=id_system_vm_size]").inner_text() == "System node size"
    assert page.locator("label[for=id_location]").inner_text() == "Region"
    assert (
        page.locator("#system-vm-sizes option[value=Standard_NC4as_T4_v3]").get_attribute("label")
        is None
    )
    assert "GPU" in page.locator("#system-vm-sizes option[value=Standard_NC4as_T4_v3]").inner_text()

    page.select_option("#id_credential", str(azure_credential.pk))
    page.wait_for_selector("#region-list option[value='West US']", state="attached")
    assert page.locator("datalist#region-list").count() == 1  # the one the field's list names
    page.fill("#id_location", "west us")
    page.click("text=Load versions for the region")
    page.wait_for_selector("#versions-hint >> text=offered in this region")
    assert page.locator("#id_kubernetes_version option").count() > 1

    page.select_option("#id_credential", "")
    page.click("text=Load versions for the region")
    page.wait_for_selector("#versions-hint >> text=Choose an Azure credential first.")

    # Azure throttles the permission check once (Retry-After: 2): the preflight takes seconds.
    fake_azure.add_fault("GET", "/permissions", 429, body=arm_error("TooManyRequests", "slow down"),
                         headers={"Retry-After": "2"})  # fmt: skip
    page.select_option("#id_credential", str(azure_credential.pk))
    page.fill("#id_resource_group", "rg-vision")
    page.click("text=Run preflight")
    page.wait_for_selector("#preflight-working", state="visible", timeout=2000)
    page.wait_for_selector("#preflight .check")
    assert not page.locator("#preflight-working").is_visible()


def test_a_new_principal_needs_its_secret_and_keeps_it_through_an_error(azure_panel, page):
    """The secret is required on a new principal, and a mistake elsewhere does not wipe it."""
    UserFactory(username="ada", role=Role.ADMIN)
    log_in(page, azure_panel, "ada")
    page.goto(f"{azure_panel}/credentials/new/?kind=azure")
    assert page.locator("#id_client_secret").get_attribute("required") is not None
    assert "Leave empty" not in page.inner_text("form")
    page.fill("#id_name", "prod-sp")
    page.fill("#id_tenant_id", "72f988bf-86f1-41af-91ab-2d7cd011db47")
    page.fill("#id_client_id", "not-a-guid")
    page.fill("#id_client_secret", "typed-once-secret")
    page.fill("#id_subscription_id", "00000000-0000-0000-0000-0000000000aa")
    page.click("main button:text('Save')")
    page.wait_for_selector("ul[data-field=client_id]")
    assert page.input_value("#id_client_secret") == "typed-once-secret"
    page.fill("#id_client_id", "8c3a1f4e-1c5d-4b7a-9f6e-2a1b3c4d5e6f")
    page.click("main button:text('Save')")
    page.wait_for_selector("text=Stored credential prod-sp")
    assert Credential.objects.get(name="prod-sp").secrets()["client_secret"] == "typed-once-secret"


def test_a_share_whose_creation_failed_says_why_and_can_be_retried_or_removed(
    azure_panel, page, celery_worker, fake_azure, azure_credential
):
    UserFactory(username="otto", role=Role.OPERATOR)
    kubeconfig = Credential.objects.create(
        name="edge-kc", kind="kubeconfig", server="https://127.0.0.1:1"
    )
    cluster = Cluster.objects.create(name="edge", kind="kubernetes", credential=kubeconfig)
    fake_azure.add_fault("PUT", "/storageaccounts/visionfail01", 409,
                         body=arm_error("StorageAccountAlreadyTaken", "The storage account named visionfail01 is already taken."))  # fmt: skip
    log_in(page, azure_panel, "otto")
    page.goto(f"{azure_panel}/storage/new/")
    assert page.locator("label[for=id_quota_gb]").inner_text() == "Quota (GiB)"
    page.select_option("#id_cluster", str(cluster.pk))
    page.select_option("#id_credential", str(azure_credential.pk))
    page.fill("#id_resource_group", "rg-data")
    page.fill("#id_location", "East US")
    page.fill("#id_account_name", "visionfail01")
    page.fill("#id_share_name", "videos")
    page.click("form.card button")
    page.wait_for_url("**/azure-operations/*/")
    share = FileShare.objects.get()
    assert share.location == "eastus"
    wait_for(lambda: AzureOperation.objects.filter(status="failed").exists(), timeout=60)

    page.goto(f"{azure_panel}/storage/")
    assert "creation failed" in page.inner_text("table")
    assert "not mounted yet" not in page.content() and "being created" not in page.inner_text(
        "table"
    )
    page.goto(f"{azure_panel}/storage/{share.pk}/")
    text = page.inner_text("main")
    assert "Creating the share failed" in text and "already taken" in text
    assert "still being created" not in text
    page.click("button:text('Retry')")
    page.wait_for_url("**/azure-operations/*/")
    assert AzureOperation.objects.filter(kind="create_share").count() == 2
    wait_for(
        lambda: not AzureOperation.objects.filter(status__in=("queued", "running")).exists(),
        timeout=60,
    )

    if (
        FileShare.objects.get().volume_id is None
        and AzureOperation.objects.latest("pk").status == "failed"
    ):
        page.goto(f"{azure_panel}/storage/{share.pk}/")
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("button:text('Remove')")
        page.wait_for_url(f"{azure_panel}/storage/")
        assert not FileShare.objects.exists()
        assert "Removed visionfail01/videos" in page.inner_text("main")
