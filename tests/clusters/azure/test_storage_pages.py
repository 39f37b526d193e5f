"""File share pages: create from the form (account, share, Secret + PV + claim, Volume), upload
through the page, list and download; the storage key is in no page."""

from __future__ import annotations

import base64
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from kubernetes import client as k8s

from clusters.azure.models import FileShare
from clusters.models import Volume
from clusters.services import cluster_import
from core.services import SYSTEM
from tests.clusters.azure.conftest import wait_operation

pytestmark = pytest.mark.kubernetes


def test_a_share_made_from_the_form_takes_uploads_and_serves_downloads(
    request, celery_worker, operator_client, fake_azure, azure_credential, kube_admin_kubeconfig, kube_admin_api, kube_namespace
):  # fmt: skip
    cluster = cluster_import(actor=SYSTEM, name="edge", kubeconfig=kube_admin_kubeconfig, namespace=kube_namespace.name)  # fmt: skip
    bad = operator_client.post("/storage/new/", {"cluster": cluster.pk, "credential": azure_credential.pk, "resource_group": "rg-data", "location": "eastus", "account_name": "Bad_Name", "share_name": "videos", "quota_gb": 10})  # fmt: skip
    assert bad.status_code == 400 and 'data-field="account_name"' in bad.content.decode()
    assert not FileShare.objects.exists()

    body = {
        "cluster": cluster.pk, "credential": azure_credential.pk, "resource_group": "rg-data",
        "location": "eastus", "account_name": "visionpages01", "share_name": "videos",
        "quota_gb": 10, "namespace": kube_namespace.name,
    }  # fmt: skip
    created = operator_client.post("/storage/new/", body)
    assert created.status_code == 302, created.content.decode()[:2000]
    op = wait_operation(int(created["Location"].split("/")[-2]))
    assert op.status == "succeeded", op.error_message
    core = k8s.CoreV1Api(kube_admin_api)
    request.addfinalizer(lambda: core.delete_persistent_volume("visionpages01-videos"))
    claim = core.read_namespaced_persistent_volume_claim("videos-claim", kube_namespace.name)
    assert claim.spec.access_modes == ["ReadWriteMany"]
    assert Volume.objects.get(cluster=cluster, name="videos").claim_name == "videos-claim"
    share = FileShare.objects.get()

    listing = operator_client.get("/storage/").content.decode()
    assert "visionpages01/videos" in listing and "videos-claim" in listing
    video = bytes(range(256)) * 64
    upload = operator_client.post(f"/storage/{share.pk}/upload/", {"path": "input/", "file": SimpleUploadedFile("dashcam.mp4", video)})  # fmt: skip
    assert upload.status_code == 302 and upload["Location"].endswith("?directory=input")
    page = operator_client.get(f"/storage/{share.pk}/", {"directory": "input"}).content.decode()
    assert "dashcam.mp4" in page and "16.0\xa0KB" in page  # filesizeformat: no-break space
    link = re.search(r'href="([^"]*/download/\?path=[^"]*)"', page).group(1).replace("&amp;", "&")
    download = operator_client.get(link)
    assert download.status_code == 200 and download.content == video
    key = fake_azure.storage_keys["visionpages01"]
    for html in (
        listing,
        page,
        operator_client.get(f"/azure-operations/{op.pk}/").content.decode(),
    ):
        assert key not in html and base64.b64encode(key.encode()).decode() not in html
