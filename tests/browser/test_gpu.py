"""GPUs on the cluster page, in a real browser against the test bed: per-node capacity, the
GPU node without the device plugin, and the one-click install (the DaemonSet appears)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import utils

from core.choices import Role
from core.models import AuditEvent
from tests.browser.test_live import log_in
from tests.conftest import wait_for
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.kubernetes, pytest.mark.slow]

OPTIONAL_ROLE = (
    Path(__file__).resolve().parents[2] / "docker/rbac/optional-nvidia-device-plugin.yaml"
)
PLUGIN = ("nvidia-device-plugin-daemonset", "kube-system")


def _remove_optional_role(admin) -> None:
    rbac = k8s.RbacAuthorizationV1Api(admin)
    for call, args in (
        (rbac.delete_namespaced_role_binding, ("controlpanel-nvidia-device-plugin", "kube-system")),
        (rbac.delete_namespaced_role, ("controlpanel-nvidia-device-plugin", "kube-system")),
        (rbac.delete_cluster_role_binding, ("controlpanel-gpu-accounting",)),
        (rbac.delete_cluster_role, ("controlpanel-gpu-accounting",)),
        (k8s.AppsV1Api(admin).delete_namespaced_daemon_set, PLUGIN),
    ):
        try:
            call(*args)
        except k8s.exceptions.ApiException as exc:
            if exc.status != 404:
                raise


def test_an_admin_installs_the_device_plugin_from_the_cluster_page(
    daphne_server, page, kube_kubeconfig, kube_admin_api, kube_namespace
):
    """The GPU table shows what each node reports; the GPU node without nvidia.com/gpu is
    flagged; the install says which optional role it needs, then creates the DaemonSet on the
    real API server, audited, and a second click changes nothing. With the optional role the
    GPUs a running pod holds are counted."""
    from clusters.services import cluster_import, cluster_refresh
    from core.services import SYSTEM

    UserFactory(username="ada", role=Role.ADMIN)
    cluster = cluster_import(
        actor=SYSTEM, name="testbed", kubeconfig=kube_kubeconfig, namespace=kube_namespace.name
    )
    apps = k8s.AppsV1Api(kube_admin_api)
    log_in(page, daphne_server, "ada")
    try:
        page.goto(f"{daphne_server}/clusters/{cluster.pk}/")
        table = page.locator("table.gpus")
        gpu_row = table.locator("tr[data-node=standin-gpu-1]")
        assert gpu_row.locator(".gpu-capacity").inner_text() == "2"
        assert gpu_row.locator(".gpu-allocatable").inner_text() == "2"
        assert gpu_row.locator(".gpu-requested").inner_text() == "unknown"  # least privilege
        bare = table.locator("tr[data-node=standin-gpu-noplugin-1]")
        assert "no device plugin" in bare.locator(".gpu-capacity").inner_text()
        assert table.locator("tr[data-node=standin-cpu-1]").count() == 0
        warning = page.locator("#gpu-plugin-warning")
        assert "standin-gpu-noplugin-1" in warning.inner_text()

        page.click("#install-device-plugin")
        page.wait_for_selector(".messages >> text=optional-nvidia-device-plugin.yaml")
        assert apps.list_namespaced_daemon_set("kube-system").items == []

        utils.create_from_yaml(kube_admin_api, str(OPTIONAL_ROLE))
        page.click("#install-device-plugin")
        page.wait_for_selector(".messages >> text=v0.20.0 created")
        daemon_set = apps.read_namespaced_daemon_set(*PLUGIN)
        shipped = yaml.safe_load(
            (
                Path(__file__).resolve().parents[2]
                / "clusters/addons/nvidia-device-plugin/nvidia-device-plugin.yml"
            ).read_text()
        )
        assert (
            daemon_set.spec.template.spec.containers[0].image
            == (shipped["spec"]["template"]["spec"]["containers"][0]["image"])
        )
        page.click("#install-device-plugin")
        page.wait_for_selector(".messages >> text=v0.20.0 unchanged")
        audited = (
            AuditEvent.objects.filter(object_repr=cluster.name)
            .order_by("pk")
            .values_list("changes", flat=True)
        )
        assert [c["result"] for c in audited if c.get("addon")] == ["created", "unchanged"]

        # A pod holding one GPU, and the next check counts it.
        pod = k8s.V1Pod(
            metadata=k8s.V1ObjectMeta(name="holder", annotations={"standin-kubelet/run-seconds": "60"}),
            spec=k8s.V1PodSpec(restart_policy="Never", containers=[k8s.V1Container(
                name="main", image="busybox",
                resources=k8s.V1ResourceRequirements(limits={"nvidia.com/gpu": "1"}),
            )]),
        )  # fmt: skip
        core = k8s.CoreV1Api(kube_admin_api)
        core.create_namespaced_pod(kube_namespace.name, pod)
        wait_for(lambda: core.read_namespaced_pod("holder", kube_namespace.name).spec.node_name)
        cluster_refresh(cluster_id=cluster.pk)
        page.goto(f"{daphne_server}/clusters/{cluster.pk}/")
        assert gpu_row.locator(".gpu-requested").inner_text() == "1"
    finally:
        _remove_optional_role(kube_admin_api)


def test_a_gpu_job_waiting_for_a_node_says_why_on_its_page(
    daphne_server, page, celery_worker, kube_kubeconfig, kube_namespace
):
    """Started from the GPU template's form, which starts on the cluster with GPUs: three GPUs
    fit no node, and the page, open while it waits, shows the scheduler's words; cancelling it
    from there ends it."""
    from clusters.services import cluster_ensure_local, cluster_import
    from core.services import SYSTEM
    from workloads.bootstrap import bootstrap_demo

    bootstrap_demo()
    cluster_ensure_local()
    cluster = cluster_import(
        actor=SYSTEM, name="testbed", kubeconfig=kube_kubeconfig, namespace=kube_namespace.name
    )
    UserFactory(username="olga", role=Role.OPERATOR)
    log_in(page, daphne_server, "olga")
    page.goto(f"{daphne_server}/templates/gpu-job/run/")
    assert page.locator("#id_cluster").input_value() == str(cluster.pk)
    assert page.locator("#id_restart_policy").input_value() == "OnFailure"
    page.fill("#id_gpus", "3")
    page.click("form.card button:has-text('Run')")
    page.wait_for_url("**/runs/*/")
    waiting = page.locator(".pod-waiting")
    waiting.wait_for(timeout=60_000)
    assert "Insufficient nvidia.com/gpu" in waiting.inner_text()
    assert page.inner_text("#run-state") == "submitted"
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#run-cancel")
    page.locator("#live-log .live-state >> text=ended · cancelled").wait_for(timeout=60_000)
