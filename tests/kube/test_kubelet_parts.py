"""The stand-in kubelet's and test bed's pure parts, without a cluster (not marked kubernetes)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s

from tests.kube.kubelet_containers import expand, runnable_argv
from tests.kube.kubelet_network import RangePodIPs
from tests.kube.kubelet_volumes import Mount, rewrite_path
from tests.kube.manifests import assert_valid_manifest
from tests.kube.plugin import RBAC_DIR
from tests.kube.standin_kubelet import NodeSpec


def container(command=None, args=None, image="busybox") -> k8s.V1Container:
    return k8s.V1Container(name="c", image=image, command=command, args=args)


@pytest.mark.parametrize(
    ("command", "args", "image"),
    [
        (["python", "-m", "media_pipeline"], ["lanes", "a.jpg"], "x"),
        (["python3", "-m", "media_pipeline", "lanes"], ["a.jpg"], "x"),
        (["/usr/local/bin/python3.11", "-m", "media_pipeline", "lanes", "a.jpg"], None, "x"),
        (None, ["lanes", "a.jpg"], "registry.example/controlpanel/media-pipeline:1.0"),
    ],
)
def test_pipeline_commands_run_with_this_interpreter(command, args, image) -> None:
    argv = runnable_argv(container(command, args, image))
    assert argv == [sys.executable, "-m", "media_pipeline", "lanes", "a.jpg"]


@pytest.mark.parametrize(
    ("command", "args", "image"),
    [
        (["sh", "-c", "python -m media_pipeline lanes"], None, "busybox"),
        (["python", "-m", "http.server"], None, "python:3.11"),
        (None, ["lanes"], "nginx:1.25"),  # unknown image entrypoint
    ],
)
def test_other_commands_are_scripted_not_run(command, args, image) -> None:
    assert runnable_argv(container(command, args, image)) is None


def test_mount_paths_are_rewritten_in_arguments() -> None:
    mounts = [Mount("/data/in", Path("/t/in")), Mount("/data", Path("/t/pvc"))]  # longest first
    assert rewrite_path("/data/in/a.jpg", mounts) == "/t/in/a.jpg"
    assert rewrite_path("/data", mounts) == "/t/pvc"
    assert rewrite_path("--output=/data/out", mounts) == "--output=/t/pvc/out"
    assert rewrite_path("photos=/data/in", mounts) == "photos=/t/in"  # faces-serve --volume
    assert rewrite_path("a=/database", mounts) == "a=/database"
    assert rewrite_path("/database", mounts) == "/database"  # a prefix, not a path below
    assert rewrite_path("lanes", mounts) == "lanes"


def test_variable_references_expand_like_kubernetes() -> None:
    env = {"POD_NAME": "job-x1"}
    assert expand("/out/$(POD_NAME)", env) == "/out/job-x1"
    assert expand("$$(POD_NAME)", env) == "$(POD_NAME)"
    assert expand("$(MISSING)", env) == "$(MISSING)"


def test_node_spec_parses_capacity_and_labels() -> None:
    spec = NodeSpec.parse("name=gpu-1,cpu=8,nvidia.com/gpu=1,label:pool=gpu")
    assert spec.name == "gpu-1"
    assert spec.capacity["nvidia.com/gpu"] == "1" and spec.capacity["cpu"] == "8"
    assert spec.labels == {"pool": "gpu"}


def test_pod_ips_come_from_the_range_and_are_reused() -> None:
    ips = RangePodIPs("198.18.0.0/30")
    pod = lambda uid: k8s.V1Pod(metadata=k8s.V1ObjectMeta(uid=uid))  # noqa: E731
    assert ips.allocate(pod("a")) == "198.18.0.2"  # .1 is kept for the host side
    assert ips.allocate(pod("a")) == "198.18.0.2"
    ips.release("a")
    assert ips.allocate(pod("b")) == "198.18.0.2"


# kustomization.yaml lists the manifests for `kubectl apply -k`: not an object of the API.
@pytest.mark.parametrize(
    "path",
    sorted(p for p in RBAC_DIR.glob("*.yaml") if p.name != "kustomization.yaml"),
    ids=lambda p: p.name,
)
def test_rbac_manifests_are_valid_for_current_kubernetes(path: Path) -> None:
    for document in yaml.safe_load_all(path.read_text()):
        assert_valid_manifest(document)


def test_readiness_probes_pass_only_on_an_answer_below_400() -> None:
    """httpGet by port name and number, and tcpSocket, against a real local HTTP server."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from tests.kube.kubelet_probes import probe_once

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            self.send_response(200 if self.path == "/healthz" else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    main = k8s.V1Container(name="c", ports=[k8s.V1ContainerPort(name="http", container_port=port)])

    def http_probe(path: str, named_port: object) -> k8s.V1Probe:
        return k8s.V1Probe(http_get=k8s.V1HTTPGetAction(path=path, port=named_port))

    try:
        assert probe_once(http_probe("/healthz", "http"), main, "127.0.0.1")
        assert probe_once(http_probe("/healthz", port), main, "127.0.0.1")
        assert not probe_once(http_probe("/loading", "http"), main, "127.0.0.1")  # 503
        assert not probe_once(http_probe("/healthz", "metrics"), main, "127.0.0.1")  # no such port
        tcp = k8s.V1Probe(tcp_socket=k8s.V1TCPSocketAction(port=port))
        assert probe_once(tcp, main, "127.0.0.1")
    finally:
        server.shutdown()
        server.server_close()
    assert not probe_once(http_probe("/healthz", port), main, "127.0.0.1")  # nothing listens
