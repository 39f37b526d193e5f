"""What a viewer and an admin meet in a real browser outside the run page: refusals that look
like the panel and say which role is needed, forms only for those who may send them, an audit
log that reads as sentences, and logs with one line per expected refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.choices import Role
from core.models import AuditEvent
from core.services import SYSTEM, token_create, user_update
from tests.factories import LocalClusterFactory, UserFactory
from workloads.bootstrap import bootstrap_demo

pytestmark = [pytest.mark.browser]
PASSWORD = "correct horse battery"


def log_in(page, server: str, username: str) -> None:
    page.goto(f"{server}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/", timeout=10000)


def test_a_viewer_gets_styled_refusals_naming_the_role_and_no_forms_it_cannot_send(
    daphne_server, page, tmp_path_factory
):
    """The viewer sees the dashboard's navigation on a 403 page that names the operator role,
    a styled 404, no import button and no run forms; the refused POST is in the audit log; the
    server logs each refusal as one line, without a traceback."""
    bootstrap_demo()
    LocalClusterFactory()
    UserFactory(username="vera", role=Role.VIEWER)
    log_in(page, daphne_server, "vera")

    page.goto(f"{daphne_server}/clusters/")
    assert page.locator("text=Import from kubeconfig").count() == 0
    page.goto(f"{daphne_server}/templates/")
    assert page.locator("form.run-form").count() == 0

    for path in ("/clusters/import/", "/templates/lane-detection/run/"):
        response = page.goto(f"{daphne_server}{path}")
        assert response.status == 403
        assert page.locator("header.topbar nav >> text=Clusters").is_visible()
        text = page.inner_text("main")
        assert "This needs the operator role; your account has the viewer role." in text
        assert page.locator("#id_kubeconfig, #id_cluster").count() == 0

    response = page.goto(f"{daphne_server}/runs/999999/")
    assert response.status == 404
    assert page.locator("header.topbar nav").is_visible()
    assert "Not found" in page.inner_text("main h1")

    # API tokens are in the user menu, by name.
    page.click("header.topbar >> text=API tokens")
    page.wait_for_url(f"{daphne_server}/account/tokens/")

    csrf = json.loads(page.get_attribute("body", "hx-headers"))["X-CSRFToken"]
    refused = page.request.post(
        f"{daphne_server}/templates/lane-detection/run/", form={"cluster": "1"},
        headers={"X-CSRFToken": csrf, "Referer": daphne_server + "/"},
    )  # fmt: skip
    assert refused.status == 403
    row = AuditEvent.objects.filter(action="refused", actor__username="vera").get()
    assert row.object_repr == "/templates/lane-detection/run/"
    assert row.changes == {"method": "POST", "needed role": "operator"}

    port = daphne_server.rsplit(":", 1)[1]
    logs = [path.read_text() for path in Path(tmp_path_factory.getbasetemp()).glob("daphne*/daphne.log")]  # fmt: skip
    log = next(text for text in logs if f"port={port}:" in text)
    assert "Forbidden (Permission denied): /clusters/import/" in log
    assert "Traceback" not in log


def test_the_audit_log_reads_as_sentences(daphne_server, page):
    """Changes as fields and values, each object named once, the API token named, the
    connection test's outcome recorded."""
    admin = UserFactory(username="ada", role=Role.ADMIN, is_staff=True, is_superuser=True)
    otto = UserFactory(username="otto", role=Role.VIEWER)
    user_update(actor=SYSTEM, user=otto, role=Role.OPERATOR, email="otto@example.org")
    _row, token = token_create(actor=SYSTEM, user=admin, name="deploy-bot")
    bootstrap_demo()
    LocalClusterFactory()
    created = page.request.post(
        f"{daphne_server}/api/runs/",
        data={"template": "lane-detection", "cluster": "local"},
        headers={"Authorization": f"Token {token}"},
    )
    assert created.status == 201, created.text()
    run_id = created.json()["id"]

    log_in(page, daphne_server, "ada")
    page.goto(f"{daphne_server}/audit/")
    rows = page.locator("table.audit tbody tr")
    text = page.inner_text("table.audit")
    assert "{" not in text and "[" not in text  # no Python dict or list text
    update = rows.filter(has_text="Update").first.inner_text()
    assert "role" in update and "viewer → operator" in update
    assert "otto@example.org" in update
    assert f"run {run_id}" in text and f"run run {run_id}" not in text
    assert (
        "through API token 'deploy-bot'" in rows.filter(has_text=f"run {run_id}").first.inner_text()
    )


def test_the_run_list_filters_fit_in_one_row(daphne_server, page):
    """State, template and cluster filters and the button share one line on a laptop screen."""
    bootstrap_demo()
    LocalClusterFactory()
    UserFactory(username="vera", role=Role.VIEWER)
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, daphne_server, "vera")
    page.goto(f"{daphne_server}/runs/")
    boxes = [page.locator(f"#run-filters {selector}").bounding_box()
             for selector in ("select[name=state]", "select[name=template]",
                              "select[name=cluster]", "button")]  # fmt: skip
    tops = {round(box["y"]) for box in boxes}
    assert max(tops) - min(tops) < 10, boxes
    assert page.locator("#run-filters").bounding_box()["height"] < 80
