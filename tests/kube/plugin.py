"""pytest plugin: the Kubernetes test bed as fixtures.

Register with `pytest_plugins = ["tests.kube.plugin"]` in the root tests/conftest.py. Fixtures:

    kube_testbed           session  KubeTestbed: the running control plane + stand-in kubelet
    kube_kubeconfig        session  str: kubeconfig TEXT for the panel's least-privilege identity
    kube_admin_kubeconfig  session  str: kubeconfig TEXT for a cluster admin (system:masters)
    kube_api               session  kubernetes.client.ApiClient as the panel's identity
    kube_admin_api         session  kubernetes.client.ApiClient as admin
    kube_namespace         function KubeNamespace: a fresh namespace the panel may work in,
                                    deleted (Background propagation) after the test

Every test using them must carry `@pytest.mark.kubernetes` (checked at collection). When the
control plane is not built, those tests are skipped with the reason; set KUBE_TESTBED_REQUIRED=1
to make that an error instead (e.g. in CI once the build is known to work there).
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import utils
from kubernetes.client.exceptions import ApiException
from kubernetes.config.kube_config import new_client_from_config_dict

from tests.kube.controlplane import ControlPlane, TestbedUnavailable, find_binaries
from tests.kube.kubelet_network import NetnsPodNetwork, netns_available
from tests.kube.standin_kubelet import NodeSpec, StandinKubelet

RBAC_DIR = Path(__file__).resolve().parents[2] / "docker" / "rbac"
PANEL_NAMESPACE = "controlpanel-system"
PANEL_ACCOUNT = "controlpanel"
NODES = [
    NodeSpec("standin-cpu-1", {"cpu": "4", "memory": "16Gi", "pods": "110"}),
    NodeSpec(
        "standin-gpu-1",
        {"cpu": "8", "memory": "32Gi", "pods": "110", "nvidia.com/gpu": "2"},
        {"accelerator": "nvidia"},
    ),
    # A GPU node whose NVIDIA device plugin is missing: labelled, but no nvidia.com/gpu.
    NodeSpec(
        "standin-gpu-noplugin-1",
        {"cpu": "8", "memory": "32Gi", "pods": "110"},
        {"accelerator": "nvidia"},
    ),
]
KUBE_FIXTURES = {
    "kube_testbed", "kube_kubeconfig", "kube_admin_kubeconfig", "kube_api", "kube_admin_api",
    "kube_namespace",
}  # fmt: skip


@dataclass
class KubeTestbed:
    control_plane: ControlPlane
    kubelet: StandinKubelet
    admin_kubeconfig: str
    panel_kubeconfig: str
    volumes_root: Path
    started_in: float  # seconds, control plane + kubelet + RBAC

    @property
    def server(self) -> str:
        return self.control_plane.server

    def admin_client(self) -> k8s.ApiClient:
        return client_from_text(self.admin_kubeconfig)

    def panel_client(self) -> k8s.ApiClient:
        return client_from_text(self.panel_kubeconfig)


@dataclass
class KubeNamespace:
    name: str
    volumes: Path  # where the stand-in kubelet maps this namespace's volumes

    def claim_dir(self, claim: str) -> Path:
        """Local directory behind PersistentVolumeClaim `claim` in this namespace."""
        return self.volumes / "pvc" / claim


def client_from_text(kubeconfig: str) -> k8s.ApiClient:
    return new_client_from_config_dict(yaml.safe_load(kubeconfig), persist_config=False)


# -- the session's one test bed ----------------------------------------------------------------
# Module-level, so that the plugin registered twice (root conftest and a local import) still
# starts a single control plane per session.
_testbed: KubeTestbed | None = None
_unavailable: str | None = None


def _start_testbed(config: pytest.Config) -> KubeTestbed:
    global _testbed, _unavailable
    if _testbed is not None:
        return _testbed
    if _unavailable is None:
        try:
            find_binaries()
        except TestbedUnavailable as exc:
            _unavailable = str(exc)
    if _unavailable is not None:
        if os.environ.get("KUBE_TESTBED_REQUIRED") == "1":
            pytest.fail(_unavailable, pytrace=False)
        pytest.skip(_unavailable)
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="controlpanel-kube-"))
    control_plane = ControlPlane(work).start()
    config.add_cleanup(lambda: _stop(control_plane, work))
    admin = client_from_text(control_plane.admin_kubeconfig())
    panel_token = _apply_rbac(admin)
    # The first namespace waits for the ServiceAccount controller to start: pay that here.
    wait_for_default_service_account(admin, "default")
    kubelet_client = client_from_text(
        control_plane.kubeconfig(control_plane.tokens.kubelet, "standin-kubelet")
    )
    volumes = work / "volumes"
    # Pods get addresses of their own only in namespaces that ask (`kube_pod_network`).
    network = NetnsPodNetwork()
    kubelet = StandinKubelet(
        kubelet_client, NODES, control_plane.pki, volumes, work / "pod-logs",
        pod_ips=network, launcher=network,
    ).start()  # fmt: skip
    config.add_cleanup(network.release_all)  # after kubelet.stop: its pods' namespaces go last
    config.add_cleanup(kubelet.stop)  # cleanups run last-in first-out: kubelet before servers
    _testbed = KubeTestbed(
        control_plane=control_plane,
        kubelet=kubelet,
        admin_kubeconfig=control_plane.admin_kubeconfig(),
        panel_kubeconfig=control_plane.kubeconfig(panel_token, PANEL_ACCOUNT),
        volumes_root=volumes,
        started_in=time.monotonic() - began,
    )
    return _testbed


def _stop(control_plane: ControlPlane, work: Path) -> None:
    global _testbed
    _testbed = None
    control_plane.stop()
    if os.environ.get("KUBE_TESTBED_KEEP") != "1":  # keep logs for a post-mortem on request
        shutil.rmtree(work, ignore_errors=True)


def _apply_rbac(admin: k8s.ApiClient) -> str:
    """Apply docker/rbac/ unchanged and return the panel ServiceAccount's token."""
    for name in (
        "serviceaccount.yaml",
        "clusterrole.yaml",
        "clusterrole-workloads.yaml",
        "clusterrole-namespace-provisioner.yaml",
    ):
        utils.create_from_yaml(admin, str(RBAC_DIR / name))
    core = k8s.CoreV1Api(admin)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the token controller fills the Secret in
        secret = core.read_namespaced_secret("controlpanel-token", PANEL_NAMESPACE)
        if secret.data and secret.data.get("token"):
            return base64.b64decode(secret.data["token"]).decode()
        time.sleep(0.2)
    raise RuntimeError("the token controller never filled in controlpanel-token")


def grant_panel(admin: k8s.ApiClient, namespace: str) -> None:
    """What an operator does per namespace: docker/rbac/rolebinding-namespace.yaml."""
    body = yaml.safe_load((RBAC_DIR / "rolebinding-namespace.yaml").read_text())
    body["metadata"]["namespace"] = namespace
    k8s.RbacAuthorizationV1Api(admin).create_namespaced_role_binding(namespace, body)


def wait_until_allowed(
    api: k8s.ApiClient,
    namespace: str,
    resource: str,
    group: str = "",
    verb: str = "create",
    timeout: float = 30,
) -> None:
    """RBAC is eventually consistent: the API server's authorizer reads bindings from an informer
    cache, so a RoleBinding just created may not grant anything yet. Ask as `api`'s identity."""
    auth = k8s.AuthorizationV1Api(api)
    attributes = {"namespace": namespace, "verb": verb, "resource": resource, "group": group}
    review = {"spec": {"resourceAttributes": attributes}}
    deadline = time.monotonic() + timeout
    while not auth.create_self_subject_access_review(review).status.allowed:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{verb} {resource} in {namespace} still refused after {timeout}s")
        time.sleep(0.05)


def wait_for_default_service_account(admin: k8s.ApiClient, namespace: str) -> None:
    """Pods are refused until the namespace's default ServiceAccount has its token (1.20)."""
    core = k8s.CoreV1Api(admin)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if core.read_namespaced_service_account("default", namespace).secrets:
                return
        except ApiException as exc:
            if exc.status != 404:
                raise
        time.sleep(0.1)
    raise RuntimeError(f"namespace {namespace}: default ServiceAccount never got its token")


def namespace_name(test_name: str) -> str:
    stem = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")[:40].strip("-")
    return f"t-{stem}-{secrets.token_hex(3)}"


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kube_testbed(request: pytest.FixtureRequest) -> KubeTestbed:
    return _start_testbed(request.config)


@pytest.fixture(scope="session")
def kube_kubeconfig(kube_testbed: KubeTestbed) -> str:
    return kube_testbed.panel_kubeconfig


@pytest.fixture(scope="session")
def kube_admin_kubeconfig(kube_testbed: KubeTestbed) -> str:
    return kube_testbed.admin_kubeconfig


@pytest.fixture(scope="session")
def kube_api(kube_testbed: KubeTestbed) -> k8s.ApiClient:
    return kube_testbed.panel_client()


@pytest.fixture(scope="session")
def kube_admin_api(kube_testbed: KubeTestbed) -> k8s.ApiClient:
    return kube_testbed.admin_client()


@pytest.fixture
def kube_namespace(
    request: pytest.FixtureRequest,
    kube_testbed: KubeTestbed,
    kube_admin_api: k8s.ApiClient,
    kube_api: k8s.ApiClient,
) -> Iterator[KubeNamespace]:
    name = namespace_name(request.node.name)
    core = k8s.CoreV1Api(kube_admin_api)
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    grant_panel(kube_admin_api, name)
    wait_for_default_service_account(kube_admin_api, name)
    wait_until_allowed(kube_api, name, "jobs", group="batch")
    yield KubeNamespace(name=name, volumes=kube_testbed.volumes_root / name)
    # Background: return at once; the namespace controller and kubelet finish the cleanup.
    try:
        core.delete_namespace(name, propagation_policy="Background")
    except ApiException as exc:
        if exc.status != 404:  # the test may have deleted it itself
            raise


@pytest.fixture
def kube_pod_network(kube_testbed: KubeTestbed, kube_namespace: KubeNamespace) -> Iterator[str]:
    """Opt `kube_namespace` in to pod networking: its pods get a 198.18.0.0/15 address in a
    network namespace of their own, so Services have endpoints and the API server's service
    proxy reaches them. Yields the host-side gateway address."""
    why_not = netns_available()
    if why_not:
        if os.environ.get("KUBE_TESTBED_REQUIRED") == "1":
            pytest.fail(f"pod networking unavailable: {why_not}", pytrace=False)
        pytest.skip(f"pod networking unavailable: {why_not}")
    network = kube_testbed.kubelet.pod_ips
    network.opt_in(kube_namespace.name)
    yield network.gateway
    network.opt_out(kube_namespace.name)


# -- reporting -------------------------------------------------------------------------------


def pytest_terminal_summary(terminalreporter) -> None:
    """Say how long the test bed took to start, and what went wrong inside the kubelet."""
    testbed = _testbed
    if testbed is None or getattr(terminalreporter, "_kube_testbed_reported", False):
        return  # not started, or already reported (the plugin may be registered twice)
    terminalreporter._kube_testbed_reported = True
    terminalreporter.write_line(
        f"Kubernetes test bed: v1.20.2 at {testbed.server}, started in {testbed.started_in:.1f}s "
        f"(control plane {testbed.control_plane.started_in:.1f}s)"
    )
    for message in testbed.kubelet.errors:
        terminalreporter.write_line(f"stand-in kubelet: {message}", yellow=True)


# -- marker check ------------------------------------------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that talks to Kubernetes must say so, so `-m kubernetes` selects exactly those."""
    unmarked = [
        item.nodeid for item in items
        if KUBE_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("kubernetes") is None
    ]  # fmt: skip
    if unmarked:
        raise pytest.UsageError(
            "tests using the Kubernetes test bed must be marked @pytest.mark.kubernetes: "
            + ", ".join(unmarked)
        )
