"""A new user in a real browser: log in, import a kubeconfig, see the cluster healthy."""

import pytest

from core.choices import Role
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.kubernetes, pytest.mark.slow]


def test_log_in_import_a_cluster_and_see_it_healthy(daphne_server, page, kube_kubeconfig):
    UserFactory(username="olga", role=Role.OPERATOR)
    page.goto(f"{daphne_server}/")
    assert "/login/" in page.url
    page.fill("#id_username", "olga")
    page.fill("#id_password", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{daphne_server}/")

    page.click("text=Import a cluster")
    page.fill("#id_name", "testbed")
    page.fill("#id_kubeconfig", kube_kubeconfig)
    page.click("button[type=submit]")

    page.wait_for_selector("text=Imported testbed")
    assert page.inner_text("#cluster-status .badge") == "Healthy"
    assert "standin-gpu-1" in page.inner_text("table.nodes")

    page.click("text=Dashboard")
    row = page.locator("tr[data-cluster=testbed]")
    assert "Healthy" in row.inner_text()
    assert kube_kubeconfig.splitlines()[-1] not in page.content()


def test_a_bad_kubeconfig_shows_the_reason_on_the_form(daphne_server, page):
    UserFactory(username="olga", role=Role.OPERATOR)
    page.goto(f"{daphne_server}/login/")
    page.fill("#id_username", "olga")
    page.fill("#id_password", "correct horse battery")
    page.click("button[type=submit]")
    page.goto(f"{daphne_server}/clusters/import/")
    page.fill("#id_name", "broken")
    page.fill("#id_kubeconfig", "clusters: [")
    page.click("button[type=submit]")
    assert "not valid YAML" in page.inner_text("ul[data-field=kubeconfig]")
