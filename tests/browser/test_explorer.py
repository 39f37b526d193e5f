"""In a real browser, on the test bed: from the cluster page to a pod, its scheduler events and
its log, live, in the same log view runs use."""

from __future__ import annotations

import os

import pytest
from kubernetes import client as k8s

from clusters.services import cluster_import, cluster_refresh
from core.choices import Role
from core.services import SYSTEM
from tests.browser.test_live import log_in
from tests.conftest import wait_for
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.kubernetes,
    pytest.mark.live,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.usefixtures("asgi_app"),
]


def test_a_viewer_goes_from_the_cluster_page_to_a_pods_live_log(
    daphne_server, page, kube_kubeconfig, kube_namespace, kube_admin_api
):
    ns = kube_namespace.name
    core = k8s.CoreV1Api(kube_admin_api)
    core.create_namespaced_pod(ns, {
        "metadata": {"name": "talker", "annotations": {
            "standin-kubelet/log": "first line\nsecond line", "standin-kubelet/run-seconds": "120"}},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    })  # fmt: skip
    wait_for(lambda: core.read_namespaced_pod("talker", ns).status.phase == "Running", timeout=30)
    cluster = cluster_import(actor=SYSTEM, name="testbed", kubeconfig=kube_kubeconfig, namespace=ns)
    for _ in range(3):
        cluster_refresh(cluster_id=cluster.pk)
    UserFactory(username="vera", role=Role.VIEWER)
    log_in(page, daphne_server, "vera")

    page.goto(f"{daphne_server}/clusters/{cluster.pk}/")
    assert page.locator("#health-history svg rect").count() >= 4
    page.click(f"text=Pods in {ns}")
    page.locator("tr[data-name=talker] >> text=Running").wait_for()
    page.click("text=talker")
    panel = page.locator("#live-log")
    panel.locator(".log-line >> text=second line").wait_for()
    panel.locator(".live-state >> text=live").wait_for()
    assert panel.locator(".log-pod").first.inner_text() == "main"
    assert "Delete pod" not in page.content()  # a viewer sees no actions
    if os.environ.get("EXPLORER_SCREENSHOTS"):
        page.screenshot(
            path=os.path.join(os.environ["EXPLORER_SCREENSHOTS"], "pod.png"), full_page=True
        )
        page.goto(f"{daphne_server}/clusters/{cluster.pk}/")
        page.screenshot(
            path=os.path.join(os.environ["EXPLORER_SCREENSHOTS"], "cluster.png"), full_page=True
        )
        page.goto(f"{daphne_server}/clusters/{cluster.pk}/explore/nodes/")
        page.screenshot(
            path=os.path.join(os.environ["EXPLORER_SCREENSHOTS"], "nodes.png"), full_page=True
        )
        page.goto(f"{daphne_server}/clusters/{cluster.pk}/explore/events/?namespace={ns}")
        page.screenshot(
            path=os.path.join(os.environ["EXPLORER_SCREENSHOTS"], "events.png"), full_page=True
        )
