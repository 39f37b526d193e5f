"""The kinds of object the explorer shows, and where the API server serves each."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    """One resource: its URL slug (the plural), how it is shown and where it is served."""

    slug: str
    label: str
    kind: str
    group: str = ""
    version: str = "v1"
    namespaced: bool = True
    # The lowest server minor version (1.x) that serves this group/version.
    min_minor: int = 0

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The REST path; no namespace on a namespaced kind means all namespaces."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.slug}"
        return f"{base}/{name}" if name else base


KINDS: dict[str, Kind] = {
    kind.slug: kind
    for kind in (
        Kind("deployments", "Deployments", "Deployment", "apps"),
        Kind("statefulsets", "StatefulSets", "StatefulSet", "apps"),
        Kind("daemonsets", "DaemonSets", "DaemonSet", "apps"),
        Kind("jobs", "Jobs", "Job", "batch"),
        # batch/v1 CronJobs are served from 1.21; older servers only have v1beta1, not shown.
        Kind("cronjobs", "CronJobs", "CronJob", "batch", min_minor=21),
        Kind("pods", "Pods", "Pod"),
        Kind("services", "Services", "Service"),
        Kind("persistentvolumeclaims", "PersistentVolumeClaims", "PersistentVolumeClaim"),
        Kind("persistentvolumes", "PersistentVolumes", "PersistentVolume", namespaced=False),
        Kind("configmaps", "ConfigMaps", "ConfigMap"),
        Kind("secrets", "Secrets", "Secret"),
        Kind("events", "Events", "Event"),
    )
}
NODES = Kind("nodes", "Nodes", "Node", namespaced=False)
# Kinds whose pods are found through their label selector.
WITH_POD_SELECTOR = {"deployments", "statefulsets", "daemonsets", "jobs", "services"}


def server_minor(version: str) -> int | None:
    """1.x's x from a gitVersion such as `v1.20.2` or `v1.28.3-eks-1`; None if unreadable."""
    parts = version.lstrip("v").split(".")
    try:
        return int("".join(c for c in parts[1] if c.isdigit())) if parts[0] == "1" else 99
    except (IndexError, ValueError):
        return None


def served(kind: Kind, version: str) -> bool:
    """Whether a server of this version serves the kind's group/version (unknown: try it)."""
    minor = server_minor(version)
    return minor is None or minor >= kind.min_minor
