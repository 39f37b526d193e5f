"""Adding cameras in Chromium as a new operator would: a URL that does not answer is kept with
a warning and its reason shown on the tile and the page; an RTSP camera gets a camera-stream
run of its own, stopped when the camera goes; the form looks like the panel's other forms."""

from __future__ import annotations

import pytest

from cameras.models import Camera
from core.choices import Role
from tests.browser.test_roles_and_audit import log_in
from tests.conftest import free_port, wait_for
from tests.factories import LocalClusterFactory, UserFactory
from workloads.bootstrap import bootstrap_demo
from workloads.models import Run

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_cameras_are_checked_on_save_and_rtsp_starts_a_stream_run(daphne_server, page):
    bootstrap_demo()
    local = LocalClusterFactory()
    UserFactory(username="otto", role=Role.OPERATOR)
    log_in(page, daphne_server, "otto")

    page.goto(f"{daphne_server}/cameras/new/")
    form = page.inner_text("main form")
    assert "---------" not in form and "Source url" not in form
    assert page.locator("label[for=id_source_url]").inner_text() == "Source URL"
    assert page.locator("#id_cluster option:checked").inner_text() == str(local)

    dead = f"http://127.0.0.1:{free_port()}/stream.mjpg"
    page.fill("#id_name", "Gate")
    page.fill("#id_source_url", dead)
    page.click("main button:text('Add')")
    page.wait_for_url("**/cameras/*/")
    assert f"Saved, but {dead} did not answer" in page.inner_text("ul.messages")
    assert "no processing" in page.inner_text("main") and "processing None" not in page.inner_text(
        "main"
    )
    page.wait_for_selector(".camera-tile .camera-error:not([hidden]) >> text=Cannot connect to host", timeout=20000)  # fmt: skip
    page.reload()
    assert "Last error" in page.inner_text(".camera-last-error")

    page.goto(f"{daphne_server}/cameras/new/")
    page.fill("#id_name", "Loading bay")
    page.fill("#id_source_url", "rtsp://192.0.2.7:554/stream1")
    page.select_option("#id_processing", "lanes")
    page.click("main button:text('Add')")
    page.wait_for_url("**/cameras/*/")
    camera = Camera.objects.get(name="Loading bay")
    run = camera.run
    assert camera.owns_run and run.cluster == local and run.template.kind == "camera-stream"
    assert (
        run.params["source"] == "rtsp://192.0.2.7:554/stream1"
        and run.params["processing"] == "lanes"
    )
    assert f"run {run.pk} on {local.name} reads its RTSP stream" in page.inner_text("ul.messages")
    assert "rtsp://192.0.2.7:554/stream1" in page.inner_text("main p.muted")

    page.click("main button:text('Delete')")
    page.wait_for_url(f"{daphne_server}/cameras/")
    wait_for(lambda: Run.objects.get(pk=run.pk).state == "cancelled", timeout=10)
    assert not Camera.objects.filter(name="Loading bay").exists()
