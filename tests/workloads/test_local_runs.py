"""Runs on the local cluster: the real pipeline, a real Celery worker, real processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workloads.conftest import all_log_lines, wait_for_run
from workloads.models import Run, RunLogLine

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_lane_preset_processes_the_sample_footage_end_to_end(
    celery_worker, presets, local_cluster, operator_api
):
    """POST the lane preset with no parameters: the run succeeds with the processed video."""
    response = operator_api.post(
        "/api/runs/",
        {"template": "lane-detection", "cluster": "local", "params": {}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    run_id = response.json()["id"]

    run = wait_for_run(operator_api, run_id)

    assert run["state"] == "succeeded", run["error"]
    assert run["progress"] == 100
    assert [pod["exit_code"] for pod in run["pods"]] == [0]
    videos = [o for o in run["outputs"] if o["kind"] == "video"]
    assert len(videos) == 1 and videos[0]["size"] > 10_000
    assert Path(Run.objects.get(pk=run_id).outputs.get(kind="video").local_path).is_file()
    lines = all_log_lines(operator_api, run_id)
    assert [line["cursor"] for line in lines] == list(range(1, len(lines) + 1))
    assert any('"event":"done"' in line["text"] for line in lines)
    events = operator_api.get(f"/api/runs/{run_id}/events/?kind=progress").json()
    assert events["count"] > 0
    # Each event line of the real pipeline reads as one short summary in the log view.
    from workloads.events import parse_event, summary

    kinds = set()
    for line in lines:
        data = parse_event(line["text"])
        if data is not None:
            kinds.add(data["event"])
            text = summary(line["text"])
            assert text.startswith(data["event"]) and len(text) <= 120, text
    assert {"start", "progress", "output", "done"} <= kinds
    # The same events as the run page's charts, through the API: progress rises to 100%.
    series = {
        s["name"]: s for s in operator_api.get(f"/api/runs/{run_id}/metrics/").json()["series"]
    }
    progress = [y for _x, y in series["progress"]["points"]]
    assert progress == sorted(progress) and progress[-1] == 100.0 and len(progress) >= 3
    seconds = [x for x, _y in series["throughput"]["points"]]
    assert seconds == sorted(seconds) and all(y > 0 for _x, y in series["throughput"]["points"])


def test_face_preset_stores_one_result_per_face(
    celery_worker, presets, local_cluster, operator_api
):
    """The face preset identifies the bundled people; the unknown one is reported as unknown."""
    run_id = operator_api.post(
        "/api/runs/", {"template": "face-identification", "cluster": "local"}, format="json"
    ).json()["id"]

    run = wait_for_run(operator_api, run_id)

    assert run["state"] == "succeeded", run["error"]
    people = {(Path(r["image"]).name, r["person"], r["status"]) for r in run["results"]}
    assert ("obama2.jpg", "obama", "identified") in people
    assert ("lin-manuel-miranda.png", "", "unknown") in people
    assert {r["person"] for r in run["results"] if Path(r["image"]).name == "two_people.jpg"} == {
        "biden",
        "obama",
    }


def test_cancel_stops_the_process_group(celery_worker, presets, local_cluster, operator_api):
    """Cancelling a camera stream ends its process and the run is cancelled."""
    run_id = operator_api.post(
        "/api/runs/", {"template": "camera-stream", "cluster": "local"}, format="json"
    ).json()["id"]
    wait_for_run(operator_api, run_id, states=("running",))

    response = operator_api.post(f"/api/runs/{run_id}/cancel/")

    assert response.status_code == 202
    run = wait_for_run(operator_api, run_id)
    assert run["state"] == "cancelled"
    pid = Run.objects.get(pk=run_id).handle["pods"][0]["pid"]
    assert (
        not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    )


def test_failing_process_fails_the_run_with_its_exit_code(
    celery_worker, presets, local_cluster, operator_api, settings
):
    """Inputs that do not exist make the pipeline exit 1; the run fails and shows the code."""
    from clusters.models import Volume

    (Path(settings.LOCAL_DATA_ROOT) / "footage").mkdir(parents=True, exist_ok=True)
    Volume.objects.create(cluster=local_cluster, name="footage", local_path="footage")
    run_id = operator_api.post(
        "/api/runs/",
        {
            "template": "lane-detection",
            "cluster": "local",
            "params": {"volume": "footage", "inputs": ["missing.mp4"]},
        },
        format="json",
    ).json()["id"]

    run = wait_for_run(operator_api, run_id)

    assert run["state"] == "failed"
    assert run["pods"][0]["exit_code"] == 1
    assert "exited with code 1" in run["error"]
    assert RunLogLine.objects.filter(run_id=run_id, text__contains="no such file").exists()


def test_a_run_id_used_before_starts_in_a_clean_folder(
    celery_worker, presets, local_cluster, operator_api, settings
):
    """A database restored from an older backup hands out ids the data folder has seen: the
    earlier run's cancel marker and log must not become the new run's; its folder is kept aside."""
    from clusters.models import Volume
    from workloads.models import WorkloadTemplate
    from workloads.services import run_prepare
    from workloads.tasks import run_submit_task

    (Path(settings.LOCAL_DATA_ROOT) / "footage").mkdir(parents=True, exist_ok=True)
    Volume.objects.create(cluster=local_cluster, name="footage", local_path="footage")
    template = WorkloadTemplate.objects.get(slug="lane-detection")
    params = run_prepare(template=template, cluster=local_cluster,
                         params={"volume": "footage", "inputs": ["missing.mp4"]})  # fmt: skip
    run = Run.objects.create(template=template, cluster=local_cluster, params=params)
    earlier = Path(settings.LOCAL_DATA_ROOT) / "runs" / str(run.pk)
    (earlier / "logs").mkdir(parents=True)
    (earlier / "cancelled").touch()
    (earlier / "logs" / f"run-{run.pk}-0.log").write_text("a line of the earlier run\n")

    run_submit_task.delay(run.pk)
    detail = wait_for_run(operator_api, run.pk)

    assert detail["state"] == "failed", detail  # not "cancelled" by the earlier run's marker
    assert "exited with code 1" in detail["error"]
    texts = [line["text"] for line in all_log_lines(operator_api, run.pk)]
    assert "a line of the earlier run" not in texts and any("no such file" in t for t in texts)
    (aside,) = earlier.parent.glob(f"{run.pk}.replaced-*")
    assert (aside / "logs" / f"run-{run.pk}-0.log").read_text() == "a line of the earlier run\n"
    assert not (earlier / "cancelled").exists()
