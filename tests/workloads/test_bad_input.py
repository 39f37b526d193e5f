"""Bad input is a 400 naming the field, and nothing is created."""

from __future__ import annotations

import pytest

from workloads.models import Run

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


@pytest.mark.parametrize(
    ("template", "params", "field"),
    [
        ("lane-detection", {"colour": "red"}, "colour"),
        ("lane-detection", {"parallelism": 0}, "parallelism"),
        ("lane-detection", {"parallelism": 3}, "parallelism"),
        ("lane-detection", {"image": "UPPER CASE:!"}, "image"),
        ("lane-detection", {"volume": "nope"}, "volume"),
        ("camera-stream", {"processing": "cats"}, "processing"),
        ("raw-manifest", {"manifest": "just: text"}, "manifest"),
        (
            "raw-manifest",
            {"manifest": "apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\n"},
            "manifest",
        ),
        ("gpu-job", {}, "cluster"),
    ],
)
def test_bad_parameters_are_rejected_naming_the_field(
    presets, local_cluster, operator_api, template, params, field
):
    """Unknown, out-of-range and malformed parameters: 400 with the field, no run."""
    response = operator_api.post(
        "/api/runs/", {"template": template, "cluster": "local", "params": params}, format="json"
    )
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert not Run.objects.exists()


def test_presets_are_listed_with_their_slugs(presets, viewer_api):
    """The five presets scripts rely on are there."""
    slugs = {t["slug"] for t in viewer_api.get("/api/templates/").json()["results"]}
    assert {
        "lane-detection",
        "face-identification",
        "camera-stream",
        "gpu-job",
        "raw-manifest",
    } <= slugs


def test_viewers_cannot_start_runs(presets, local_cluster, viewer_api):
    """Starting a run needs the operator role."""
    response = viewer_api.post(
        "/api/runs/", {"template": "lane-detection", "cluster": "local"}, format="json"
    )
    assert response.status_code == 403


def test_messages_speak_to_people(presets, local_cluster, operator_api, operator_client):
    """A misspelt parameter suggests the nearest one; an unknown volume names the cluster's
    volumes, which the run form offers in a list; no Python list syntax in either; every
    field's errors are a list."""
    local_cluster.volumes.create(name="footage")
    local_cluster.volumes.create(name="photos")
    response = operator_api.post(
        "/api/runs/",
        {"template": "lane-detection", "cluster": "local",
         "params": {"paralelism": 2, "volume": "footgae"}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["paralelism"] == ["Unknown parameter; did you mean parallelism?"]
    response = operator_api.post(
        "/api/runs/",
        {"template": "lane-detection", "cluster": "local", "params": {"volume": "footgae"}},
        format="json",
    )
    assert response.json()["volume"] == [
        "No volume 'footgae' on this cluster (it has footage, photos)."
    ]
    wholly_unknown = operator_api.post(
        "/api/runs/", {"template": "lane-detection", "cluster": "local", "params": {"x": 1}},
        format="json",
    )  # fmt: skip
    assert "this template takes image, volume, inputs" in wholly_unknown.json()["x"][0]
    assert not Run.objects.exists()

    page = operator_client.get("/templates/lane-detection/run/").content.decode()
    assert 'list="id_volume-suggestions"' in page
    assert '<option value="footage">on ' in page and '<option value="photos">' in page


def test_the_api_docs_give_a_real_example_per_template(viewer_api):
    """The schema's request for starting a run is an object of parameters with an example for
    every preset, none of them the placeholder "string"."""
    schema = viewer_api.get("/api/schema/", {"format": "json"}).json()
    create = schema["paths"]["/api/runs/"]["post"]["requestBody"]["content"]["application/json"]
    examples = [example["value"] for example in create["examples"].values()]
    assert {example["template"] for example in examples} >= {
        "lane-detection", "face-identification", "camera-stream", "face-recognition-service",
        "gpu-job", "raw-manifest",
    }  # fmt: skip
    assert all(isinstance(example["params"], dict) for example in examples)
    request = schema["components"]["schemas"]["RunCreateRequest"]["properties"]["params"]
    assert request["type"] == "object"


def test_a_template_with_a_default_volume_and_inputs_is_saved_and_runs_with_them(
    presets, local_cluster, operator_api
):
    """Saving a lane template whose defaults name both the volume and the inputs on it: the
    volume is checked when a run chooses a cluster, not refused when the template is saved."""
    from clusters.models import Volume
    from workloads.models import Run

    created = operator_api.post("/api/templates/", {
        "slug": "night-shift", "name": "Night shift", "kind": "lane-detection",
        "params": {"volume": "footage", "inputs": ["night/cam1.mp4"]},
    }, format="json")  # fmt: skip
    assert created.status_code == 201, created.json()
    refused = operator_api.post(
        "/api/runs/", {"template": "night-shift", "cluster": "local"}, format="json"
    )
    assert refused.status_code == 400 and "volume" in refused.json()["error"]["fields"]
    Volume.objects.create(cluster=local_cluster, name="footage", local_path="footage")
    run = operator_api.post(
        "/api/runs/", {"template": "night-shift", "cluster": "local"}, format="json"
    )
    assert run.status_code == 201, run.json()
    assert Run.objects.get(pk=run.json()["id"]).params["inputs"] == ["night/cam1.mp4"]
