"""The fake Microsoft Entra + Azure Resource Manager + Azure Files endpoints, wired into settings.

Every test here is marked `azure` (`pytest -m azure`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.azure_arm import FakeAzure
from tests.fakes.tls import TestPki, make_pki


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.azure)


@pytest.fixture(scope="session")
def azure_pki(tmp_path_factory) -> TestPki:
    return make_pki(tmp_path_factory.mktemp("azure-pki"))


@pytest.fixture
def fake_azure(azure_pki: TestPki, settings, monkeypatch) -> Iterator[FakeAzure]:
    """A fresh fake tenant + subscription; the panel's Azure settings point at it."""
    fake = FakeAzure(azure_pki).start()
    settings.AZURE_AUTHORITY_HOST = fake.url
    settings.AZURE_RESOURCE_MANAGER_URL = fake.url
    settings.AZURE_DISABLE_INSTANCE_DISCOVERY = True
    settings.AZURE_CA_BUNDLE = str(azure_pki.ca_bundle)
    # Backoff and polling in tests: short, so retries cost milliseconds, not minutes.
    settings.AZURE_POLL_INTERVAL = 0.02
    settings.AZURE_RETRY_BASE_DELAY = 0.01
    settings.AZURE_RETRY_MAX_DELAY = 0.05
    yield fake
    fake.stop()


@pytest.fixture
def azure_credential(fake_azure: FakeAzure, transactional_db):
    """The fake subscription's service principal, stored the way the panel stores it."""
    from clusters.services import credential_create
    from core.services import SYSTEM

    return credential_create(
        actor=SYSTEM,
        name="fake-sp",
        kind="azure",
        tenant_id=fake_azure.tenant_id,
        client_id=fake_azure.client_id,
        subscription_id=fake_azure.subscription_id,
        client_secret=fake_azure.client_secret,
    )


PROVISION = {
    "name": "vision-aks",
    "resource_group": "rg-vision",
    "location": "eastus",
    "kubernetes_version": "1.25.5",
    "system_pool": {
        "name": "system",
        "vm_size": "Standard_D4s_v5",
        "count": 1,
        "autoscale": True,
        "min_count": 1,
        "max_count": 3,
    },  # fmt: skip
    "user_pools": [
        {
            "name": "gpu",
            "vm_size": "Standard_NC4as_T4_v3",
            "count": 1,
            "taints": ["nvidia.com/gpu=present:NoSchedule"],
        },  # fmt: skip
    ],
    "tags": {"team": "vision"},
}


def wait_operation(operation_id: int, timeout: float = 60):
    """The operation row once it has finished (succeeded or failed)."""
    from clusters.azure.models import AzureOperation
    from tests.conftest import wait_for

    return wait_for(
        lambda: AzureOperation.objects.filter(
            pk=operation_id, status__in=("succeeded", "failed")
        ).first(),
        timeout=timeout,
    )
