"""The Kubernetes Pod Security Standards, checked by the panel on every pod it creates.

Kubernetes 1.20 (the oldest version the panel drives) has no PodSecurity admission, so the panel
checks the rendered manifests itself before anything is applied: when a run is created (a 400
naming the field) and again when the runtime applies it. The controls are those of the standard
(https://kubernetes.io/docs/concepts/security/pod-security-standards/, its current version), for
every container list (containers, initContainers, ephemeralContainers):

- baseline: HostProcess, host namespaces, privileged containers, capabilities beyond the default
  set, hostPath volumes, host ports, host probes and lifecycle hooks, AppArmor, SELinux, /proc
  mount type, seccomp (no Unconfined; the 1.20-era annotations too, which 1.20 still obeys) and
  sysctls outside the safe set;
- restricted: all of baseline plus volume types, privilege escalation, running as non-root,
  non-root user, a seccomp profile required and capabilities (drop ALL, add only
  NET_BIND_SERVICE). As in the standard, Windows pods (spec.os.name: windows) are exempt from
  the last three.

Per-cluster exemptions are named and narrow: a `HostPathExemption` allows hostPath volumes at or
under one host folder when every mount of them is read-only (the NVIDIA driver folder a GPU node
needs), and lifts nothing else. Add-ons an admin installs for the whole cluster (the NVIDIA device
plugin DaemonSet) are not user workloads and are not checked here; only the workload paths call
this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from clusters.choices import PodSecurityLevel
from clusters.podsecurity.controls import CONTROLS, HostPathExemption, Pod, dict_of

__all__ = [
    "CONTROLS", "HostPathExemption", "Violation", "check_for_cluster", "check_object",
    "check_objects", "check_pod", "check_workload", "pod_template", "refusal",
]  # fmt: skip

RANK = {
    PodSecurityLevel.PRIVILEGED: 0,
    PodSecurityLevel.BASELINE: 1,
    PodSecurityLevel.RESTRICTED: 2,
}

# Where each kind keeps its pod template: ("" for a Pod itself).
POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Job": ("spec", "template"),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "PodTemplate": ("template",),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


@dataclass(frozen=True)
class Violation:
    """One field a level forbids: where it is, which control, the control's level, and why."""

    path: str  # e.g. spec.template.spec.containers[0].securityContext.privileged
    control: str  # the standard's name for the control, e.g. "Privileged Containers"
    level: str  # the lowest level that has this control: baseline or restricted
    detail: str  # what is wrong, e.g. "must be false or unset, is true"
    obj: str = ""  # the object it is in, e.g. "Job hello"

    def message(self, enforced: str | None = None) -> str:
        where = f"{self.obj}: " if self.obj else ""
        return (
            f"{where}{self.path} {self.detail} "
            f"(Pod Security level {enforced or self.level}: {self.control})"
        )

    def __str__(self) -> str:
        return self.message()


def pod_template(obj: dict) -> tuple[str, dict, dict] | None:
    """(field prefix, pod metadata, pod spec) of any object carrying a pod, else None."""
    kind = obj.get("kind") if isinstance(obj, dict) else None
    if kind not in POD_TEMPLATE_PATHS:
        return None
    node = obj
    for key in POD_TEMPLATE_PATHS[kind]:
        node = dict_of(node.get(key))
    prefix = "".join(f"{key}." for key in POD_TEMPLATE_PATHS[kind])
    return prefix, dict_of(node.get("metadata")), dict_of(node.get("spec"))


def check_pod(
    metadata: dict, spec: dict, level: str, *, prefix: str = "",
    exemptions: Iterable[HostPathExemption] = (),
) -> list[Violation]:  # fmt: skip
    """Every violation of `level` in one pod (metadata and spec as in a manifest)."""
    pod = Pod(prefix, dict_of(metadata), dict_of(spec), tuple(exemptions))
    rank = RANK[PodSecurityLevel(level)]
    return [
        Violation(path, control.name, str(control.level), detail)
        for control in CONTROLS
        if RANK[control.level] <= rank
        for path, detail in control.check(pod)
    ]


def check_object(
    obj: dict, level: str, *, exemptions: Iterable[HostPathExemption] = ()
) -> list[Violation]:
    """Violations in any object with a pod template (Pod, Job, CronJob, Deployment, ...); an
    object without pods (Service, ConfigMap) has none."""
    found = pod_template(obj)
    if found is None:
        return []
    prefix, metadata, spec = found
    label = f"{obj.get('kind')} {dict_of(obj.get('metadata')).get('name', '?')}"
    return [
        Violation(v.path, v.control, v.level, v.detail, label)
        for v in check_pod(metadata, spec, level, prefix=prefix, exemptions=exemptions)
    ]


def check_objects(
    objects: Iterable[dict], level: str, *, exemptions: Iterable[HostPathExemption] = ()
) -> list[Violation]:
    exemptions = tuple(exemptions)
    return [v for obj in objects for v in check_object(obj, level, exemptions=exemptions)]


def cluster_exemptions(cluster) -> tuple[HostPathExemption, ...]:
    return tuple(
        HostPathExemption.from_dict(item) for item in cluster.pod_security_exemptions or []
    )


def check_for_cluster(cluster, objects: Iterable[dict]) -> list[Violation]:
    """What the cluster's level refuses in `objects`. The local cluster runs processes, not
    pods: nothing to check there (its runs are media-pipeline commands only)."""
    if cluster.is_local:
        return []
    return check_objects(
        objects, cluster.pod_security_level, exemptions=cluster_exemptions(cluster)
    )


def check_workload(cluster, spec) -> list[Violation]:
    """Render a run's objects as the Kubernetes runtime would and check them (before anything
    is stored)."""
    if cluster.is_local:
        return []
    from clusters.runtimes.manifests import render

    return check_for_cluster(
        cluster, render(spec, cluster.namespace or "default", indexed_jobs=False)
    )


def refusal(cluster, violations: list[Violation]) -> str:
    """One sentence for logs and a failed run's error."""
    level = cluster.pod_security_level
    return f"Refused by the Pod Security level {level} of cluster {cluster.name}: " + "; ".join(
        v.message(level) for v in violations
    )
