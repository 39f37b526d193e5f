"""An AKS cluster provisioned through the fake ARM really runs a workload: the admin kubeconfig
the fake hands out points at the Kubernetes test bed, the panel mounts an Azure File share
there (Secret + PV + claim), and a lane-detection run on the cluster succeeds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from kubernetes import client as k8s

from media_pipeline import samples
from tests.clusters.azure.conftest import PROVISION, wait_operation
from tests.workloads.conftest import all_log_lines, wait_for_run

pytestmark = [pytest.mark.kubernetes, pytest.mark.slow]


@pytest.fixture
def presets(db):
    from workloads.bootstrap import bootstrap_demo

    bootstrap_demo()


def test_a_provisioned_aks_cluster_runs_lane_detection_on_its_file_share(
    celery_worker, presets, admin_api, operator_api, fake_azure, azure_credential,
    kube_admin_kubeconfig, kube_admin_api, kube_namespace,
):  # fmt: skip
    # AKS hands out an admin kubeconfig (listClusterAdminCredential): the test bed's admin one.
    fake_azure.kubeconfig = kube_admin_kubeconfig
    body = PROVISION | {"credential": azure_credential.pk, "namespace": kube_namespace.name}
    created = wait_operation(admin_api.post("/api/aks/", body, format="json").json()["id"])
    assert created.status == "succeeded", created.error_message
    share = {
        "cluster": created.cluster_id, "credential": azure_credential.pk, "resource_group": "rg-data",
        "location": "eastus", "account_name": "visiondata01", "share_name": "footage",
        "quota_gb": 10, "namespace": kube_namespace.name,
    }  # fmt: skip
    mounted = wait_operation(admin_api.post("/api/file-shares/", share, format="json").json()["id"])
    assert mounted.status == "succeeded", mounted.error_message
    try:
        # What the pods see of the share: the stand-in kubelet's directory behind the claim.
        folder = kube_namespace.claim_dir("footage-claim") / "input"
        folder.mkdir(parents=True, exist_ok=True)
        names = sorted(p.name for p in samples.LANE_IMAGES.iterdir())[:2]
        for name in names:
            shutil.copy(samples.LANE_IMAGES / name, folder / name)
        params = {"volume": "footage", "inputs": [f"input/{n}" for n in names]}
        response = operator_api.post(
            "/api/runs/",
            {"template": "lane-detection", "cluster": "vision-aks", "params": params},
            format="json",
        )
        assert response.status_code == 201, response.json()
        run = wait_for_run(operator_api, response.json()["id"], timeout=180)
        assert run["state"] == "succeeded", (run["error"], all_log_lines(operator_api, run["id"])[-3:])  # fmt: skip
        processed = [
            Path(json.loads(line["text"])["file"]).name
            for line in all_log_lines(operator_api, run["id"])
            if line["text"].startswith('{"event":"result"')
        ]
        assert sorted(processed) == names
    finally:
        k8s.CoreV1Api(kube_admin_api).delete_persistent_volume("visiondata01-footage")
