"""Pod Security levels on runs, as an operator would meet them and an admin would set them: the
issue's hostile manifest refused with a 400 naming each field and the level, nothing stored;
every preset rendered meeting its level; only admins change a level, audited."""

from __future__ import annotations

import pytest

from clusters.models import Cluster, Volume
from clusters.podsecurity import check_objects
from clusters.runtimes.manifests import render, validate
from core.models import AuditEvent
from workloads.bootstrap import PRESETS
from workloads.models import Run, WorkloadTemplate
from workloads.specs import build_spec

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]

# The manifest an operator saved: privileged, the node's / mounted, its PID and network namespaces.
HOSTILE = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: node-shell
spec:
  backoffLimit: 0
  template:
    spec:
      hostPID: true
      hostNetwork: true
      restartPolicy: Never
      containers:
        - name: shell
          image: busybox
          securityContext:
            privileged: true
          volumeMounts:
            - {name: root, mountPath: /host}
      volumes:
        - name: root
          hostPath: {path: /}
"""
HOSTILE_FIELDS = [
    "spec.template.spec.hostPID",
    "spec.template.spec.hostNetwork",
    "spec.template.spec.containers[0].securityContext.privileged",
    "spec.template.spec.volumes[0].hostPath",
]
# Allowed by baseline, refused by restricted: nothing says it must not run as root.
PLAIN_JOB = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: plain
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - {name: main, image: busybox}
"""


def gpu_manifest(read_only: bool) -> str:
    return f"""\
apiVersion: batch/v1
kind: Job
metadata:
  name: train
spec:
  template:
    spec:
      restartPolicy: OnFailure
      containers:
        - name: train
          image: wbuchwalter/tf-mnist:gpu
          resources:
            limits: {{nvidia.com/gpu: 1}}
          volumeMounts:
            - {{name: nvidia, mountPath: /usr/local/nvidia, readOnly: {str(read_only).lower()}}}
      volumes:
        - name: nvidia
          hostPath: {{path: /usr/local/nvidia}}
"""


@pytest.fixture
def edge(db) -> Cluster:
    """An imported Kubernetes cluster (not contacted here: refusals happen before that)."""
    return Cluster.objects.create(name="edge", kind="kubernetes", namespace="vision")


@pytest.fixture
def raw(presets):
    return WorkloadTemplate.objects.get(slug="raw-manifest")


def run(api, cluster, manifest: str, template: str = "raw-manifest"):
    body = {"template": template, "cluster": cluster.name, "params": {"manifest": manifest}}
    return api.post("/api/runs/", body, format="json")


def test_the_hostile_manifest_is_refused_naming_each_field_and_the_level(raw, edge, operator_api):
    """Saving it as a template works (templates belong to no cluster); running it is a 400 that
    names each of the four fields and the baseline level, and nothing is stored."""
    saved = operator_api.post(
        "/api/templates/",
        {"slug": "node-shell", "name": "Node shell", "kind": "raw-manifest",
         "params": {"manifest": HOSTILE}},
        format="json",
    )  # fmt: skip
    assert saved.status_code == 201, saved.content

    response = operator_api.post(
        "/api/runs/", {"template": "node-shell", "cluster": "edge"}, format="json"
    )

    assert response.status_code == 400, response.content
    messages = response.json()["error"]["fields"]["manifest"]
    for field in HOSTILE_FIELDS:
        assert any(field in m and "Pod Security level baseline" in m for m in messages), field
    assert not Run.objects.exists()


def test_restricted_refuses_what_baseline_allows(raw, edge, operator_api, admin_api):
    """A Job that may run as root: fine under baseline, a 400 naming runAsNonRoot and the
    restricted level once an admin sets it."""
    assert run(operator_api, edge, PLAIN_JOB).status_code == 201
    assert (
        admin_api.patch(
            f"/api/clusters/{edge.pk}/", {"pod_security_level": "restricted"}, format="json"
        ).json()["pod_security_level"]
        == "restricted"
    )

    response = run(operator_api, edge, PLAIN_JOB)

    assert response.status_code == 400
    messages = response.json()["manifest"]
    path = "spec.template.spec.containers[0].securityContext.runAsNonRoot"
    assert any(path in m and "Pod Security level restricted" in m for m in messages), messages
    assert Run.objects.count() == 1
    # The raw-manifest preset's own sample shows the restricted form, and passes.
    assert run(operator_api, edge, raw.params["manifest"]).status_code == 201


def test_privileged_is_for_admins_to_set_and_then_lets_it_through(
    raw, edge, operator_api, admin_api, admin_user
):
    """An operator cannot lower the level (403, nothing changes, nothing audited); an admin
    can, the change is audited, and the manifest then runs."""
    refused = operator_api.patch(
        f"/api/clusters/{edge.pk}/",
        {"pod_security_level": "privileged", "description": "x"},
        format="json",
    )
    assert refused.status_code == 403
    edge.refresh_from_db()
    assert (edge.pod_security_level, edge.description) == ("baseline", "")
    assert not AuditEvent.objects.filter(object_type="cluster").exists()

    response = admin_api.patch(
        f"/api/clusters/{edge.pk}/", {"pod_security_level": "privileged"}, format="json"
    )

    assert response.status_code == 200, response.content
    event = AuditEvent.objects.get(object_type="cluster", object_id=str(edge.pk))
    assert (event.actor, event.action) == (admin_user, "update")
    assert event.changes == {"pod_security_level": ["baseline", "privileged"]}
    assert run(operator_api, edge, HOSTILE).status_code == 201


def test_a_named_exemption_allows_the_read_only_nvidia_mount_only(
    raw, edge, operator_api, admin_api
):
    exemption = {"name": "nvidia-drivers", "path": "/usr/local/nvidia", "reason": "GPU drivers"}
    assert run(operator_api, edge, gpu_manifest(read_only=True)).status_code == 400
    # Only an admin names an exemption: an operator's is refused and changes nothing.
    refused = operator_api.patch(
        f"/api/clusters/{edge.pk}/", {"pod_security_exemptions": [exemption]}, format="json"
    )
    assert refused.status_code == 403
    edge.refresh_from_db()
    assert edge.pod_security_exemptions == []
    assert run(operator_api, edge, gpu_manifest(read_only=True)).status_code == 400

    response = admin_api.patch(
        f"/api/clusters/{edge.pk}/", {"pod_security_exemptions": [exemption]}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["pod_security_exemptions"] == [exemption]
    assert run(operator_api, edge, gpu_manifest(read_only=True)).status_code == 201
    writable = run(operator_api, edge, gpu_manifest(read_only=False))
    assert writable.status_code == 400
    assert "spec.template.spec.volumes[0].hostPath" in writable.json()["manifest"][0]
    assert AuditEvent.objects.filter(
        object_type="cluster", changes__pod_security_exemptions__isnull=False
    ).exists()


@pytest.mark.parametrize(
    "exemption",
    [
        {"name": "all", "path": "/", "reason": "everything"},
        {"name": "up", "path": "/usr/local/nvidia/../../..", "reason": "escape"},
        {"name": "rel", "path": "usr/local/nvidia", "reason": "relative"},
        {"name": "why", "path": "/usr/local/nvidia", "reason": ""},
    ],
)
def test_bad_exemptions_are_a_400_naming_the_field(edge, admin_api, exemption):
    response = admin_api.patch(
        f"/api/clusters/{edge.pk}/", {"pod_security_exemptions": [exemption]}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "pod_security_exemptions" in response.json()["error"]["fields"]
    edge.refresh_from_db()
    assert edge.pod_security_exemptions == []


def test_the_local_cluster_has_no_pods_and_so_no_level(local_cluster, admin_api):
    response = admin_api.patch(
        f"/api/clusters/{local_cluster.pk}/", {"pod_security_level": "restricted"}, format="json"
    )
    assert response.status_code == 400
    assert "processes, not pods" in response.json()["pod_security_level"][0]


def test_a_preset_refused_by_the_level_names_the_cluster_field(
    presets, edge, admin_api, operator_api
):
    """The GPU job meets baseline, not restricted (its image's user is unknown): on a restricted
    cluster it is refused before anything is stored, naming the field and the level."""
    admin_api.patch(
        f"/api/clusters/{edge.pk}/", {"pod_security_level": "restricted"}, format="json"
    )
    response = operator_api.post(
        "/api/runs/", {"template": "gpu-job", "cluster": "edge"}, format="json"
    )
    assert response.status_code == 400
    assert any(
        "spec.template.spec.containers[0].securityContext.runAsNonRoot" in m
        and "level restricted" in m
        for m in response.json()["cluster"]
    )
    assert not Run.objects.exists()


# What each preset's pods must meet out of the box.
PRESET_LEVELS = {
    "lane-detection": "restricted", "face-identification": "restricted",
    "camera-stream": "restricted", "raw-manifest": "restricted", "gpu-job": "baseline",
    "face-recognition-service": "restricted",
}  # fmt: skip


@pytest.mark.parametrize("indexed", [False, True])
def test_every_preset_rendered_meets_its_level(presets, edge, indexed):
    """Pipeline pods (Jobs, Indexed Jobs, the stream Deployment) meet restricted, the GPU job
    baseline; every object also passes the current Kubernetes schema."""
    Volume.objects.create(cluster=edge, name="footage", claim_name="footage", mount_path="/data")
    extra = {
        "lane-detection": {"volume": "footage", "inputs": ["a.jpg", "b.jpg"], "parallelism": 2}
    }
    assert {p["slug"] for p in PRESETS} == set(PRESET_LEVELS)
    for preset in PRESETS:
        template = WorkloadTemplate.objects.get(slug=preset["slug"])
        from workloads.params import clean_params

        params = clean_params(template.kind, extra.get(template.slug, {}),
                              defaults=template.params, volumes={"footage"})  # fmt: skip
        spec = build_spec(kind=template.kind, params=params, cluster=edge, run_id=5)
        objects = render(spec, "vision", indexed_jobs=indexed)
        for obj in objects:
            validate(obj)
        level = PRESET_LEVELS[template.slug]
        assert check_objects(objects, level) == [], template.slug
        if level == "baseline":
            assert check_objects(objects, "restricted"), "documented: GPU jobs are baseline only"


def test_the_run_page_shows_the_refusal_on_the_form(raw, edge, operator_client):
    response = operator_client.post(
        "/templates/raw-manifest/run/", {"cluster": edge.pk, "manifest": HOSTILE}
    )
    assert response.status_code == 400
    page = response.content.decode()
    for field in HOSTILE_FIELDS:
        assert field in page
    assert "Pod Security level baseline" in page
    assert not Run.objects.exists()


def test_the_pod_security_page_is_for_admins(edge, operator_user, admin_user, client):
    """Operators get 403 on the page and its form; an admin's change is saved and audited."""
    url = f"/clusters/{edge.pk}/pod-security/"
    client.force_login(operator_user)
    assert client.get(url).status_code == 403
    assert client.post(url, {"pod_security_level": "privileged"}).status_code == 403
    admin_client = client
    admin_client.force_login(admin_user)

    page = admin_client.get(url)
    assert page.status_code == 200 and b"Pod Security level" in page.content
    bad = admin_client.post(
        url, {"pod_security_level": "baseline", "pod_security_exemptions": "all / everything"}
    )
    assert bad.status_code == 400 and b"privileged level instead" in bad.content
    done = admin_client.post(url, {
        "pod_security_level": "restricted",
        "pod_security_exemptions": "nvidia-drivers /usr/local/nvidia NVIDIA driver libraries",
    })  # fmt: skip
    assert done.status_code == 302
    edge.refresh_from_db()
    assert edge.pod_security_level == "restricted"
    assert edge.pod_security_exemptions == [
        {"name": "nvidia-drivers", "path": "/usr/local/nvidia", "reason": "NVIDIA driver libraries"}
    ]
    detail = admin_client.get(f"/clusters/{edge.pk}/").content.decode()
    assert "restricted" in detail and "nvidia-drivers" in detail
    assert AuditEvent.objects.filter(object_type="cluster", action="update").count() == 1
