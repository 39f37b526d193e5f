"""Run and template pages: lists with filters, the detail page, outputs served with ranges,
forms that name the bad field, and roles."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from workloads.choices import RunState
from workloads.models import FaceResult, Run, RunLogLine, RunOutput, RunPod, WorkloadTemplate

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished_run(presets, local_cluster):
    """A succeeded lane run with a video output in its work folder, pods, log lines and a face."""
    template = WorkloadTemplate.objects.get(slug="lane-detection")
    workdir = Path(settings.LOCAL_DATA_ROOT) / "runs" / "page-test"
    (workdir / "output").mkdir(parents=True, exist_ok=True)
    video = workdir / "output" / "clip.mp4"
    video.write_bytes(bytes(range(256)) * 40)
    run = Run.objects.create(
        template=template, cluster=local_cluster, state=RunState.SUCCEEDED, progress=100,
        handle={"runtime": "local", "workdir": str(workdir), "pods": []},
        finished_at=timezone.now(),
    )  # fmt: skip
    RunPod.objects.create(run=run, name="run-x-0", phase="Succeeded", exit_code=0, restarts=2)
    RunOutput.objects.create(run=run, kind="video", path=str(video), local_path=str(video))
    RunLogLine.objects.bulk_create(
        RunLogLine(run=run, cursor=i, pod="run-x-0", text=f"line {i}", time=timezone.now())
        for i in range(1, 451)
    )
    FaceResult.objects.create(run=run, image=str(video), person="obama", status="identified")
    return run


def test_run_list_filters_by_state_and_template(finished_run, viewer_client):
    """Filtering by state hides runs in other states; a progress bar shows for active runs."""
    active = Run.objects.create(
        template=WorkloadTemplate.objects.get(slug="face-identification"),
        cluster=finished_run.cluster, state=RunState.RUNNING, progress=42,
    )  # fmt: skip

    everything = viewer_client.get(reverse("run-list")).content.decode()
    running = viewer_client.get(reverse("run-list"), {"state": "running"}).content.decode()
    lanes = viewer_client.get(reverse("run-list"), {"template": "lane-detection"}).content.decode()

    assert f'data-run="{finished_run.pk}"' in everything and f'data-run="{active.pk}"' in everything
    assert f'data-run="{active.pk}"' in running and f'data-run="{finished_run.pk}"' not in running
    assert 'style="width: 42%"' in running
    assert f'data-run="{finished_run.pk}"' in lanes and f'data-run="{active.pk}"' not in lanes


def test_run_detail_shows_pods_video_faces_and_the_live_log_spot(finished_run, viewer_client):
    """The detail page plays the video inline and lists pods and face results."""
    body = viewer_client.get(reverse("run-detail", args=[finished_run.pk])).content.decode()
    output = finished_run.outputs.get()

    assert "status-succeeded" in body
    assert (
        f'<video controls preload="metadata" src="/runs/{finished_run.pk}/outputs/{output.pk}/"'
        in body
    )
    assert "run-x-0" in body and "<td>2</td>" in body  # restarts
    assert "obama" in body and "Identified" in body
    # One log view: the live one, whose search shows its hits in place (no second pane).
    assert body.count('id="live-log"') == 1 and "Stored log" not in body
    assert 'id="run-log" class="log-results mono" hidden' in body
    assert (
        "hx-trigger" not in body.split('id="run-status"')[1].split(">")[0]
    )  # finished: no polling
    # Viewers see no buttons.
    assert reverse("run-cancel", args=[finished_run.pk]) not in body
    assert reverse("run-rerun", args=[finished_run.pk]) not in body


def test_stored_log_is_paged_and_searched_on_the_server(finished_run, viewer_client):
    """200 lines a page, a link to the next page, and search through every stored line: the
    hits of the log view's search, as an htmx fragment (the page itself no longer repeats the
    stored log in a second pane)."""
    url = reverse("run-detail", args=[finished_run.pk])
    hx = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "run-log"}
    first = viewer_client.get(url, {"q": "line"}, **hx).content.decode()
    second = viewer_client.get(url, {"q": "line", "since": 200}, **hx).content.decode()
    search = viewer_client.get(url, {"q": "line 44"}, **hx).content.decode()
    page = viewer_client.get(url).content.decode()

    assert "line 200</span>" in first and "line 201</span>" not in first and "since=200" in first
    assert "line 201</span>" in second and "line 400</span>" in second
    assert "line 200</span>" not in second
    assert "line 44</span>" in search and "line 440</span>" in search
    assert "line 45</span>" not in search
    assert "<html" not in search  # the htmx fragment only
    assert "line 1</span>" not in page  # the page's lines come live, once


def test_output_is_served_with_byte_ranges(finished_run, viewer_client):
    """A video can seek: a Range request gets 206 and exactly those bytes."""
    output = finished_run.outputs.get()
    url = f"/runs/{finished_run.pk}/outputs/{output.pk}/"
    data = Path(output.local_path).read_bytes()

    whole = viewer_client.get(url)
    part = viewer_client.get(url, HTTP_RANGE="bytes=100-299")
    tail = viewer_client.get(url, HTTP_RANGE="bytes=-10")
    beyond = viewer_client.get(url, HTTP_RANGE=f"bytes={len(data)}-")

    assert whole.status_code == 200 and b"".join(whole.streaming_content) == data
    assert whole["Content-Type"] == "video/mp4" and whole["Accept-Ranges"] == "bytes"
    assert part.status_code == 206 and b"".join(part.streaming_content) == data[100:300]
    assert part["Content-Range"] == f"bytes 100-299/{len(data)}"
    assert b"".join(tail.streaming_content) == data[-10:]
    assert beyond.status_code == 416


def test_output_outside_the_run_folders_is_not_served(finished_run, viewer_client, tmp_path):
    """A stored path pointing elsewhere (or climbing out with ..) gives 404, not the file."""
    secret = tmp_path / "secret.txt"
    secret.write_text("nope")
    climbing = str(Path(settings.LOCAL_DATA_ROOT) / ".." / ".." / secret.name)
    outside = RunOutput.objects.create(run=finished_run, path="a", local_path=str(secret))
    dotdot = RunOutput.objects.create(run=finished_run, path="b", local_path=climbing)

    for output in (outside, dotdot):
        response = viewer_client.get(f"/runs/{finished_run.pk}/outputs/{output.pk}/")
        assert response.status_code == 404


def test_run_form_names_the_bad_field_and_creates_nothing(presets, local_cluster, operator_client):
    """Parallelism out of range: 400, the error sits under the field, no run exists."""
    response = operator_client.post(
        reverse("template-run", args=["lane-detection"]),
        {"cluster": local_cluster.pk, "parallelism": "99", "output": "output/lanes"},
    )

    assert response.status_code == 400
    assert 'data-field="parallelism"' in response.content.decode()
    assert not Run.objects.exists()


def test_template_list_has_a_prefilled_run_form_per_template(
    presets, local_cluster, operator_client
):
    """Every preset has a Run form with its defaults filled in and the local cluster chosen."""
    body = operator_client.get(reverse("template-list")).content.decode()

    for slug in (
        "lane-detection",
        "face-identification",
        "camera-stream",
        "gpu-job",
        "raw-manifest",
    ):
        assert f'action="/templates/{slug}/run/"' in body
    assert 'value="wbuchwalter/tf-mnist:gpu"' in body  # the GPU preset's own default
    assert f'<option value="{local_cluster.pk}" selected>' in body


def test_saved_template_keeps_other_defaults(presets, local_cluster, operator_client):
    """Saving from the lane preset with another output folder stores it; a bad slug is a field
    error."""
    url = reverse("template-save", args=["lane-detection"])
    bad = operator_client.post(url, {"name": "x", "slug": "Not A Slug", "parallelism": "1"})
    good = operator_client.post(url, {
        "name": "Wide lanes", "slug": "wide-lanes", "parallelism": "1", "volume": "",
        "image": "ghcr.io/controlpanel/media-pipeline:latest", "output": "output/wide",
    })  # fmt: skip

    assert bad.status_code == 400 and 'data-field="slug"' in bad.content.decode()
    assert good.status_code == 302
    assert WorkloadTemplate.objects.get(slug="wide-lanes").params["output"] == "output/wide"
    listing = operator_client.get(reverse("template-list")).content.decode()
    assert 'id="template-wide-lanes"' in listing and 'value="output/wide"' in listing


def test_only_admins_delete_runs(finished_run, operator_client):
    """An operator's delete is refused (403) and the run stays."""
    response = operator_client.post(reverse("run-delete", args=[finished_run.pk]))

    assert response.status_code == 403
    assert Run.objects.filter(pk=finished_run.pk).exists()


def test_admin_deletes_a_finished_run(finished_run, admin_client):
    """Admins delete finished runs from the detail page."""
    response = admin_client.post(reverse("run-delete", args=[finished_run.pk]))

    assert response.status_code == 302 and not Run.objects.filter(pk=finished_run.pk).exists()


def test_viewer_cannot_start_a_run(presets, local_cluster, viewer_client):
    """Viewers read; starting a run is refused and nothing is created."""
    response = viewer_client.post(
        reverse("template-run", args=["lane-detection"]), {"cluster": local_cluster.pk}
    )

    assert response.status_code == 403 and not Run.objects.exists()
    assert "/run/" not in viewer_client.get(reverse("template-list")).content.decode()


def test_dashboard_lists_recent_runs(finished_run, viewer_client):
    """The home page shows recent runs and the number of active ones."""
    body = viewer_client.get(reverse("home")).content.decode()

    assert "Recent runs" in body and f'data-run="{finished_run.pk}"' in body
    assert "active runs" in body


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_run_button_plays_the_processed_video(
    celery_worker, presets, local_cluster, operator_client
):
    """Click Run on the lane preset (local): the detail page ends with a playable video."""
    from tests.workloads.conftest import wait_for

    response = operator_client.post(
        reverse("template-run", args=["lane-detection"]),
        {"cluster": local_cluster.pk, **_form_defaults(operator_client, "lane-detection")},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    run = Run.objects.get()
    assert response["Location"] == reverse("run-detail", args=[run.pk])

    wait_for(lambda: Run.objects.get(pk=run.pk).state not in ("pending", "submitted", "running"),
             timeout=120)  # fmt: skip
    body = operator_client.get(response["Location"]).content.decode()
    run.refresh_from_db()
    assert run.state == "succeeded", run.error
    video = run.outputs.get(kind="video")
    assert f'src="/runs/{run.pk}/outputs/{video.pk}/"' in body
    head = operator_client.get(f"/runs/{run.pk}/outputs/{video.pk}/", HTTP_RANGE="bytes=0-11")
    assert head.status_code == 206 and b"ftyp" in b"".join(head.streaming_content)


def _form_defaults(client, slug: str) -> dict:
    """The prefilled values of the template's run form, as a browser would send them."""
    import re

    body = client.get(reverse("template-run", args=[slug])).content.decode()
    fields = dict(re.findall(r'<input type="text" name="(\w+)" value="([^"]*)"', body))
    fields.update(re.findall(r'<textarea name="(\w+)"[^>]*>\n?([^<]*)</textarea>', body))
    return fields


def test_a_search_link_opens_the_page_with_its_hits_in_the_log_view(finished_run, viewer_client):
    """`?q=` in the address (a bookmark, no script) shows the hits in the one log view."""
    body = viewer_client.get(
        reverse("run-detail", args=[finished_run.pk]), {"q": "line 44"}
    ).content.decode()

    hits = body.split('id="run-log"')[1].split("</section>")[0]
    assert " hidden" not in hits.split(">")[0]
    assert "line 44</span>" in hits and "line 440</span>" in hits and "line 45</span>" not in hits
