"""docker/kubernetes/: the kustomize install, rendered with the machine's kubectl, checked against
current schemas and applied (server-side, dry run) to the test bed's real API server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s

from controlpanel import settings as settings_module
from tests.kube.manifests import assert_valid_manifest

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE = ROOT / "docker" / "kubernetes"
OVERLAYS = ("trial", "production")
VALIDATE_VERSION = "1.30"
PANEL_COMPONENTS = {"web", "worker", "monitor", "faces", "beat"}
# Names the ConfigMap may set that are not the panel's own settings.
PROCESS_ENV = {"HOME"}

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl missing: `make system-packages` installs kubernetes-client"
)


def render(path: Path, kubectl: str | None = None) -> list[dict]:
    out = subprocess.run(
        [kubectl or KUBECTL, "kustomize", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_specs(objects: list[dict]) -> dict[str, dict]:
    """Every pod template, by `Kind/name`."""
    return {
        f"{o['kind']}/{o['metadata']['name']}": o["spec"]["template"]["spec"]
        for o in objects
        if o["kind"] in ("Deployment", "StatefulSet", "Job")
    }


@needs_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_renders_a_complete_locked_down_install(overlay):
    """What an admin reviews before `kubectl apply -k`: every process, probes, limits, non-root."""
    objects = render(KUSTOMIZE / "overlays" / overlay)
    for manifest in objects:
        assert_valid_manifest(manifest, VALIDATE_VERSION)

    deployments = by_kind(objects, "Deployment")
    components = {d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]: d
                  for d in deployments.values()}  # fmt: skip
    assert set(components) == PANEL_COMPONENTS
    assert components["web"]["spec"]["replicas"] >= 2
    # Beat has no leader election: one replica, and never two during a rollout.
    assert components["beat"]["spec"]["replicas"] == 1
    assert components["beat"]["spec"]["strategy"]["type"] == "Recreate"
    assert "controlpanel-migrate" in by_kind(objects, "Job")
    assert (
        by_kind(objects, "Service")["controlpanel-web"]["spec"]["ports"][0]["targetPort"] == "http"
    )
    assert {"controlpanel", "controlpanel-workloads"} <= set(by_kind(objects, "ClusterRole"))
    assert "controlpanel" in by_kind(objects, "ServiceAccount")
    claim = by_kind(objects, "PersistentVolumeClaim")["controlpanel-data"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]

    # Every Celery queue the panel routes to has a Deployment serving it.
    served = set()
    for component in ("worker", "monitor", "faces"):
        command = components[component]["spec"]["template"]["spec"]["containers"][0]["command"]
        assert command[:4] == ["celery", "-A", "controlpanel", "worker"]
        served |= set(command[command.index("-Q") + 1].split(","))
    assert served == {queue.name for queue in settings_module.CELERY_TASK_QUEUES}

    for where, spec in pod_specs(objects).items():
        pod_security = spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True, where
        assert pod_security["seccompProfile"]["type"] == "RuntimeDefault", where
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), where
            if not where.startswith("Job/"):
                assert "livenessProbe" in container, where
        if spec.get("serviceAccountName") == "controlpanel":  # a panel process
            container = spec["containers"][0]
            expected_image = {
                "trial": "controlpanel:latest",
                "production": "registry.example.com/controlpanel:1.0.0",
            }[overlay]
            assert container["image"] == expected_image, where
            sources = {next(iter(s.values()))["name"] for s in container["envFrom"]}
            assert sources == {"controlpanel-config", "controlpanel"}, where
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            volumes = {v["name"]: v for v in spec["volumes"]}
            assert (
                volumes[mounts["/data"]]["persistentVolumeClaim"]["claimName"]
                == "controlpanel-data"
            )
            assert "emptyDir" in volumes[mounts["/tmp"]], (
                where
            )  # writable scratch, root is read-only

    web = components["web"]["spec"]["template"]["spec"]["containers"][0]
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"

    # Every configured name is a setting the panel reads (a typo would be silently ignored).
    settings_source = (ROOT / "controlpanel" / "settings.py").read_text()
    read = set(re.findall(r'env_\w+\(\s*"([A-Z_]+)"', settings_source))
    config = by_kind(objects, "ConfigMap")["controlpanel-config"]["data"]
    assert set(config) - PROCESS_ENV <= read, set(config) - PROCESS_ENV - read

    statefulsets = by_kind(objects, "StatefulSet")
    if overlay == "trial":
        assert set(statefulsets) == {"controlpanel-postgres", "controlpanel-redis"}
        for statefulset in statefulsets.values():
            assert statefulset["spec"]["volumeClaimTemplates"], statefulset["metadata"]["name"]
        assert config["REDIS_URL"] == "redis://controlpanel-redis:6379/0"
    else:  # managed PostgreSQL and Redis: their URLs are in the Secret
        assert statefulsets == {}
        assert "REDIS_URL" not in config and "DATABASE_URL" not in config


# A second kubectl to render with, such as Debian's kubernetes-client 1.20 (kustomize v2) beside a
# current one (docs/testing.md says how to get it without installing it).
COMPAT_KUBECTL = os.environ.get("KUBECTL_COMPAT")


@needs_kubectl
@pytest.mark.skipif(not COMPAT_KUBECTL, reason="KUBECTL_COMPAT names no second kubectl")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_an_older_kustomize_renders_the_same_objects(overlay):
    def objects(kubectl):
        rendered = render(KUSTOMIZE / "overlays" / overlay, kubectl)
        return {(o["kind"], o["metadata"]["name"]): o for o in rendered}

    assert objects(COMPAT_KUBECTL) == objects(KUBECTL)


@needs_kubectl
def test_the_rbac_folder_is_a_kustomization_of_its_own():
    objects = render(ROOT / "docker" / "rbac")
    assert {(o["kind"], o["metadata"]["name"]) for o in objects} >= {
        ("Namespace", "controlpanel-system"),
        ("ServiceAccount", "controlpanel"),
        ("ClusterRole", "controlpanel"),
        ("ClusterRole", "controlpanel-workloads"),
        ("ClusterRoleBinding", "controlpanel"),
    }


@needs_kubectl
@pytest.mark.kubernetes
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_is_accepted_by_a_real_api_server(
    overlay, kube_admin_kubeconfig, kube_admin_api, tmp_path
):
    """`kubectl apply --server-side --dry-run=server -k`: the API server's own validation and
    defaulting of every object, as a cluster admin would apply it."""
    core = k8s.CoreV1Api(kube_admin_api)
    # A dry run cannot place objects in a namespace it only pretends to create.
    for namespace in ("controlpanel-system", "controlpanel-runs"):
        try:
            core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace)))
        except k8s.ApiException as exc:
            assert exc.status == 409, exc
    kubeconfig = tmp_path / "admin.kubeconfig"
    kubeconfig.write_text(kube_admin_kubeconfig)
    result = subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), "apply", "--server-side", "--force-conflicts",
         "--dry-run=server", "--field-manager=controlpanel-install", "-k",
         str(KUSTOMIZE / "overlays" / overlay)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rendered = render(KUSTOMIZE / "overlays" / overlay)
    applied = [line for line in result.stdout.splitlines() if line.endswith("(server dry run)")]
    assert len(applied) == len(rendered), result.stdout
    # Nothing was really created.
    assert not k8s.AppsV1Api(kube_admin_api).list_namespaced_deployment("controlpanel-system").items
