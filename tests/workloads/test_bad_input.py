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
