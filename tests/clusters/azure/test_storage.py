"""Azure File share: account + share on (fake) Azure, Secret + RWX PV + claim on the real API
server, a Volume workloads can mount, and files moved with azure-storage-file-share."""

from __future__ import annotations

import base64

import pytest
from kubernetes import client as k8s

from clusters.azure.models import FileShare
from clusters.models import Volume
from tests.clusters.azure.conftest import PROVISION, wait_operation

pytestmark = pytest.mark.kubernetes


def test_a_share_is_created_mounted_and_used(
    celery_worker, admin_api, fake_azure, azure_credential, kube_admin_kubeconfig, kube_admin_api, kube_namespace
):  # fmt: skip
    """The claim is bound to the share's PV; an upload lists and downloads back byte for byte."""
    fake_azure.kubeconfig = kube_admin_kubeconfig
    created = admin_api.post("/api/aks/", PROVISION | {"credential": azure_credential.pk}, format="json")  # fmt: skip
    cluster_id = wait_operation(created.json()["id"]).cluster_id
    body = {
        "cluster": cluster_id, "credential": azure_credential.pk, "resource_group": "rg-data",
        "location": "eastus", "account_name": "visiondata01", "share_name": "videos",
        "quota_gb": 200, "namespace": kube_namespace.name,
    }  # fmt: skip
    response = admin_api.post("/api/file-shares/", body, format="json")
    assert response.status_code == 202, response.content
    op = wait_operation(response.json()["id"])
    assert op.status == "succeeded", (op.error_code, op.error_message)

    core = k8s.CoreV1Api(kube_admin_api)
    secret = core.read_namespaced_secret("azure-file-visiondata01", kube_namespace.name)
    key = base64.b64decode(secret.data["azurestorageaccountkey"]).decode()
    assert key == fake_azure.storage_keys["visiondata01"]
    pv = core.read_persistent_volume("visiondata01-videos")
    assert pv.spec.access_modes == ["ReadWriteMany"] and pv.spec.azure_file.share_name == "videos"
    claim = core.read_namespaced_persistent_volume_claim("videos-claim", kube_namespace.name)
    assert claim.spec.volume_name == "visiondata01-videos"
    volume = Volume.objects.get(cluster_id=cluster_id, name="videos")
    assert volume.claim_name == "videos-claim" and volume.access_mode == "ReadWriteMany"

    share_id = admin_api.get("/api/file-shares/").json()["results"][0]["id"] if "results" in admin_api.get("/api/file-shares/").json() else admin_api.get("/api/file-shares/").json()[0]["id"]  # fmt: skip
    video = bytes(range(256)) * 40
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = admin_api.post(
        f"/api/file-shares/{share_id}/upload/",
        {"path": "input/dashcam.mp4", "file": SimpleUploadedFile("dashcam.mp4", video)},
        format="multipart",
    )
    assert upload.status_code == 201, upload.content
    listed = admin_api.get(f"/api/file-shares/{share_id}/files/", {"directory": "input"}).json()
    assert listed == [{"name": "dashcam.mp4", "is_directory": False, "size": len(video)}]
    download = admin_api.get(f"/api/file-shares/{share_id}/download/", {"path": "input/dashcam.mp4"})  # fmt: skip
    assert download.status_code == 200 and download.content == video
    assert key not in admin_api.get(f"/api/file-shares/{share_id}/").content.decode()

    # A path the share does not hold is a 404; a share Azure cannot be reached for is a 502
    # saying so (both were 500s): the storage endpoint behind a firewall, say.
    missing = admin_api.get(f"/api/file-shares/{share_id}/download/", {"path": "input/none.mp4"})  # fmt: skip
    assert missing.status_code == 404, missing.content
    FileShare.objects.filter(pk=share_id).update(file_endpoint="https://127.0.0.1:9/")
    for call in (
        lambda: admin_api.get(f"/api/file-shares/{share_id}/files/", {"directory": "input"}),
        lambda: admin_api.get(f"/api/file-shares/{share_id}/download/", {"path": "input/dashcam.mp4"}),
    ):  # fmt: skip
        refused = call()
        assert refused.status_code == 502, refused.content
        error = refused.json()["error"]
        assert error["code"] == "azure_error" and "Unreachable" in error["message"]
        assert key not in refused.content.decode()
