"""The `face-recognition-service` preset on the local cluster: replicas as processes on ports of
their own, started by the real Celery worker, each answering over HTTP; cancel stops them all.
(On Kubernetes: tests/workloads/test_face_service_kubernetes.py.)"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from clusters.runtimes.manifests import FACE_SERVICE_PORT, object_name, render
from media_pipeline import samples
from tests.conftest import wait_for
from tests.kube.manifests import assert_valid_manifest
from tests.workloads.conftest import wait_for_run
from workloads.models import Run

pytestmark = [pytest.mark.faces]


def get(url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
    except OSError:
        return 0, {}  # not listening yet


@pytest.fixture
def photos(local_cluster, settings):
    """A local volume `photos` with one photo, and a second volume `archive`."""
    from clusters.models import Volume

    for name in ("photos", "archive"):
        (Path(settings.LOCAL_DATA_ROOT) / name).mkdir(parents=True, exist_ok=True)
        Volume.objects.create(cluster=local_cluster, name=name, local_path=name)
    shutil.copy(
        samples.UNKNOWN_FACES / "obama_small.jpg", Path(settings.LOCAL_DATA_ROOT) / "photos"
    )
    return local_cluster


@pytest.fixture
def stop_leftovers(local_cluster):
    """Processes of runs a failed test left behind are stopped (the test ends them itself)."""
    yield
    from clusters.runtimes.local import LocalRuntime

    for run in Run.objects.exclude(handle={}):
        LocalRuntime(local_cluster).cleanup(run.handle)


@pytest.mark.slow
@pytest.mark.usefixtures("stop_leftovers")
def test_two_replicas_run_as_two_processes_that_answer_and_stop_on_cancel(
    celery_worker, presets, photos, operator_api, operator_client
):
    """Two processes, two endpoints, both healthy; /detect reads the volume; cancel ends both."""
    response = operator_api.post(
        "/api/runs/",
        {"template": "face-recognition-service", "cluster": "local", "params": {"replicas": 2}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    run_id = response.json()["id"]
    assert response.json()["params"]["volumes"] == ["archive", "photos"]  # default: all of them

    detail = wait_for_run(operator_api, run_id, states=("running", "failed", "lost"))
    assert detail["state"] == "running", detail["error"]
    run = Run.objects.get(pk=run_id)
    names = [f"run-{run_id}-serve-0", f"run-{run_id}-serve-1"]
    assert [pod["name"] for pod in run.handle["pods"]] == names
    endpoints = run.handle["endpoints"]
    assert sorted(endpoints) == names and len(set(endpoints.values())) == 2

    for url in endpoints.values():  # models load in each process, then it is healthy
        wait_for(lambda url=url: get(f"{url}/healthz")[0] == 200, timeout=120, interval=0.2)
    status, answer = get(
        f"{endpoints[names[1]]}/detect",
        json.dumps({"volume": "photos", "path": "obama_small.jpg"}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200 and len(answer["faces"]) == 1
    page = operator_client.get(f"/runs/{run_id}/")
    assert all(url in page.content.decode() for url in endpoints.values())  # shown to the user
    assert operator_api.get(f"/api/runs/{run_id}/").json()["endpoints"] == endpoints
    pids = [pod["pid"] for pod in run.handle["pods"]]

    assert operator_api.post(f"/api/runs/{run_id}/cancel/").status_code == 202

    assert wait_for_run(operator_api, run_id)["state"] == "cancelled"
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().split()[2] == "Z"
    assert all(get(f"{url}/healthz")[0] == 0 for url in endpoints.values())
    assert operator_api.get(f"/api/runs/{run_id}/").json()["endpoints"] == {}


@pytest.mark.parametrize(
    "params, field",
    [
        ({"replicas": 0}, "replicas"),
        ({"replicas": 17}, "replicas"),
        ({"replicas": "two"}, "replicas"),
        ({"volumes": ["photos", "nope"]}, "volumes"),
        ({"volumes": "nope"}, "volumes"),
        ({"volumes": [3]}, "volumes"),
        ({"image": "Not An Image"}, "image"),
        ({"port": 80}, "port"),
    ],
)
def test_bad_parameters_are_400s_naming_the_field(presets, photos, operator_api, params, field):
    response = operator_api.post(
        "/api/runs/",
        {"template": "face-recognition-service", "cluster": "local", "params": params},
        format="json",
    )
    assert response.status_code == 400 and field in response.json(), response.json()
    assert not Run.objects.exists()


def test_the_spec_serves_the_chosen_volumes_by_name(presets, photos):
    """Each chosen volume is one `--volume NAME=DIR`; on Kubernetes each is mounted at a path of
    its own (both local volumes would otherwise share the default /data)."""
    from workloads.params import clean_params
    from workloads.specs import build_spec

    params = clean_params("face-recognition-service", {"replicas": 3, "volumes": ["photos"]},
                          volumes={"photos", "archive"})  # fmt: skip
    spec = build_spec(kind="face-recognition-service", params=params, cluster=photos, run_id=9)
    (task,) = spec.tasks
    assert (task.name, task.port, task.replicas, spec.long_running) == ("serve", 8090, 3, True)

    deployment, service = render(spec, "vision", indexed_jobs=False)

    for obj in (deployment, service):
        assert_valid_manifest(obj)
    assert deployment["spec"]["replicas"] == 3
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["faces-serve", "--volume", "photos=/volumes/photos",
                                 "--port", str(FACE_SERVICE_PORT)]  # fmt: skip
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert service["metadata"]["name"] == object_name(9, "serve")
    assert service["spec"]["ports"] == [
        {"name": "http", "port": FACE_SERVICE_PORT, "targetPort": "http"}
    ]


def test_a_saved_template_keeps_its_volume_names_for_later_runs(presets, photos, operator_api):
    """A template's `volumes` default is checked against each run's cluster, not at saving."""
    response = operator_api.post(
        "/api/templates/",
        {"slug": "faces-photos", "name": "Faces on photos", "kind": "face-recognition-service",
         "params": {"volumes": ["photos"], "replicas": 2}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    assert response.json()["params"] == {"volumes": ["photos"], "replicas": 2}


def test_the_run_form_offers_the_preset_and_names_a_bad_volume(presets, photos, operator_client):
    """The template page has a Run form for the preset; an unknown volume is a field error and
    no run is created."""
    from django.urls import reverse

    listing = operator_client.get(reverse("template-list")).content.decode()
    assert 'action="/templates/face-recognition-service/run/"' in listing

    response = operator_client.post(
        reverse("template-run", args=["face-recognition-service"]),
        {"cluster": photos.pk, "replicas": "2", "volumes": "photos\nelsewhere",
         "image": "ghcr.io/controlpanel/media-pipeline:latest"},
    )  # fmt: skip

    assert response.status_code == 400
    body = response.content.decode()
    assert 'data-field="volumes"' in body and "elsewhere" in body
    assert not Run.objects.exists()
