"""The controls of the Pod Security Standards, one function each, over a pod's metadata and spec
(the field paths they yield are relative to the pod; `clusters.podsecurity` adds the object's)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from clusters.choices import PodSecurityLevel

CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")

# The values the standard allows.
DEFAULT_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
})  # fmt: skip
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
})  # fmt: skip
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
RESTRICTED_VOLUME_TYPES = frozenset({
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
})  # fmt: skip
SECCOMP_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_ANNOTATION = "container.seccomp.security.alpha.kubernetes.io/"
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
LIFECYCLE_HOOKS = ("postStart", "preStop")


@dataclass(frozen=True)
class HostPathExemption:
    """hostPath volumes at or under `path`, mounted read-only only, are allowed on a cluster."""

    name: str
    path: str
    reason: str = ""

    def covers(self, host_path: str) -> bool:
        normal = posixpath.normpath(host_path or "/")
        root = posixpath.normpath(self.path)
        return normal == root or normal.startswith(root.rstrip("/") + "/")

    def asdict_of(self) -> dict[str, str]:
        return {"name": self.name, "path": self.path, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: dict) -> HostPathExemption:
        return cls(str(data["name"]), str(data["path"]), str(data.get("reason", "")))


# -- reading a pod spec defensively (raw manifests were schema-checked, but never trust shape) --
def dict_of(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


@dataclass
class Pod:
    """One pod as the controls read it: its metadata, its spec, where it sits in its object."""

    prefix: str  # "spec.template." for a Job, "" for a Pod
    metadata: dict
    spec: dict
    exemptions: tuple[HostPathExemption, ...]

    def path(self, rest: str) -> str:
        return f"{self.prefix}{rest}"

    @property
    def security(self) -> dict:
        return dict_of(self.spec.get("securityContext"))

    @property
    def windows(self) -> bool:
        return dict_of(self.spec.get("os")).get("name") == "windows"

    def containers(self) -> Iterator[tuple[str, dict]]:
        for kind in CONTAINER_LISTS:
            for index, container in enumerate(_list(self.spec.get(kind))):
                yield self.path(f"spec.{kind}[{index}]"), dict_of(container)

    def mounts_of(self, volume: str) -> list[dict]:
        return [
            dict_of(mount)
            for _, container in self.containers()
            for mount in _list(container.get("volumeMounts"))
            if dict_of(mount).get("name") == volume
        ]

    def exempt_host_path(self, volume: dict) -> bool:
        host_path = dict_of(volume.get("hostPath")).get("path", "")
        mounts = self.mounts_of(volume.get("name", ""))
        read_only = all(mount.get("readOnly") is True for mount in mounts)
        return read_only and any(e.covers(host_path) for e in self.exemptions)


Finding = tuple[str, str]  # (field path, detail)


def _sc(container: dict) -> dict:
    return dict_of(container.get("securityContext"))


def _must_be_unset_or_false(path: str, value) -> Iterator[Finding]:
    if value not in (None, False):
        yield path, f"must be false or unset, is {_show(value)}"


def _show(value) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return repr(value) if isinstance(value, str) else str(value)


# -- baseline -----------------------------------------------------------------------------------
def host_process(pod: Pod) -> Iterator[Finding]:
    options = dict_of(pod.security.get("windowsOptions"))
    yield from _must_be_unset_or_false(
        pod.path("spec.securityContext.windowsOptions.hostProcess"), options.get("hostProcess")
    )
    for path, container in pod.containers():
        options = dict_of(_sc(container).get("windowsOptions"))
        yield from _must_be_unset_or_false(
            f"{path}.securityContext.windowsOptions.hostProcess", options.get("hostProcess")
        )


def host_namespaces(pod: Pod) -> Iterator[Finding]:
    for name in ("hostNetwork", "hostPID", "hostIPC"):
        yield from _must_be_unset_or_false(pod.path(f"spec.{name}"), pod.spec.get(name))


def privileged(pod: Pod) -> Iterator[Finding]:
    for path, container in pod.containers():
        yield from _must_be_unset_or_false(
            f"{path}.securityContext.privileged", _sc(container).get("privileged")
        )


def capabilities_baseline(pod: Pod) -> Iterator[Finding]:
    for path, container in pod.containers():
        added = _list(dict_of(_sc(container).get("capabilities")).get("add"))
        for index, capability in enumerate(added):
            if capability not in DEFAULT_CAPABILITIES:
                yield (
                    f"{path}.securityContext.capabilities.add[{index}]",
                    f"must not add {_show(capability)} (only the default set)",
                )


def host_path_volumes(pod: Pod) -> Iterator[Finding]:
    for index, volume in enumerate(_list(pod.spec.get("volumes"))):
        volume = dict_of(volume)
        if "hostPath" in volume and not pod.exempt_host_path(volume):
            host_path = dict_of(volume.get("hostPath")).get("path", "")
            yield (
                pod.path(f"spec.volumes[{index}].hostPath"),
                f"must be unset, mounts the node's {_show(host_path)}",
            )


def host_ports(pod: Pod) -> Iterator[Finding]:
    for path, container in pod.containers():
        for index, port in enumerate(_list(container.get("ports"))):
            host_port = dict_of(port).get("hostPort")
            if host_port not in (None, 0):
                yield f"{path}.ports[{index}].hostPort", f"must be 0 or unset, is {host_port}"


def host_probes(pod: Pod) -> Iterator[Finding]:
    for path, container in pod.containers():
        handlers = [(probe, dict_of(container.get(probe))) for probe in PROBES]
        lifecycle = dict_of(container.get("lifecycle"))
        handlers += [
            (f"lifecycle.{hook}", dict_of(lifecycle.get(hook))) for hook in LIFECYCLE_HOOKS
        ]
        for name, handler in handlers:
            for action in ("httpGet", "tcpSocket"):
                host = dict_of(handler.get(action)).get("host")
                if host not in (None, ""):
                    yield f"{path}.{name}.{action}.host", f"must be unset, is {_show(host)}"


def app_armor(pod: Pod) -> Iterator[Finding]:
    for key, value in dict_of(pod.metadata.get("annotations")).items():
        if str(key).startswith(APPARMOR_ANNOTATION):
            value = str(value)
            if value not in ("", "runtime/default") and not value.startswith("localhost/"):
                yield (
                    pod.path(f"metadata.annotations[{key!r}]"),
                    f"must be runtime/default or localhost/*, is {_show(value)}",
                )
    profile = dict_of(pod.security.get("appArmorProfile"))
    if profile and profile.get("type") not in APPARMOR_TYPES:
        yield (
            pod.path("spec.securityContext.appArmorProfile.type"),
            f"must be RuntimeDefault or Localhost, is {_show(profile.get('type'))}",
        )
    for path, container in pod.containers():
        profile = dict_of(_sc(container).get("appArmorProfile"))
        if profile and profile.get("type") not in APPARMOR_TYPES:
            yield (
                f"{path}.securityContext.appArmorProfile.type",
                f"must be RuntimeDefault or Localhost, is {_show(profile.get('type'))}",
            )


def _selinux(path: str, options: dict) -> Iterator[Finding]:
    if options.get("type", "") not in SELINUX_TYPES:
        yield (
            f"{path}.type",
            f"must be unset or one of container_t, container_init_t, container_kvm_t, "
            f"is {_show(options.get('type'))}",
        )
    for name in ("user", "role"):
        if options.get(name):
            yield f"{path}.{name}", f"must be unset, is {_show(options[name])}"


def selinux(pod: Pod) -> Iterator[Finding]:
    yield from _selinux(
        pod.path("spec.securityContext.seLinuxOptions"), dict_of(pod.security.get("seLinuxOptions"))
    )
    for path, container in pod.containers():
        yield from _selinux(
            f"{path}.securityContext.seLinuxOptions",
            dict_of(_sc(container).get("seLinuxOptions")),
        )


def proc_mount(pod: Pod) -> Iterator[Finding]:
    for path, container in pod.containers():
        value = _sc(container).get("procMount")
        if value not in (None, "Default"):
            yield (
                f"{path}.securityContext.procMount",
                f"must be Default or unset, is {_show(value)}",
            )


def _seccomp_annotation_ok(value: str) -> bool:
    return value in ("runtime/default", "docker/default") or value.startswith("localhost/")


def seccomp_baseline(pod: Pod) -> Iterator[Finding]:
    # Kubernetes 1.20 still obeys the alpha annotations, so an "unconfined" one counts too.
    for key, value in dict_of(pod.metadata.get("annotations")).items():
        key, value = str(key), str(value)
        is_seccomp = key == SECCOMP_POD_ANNOTATION or key.startswith(SECCOMP_CONTAINER_ANNOTATION)
        if is_seccomp and not _seccomp_annotation_ok(value):
            yield (
                pod.path(f"metadata.annotations[{key!r}]"),
                f"must be runtime/default or localhost/*, is {_show(value)}",
            )
    profile = dict_of(pod.security.get("seccompProfile"))
    if profile and profile.get("type") not in SECCOMP_TYPES:
        yield (
            pod.path("spec.securityContext.seccompProfile.type"),
            f"must be RuntimeDefault or Localhost, is {_show(profile.get('type'))}",
        )
    for path, container in pod.containers():
        profile = dict_of(_sc(container).get("seccompProfile"))
        if profile and profile.get("type") not in SECCOMP_TYPES:
            yield (
                f"{path}.securityContext.seccompProfile.type",
                f"must be RuntimeDefault or Localhost, is {_show(profile.get('type'))}",
            )


def sysctls(pod: Pod) -> Iterator[Finding]:
    for index, sysctl in enumerate(_list(pod.security.get("sysctls"))):
        name = dict_of(sysctl).get("name")
        if name not in SAFE_SYSCTLS:
            yield (
                pod.path(f"spec.securityContext.sysctls[{index}].name"),
                f"must be one of the safe sysctls, is {_show(name)}",
            )


# -- restricted ---------------------------------------------------------------------------------
def volume_types(pod: Pod) -> Iterator[Finding]:
    allowed = ", ".join(sorted(RESTRICTED_VOLUME_TYPES))
    for index, volume in enumerate(_list(pod.spec.get("volumes"))):
        volume = dict_of(volume)
        kinds = sorted(set(volume) - {"name"})
        if "hostPath" in kinds and pod.exempt_host_path(volume):
            continue
        for kind in kinds:
            if kind not in RESTRICTED_VOLUME_TYPES:
                yield (
                    pod.path(f"spec.volumes[{index}].{kind}"),
                    f"must be unset: a {kind} volume is not allowed (only {allowed})",
                )


def privilege_escalation(pod: Pod) -> Iterator[Finding]:
    if pod.windows:
        return
    for path, container in pod.containers():
        value = _sc(container).get("allowPrivilegeEscalation")
        if value is not False:
            shown = "unset" if value is None else _show(value)
            yield f"{path}.securityContext.allowPrivilegeEscalation", f"must be false, is {shown}"


def run_as_non_root(pod: Pod) -> Iterator[Finding]:
    pod_value = pod.security.get("runAsNonRoot")
    if pod_value is not None and pod_value is not True:
        yield pod.path("spec.securityContext.runAsNonRoot"), f"must be true, is {_show(pod_value)}"
    for path, container in pod.containers():
        value = _sc(container).get("runAsNonRoot")
        if value is None and pod_value is not True:
            yield (
                f"{path}.securityContext.runAsNonRoot",
                f"must be true (here or in {pod.path('spec.securityContext.runAsNonRoot')}), "
                "is unset",
            )
        elif value is not None and value is not True:
            yield f"{path}.securityContext.runAsNonRoot", f"must be true, is {_show(value)}"


def run_as_user(pod: Pod) -> Iterator[Finding]:
    if pod.security.get("runAsUser") == 0:
        yield pod.path("spec.securityContext.runAsUser"), "must not be 0 (root)"
    for path, container in pod.containers():
        if _sc(container).get("runAsUser") == 0:
            yield f"{path}.securityContext.runAsUser", "must not be 0 (root)"


def seccomp_restricted(pod: Pod) -> Iterator[Finding]:
    if pod.windows:
        return
    pod_type = dict_of(pod.security.get("seccompProfile")).get("type")
    for path, container in pod.containers():
        if "seccompProfile" not in _sc(container) and pod_type not in SECCOMP_TYPES:
            yield (
                f"{path}.securityContext.seccompProfile.type",
                f"must be RuntimeDefault or Localhost (here or in "
                f"{pod.path('spec.securityContext.seccompProfile.type')}), is unset",
            )


def capabilities_restricted(pod: Pod) -> Iterator[Finding]:
    if pod.windows:
        return
    for path, container in pod.containers():
        capabilities = dict_of(_sc(container).get("capabilities"))
        if "ALL" not in _list(capabilities.get("drop")):
            yield f"{path}.securityContext.capabilities.drop", 'must include "ALL"'
        for index, capability in enumerate(_list(capabilities.get("add"))):
            if capability != "NET_BIND_SERVICE":
                yield (
                    f"{path}.securityContext.capabilities.add[{index}]",
                    f"must not add {_show(capability)} (only NET_BIND_SERVICE)",
                )


@dataclass(frozen=True)
class Control:
    name: str
    level: str
    check: Callable[[Pod], Iterable[Finding]]


B, R = PodSecurityLevel.BASELINE, PodSecurityLevel.RESTRICTED
CONTROLS: tuple[Control, ...] = (
    Control("HostProcess", B, host_process),
    Control("Host Namespaces", B, host_namespaces),
    Control("Privileged Containers", B, privileged),
    Control("Capabilities", B, capabilities_baseline),
    Control("HostPath Volumes", B, host_path_volumes),
    Control("Host Ports", B, host_ports),
    Control("Host Probes / Lifecycle Hooks", B, host_probes),
    Control("AppArmor", B, app_armor),
    Control("SELinux", B, selinux),
    Control("/proc Mount Type", B, proc_mount),
    Control("Seccomp", B, seccomp_baseline),
    Control("Sysctls", B, sysctls),
    Control("Volume Types", R, volume_types),
    Control("Privilege Escalation", R, privilege_escalation),
    Control("Running as Non-root", R, run_as_non_root),
    Control("Running as Non-root user", R, run_as_user),
    Control("Seccomp", R, seccomp_restricted),
    Control("Capabilities", R, capabilities_restricted),
)
