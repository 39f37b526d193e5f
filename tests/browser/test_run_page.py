"""The run page at a glance, in Chromium, opened while the run works: everything follows the run
live, the end is said once with the final state, one log view with server-side search, no
horizontal overflow, outputs named in their folder, faces drawn, streams and metrics charted."""

from __future__ import annotations

import json
import time

import pytest
from django.urls import reverse

from core.choices import Role
from tests.browser.test_live import log_in
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.live,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.usefixtures("asgi_app"),
]

NO_OVERFLOW = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
LONG_POD = "run-1-0-a-pod-name-long-enough-to-wrap-if-it-could"


def _run(slug: str, state: str = "submitted", params: dict | None = None, pods=()):
    from clusters.services import cluster_ensure_local
    from workloads.bootstrap import bootstrap_demo
    from workloads.models import Run, RunPod, WorkloadTemplate

    bootstrap_demo()
    cluster, _ = cluster_ensure_local()
    run = Run.objects.create(
        template=WorkloadTemplate.objects.get(slug=slug), cluster=cluster, state=state,
        params=params or {}, handle={"runtime": "local", "expected_pods": 1},
    )  # fmt: skip
    for name in pods:
        RunPod.objects.create(run=run, name=name, phase="Running")
    return run


def _event(event: str, **fields) -> str:
    return json.dumps({"event": event, "command": "lanes", "time": time.time(), **fields})


def test_the_whole_page_follows_the_run_and_ends_with_its_final_state(daphne_server, page):
    """Header, state, pods, progress and actions change as the run does, with the page open;
    at the end the log says "ended · succeeded", nothing reconnects, Cancel is gone and Delete
    is offered. Event lines read short, the raw line a click away; the pod gutter stays on one
    line; a search runs over every stored line; a 5,000-character line scrolls in its box."""
    from tests.fixtures.live import store
    from workloads.models import RunPod
    from workloads.services import run_finish, run_transition

    UserFactory(username="ada", role=Role.ADMIN)
    run = _run("lane-detection")
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, daphne_server, "ada")
    page.goto(daphne_server + reverse("run-detail", args=[run.pk]))
    header = page.locator(".run-header")
    assert header.locator("#run-state").inner_text() == "submitted"
    assert page.locator("#run-cancel").evaluate("b => b.classList.contains('danger')")
    assert page.locator("#run-rerun").count() == 1 and page.locator("#run-delete").count() == 0
    assert "No pods yet" in page.inner_text("#run-pods")
    page.locator("#live-log .live-state >> text=live").wait_for()

    RunPod.objects.create(run=run, name=LONG_POD, phase="Running")
    run_transition(run_id=run.pk, from_states=("submitted",), state="running")
    store(run, LONG_POD, [
        _event("start", inputs=["a.jpg", "b.jpg"]),
        "lanes: a.jpg",
        _event("progress", stage="files", file="/data/a.jpg", frame=1, frames=2, fps=12.5),
        "x" * 5000,
        "the needle line",
    ])  # fmt: skip
    page.locator("#run-state >> text=running").wait_for()
    page.locator(f"#run-pods >> text={LONG_POD}").wait_for()
    summary = page.locator("#live-log .log-summary", has_text="progress · 1/2 · 12.5 fps · a.jpg")
    summary.wait_for()
    raw = summary.locator("xpath=following-sibling::code[1]")
    assert raw.is_hidden()
    summary.click()
    assert raw.is_visible() and '"fps":12.5' in raw.inner_text().replace(" ", "")
    gutter = page.locator("#live-log .log-lines .log-pod").first
    assert gutter.evaluate("e => e.getClientRects().length === 1 && e.offsetHeight < 24")
    assert page.evaluate(NO_OVERFLOW)
    assert page.locator("#live-log .log-lines").evaluate("e => e.scrollWidth <= e.clientWidth")
    # Progress follows the pipeline's events while the run works, not only at the end, in the
    # run's bar and in its pod's row: half of the first of two files is a quarter.
    page.locator("#run-progress >> text=25%").wait_for()
    page.locator(f"#run-pods tr:has-text('{LONG_POD}') >> text=25%").wait_for()

    # Search runs on the server over the stored lines; its hits replace the live lines, and a
    # long hit wraps or scrolls in its box as a live line does.
    page.fill("#live-log .log-filter", "xxxxxxxx")
    page.locator("#run-log .log-line").first.wait_for()
    assert page.evaluate(NO_OVERFLOW)
    page.fill("#live-log .log-filter", "needle")
    page.locator("#run-log .log-line >> text=the needle line").wait_for()
    assert page.locator("#live-log .log-lines").is_hidden()
    page.click("#live-log .log-search-clear")
    assert page.locator("#live-log .log-lines").is_visible()

    run_finish(run_id=run.pk, state="succeeded")
    page.locator("#live-log .live-state >> text=ended · succeeded").wait_for()
    page.locator("#run-state >> text=succeeded").wait_for()
    assert page.locator("#run-cancel").count() == 0
    assert page.locator("#run-delete").count() == 1 and page.locator("#run-rerun").count() == 1
    assert page.locator("#run-status").get_attribute("hx-get") is None  # no more polling
    assert "100%" in page.inner_text("#run-progress")
    page.wait_for_timeout(3000)  # nothing retries: the badge stays as it was
    assert page.inner_text("#live-log .live-state") == "ended · succeeded"

    # Opening a finished run says so at once, after its backlog.
    page.reload()
    page.locator("#live-log .live-state >> text=ended · succeeded").wait_for()
    assert page.locator("#live-log .log-lines .log-line").count() == 5


def test_a_lane_run_shows_named_outputs_sidecars_posters_and_charts_without_overflow(
    daphne_server, page, celery_worker
):
    """A real lane run on the local cluster, started from its form with the page then open:
    outputs named inside the run's output folder, each .json beside its file, the video with a
    poster frame, progress and throughput charted from the pipeline's events; no horizontal
    scroll at 1280 px."""
    UserFactory(username="olga", role=Role.OPERATOR)
    _run("lane-detection", state="cancelled")  # presets and the local cluster
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, daphne_server, "olga")
    page.goto(daphne_server + reverse("template-run", args=["lane-detection"]))
    page.click("form.card button:has-text('Run')")
    page.wait_for_url("**/runs/*/")
    page.locator("#live-log .live-state >> text=ended · succeeded").wait_for(timeout=120_000)
    page.locator("#run-state >> text=succeeded").wait_for()

    names = page.locator("#run-outputs .output-name").all_inner_texts()
    assert "solidWhiteCurve_lanes.jpg" in names and "solidWhiteRight_lanes.mp4" in names
    assert not any(name.startswith("/") or name.endswith(".json") for name in names)
    image = page.locator(".output", has_text="solidWhiteCurve_lanes.jpg")
    sidecar = image.locator("a.sidecar")
    assert sidecar.get_attribute("title") == "solidWhiteCurve_lanes.jpg.json"
    assert json.loads(page.request.get(daphne_server + sidecar.get_attribute("href")).text())
    poster = page.locator("#run-outputs video").get_attribute("poster")
    answer = page.request.get(daphne_server + poster)
    assert answer.ok and answer.headers["content-type"] == "image/jpeg"
    assert answer.body()[:2] == b"\xff\xd8"

    progress = page.locator("#run-charts figure[data-series=progress] polyline")
    throughput = page.locator("#run-charts figure[data-series=throughput] polyline")
    assert len(progress.get_attribute("points").split()) >= 5
    assert len(throughput.get_attribute("points").split()) >= 5
    assert page.evaluate(NO_OVERFLOW)
    page.set_viewport_size({"width": 1400, "height": 900})
    assert page.evaluate(NO_OVERFLOW)


def test_faces_are_drawn_with_boxes_and_names_one_row_per_photo(daphne_server, page):
    """The pipeline's result lines, stored while the page is open, become one row per photo
    with every face's box and name drawn over it."""
    from media_pipeline import samples
    from tests.fixtures.live import store

    UserFactory(username="vera", role=Role.VIEWER)
    run = _run("face-identification", state="running", pods=["faces-0"])
    log_in(page, daphne_server, "vera")
    page.goto(daphne_server + reverse("run-detail", args=[run.pk]))
    page.locator("#live-log .live-state >> text=live").wait_for()
    two = str(samples.ROOT / "faces" / "unknown" / "two_people.jpg")
    store(run, "faces-0", [
        json.dumps({"event": "result", "command": "faces", "time": time.time(), "image": two,
                    "faces": [{"box": [60, 250, 180, 130], "person": "obama", "distance": 0.4},
                              {"box": [70, 520, 200, 390], "person": None, "distance": None}]}),
    ])  # fmt: skip
    row = page.locator("#run-results .face-row[data-image='two_people.jpg']")
    row.wait_for()
    assert page.locator("#run-results .face-row").count() == 1
    assert row.locator("svg .face-box rect").count() == 2
    assert row.locator("svg .face-box text").all_text_contents() == ["obama", "unknown"]
    picture = row.locator("svg image")
    assert page.request.get(daphne_server + picture.get_attribute("href")).ok


def test_a_camera_stream_run_shows_streaming_with_its_rate_and_links_its_camera(
    daphne_server, page
):
    from cameras.services import camera_create
    from core.services import SYSTEM
    from tests.fixtures.live import store

    UserFactory(username="olga", role=Role.OPERATOR)
    run = _run("camera-stream", state="running", pods=["stream-0"])
    log_in(page, daphne_server, "olga")
    page.goto(daphne_server + reverse("run-detail", args=[run.pk]))
    page.locator("#live-log .live-state >> text=live").wait_for()
    store(run, "stream-0", [
        _event("start", source="test:ball", url="http://127.0.0.1:9", stream="http://127.0.0.1:9/stream.mjpg"),
        _event("progress", file="test:ball", frame=40, frames=None, fps=9.5),
    ])  # fmt: skip
    page.locator("#run-progress .stream-fps >> text=9.5 fps").wait_for()
    assert "streaming" in page.inner_text("#run-progress")
    assert page.locator("#run-progress .progress").count() == 0
    assert "127.0.0.1" not in page.inner_text("#run-outputs")
    page.click("#run-cameras a:has-text('add it as a camera')")
    assert page.locator("#id_run").input_value() == str(run.pk)

    camera = camera_create(actor=SYSTEM, name="yard", run=run)
    page.goto(daphne_server + reverse("run-detail", args=[run.pk]))
    page.click("#run-cameras a:has-text('yard')")
    page.wait_for_url(f"**/cameras/{camera.pk}/")
    page.click("#camera-run")
    page.wait_for_url(f"**/runs/{run.pk}/")


def test_a_training_log_is_charted_live_against_step(daphne_server, page, viewer_api):
    """Lines shaped as the template declares ("Accuracy at step 10: 0.674") are plotted while
    the job trains; the API gives the same numbers."""
    from tests.fixtures.live import store

    UserFactory(username="vera", role=Role.VIEWER)
    run = _run("raw-manifest", state="running", params={"metrics": ["Accuracy"]}, pods=["train-x"])
    log_in(page, daphne_server, "vera")
    page.goto(daphne_server + reverse("run-detail", args=[run.pk]))
    store(run, "train-x", ["Extracting /tmp/data", "Accuracy at step 0: 0.1285",
                           "Accuracy at step 10: 0.674"])  # fmt: skip
    line = page.locator("#run-charts figure[data-series=Accuracy] polyline")
    line.wait_for()
    assert len(line.get_attribute("points").split()) == 2
    store(run, "train-x", ["Accuracy at step 20: 0.8065"])
    page.wait_for_function(
        "document.querySelector('#run-charts figure[data-series=Accuracy] polyline')"
        ".getAttribute('points').split(' ').length === 3"
    )
    assert "0.807" in page.inner_text("#run-charts figure[data-series=Accuracy] figcaption")
    series = viewer_api.get(f"/api/runs/{run.pk}/metrics/").json()["series"]
    assert series == [
        {"name": "Accuracy", "x": "step", "y": "Accuracy",
         "points": [[0.0, 0.1285], [10.0, 0.674], [20.0, 0.8065]]},
    ]  # fmt: skip


def test_the_lane_form_warns_before_a_kubernetes_run_without_a_volume(daphne_server, page):
    """Outputs of a Kubernetes pod without a volume go to an emptyDir: the form says so before
    the run starts (not for the local cluster, not once a volume is named)."""
    from clusters.models import Cluster

    UserFactory(username="olga", role=Role.OPERATOR)
    _run("lane-detection", state="cancelled")
    remote = Cluster.objects.create(name="aks-west", kind="kubernetes")
    log_in(page, daphne_server, "olga")
    page.goto(daphne_server + reverse("template-run", args=["lane-detection"]))
    warning = page.locator("#no-volume-warning")
    assert warning.is_hidden()  # the local cluster comes first
    page.select_option("#id_cluster", str(remote.pk))
    assert warning.inner_text() == "no volume: outputs will be lost when the pod ends"
    assert warning.is_visible()
    page.fill("#id_volume", "footage")
    assert warning.is_hidden()
