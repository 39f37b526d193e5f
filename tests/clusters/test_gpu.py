"""GPUs on an imported cluster, as the API shows them: per-node capacity, allocatable and which
GPU nodes lack the device plugin, and the admin-only install that says which role it needs."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

pytestmark = [pytest.mark.kubernetes, pytest.mark.django_db]


def test_nodes_report_their_gpus_and_the_install_needs_an_admin_and_the_optional_role(
    operator_api, admin_api, kube_kubeconfig, kube_admin_api
):
    created = operator_api.post(
        "/api/clusters/",
        {"name": "testbed", "kind": "kubernetes", "kubeconfig": kube_kubeconfig},
        format="json",
    )
    assert created.status_code == 201, created.content
    cluster = created.json()["id"]
    nodes = {n["name"]: n for n in operator_api.get(f"/api/clusters/{cluster}/").json()["nodes"]}
    assert (nodes["standin-gpu-1"]["gpu"], nodes["standin-gpu-1"]["gpu_allocatable"]) == (2, 2)
    assert nodes["standin-gpu-1"]["gpu_requested"] is None  # least privilege: pods not listed
    bare = nodes["standin-gpu-noplugin-1"]
    assert bare["gpu_node"] is True and bare["gpu"] == 0
    assert nodes["standin-cpu-1"]["gpu_node"] is False

    assert operator_api.post(f"/api/clusters/{cluster}/device-plugin/").status_code == 403
    refused = admin_api.post(f"/api/clusters/{cluster}/device-plugin/")
    assert refused.status_code == 400
    assert "optional-nvidia-device-plugin.yaml" in str(refused.json())
    assert k8s.AppsV1Api(kube_admin_api).list_namespaced_daemon_set("kube-system").items == []
