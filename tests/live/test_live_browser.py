"""In a real browser: the camera picture changes live on the camera page."""

from __future__ import annotations

import pytest

from controlpanel.choices import Role
from tests.factories import UserFactory

pytestmark = [pytest.mark.live, pytest.mark.browser, pytest.mark.slow]


def log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_the_camera_picture_changes_live_on_the_camera_page(daphne_server, page, stream_server):
    from workloads.models import Camera

    UserFactory(username="vera", role=Role.VIEWER)
    camera = Camera.objects.create(name="clock", source_url=stream_server + "/stream.mjpg")
    log_in(page, daphne_server, "vera")
    page.click("text=Cameras")
    page.click("text=clock")
    tile = page.locator(f"figure[data-camera-id='{camera.pk}']")
    page.wait_for_function("document.querySelector('img.frame').dataset.seq !== undefined")
    first = tile.locator("img.frame").get_attribute("data-seq")
    page.wait_for_function(
        f"document.querySelector('img.frame').dataset.seq !== '{first}'"
        " && document.querySelector('img.frame').naturalWidth === 320"
    )
    assert tile.locator(".live-state").inner_text() == "live"
    with page.expect_download() as download:
        tile.locator("button.snapshot").click()
    assert download.value.suggested_filename.startswith("clock-")


def test_log_lines_appear_live_on_the_run_page(daphne_server, page, run):
    from django.urls import reverse

    from tests.live.conftest import store

    UserFactory(username="vera", role=Role.VIEWER)
    store(run, "pod-a", ["before the page opened"])
    log_in(page, daphne_server, "vera")
    page.goto(daphne_server + reverse("run-detail", args=[run.pk]))
    panel = page.locator("#live-log")
    panel.locator(".log-line >> text=before the page opened").wait_for()
    panel.locator(".live-state >> text=live").wait_for()
    store(run, "pod-b", ["stored while watching"])
    panel.locator(".log-line >> text=stored while watching").wait_for()
    assert panel.locator(".log-line").count() == 2
    assert panel.locator(".log-pod").nth(1).inner_text() == "pod-b"
