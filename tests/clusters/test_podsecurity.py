"""The Pod Security Standards checker, control by control (one row of the table per way a pod
breaks a control), on every kind that carries a pod."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial

import pytest

from clusters.podsecurity import (
    CONTROLS,
    HostPathExemption,
    check_object,
    check_objects,
    check_pod,
)

pytestmark = pytest.mark.smoke

C0 = "spec.containers[0]"


def restricted_pod() -> tuple[dict, dict]:
    """(metadata, spec) of a pod that meets every control of the restricted level."""
    return {"name": "p"}, {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [clean_container("c")],
    }


def clean_container(name: str) -> dict:
    return {
        "name": name,
        "image": "busybox",
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }


def container_sc(**fields) -> Callable[[dict, dict], None]:
    def apply(metadata, spec):
        spec["containers"][0]["securityContext"].update(fields)

    return apply


def pod_sc(**fields) -> Callable[[dict, dict], None]:
    def apply(metadata, spec):
        spec["securityContext"].update(fields)

    return apply


def spec_fields(**fields) -> Callable[[dict, dict], None]:
    def apply(metadata, spec):
        spec.update(fields)

    return apply


def annotate(key: str, value: str) -> Callable[[dict, dict], None]:
    def apply(metadata, spec):
        metadata.setdefault("annotations", {})[key] = value

    return apply


def in_list(kind: str, **security) -> Callable[[dict, dict], None]:
    def apply(metadata, spec):
        container = clean_container("extra")
        container["securityContext"].update(security)
        spec[kind] = [container]

    return apply


def container(**fields) -> Callable[[dict, dict], None]:
    def apply(metadata, spec):
        spec["containers"][0].update(fields)

    return apply


def volume(**source) -> Callable[[dict, dict], None]:
    def apply(metadata, spec):
        spec["volumes"] = [{"name": "v", **source}]
        spec["containers"][0]["volumeMounts"] = [{"name": "v", "mountPath": "/v"}]

    return apply


def unset_container(*keys: str) -> Callable[[dict, dict], None]:
    def apply(metadata, spec):
        for key in keys:
            spec["containers"][0]["securityContext"].pop(key)

    return apply


def unset_pod(*keys: str) -> Callable[[dict, dict], None]:
    def apply(metadata, spec):
        for key in keys:
            spec["securityContext"].pop(key)

    return apply


B, R = "baseline", "restricted"
# (control, its level, how the pod breaks it, the field path the violation must name)
CASES = [
    ("HostProcess", B, pod_sc(windowsOptions={"hostProcess": True}),
     "spec.securityContext.windowsOptions.hostProcess"),
    ("HostProcess", B, container_sc(windowsOptions={"hostProcess": True}),
     f"{C0}.securityContext.windowsOptions.hostProcess"),
    ("Host Namespaces", B, spec_fields(hostNetwork=True), "spec.hostNetwork"),
    ("Host Namespaces", B, spec_fields(hostPID=True), "spec.hostPID"),
    ("Host Namespaces", B, spec_fields(hostIPC=True), "spec.hostIPC"),
    ("Privileged Containers", B, container_sc(privileged=True), f"{C0}.securityContext.privileged"),
    ("Privileged Containers", B, in_list("initContainers", privileged=True),
     "spec.initContainers[0].securityContext.privileged"),
    ("Privileged Containers", B, in_list("ephemeralContainers", privileged=True),
     "spec.ephemeralContainers[0].securityContext.privileged"),
    ("Capabilities", B, container_sc(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}),
     f"{C0}.securityContext.capabilities.add[0]"),
    ("Capabilities", B, container_sc(capabilities={"drop": ["ALL"], "add": ["NET_RAW"]}),
     f"{C0}.securityContext.capabilities.add[0]"),
    ("HostPath Volumes", B, volume(hostPath={"path": "/"}), "spec.volumes[0].hostPath"),
    ("Host Ports", B, container(ports=[{"containerPort": 80, "hostPort": 8080}]),
     f"{C0}.ports[0].hostPort"),
    ("Host Probes / Lifecycle Hooks", B,
     container(livenessProbe={"httpGet": {"port": 80, "host": "10.0.0.1"}}),
     f"{C0}.livenessProbe.httpGet.host"),
    ("Host Probes / Lifecycle Hooks", B,
     container(lifecycle={"preStop": {"tcpSocket": {"port": 80, "host": "metadata"}}}),
     f"{C0}.lifecycle.preStop.tcpSocket.host"),
    ("AppArmor", B, annotate("container.apparmor.security.beta.kubernetes.io/c", "unconfined"),
     "metadata.annotations['container.apparmor.security.beta.kubernetes.io/c']"),
    ("AppArmor", B, pod_sc(appArmorProfile={"type": "Unconfined"}),
     "spec.securityContext.appArmorProfile.type"),
    ("AppArmor", B, container_sc(appArmorProfile={"type": "Unconfined"}),
     f"{C0}.securityContext.appArmorProfile.type"),
    ("SELinux", B, pod_sc(seLinuxOptions={"type": "spc_t"}),
     "spec.securityContext.seLinuxOptions.type"),
    ("SELinux", B, container_sc(seLinuxOptions={"user": "system_u"}),
     f"{C0}.securityContext.seLinuxOptions.user"),
    ("SELinux", B, container_sc(seLinuxOptions={"role": "sysadm_r"}),
     f"{C0}.securityContext.seLinuxOptions.role"),
    ("/proc Mount Type", B, container_sc(procMount="Unmasked"), f"{C0}.securityContext.procMount"),
    ("Seccomp", B, pod_sc(seccompProfile={"type": "Unconfined"}),
     "spec.securityContext.seccompProfile.type"),
    ("Seccomp", B, container_sc(seccompProfile={"type": "Unconfined"}),
     f"{C0}.securityContext.seccompProfile.type"),
    ("Seccomp", B, annotate("seccomp.security.alpha.kubernetes.io/pod", "unconfined"),
     "metadata.annotations['seccomp.security.alpha.kubernetes.io/pod']"),
    ("Sysctls", B, pod_sc(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
     "spec.securityContext.sysctls[0].name"),
    ("Volume Types", R, volume(nfs={"server": "nfs", "path": "/x"}), "spec.volumes[0].nfs"),
    ("Volume Types", R, volume(azureFile={"secretName": "s", "shareName": "x"}),
     "spec.volumes[0].azureFile"),
    ("Privilege Escalation", R, unset_container("allowPrivilegeEscalation"),
     f"{C0}.securityContext.allowPrivilegeEscalation"),
    ("Privilege Escalation", R, container_sc(allowPrivilegeEscalation=True),
     f"{C0}.securityContext.allowPrivilegeEscalation"),
    ("Running as Non-root", R, unset_pod("runAsNonRoot"), f"{C0}.securityContext.runAsNonRoot"),
    ("Running as Non-root", R, container_sc(runAsNonRoot=False),
     f"{C0}.securityContext.runAsNonRoot"),
    ("Running as Non-root user", R, pod_sc(runAsUser=0), "spec.securityContext.runAsUser"),
    ("Running as Non-root user", R, container_sc(runAsUser=0), f"{C0}.securityContext.runAsUser"),
    ("Seccomp", R, unset_pod("seccompProfile"), f"{C0}.securityContext.seccompProfile.type"),
    ("Capabilities", R, container_sc(capabilities={}), f"{C0}.securityContext.capabilities.drop"),
    ("Capabilities", R, container_sc(capabilities={"drop": ["ALL"], "add": ["CHOWN"]}),
     f"{C0}.securityContext.capabilities.add[0]"),
]  # fmt: skip


def test_the_table_covers_every_control_of_both_levels():
    """No control of the standard goes untested."""
    assert {(c.name, str(c.level)) for c in CONTROLS} == {
        (name, level) for name, level, *_ in CASES
    }


def test_a_restricted_pod_passes_every_level():
    metadata, spec = restricted_pod()
    for level in ("privileged", "baseline", "restricted"):
        assert check_pod(metadata, spec, level) == []


@pytest.mark.parametrize(("control", "level", "breaks", "path"), CASES)
def test_each_control_refuses_at_its_level_and_above_only(control, level, breaks, path):
    """The violation names the field path and the control; levels below it let the pod through."""
    metadata, spec = restricted_pod()
    breaks(metadata, spec)

    found = check_pod(metadata, spec, level)
    assert (path, control, level) in {(v.path, v.control, v.level) for v in found}, found
    assert check_pod(metadata, spec, "privileged") == []
    if level == R:
        assert check_pod(metadata, spec, B) == []
    else:  # baseline controls hold under restricted too
        assert path in {v.path for v in check_pod(metadata, spec, R)}


def test_the_default_capabilities_and_safe_sysctls_are_allowed_by_baseline():
    metadata, spec = restricted_pod()
    spec["containers"][0]["securityContext"]["capabilities"] = {
        "add": ["CHOWN", "NET_BIND_SERVICE"]
    }
    spec["securityContext"]["sysctls"] = [{"name": "net.ipv4.ip_local_port_range", "value": "1 2"}]
    spec["securityContext"]["seLinuxOptions"] = {"type": "container_t"}
    metadata["annotations"] = {
        "container.apparmor.security.beta.kubernetes.io/c": "runtime/default",
        "seccomp.security.alpha.kubernetes.io/pod": "runtime/default",
    }
    assert check_pod(metadata, spec, "baseline") == []


def test_restricted_allows_net_bind_service_and_pvc_emptydir_secret_volumes():
    metadata, spec = restricted_pod()
    spec["containers"][0]["securityContext"]["capabilities"]["add"] = ["NET_BIND_SERVICE"]
    spec["volumes"] = [
        {"name": "a", "persistentVolumeClaim": {"claimName": "c"}},
        {"name": "b", "emptyDir": {}},
        {"name": "c", "secret": {"secretName": "s"}},
        {"name": "d", "configMap": {"name": "m"}},
        {"name": "e", "projected": {"sources": []}},
        {"name": "f", "downwardAPI": {"items": []}},
    ]
    assert check_pod(metadata, spec, "restricted") == []


def test_windows_pods_are_exempt_from_the_linux_only_restricted_controls():
    metadata, spec = restricted_pod()
    spec["os"] = {"name": "windows"}
    spec["securityContext"].pop("seccompProfile")
    spec["containers"][0]["securityContext"] = {}
    assert check_pod(metadata, spec, "restricted") == []


def hostile_template() -> dict:
    """The issue's manifest, as a pod template: privileged, hostPath /, hostPID, hostNetwork."""
    return {
        "metadata": {"labels": {"app": "x"}},
        "spec": {
            "hostPID": True,
            "hostNetwork": True,
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "shell",
                    "image": "busybox",
                    "securityContext": {"privileged": True},
                    "volumeMounts": [{"name": "root", "mountPath": "/host"}],
                }
            ],
            "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
        },
    }


def apps_object(kind: str, template: dict) -> dict:
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "x"},
            "spec": {"selector": {}, "template": template}}  # fmt: skip


KINDS = {
    "Pod": lambda t: {"apiVersion": "v1", "kind": "Pod", **t,
                      "metadata": {"name": "x", **t["metadata"]}},
    "Job": lambda t: {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"},
                      "spec": {"template": t}},
    "CronJob": lambda t: {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "x"},
                          "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": t}}}},
    **{kind: partial(apps_object, kind) for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")},
    "ReplicationController": lambda t: {"apiVersion": "v1", "kind": "ReplicationController",
                                        "metadata": {"name": "x"}, "spec": {"template": t}},
}  # fmt: skip
PREFIX = {"Pod": "", "CronJob": "spec.jobTemplate.spec.template."}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_with_pods_is_checked_with_its_own_field_paths(kind):
    """The issue's manifest in any wrapper: each of its four fields is named, with the object."""
    obj = KINDS[kind](hostile_template())
    prefix = PREFIX.get(kind, "spec.template.")

    found = check_object(obj, "baseline")

    assert {v.path for v in found} == {
        f"{prefix}spec.hostPID",
        f"{prefix}spec.hostNetwork",
        f"{prefix}spec.containers[0].securityContext.privileged",
        f"{prefix}spec.volumes[0].hostPath",
    }
    assert all(v.obj == f"{kind} x" for v in found)
    assert "baseline" in found[0].message("baseline")


def test_objects_without_pods_have_nothing_to_check():
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
               "spec": {"ports": [{"port": 80}]}}  # fmt: skip
    assert check_objects([service], "restricted") == []


def gpu_pod(read_only: bool = True, path: str = "/usr/local/nvidia") -> tuple[dict, dict]:
    metadata, spec = restricted_pod()
    spec["volumes"] = [{"name": "nvidia", "hostPath": {"path": path}}]
    spec["containers"][0]["volumeMounts"] = [
        {"name": "nvidia", "mountPath": "/usr/local/nvidia", "readOnly": read_only}
    ]
    return metadata, spec


NVIDIA = HostPathExemption("nvidia-drivers", "/usr/local/nvidia", "GPU driver libraries")


@pytest.mark.parametrize("level", ["baseline", "restricted"])
def test_a_named_exemption_allows_its_read_only_host_folder_and_nothing_more(level):
    """The GPU template's read-only /usr/local/nvidia mount passes with the exemption only."""
    assert check_pod(*gpu_pod(), level, exemptions=[NVIDIA]) == []
    assert check_pod(*gpu_pod(path="/usr/local/nvidia/lib64"), level, exemptions=[NVIDIA]) == []
    assert check_pod(*gpu_pod(), level), "without the exemption it is refused"
    refused = [
        gpu_pod(read_only=False),  # a writable mount of the same folder
        gpu_pod(path="/usr/local/nvidia2"),  # a sibling that merely shares the prefix
        gpu_pod(path="/usr/local"),  # its parent
        gpu_pod(path="/usr/local/nvidia/../../../etc"),  # .. out of it
    ]
    for metadata, spec in refused:
        found = check_pod(metadata, spec, level, exemptions=[NVIDIA])
        assert "spec.volumes[0].hostPath" in {v.path for v in found}, spec["volumes"]


def test_an_exemption_lifts_no_other_control():
    metadata, spec = gpu_pod()
    spec["hostNetwork"] = True
    found = check_pod(metadata, spec, "baseline", exemptions=[NVIDIA])
    assert [v.path for v in found] == ["spec.hostNetwork"]


def test_the_checker_does_not_change_what_it_reads():
    obj = KINDS["Job"](hostile_template())
    before = copy.deepcopy(obj)
    check_object(obj, "restricted", exemptions=[NVIDIA])
    assert obj == before
