"""In a real browser: the camera picture changes live on the camera page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from core.choices import Role
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.live,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.usefixtures("asgi_app"),
]


def log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_the_camera_picture_changes_live_on_the_camera_page(daphne_server, page, stream_server):
    from cameras.models import Camera

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

    from tests.fixtures.live import store

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


def test_a_burst_of_lines_is_all_shown_and_the_view_keeps_following(daphne_server, page, run):
    from django.urls import reverse

    from tests.fixtures.live import store

    UserFactory(username="vera", role=Role.VIEWER)
    log_in(page, daphne_server, "vera")
    page.goto(daphne_server + reverse("run-detail", args=[run.pk]))
    panel = page.locator("#live-log")
    panel.locator(".live-state >> text=live").wait_for()
    for chunk in range(6):  # 3,000 lines from two pods, as fast as the store takes them
        pod = "pod-a" if chunk % 2 else "pod-b"
        store(run, pod, [f"burst {chunk}-{n}" for n in range(500)])
    panel.locator(".log-count >> text=3000").wait_for()
    shown = page.evaluate(
        """() => { const out = document.querySelector('#live-log .log-lines');
                   const rows = out.querySelectorAll('.log-line');
                   return { rows: rows.length,
                            last: rows[rows.length - 1].dataset.cursor,
                            atBottom: out.scrollTop + out.clientHeight >= out.scrollHeight - 4 }; }"""
    )
    assert shown == {"rows": 3000, "last": "3000", "atBottom": True}
    assert panel.locator(".log-follow").is_checked()

    # Scrolling up pauses following: new lines arrive but the view stays where the user put it.
    panel.locator(".log-lines").evaluate("out => { out.scrollTop = 0; }")
    page.wait_for_function("!document.querySelector('#live-log .log-follow').checked")
    store(run, "pod-a", ["after scrolling up"])
    panel.locator(".log-count >> text=3001").wait_for()
    assert panel.locator(".log-lines").evaluate("out => out.scrollTop") == 0
    # Ticking the box resumes following; so does scrolling back to the bottom.
    panel.locator(".log-follow").check()
    assert panel.locator(".log-lines").evaluate(
        "out => out.scrollTop + out.clientHeight >= out.scrollHeight - 4"
    )
    panel.locator(".log-lines").evaluate("out => { out.scrollTop = 0; }")
    page.wait_for_function("!document.querySelector('#live-log .log-follow').checked")
    panel.locator(".log-lines").evaluate("out => { out.scrollTop = out.scrollHeight; }")
    page.wait_for_function("document.querySelector('#live-log .log-follow').checked")

    # Past 20,000 lines the page keeps the newest ones, still contiguous and in order.
    for chunk in range(38):
        store(run, "pod-b", [f"more {chunk}-{n}" for n in range(500)])
    panel.locator(".log-count >> text=22001").wait_for()
    cursors = page.evaluate(
        "() => [...document.querySelectorAll('#live-log .log-line')].map(r => +r.dataset.cursor)"
    )
    assert 20000 <= len(cursors) < 20500
    assert cursors == list(range(22002 - len(cursors), 22002))


def test_the_filter_hides_other_lines_and_a_lost_connection_says_so_and_resumes(
    daphne_server, page, run
):
    from django.urls import reverse

    from tests.fixtures.live import store

    UserFactory(username="vera", role=Role.VIEWER)
    store(run, "pod-a", ["frame 1 lanes 2", "frame 2 lanes 0", "warning: slow disk"])
    log_in(page, daphne_server, "vera")
    page.goto(daphne_server + reverse("run-detail", args=[run.pk]))
    panel = page.locator("#live-log")
    panel.locator(".log-line >> text=warning: slow disk").wait_for()

    panel.locator(".log-filter").fill("WARNING")
    expect(panel.locator(".log-line:visible")).to_have_text(["pod-awarning: slow disk"])
    panel.locator(".log-filter").fill("")
    expect(panel.locator(".log-line:visible")).to_have_count(3)

    # The network goes away: the badge says so; when it is back, the page resumes after the
    # last line it showed (lines stored meanwhile arrive once, nothing is repeated).
    page.context.set_offline(True)
    panel.locator(".live-state >> text=reconnecting").wait_for()
    store(run, "pod-b", ["stored while offline"])
    page.context.set_offline(False)
    panel.locator(".live-state >> text=live").wait_for(timeout=15000)
    panel.locator(".log-line >> text=stored while offline").wait_for()
    assert [row.get_attribute("data-cursor") for row in panel.locator(".log-line").all()] == [
        "1", "2", "3", "4",
    ]  # fmt: skip
