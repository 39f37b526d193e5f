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
from core.services import SYSTEM
from tests.cameras.test_socket import next_frame
from tests.conftest import wait_for
from tests.fixtures.live import communicator, token_for
from tests.kube.plugin import RBAC_DIR

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


def add_instance(admin, namespace: str, name: str, node: str, devnode: str) -> None:
    """An Instance, a broker pod and the instance Service, as Akri's agent and controller
    make them (Service `<instance>-svc`, port 80 -> 8083, pods labelled akri.sh/instance)."""
    custom = k8s.CustomObjectsApi(admin)
    suffix = name.rsplit("-", 1)[-1]
    custom.create_namespaced_custom_object("akri.sh", "v0", namespace, "instances", {
        "apiVersion": "akri.sh/v0", "kind": "Instance",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"configurationName": "akri-udev-video", "cdiName": f"akri.sh/akri-udev-video={suffix}",
                 "capacity": 5, "shared": False, "nodes": [node],
                 "brokerProperties": {f"UDEV_DEVNODE_{suffix.upper()}": devnode,
                                      "RESOLUTION_WIDTH": "320"}},
    })  # fmt: skip
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
