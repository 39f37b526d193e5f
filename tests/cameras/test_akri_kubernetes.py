"""Akri cameras on the test bed's real API server.

Akri's two CRDs are applied, `Configuration` and `Instance` objects are created as Akri's agent
would, and a broker pod (`media_pipeline akri-broker`) runs behind the instance's Service in the
test bed's pod network, as Akri's controller would start it. The panel finds the camera, starts
a camera-stream pod next to the broker (by the broker pod's address from the Service's
Endpoints: the test bed has no DNS or kube-proxy) and relays its frames like any camera's.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import utils
from kubernetes.client.exceptions import ApiException

from clusters.services import cluster_import
from core.choices import Role
from core.services import SYSTEM
from tests.cameras.test_socket import next_frame
from tests.conftest import wait_for
from tests.factories import UserFactory
from tests.fixtures.live import communicator, token_for
from tests.kube.plugin import RBAC_DIR, wait_until_allowed

pytestmark = [pytest.mark.live, pytest.mark.kubernetes, pytest.mark.slow]

AKRI = Path(__file__).resolve().parents[1] / "data" / "akri"
CRDS = ("configurations.akri.sh", "instances.akri.sh")
BROKER_PORT = 8083


@pytest.fixture
def akri_crds(kube_admin_api):
    """Akri's CRDs as its Helm chart installs them; removed afterwards (and waited for), so
    other tests see a cluster without Akri."""
    extensions = k8s.ApiextensionsV1Api(kube_admin_api)
    for name in ("akri-configuration-crd.yaml", "akri-instance-crd.yaml"):
        body = yaml.safe_load((AKRI / name).read_text())
        try:
            extensions.create_custom_resource_definition(body)
        except ApiException as exc:
            if exc.status != 409:
                raise

    def established(name: str) -> bool:
        conditions = extensions.read_custom_resource_definition(name).status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    for name in CRDS:
        wait_for(lambda name=name: established(name), timeout=30)
    yield
    for name in CRDS:
        try:
            extensions.delete_custom_resource_definition(name)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def gone(name: str) -> bool:
        try:
            extensions.read_custom_resource_definition(name)
        except ApiException as exc:
            return exc.status == 404
        return False

    for name in CRDS:
        wait_for(lambda name=name: gone(name), timeout=60)


@pytest.fixture
def akri_reader(kube_admin_api):
    """The optional role of docker/rbac/, applied unchanged as an operator would."""
    try:
        utils.create_from_yaml(kube_admin_api, str(RBAC_DIR / "clusterrole-akri-reader.yaml"))
    except utils.FailToCreateError as exc:
        if any(e.status != 409 for e in exc.api_exceptions):
            raise


@pytest.fixture
def testbed_cluster(transactional_db, kube_kubeconfig, kube_namespace):
    from workloads.bootstrap import bootstrap_demo

    bootstrap_demo()
    return cluster_import(
        actor=SYSTEM, name="edge", kubeconfig=kube_kubeconfig, namespace=kube_namespace.name
    )


@pytest.fixture
def endpoints_addressing(settings, monkeypatch):
    """The test bed has no cluster DNS or kube-proxy: brokers by their pod address."""
    settings.AKRI_BROKER_ADDRESS = "endpoints"
    monkeypatch.setenv("AKRI_BROKER_ADDRESS", "endpoints")  # for a Daphne started later


def udev_configuration(namespace: str) -> dict:
    body = yaml.safe_load((AKRI / "example-udev-video-configuration.yaml").read_text())
    body["metadata"]["namespace"] = namespace
    return body


def create_instance(
    admin, namespace: str, name: str, node: str, devnode: str, *, shared: bool = False
) -> None:
    """An Instance as Akri's agent records it (no broker: for what needs no frames)."""
    suffix = name.rsplit("-", 1)[-1]
    k8s.CustomObjectsApi(admin).create_namespaced_custom_object("akri.sh", "v0", namespace, "instances", {
        "apiVersion": "akri.sh/v0", "kind": "Instance",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"configurationName": "akri-udev-video", "cdiName": f"akri.sh/akri-udev-video={suffix}",
                 "capacity": 5, "shared": shared, "nodes": [node],
                 "brokerProperties": {f"UDEV_DEVNODE_{suffix.upper()}": devnode,
                                      "RESOLUTION_WIDTH": "320"}},
    })  # fmt: skip


def add_instance(admin, namespace: str, name: str, node: str, devnode: str) -> None:
    """An Instance, a broker pod and the instance Service, as Akri's agent and controller
    make them (Service `<instance>-svc`, port 80 -> 8083, pods labelled akri.sh/instance)."""
    create_instance(admin, namespace, name, node, devnode)
    labels = {"akri.sh/instance": name, "akri.sh/configuration": "akri-udev-video"}
    core = k8s.CoreV1Api(admin)
    core.create_namespaced_pod(namespace, k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=f"{node}-{name}-pod", labels=labels),
        spec=k8s.V1PodSpec(node_name=node, containers=[k8s.V1Container(
            name="broker", image="controlpanel/media-pipeline:test",
            command=["python", "-m", "media_pipeline", "akri-broker",
                     "--source", "test:ball?width=320&height=240", "--fps", "15",
                     "--camera", devnode, "--port", str(BROKER_PORT)],
            ports=[k8s.V1ContainerPort(container_port=BROKER_PORT, name="grpc")],
        )]),
    ))  # fmt: skip
    core.create_namespaced_service(namespace, k8s.V1Service(
        metadata=k8s.V1ObjectMeta(name=f"{name}-svc", labels=labels),
        spec=k8s.V1ServiceSpec(selector={"akri.sh/instance": name}, ports=[k8s.V1ServicePort(
            name="grpc", port=80, target_port=BROKER_PORT)]),
    ))  # fmt: skip


def delete_instance(admin, namespace: str, name: str) -> None:
    k8s.CustomObjectsApi(admin).delete_namespaced_custom_object(
        "akri.sh", "v0", namespace, "instances", name
    )


def test_a_cluster_without_akris_crds_says_akri_is_not_installed(
    testbed_cluster, operator_api, operator_client, request
):
    """Least privilege first: without the optional role the panel says which role to apply;
    with it, a cluster without Akri's CRDs says Akri is not installed."""
    url = f"/api/clusters/{testbed_cluster.pk}/akri/"
    body = operator_api.get(url).json()
    assert body["installed"] is False
    assert "docker/rbac/clusterrole-akri-reader.yaml" in body["error"]
    request.getfixturevalue("akri_reader")
    body = operator_api.get(url).json()
    assert body["installed"] is False and body["error"] == ""
    assert body["configurations"] == [] and body["instances"] == []
    page = operator_client.get(f"/clusters/{testbed_cluster.pk}/akri/").content.decode()
    assert "Akri is not installed" in page


@pytest.mark.usefixtures("asgi_app", "akri_crds", "akri_reader", "endpoints_addressing")
def test_akri_instances_become_cameras_whose_frames_reach_viewers(
    testbed_cluster, kube_namespace, kube_pod_network, kube_admin_api, celery_worker,
    operator_api, viewer_user,
):  # fmt: skip
    """The camera appears with its node and device; the first viewer starts a stream pod next
    to the broker and receives its frames through the relay; a second instance adds a second
    camera; a deleted instance leaves its camera gone (its stream stopped), and it comes back
    with the instance."""
    from cameras.akri import akri_cameras_sync
    from cameras.models import Camera
    from workloads.choices import ACTIVE_STATES

    namespace = kube_namespace.name
    custom = k8s.CustomObjectsApi(kube_admin_api)
    custom.create_namespaced_custom_object(
        "akri.sh", "v0", namespace, "configurations", udev_configuration(namespace)
    )
    add_instance(
        kube_admin_api, namespace, "akri-udev-video-8120fe", "standin-cpu-1", "/dev/video0"
    )

    inventory = operator_api.get(f"/api/clusters/{testbed_cluster.pk}/akri/").json()
    assert inventory["installed"] is True and inventory["scope"] == "cluster"
    [configuration] = inventory["configurations"]
    assert configuration["discovery_handler"] == "udev" and configuration["capacity"] == 5
    assert configuration["is_camera"] is True
    assert configuration["broker_image"].endswith("udev-video-broker:latest-dev")
    [instance] = inventory["instances"]
    assert instance["nodes"] == ["standin-cpu-1"] and instance["device"] == "/dev/video0"
    assert instance["service"] == "akri-udev-video-8120fe-svc"

    result = akri_cameras_sync(cluster_id=testbed_cluster.pk)
    assert result.added == ["akri-udev-video-8120fe (edge)"]
    listed = operator_api.get("/api/cameras/?discovered_by_akri=true").json()["results"]
    [camera] = listed
    assert camera["discovered_by_akri"] and camera["akri_nodes"] == ["standin-cpu-1"]
    assert camera["akri_device"] == "/dev/video0" and camera["gone"] is False
    assert camera["cluster"] == "edge" and camera["run"] is None  # no viewer yet: no stream

    token = token_for(viewer_user)

    async def watch(camera_id: int) -> list[tuple[int, int, bytes]]:
        comm = communicator(f"/ws/cameras/{camera_id}/frames/", token=token)
        assert (await comm.connect())[0]
        frames = [await next_frame(comm, timeout=120) for _ in range(5)]
        await comm.disconnect()
        return frames

    frames = asyncio.run(watch(camera["id"]))
    seqs = [seq for seq, _captured, _jpeg in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    assert all(jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9" for _s, _c, jpeg in frames)
    stream_run = Camera.objects.select_related("run").get(pk=camera["id"]).run
    assert stream_run.params["source"].startswith("akri://198.1")
    assert stream_run.params["source"].endswith(f":{BROKER_PORT}")

    add_instance(
        kube_admin_api, namespace, "akri-udev-video-a33f02", "standin-gpu-1", "/dev/video2"
    )
    second = akri_cameras_sync(cluster_id=testbed_cluster.pk)
    assert second.added == ["akri-udev-video-a33f02 (edge)"] and second.gone == []

    delete_instance(kube_admin_api, namespace, "akri-udev-video-8120fe")
    third = akri_cameras_sync(cluster_id=testbed_cluster.pk)
    assert third.gone == ["akri-udev-video-8120fe (edge)"]
    gone = operator_api.get(f"/api/cameras/{camera['id']}/").json()
    assert gone["gone"] is True and gone["gone_at"]
    stream_run.refresh_from_db()
    wait_for(lambda: stream_run.__class__.objects.get(pk=stream_run.pk).state not in ACTIVE_STATES,
             timeout=60)  # fmt: skip
    assert len(operator_api.get("/api/cameras/").json()["results"]) == 2  # kept, not deleted

    k8s.CustomObjectsApi(kube_admin_api).create_namespaced_custom_object(
        "akri.sh", "v0", namespace, "instances", {
            "apiVersion": "akri.sh/v0", "kind": "Instance",
            "metadata": {"name": "akri-udev-video-8120fe", "namespace": namespace},
            "spec": {"configurationName": "akri-udev-video", "cdiName": "x", "capacity": 5,
                     "nodes": ["standin-cpu-1"], "brokerProperties": {"UDEV_DEVNODE_X": "/dev/video0"}},
        },
    )  # fmt: skip
    back = akri_cameras_sync(cluster_id=testbed_cluster.pk)
    assert back.back == ["akri-udev-video-8120fe (edge)"] and back.added == []
    assert operator_api.get(f"/api/cameras/{camera['id']}/").json()["gone"] is False


@pytest.mark.browser
@pytest.mark.usefixtures("akri_crds", "akri_reader", "endpoints_addressing")
def test_a_kept_running_akri_camera_shows_live_frames_in_a_browser(
    testbed_cluster, kube_namespace, kube_pod_network, kube_admin_api, celery_worker,
    daphne_server, page,
):  # fmt: skip
    """A camera set to keep running gets its stream at sync time; the browser shows it on the
    wall as discovered by Akri with its node and device, and its picture changes live."""
    from cameras.akri import akri_cameras_sync
    from cameras.models import Camera
    from core.choices import Role
    from tests.browser.test_live import log_in
    from tests.factories import UserFactory

    namespace = kube_namespace.name
    k8s.CustomObjectsApi(kube_admin_api).create_namespaced_custom_object(
        "akri.sh", "v0", namespace, "configurations", udev_configuration(namespace)
    )
    add_instance(
        kube_admin_api, namespace, "akri-udev-video-77aa01", "standin-cpu-1", "/dev/video4"
    )
    akri_cameras_sync(cluster_id=testbed_cluster.pk)
    camera = Camera.objects.get(akri_instance="akri-udev-video-77aa01")
    camera.keep_running = True
    camera.save(update_fields=["keep_running"])
    result = akri_cameras_sync(cluster_id=testbed_cluster.pk)
    assert result.streams_started  # started without any viewer

    UserFactory(username="vera", role=Role.VIEWER)
    log_in(page, daphne_server, "vera")
    page.goto(f"{daphne_server}/cameras/")
    tile = page.locator(f"figure[data-camera-id='{camera.pk}']")
    assert "discovered by Akri" in tile.inner_text()
    assert "standin-cpu-1" in tile.inner_text() and "/dev/video4" in tile.inner_text()
    selector = f"figure[data-camera-id='{camera.pk}'] img.frame"
    page.wait_for_function(
        f'document.querySelector("{selector}").dataset.seq !== undefined', timeout=120_000
    )
    first = tile.locator("img.frame").get_attribute("data-seq")
    page.wait_for_function(
        f"document.querySelector(\"{selector}\").dataset.seq !== '{first}'"
        f' && document.querySelector("{selector}").naturalWidth === 320'
    )
    assert tile.locator(".live-state").inner_text() == "live"

    # The cluster page reads what Akri has there as it loads: a second, shared instance too.
    create_instance(kube_admin_api, namespace, "akri-udev-video-5a4ed0", "standin-gpu-1",
                    "/dev/video5", shared=True)  # fmt: skip
    page.goto(f"{daphne_server}/clusters/{testbed_cluster.pk}/")
    instances = page.locator("#akri table.akri-instances tbody tr")
    instances.first.wait_for()
    [configuration] = page.locator("#akri table.akri-configurations tbody tr").all()
    assert configuration.locator("td").all_inner_texts() == [
        "akri-udev-video", namespace, "udev", "5",
        "ghcr.io/project-akri/akri/udev-video-broker:latest-dev", "yes",
    ]  # fmt: skip
    rows = [row.locator("td").all_inner_texts() for row in instances.all()]
    assert [row[:5] for row in rows] == [
        ["akri-udev-video-5a4ed0", "akri-udev-video", "standin-gpu-1", "yes", "/dev/video5"],
        ["akri-udev-video-77aa01", "akri-udev-video", "standin-cpu-1", "no", "/dev/video4"],
    ]
    assert sorted(rows[0][5].split()) == [
        "RESOLUTION_WIDTH=320", "UDEV_DEVNODE_5A4ED0=/dev/video5"
    ]  # fmt: skip
    assert "UDEV_DEVNODE_77AA01=/dev/video4" in rows[1][5].split()


def allowed(api, namespace: str, resource: str, *, group: str, verb: str) -> bool:
    review = {"spec": {"resourceAttributes": {
        "namespace": namespace, "verb": verb, "resource": resource, "group": group}}}  # fmt: skip
    return k8s.AuthorizationV1Api(api).create_self_subject_access_review(review).status.allowed


def tile_of(page: str, camera_id: int) -> str:
    """The wall's (or camera page's) tile of one camera, as HTML."""
    start = page.index(f'data-camera-id="{camera_id}"')
    return page[start : page.index("</figure>", start)]


@pytest.mark.usefixtures("akri_crds", "akri_reader")
def test_the_refresh_follows_instances_and_a_gone_camera_keeps_its_history_and_viewers(
    testbed_cluster, kube_namespace, kube_admin_api, celery_worker, admin_api, operator_api,
    viewer_api, viewer_user, operator_user,
):  # fmt: skip
    """Operators and admins (not viewers) ask for a sync with the API or the wall's button,
    beat by its schedule's task name; each runs on the worker. A new instance becomes a camera;
    a deleted one leaves it gone, still restricted to its viewers and shown so on the wall and
    its page; the instance back, the same camera is live again with the same viewers."""
    from django.conf import settings
    from django.test import Client

    from cameras.models import Camera
    from controlpanel.celery import app
    from core.models import AuditEvent

    namespace, name = kube_namespace.name, "akri-udev-video-5e11a0"
    k8s.CustomObjectsApi(kube_admin_api).create_namespaced_custom_object(
        "akri.sh", "v0", namespace, "configurations", udev_configuration(namespace)
    )
    create_instance(kube_admin_api, namespace, name, "standin-cpu-1", "/dev/video6")
    vera, otto, victor = Client(), Client(), Client()
    vera.force_login(viewer_user)
    otto.force_login(operator_user)
    victor.force_login(UserFactory(username="victor", role=Role.VIEWER))

    def camera(**state) -> Camera | None:
        return Camera.objects.filter(akri_instance=name, **state).first()

    assert viewer_api.post("/api/cameras/akri-refresh/").status_code == 403
    assert vera.post("/cameras/akri-refresh/").status_code == 403
    assert AuditEvent.objects.filter(action="refused").count() == 2
    assert "Find Akri cameras" not in vera.get("/cameras/").content.decode()

    queued = operator_api.post("/api/cameras/akri-refresh/")
    assert queued.status_code == 202 and queued.json() == {"detail": "Akri discovery queued."}
    camera_id = wait_for(lambda: camera(gone_at__isnull=True), timeout=30).pk
    listed = operator_api.get(f"/api/cameras/{camera_id}/").json()
    assert listed["discovered_by_akri"] and listed["akri_device"] == "/dev/video6"
    assert listed["akri_nodes"] == ["standin-cpu-1"] and listed["gone"] is False
    restricted = admin_api.patch(
        f"/api/cameras/{camera_id}/", {"restricted": True, "viewer_users": ["vera"]}, format="json"
    )
    assert restricted.status_code == 200, restricted.content

    delete_instance(kube_admin_api, namespace, name)
    assert admin_api.post("/api/cameras/akri-refresh/").status_code == 202
    wait_for(lambda: camera(gone_at__isnull=False), timeout=30)
    gone = viewer_api.get(f"/api/cameras/{camera_id}/").json()
    assert gone["gone"] is True and gone["gone_at"]
    assert gone["restricted"] is True and gone["viewer_users"] == ["vera"]
    assert 'class="badge gone' in tile_of(vera.get("/cameras/").content.decode(), camera_id)
    assert 'class="badge gone' in tile_of(
        vera.get(f"/cameras/{camera_id}/").content.decode(), camera_id
    )
    assert victor.get(f"/cameras/{camera_id}/").status_code == 404  # still not his camera

    create_instance(kube_admin_api, namespace, name, "standin-gpu-1", "/dev/video6")
    clicked = otto.post("/cameras/akri-refresh/")
    assert clicked.status_code == 302 and clicked["Location"] == "/cameras/"
    back = wait_for(lambda: camera(gone_at__isnull=True), timeout=30)
    assert back.pk == camera_id and Camera.objects.filter(akri_instance=name).count() == 1
    body = viewer_api.get(f"/api/cameras/{camera_id}/").json()
    assert body["gone"] is False and body["akri_nodes"] == ["standin-gpu-1"]
    assert body["restricted"] is True and body["viewer_users"] == ["vera"]
    assert "badge gone" not in tile_of(vera.get("/cameras/").content.decode(), camera_id)
    assert victor.get(f"/cameras/{camera_id}/").status_code == 404

    # Beat sends its entry's task by name, as here; the worker must know it.
    entry = settings.CELERY_BEAT_SCHEDULE["cameras-akri-sync"]
    assert entry["task"] in app.tasks
    create_instance(kube_admin_api, namespace, "akri-udev-video-b0a7c1", "standin-cpu-1",
                    "/dev/video8")  # fmt: skip
    app.send_task(entry["task"])
    wait_for(lambda: Camera.objects.filter(akri_instance="akri-udev-video-b0a7c1").exists(),
             timeout=30)  # fmt: skip


@pytest.mark.usefixtures("akri_crds", "akri_reader")
def test_a_cluster_that_cannot_be_reached_leaves_its_akri_cameras_and_streams_alone(
    testbed_cluster, kube_namespace, kube_admin_api, kube_kubeconfig, celery_worker,
    operator_client, caplog,
):  # fmt: skip
    """ "Unreachable" is not "no instances": while the API server does not answer, a sync
    changes no camera and stops no stream, and says why (task result, log, cluster page);
    reachable again, the instance deleted meanwhile leaves its camera gone."""
    from cameras.akri import akri_cameras_sync
    from cameras.models import Camera
    from cameras.tasks import akri_cameras_sync_task
    from clusters.services import credential_update
    from core.models import AuditEvent
    from workloads.choices import RunState, TemplateKind
    from workloads.models import Run, WorkloadTemplate

    namespace, name = kube_namespace.name, "akri-udev-video-c4fe02"
    k8s.CustomObjectsApi(kube_admin_api).create_namespaced_custom_object(
        "akri.sh", "v0", namespace, "configurations", udev_configuration(namespace)
    )
    create_instance(kube_admin_api, namespace, name, "standin-cpu-1", "/dev/video1")
    assert akri_cameras_sync(cluster_id=testbed_cluster.pk).added == [f"{name} (edge)"]
    camera = Camera.objects.get(akri_instance=name)
    # A stream as a viewer would have started it (its pod is beside the point here).
    camera.run = Run.objects.create(
        template=WorkloadTemplate.objects.get(kind=TemplateKind.CAMERA_STREAM, is_preset=True),
        cluster=testbed_cluster, state=RunState.RUNNING, params={"source": "akri://198.18.0.9:8083"},
    )  # fmt: skip
    camera.save(update_fields=["run"])
    delete_instance(kube_admin_api, namespace, name)

    nowhere = yaml.safe_load(kube_kubeconfig)
    nowhere["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    credential_update(
        actor=SYSTEM, credential=testbed_cluster.credential, kubeconfig=yaml.safe_dump(nowhere)
    )
    with caplog.at_level("INFO", logger="cameras.akri"):
        status = akri_cameras_sync_task.apply(args=[testbed_cluster.pk]).get()
    assert status["gone"] == [] and status["error"].startswith("Cluster unreachable")
    assert "cluster edge: Akri cameras not synced: Cluster unreachable" in caplog.text
    camera.refresh_from_db()
    assert camera.gone_at is None and camera.run.state == RunState.RUNNING
    assert not AuditEvent.objects.filter(action="cancel").exists()
    page = operator_client.get(f"/clusters/{testbed_cluster.pk}/akri/").content.decode()
    assert "Cluster unreachable" in page and "Akri is not installed" not in page

    credential_update(
        actor=SYSTEM, credential=testbed_cluster.credential, kubeconfig=kube_kubeconfig
    )
    assert akri_cameras_sync(cluster_id=testbed_cluster.pk).gone == [f"{name} (edge)"]
    camera.refresh_from_db()
    assert camera.gone_at is not None
    wait_for(lambda: Run.objects.get(pk=camera.run_id).state == RunState.CANCELLED, timeout=30)


@pytest.mark.usefixtures("akri_crds", "akri_reader")
def test_a_read_narrowed_to_one_namespace_leaves_the_cameras_of_other_namespaces_alone(
    testbed_cluster, kube_namespace, kube_admin_api, kube_api,
):  # fmt: skip
    """Without the cluster-wide reader role the panel reads Akri only in its own namespace (as
    granted there): an instance elsewhere is unknown then, not gone."""
    from cameras.akri import akri_cameras_sync
    from cameras.models import Camera

    here, there = kube_namespace.name, "default"
    custom = k8s.CustomObjectsApi(kube_admin_api)
    for namespace in (here, there):
        custom.create_namespaced_custom_object(
            "akri.sh", "v0", namespace, "configurations", udev_configuration(namespace)
        )
    create_instance(kube_admin_api, here, "akri-udev-video-d1a001", "standin-cpu-1", "/dev/video1")
    create_instance(kube_admin_api, there, "akri-udev-video-d1a002", "standin-gpu-1", "/dev/video2")
    assert len(akri_cameras_sync(cluster_id=testbed_cluster.pk).added) == 2

    rbac = k8s.RbacAuthorizationV1Api(kube_admin_api)
    binding = rbac.read_cluster_role_binding("controlpanel-akri-reader")
    rbac.delete_cluster_role_binding(binding.metadata.name)
    try:
        rbac.create_namespaced_role_binding(here, k8s.V1RoleBinding(
            metadata=k8s.V1ObjectMeta(name="controlpanel-akri-reader"),
            role_ref=binding.role_ref, subjects=binding.subjects,
        ))  # fmt: skip
        wait_until_allowed(kube_api, here, "instances", group="akri.sh", verb="list")
        wait_for(lambda: not allowed(kube_api, "", "instances", group="akri.sh", verb="list"))
        delete_instance(kube_admin_api, here, "akri-udev-video-d1a001")
        narrowed = akri_cameras_sync(cluster_id=testbed_cluster.pk)
        assert narrowed.error == "" and narrowed.gone == ["akri-udev-video-d1a001 (edge)"]
        assert Camera.objects.get(akri_instance="akri-udev-video-d1a002").gone_at is None
    finally:
        rbac.create_cluster_role_binding(k8s.V1ClusterRoleBinding(
            metadata=k8s.V1ObjectMeta(name=binding.metadata.name),
            role_ref=binding.role_ref, subjects=binding.subjects,
        ))  # fmt: skip
        wait_until_allowed(kube_api, "", "instances", group="akri.sh", verb="list")
