"""Requests an outside tester sent to the runs API, and the answers they must get."""

from __future__ import annotations

import pytest
from django.utils import timezone

from workloads.models import Run, RunLogLine, WorkloadTemplate

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


@pytest.fixture
def logged_run(presets, local_cluster):
    template = WorkloadTemplate.objects.get(slug="lane-detection")
    run = Run.objects.create(template=template, cluster=local_cluster, state="succeeded")
    texts = ["reading lanes.mp4", "frame 10", "lanes found: 2", "done"]
    RunLogLine.objects.bulk_create(
        RunLogLine(run=run, cursor=i, pod="p", text=text, time=timezone.now())
        for i, text in enumerate(texts, start=1)
    )
    return run


def test_log_search_finds_the_lines_of_the_run_instead_of_a_404(logged_run, viewer_api):
    """`?search=` on a run's logs searches its lines; it does not filter the run away."""
    response = viewer_api.get(f"/api/runs/{logged_run.pk}/logs/", {"search": "lanes"})
    assert response.status_code == 200, response.content
    assert [line["text"] for line in response.json()["lines"]] == [
        "reading lanes.mp4", "lanes found: 2",
    ]  # fmt: skip


def test_the_run_list_still_searches_runs(logged_run, viewer_api):
    assert viewer_api.get("/api/runs/", {"search": "lane-detection"}).json()["count"] == 1
    assert viewer_api.get("/api/runs/", {"search": "no-such-template"}).json()["count"] == 0


def test_a_nul_byte_in_a_parameter_is_a_400_and_no_run(presets, local_cluster, operator_api):
    """It used to be accepted with 201, then the run failed at start."""
    before = Run.objects.count()
    response = operator_api.post(
        "/api/runs/",
        {"template": "camera-stream", "cluster": local_cluster.name,
         "params": {"source": "test:ball\x00--evil"}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400, response.content
    assert "source" in response.json()["error"]["fields"]
    assert Run.objects.count() == before


@pytest.mark.parametrize("field", ["cluster", "template"])
def test_a_reference_of_digits_int_cannot_read_is_a_400(
    presets, local_cluster, operator_api, field
):
    """`"cluster": "²"`: str.isdigit() says yes to a superscript two, int() says no (a 500)."""
    body = {"template": "lane-detection", "cluster": local_cluster.name, field: "²"}
    response = operator_api.post("/api/runs/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_a_megabyte_template_description_is_refused(presets, operator_api):
    response = operator_api.post(
        "/api/templates/",
        {"slug": "big", "name": "Big", "kind": "lane-detection", "description": "x" * 1_000_000},
        format="json",
    )
    assert response.status_code == 400
    assert "description" in response.json()["error"]["fields"]
    assert not WorkloadTemplate.objects.filter(slug="big").exists()


@pytest.mark.parametrize(
    "path",
    [
        f"/runs/{2**70}/",
        f"/runs/{2**70}/outputs/1/",
        f"/runs/1/outputs/{2**70}/",
        f"/cameras/{2**64}/",
    ],
)
def test_a_page_for_an_id_past_64_bits_is_a_404(viewer_client, path):
    assert viewer_client.get(path).status_code == 404


def test_an_api_id_past_64_bits_is_a_404(viewer_api):
    assert viewer_api.get(f"/api/runs/{2**63}/logs/").status_code == 404


def _stream(api, cluster, **params):
    return api.post(
        "/api/runs/",
        {"template": "camera-stream", "cluster": cluster.name, "params": params},
        format="json",
    )


@pytest.mark.parametrize(
    "source",
    [
        "file:/usr/share/pixmaps/debian-logo.png",
        "file:/etc/shadow",
        "file:../../../etc/shadow",
        "file:clips/../../secret.mp4",
        "v4l2:/dev/video0",
        "gopher://camera.example/",
    ],
)
def test_a_camera_source_cannot_read_files_or_devices_it_was_not_given(
    presets, local_cluster, operator_api, source
):
    """A camera stream on the local cluster runs as the panel's user: an absolute path, a path
    out of the volume, an unlisted device or an unknown scheme is refused before any run."""
    before = Run.objects.count()
    response = _stream(operator_api, local_cluster, source=source)
    assert response.status_code == 400, response.content
    assert "source" in response.json()["error"]["fields"]
    assert Run.objects.count() == before


@pytest.mark.parametrize("source", ["file:clips/gate.mp4", "FILE:clips/gate.mp4"])
def test_a_file_source_needs_the_volume_it_is_on(presets, local_cluster, operator_api, source):
    """However the scheme is spelled: the pipeline reads `FILE:` as a file too."""
    response = _stream(operator_api, local_cluster, source=source)
    assert response.status_code == 400
    assert "volume" in response.json()["error"]["fields"]


def test_a_file_on_a_volume_streams_from_that_volume(presets, local_cluster, operator_api):
    """The run's command names the file inside the volume's folder, options kept."""
    from clusters.models import Volume
    from workloads.specs import build_spec

    volume = Volume.objects.create(cluster=local_cluster, name="footage", local_path="footage")
    response = _stream(
        operator_api, local_cluster, source="file:clips/gate.mp4?loop=0", volume=volume.name
    )
    assert response.status_code == 201, response.content
    run = Run.objects.get(pk=response.json()["id"])
    spec = build_spec(
        kind=run.template.kind, params=run.params, cluster=local_cluster, run_id=run.pk
    )
    source = spec.tasks[0].args[spec.tasks[0].args.index("--source") + 1]
    assert source.volume == "footage" and source.relative == "clips/gate.mp4"
    assert (source.prefix, source.suffix) == ("file:", "?loop=0")


def test_an_admin_listed_device_may_be_streamed(presets, local_cluster, operator_api, settings):
    settings.CAMERA_DEVICES = ["/dev/video0"]
    assert _stream(operator_api, local_cluster, source="v4l2:/dev/video0").status_code == 201
    assert _stream(operator_api, local_cluster, source="v4l2:/dev/video1").status_code == 400


def test_a_time_filter_with_any_offset_filters_instead_of_failing(
    logged_run, viewer_api, admin_api
):
    """PostgreSQL refuses offsets past 15:59 that ISO 8601 allows: the filter converts to UTC
    first, and a time no conversion can reach is a 400 naming the filter."""
    later = viewer_api.get("/api/runs/", {"created_before": "4802-08-22T21:52:56+18:46"})
    assert later.status_code == 200 and later.json()["count"] == 1
    earlier = viewer_api.get("/api/runs/", {"created_after": "4802-08-22T21:52:56+18:46"})
    assert earlier.status_code == 200 and earlier.json()["count"] == 0
    audit = admin_api.get("/api/audit/", {"until": "1172-06-01T08:06:05+18:30"})
    assert audit.status_code == 200
    beyond = viewer_api.get("/api/runs/", {"created_before": "0001-01-01T00:00:00+05:00"})
    assert beyond.status_code == 400
    assert "created_before" in beyond.json()["error"]["fields"]


def test_an_akri_source_is_a_broker_address_and_width_0_keeps_its_size(
    presets, local_cluster, operator_api
):
    """`akri://HOST:PORT` or a 400 naming the source; width 0 streams the broker's own size."""
    from workloads.specs import build_spec

    for bad in (
        "akri://",
        "akri://broker",
        "akri://broker:0",
        "akri://broker:80/x",
        "akri://-x:80",
    ):
        response = _stream(operator_api, local_cluster, source=bad)
        assert response.status_code == 400 and "source" in response.json()["error"]["fields"], bad
    response = _stream(
        operator_api, local_cluster, source="akri://cam-svc.edge.svc.cluster.local:80", width=0
    )
    assert response.status_code == 201, response.content
    run = Run.objects.get(pk=response.json()["id"])
    args = (
        build_spec(kind=run.template.kind, params=run.params, cluster=local_cluster, run_id=run.pk)
        .tasks[0]
        .args
    )
    assert args[args.index("--source") + 1] == "akri://cam-svc.edge.svc.cluster.local:80"
    assert "--width" not in args


MEGABYTE = 1_000_000


@pytest.mark.parametrize(
    ("template", "params", "field"),
    [
        ("lane-detection", {"output": "x" * MEGABYTE}, "output"),
        ("lane-detection", {"inputs": ["a" * 500_000, "b" * 500_000]}, "inputs"),
        ("lane-detection", {"inputs": [f"clips/{n}.mp4" for n in range(5_000)]}, "inputs"),
        ("lane-detection", {"inputs": "\n".join(["c" * 2_000] * 3)}, "inputs"),
        ("lane-detection", {"volume": "v" * 100_000}, "volume"),
        ("face-identification", {"known": "k/" * 100_000}, "known"),
        ("face-identification", {"images": ["i" * 5_000]}, "images"),
        ("camera-stream", {"source": "rtsp://camera.example/" + "s" * MEGABYTE}, "source"),
        ("gpu-job", {"image": "registry.example/" + "i" * MEGABYTE}, "image"),
        ("gpu-job", {"image": "cuda", "args": "a " * 500_000}, "args"),
        ("gpu-job", {"image": "cuda", "command": ["python", "-c", "x" * MEGABYTE]}, "command"),
        ("gpu-job", {"image": "cuda", "command": ["x"] * 5_000}, "command"),
        ("raw-manifest", {"manifest": "# " + "m" * MEGABYTE}, "manifest"),
        ("face-recognition-service", {"volumes": [f"v{n}" for n in range(5_000)]}, "volumes"),
    ],
)
def test_an_oversized_parameter_is_a_400_naming_it_and_no_run(
    presets, local_cluster, operator_api, template, params, field
):
    """Megabytes in a parameter were stored with the run (201): each field has a limit no
    real run reaches, and the refusal does not send the megabytes back."""
    before = Run.objects.count()
    response = operator_api.post(
        "/api/runs/", {"template": template, "cluster": "local", "params": params}, format="json"
    )
    assert response.status_code == 400, response.content[:500]
    assert field in response.json()["error"]["fields"]
    assert len(response.content) < 10_000
    assert Run.objects.count() == before


def test_an_oversized_parameter_is_refused_by_the_preview_too(presets, local_cluster, operator_api):
    response = operator_api.post(
        "/api/runs/preview/",
        {"template": "lane-detection", "cluster": "local", "params": {"output": "x" * MEGABYTE}},
        format="json",
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["output"]


@pytest.mark.parametrize(
    ("kind", "params", "field"),
    [
        ("lane-detection", {"output": "x" * MEGABYTE}, "output"),
        ("lane-detection", {"volume": "v" * MEGABYTE}, "volume"),
        ("raw-manifest", {"manifest": "# " + "m" * MEGABYTE}, "manifest"),
        ("face-recognition-service", {"volumes": [f"v{n}" for n in range(5_000)]}, "volumes"),
    ],
)
def test_oversized_template_defaults_are_refused_like_run_parameters(
    presets, operator_api, kind, params, field
):
    response = operator_api.post(
        "/api/templates/",
        {"slug": "big", "name": "Big", "kind": kind, "params": params},
        format="json",
    )
    assert response.status_code == 400, response.content[:500]
    assert field in response.json()["error"]["fields"]
    assert not WorkloadTemplate.objects.filter(slug="big").exists()


def test_a_request_body_past_the_limit_is_a_clear_400(presets, local_cluster, operator_api):
    """A 3 MB body (past DATA_UPLOAD_MAX_MEMORY_SIZE) is refused before it is parsed."""
    import json

    body = json.dumps(
        {"template": "lane-detection", "cluster": "local", "params": {"output": "x" * 3 * MEGABYTE}}
    )
    response = operator_api.generic("POST", "/api/runs/", body, content_type="application/json")
    assert response.status_code in (400, 413)
    assert response["Content-Type"] == "application/json"
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in response.json()["error"]["message"]
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        f"/api/runs/{2**63}/",
        f"/api/runs/{2**70}/outputs/1/",
        "/api/aks/99999999999999999999/",
        f"/api/aks/{2**64}/upgrade-versions/",
        f"/api/clusters/{2**63}/",
        f"/api/credentials/{2**63}/",
        f"/api/cameras/{2**63}/",
        "/api/runs/not-a-number/",
        "/api/no-such-endpoint/",
    ],
)
def test_every_api_404_is_json_like_a_missing_object(viewer_api, path):
    """An id too long for the URL or an unknown endpoint answered Django's HTML page, while
    a missing object answers the API's error body: a client reads both the same way now."""
    missing = viewer_api.get("/api/runs/999999/")
    assert missing.status_code == 404 and missing["Content-Type"] == "application/json"
    response = viewer_api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    body, expected = response.json(), missing.json()
    assert body.keys() == expected.keys() == {"error"}
    assert body["error"].keys() == expected["error"].keys()
    assert body["error"]["code"] == expected["error"]["code"] == "not_found"
    assert body["error"]["fields"] == {}


def test_a_page_404_is_still_the_styled_page(viewer_client):
    response = viewer_client.get(f"/runs/{2**70}/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b"Back to the dashboard" in response.content
