"""A camera on Kubernetes, relayed through the real API server's service proxy.

The stream runs as a pod of the stand-in kubelet with an address of its own (a network namespace
behind a veth pair, `kube_pod_network`), a Service selects it, the endpoints controller fills in
its address, and the panel (outside the cluster) pulls the MJPEG through
`/api/v1/namespaces/<ns>/services/<svc>:http/proxy/stream.mjpg` with its least-privilege
kubeconfig, then fans the frames out to the websocket.
"""

from __future__ import annotations

import asyncio

import pytest
from kubernetes import client as k8s

from clusters.runtimes.manifests import STREAM_PORT, object_name
from clusters.services import cluster_import
from core.services import SYSTEM
from tests.cameras.test_socket import next_frame
from tests.conftest import wait_for
from tests.fixtures.live import communicator, token_for

pytestmark = [
    pytest.mark.live,
    pytest.mark.kubernetes,
    pytest.mark.slow,
    pytest.mark.usefixtures("asgi_app"),
]


@pytest.fixture
def stream_run(transactional_db, kube_kubeconfig, kube_namespace, kube_pod_network, kube_admin_api):
    """A camera-stream run whose pod and Service exist on the test bed, as the runtime makes
    them (same Service name, port name `http`, port 8080)."""
    from workloads.bootstrap import bootstrap_demo
    from workloads.models import Run, WorkloadTemplate

    bootstrap_demo()
    cluster = cluster_import(
        actor=SYSTEM, name="testbed", kubeconfig=kube_kubeconfig, namespace=kube_namespace.name
    )
    run = Run.objects.create(
        template=WorkloadTemplate.objects.get(slug="camera-stream"), cluster=cluster,
        state="running", handle={"runtime": "kubernetes", "namespace": kube_namespace.name},
    )  # fmt: skip
    core = k8s.CoreV1Api(kube_admin_api)
    labels = {"app": f"stream-{run.pk}"}
    core.create_namespaced_pod(kube_namespace.name, k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="ball", labels=labels),
        spec=k8s.V1PodSpec(containers=[k8s.V1Container(
            name="stream", image="controlpanel/media-pipeline:test",
            command=["python", "-m", "media_pipeline", "stream", "--source", "test:ball",
                     "--port", str(STREAM_PORT)],
            ports=[k8s.V1ContainerPort(container_port=STREAM_PORT, name="http")],
        )]),
    ))  # fmt: skip
    core.create_namespaced_service(kube_namespace.name, k8s.V1Service(
        metadata=k8s.V1ObjectMeta(name=object_name(run.pk, "stream")),
        spec=k8s.V1ServiceSpec(selector=labels, ports=[k8s.V1ServicePort(
            name="http", port=STREAM_PORT, target_port=STREAM_PORT)]),
    ))  # fmt: skip
    return run


def test_frames_are_relayed_through_the_api_servers_service_proxy(
    stream_run, kube_namespace, kube_pod_network, kube_admin_api, viewer_user
):
    """The pod has its own 198.18/15 address, the Service's endpoints carry it, and a viewer
    receives JPEG frames with rising sequence numbers pulled through the API server."""
    from cameras.models import Camera
    from cameras.sources import camera_stream_target

    core = k8s.CoreV1Api(kube_admin_api)
    pod_ip = wait_for(lambda: core.read_namespaced_pod("ball", kube_namespace.name).status.pod_ip,
                      timeout=60)  # fmt: skip
    assert pod_ip.startswith(("198.18.", "198.19.")) and pod_ip != kube_pod_network

    def endpoint_ips() -> list[str]:
        endpoints = core.read_namespaced_endpoints(object_name(stream_run.pk, "stream"),
                                                   kube_namespace.name)  # fmt: skip
        return [a.ip for s in endpoints.subsets or [] for a in s.addresses or []]

    assert wait_for(endpoint_ips, timeout=60) == [pod_ip]
    camera = Camera.objects.create(name="ball", run=stream_run)
    target = camera_stream_target(camera.pk)
    assert "/services/" in target.url and target.url.endswith(":http/proxy/stream.mjpg")

    token = token_for(viewer_user)

    async def scenario() -> list[tuple[int, int, bytes]]:
        comm = communicator(f"/ws/cameras/{camera.pk}/frames/", token=token)
        assert (await comm.connect())[0]
        frames = [await next_frame(comm, timeout=60) for _ in range(5)]
        await comm.disconnect()
        return frames

    frames = asyncio.run(scenario())
    seqs = [seq for seq, _captured, _jpeg in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    assert all(jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9" for _s, _c, jpeg in frames)
