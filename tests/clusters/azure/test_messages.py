"""Refusals of the Azure forms and API say which rule the input broke."""

from __future__ import annotations

from clusters.azure.models import FileShare
from tests.factories import LocalClusterFactory


def test_a_bad_storage_account_name_gets_the_rule_it_broke(admin_api, azure_credential):
    cluster = LocalClusterFactory()
    body = {"cluster": cluster.pk, "credential": azure_credential.pk, "resource_group": "rg",
            "location": "eastus", "share_name": "videos"}  # fmt: skip
    for name, broken in (("Vision_Data", "has 'D', 'V', '_'"), ("ab", "has 2 characters")):
        response = admin_api.post("/api/file-shares/", body | {"account_name": name}, format="json")
        assert response.status_code == 400
        assert response.json()["account_name"] == [
            f"A storage account name is 3 to 24 lower-case letters and digits, unique in Azure: "
            f"'{name}' {broken}."
        ]
    assert not FileShare.objects.exists()
